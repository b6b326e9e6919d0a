//! The thread that sets up the parked containers of templates without an init.
//!
//! Such a container keeps its setup's `PR_SET_PDEATHSIG(SIGKILL)` (an init would clear it and
//! watch the lifeline instead), and the kernel sends it when the *thread* that cloned the
//! container exits (prctl(2)). Set up by a pool's refill thread, every container of such a
//! pool, handed out or not, was killed when the pool dropped (`tests/review_pool.rs`). Set up
//! here instead, by one thread that lives as long as the process, it dies with the process,
//! as a cold one spawned from a thread that lives as long does.

use std::sync::OnceLock;
use std::sync::mpsc::{self, Sender};

type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the process's spawner thread (started on first use, never stopped: it holds
/// nothing but the queue) and returns its result.
pub(super) fn on_lasting_thread<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> std::io::Result<T> {
    static JOBS: OnceLock<Sender<Job>> = OnceLock::new();
    if JOBS.get().is_none() {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("nsbox-pool-spawner".into())
            .spawn(move || {
                for job in queue {
                    // A panicking setup fails its own park only (its result channel drops).
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        // Another pool may have started one first: this one's queue then closes and it ends.
        let _ = JOBS.set(jobs);
    }
    let stopped = || std::io::Error::other("the pool's spawner thread stopped");
    let jobs = JOBS.get().ok_or_else(stopped)?;
    let (result, answer) = mpsc::sync_channel(1);
    jobs.send(Box::new(move || {
        let _ = result.send(job());
    }))
    .map_err(|_| stopped())?;
    answer.recv().map_err(|_| stopped())
}
