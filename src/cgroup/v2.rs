//! cgroup v2: enabling controllers in the parent, limits, stats, freeze and kill.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use super::stats::{Stats, keyed, v2_io};
use super::{CgroupError, Controller, Resources, read, write};
use crate::cgroup::limits::IoLimitKind;

/// Enables `needed` (an error if impossible) and as many of `wanted` as the parent allows in
/// the parent's `cgroup.subtree_control`; returns the controllers the new cgroup will have.
pub(super) fn enable(
    parent: &Path,
    needed: &BTreeSet<Controller>,
    wanted: &BTreeSet<Controller>,
) -> Result<BTreeSet<Controller>, CgroupError> {
    let available = names(&read(parent, "cgroup.controllers", None)?);
    if let Some(missing) = needed.iter().find(|c| !in_core_or(&available, c)) {
        return Err(CgroupError::Unavailable {
            controller: *missing,
            why: format!(
                "no v1 {missing} hierarchy is mounted and it is not in {}/cgroup.controllers",
                parent.display()
            ),
        });
    }
    let enabled = names(&read(parent, "cgroup.subtree_control", None)?);
    let desired: BTreeSet<Controller> = needed
        .iter()
        .chain(wanted.iter().filter(|c| in_core_or(&available, c)))
        .copied()
        .collect();
    let plus = |set: &BTreeSet<Controller>| -> String {
        set.iter()
            .filter_map(|c| c.v2_name())
            .filter(|n| !enabled.contains(*n))
            .map(|n| format!("+{n} "))
            .collect::<String>()
            .trim_end()
            .to_string()
    };
    let all = plus(&desired);
    if all.is_empty() || write(parent, "cgroup.subtree_control", &all, None).is_ok() {
        return Ok(desired);
    }
    // Accounting is best effort; the limits are not.
    let essential = plus(needed);
    if let Err(e) = (!essential.is_empty())
        .then(|| write(parent, "cgroup.subtree_control", &essential, None))
        .transpose()
    {
        return Err(CgroupError::Unavailable {
            controller: needed.iter().next().copied().unwrap_or(Controller::Cpu),
            why: format!(
                "cannot enable {essential:?} in {}/cgroup.subtree_control ({e}); a v2 cgroup with processes \
                 cannot delegate controllers: choose an empty one with cgroup_parent()",
                parent.display()
            ),
        });
    }
    Ok(needed
        .iter()
        .chain(wanted.iter().filter(|c| in_core_or(&enabled, c)))
        .copied()
        .collect())
}

/// Whether `c` is part of the v2 core or listed in `set`.
fn in_core_or(set: &BTreeSet<String>, c: &Controller) -> bool {
    c.v2_name().is_none_or(|n| set.contains(n))
}

fn names(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_string).collect()
}

/// Writes the limits of the `controllers` this cgroup has (the others live in v1 on a hybrid
/// host).
pub(super) fn apply(dir: &Path, controllers: &BTreeSet<Controller>, r: &Resources) -> Result<(), CgroupError> {
    let has = |c| controllers.contains(&c);
    if let Some(bytes) = r.memory.filter(|_| has(Controller::Memory)) {
        write(dir, "memory.max", bytes, Some(Controller::Memory))?;
    }
    if let Some(swap) = r.swap.filter(|_| has(Controller::Memory)) {
        write(dir, "memory.swap.max", swap, Some(Controller::Memory))?;
    }
    if has(Controller::Memory) {
        memory_tuning(dir, r)?;
    }
    // A period alone keeps the quota unlimited (`max`), as runc writes it.
    let quota = r.cpu_quota_us().map(|q| q.to_string());
    if (quota.is_some() || r.cpu_period.is_some()) && has(Controller::Cpu) {
        let quota = quota.as_deref().unwrap_or("max");
        write(
            dir,
            "cpu.max",
            format!("{quota} {}", r.cpu_period_us()),
            Some(Controller::Cpu),
        )?;
    }
    if let Some(weight) = r.cpu_weight.filter(|_| has(Controller::Cpu)) {
        write(dir, "cpu.weight", weight, Some(Controller::Cpu))?;
    }
    if has(Controller::Cpu) {
        cpu_tuning(dir, r)?;
    }
    if has(Controller::Io) {
        io_weights(dir, r)?;
    }
    for limit in r.rdma.iter().filter(|_| has(Controller::Rdma)) {
        write(dir, "rdma.max", limit.line(), Some(Controller::Rdma))?;
    }
    if let Some(cpus) = r.cpuset_cpus.as_ref().filter(|_| has(Controller::Cpuset)) {
        write(dir, "cpuset.cpus", cpus, Some(Controller::Cpuset))?;
    }
    if let Some(mems) = r.cpuset_mems.as_ref().filter(|_| has(Controller::Cpuset)) {
        write(dir, "cpuset.mems", mems, Some(Controller::Cpuset))?;
    }
    if let Some(max) = r.pids.filter(|_| has(Controller::Pids)) {
        write(dir, "pids.max", max, Some(Controller::Pids))?;
    }
    if let Some(weight) = r.io_weight.filter(|_| has(Controller::Io)) {
        write(dir, "io.weight", format!("default {weight}"), Some(Controller::Io))?;
    }
    for (size, bytes) in r.hugepages.iter().filter(|_| has(Controller::Hugetlb)) {
        write(dir, &format!("hugetlb.{size}.max"), bytes, Some(Controller::Hugetlb))?;
    }
    for limit in r.io_devices.iter().filter(|_| has(Controller::Io)) {
        let key = match limit.kind {
            IoLimitKind::ReadBps => "rbps",
            IoLimitKind::WriteBps => "wbps",
            IoLimitKind::ReadIops => "riops",
            IoLimitKind::WriteIops => "wiops",
        };
        write(
            dir,
            "io.max",
            format!("{}:{} {key}={}", limit.major, limit.minor, limit.value),
            Some(Controller::Io),
        )?;
    }
    // Raw files last, as runc writes them after its own (they may override them).
    for (file, value) in &r.unified {
        write(dir, file, value, None)?;
    }
    Ok(())
}

