//! Where the time of a spawn goes: the median of every phase over N spawns, for a few
//! configurations, from the timestamps the library records with the `trace-timing` feature.
//!
//! ```sh
//! ../shared/testenv/cgsafe-ns.sh cargo bench --features trace-timing --bench phases
//! NSBOX_PHASES_N=500 ../shared/testenv/cgsafe-ns.sh cargo bench --features trace-timing --bench phases
//! NSBOX_PHASES_N=30 NSBOX_PHASES_IDLE_MS=150 ...   # cold: idle before each spawn
//! ```
//!
//! The configurations are spawned round-robin, so slow moments of a noisy machine hit all of
//! them alike. Phases of one name within a spawn are summed (the child's mounts, for one).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nsbox::{CgroupPool, Container, ContainerBuilder, NamespacePool, Namespaces, Rootfs, Seccomp};

mod common;

use common::{median, micros};

/// The samples of one configuration.
struct Samples {
    name: &'static str,
    builder: ContainerBuilder,
    /// Phase name -> one duration per spawn.
    phases: HashMap<String, Vec<Duration>>,
    /// Phase names in the order they happened.
    order: Vec<String>,
    totals: Vec<Duration>,
    walls: Vec<Duration>,
    /// Pre-made user and network namespaces, waited for (untimed) before each spawn.
    premade: Option<NamespacePool>,
    cgroups: Option<CgroupPool>,
}

impl Samples {
    fn new(name: &'static str, configure: impl FnOnce(&mut ContainerBuilder)) -> Samples {
        let mut builder = Container::builder();
        builder
            .namespaces(Namespaces::all())
            .seccomp(Seccomp::unconfined())
            .command("/bin/true");
        configure(&mut builder);
        Samples {
            name,
            builder,
            phases: HashMap::new(),
            order: Vec::new(),
            totals: Vec::new(),
            walls: Vec::new(),
            premade: None,
            cgroups: None,
        }
    }

    /// [`premade`](Self::premade), with its cgroup made ahead of time too (`CgroupPool`).
    fn premade_cgroup(name: &'static str, configure: impl FnOnce(&mut ContainerBuilder)) -> Samples {
        let mut samples = Samples::premade(name, configure);
        let pool = CgroupPool::new(&samples.builder, 1).expect("a cgroup pool");
        samples.builder.cgroup_pool(&pool);
        samples.cgroups = Some(pool);
        samples
    }

    /// The same, born in pre-made user and network namespaces (`NamespacePool`), its /dev and
    /// /sys made ahead with them.
    fn premade(name: &'static str, configure: impl FnOnce(&mut ContainerBuilder)) -> Samples {
        Samples::premade_with(name, configure, true)
    }

    /// [`premade`](Self::premade) without the pre-made /dev and /sys
    /// (`NamespacePool::namespaces_only`).
    fn namespaces_only(name: &'static str, configure: impl FnOnce(&mut ContainerBuilder)) -> Samples {
        Samples::premade_with(name, configure, false)
    }

    fn premade_with(name: &'static str, configure: impl FnOnce(&mut ContainerBuilder), mounts: bool) -> Samples {
        let mut samples = Samples::new(name, configure);
        let pool = match mounts {
            true => NamespacePool::new(&samples.builder, 1),
            false => NamespacePool::namespaces_only(&samples.builder, 1),
        };
        let pool = pool.expect("a namespace pool");
        samples.builder.namespace_pool(&pool);
        samples.premade = Some(pool);
        samples
    }

    /// Blocks until this configuration's pools are full again, the used mount namespace
    /// released and the used cgroup removed.
    fn wait_for_pools(&self) {
        if let Some(pool) = &self.premade {
            let ready = pool.wait_full(Duration::from_secs(5)) && pool.wait_released(Duration::from_secs(5));
            assert!(ready, "{}: no pre-made pair", self.name);
        }
        if let Some(pool) = &self.cgroups {
            let ready = pool.wait_full(Duration::from_secs(5)) && pool.wait_removed(Duration::from_secs(5));
            assert!(ready, "{}: no pre-made cgroup", self.name);
        }
    }

    /// Forgets the samples (of the warm-up spawn), keeping the order of the phases.
    fn clear(&mut self) {
        self.phases.clear();
        self.totals.clear();
        self.walls.clear();
    }

    /// One spawn -> exit, recording its phases.
    fn spawn_once(&mut self) {
        self.wait_for_pools();
        let start = Instant::now();
        let mut container = self.builder.spawn().unwrap_or_else(|e| panic!("{}: {e}", self.name));
        let timings = container.setup_timings().clone();
        let status = container.wait().expect("wait for the container");
        self.walls.push(start.elapsed());
        assert!(status.success(), "{}: {status}", self.name);
        // Untimed: the pools' refill (and the removal of the used cgroup), so that it never
        // runs beside another configuration's spawn.
        self.wait_for_pools();
        let mut this_spawn: Vec<(String, Duration)> = Vec::new();
        for (name, d) in timings.phases() {
            let name = stable_name(name);
            match this_spawn.iter_mut().find(|(n, _)| *n == name) {
                Some((_, total)) => *total += *d,
                None => this_spawn.push((name, *d)),
            }
        }
        for (name, d) in this_spawn {
            if !self.order.contains(&name) {
                self.order.push(name.clone());
            }
            self.phases.entry(name).or_default().push(d);
        }
        self.totals.push(timings.total());
    }
}

