//! The pool's refill thread: parks containers until `size` are parked, sleeps until a spawn
//! takes one, backs off after a failure, stops when the pool is dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Shared;
use super::stats::Counters;

/// The first wait after a failed refill, doubled per failure in a row up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

pub(super) fn run(shared: Arc<Shared>) {
    let mut backoff = Duration::ZERO;
    loop {
        {
            let retry_at = Instant::now() + backoff;
            let mut state = shared.lock();
            loop {
                if state.stopping {
                    return;
                }
                let now = Instant::now();
                if state.parked.len() < shared.size && now >= retry_at {
                    break;
                }
                state = match now < retry_at {
                    true => {
                        shared
                            .wake
                            .wait_timeout(state, retry_at - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                    false => shared.wake.wait(state).unwrap_or_else(|p| p.into_inner()),
                };
            }
        }
        match shared.template.park() {
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
                backoff = (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
            }
        }
    }
}
