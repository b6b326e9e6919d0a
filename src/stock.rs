//! A stock of kernel objects made ahead of time on a thread of its own, for the pools that
//! hand a spawn something it would otherwise make on its own path: parked containers
//! ([`Pool`](crate::Pool)), pre-made namespaces ([`NamespacePool`](crate::NamespacePool))
//! and pre-made cgroups ([`CgroupPool`](crate::CgroupPool)).
//!
//! The thread makes items until `size` are ready, waits while the stock is full, backs off
//! after a failure and stops when the last clone of the stock is dropped, disposing of what
//! is left. Used items may be given back ([`Returns`]) to be disposed of on the same thread
//! (a cgroup is removed there, after its container was reaped, instead of on the path of the
//! caller's `wait`). Both kinds of work start only [`GRACE`] after the last handout (not
//! after a take that found the stock empty; a disposal also waits for the grace after the
//! last give-back): work beside the spawn that took an item, or beside
//! the `wait` that gave one back, competes with it for the CPUs. Disposal waits no longer
//! than [`MAX_DISPOSAL_DELAY`], nor for more than [`MAX_PENDING`] items: under a steady stream
//! of spawns closer than the grace, used items would otherwise pile up.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long after a handout the thread's next work waits: the handout's exec and a short
/// payload's start and exit take about a millisecond here, and a setup (a clone with its
/// namespaces, mounts) running beside them competes for the CPUs just then, which tripled a
/// warm handout's time on a 2-vCPU machine (docs/pool.md).
pub(crate) const GRACE: Duration = Duration::from_millis(2);
/// The first wait after a failed make, doubled per failure in a row up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The longest a given-back item waits for its disposal, grace or not.
const MAX_DISPOSAL_DELAY: Duration = Duration::from_millis(50);
/// The most given-back items that wait for the grace: more are disposed of at once.
const MAX_PENDING: usize = 8;

/// A stock of `T`, shared by its clones; its thread stops when the last clone goes.
pub(crate) struct Stock<T: Send + 'static, U: Send + 'static = T>(Arc<Owner<T, U>>);

impl<T: Send + 'static, U: Send + 'static> Clone for Stock<T, U> {
    fn clone(&self) -> Self {
        Stock(Arc::clone(&self.0))
    }
}

struct Owner<T: Send + 'static, U: Send + 'static> {
    shared: Arc<Shared<T, U>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared<T, U> {
    size: usize,
    state: Mutex<State<T, U>>,
    wake: Condvar,
    hits: AtomicU64,
    misses: AtomicU64,
    unmatched: AtomicU64,
    failed_refills: AtomicU64,
    failed_disposals: AtomicU64,
    returned: AtomicU64,
}

struct State<T, U> {
    ready: VecDeque<T>,
    /// Given back, to be disposed of on the thread.
    used: Vec<U>,
    /// When the oldest of `used` was given back, and the newest.
    used_since: Option<Instant>,
    last_give: Option<Instant>,
    /// Taken from `used` by the thread and being disposed of now.
    disposing: usize,
    stopping: bool,
    last_take: Option<Instant>,
}

/// The counters of a stock, for its pool's public stats.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counts {
    pub hits: u64,
    pub misses: u64,
    pub unmatched: u64,
    pub failed_refills: u64,
    pub failed_disposals: u64,
    pub returned: u64,
    pub ready: usize,
}

