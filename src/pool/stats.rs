//! The pool's counters: how often a spawn found a parked container, how often it did not.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of a [`Pool`](crate::Pool)'s counters ([`Pool::stats`](crate::Pool::stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Spawns that got a parked container (also those whose payload then could not be
    /// executed: the container was used up), so `hits + cold_starts` counts every spawn that
    /// passed the run's checks.
    pub hits: u64,
    /// Spawns that found none parked and started cold, successfully or not (their timings say
    /// [`StartKind::PoolFallback`](crate::StartKind::PoolFallback)).
    pub cold_starts: u64,
    /// Containers the refill thread failed to set up (it backs off, then tries again).
    pub failed_refills: u64,
    /// Parked containers found dead at handout (killed from outside), dropped unused.
    pub discarded: u64,
    /// Containers parked now.
    pub parked: usize,
}

/// The pool's own counters; the rest are its stock's.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub discarded: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The stats from these and the stock's `counts`, whose misses are the cold starts (a
    /// spawn misses at most once, then starts cold).
    pub fn snapshot(&self, stock: &crate::stock::Counts) -> PoolStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        PoolStats {
            hits: get(&self.hits),
            cold_starts: stock.misses,
            failed_refills: stock.failed_refills,
            discarded: get(&self.discarded),
            parked: stock.ready,
        }
    }
}