/// What nsbox refuses where runc ignores it: a v1 knob cgroup v2 has no file for.
fn no_v2_file(dir: &Path, v1_file: &str, what: &str) -> CgroupError {
    CgroupError::Refused {
        path: dir.to_path_buf(),
        why: format!("cgroup v2 has no {what} (v1 {v1_file}); runc ignores it, nsbox does not drop a limit"),
    }
}

/// Reservation as `memory.low` (runc's conversion); swappiness and the OOM killer switch
/// exist only in v1 (`tuning`).
fn memory_tuning(dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    if r.memory_swappiness.is_some() {
        return Err(no_v2_file(dir, "memory.swappiness", "swappiness"));
    }
    if r.oom_kill_disable {
        return Err(no_v2_file(dir, "memory.oom_control", "switch for the OOM killer"));
    }
    if let Some(bytes) = r.memory_reservation {
        write(dir, "memory.low", bytes, Some(Controller::Memory))?;
    }
    Ok(())
}

/// Burst (`cpu.max.burst`, Linux 5.14+) and idle (`cpu.idle`, 5.15+); realtime bandwidth
/// exists only in v1, and runc refuses it on v2 too.
fn cpu_tuning(dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    if r.cpu_rt_period.is_some() || r.cpu_rt_runtime.is_some() {
        return Err(no_v2_file(dir, "cpu.rt_runtime_us", "realtime bandwidth"));
    }
    if let Some(burst) = r.cpu_burst {
        write(dir, "cpu.max.burst", burst, Some(Controller::Cpu))?;
    }
    if let Some(idle) = r.cpu_idle {
        write(dir, "cpu.idle", u8::from(idle), Some(Controller::Cpu))?;
    }
    Ok(())
}

/// Per-device weights: `io.bfq.weight` in BFQ's units (10..=1000, as runc writes the
/// bundle's) where BFQ is the scheduler, else `io.weight`'s own. Leaf weights exist only in v1.
fn io_weights(dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    let leaf = r.io_leaf_weight.is_some() || r.io_device_weights.iter().any(|w| w.leaf_weight.is_some());
    if leaf {
        return Err(no_v2_file(dir, "blkio.leaf_weight", "leaf weight"));
    }
    let bfq = dir.join("io.bfq.weight").exists();
    for w in &r.io_device_weights {
        let Some(weight) = w.weight else { continue };
        let (file, weight) = match bfq {
            true => ("io.bfq.weight", super::tuning::weight_to_blkio(weight)),
            false => ("io.weight", weight),
        };
        write(
            dir,
            file,
            format!("{}:{} {weight}", w.major, w.minor),
            Some(Controller::Io),
        )?;
    }
    Ok(())
}

pub(super) fn stats(dir: &Path, stats: &mut Stats) {
    let text = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
    let num = |file: &str| text(file)?.trim().parse::<u64>().ok();
    stats.memory_current = stats.memory_current.or_else(|| num("memory.current"));
    stats.memory_peak = stats.memory_peak.or_else(|| num("memory.peak"));
    stats.pids_current = stats.pids_current.or_else(|| num("pids.current"));
    if let Some(cpu) = text("cpu.stat") {
        let usec = |k| keyed(&cpu, k).map(Duration::from_micros);
        stats.cpu_total = stats.cpu_total.or_else(|| usec("usage_usec"));
        stats.cpu_user = stats.cpu_user.or_else(|| usec("user_usec"));
        stats.cpu_system = stats.cpu_system.or_else(|| usec("system_usec"));
    }
    if stats.io_read_bytes.is_none()
        && let Some(io) = text("io.stat")
    {
        let (r, w) = v2_io(&io);
        (stats.io_read_bytes, stats.io_write_bytes) = (Some(r), Some(w));
    }
}

pub(super) fn oom_killed(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("memory.events")).is_ok_and(|t| keyed(&t, "oom_kill").unwrap_or(0) > 0)
}

pub(super) fn set_frozen(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    write(dir, "cgroup.freeze", u8::from(frozen), None)?;
    let want = u64::from(frozen);
    super::wait_until(
        || Ok(keyed(&read(dir, "cgroup.events", None)?, "frozen") == Some(want)),
        dir,
        "cgroup.events",
    )
}

/// `cgroup.kill` (Linux 5.14+): SIGKILL to every process, atomically. False if missing.
pub(super) fn kill(dir: &Path) -> bool {
    dir.join("cgroup.kill").exists() && write(dir, "cgroup.kill", 1, None).is_ok()
}