impl<T, U> Shared<T, U> {
    fn lock(&self) -> MutexGuard<'_, State<T, U>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the thread does next.
enum Job<T, U> {
    Make,
    Dispose(Vec<U>),
    Stop { ready: VecDeque<T>, used: Vec<U> },
}

impl<T: Send + 'static, U: Send + 'static> Stock<T, U> {
    /// A stock of `size` items made by `make` on a thread named `name`; `dispose` disposes
    /// of a used item given back (false: it failed, counted).
    pub fn start(
        name: &str,
        size: usize,
        make: impl FnMut() -> Result<T> + Send + 'static,
        dispose: fn(U) -> bool,
    ) -> Result<Stock<T, U>> {
        let shared = Arc::new(Shared {
            size,
            state: Mutex::new(State {
                ready: VecDeque::new(),
                used: Vec::new(),
                used_since: None,
                last_give: None,
                disposing: 0,
                stopping: false,
                last_take: None,
            }),
            wake: Condvar::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            failed_refills: AtomicU64::new(0),
            failed_disposals: AtomicU64::new(0),
            returned: AtomicU64::new(0),
        });
        let thread = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&thread, make, dispose))
            .map_err(|e| Error::io(format!("start the {name} thread"), e))?;
        Ok(Stock(Arc::new(Owner {
            shared,
            thread: Some(handle),
        })))
    }

    pub fn size(&self) -> usize {
        self.0.shared.size
    }

    /// The first ready item, if there is one and `usable` accepts it (one it refuses is
    /// dropped unused and counted as unmatched). Counts a hit or a miss. Taking an item delays
    /// the thread's work by the [`GRACE`] (set under the same lock as the pop, so the thread
    /// cannot start a make in between); finding the stock empty does not: that spawn starts
    /// cold, and delaying the refill for it would keep a stock that is behind from ever
    /// catching up under spawns closer together than the grace.
    pub fn take(&self, usable: impl FnOnce(&T) -> bool) -> Option<T> {
        let shared = &self.0.shared;
        let mut state = shared.lock();
        let Some(item) = state.ready.pop_front() else {
            drop(state);
            shared.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        state.last_take = Some(Instant::now());
        drop(state);
        // Room again: the thread restarts its wait for the grace.
        shared.wake.notify_all();
        match usable(&item) {
            true => {
                shared.hits.fetch_add(1, Ordering::Relaxed);
                Some(item)
            }
            false => {
                shared.unmatched.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Counts a spawn that named the pool but could not use it.
    pub fn unmatched(&self) {
        self.0.shared.unmatched.fetch_add(1, Ordering::Relaxed);
    }

    pub fn counts(&self) -> Counts {
        let shared = &self.0.shared;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counts {
            hits: get(&shared.hits),
            misses: get(&shared.misses),
            unmatched: get(&shared.unmatched),
            failed_refills: get(&shared.failed_refills),
            failed_disposals: get(&shared.failed_disposals),
            returned: get(&shared.returned),
            ready: shared.lock().ready.len(),
        }
    }

    /// Blocks until `size` items are ready or `timeout` passed; whether it is full.
    pub fn wait_full(&self, timeout: Duration) -> bool {
        let size = self.0.shared.size;
        self.wait_for(timeout, |state| state.ready.len() >= size)
    }

    /// Whether every item given back has been disposed of, waiting at most `timeout`.
    pub fn wait_disposed(&self, timeout: Duration) -> bool {
        self.wait_for(timeout, |state| state.used.is_empty() && state.disposing == 0)
    }

    /// Waits (on the stock's condition variable) until `done` holds or `timeout` passed.
    fn wait_for(&self, timeout: Duration, done: impl Fn(&State<T, U>) -> bool) -> bool {
        let shared = &self.0.shared;
        let deadline = Instant::now() + timeout;
        let mut state = shared.lock();
        loop {
            if done(&state) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            state = shared
                .wake
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Where a used item goes back to be disposed of on the stock's thread.
    pub fn returns(&self) -> Returns<T, U> {
        Returns(Arc::clone(&self.0.shared))
    }
}

/// Gives used items back to a stock, whose thread disposes of them. Held by what uses an item
/// (a container); keeps the counters and the queue alive, not the thread.
pub(crate) struct Returns<T, U = T>(Arc<Shared<T, U>>);

impl<T, U> Returns<T, U> {
    /// Queues `item` for its disposal on the stock's thread; the item back if the stock is
    /// stopping (or stopped): the caller then disposes of it itself.
    pub fn give_back(&self, item: U) -> std::result::Result<(), U> {
        let mut state = self.0.lock();
        if state.stopping {
            return Err(item);
        }
        let now = Instant::now();
        state.used_since.get_or_insert(now);
        state.last_give = Some(now);
        state.used.push(item);
        drop(state);
        self.0.returned.fetch_add(1, Ordering::Relaxed);
        self.0.wake.notify_all();
        Ok(())
    }
}

impl<T, U> std::fmt::Debug for Returns<T, U> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Returns").field("size", &self.0.size).finish()
    }
}

fn run<T, U>(shared: &Shared<T, U>, mut make: impl FnMut() -> Result<T>, dispose: fn(U) -> bool) {
    // A panic in `make` or `dispose` ends the thread: what is given back afterwards goes back
    // to its giver (stopping), and nobody waits for a thread that is gone.
    struct StopOnUnwind<'a, T, U>(&'a Shared<T, U>);
    impl<T, U> Drop for StopOnUnwind<'_, T, U> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                self.0.lock().stopping = true;
                self.0.wake.notify_all();
            }
        }
    }
    let _guard = StopOnUnwind(shared);
    let mut backoff = Duration::ZERO;
    let mut backoff_until = Instant::now();
    loop {
        let job = next_job(shared, backoff_until);
        match job {
            Job::Stop { ready, used } => {
                drop(ready);
                dispose_all(shared, used, dispose);
                shared.wake.notify_all();
                return;
            }
            Job::Dispose(used) => {
                let count = used.len();
                dispose_all(shared, used, dispose);
                shared.lock().disposing -= count;
                // `wait_disposed` may be waiting.
                shared.wake.notify_all();
            }
            Job::Make => match make() {
                Ok(item) => {
                    backoff = Duration::ZERO;
                    let mut state = shared.lock();
                    if state.stopping {
                        drop(state);
                        drop(item);
                        continue;
                    }
                    state.ready.push_back(item);
                    drop(state);
                    // `wait_full` may be waiting.
                    shared.wake.notify_all();
                }
                Err(e) => {
                    shared.failed_refills.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(error = %e, "a pool failed to make an item ahead of time");
                    backoff = next_backoff(backoff);
                    backoff_until = Instant::now() + backoff;
                }
            },
        }
    }
}

