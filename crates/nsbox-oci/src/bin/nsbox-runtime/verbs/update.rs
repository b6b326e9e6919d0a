//! `update`: new limits for a running container, from a `LinuxResources` JSON file (`-`:
//! stdin, as Docker sends it) or runc's individual flags. Zero and absent fields mean "leave
//! as is" (Docker sends every field); a field nsbox cannot change is refused by name.

use std::io::Read;

use oci_spec::runtime::LinuxResources;

use crate::Ctx;
use crate::cgroup::CgroupDirs;
use crate::error::{Context, Result, fail};

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
    apply(&state.cgroups, &resources)
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

fn apply(cg: &CgroupDirs, r: &LinuxResources) -> Result<()> {
    let refuse = |field: &str| -> Result<()> { fail!("{field} is not supported by nsbox-runtime update") };
    if let Some(m) = r.memory() {
        if m.reservation().is_some_and(|v| v > 0) {
            refuse("memory.reservation")?;
        }
        if m.swap().is_some_and(|v| v > 0) {
            refuse("memory.swap")?;
        }
        match m.limit() {
            Some(v) if v > 0 => cg.write("memory", "memory.limit_in_bytes", "memory.max", &v.to_string()),
            Some(-1) => cg.write("memory", "memory.limit_in_bytes", "memory.max", "max"),
            _ => Ok(()),
        }
        .context("memory.limit")?;
    }
    if let Some(p) = r.pids() {
        let value = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        cg.write("pids", "pids.max", "pids.max", &value).context("pids.limit")?;
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            // v1 takes shares; v2's weight by runc's conversion.
            let weight = 1 + (shares.saturating_sub(2)) * 9999 / 262_142;
            cg.write("cpu", "cpu.shares", "cpu.weight", &shares.to_string())
                .or_else(|_| cg.write("cpu", "cpu.weight", "cpu.weight", &weight.to_string()))
                .context("cpu.shares")?;
        }
        let period = c.period().filter(|p| *p > 0);
        let quota = c.quota().filter(|q| *q != 0);
        if cg.has_v1("cpu") {
            if let Some(period) = period {
                cg.write("cpu", "cpu.cfs_period_us", "", &period.to_string())
                    .context("cpu.period")?;
            }
            if let Some(quota) = quota {
                cg.write("cpu", "cpu.cfs_quota_us", "", &quota.max(-1).to_string())
                    .context("cpu.quota")?;
            }
        } else if quota.is_some() || period.is_some() {
            let quota = quota.filter(|q| *q > 0).map_or("max".to_string(), |q| q.to_string());
            let line = format!("{quota} {}", period.unwrap_or(100_000));
            cg.write("cpu", "", "cpu.max", &line).context("cpu.quota")?;
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            cg.write("cpuset", "cpuset.cpus", "cpuset.cpus", cpus)
                .context("cpu.cpus")?;
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            cg.write("cpuset", "cpuset.mems", "cpuset.mems", mems)
                .context("cpu.mems")?;
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
    Ok(())
}
