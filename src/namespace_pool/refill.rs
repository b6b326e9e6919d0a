//! The namespace pool's refill thread: makes pairs until `size` are ready, waits while the
//! pool is full, backs off after a failure, stops when the pool is dropped.
//!
//! Like the warm pool's (`pool::refill`), it starts a pair only [`GRACE`] after the last
//! handout: making one (~0.5 ms of kernel work, most of it the network namespace) beside the
//! spawn that took the last one competes with it for the CPUs.

use std::time::{Duration, Instant};

use super::{Shared, premade};

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
const GRACE: Duration = crate::pool::REFILL_GRACE;

pub(super) fn run(shared: &Shared) {
    let mut backoff = Duration::ZERO;
    loop {
        {
            let backoff_until = Instant::now() + backoff;
            let mut state = shared.lock();
            loop {
                if state.stopping {
                    return;
                }
                let retry_at = state.last_take.map_or(backoff_until, |t| backoff_until.max(t + GRACE));
                let now = Instant::now();
                if state.ready.len() < shared.size && now >= retry_at {
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
        match premade::make(&shared.maps) {
            Ok(pair) => {
                backoff = Duration::ZERO;
                let mut state = shared.lock();
                if state.stopping {
                    return;
                }
                state.ready.push_back(pair);
                drop(state);
                // `wait_full` may be waiting.
                shared.wake.notify_all();
            }
            Err(e) => {
                shared.failed_refills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::debug!(error = %e, "a namespace pool failed to make a pair");
                backoff = (backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
            }
        }
    }
}
