//! New limits for a running container's cgroup ([`CgroupHandle::update`], runc's `update`):
//! the limits a running container may change, raising, lowering or lifting them (runc's
//! `-1`: no limit at all).
//!
//! [`CgroupHandle::update`]: super::CgroupHandle::update

use std::collections::BTreeSet;
use std::path::Path;

use super::{Cgroup, CgroupError, Controller, Resources};
use crate::error::{ConfigError, Setting};

/// New limits for [`CgroupHandle::update`](super::CgroupHandle::update): only those set are
/// written; a `lift_*` call removes a limit (the kernel's `max`, runc's `-1`).
///
/// ```
/// let mut update = nsbox::CgroupUpdate::new();
/// update.memory_limit(256 << 20).pids_limit(100);
/// // No CPU limit any more, whatever it was.
/// update.lift_cpu_limit();
/// ```
#[derive(Debug, Clone, Default)]
pub struct CgroupUpdate {
    resources: Resources,
    lift: Lift,
    check_before_update: bool,
}

/// The limits an update lifts.
#[derive(Debug, Clone, Copy, Default)]
struct Lift {
    memory: bool,
    swap: bool,
    pids: bool,
    cpu: bool,
}

impl CgroupUpdate {
    /// No change yet.
    pub fn new() -> Self {
        CgroupUpdate::default()
    }

    /// Sets exactly the limits `resources` holds (a pooled container's tightened ones).
    pub(crate) fn setting(resources: Resources) -> Self {
        CgroupUpdate {
            resources,
            ..CgroupUpdate::default()
        }
    }

    /// As [`ContainerBuilder::memory_limit`](crate::ContainerBuilder::memory_limit).
    pub fn memory_limit(&mut self, bytes: u64) -> &mut Self {
        self.resources.memory = Some(bytes);
        self.lift.memory = false;
        self
    }

    /// No memory limit. On cgroup v1 the memory+swap limit goes too unless this update sets
    /// one (the kernel keeps it at or above the memory limit; runc does the same).
    pub fn lift_memory_limit(&mut self) -> &mut Self {
        self.resources.memory = None;
        self.lift.memory = true;
        self
    }

    /// As [`ContainerBuilder::memory_swap_limit`](crate::ContainerBuilder::memory_swap_limit)
    /// (needs a memory limit in the same update).
    pub fn memory_swap_limit(&mut self, bytes: u64) -> &mut Self {
        self.resources.swap = Some(bytes);
        self.lift.swap = false;
        self
    }

    /// No swap limit (v1 `memory.memsw.limit_in_bytes`, v2 `memory.swap.max`).
    pub fn lift_memory_swap_limit(&mut self) -> &mut Self {
        self.resources.swap = None;
        self.lift.swap = true;
        self
    }

    /// As [`ContainerBuilder::memory_reservation`](crate::ContainerBuilder::memory_reservation).
    pub fn memory_reservation(&mut self, bytes: u64) -> &mut Self {
        self.resources.memory_reservation = Some(bytes);
        self
    }

    /// Refuses a new memory limit at or below the container's current memory usage
    /// (runc's `checkBeforeUpdate`) instead of letting the kernel reclaim or OOM-kill to meet
    /// it.
    pub fn check_before_update(&mut self) -> &mut Self {
        self.check_before_update = true;
        self
    }

    /// As [`ContainerBuilder::cpu_limit`](crate::ContainerBuilder::cpu_limit), over the
    /// [`cpu_period`](Self::cpu_period) of this update, else 100 ms.
    pub fn cpu_limit(&mut self, cpus: f64) -> &mut Self {
        self.resources.cpus = Some(cpus);
        self.lift.cpu = false;
        self
    }

    /// No CPU bandwidth limit (v1 `cpu.cfs_quota_us` -1, v2 `cpu.max` `max`).
    pub fn lift_cpu_limit(&mut self) -> &mut Self {
        self.resources.cpus = None;
        self.lift.cpu = true;
        self
    }

    /// As [`ContainerBuilder::cpu_period`](crate::ContainerBuilder::cpu_period). Without a
    /// [`cpu_limit`](Self::cpu_limit) in the same update the quota in microseconds stays as it
    /// is (as the kernel and runc keep it).
    pub fn cpu_period(&mut self, micros: u64) -> &mut Self {
        self.resources.cpu_period = Some(micros);
        self
    }

    /// As [`ContainerBuilder::cpu_burst`](crate::ContainerBuilder::cpu_burst).
    pub fn cpu_burst(&mut self, micros: u64) -> &mut Self {
        self.resources.cpu_burst = Some(micros);
        self
    }

    /// As [`ContainerBuilder::cpu_idle`](crate::ContainerBuilder::cpu_idle).
    pub fn cpu_idle(&mut self, idle: bool) -> &mut Self {
        self.resources.cpu_idle = Some(idle);
        self
    }

