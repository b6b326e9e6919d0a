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
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(test)]
pub(crate) use premade::PremadeMounts;
pub(crate) use premade::PremadeNamespaces;

use crate::config::Config;
use crate::errno::Errno;
use crate::error::Result;
use crate::idmap::IdMaps;
use crate::namespaces::Namespaces;
use crate::net::Network;
use crate::plan::DevLayout;
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
/// The pool also takes the container's mount teardown off the path of `wait`: the caller
/// holds a container's mount namespace from its spawn until it is reaped, and the pool's
/// thread releases it after (within 50 ms): without that reference the container's init would
/// unmount the whole tree (an RCU grace period, every superblock shut down) in its exit, before
/// its parent learns of it. So the container's mounts outlive `wait` by a moment: a mount
/// source (a bind's device, an overlay's upper directory) is still in use until
/// [`wait_released`](Self::wait_released) says they are gone.
///
/// A pair is used once. The template fixes the id maps: a spawn uses a pair only if it makes
/// new user and network namespaces ([`Network::None`], the default), joins neither, and has
/// the same uid and gid maps. A pair also has an IPC and a UTS namespace of its own, used by
/// the spawns that make those (the others stay in the caller's). Each ready pair holds four
/// fds in the caller, six with its /dev and /sys (see [`new`](Self::new)).
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
    /// Pairs made ahead; used mount namespaces (and unused trees) given back to be released on
    /// the thread.
    stock: Stock<PremadeNamespaces, OwnedFd>,
    maps: Arc<IdMaps>,
    /// The /dev and /sys of the template the pairs' trees are made for, if they are made.
    layout: Option<Arc<DevLayout>>,
    /// Spawns given a pair's trees.
    mounts_attached: Arc<AtomicU64>,
    /// Pairs whose trees the holder could not make.
    failed_mounts: Arc<AtomicU64>,
}

/// The counters of a [`NamespacePool`] ([`NamespacePool::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NamespacePoolStats {
    /// Spawns born in a pre-made pair.
    pub hits: u64,
    /// Spawns that named the pool and matched it but found no pair ready (they made their own).
    pub misses: u64,
    /// Spawns that named the pool but could not use it: their id maps or network differ, or
    /// the pair ready was made under another euid or carries a /sys of other flags (see
    /// [`NamespacePool::new`]).
    pub unmatched: u64,
    /// Pairs the refill thread failed to make (it backs off, then tries again).
    pub failed_refills: u64,
    /// Pairs ready now.
    pub ready: usize,
    /// Spawns born in a pair that were given its pre-made /dev and /sys to attach (a subset
    /// of `hits`; see [`NamespacePool::new`]).
    pub premade_mounts: u64,
    /// Pairs made without their /dev and /sys because the holder failed to make them (logged;
    /// after a refusal of the kernel's, the pool stops asking).
    pub failed_premade_mounts: u64,
}

impl NamespacePool {
    /// A pool of `size` pairs with the id maps `template` gives its containers (built and
    /// checked here). The template must make new user and network namespaces
    /// ([`Namespaces::USER`], [`Namespaces::NET`], [`Network::None`]) and join neither.
    /// The first pairs are made in the background: spawns right after this may not find one.
    ///
    /// Where the template has its own mount namespace and its root is the caller's own ids on
    /// the host (the default maps), each pair also carries the container's /dev and /sys,
    /// made ahead: a spawn whose /dev and /sys would be the same (same devpts, /dev/shm and
    /// /dev/mqueue, read-only or writable /sys, propagation) attaches them instead of mounting
    /// five filesystems, binding six device nodes and making five symlinks; one whose /sys
    /// would have other flags does not take such a pair (the kernel keeps one sysfs
    /// superblock per network namespace). The device nodes are
    /// the host's as they were when the pair was made. A kernel that refuses to make them
    /// (before Linux 6.15, which lets mounts be attached inside a detached tree) is found at
    /// the first pair, and the pool then stops asking
    /// ([`NamespacePoolStats::failed_premade_mounts`]);
    /// [`namespaces_only`](Self::namespaces_only) never does.
    pub fn new(template: &ContainerBuilder, size: usize) -> Result<NamespacePool> {
        Self::start(template, size, true)
    }

