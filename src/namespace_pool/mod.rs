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

use std::fmt;
use std::sync::Arc;

pub(crate) use premade::PremadeNamespaces;

use crate::config::Config;
use crate::error::Result;
use crate::idmap::IdMaps;
use crate::namespaces::Namespaces;
use crate::net::Network;
use crate::pool::PoolError;
use crate::stock::Stock;
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
pub struct NamespacePool {
    stock: Stock<PremadeNamespaces>,
    maps: Arc<IdMaps>,
}

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
        let maps = Arc::new(maps_of(&config.uid_map, &config.gid_map));
        let for_thread = Arc::clone(&maps);
        let stock = Stock::start("nsbox-nspool", size, move || premade::make(&for_thread), |_| true)?;
        Ok(NamespacePool { stock, maps })
    }

    /// The pool's counters.
    pub fn stats(&self) -> NamespacePoolStats {
        let counts = self.stock.counts();
        NamespacePoolStats {
            hits: counts.hits,
            misses: counts.misses,
            unmatched: counts.unmatched,
            failed_refills: counts.failed_refills,
            ready: counts.ready,
        }
    }

    /// Blocks until `size` pairs are ready or `timeout` passed; whether it is full. For
    /// benchmarks and tests that want every spawn to find a pair.
    pub fn wait_full(&self, timeout: std::time::Duration) -> bool {
        self.stock.wait_full(timeout)
    }

    /// A pair for a spawn of `config`, if it matches the pool and one is ready.
    pub(crate) fn take(&self, config: &Config) -> Option<PremadeNamespaces> {
        let maps = &self.maps;
        let same_maps = config.uid_map == maps.uid
            && config.gid_map == maps.gid
            && IdMaps::allows_setgroups(&config.gid_map) == maps.allow_setgroups;
        if !makes_both(config) || !same_maps {
            self.stock.unmatched();
            return None;
        }
        // A pair made by another euid than this thread's (the caller changed credentials
        // since): joining it would fail, or, with capabilities kept, reset the caller's
        // dumpable flag (the new namespace not owned by the euid). Dropped unused.
        let euid = nix::unistd::geteuid().as_raw();
        self.stock.take(|pair| pair.owner == euid)
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

impl fmt::Debug for NamespacePool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespacePool")
            .field("size", &self.stock.size())
            .field("stats", &self.stats())
            .finish()
    }
}
