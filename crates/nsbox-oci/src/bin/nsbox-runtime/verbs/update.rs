//! `update`: new limits for a running container, from a `LinuxResources` JSON file (`-`:
//! stdin, as Docker sends it) or runc's individual flags. Zero and absent fields mean "leave
//! as is" (Docker sends every field), `-1` lifts a limit; a field nsbox cannot change is
//! refused by name.

use std::io::Read;

use oci_spec::runtime::LinuxResources;

use crate::Ctx;
use crate::error::{Context, Result, fail};
use nsbox::CgroupUpdate;

/// The largest resources file read.
const MAX_RESOURCES: u64 = 1 << 20;

pub fn update(ctx: &mut Ctx, args: &liboci_cli::Update) -> Result<()> {
    let state = ctx.store.load(&args.container_id)?;
    let resources = match &args.resources {
        Some(path) => {
            let mut text = Vec::new();
            let read = if path.as_os_str() == "-" {
                std::io::stdin().take(MAX_RESOURCES).read_to_end(&mut text)
            } else {
                std::fs::File::open(path).and_then(|f| f.take(MAX_RESOURCES).read_to_end(&mut text))
            };
            read.context(format_args!("cannot read {}", path.display()))?;
            serde_json::from_slice::<LinuxResources>(&text).context("the resources are not valid")?
        }
        None => from_flags(args)?,
    };
    apply(&state.cgroup_path, &resources)
}

fn from_flags(a: &liboci_cli::Update) -> Result<LinuxResources> {
    let mut json = serde_json::json!({});
    let mut set = |pointer: &str, value: serde_json::Value| {
        let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
        let parent = parent.trim_start_matches('/');
        if json.get(parent).is_none() {
            json[parent] = serde_json::json!({});
        }
        json[parent][key] = value;
    };
    if let Some(v) = a.memory {
        set("memory/limit", v.into());
    }
    if let Some(v) = a.memory_swap {
        set("memory/swap", v.into());
    }
    if let Some(v) = a.memory_reservation {
        set("memory/reservation", v.into());
    }
    if let Some(v) = a.pids_limit {
        set("pids/limit", v.into());
    }
    if let Some(v) = a.cpu_share {
        set("cpu/shares", v.into());
    }
    if let Some(v) = a.cpu_quota {
        set("cpu/quota", v.into());
    }
    if let Some(v) = a.cpu_period {
        set("cpu/period", v.into());
    }
    if let Some(v) = &a.cpuset_cpus {
        set("cpu/cpus", v.clone().into());
    }
    if let Some(v) = &a.cpuset_mems {
        set("cpu/mems", v.clone().into());
    }
    if let Some(v) = a.blkio_weight {
        set("blockIO/weight", v.into());
    }
    if let Some(v) = a.cpu_rt_period {
        set("cpu/realtimePeriod", v.into());
    }
    if let Some(v) = a.cpu_rt_runtime {
        set("cpu/realtimeRuntime", v.into());
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        fail!("intelRdt is not supported");
    }
    serde_json::from_value(json).context("resources")
}

/// `r` as an nsbox `CgroupUpdate` (runc's conversions, as the mapping makes them at
/// `create`), then written through the container's `CgroupHandle`. `-1` lifts a limit, as
/// under runc: `memory.limit` (on cgroup v1 with the memory+swap one unless given), `swap`,
/// `pids.limit`, `cpu.quota`.
fn apply(path: &std::path::Path, r: &LinuxResources) -> Result<()> {
    let refuse = |field: &str| -> Result<()> { fail!("{field} is not supported by nsbox-runtime update") };
    let mut u = CgroupUpdate::new();
    if let Some(m) = r.memory() {
        let limit = m.limit().filter(|v| *v != 0);
        match limit {
            Some(-1) => {
                u.lift_memory_limit();
            }
            Some(v) if v > 0 => {
                u.memory_limit(v as u64);
            }
            Some(_) => fail!("memory.limit {limit:?} is negative"),
            None => {}
        }
        match (m.swap().filter(|s| *s != 0), limit) {
            (None, _) => {}
            (Some(-1), _) => {
                u.lift_memory_swap_limit();
            }
            // The spec's swap is memory + swap.
            (Some(swap), Some(limit)) if limit > 0 && swap >= limit => {
                u.memory_swap_limit((swap - limit) as u64);
            }
            (Some(_), Some(limit)) if limit > 0 => fail!("memory.swap is below memory.limit"),
            (Some(_), _) => refuse("memory.swap without memory.limit")?,
        }
        if let Some(v) = m.reservation().filter(|v| *v > 0) {
            u.memory_reservation(v as u64);
        }
        if m.check_before_update() == Some(true) {
            u.check_before_update();
        }
        if m.swappiness().is_some_and(|v| v as i64 != -1) {
            refuse("memory.swappiness")?;
        }
        if m.disable_oom_killer().is_some() {
            refuse("memory.disableOOMKiller")?;
        }
        // kernel and kernelTCP: ignored, as runc ignores kernel memory limits.
    }
    if let Some(p) = r.pids() {
        match p.limit() {
            n if n > 0 => {
                u.pids_limit(n as u64);
            }
            0 => {}
            -1 => {
                u.lift_pids_limit();
            }
            n => fail!("pids.limit {n} is negative"),
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            u.cpu_weight(1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142);
        }
        let period = c.period().filter(|p| *p > 0);
        if let Some(period) = period {
            u.cpu_period(period);
        }
        match c.quota().filter(|q| *q != 0) {
            Some(-1) => {
                u.lift_cpu_limit();
            }
            Some(quota) if quota > 0 => {
                u.cpu_limit(quota as f64 / period.unwrap_or(100_000) as f64);
            }
            Some(quota) => fail!("cpu.quota {quota} is negative"),
            None => {}
        }
        if let Some(burst) = c.burst().filter(|v| *v > 0) {
            u.cpu_burst(burst);
        }
        if let Some(idle) = c.idle() {
            u.cpu_idle(idle != 0);
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            u.cpuset_cpus(cpus.clone());
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            u.cpuset_mems(mems.clone());
        }
        let runtime = c.realtime_runtime().filter(|v| *v != 0);
        let rt_period = c.realtime_period().filter(|v| *v != 0);
        if runtime.is_some() || rt_period.is_some() {
            let Ok(runtime) = u64::try_from(runtime.unwrap_or(0)) else {
                fail!("cpu.realtimeRuntime is negative");
            };
            u.cpu_realtime(runtime, rt_period.unwrap_or(1_000_000));
        }
    }
    if let Some(io) = r.block_io() {
        if let Some(weight) = io.weight().filter(|w| *w > 0) {
            if !(10..=1000).contains(&weight) {
                fail!("blockIO.weight {weight} is outside 10..=1000");
            }
            u.io_weight(1 + (u64::from(weight) - 10) * 9999 / 990);
        }
        let devices = io.weight_device().as_ref().is_some_and(|d| !d.is_empty());
        if devices || io.leaf_weight().is_some_and(|w| w > 0) {
            refuse("blockIO.weightDevice and leafWeight")?;
        }
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        refuse("hugepageLimits")?;
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        refuse("unified")?;
    }
    if r.network().is_some() || r.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
        refuse("network and rdma")?;
    }
    crate::cgroup::open(path)?
        .update(&u)
        .context("cannot update the container's cgroup")
}