    /// A pool of pairs without pre-made /dev and /sys: each pair's holder then needs no copy
    /// of the caller's mount namespace (less work on the pool's thread, where the spawns'
    /// own CPU time matters more than their latency).
    pub fn namespaces_only(template: &ContainerBuilder, size: usize) -> Result<NamespacePool> {
        Self::start(template, size, false)
    }

    fn start(template: &ContainerBuilder, size: usize, mounts: bool) -> Result<NamespacePool> {
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
        let layout = (mounts && config.namespaces.contains(Namespaces::MOUNT)).then(|| DevLayout::of(&config));
        let recipe = layout.as_ref().map(DevLayout::recipe).transpose()?.flatten();
        let layout = layout.filter(|_| recipe.is_some()).map(Arc::new);
        let for_thread = Arc::clone(&maps);
        let failed_mounts = Arc::new(AtomicU64::new(0));
        let failures = Arc::clone(&failed_mounts);
        let mut refused = false;
        let make = move || {
            let recipe = recipe.as_ref().filter(|_| !refused && root_is_the_caller(&for_thread));
            let (pair, not_made) = premade::make(&for_thread, recipe)?;
            if let Some(errno) = not_made {
                failures.fetch_add(1, Ordering::Relaxed);
                // A kernel that refuses (no mounts inside a detached tree, no fsopen, a
                // filesystem it will not mount here) refuses every later pair too: stop asking.
                // Anything else (no memory, no fd left) is tried again with the next pair.
                // A host device node missing (ENOENT) fails every pair too (and every cold
                // spawn's bind of it).
                refused = matches!(
                    errno,
                    Errno::EINVAL | Errno::EPERM | Errno::ENOSYS | Errno::ENODEV | Errno::ENOENT
                );
                tracing::warn!(%errno, refused, "a pair's /dev and /sys could not be made ahead; it goes without");
            }
            Ok(pair)
        };
        let stock = Stock::start("nsbox-nspool", size, make, release)?;
        Ok(NamespacePool {
            stock,
            maps,
            layout,
            mounts_attached: Arc::new(AtomicU64::new(0)),
            failed_mounts,
        })
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
            premade_mounts: self.mounts_attached.load(Ordering::Relaxed),
            failed_premade_mounts: self.failed_mounts.load(Ordering::Relaxed),
        }
    }

    /// Blocks until `size` pairs are ready or `timeout` passed; whether it is full. For
    /// benchmarks and tests that want every spawn to find a pair.
    pub fn wait_full(&self, timeout: std::time::Duration) -> bool {
        self.stock.wait_full(timeout)
    }

    /// Blocks until the mount namespaces of reaped containers given back to the pool have been
    /// released (their mounts torn down), or `timeout` passed; whether none is pending.
    pub fn wait_released(&self, timeout: std::time::Duration) -> bool {
        self.stock.wait_disposed(timeout)
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
        // The spawn's own /dev and /sys, where the pool makes trees and the spawn mounts.
        let own = match (&self.layout, config.namespaces.contains(Namespaces::MOUNT)) {
            (Some(_), true) => Some(DevLayout::of(config)),
            _ => None,
        };
        // Nor a pair whose /sys tree has other flags than the spawn's sysfs would: the kernel
        // keeps one sysfs superblock per network namespace, and a copy of the tree's fd in a
        // process forked meanwhile (another spawn's setup process) may keep it alive past any
        // close here, so the spawn's own mount would get the tree's flags. Dropped unused
        // (counted as unmatched); the spawn makes its own network namespace.
        let sysfs_clash = |pair: &PremadeNamespaces| {
            pair.mounts.is_some()
                && matches!((&self.layout, &own), (Some(layout), Some(own)) if !layout.same_sysfs(own))
        };
        let mut pair = self.stock.take(|pair| pair.owner == euid && !sysfs_clash(pair))?;
        if let Some(mounts) = pair.mounts.take() {
            match (&self.layout, &own) {
                (Some(layout), Some(own)) if **layout == *own => {
                    self.mounts_attached.fetch_add(1, Ordering::Relaxed);
                    pair.mounts = Some(mounts);
                }
                // Unmounted on the pool's thread, not on this spawn's path (the sysfs
                // superblock the spawn mounts again, if it lives on, has its flags).
                _ => {
                    let back = self.stock.returns();
                    drop(back.give_back(mounts.dev));
                    drop(back.give_back(mounts.sys));
                }
            }
        }
        Some(pair)
    }

    /// The mount namespace of the container born in a pair whose setup process is `pidfd`
    /// (`pid`), held until the container is reaped, and where it goes then; `None` (logged) if
    /// it cannot be opened: the container's init then tears it down as without the pool.
    pub(crate) fn hold_mount_namespace(&self, pidfd: BorrowedFd<'_>, pid: i32) -> Option<HeldMountNamespace> {
        match open_mount_namespace(pidfd, pid) {
            Ok(fd) => Some(HeldMountNamespace {
                fd,
                back: self.stock.returns(),
            }),
            Err(e) => {
                tracing::debug!(error = %e, "the container's mount namespace is not held");
                None
            }
        }
    }
}