    /// As [`ContainerBuilder::cpu_realtime`](crate::ContainerBuilder::cpu_realtime).
    pub fn cpu_realtime(&mut self, runtime: u64, period: u64) -> &mut Self {
        self.resources.cpu_rt_runtime = Some(runtime);
        self.resources.cpu_rt_period = Some(period);
        self
    }

    /// As [`ContainerBuilder::cpu_weight`](crate::ContainerBuilder::cpu_weight).
    pub fn cpu_weight(&mut self, weight: u64) -> &mut Self {
        self.resources.cpu_weight = Some(weight);
        self
    }

    /// As [`ContainerBuilder::cpuset_cpus`](crate::ContainerBuilder::cpuset_cpus).
    pub fn cpuset_cpus(&mut self, cpus: impl Into<String>) -> &mut Self {
        self.resources.cpuset_cpus = Some(cpus.into());
        self
    }

    /// As [`ContainerBuilder::cpuset_mems`](crate::ContainerBuilder::cpuset_mems).
    pub fn cpuset_mems(&mut self, mems: impl Into<String>) -> &mut Self {
        self.resources.cpuset_mems = Some(mems.into());
        self
    }

    /// `pids.max` as written: unlike
    /// [`ContainerBuilder::pids_limit`](crate::ContainerBuilder::pids_limit), nsbox's own
    /// processes are not added (the handle does not know whether the container has an init).
    pub fn pids_limit(&mut self, max: u64) -> &mut Self {
        self.resources.pids = Some(max);
        self.lift.pids = false;
        self
    }

    /// No process count limit (`pids.max` `max`).
    pub fn lift_pids_limit(&mut self) -> &mut Self {
        self.resources.pids = None;
        self.lift.pids = true;
        self
    }

    /// As [`ContainerBuilder::io_weight`](crate::ContainerBuilder::io_weight).
    pub fn io_weight(&mut self, weight: u64) -> &mut Self {
        self.resources.io_weight = Some(weight);
        self
    }

    /// Checked as `build()` checks the limits; a swap limit beside a lifted memory limit is
    /// refused (v1's memory+swap would have no memory part).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.lift.memory && self.resources.swap.is_some() {
            return Err(ConfigError::Conflict {
                setting: Setting::MemorySwapLimit,
                with: Setting::MemoryLimit,
                why: "a swap limit needs a memory limit, and this update lifts it",
            });
        }
        self.resources.validate(0)
    }

    /// The controllers the update writes to.
    fn controllers(&self) -> BTreeSet<Controller> {
        let mut set = super::needed_controllers(&self.resources);
        let lifts = [
            (self.lift.memory || self.lift.swap, Controller::Memory),
            (self.lift.pids, Controller::Pids),
            (self.lift.cpu, Controller::Cpu),
        ];
        set.extend(lifts.into_iter().filter(|(lift, _)| *lift).map(|(_, c)| c));
        set
    }
}

