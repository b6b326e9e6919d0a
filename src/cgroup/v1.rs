//! cgroup v1: the files each controller's limits, stats and freezing live in.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::stats::{Stats, keyed, v1_io};
use super::{CgroupError, Controller, Resources, read, write};
use crate::cgroup::limits::{CPU_PERIOD_US, IoLimitKind};

/// Writes the limits that belong to the `controllers` of the hierarchy `dir` is in.
pub(super) fn apply(
    dir: &Path,
    parent: &Path,
    controllers: &BTreeSet<Controller>,
    r: &Resources,
) -> Result<(), CgroupError> {
    for controller in controllers {
        match controller {
            Controller::Memory => {
                memory_tuning(dir, r)?;
                if let Some(bytes) = r.memory {
                    write(dir, "memory.limit_in_bytes", bytes, Some(Controller::Memory))?;
                    if let Some(swap) = r.swap {
                        write(
                            dir,
                            "memory.memsw.limit_in_bytes",
                            bytes.saturating_add(swap),
                            Some(Controller::Memory),
                        )?;
                    }
                }
            }
            Controller::Cpu => {
                // cpu.cfs_period_us of a new cgroup is the default one (checked below).
                if let Some(period) = r.cpu_period {
                    write(dir, "cpu.cfs_period_us", period, Some(Controller::Cpu))?;
                }
                if let Some(quota) = r.cpu_quota_us() {
                    write(dir, "cpu.cfs_quota_us", quota, Some(Controller::Cpu))?;
                }
                if let Some(weight) = r.cpu_weight {
                    write(dir, "cpu.shares", weight_to_shares(weight), Some(Controller::Cpu))?;
                }
                cpu_tuning(dir, r)?;
            }
            Controller::Cpuset => {
                // A new v1 cpuset is empty and takes no task until both lists are set.
                for (file, wanted) in [("cpuset.cpus", &r.cpuset_cpus), ("cpuset.mems", &r.cpuset_mems)] {
                    let value = match wanted {
                        Some(v) => v.clone(),
                        None => read(parent, file, Some(Controller::Cpuset))?.trim().to_string(),
                    };
                    write(dir, file, value, Some(Controller::Cpuset))?;
                }
            }
            Controller::Pids => {
                if let Some(max) = r.pids {
                    write(dir, "pids.max", max, Some(Controller::Pids))?;
                }
            }
            Controller::Io => {
                if let Some(weight) = r.io_weight {
                    // v1 weights are 10..=1000.
                    let v1 = (weight * 1000 / 10_000).clamp(10, 1000);
                    let file = ["blkio.weight", "blkio.bfq.weight"]
                        .into_iter()
                        .find(|f| dir.join(f).exists());
                    let file = file.ok_or_else(|| CgroupError::Unavailable {
                        controller: Controller::Io,
                        why: format!(
                            "no blkio.weight or blkio.bfq.weight in {} (no proportional I/O scheduler)",
                            dir.display()
                        ),
                    })?;
                    write(dir, file, v1, Some(Controller::Io))?;
                }
                io_weights(dir, r)?;
                for limit in &r.io_devices {
                    let file = match limit.kind {
                        IoLimitKind::ReadBps => "blkio.throttle.read_bps_device",
                        IoLimitKind::WriteBps => "blkio.throttle.write_bps_device",
                        IoLimitKind::ReadIops => "blkio.throttle.read_iops_device",
                        IoLimitKind::WriteIops => "blkio.throttle.write_iops_device",
                    };
                    write(
                        dir,
                        file,
                        format!("{}:{} {}", limit.major, limit.minor, limit.value),
                        Some(Controller::Io),
                    )?;
                }
            }
            Controller::Devices => {
                if let Some(rules) = &r.devices {
                    devices(dir, &super::device_rules::DeviceCgroup::from_rules(rules))?;
                }
            }
            Controller::Hugetlb => {
                for (size, bytes) in &r.hugepages {
                    write(
                        dir,
                        &format!("hugetlb.{size}.limit_in_bytes"),
                        bytes,
                        Some(Controller::Hugetlb),
                    )?;
                }
            }
            Controller::NetCls => {
                if let Some(id) = r.net_class_id {
                    write(dir, "net_cls.classid", id, Some(Controller::NetCls))?;
                }
            }
            Controller::NetPrio => {
                for (interface, priority) in &r.net_priorities {
                    let line = format!("{interface} {priority}");
                    write(dir, "net_prio.ifpriomap", line, Some(Controller::NetPrio))?;
                }
            }
            Controller::Rdma => {
                for limit in &r.rdma {
                    write(dir, "rdma.max", limit.line(), Some(Controller::Rdma))?;
                }
            }
            Controller::Cpuacct | Controller::Freezer => {}
        }
    }
    Ok(())
}