/// `PIDFD_GET_MNT_NAMESPACE` (Linux 6.11): `_IO(0xFF, 3)`.
const PIDFD_GET_MNT_NAMESPACE: libc::c_ulong = 0xFF03;

/// An fd of `pid`'s mount namespace: from its pidfd where the kernel can (Linux 6.11), else by
/// its `/proc` path, checked afterwards through the pidfd: if the process was gone by then
/// (killed, and reaped by someone else), the pid may have named another process.
fn open_mount_namespace(pidfd: BorrowedFd<'_>, pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: an ioctl with no argument on a pidfd we own; a non-negative result is a new fd.
    let raw = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_MNT_NAMESPACE, 0) };
    if raw >= 0 {
        // SAFETY: the kernel returned a new fd (close-on-exec) that nothing else owns.
        return Ok(unsafe { OwnedFd::from_raw_fd(raw) });
    }
    let file = std::fs::File::open(format!("/proc/{pid}/ns/mnt"))?;
    // SAFETY: signal 0 (a check only) through a pidfd we own; no siginfo.
    let alive = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), 0, 0usize, 0) } == 0;
    match alive {
        true => Ok(OwnedFd::from(file)),
        false => Err(std::io::Error::from_raw_os_error(libc::ESRCH)),
    }
}

/// A container's mount namespace, held by the caller from the spawn on, and where it goes
/// once the container is reaped: the pool's thread releases it. Without the caller's
/// reference the container's init would tear the whole mount tree down in its exit (an
/// expedited RCU grace period and every superblock's shutdown) before its parent learns of it,
/// on the path of `wait`.
#[derive(Debug)]
pub(crate) struct HeldMountNamespace {
    fd: OwnedFd,
    back: crate::stock::Returns<PremadeNamespaces, OwnedFd>,
}

impl HeldMountNamespace {
    /// Once the container is reaped: the pool's thread releases it (closed here if the pool
    /// is gone).
    pub fn release(self) {
        drop(self.back.give_back(self.fd));
    }
}

/// Releases a used container's mount namespace (on the pool's thread): with this last
/// reference gone, the kernel unmounts its tree (an RCU grace period, then every superblock
/// of the container torn down) here instead of in the container's init's exit.
fn release(mount_namespace: OwnedFd) -> bool {
    drop(mount_namespace);
    true
}

/// Whether the container's root is the caller's own euid and egid on the host: then every
/// inode the holder makes in the trees has the owner the setup process would give it, and
/// the holder needs no change of credentials (on the caller's memory it must not: see
/// `shared_memory`).
fn root_is_the_caller(maps: &IdMaps) -> bool {
    IdMap::to_host(&maps.uid, 0) == Some(nix::unistd::geteuid().as_raw())
        && IdMap::to_host(&maps.gid, 0) == Some(nix::unistd::getegid().as_raw())
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
