//! The namespace pool's refill thread: makes pairs until `size` are ready, waits while the
//! pool is full, backs off after a failure, stops when the pool is dropped.
//!
//! Like the warm pool's (`pool::refill`, whose wait it shares), it starts a pair only 2 ms
//! (`pool::refill::GRACE`) after the last handout: making one (~0.5 ms of kernel work, most of it the network namespace) beside the
//! spawn that took the last one competes with it for the CPUs.

use std::time::Duration;

use super::{Shared, State, premade};
use crate::pool::refill::{Turn, await_turn, next_backoff};

pub(super) fn run(shared: &Shared) {
    let mut backoff = Duration::ZERO;
    loop {
        let turn = |s: &State| Turn {
            stopping: s.stopping,
            room: s.ready.len() < shared.size,
            last_take: s.last_take,
        };
        match await_turn(shared.lock(), &shared.wake, backoff, turn) {
            Some(state) => drop(state),
            None => return,
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
                backoff = next_backoff(backoff);
            }
        }
    }
}