/// The device cgroup, as runc writes it: `a` to `devices.deny` (or `devices.allow`) first,
/// which resets the default and forgets the exceptions, then each exception to the other
/// file. Allowing everything is skipped where `devices.list` already says so (a parent that
/// restricts devices refuses the write even when it changes nothing).
fn devices(dir: &Path, cg: &super::device_rules::DeviceCgroup) -> Result<(), CgroupError> {
    let (reset, except) = match cg.default_allow {
        true => ("devices.allow", "devices.deny"),
        false => ("devices.deny", "devices.allow"),
    };
    let allows_all = || read(dir, "devices.list", Some(Controller::Devices)).is_ok_and(|l| l.trim() == "a *:* rwm");
    if !(cg.default_allow && allows_all()) {
        write(dir, reset, "a", Some(Controller::Devices))?;
    }
    for e in &cg.exceptions {
        write(dir, except, e.v1_line(), Some(Controller::Devices))?;
    }
    Ok(())
}

/// Reservation, swappiness and the OOM killer (`tuning`).
pub(super) fn memory_tuning(dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    if let Some(bytes) = r.memory_reservation {
        write(dir, "memory.soft_limit_in_bytes", bytes, Some(Controller::Memory))?;
    }
    if let Some(swappiness) = r.memory_swappiness {
        write(dir, "memory.swappiness", swappiness, Some(Controller::Memory))?;
    }
    if r.oom_kill_disable {
        write(dir, "memory.oom_control", 1, Some(Controller::Memory))?;
    }
    Ok(())
}

/// Burst (after the quota it must stay within), idle (after the shares: an idle group's
/// shares are fixed) and realtime bandwidth (`tuning`). Each file only where the kernel has
/// it: a missing one is named in the error.
fn cpu_tuning(dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    if let Some(burst) = r.cpu_burst {
        write(dir, "cpu.cfs_burst_us", burst, Some(Controller::Cpu))?;
    }
    if let Some(idle) = r.cpu_idle {
        write(dir, "cpu.idle", u8::from(idle), Some(Controller::Cpu))?;
    }
    let period = || {
        r.cpu_rt_period
            .map_or(Ok(()), |p| write(dir, "cpu.rt_period_us", p, Some(Controller::Cpu)))
    };
    let runtime = || {
        r.cpu_rt_runtime
            .map_or(Ok(()), |v| write(dir, "cpu.rt_runtime_us", v, Some(Controller::Cpu)))
    };
    // The runtime must fit in the period: a period shorter than the current runtime is
    // refused (EINVAL) until the runtime is lowered, so then the other order (as runc).
    match period() {
        Ok(()) => runtime(),
        Err(e) if r.cpu_rt_runtime.is_none() => Err(e),
        Err(_) => runtime().and_then(|()| period()),
    }
}