impl Cgroup {
    /// Writes the update into the hierarchies that have its controllers: every controller it
    /// needs must be in one (a limit is never dropped). The cpuset lists are written only when
    /// given (v1's `apply` would copy the parent's into an unset one); v1's memory and
    /// memory+swap limits in the order the kernel accepts (the first must stay below the
    /// second).
    pub(crate) fn update(&self, u: &CgroupUpdate) -> Result<(), CgroupError> {
        let r = &u.resources;
        let needed = u.controllers();
        let in_v2 = |c: &Controller| self.v2.as_ref().is_some_and(|g| g.controllers.contains(c));
        if let Some(missing) = needed
            .iter()
            .find(|c| !in_v2(c) && !self.v1.iter().any(|g| g.controllers.contains(c)))
        {
            return Err(CgroupError::Unavailable {
                controller: *missing,
                why: format!("the cgroup {:?} is in no hierarchy with it", self.dirs()),
            });
        }
        if u.check_before_update {
            self.check_memory_usage(r)?;
        }
        // What `apply` writes: neither cpusets (below) nor, for v2, a period without a quota
        // (below, keeping the quota).
        let plain = Resources {
            cpuset_cpus: None,
            cpuset_mems: None,
            ..r.clone()
        };
        let cpusets = [("cpuset.cpus", &r.cpuset_cpus), ("cpuset.mems", &r.cpuset_mems)];
        for g in &self.v1 {
            let mut controllers: BTreeSet<Controller> = g.controllers.intersection(&needed).copied().collect();
            controllers.remove(&Controller::Cpuset);
            if controllers.remove(&Controller::Memory) {
                super::v1::memory_tuning(&g.dir, r)?;
                v1_memory(&g.dir, r, u.lift)?;
            }
            let parent = g.dir.parent().unwrap_or(&g.dir);
            super::v1::apply(&g.dir, parent, &controllers, &plain)?;
            if g.controllers.contains(&Controller::Cpuset) {
                for (file, value) in cpusets.iter().filter_map(|(f, v)| Some((*f, v.as_ref()?))) {
                    super::write(&g.dir, file, value, Some(Controller::Cpuset))?;
                }
            }
            if u.lift.pids && controllers.contains(&Controller::Pids) {
                super::write(&g.dir, "pids.max", "max", Some(Controller::Pids))?;
            }
            if u.lift.cpu && controllers.contains(&Controller::Cpu) {
                super::write(&g.dir, "cpu.cfs_quota_us", -1, Some(Controller::Cpu))?;
            }
        }
        if let Some(g) = &self.v2 {
            let has = |c| g.controllers.contains(&c);
            let mut v2 = plain;
            if has(Controller::Cpu) && r.cpus.is_none() && (u.lift.cpu || r.cpu_period.is_some()) {
                // "max" alone keeps the period; a period alone keeps the quota.
                let quota = match u.lift.cpu {
                    true => "max".to_string(),
                    false => cpu_max_quota(&g.dir)?,
                };
                let period = r.cpu_period.map(|p| format!(" {p}")).unwrap_or_default();
                super::write(&g.dir, "cpu.max", format!("{quota}{period}"), Some(Controller::Cpu))?;
                v2.cpu_period = None;
            }
            super::v2::apply(&g.dir, &g.controllers, &v2)?;
            let lifts = [
                (u.lift.memory, Controller::Memory, "memory.max"),
                (u.lift.swap, Controller::Memory, "memory.swap.max"),
                (u.lift.pids, Controller::Pids, "pids.max"),
            ];
            for (_, controller, file) in lifts.into_iter().filter(|(lift, c, _)| *lift && has(*c)) {
                super::write(&g.dir, file, "max", Some(controller))?;
            }
        }
        Ok(())
    }

    /// runc's `checkBeforeUpdate`: a new memory limit must be above the usage now.
    fn check_memory_usage(&self, r: &Resources) -> Result<(), CgroupError> {
        let Some(limit) = r.memory else { return Ok(()) };
        let v1 = self.v1.iter().find(|g| g.controllers.contains(&Controller::Memory));
        let file = match (v1, &self.v2) {
            (Some(g), _) => g.dir.join("memory.usage_in_bytes"),
            (None, Some(g)) => g.dir.join("memory.current"),
            (None, None) => return Ok(()),
        };
        let text = std::fs::read_to_string(&file).map_err(|e| CgroupError::io("read", &file, e))?;
        let usage: u64 = text.trim().parse().unwrap_or(0);
        if limit <= usage {
            return Err(CgroupError::Refused {
                path: file,
                why: format!("the new memory limit {limit} is not above the usage now, {usage} (check_before_update)"),
            });
        }
        Ok(())
    }

    fn dirs(&self) -> Vec<&Path> {
        let v1 = self.v1.iter().map(|g| g.dir.as_path());
        v1.chain(self.v2.as_ref().map(|g| g.dir.as_path())).collect()
    }
}

/// The quota field of `cpu.max` now (`max` or microseconds).
fn cpu_max_quota(dir: &Path) -> Result<String, CgroupError> {
    let text = super::read(dir, "cpu.max", Some(Controller::Cpu))?;
    Ok(text.split_whitespace().next().unwrap_or("max").to_string())
}

/// v1 memory, then memory+swap; if the new memory limit is above the current memory+swap
/// limit the kernel refuses it (EINVAL) until that one is raised: then the other order. A
/// lifted memory limit lifts memory+swap too unless the update sets it (runc's `update`),
/// where the kernel accounts swap.
fn v1_memory(dir: &Path, r: &Resources, lift: Lift) -> Result<(), CgroupError> {
    let memory = match (r.memory, lift.memory) {
        (Some(bytes), _) => Some(bytes.to_string()),
        (None, true) => Some("-1".to_string()),
        (None, false) => None,
    };
    let swap_accounted = dir.join("memory.memsw.limit_in_bytes").exists();
    let memsw = match (r.memory, r.swap) {
        (Some(bytes), Some(swap)) => Some(bytes.saturating_add(swap).to_string()),
        _ if lift.swap || (lift.memory && swap_accounted) => Some("-1".to_string()),
        _ => None,
    };
    let write = |file, value: &Option<String>| match value {
        Some(v) => super::write(dir, file, v, Some(Controller::Memory)),
        None => Ok(()),
    };
    let memory = || write("memory.limit_in_bytes", &memory);
    let memsw = || write("memory.memsw.limit_in_bytes", &memsw);
    match memory() {
        Ok(()) => memsw(),
        Err(_) => memsw().and_then(|()| memory()),
    }
}