/// A phase name without a measured value in it: "child: wait for parent (parent until 95 us)"
/// becomes "child: wait for parent".
fn stable_name(name: &str) -> String {
    match name.rfind(" (") {
        Some(at) if name.ends_with(')') && name[at..].bytes().any(|b| b.is_ascii_digit()) => name[..at].to_string(),
        _ => name.to_string(),
    }
}

/// The phase names of every configuration in one order: each configuration's own order, with
/// names it lacks kept where the configuration that has them put them.
fn merged_order(configs: &[Samples]) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    for config in configs {
        let mut at = 0;
        for name in &config.order {
            match merged.iter().position(|n| n == name) {
                Some(i) => at = i + 1,
                None => {
                    merged.insert(at, name.clone());
                    at += 1;
                }
            }
        }
    }
    merged
}

fn main() {
    let quick = std::env::args().any(|a| a == "--test");
    let spawns: usize = match quick {
        true => 3,
        false => std::env::var("NSBOX_PHASES_N")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(200),
    };
    let idle = std::time::Duration::from_millis(
        std::env::var("NSBOX_PHASES_IDLE_MS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    );
    let rootfs = common::busybox_rootfs();
    let mut configs = vec![
        Samples::new("all namespaces", |_| {}),
        Samples::new("all + busybox rootfs", |b| {
            b.rootfs(Rootfs::dir(rootfs.path()));
        }),
        Samples::premade("busybox rootfs, pre-made ns", |b| {
            b.rootfs(Rootfs::dir(rootfs.path()));
        }),
        Samples::namespaces_only("busybox rootfs, pre-made ns only", |b| {
            b.rootfs(Rootfs::dir(rootfs.path()));
        }),
        Samples::new("all + docker seccomp", |b| {
            b.seccomp(Seccomp::docker_default());
        }),
    ];
    if common::memory_hierarchy_visible() {
        eprintln!("note: skipping \"all + cgroup limits\": run under ../shared/testenv/cgsafe-ns.sh");
    } else {
        configs.push(Samples::new("all + cgroup limits", |b| {
            b.pids_limit(64).cpu_limit(1.0);
        }));
        let docker_limits = |b: &mut ContainerBuilder| {
            b.rootfs(Rootfs::dir(rootfs.path()))
                .seccomp(Seccomp::docker_default())
                .pids_limit(64)
                .cpu_limit(1.0);
        };
        configs.push(Samples::premade("pre-made ns, seccomp", |b| {
            b.rootfs(Rootfs::dir(rootfs.path())).seccomp(Seccomp::docker_default());
        }));
        configs.push(Samples::premade("pre-made ns, seccomp, limits", docker_limits));
        configs.push(Samples::premade_cgroup("+ pre-made cgroup", docker_limits));
    }

    // Warm up (seccomp compilation, page cache), then round-robin.
    for config in &mut configs {
        config.spawn_once();
        if config.order.is_empty() {
            println!(
                "phases: built without the trace-timing feature; run\n  \
                 ../shared/testenv/cgsafe-ns.sh cargo bench --features trace-timing --bench phases"
            );
            return;
        }
        config.clear();
    }
    for _ in 0..spawns {
        for config in &mut configs {
            std::thread::sleep(idle);
            config.spawn_once();
        }
    }
    print_table(&mut configs, spawns, idle);
}

/// Picks one column of samples.
type Column = fn(&mut Samples) -> &mut Vec<Duration>;

fn print_table(configs: &mut [Samples], spawns: usize, idle: Duration) {
    let order = merged_order(configs);
    let width = order.iter().map(String::len).max().unwrap_or(10).max(34);
    let pace = match idle.is_zero() {
        true => "back to back".to_string(),
        false => format!("{} ms idle before each", idle.as_millis()),
    };
    println!("median of {spawns} spawns of /bin/true per configuration, in microseconds (round-robin, {pace})\n");
    print!("| {:<width$} |", "phase");
    for config in configs.iter() {
        print!(" {:>20} |", config.name);
    }
    print!("\n|{}|", "-".repeat(width + 2));
    for _ in configs.iter() {
        print!("{}:|", "-".repeat(21));
    }
    println!();
    for name in &order {
        print!("| {name:<width$} |");
        for config in configs.iter_mut() {
            match config.phases.get_mut(name) {
                Some(samples) => print!(" {:>20.1} |", micros(median(samples))),
                None => print!(" {:>20} |", ""),
            }
        }
        println!();
    }
    let rows: [(&str, Column); 2] = [
        ("total: spawn() to exec (library)", |s| &mut s.totals),
        ("spawn -> exit, wall clock", |s| &mut s.walls),
    ];
    for (label, samples) in rows {
        print!("| **{label}** |{}", " ".repeat(width.saturating_sub(label.len() + 4)));
        for config in configs.iter_mut() {
            print!(" {:>20.1} |", micros(median(samples(config))));
        }
        println!();
    }
}