/// Per-device and leaf weights (`tuning`), in v1's units (10..=1000): `blkio.weight_device`,
/// else BFQ's `blkio.bfq.weight_device`; leaf weights only with CFQ (gone in Linux 5.0).
fn io_weights(dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    use super::tuning::weight_to_blkio;
    if let Some(leaf) = r.io_leaf_weight {
        write(dir, "blkio.leaf_weight", weight_to_blkio(leaf), Some(Controller::Io))?;
    }
    for w in &r.io_device_weights {
        if let Some(weight) = w.weight {
            let file = ["blkio.weight_device", "blkio.bfq.weight_device"]
                .into_iter()
                .find(|f| dir.join(f).exists())
                .unwrap_or("blkio.weight_device");
            let line = format!("{}:{} {}", w.major, w.minor, weight_to_blkio(weight));
            write(dir, file, line, Some(Controller::Io))?;
        }
        if let Some(leaf) = w.leaf_weight {
            let line = format!("{}:{} {}", w.major, w.minor, weight_to_blkio(leaf));
            write(dir, "blkio.leaf_weight_device", line, Some(Controller::Io))?;
        }
    }
    Ok(())
}

// A new v1 cgroup's cpu.cfs_period_us is the kernel's default_cfs_period(), 100 ms: the
// period nsbox uses unless `cpu_period` says otherwise, so only that one is written.
const _: () = assert!(CPU_PERIOD_US == 100_000);

/// cpu.weight (1..=10000) to cpu.shares (2..=262144), the inverse of runc's conversion.
fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight.saturating_sub(1) * 262_142) / 9_999
}

/// Fills in what this hierarchy accounts for.
pub(super) fn stats(dir: &Path, controllers: &BTreeSet<Controller>, stats: &mut Stats) {
    let num = |file: &str| std::fs::read_to_string(dir.join(file)).ok()?.trim().parse::<u64>().ok();
    if controllers.contains(&Controller::Memory) {
        stats.memory_current = num("memory.usage_in_bytes");
        stats.memory_peak = num("memory.max_usage_in_bytes");
    }
    if controllers.contains(&Controller::Cpuacct) {
        stats.cpu_total = num("cpuacct.usage").map(Duration::from_nanos);
        if let Ok(text) = std::fs::read_to_string(dir.join("cpuacct.stat")) {
            // SAFETY: sysconf takes no memory.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
            let ticks = |k| keyed(&text, k).map(|t| Duration::from_nanos(t.saturating_mul(1_000_000_000 / hz)));
            stats.cpu_user = ticks("user");
            stats.cpu_system = ticks("system");
        }
    }
    if controllers.contains(&Controller::Pids) {
        stats.pids_current = num("pids.current");
    }
    if controllers.contains(&Controller::Io)
        && let Ok(text) = std::fs::read_to_string(dir.join("blkio.throttle.io_service_bytes_recursive"))
    {
        let (r, w) = v1_io(&text);
        (stats.io_read_bytes, stats.io_write_bytes) = (Some(r), Some(w));
    }
}

/// Whether joining the v1 cgroup `dir` (of a hierarchy with `controllers`) touches the
/// joining process's memory: a cpuset rebinds its memory policy; a memory cgroup with
/// `move_charge_at_immigrate` set moves its pages' charges (deprecated; the file is gone in
/// newer kernels; unreadable counts as set).
pub(super) fn attach_moves_memory(dir: &Path, controllers: &BTreeSet<Controller>) -> bool {
    if controllers.contains(&Controller::Cpuset) {
        return true;
    }
    controllers.contains(&Controller::Memory)
        && match std::fs::read_to_string(dir.join("memory.move_charge_at_immigrate")) {
            Ok(text) => text.trim() != "0",
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        }
}

pub(super) fn oom_killed(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("memory.oom_control")).is_ok_and(|t| keyed(&t, "oom_kill").unwrap_or(0) > 0)
}

/// FROZEN or THAWED, waiting until the kernel reports the state reached.
pub(super) fn set_frozen(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let state = if frozen { "FROZEN" } else { "THAWED" };
    write(dir, "freezer.state", state, Some(Controller::Freezer))?;
    super::wait_until(
        || Ok(read(dir, "freezer.state", Some(Controller::Freezer))?.trim() == state),
        dir,
        "freezer.state",
    )
}
