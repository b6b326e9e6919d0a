//! `update`: new limits for a running container, from a `LinuxResources` JSON file (`-`:
//! stdin, as Docker sends it) or runc's individual flags. Zero and absent fields mean "leave
//! as is" (Docker sends every field); a field nsbox cannot change is refused by name.

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
    if a.cpu_rt_period.is_some() || a.cpu_rt_runtime.is_some() {
        fail!("--cpu-rt-period and --cpu-rt-runtime are not supported");
    }
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        fail!("intelRdt is not supported");
    }
    serde_json::from_value(json).context("resources")
}

/// `r` as an nsbox `CgroupUpdate` (runc's conversions, as the mapping makes them at
/// `create`), then written through the container's `CgroupHandle`.
fn apply(path: &std::path::Path, r: &LinuxResources) -> Result<()> {
    let refuse = |field: &str| -> Result<()> { fail!("{field} is not supported by nsbox-runtime update") };
    let mut u = CgroupUpdate::new();
    if let Some(m) = r.memory() {
        if m.reservation().is_some_and(|v| v > 0) {
            refuse("memory.reservation")?;
        }
        match m.limit() {
            Some(v) if v > 0 => {
                u.memory_limit(v as u64);
                // The spec's swap is memory + swap.
                if let Some(swap) = m.swap().filter(|s| *s > 0) {
                    u.memory_swap_limit((swap as u64).saturating_sub(v as u64));
                }
            }
            Some(v) if v < 0 => refuse("memory.limit -1 (lifting a limit)")?,
            _ if m.swap().is_some_and(|s| s > 0) => refuse("memory.swap without memory.limit")?,
            _ => {}
        }
    }
    if let Some(p) = r.pids() {
        match p.limit() {
            n if n > 0 => {
                u.pids_limit(n as u64);
            }
            0 => {}
            _ => refuse("pids.limit -1 (lifting a limit)")?,
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            u.cpu_weight(1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142);
        }
        let period = c.period().filter(|p| *p > 0).unwrap_or(100_000);
        if let Some(quota) = c.quota().filter(|q| *q > 0) {
            u.cpu_limit(quota as f64 / period as f64);
        } else if c.period().is_some_and(|p| p > 0 && p != 100_000) {
            refuse("cpu.period without cpu.quota")?;
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            u.cpuset_cpus(cpus.clone());
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            u.cpuset_mems(mems.clone());
        }
        if c.realtime_runtime().is_some_and(|v| v != 0) || c.realtime_period().is_some_and(|v| v != 0) {
            refuse("cpu.realtimeRuntime")?;
        }
    }
    if r.block_io().as_ref().is_some_and(|b| b.weight().is_some_and(|w| w > 0)) {
        refuse("blockIO.weight")?;
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        refuse("hugepageLimits")?;
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        refuse("unified")?;
    }
    crate::cgroup::open(path)?
        .update(&u)
        .context("cannot update the container's cgroup")
}
