//! Pre-made cgroups (issue 17): with limits, a cold spawn's largest costs after its
//! namespaces are its cgroup's: on a v1 or hybrid host one directory per hierarchy (five or
//! six here: the limited controllers, and cpuacct, blkio, freezer and the cgroup2 one for
//! stats and pause), the limits written, then after the payload's exit every directory
//! emptied and removed (~0.25 ms to make, ~0.25 ms to remove on this VM). A [`CgroupPool`]
//! makes them ahead of time on a thread of its own, and removes the used ones there too.
//!
//! A pooled cgroup is never recycled: a used one is removed, so nothing one container left in
//! its cgroup (its counters, a nested cgroup, a changed limit) can reach the next.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::ContainerBuilder;
use crate::cgroup::{Cgroup, Placement, Request};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::namespaces::Namespaces;
use crate::pool::PoolError;
use crate::stock::{Returns, Stock};

/// Cgroups made ahead of time with a template's limits, for spawns whose builder names the
/// pool ([`ContainerBuilder::cgroup_pool`]): such a spawn takes a ready cgroup instead of
/// creating its own, and its container's name is the cgroup's (`nsbox-<id>`). `size`
/// cgroups are kept ready, refilled after each handout; a spawn that finds none ready, or
/// whose cgroup settings differ from the template's, creates its own as usual.
///
/// A container with its own PID namespace, into which nothing was exec'd
/// ([`Container::exec`](crate::Container::exec): an exec's own init lives outside that
/// namespace, in the cgroup), gives its cgroup back when it is reaped, and the pool's thread
/// removes it, with any cgroup nested in it: its `wait` returns without waiting for the
/// removal (nothing of the container is left in the cgroup once the namespace's init is
/// reaped). A removal that fails is logged and counted ([`CgroupPoolStats::failed_removals`])
/// instead of being returned by `wait` as [`Error::Cleanup`](crate::Error::Cleanup);
/// [`wait_removed`] waits for the pending ones (removed within 50 ms even under a steady
/// stream of spawns). Other containers remove their cgroup in `wait`, as without a pool.
/// Dropping the last clone of the pool (builders hold clones) stops its thread, removes the
/// ready cgroups and those given back; a container reaped after that removes its own.
///
/// The template fixes the cgroup: a spawn uses a pooled one only if it has the same limits,
/// the same [`cgroup_parent`](ContainerBuilder::cgroup_parent), the same nsbox processes in
/// it (an init, a port connector: they count against the pids limit) and no
/// [`cgroup_path`](ContainerBuilder::cgroup_path). A relative `cgroup_parent` is resolved
/// against the caller's own cgroup when each pooled cgroup is made, on the pool's thread: a
/// caller that moves itself to another cgroup afterwards still gets the cgroups made before,
/// under the old one. Each ready cgroup holds one fd in the
/// caller where there is a cgroup2 hierarchy, and the files its spawn joins it through, opened
/// ahead too (one per hierarchy).
///
/// ```no_run
/// use nsbox::{CgroupPool, Container};
/// let mut template = Container::builder();
/// template.pids_limit(64).cpu_limit(1.0).command("/bin/true");
/// let cgroups = CgroupPool::new(&template, 4)?;
/// let status = Container::builder()
///     .cgroup_pool(&cgroups)
///     .pids_limit(64)
///     .cpu_limit(1.0)
///     .command("/bin/true")
///     .status()?;
/// assert!(status.success());
/// assert_eq!(cgroups.stats().hits, 1);
/// # Ok::<(), nsbox::Error>(())
/// ```
///
/// [`wait_removed`]: CgroupPool::wait_removed
#[derive(Clone)]
pub struct CgroupPool {
    stock: Stock<PremadeCgroup>,
    template: Arc<Template>,
}

/// What the pool's cgroups are made of.
#[derive(Debug)]
struct Template {
    request: Request,
    parent: Option<PathBuf>,
}

/// A cgroup made ahead of time, and the container id its name holds.
#[derive(Debug)]
pub(crate) struct PremadeCgroup {
    pub id: String,
    pub cgroup: Cgroup,
}

/// The counters of a [`CgroupPool`] ([`CgroupPool::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgroupPoolStats {
    /// Spawns that took a pooled cgroup.
    pub hits: u64,
    /// Spawns that named the pool and matched it but found none ready (they made their own).
    pub misses: u64,
    /// Spawns that named the pool but could not use it: their cgroup settings differ.
    pub unmatched: u64,
    /// Cgroups the pool's thread failed to make (it backs off, then tries again).
    pub failed_refills: u64,
    /// Used cgroups handed back to the pool for removal (by containers with their own PID
    /// namespace).
    pub returned: u64,
    /// Used cgroups the pool's thread failed to remove (each failure is logged).
    pub failed_removals: u64,
    /// Cgroups ready now.
    pub ready: usize,
}

