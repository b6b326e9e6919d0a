//! `linux.resources`: cgroup limits.

use nsbox::{ContainerBuilder, IoDeviceLimit, IoDeviceWeight, IoLimitKind, RdmaLimit};
use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice};

use crate::error::{Result, invalid, unsupported};
use crate::options::Options;

/// The period nsbox enforces `cpu_limit` over by default, in microseconds.
const NSBOX_CPU_PERIOD: u64 = 100_000;

pub(crate) fn map(b: &mut ContainerBuilder, r: &LinuxResources, options: &Options) -> Result<()> {
    if let Some(m) = r.memory() {
        let limit = m.limit().filter(|l| *l != -1);
        if let Some(limit) = limit {
            let bytes = u64::try_from(limit).map_err(|_| invalid("linux.resources.memory.limit", "negative"))?;
            b.memory_limit(bytes);
        }
        match (m.swap(), limit) {
            (None, _) | (Some(0), _) | (Some(-1), _) => {}
            (Some(swap), Some(limit)) if swap >= limit => {
                // The spec's swap is memory plus swap (cgroup v1's memsw); nsbox's is the
                // swap beyond the memory limit.
                b.memory_swap_limit((swap - limit) as u64);
            }
            (Some(_), Some(_)) => return Err(invalid("linux.resources.memory.swap", "below the memory limit")),
            (Some(_), None) => {
                return Err(unsupported(
                    "linux.resources.memory.swap",
                    "nsbox limits swap only beside a memory limit",
                ));
            }
        }
        if let Some(bytes) = m.reservation().filter(|v| *v > 0) {
            b.memory_reservation(bytes as u64);
        }
        // runc reads -1 (as the spec's unsigned field holds it) as not set.
        if let Some(swappiness) = m.swappiness().filter(|v| *v as i64 != -1) {
            if swappiness > 100 {
                return Err(invalid("linux.resources.memory.swappiness", "outside 0..=100"));
            }
            b.memory_swappiness(swappiness);
        }
        if m.disable_oom_killer() == Some(true) {
            b.oom_kill_disable();
        }
        // kernel and kernelTCP: ignored, as runc (since 1.0.0-rc94) ignores kernel memory
        // limits (deprecated by the kernel, gone from cgroup v2). checkBeforeUpdate concerns
        // `update` only (`CgroupUpdate::check_before_update`).
        // useHierarchy: true is what every kernel since 5.10 does anyway (v1's
        // memory.use_hierarchy is fixed at 1, v2 is hierarchical); false cannot be had.
        if m.use_hierarchy() == Some(false) {
            return Err(unsupported(
                "linux.resources.memory.useHierarchy",
                "memory accounting is always hierarchical since Linux 5.10 (false cannot be honoured)",
            ));
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            // runc's conversion of cpu.shares (2..=262144) to cpu.weight (1..=10000).
            let shares = shares.clamp(2, 262_144);
            b.cpu_weight(1 + ((shares - 2) * 9999) / 262_142);
        }
        let period = c.period().filter(|p| *p != 0);
        if let Some(period) = period {
            b.cpu_period(period);
        }
        if let Some(quota) = c.quota().filter(|q| *q > 0) {
            b.cpu_limit(quota as f64 / period.unwrap_or(NSBOX_CPU_PERIOD) as f64);
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            b.cpuset_cpus(cpus);
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            b.cpuset_mems(mems);
        }
        match c.idle() {
            None | Some(0) => {}
            Some(1) => {
                b.cpu_idle(true);
            }
            Some(_) => return Err(invalid("linux.resources.cpu.idle", "neither 0 nor 1")),
        }
        if let Some(burst) = c.burst().filter(|v| *v != 0) {
            b.cpu_burst(burst);
        }
        let runtime = c.realtime_runtime().filter(|v| *v != 0);
        let rt_period = c.realtime_period().filter(|v| *v != 0);
        if runtime.is_some() || rt_period.is_some() {
            let runtime = u64::try_from(runtime.unwrap_or(0))
                .map_err(|_| invalid("linux.resources.cpu.realtimeRuntime", "negative"))?;
            // The kernel's default realtime period: 1 s.
            b.cpu_realtime(runtime, rt_period.unwrap_or(1_000_000));
        }
    }
    if let Some(p) = r.pids() {
        // 0 and -1 both mean no limit, as runc reads them.
        if p.limit() > 0 {
            b.pids_limit(p.limit() as u64);
        }
    }
    if let Some(io) = r.block_io() {
        if let Some(weight) = io.weight().filter(|w| *w != 0) {
            b.io_weight(io_weight("linux.resources.blockIO.weight", weight)?);
        }
        if let Some(leaf) = io.leaf_weight().filter(|w| *w != 0) {
            b.io_leaf_weight(io_weight("linux.resources.blockIO.leafWeight", leaf)?);
        }
        for (i, d) in io.weight_device().iter().flatten().enumerate() {
            let field = format!("linux.resources.blockIO.weightDevice[{i}]");
            let number = |n: i64, what: &str| u32::try_from(n).map_err(|_| invalid(&field, format!("{what} {n}")));
            let weight = |w: Option<u16>| w.filter(|w| *w != 0).map(|w| io_weight(&field, w)).transpose();
            let device = IoDeviceWeight {
                major: number(d.major(), "major")?,
                minor: number(d.minor(), "minor")?,
                weight: weight(d.weight())?,
                leaf_weight: weight(d.leaf_weight())?,
            };
            if device.weight.is_some() || device.leaf_weight.is_some() {
                b.io_device_weight(device);
            }
        }
        let lists = [
            (
                "throttleReadBpsDevice",
                io.throttle_read_bps_device(),
                IoLimitKind::ReadBps,
            ),
            (
                "throttleWriteBpsDevice",
                io.throttle_write_bps_device(),
                IoLimitKind::WriteBps,
            ),
            (
                "throttleReadIOPSDevice",
                io.throttle_read_iops_device(),
                IoLimitKind::ReadIops,
            ),
            (
                "throttleWriteIOPSDevice",
                io.throttle_write_iops_device(),
                IoLimitKind::WriteIops,
            ),
        ];
        for (name, list, kind) in lists {
            for (i, d) in list.iter().flatten().enumerate() {
                b.io_device_limit(throttle(&format!("linux.resources.blockIO.{name}[{i}]"), d, kind)?);
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let field = format!("linux.resources.hugepageLimits[{i}]");
        if !options.hugepage_sizes.contains(h.page_size()) {
            return Err(unsupported(
                field,
                format!(
                    "this host has no {} huge pages (it has {:?})",
                    h.page_size(),
                    options.hugepage_sizes
                ),
            ));
        }
        let bytes = u64::try_from(h.limit()).map_err(|_| invalid(&field, "negative limit"))?;
        b.hugepage_limit(h.page_size(), bytes);
    }
    // Raw cgroup v2 files: a host without a cgroup2 mount fails the spawn, as runc refuses
    // them on v1.
    for (file, value) in r.unified().iter().flatten() {
        b.cgroup_unified(file, value);
    }
    if let Some(network) = r.network() {
        if let Some(id) = network.class_id() {
            b.net_class_id(id);
        }
        for p in network.priorities().iter().flatten() {
            b.net_priority(p.name(), p.priority());
        }
    }
    // In name order, so the same bundle writes the same lines.
    let mut rdma: Vec<_> = r.rdma().iter().flatten().collect();
    rdma.sort_by(|a, b| a.0.cmp(b.0));
    for (device, limits) in rdma {
        let mut limit = RdmaLimit::new(device);
        limit.hca_handles = limits.hca_handles();
        limit.hca_objects = limits.hca_objects();
        b.rdma_limit(limit);
    }
    Ok(())
}

/// `linux.cgroupsPath`: the container's exact cgroup, as runc's cgroupfs driver reads it
/// (absolute from the hierarchies' root, relative from the caller's cgroup). The systemd
/// driver's `slice:prefix:name` form is refused: nsbox manages cgroupfs paths only.
pub(crate) fn cgroups_path(b: &mut ContainerBuilder, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(path) = linux.cgroups_path() else {
        return Ok(());
    };
    let text = path.to_string_lossy();
    if text.is_empty() {
        return Ok(());
    }
    if !path.is_absolute() && text.split(':').count() == 3 {
        return Err(unsupported(
            "linux.cgroupsPath",
            format!("{text:?} is the systemd cgroup driver's form: nsbox creates cgroupfs paths only"),
        ));
    }
    if path.components().any(|c| c == std::path::Component::ParentDir) {
        return Err(invalid("linux.cgroupsPath", format!("{text:?} climbs with ..")));
    }
    b.cgroup_path(path);
    Ok(())
}

/// runc's conversion of a blkio weight (10..=1000) to an io.weight (1..=10000).
fn io_weight(field: &str, weight: u16) -> Result<u64> {
    if !(10..=1000).contains(&weight) {
        return Err(invalid(field, "outside 10..=1000"));
    }
    Ok(1 + (u64::from(weight) - 10) * 9999 / 990)
}

fn throttle(field: &str, d: &LinuxThrottleDevice, kind: IoLimitKind) -> Result<IoDeviceLimit> {
    let number = |n: i64, what: &str| u32::try_from(n).map_err(|_| invalid(field, format!("{what} {n}")));
    Ok(IoDeviceLimit::new(
        number(d.major(), "major")?,
        number(d.minor(), "minor")?,
        kind,
        d.rate(),
    ))
}