/// The backoff after one more failure in a row.
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF)
}

fn dispose_all<T, U>(shared: &Shared<T, U>, used: Vec<U>, dispose: fn(U) -> bool) {
    for item in used {
        if !dispose(item) {
            shared.failed_disposals.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Waits until there is something to do: stop, dispose of what was given back (once the last
/// handout is [`GRACE`] ago), or make one more (room, the grace and the backoff passed).
fn next_job<T, U>(shared: &Shared<T, U>, backoff_until: Instant) -> Job<T, U> {
    let mut state = shared.lock();
    loop {
        if state.stopping {
            return Job::Stop {
                ready: std::mem::take(&mut state.ready),
                used: std::mem::take(&mut state.used),
            };
        }
        let now = Instant::now();
        let calm_at = state.last_take.map_or(now, |t| t + GRACE);
        // Given back: disposed of once calm (the grace after the last handout and after the
        // last give-back: whoever gave it back, a container's `wait`, may still be busy with
        // its own cleanup), or at the latest after the longest delay or when too many wait.
        let dispose_at = state.used_since.map(|since| {
            let calm = state.last_give.map_or(calm_at, |t| calm_at.max(t + GRACE));
            calm.min(since + MAX_DISPOSAL_DELAY)
        });
        if let Some(at) = dispose_at
            && (now >= at || state.used.len() >= MAX_PENDING)
        {
            state.disposing += state.used.len();
            state.used_since = None;
            return Job::Dispose(std::mem::take(&mut state.used));
        }
        let room = state.ready.len() < shared.size;
        let make_at = calm_at.max(backoff_until);
        if room && now >= make_at {
            return Job::Make;
        }
        let refill = room.then_some(make_at);
        state = match dispose_at.into_iter().chain(refill).min() {
            Some(at) => {
                shared
                    .wake
                    .wait_timeout(state, at.saturating_duration_since(now))
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

impl<T: Send + 'static, U: Send + 'static> Drop for Owner<T, U> {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    static DISPOSED: AtomicUsize = AtomicUsize::new(0);

    fn count_disposal(_: u32) -> bool {
        DISPOSED.fetch_add(1, Ordering::SeqCst);
        true
    }

    #[test]
    fn fills_hands_out_disposes_and_drains() {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&made);
        let stock = Stock::start(
            "nsbox-test-stock",
            2,
            move || Ok(counter.fetch_add(1, Ordering::SeqCst) as u32),
            count_disposal,
        )
        .unwrap();
        assert!(stock.wait_full(Duration::from_secs(5)));
        assert_eq!(stock.take(|_| true), Some(0));
        assert_eq!(stock.take(|_| false), None, "refused: dropped, counted unmatched");
        let returns = stock.returns();
        let before = DISPOSED.load(Ordering::SeqCst);
        returns.give_back(7).unwrap();
        assert!(stock.wait_disposed(Duration::from_secs(5)));
        assert_eq!(DISPOSED.load(Ordering::SeqCst), before + 1);
        assert!(stock.wait_full(Duration::from_secs(5)));
        let counts = stock.counts();
        assert_eq!(
            (counts.hits, counts.unmatched, counts.misses, counts.ready),
            (1, 1, 0, 2)
        );
        drop(stock);
        // The thread is gone: what comes back now is the giver's to dispose of.
        assert_eq!(returns.give_back(9), Err(9));
    }

    /// A spawn that finds the stock empty starts cold and does not delay the thread; a take
    /// does, refused or not. (When a miss delayed it too, a stream of spawns closer together
    /// than the grace that once emptied the stock kept it empty.)
    #[test]
    fn a_miss_does_not_delay_the_refill() {
        let (permit, permits) = std::sync::mpsc::channel::<()>();
        let make = move || {
            let closed = || Error::io("wait for a permit", std::io::Error::other("closed"));
            permits.recv().map_err(|_| closed())?;
            Ok(0u32)
        };
        let stock = Stock::start("nsbox-test-grace", 1, make, |_: u32| true).unwrap();
        // Dropped before the stock, also when an assertion fails: the thread's make returns
        // once no permit can come, then it sees the stop.
        let permit = permit;
        let last_take = || stock.0.shared.lock().last_take;
        assert_eq!(stock.take(|_| true), None);
        assert_eq!(last_take(), None, "a miss");
        permit.send(()).unwrap();
        assert!(stock.wait_full(Duration::from_secs(5)));
        assert_eq!(stock.take(|_| false), None);
        let refused = last_take();
        assert!(refused.is_some(), "an item refused");
        permit.send(()).unwrap();
        assert!(stock.wait_full(Duration::from_secs(5)));
        assert_eq!(stock.take(|_| true), Some(0));
        assert!(last_take() > refused, "a hit");
        let counts = stock.counts();
        assert_eq!((counts.hits, counts.misses, counts.unmatched), (1, 1, 1));
    }

    static STEADY_DISPOSED: AtomicUsize = AtomicUsize::new(0);

    fn count_steady(_: u32) -> bool {
        STEADY_DISPOSED.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Takes closer together than the grace never let the thread be calm: what is given back
    /// is still disposed of (at the latest after MAX_DISPOSAL_DELAY or MAX_PENDING items).
    #[test]
    fn a_steady_stream_of_handouts_does_not_pile_up_used_items() {
        let stock = Stock::start("nsbox-test-steady", 1, || Ok(0u32), count_steady).unwrap();
        let returns = stock.returns();
        let mut given = 0;
        let until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < until {
            let _ = stock.take(|_| true);
            returns.give_back(1).unwrap();
            given += 1;
            std::thread::sleep(Duration::from_micros(500));
        }
        // Without the caps none would be disposed of before the stream stops; with them, all
        // but the last MAX_DISPOSAL_DELAY's or MAX_PENDING's. Half: a bound a thread descheduled
        // for a while on a loaded machine still meets.
        let disposed = STEADY_DISPOSED.load(Ordering::SeqCst);
        assert!(
            disposed * 2 >= given,
            "{disposed} of {given} disposed of while handouts went on"
        );
        assert_eq!(stock.counts().returned as usize, given);
    }
}
