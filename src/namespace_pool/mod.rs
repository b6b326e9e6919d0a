//! Pre-made user and network namespaces (issue 17): a cold spawn's largest single cost is
//! the kernel's setup of a new network namespace (~0.35-0.4 ms here, of ~1.5 ms to the
//! payload's exec: every subsystem's per-namespace state and a loopback device). A
//! [`NamespacePool`] makes them ahead of time on a thread of its own; a spawn whose builder
//! names the pool is born in a pair from it instead of creating both.
//!
//! Why a pair and not a network namespace alone: a network namespace belongs to the user
//! namespace that created it, and a container's root has capabilities over its network (and
//! may mount a sysfs, which nsbox does by default) only if that is the container's own user
//! namespace. So the pool makes both, with the id maps of the template, and a spawn enters
//! them the way a joined user namespace is entered (`spawn::userns`): an intermediate process
//! joins them and clones the setup process, with the container's other new namespaces, as the
//! caller's child. For a pair the intermediate shares the caller's memory (`CLONE_VM`): the
//! kernel then copies no page tables, whatever the caller's size, and the join cannot touch
//! the memory's dumpable flag (the pair's user namespace is a child of the caller's, owned by
//! its euid: `cred_cap_issubset` holds, so `commit_creds` leaves it alone). A pair made under
//! another euid than the spawning thread's is never used: `NamespacePool::take` drops it.
//!
//! Each pair is used once: a used one is never recycled, so nothing one container did to its
//! network (addresses, routes, sysctls, sockets bound) can reach the next.

mod premade;
mod refill;

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

pub(crate) use premade::PremadeNamespaces;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::idmap::IdMaps;
use crate::namespaces::Namespaces;
use crate::net::Network;
use crate::pool::PoolError;
use crate::{ContainerBuilder, IdMap};

/// Pre-made user and network namespaces, loopback up, for spawns whose builder names the pool
/// ([`ContainerBuilder::namespace_pool`]): each such spawn skips creating the two namespaces
/// (the network namespace is the larger part of a cold spawn's kernel work) and is born in a
/// pair made ahead of time on the pool's own thread. `size` pairs are kept ready, refilled
/// after each handout; a spawn that finds none ready, or whose configuration does not match
/// the pool's, creates its own as usual. The pool is shared by clones of it; its thread stops
/// and the pairs left are closed when the last clone is dropped (builders hold clones).
///
/// A pair is used once. The template fixes the id maps: a spawn uses a pair only if it makes
/// new user and network namespaces ([`Network::None`], the default), joins neither, and has
/// the same uid and gid maps. A pair also has an IPC and a UTS namespace of its own, used by
/// the spawns that make those (the others stay in the caller's). Each ready pair holds four
/// fds in the caller.
///
/// ```no_run
/// use nsbox::{Container, NamespacePool};
/// let mut template = Container::builder();
/// template.command("/bin/true");
/// let namespaces = NamespacePool::new(&template, 4)?;
/// let status = Container::builder()
///     .namespace_pool(&namespaces)
///     .command("/bin/true")
///     .status()?;
/// assert!(status.success());
/// assert_eq!(namespaces.stats().hits, 1);
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Clone)]
pub struct NamespacePool(Arc<Owner>);

/// The counters of a [`NamespacePool`] ([`NamespacePool::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespacePoolStats {
    /// Spawns born in a pre-made pair.
    pub hits: u64,
    /// Spawns that named the pool and matched it but found no pair ready (they made their own).
    pub misses: u64,
    /// Spawns that named the pool but could not use it: their id maps or network differ.
    pub unmatched: u64,
    /// Pairs the refill thread failed to make (it backs off, then tries again).
    pub failed_refills: u64,
    /// Pairs ready now.
    pub ready: usize,
}

/// Held by every clone: stops the refill thread when the last goes.
struct Owner {
    shared: Arc<Shared>,
    refill: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    maps: IdMaps,
    size: usize,
    state: Mutex<State>,
    wake: Condvar,
    hits: AtomicU64,
    misses: AtomicU64,
    unmatched: AtomicU64,
    failed_refills: AtomicU64,
}