/// Where a container gives its pooled cgroup back once reaped.
#[derive(Debug)]
pub(crate) struct CgroupReturn(Returns<PremadeCgroup>);

impl CgroupReturn {
    /// Hands `cgroup` to the pool's thread for removal; the cgroup back if the pool is gone
    /// (the caller then removes it).
    pub fn give_back(self, id: &str, cgroup: Cgroup) -> Option<Cgroup> {
        let premade = PremadeCgroup {
            id: id.to_string(),
            cgroup,
        };
        self.0.give_back(premade).err().map(|p| p.cgroup)
    }
}

impl CgroupPool {
    /// A pool of `size` cgroups with the limits and parent `template` gives its containers
    /// (built and checked here). The template must want a cgroup (a limit,
    /// [`cgroup_parent`](ContainerBuilder::cgroup_parent) or
    /// [`cgroup`](ContainerBuilder::cgroup)) and name no exact
    /// [`cgroup_path`](ContainerBuilder::cgroup_path). The first cgroups are made in the
    /// background: spawns right after this may not find one.
    pub fn new(template: &ContainerBuilder, size: usize) -> Result<CgroupPool> {
        let refuse = |why| Error::from(PoolError::CgroupTemplate { why });
        if size == 0 {
            return Err(refuse("must keep at least one cgroup"));
        }
        let config = template.build()?;
        if config.cgroup_path.is_some() {
            return Err(refuse(
                "template names an exact cgroup path (one container's own): nothing to make ahead",
            ));
        }
        let request = Request::of(&config);
        if !request.always_makes_one() {
            return Err(refuse(
                "template wants no cgroup (no limit, cgroup_parent or cgroup): nothing to make ahead",
            ));
        }
        let template = Arc::new(Template {
            request,
            parent: config.cgroup_parent.clone(),
        });
        let for_thread = Arc::clone(&template);
        let stock = Stock::start("nsbox-cgpool", size, move || make(&for_thread), remove)?;
        Ok(CgroupPool { stock, template })
    }

    /// The pool's counters.
    pub fn stats(&self) -> CgroupPoolStats {
        let counts = self.stock.counts();
        CgroupPoolStats {
            hits: counts.hits,
            misses: counts.misses,
            unmatched: counts.unmatched,
            failed_refills: counts.failed_refills,
            returned: counts.returned,
            failed_removals: counts.failed_disposals,
            ready: counts.ready,
        }
    }

    /// Blocks until `size` cgroups are ready or `timeout` passed; whether it is full. For
    /// benchmarks and tests that want every spawn to find one.
    pub fn wait_full(&self, timeout: Duration) -> bool {
        self.stock.wait_full(timeout)
    }

    /// Blocks until every cgroup given back by a reaped container has been removed, or
    /// `timeout` passed; whether none is pending.
    pub fn wait_removed(&self, timeout: Duration) -> bool {
        self.stock.wait_disposed(timeout)
    }

    /// A cgroup for a spawn of `config` if it matches the pool and one is ready, with where
    /// to give it back when the container has its own PID namespace.
    pub(crate) fn take(&self, config: &Config) -> Option<(PremadeCgroup, Option<CgroupReturn>)> {
        let same = config.cgroup_path.is_none()
            && config.cgroup_parent == self.template.parent
            && self.template.request.matches(config);
        if !same {
            self.stock.unmatched();
            return None;
        }
        let premade = self.stock.take(|_| true)?;
        let own_pid_namespace =
            config.namespaces.contains(Namespaces::PID) && config.process.joined(Namespaces::PID).is_none();
        let back = own_pid_namespace.then(|| CgroupReturn(self.stock.returns()));
        Some((premade, back))
    }
}

fn make(template: &Template) -> Result<PremadeCgroup> {
    let id = crate::spawn::container_id();
    let name = format!("nsbox-{id}");
    let placement = Placement::Under(template.parent.as_deref(), &name);
    match template.request.create(placement)? {
        Some(cgroup) => {
            cgroup.open_join_files_ahead()?;
            Ok(PremadeCgroup { id, cgroup })
        }
        None => Err(Error::io(
            "make a pooled cgroup",
            std::io::Error::other("the template's request made none"),
        )),
    }
}

/// Removes a used cgroup (on the pool's thread), with what its container nested in it; false
/// if a directory was left.
fn remove(mut premade: PremadeCgroup) -> bool {
    let errors = premade.cgroup.remove_nested();
    for e in &errors {
        tracing::warn!(id = premade.id, error = %e, "a pooled cgroup was not removed");
    }
    errors.is_empty()
}

impl fmt::Debug for CgroupPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CgroupPool")
            .field("size", &self.stock.size())
            .field("stats", &self.stats())
            .finish()
    }
}
