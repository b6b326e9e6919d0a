//! `nsbox stats [--no-stream]`: CPU, memory and pids of running containers, from their cgroups
//! (through their monitors).

use std::time::{Duration, Instant};

use crate::cli::StatsArgs;
use crate::commands::ps::print_table;
use crate::error::Result;
use crate::monitor::client;
use crate::monitor::protocol::{Request, StatsReport};
use crate::paths::Paths;
use crate::state::{ContainerDir, StateRoot};

pub fn stats(paths: &Paths, args: StatsArgs) -> Result<i32> {
    let state = StateRoot::open(paths)?;
    let containers: Vec<ContainerDir> = if args.containers.is_empty() {
        state
            .list()?
            .into_iter()
            .filter(|d| args.all || d.status().is_ok_and(|s| s.is_running()))
            .collect()
    } else {
        args.containers.iter().map(|k| state.find(k)).collect::<Result<_>>()?
    };
    let mut before = sample(&containers);
    loop {
        std::thread::sleep(Duration::from_millis(if args.no_stream { 500 } else { 1000 }));
        let after = sample(&containers);
        if !args.no_stream {
            // Clear the screen, cursor home.
            print!("\x1b[2J\x1b[H");
        }
        let mut rows = vec![[
            "CONTAINER ID".to_owned(),
            "NAME".into(),
            "CPU %".into(),
            "MEM USAGE / LIMIT".into(),
            "MEM %".into(),
            "PIDS".into(),
        ]];
        for ((dir, (t0, s0)), (_, s1)) in containers.iter().zip(&before).zip(&after) {
            let (s0, s1) = (s0.as_ref(), s1.as_ref());
            let elapsed = t0.elapsed().as_nanos().max(1) as f64;
            let cpu = match (s0.and_then(|s| s.cpu_total_ns), s1.and_then(|s| s.cpu_total_ns)) {
                (Some(a), Some(b)) => format!("{:.2}%", (b.saturating_sub(a)) as f64 / elapsed * 100.0),
                _ => "--".into(),
            };
            let limit = s1.and_then(|s| s.memory_limit).or_else(host_memory);
            let used = s1.and_then(|s| s.memory_current);
            let mem_pct = match (used, limit) {
                (Some(u), Some(l)) if l > 0 => format!("{:.2}%", u as f64 / l as f64 * 100.0),
                _ => "--".into(),
            };
            rows.push([
                dir.short_id().to_owned(),
                dir.name(),
                cpu,
                format!("{} / {}", bytes(used), bytes(limit)),
                mem_pct,
                s1.and_then(|s| s.pids_current).map_or("--".into(), |p| p.to_string()),
            ]);
        }
        print_table(&rows);
        if args.no_stream {
            return Ok(0);
        }
        before = after;
    }
}

fn sample(containers: &[ContainerDir]) -> Vec<(Instant, Option<StatsReport>)> {
    containers
        .iter()
        .map(|dir| {
            (
                Instant::now(),
                client::call(dir, &Request::Stats).ok().and_then(|r| r.stats),
            )
        })
        .collect()
}

fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `12.5MiB`, Docker's binary units.
fn bytes(n: Option<u64>) -> String {
    let Some(n) = n else { return "--".into() };
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", units[unit])
}