#[derive(Default)]
struct State {
    ready: VecDeque<PremadeNamespaces>,
    stopping: bool,
    last_take: Option<Instant>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl NamespacePool {
    /// A pool of `size` pairs with the id maps `template` gives its containers (built and
    /// checked here). The template must make new user and network namespaces
    /// ([`Namespaces::USER`], [`Namespaces::NET`], [`Network::None`]) and join neither.
    /// The first pairs are made in the background: spawns right after this may not find one.
    pub fn new(template: &ContainerBuilder, size: usize) -> Result<NamespacePool> {
        if size == 0 {
            return Err(PoolError::NamespaceTemplate {
                why: "must keep at least one pair",
            }
            .into());
        }
        let config = template.build()?;
        if !makes_both(&config) {
            return Err(PoolError::NamespaceTemplate {
                why: "template must make new user and network namespaces (Namespaces::USER and NET, Network::None) and join neither",
            }
            .into());
        }
        let shared = Arc::new(Shared {
            maps: maps_of(&config.uid_map, &config.gid_map),
            size,
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            failed_refills: AtomicU64::new(0),
        });
        let thread = Arc::clone(&shared);
        let refill = std::thread::Builder::new()
            .name("nsbox-nspool".into())
            .spawn(move || refill::run(&thread))
            .map_err(|e| Error::io("start a namespace pool's refill thread", e))?;
        Ok(NamespacePool(Arc::new(Owner {
            shared,
            refill: Some(refill),
        })))
    }

    /// The pool's counters.
    pub fn stats(&self) -> NamespacePoolStats {
        let shared = &self.0.shared;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NamespacePoolStats {
            hits: get(&shared.hits),
            misses: get(&shared.misses),
            unmatched: get(&shared.unmatched),
            failed_refills: get(&shared.failed_refills),
            ready: shared.lock().ready.len(),
        }
    }

    /// Blocks until `size` pairs are ready or `timeout` passed; whether it is full. For
    /// benchmarks and tests that want every spawn to find a pair.
    pub fn wait_full(&self, timeout: std::time::Duration) -> bool {
        let shared = &self.0.shared;
        let deadline = Instant::now() + timeout;
        let mut state = shared.lock();
        loop {
            if state.ready.len() >= shared.size {
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

    /// A pair for a spawn of `config`, if it matches the pool and one is ready.
    pub(crate) fn take(&self, config: &Config) -> Option<PremadeNamespaces> {
        let shared = &self.0.shared;
        let maps = &shared.maps;
        let same_maps = config.uid_map == maps.uid
            && config.gid_map == maps.gid
            && IdMaps::allows_setgroups(&config.gid_map) == maps.allow_setgroups;
        if !makes_both(config) || !same_maps {
            shared.unmatched.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let mut state = shared.lock();
        let taken = state.ready.pop_front();
        state.last_take = Some(Instant::now());
        drop(state);
        shared.wake.notify_all();
        let counter = match &taken {
            // Made by another euid than this thread's (the caller changed credentials since):
            // joining it would fail, or, with capabilities kept, reset the caller's dumpable
            // flag (the new namespace not owned by the euid). Dropped unused.
            Some(pair) if pair.owner != nix::unistd::geteuid().as_raw() => {
                shared.unmatched.fetch_add(1, Ordering::Relaxed);
                return None;
            }
            Some(_) => &shared.hits,
            None => &shared.misses,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        taken
    }
}

/// Whether a spawn of `config` makes both namespaces a pair replaces.
fn makes_both(config: &Config) -> bool {
    config.namespaces.contains(Namespaces::USER | Namespaces::NET)
        && matches!(config.network, Network::None)
        && config.process.joined(Namespaces::USER).is_none()
        && config.process.joined(Namespaces::NET).is_none()
}

fn maps_of(uid: &[IdMap], gid: &[IdMap]) -> IdMaps {
    IdMaps {
        uid: uid.to_vec(),
        gid: gid.to_vec(),
        allow_setgroups: IdMaps::allows_setgroups(gid),
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.refill.take() {
            let _ = thread.join();
        }
        // The pairs left close with `shared`'s last reference (this one, the thread's gone).
    }
}

impl fmt::Debug for NamespacePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespacePool")
            .field("size", &self.0.shared.size)
            .field("stats", &self.stats())
            .finish()
    }
}
