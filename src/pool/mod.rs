//! Warm pools (issue 17): containers set up ahead of time, up to just before their payload's
//! exec, handed out one per run. See docs/pool.md.
//!
//! A parked container is a normal spawn whose launcher (nsbox-exec, see
//! `src/pid1/pool_launcher.rs`) waits on a socket instead of knowing its payload: at handout
//! the pool writes the run's limits into its cgroup and sends it the run's argv, environment,
//! working directory and stdio, and the launcher executes them. Each container runs one
//! payload; a used one is never parked again.

mod error;
mod handout;
pub(crate) mod refill;
mod run;
mod spawner;
mod stats;
mod template;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

pub use error::PoolError;
pub use run::PoolRun;
pub use stats::PoolStats;

use crate::ContainerBuilder;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::timing::StartKind;
use stats::Counters;
use template::{Parked, Template};

/// Containers of one template, set up ahead of time and handed out one per run: a spawn from
/// a pool is left with only the payload's exec (no namespaces, mounts, cgroup or seccomp
/// filter to make).
///
/// A background thread keeps `size` containers parked, never more; each is used by one
/// [`spawn`](Self::spawn) and never again. When none is parked (the thread could not keep
/// up, or could not set one up) a spawn starts a container cold, as
/// [`ContainerBuilder::spawn`] would, and its
/// [`setup_timings().start()`](crate::SpawnTimings::start) says
/// [`StartKind::PoolFallback`]; [`stats`](Self::stats) counts both kinds.
///
/// Per run, only the payload's command, arguments, environment, working directory, stdio
/// and limits that tighten the template's may change ([`PoolRun`]): everything else was set
/// up before the run was known. Dropping the pool stops the thread and kills, reaps and
/// removes the cgroup of every container still parked.
///
/// ```no_run
/// use nsbox::{Container, Pool, Stdio};
/// let mut template = Container::builder();
/// template.pids_limit(64).stdout(Stdio::piped());
/// let pool = Pool::new(template, 4)?;
/// let out = pool.spawn(|run| run.command("/bin/echo").arg("warm"))?.wait_with_output()?;
/// assert_eq!(out.stdout, b"warm\n");
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug)]
pub struct Pool {
    shared: Arc<Shared>,
    refill: Option<JoinHandle<()>>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    template: Template,
    size: usize,
    state: Mutex<State>,
    /// The refill thread waits here for a spawn to take a container, or the pool to drop.
    wake: Condvar,
    counters: Counters,
}

#[derive(Debug, Default)]
struct State {
    parked: VecDeque<Parked>,
    stopping: bool,
    /// When a spawn last took a container (see `refill::GRACE`).
    last_take: Option<std::time::Instant>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Pool {
    /// A pool keeping `size` containers of `template` parked (see [`Pool`]). The template is
    /// checked as [`build`](ContainerBuilder::build) checks it; it needs no command (each run
    /// names one), and may not have a [`tty`](ContainerBuilder::tty),
    /// [`logs`](ContainerBuilder::logs), [`detach`](ContainerBuilder::detach) or a
    /// [`start_gate`](ContainerBuilder::start_gate) ([`PoolError::Template`]). Its seccomp
    /// policy must let the pooled launcher run (`recvmsg`, `mmap`, `dup3`, `chdir`, `prctl`
    /// besides what every launcher needs), and its payloads inherit that policy, so nothing is
    /// added to it: an allow list must name all five, and one that does not, or a deny list naming
    /// one, is refused with [`ConfigError::SeccompDeniesLauncherSyscall`](crate::ConfigError::SeccompDeniesLauncherSyscall).
    ///
    /// Returns at once; the thread parks the containers in the background.
    pub fn new(template: ContainerBuilder, size: usize) -> Result<Pool> {
        if size == 0 {
            return Err(PoolError::Empty.into());
        }
        let shared = Arc::new(Shared {
            template: Template::new(template)?,
            size,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            counters: Counters::default(),
        });
        let thread = Arc::clone(&shared);
        let refill = std::thread::Builder::new()
            .name("nsbox-pool".into())
            .spawn(move || refill::run(thread))
            .map_err(|e| Error::io("start a pool's refill thread", e))?;
        Ok(Pool {
            shared,
            refill: Some(refill),
        })
    }

    /// Starts one run: `configure` sets what differs from the template ([`PoolRun`]); the
    /// container is a parked one if there is one, else a cold start. Returns, as
    /// [`ContainerBuilder::spawn`] does, once the payload's `execve` succeeded, or with the
    /// error a cold spawn gives (a missing command: [`SetupStep::Exec`](crate::SetupStep)
    /// with `ENOENT`).
    pub fn spawn(&self, configure: impl FnOnce(&mut PoolRun) -> &mut PoolRun) -> Result<Container> {
        let mut run = PoolRun::default();
        configure(&mut run);
        let template = &self.shared.template;
        loop {
            let prepared = template.prepare(&run)?;
            // Only a handout delays the refill (see `refill::GRACE`): spawns falling back to
            // cold starts never starve it.
            let parked = {
                let mut state = self.shared.lock();
                let parked = state.parked.pop_front();
                if parked.is_some() {
                    state.last_take = Some(std::time::Instant::now());
                }
                parked
            };
            let Some(parked) = parked else { break };
            self.shared.wake.notify_one();
            // A parked container is used up whether or not its run could be executed: a failed
            // handout is a hit, as a failed cold start is a cold start.
            let hit = || Counters::add(&self.shared.counters.hits);
            match handout::hand_out(parked, prepared, &template.config) {
                Ok(Some(container)) => {
                    hit();
                    return Ok(container);
                }
                Ok(None) => Counters::add(&self.shared.counters.discarded),
                Err(e) => {
                    hit();
                    return Err(e);
                }
            }
        }
        Counters::add(&self.shared.counters.cold_starts);
        let mut container = template.cold(template.prepare(&run)?)?;
        let timings = container.setup_timings().clone();
        container.set_timings(timings.started(StartKind::PoolFallback, None));
        Ok(container)
    }

    /// The pool's counters now.
    pub fn stats(&self) -> PoolStats {
        let parked = self.shared.lock().parked.len();
        self.shared.counters.snapshot(parked)
    }

    /// How many containers the pool keeps parked.
    pub fn size(&self) -> usize {
        self.shared.size
    }
}

impl Drop for Pool {
    /// Stops the refill thread (after the container it may be setting up), then kills and
    /// reaps every parked container and removes its cgroup.
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.refill.take() {
            let _ = thread.join();
        }
        let parked = std::mem::take(&mut self.shared.lock().parked);
        drop(parked);
    }
}
