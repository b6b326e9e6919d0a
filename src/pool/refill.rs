//! The pool's refill thread: parks containers until `size` are parked, sleeps until a spawn
//! takes one, backs off after a failure, stops when the pool is dropped.
//!
//! It starts a container's setup only [`GRACE`] after the last handout: a setup (a clone with
//! its namespaces, mounts) running beside a handout competes for the CPUs just when the run's
//! payload executes, which tripled the handout's time on a 2-vCPU machine (docs/pool.md).

use std::sync::{Arc, Condvar, MutexGuard};
use std::time::{Duration, Instant};

use super::stats::Counters;
use super::{Shared, spawner};

/// The first wait after a failed refill, doubled per failure in a row up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// How long after a handout the next setup waits: the handout's exec and a short payload's
/// start and exit take about a millisecond here.
pub(crate) const GRACE: Duration = Duration::from_millis(2);

/// Sets up one container: on this thread if the template has an init, else on the spawner
/// thread, whose death alone (the process's) kills it (see `spawner`).
fn park(shared: &Arc<Shared>) -> crate::Result<super::template::Parked> {
    if shared.template.config.has_init() {
        return shared.template.park();
    }
    let shared = Arc::clone(shared);
    spawner::on_lasting_thread(move || shared.template.park())
        .map_err(|e| crate::Error::io("park a container on the pool's spawner thread", e))?
}

/// What a refill thread's turn depends on, read under its pool's lock.
struct Turn {
    pub stopping: bool,
    /// Fewer ready than the pool's size.
    pub room: bool,
    pub last_take: Option<Instant>,
}

/// Waits (on `wake`) until there is room, the last handout is [`GRACE`] ago and `backoff`
/// passed; the guard again, or `None` once the pool is stopping.
fn await_turn<'a, S>(
    mut state: MutexGuard<'a, S>,
    wake: &Condvar,
    backoff: Duration,
    turn: impl Fn(&S) -> Turn,
) -> Option<MutexGuard<'a, S>> {
    let backoff_until = Instant::now() + backoff;
    loop {
        let Turn {
            stopping,
            room,
            last_take,
        } = turn(&state);
        if stopping {
            return None;
        }
        let retry_at = last_take.map_or(backoff_until, |t| backoff_until.max(t + GRACE));
        let now = Instant::now();
        if room && now >= retry_at {
            return Some(state);
        }
        state = match now < retry_at {
            true => {
                wake.wait_timeout(state, retry_at - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            false => wake.wait(state).unwrap_or_else(|p| p.into_inner()),
        };
    }
}

/// The backoff after one more failure in a row.
pub(crate) fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF)
}

pub(super) fn run(shared: Arc<Shared>) {
    let mut backoff = Duration::ZERO;
    loop {
        let turn = |s: &super::State| Turn {
            stopping: s.stopping,
            room: s.parked.len() < shared.size,
            last_take: s.last_take,
        };
        match await_turn(shared.lock(), &shared.wake, backoff, turn) {
            Some(state) => drop(state),
            None => return,
        }
        match park(&shared) {
            Ok(parked) => {
                backoff = Duration::ZERO;
                let mut state = shared.lock();
                if state.stopping {
                    drop(state);
                    // Killed, reaped and its cgroup removed by its drop.
                    drop(parked);
                    return;
                }
                state.parked.push_back(parked);
            }
            Err(e) => {
                Counters::add(&shared.counters.failed_refills);
                tracing::debug!(error = %e, "a pool failed to park a container");
                backoff = next_backoff(backoff);
            }
        }
    }
}
