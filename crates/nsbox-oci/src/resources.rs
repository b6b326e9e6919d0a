//! `linux.resources`: cgroup limits.

use nsbox::{ContainerBuilder, IoDeviceLimit, IoLimitKind};
use oci_spec::runtime::{LinuxResources, LinuxThrottleDevice};

use crate::error::{Result, invalid, unsupported};
use crate::options::Options;

/// The period nsbox enforces `cpu_limit` over, in microseconds.
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
        let refused = [
            ("reservation", m.reservation().is_some_and(|v| v > 0)),
            ("kernel", m.kernel().is_some()),
            ("kernelTCP", m.kernel_tcp().is_some()),
            ("swappiness", m.swappiness().is_some()),
            ("disableOOMKiller", m.disable_oom_killer().unwrap_or(false)),
            ("useHierarchy", m.use_hierarchy().is_some()),
            ("checkBeforeUpdate", m.check_before_update().unwrap_or(false)),
        ];
        for (name, given) in refused {
            if given {
                return Err(unsupported(
                    format!("linux.resources.memory.{name}"),
                    "nsbox has no such limit",
                ));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s != 0) {
            // runc's conversion of cpu.shares (2..=262144) to cpu.weight (1..=10000).
            let shares = shares.clamp(2, 262_144);
            b.cpu_weight(1 + ((shares - 2) * 9999) / 262_142);
        }
        match (c.quota().filter(|q| *q > 0), c.period()) {
            (None, _) => {}
            (Some(quota), None) | (Some(quota), Some(NSBOX_CPU_PERIOD)) => {
                b.cpu_limit(quota as f64 / NSBOX_CPU_PERIOD as f64);
            }
            (Some(_), Some(period)) => {
                return Err(unsupported(
                    "linux.resources.cpu.period",
                    format!("{period}: nsbox enforces CPU limits per {NSBOX_CPU_PERIOD} µs"),
                ));
            }
        }
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            b.cpuset_cpus(cpus);
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            b.cpuset_mems(mems);
        }
        let refused = [
            ("idle", c.idle().is_some_and(|v| v != 0)),
            ("burst", c.burst().is_some_and(|v| v != 0)),
            ("realtimeRuntime", c.realtime_runtime().is_some_and(|v| v != 0)),
            ("realtimePeriod", c.realtime_period().is_some_and(|v| v != 0)),
        ];
        for (name, given) in refused {
            if given {
                return Err(unsupported(
                    format!("linux.resources.cpu.{name}"),
                    "nsbox has no such limit",
                ));
            }
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
            if !(10..=1000).contains(&weight) {
                return Err(invalid("linux.resources.blockIO.weight", "outside 10..=1000"));
            }
            // runc's conversion of blkio.weight (10..=1000) to io.weight (1..=10000).
            b.io_weight(1 + (u64::from(weight) - 10) * 9999 / 990);
        }
        if io.leaf_weight().is_some() {
            return Err(unsupported(
                "linux.resources.blockIO.leafWeight",
                "nsbox has no such limit",
            ));
        }
        if io.weight_device().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(unsupported(
                "linux.resources.blockIO.weightDevice",
                "nsbox has no per-device weight",
            ));
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
    let refused = [
        ("network", r.network().is_some()),
        ("rdma", r.rdma().as_ref().is_some_and(|m| !m.is_empty())),
    ];
    for (name, given) in refused {
        if given {
            return Err(unsupported(
                format!("linux.resources.{name}"),
                "nsbox has no such limit",
            ));
        }
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

fn throttle(field: &str, d: &LinuxThrottleDevice, kind: IoLimitKind) -> Result<IoDeviceLimit> {
    let number = |n: i64, what: &str| u32::try_from(n).map_err(|_| invalid(field, format!("{what} {n}")));
    Ok(IoDeviceLimit::new(
        number(d.major(), "major")?,
        number(d.minor(), "minor")?,
        kind,
        d.rate(),
    ))
}
