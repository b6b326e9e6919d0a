//! The comparison runner: spawn -> exit of `/bin/true` through nsbox (in process) and through
//! crun, runc, bubblewrap and unshare(1), interleaved in one process, beside a plain fork+exec.
//!
//! benches/compare.sh installs the peers, builds the busybox rootfs and the OCI bundles, and
//! runs this under `CGSAFE_UNIFIED=0 ../shared/testenv/cgsafe-ns.sh`; run alone (as `cargo
//! bench` does) it only says so. See docs/benchmarks.md for what every tool is given.
//!
//! Environment (set by compare.sh):
//! - `NSBOX_COMPARE_DIR`: holds `rootfs/`, the bundles `bundle-plain/`, `bundle-seccomp/`,
//!   `bundle-limits/`, `bundle-runc/`, `bundle-sleep/`, and the runtimes' state; for the image
//!   workloads (f) and (g) the OCI layouts `image-busybox/` and `image-debian/` (optional),
//!   their layers uncompressed in `image-*-layers/NN.tar`, and the bundles
//!   `bundle-image-*{,-runc}/` whose roots `image-*-rootfs/` this runner flattens from those
//!   layers; the images are imported into a fresh store `store/`.
//! - `NSBOX_COMPARE_HOT` (200), `NSBOX_COMPARE_COLD` (30): iterations per runner and pass.
//! - `NSBOX_COMPARE_IDLE_MS` (150): the idle time before each spawn of the cold pass.
//! - `NSBOX_COMPARE_MEMORY` (20): idle containers for the memory measurement (0: skip).
//! - `NSBOX_COMPARE_THROUGHPUT` (300), `NSBOX_COMPARE_THROUGHPUT_ROUNDS` (5): spawns per
//!   runner and round of the throughput table (0: skip); `NSBOX_COMPARE_THROUGHPUT_WORKERS`
//!   (one per CPU): its worker threads.
//! - `NSBOX_COMPARE_RUNNERS`: comma-separated parts of runner names to keep (say `nsbox` or
//!   `nsbox,crun`); the baselines always run. Default: every runner.
//! - `NSBOX_COMPARE_WORKLOADS`: comma-separated prefixes of workloads to keep (say `(a),(c)`);
//!   the baselines always run. Default: every workload (benches/compare-v2.sh sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nsbox::{CgroupPool, Container, ContainerBuilder, NamespacePool, Namespaces, Pool, Rootfs, Seccomp, StartKind};
use nsbox_image::run::{ImageRun, Overrides, RootStrategy};
use nsbox_image::unpack::{Limits, Mode, Options, apply_layer};
use nsbox_image::{Source, Store};

mod common;
#[path = "compare/memory.rs"]
mod memory;
#[path = "compare/throughput.rs"]
mod throughput;

use common::quantile;

const WORKLOAD_A: &str = "(a) all ns, rootfs, no cgroup";
const WORKLOAD_B: &str = "(b) (a) + default seccomp";
const WORKLOAD_C: &str = "(c) (b) + pids 64, cpu 1.0";
const WORKLOAD_E: &str = "(e) exec /bin/true into a running (b)";
const WORKLOAD_F: &str = "(f) busybox image: (a) from an image";
const WORKLOAD_G: &str = "(g) Debian image: (a) from an image";
/// The names of the peers' long-running exec targets (`crun run --detach`, `runc run -d`).
const EXEC_TARGET_CRUN: &str = "nsbox-compare-exec-crun";
const EXEC_TARGET_RUNC: &str = "nsbox-compare-exec-runc";
const BASELINE: &str = "baseline";
/// The warm pool's runner.
const POOL_RUNNER: &str = "nsbox Pool (warm, 2 parked)";
/// The cold spawn born in pre-made user and network namespaces.
const PREMADE_RUNNER: &str = "nsbox + NamespacePool (pre-made user+net ns)";
const PREMADE_CGROUP_RUNNER: &str = "nsbox + NamespacePool + CgroupPool (pre-made ns and cgroup)";
/// The same two without the pairs' pre-made /dev and /sys (`NamespacePool::namespaces_only`):
/// the before of that change, in the same run.
const NS_ONLY_RUNNER: &str = "nsbox + NamespacePool::namespaces_only (no pre-made /dev, /sys)";
const NS_ONLY_CGROUP_RUNNER: &str = "nsbox + NamespacePool::namespaces_only + CgroupPool";

/// How one runner starts `/bin/true`.
enum Launch {
    /// nsbox, in this process.
    Nsbox(Box<ContainerBuilder>),
    /// nsbox's exec into this running container.
    NsboxExec(Box<Container>),
    /// An external program; the argument is a fresh container name for runtimes that need one.
    Command(Box<dyn Fn(&str) -> Command + Send + Sync>),
    /// nsbox on a builder made for each spawn (timed from its making: an `ImageRun` applied
    /// per container, its root copy included).
    NsboxFresh(Box<dyn FnMut() -> Result<ContainerBuilder, String>>),
    /// A warm pool's spawn of `/bin/true` (issue 17), timed once a container is parked; the
    /// refill of the one it took is waited for after the measurement, untimed, so it runs
    /// beside no other runner.
    NsboxPool(Box<Pool>),
    /// nsbox's cold spawn born in pre-made user and network namespaces (`NamespacePool`,
    /// issue 17): timed once a pair is ready; the refill waited for afterwards, untimed.
    NsboxPremade(Box<ContainerBuilder>, NamespacePool, Option<CgroupPool>),
}

/// One tool on one workload, with its samples.
struct Runner {
    workload: &'static str,
    name: String,
    launch: Launch,
    hot: Vec<Duration>,
    cold: Vec<Duration>,
    failures: usize,
}

impl Runner {
    fn nsbox(workload: &'static str, builder: ContainerBuilder) -> Runner {
        Runner::new(workload, "nsbox (library)", Launch::Nsbox(Box::new(builder)))
    }

    fn command(workload: &'static str, name: &str, make: impl Fn(&str) -> Command + Send + Sync + 'static) -> Runner {
        Runner::new(workload, name, Launch::Command(Box::new(make)))
    }

    fn new(workload: &'static str, name: &str, launch: Launch) -> Runner {
        Runner {
            workload,
            name: name.to_string(),
            launch,
            hot: Vec::new(),
            cold: Vec::new(),
            failures: 0,
        }
    }

    /// One spawn -> exit; Err with what went wrong. `quiet` runs external tools with stdio
    /// inherited (the measured way); otherwise their stderr is collected for the message.
    fn run_once(&mut self, id: &str, quiet: bool) -> Result<Duration, String> {
        match &mut self.launch {
            Launch::Nsbox(builder) => {
                let start = Instant::now();
                let status = builder.status().map_err(|e| e.to_string())?;
                let elapsed = start.elapsed();
                match status.success() {
                    true => Ok(elapsed),
                    false => Err(format!("exited with {status}")),
                }
            }
            Launch::NsboxFresh(make) => {
                let start = Instant::now();
                let mut builder = make()?;
                let status = builder.status().map_err(|e| e.to_string())?;
                // The builder holds the root copy: it goes within the measured time.
                drop(builder);
                let elapsed = start.elapsed();
                match status.success() {
                    true => Ok(elapsed),
                    false => Err(format!("exited with {status}")),
                }
            }
            Launch::NsboxPool(pool) => {
                let parked = Instant::now() + Duration::from_secs(5);
                while pool.stats().parked == 0 && Instant::now() < parked {
                    std::thread::sleep(Duration::from_micros(50));
                }
                let start = Instant::now();
                let container = pool.spawn(|run| run.command("/bin/true")).map_err(|e| e.to_string())?;
                if container.setup_timings().start() != StartKind::Pooled {
                    eprintln!("{} / {}: no container parked after 5 s", self.workload, self.name);
                }
                let status = container.wait_with_output().map_err(|e| e.to_string())?.status;
                let elapsed = start.elapsed();
                // Untimed: the refill of what this spawn took, so that it never runs beside
                // another runner's spawn (it starts `GRACE`, 2 ms, after the handout).
                let refilled = Instant::now() + Duration::from_secs(5);
                while pool.stats().parked < pool.size() && Instant::now() < refilled {
                    std::thread::sleep(Duration::from_micros(50));
                }
                match status.success() {
                    true => Ok(elapsed),
                    false => Err(format!("exited with {status}")),
                }
            }
            Launch::NsboxPremade(builder, pool, cgroups) => {
                let ready = |pool: &NamespacePool, cgroups: &Option<CgroupPool>| {
                    let full = Duration::from_secs(5);
                    pool.wait_full(full)
                        && pool.wait_released(full)
                        && cgroups
                            .as_ref()
                            .is_none_or(|c| c.wait_full(full) && c.wait_removed(full))
                };
                if !ready(pool, cgroups) {
                    eprintln!("{} / {}: nothing pre-made after 5 s", self.workload, self.name);
                }
                let start = Instant::now();
                let status = builder.status().map_err(|e| e.to_string())?;
                let elapsed = start.elapsed();
                // Untimed: the refill (and the release of the used mount namespace and cgroup),
                // so that it never runs beside another runner's spawn.
                ready(pool, cgroups);
                match status.success() {
                    true => Ok(elapsed),
                    false => Err(format!("exited with {status}")),
                }
            }
            Launch::NsboxExec(container) => {
                let start = Instant::now();
                let status = container
                    .exec()
                    .command("/bin/true")
                    .status()
                    .map_err(|e| e.to_string())?;
                let elapsed = start.elapsed();
                match status.success() {
                    true => Ok(elapsed),
                    false => Err(format!("exited with {status}")),
                }
            }
            Launch::Command(make) => {
                let mut command = make(id);
                if quiet {
                    let start = Instant::now();
                    let status = command.status().map_err(|e| e.to_string())?;
                    let elapsed = start.elapsed();
                    match status.success() {
                        true => Ok(elapsed),
                        false => Err(format!("exited with {status}")),
                    }
                } else {
                    let start = Instant::now();
                    let out = command.stdin(Stdio::null()).output().map_err(|e| e.to_string())?;
                    let elapsed = start.elapsed();
                    match out.status.success() {
                        true => Ok(elapsed),
                        false => Err(format!(
                            "exited with {}: {}",
                            out.status,
                            String::from_utf8_lossy(&out.stderr).trim()
                        )),
                    }
                }
            }
        }
    }
}

/// A number from the environment, or `default`.
fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Whether `program` is on PATH.
fn installed(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// A small deterministic generator for the order of each round (xorshift64).
struct Shuffle(u64);

impl Shuffle {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A fresh permutation of 0..n (Fisher-Yates).
    fn order(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        order
    }
}

/// Every runner, in the order the tables list them.
fn runners(dir: &Path) -> Vec<Runner> {
    let rootfs = dir.join("rootfs");
    let bundle = |name: &str| dir.join(name);
    let crun_state = dir.join("state-crun");
    let runc_state = dir.join("state-runc");

    let mut list = vec![
        Runner::command(BASELINE, "fork+exec /bin/true", |_| Command::new("/bin/true")),
        Runner::command(BASELINE, "fork+exec busybox true (static)", {
            let busybox = rootfs.join("bin/busybox");
            move |_| {
                let mut c = Command::new(&busybox);
                c.arg("true");
                c
            }
        }),
    ];

    // The nsbox builders: every namespace (the default), the busybox root by pivot_root with
    // fresh /proc, /dev and /sys (the defaults for a rootfs dir), /bin/true.
    let template = |seccomp: Seccomp| {
        let mut b = Container::builder();
        b.namespaces(Namespaces::all())
            .rootfs(Rootfs::dir(&rootfs))
            .seccomp(seccomp);
        b
    };
    let nsbox = |seccomp: Seccomp| {
        let mut b = template(seccomp);
        b.command("/bin/true");
        b
    };
    let crun = |manager: &'static str, bundle: PathBuf| {
        let state = crun_state.clone();
        move |id: &str| {
            let mut c = Command::new("crun");
            c.arg("--root")
                .arg(&state)
                .arg(format!("--cgroup-manager={manager}"))
                .arg("run")
                .arg("--bundle")
                .arg(&bundle)
                .arg(id);
            c
        }
    };

    // (a) all namespaces, rootfs, no cgroup, no seccomp.
    list.push(Runner::nsbox(WORKLOAD_A, nsbox(Seccomp::unconfined())));
    if installed("crun") {
        list.push(Runner::command(
            WORKLOAD_A,
            "crun --cgroup-manager=disabled",
            crun("disabled", bundle("bundle-plain")),
        ));
    }
    if installed("bwrap") {
        let root = rootfs.clone();
        list.push(Runner::command(WORKLOAD_A, "bwrap --unshare-all", move |_| {
            let mut c = Command::new("bwrap");
            c.arg("--unshare-all").arg("--ro-bind").arg(&root).args([
                "/",
                "--proc",
                "/proc",
                "--dev",
                "/dev",
                "/bin/true",
            ]);
            c
        }));
    }
    if installed("unshare") {
        let root = rootfs.clone();
        list.push(Runner::command(WORKLOAD_A, "unshare -fpmuinUCT (chroot)", move |_| {
            let mut c = Command::new("unshare");
            c.args(["-fpmuinUCT", "--map-root-user", "--mount-proc"])
                .arg(format!("--root={}", root.display()))
                .arg("/bin/true");
            c
        }));
    }

    // (a) from a warm pool: the same template without a command, two containers parked.
    let pool = |seccomp: Seccomp, limits: bool| {
        let mut template = template(seccomp);
        if limits {
            template.pids_limit(64).cpu_limit(1.0);
        }
        Pool::new(template, 2)
    };
    match pool(Seccomp::unconfined(), false) {
        Ok(p) => list.push(Runner::new(WORKLOAD_A, POOL_RUNNER, Launch::NsboxPool(Box::new(p)))),
        Err(e) => println!("**{WORKLOAD_A} / {POOL_RUNNER} dropped**: {e}"),
    }
    // (a) cold, born in pre-made user and network namespaces.
    let premade_with = |builder: ContainerBuilder, mounts: bool| {
        let pool = match mounts {
            true => NamespacePool::new(&builder, 1),
            false => NamespacePool::namespaces_only(&builder, 1),
        };
        pool.map(|pool| {
            let mut builder = builder;
            builder.namespace_pool(&pool);
            Launch::NsboxPremade(Box::new(builder), pool, None)
        })
    };
    let premade = |builder: ContainerBuilder| premade_with(builder, true);
    for (name, mounts) in [(PREMADE_RUNNER, true), (NS_ONLY_RUNNER, false)] {
        match premade_with(nsbox(Seccomp::unconfined()), mounts) {
            Ok(launch) => list.push(Runner::new(WORKLOAD_A, name, launch)),
            Err(e) => println!("**{WORKLOAD_A} / {name} dropped**: {e}"),
        }
    }

    // (b) + Docker's default seccomp profile.
    list.push(Runner::nsbox(WORKLOAD_B, nsbox(Seccomp::docker_default())));
    if installed("crun") && bundle("bundle-seccomp").exists() {
        list.push(Runner::command(
            WORKLOAD_B,
            "crun --cgroup-manager=disabled",
            crun("disabled", bundle("bundle-seccomp")),
        ));
    }

    // (c) + cgroup limits: pids 64, one CPU.
    let mut limited = nsbox(Seccomp::docker_default());
    limited.pids_limit(64).cpu_limit(1.0);
    list.push(Runner::nsbox(WORKLOAD_C, limited));
    match pool(Seccomp::docker_default(), true) {
        Ok(p) => list.push(Runner::new(WORKLOAD_C, POOL_RUNNER, Launch::NsboxPool(Box::new(p)))),
        Err(e) => println!("**{WORKLOAD_C} / {POOL_RUNNER} dropped**: {e}"),
    }
    let mut limited_premade = nsbox(Seccomp::docker_default());
    limited_premade.pids_limit(64).cpu_limit(1.0);
    match premade(limited_premade) {
        Ok(launch) => list.push(Runner::new(WORKLOAD_C, PREMADE_RUNNER, launch)),
        Err(e) => println!("**{WORKLOAD_C} / {PREMADE_RUNNER} dropped**: {e}"),
    }
    for (name, mounts) in [(PREMADE_CGROUP_RUNNER, true), (NS_ONLY_CGROUP_RUNNER, false)] {
        let mut limited_premade = nsbox(Seccomp::docker_default());
        limited_premade.pids_limit(64).cpu_limit(1.0);
        let with_cgroups = premade_with(limited_premade, mounts).and_then(|launch| match launch {
            Launch::NsboxPremade(mut builder, pool, None) => {
                let cgroups = CgroupPool::new(&builder, 1)?;
                builder.cgroup_pool(&cgroups);
                Ok(Launch::NsboxPremade(builder, pool, Some(cgroups)))
            }
            other => Ok(other),
        });
        match with_cgroups {
            Ok(launch) => list.push(Runner::new(WORKLOAD_C, name, launch)),
            Err(e) => println!("**{WORKLOAD_C} / {name} dropped**: {e}"),
        }
    }
    if installed("crun") {
        list.push(Runner::command(
            WORKLOAD_C,
            "crun --cgroup-manager=cgroupfs",
            crun("cgroupfs", bundle("bundle-limits")),
        ));
    }
    // (e) exec into a running container of (b): nsbox's, crun's and runc's, each started once.
    let mut target = nsbox(Seccomp::docker_default());
    target.command("/bin/sleep").arg("3600");
    match target.spawn() {
        Ok(container) => list.push(Runner::new(
            WORKLOAD_E,
            "nsbox (library)",
            Launch::NsboxExec(Box::new(container)),
        )),
        Err(e) => println!("**{WORKLOAD_E} / nsbox dropped**: {e}"),
    }
    if installed("crun") && bundle("bundle-exec").exists() {
        let state = crun_state.clone();
        let started = Command::new("crun")
            .arg("--root")
            .arg(&state)
            .args(["--cgroup-manager=disabled", "run", "--detach", "--bundle"])
            .arg(bundle("bundle-exec"))
            .arg(EXEC_TARGET_CRUN)
            .stdin(Stdio::null())
            .status();
        if started.is_ok_and(|s| s.success()) {
            list.push(Runner::command(WORKLOAD_E, "crun exec", move |_| {
                let mut c = Command::new("crun");
                c.arg("--root")
                    .arg(&state)
                    .args(["exec", EXEC_TARGET_CRUN, "/bin/true"]);
                c
            }));
        }
    }
    if installed("runc") && bundle("bundle-exec-runc").exists() {
        let state = runc_state.clone();
        let started = Command::new("runc")
            .arg("--root")
            .arg(&state)
            .args(["run", "-d", "--bundle"])
            .arg(bundle("bundle-exec-runc"))
            .arg(EXEC_TARGET_RUNC)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if started.is_ok_and(|s| s.success()) {
            list.push(Runner::command(WORKLOAD_E, "runc exec", move |_| {
                let mut c = Command::new("runc");
                c.arg("--root")
                    .arg(&state)
                    .args(["exec", EXEC_TARGET_RUNC, "/bin/true"]);
                c
            }));
        }
    }
    if installed("runc") {
        let bundle = bundle("bundle-runc");
        list.push(Runner::command(WORKLOAD_C, "runc (7 ns: no time ns)", move |id| {
            let mut c = Command::new("runc");
            c.arg("--root")
                .arg(&runc_state)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(id);
            c
        }));
    }
    image_runners(dir, "busybox", WORKLOAD_F, &mut list);
    image_runners(dir, "debian", WORKLOAD_G, &mut list);
    list
}

/// The runners of an image workload, if `dir/image-NAME` is there: nsbox running the image
/// (`ImageRun`: an overlay of the store's layers with a tmpfs upper) and running its layers
/// flattened into one directory, nsbox on the host root (the same settings without a rootfs;
/// listed once, under (f)), crun and runc on bundles of the flattened directory. Every runner
/// as (a): all namespaces, no seccomp, no cgroup (runc: 7 namespaces and its cgroups, which it
/// cannot leave out).
fn image_runners(dir: &Path, name: &str, workload: &'static str, list: &mut Vec<Runner>) {
    let layout = dir.join(format!("image-{name}"));
    if !layout.exists() {
        println!("**{workload} skipped**: no {}", layout.display());
        return;
    }
    let reference = format!("{name}:bench");
    let flat = dir.join(format!("image-{name}-rootfs"));
    let prepared = prepare_image(
        dir,
        &layout,
        &reference,
        &dir.join(format!("image-{name}-layers")),
        &flat,
    );
    let store = match prepared {
        Ok(store) => store,
        Err(e) => {
            println!("**{workload} dropped**: {e}");
            return;
        }
    };
    let plain = || {
        let mut b = Container::builder();
        b.namespaces(Namespaces::all()).seccomp(Seccomp::unconfined());
        b
    };
    let mut image = plain();
    let true_only = Overrides {
        cmd: Some(vec!["/bin/true".to_string()]),
        ..Overrides::default()
    };
    match ImageRun::new(&store, &reference).and_then(|run| run.overrides(true_only).apply(&mut image)) {
        Ok(_) => list.push(Runner::new(
            workload,
            "nsbox ImageRun (overlay, tmpfs upper)",
            Launch::Nsbox(Box::new(image)),
        )),
        Err(e) => println!("**{workload} / nsbox ImageRun dropped**: {e}"),
    }
    // An ImageRun per spawn (as a caller runs one container per run): the overlay, and the
    // copy fallback (the image's tree copied into the store's roots/ and removed each time).
    for (root, label) in [
        (RootStrategy::Overlay, "nsbox ImageRun per spawn (overlay)"),
        (RootStrategy::Copy, "nsbox ImageRun per spawn (copy fallback)"),
    ] {
        let (store, reference) = (store.clone(), reference.clone());
        let make = move || {
            let mut builder = plain();
            let cmd = Overrides {
                cmd: Some(vec!["/bin/true".to_string()]),
                ..Overrides::default()
            };
            ImageRun::new(&store, &reference)
                .and_then(|run| run.overrides(cmd).root_strategy(root).apply(&mut builder))
                .map_err(|e| e.to_string())?;
            Ok(builder)
        };
        list.push(Runner::new(workload, label, Launch::NsboxFresh(Box::new(make))));
    }
    let mut flattened = plain();
    flattened.rootfs(Rootfs::dir(&flat)).command("/bin/true");
    list.push(Runner::new(
        workload,
        "nsbox Rootfs::dir(flattened layers)",
        Launch::Nsbox(Box::new(flattened)),
    ));
    if workload == WORKLOAD_F {
        let mut host = plain();
        host.command("/bin/true");
        list.push(Runner::new(
            workload,
            "nsbox host root (no image)",
            Launch::Nsbox(Box::new(host)),
        ));
    }
    if installed("crun") {
        let (state, bundle) = (dir.join("state-crun"), dir.join(format!("bundle-image-{name}")));
        list.push(Runner::command(workload, "crun, flattened layers", move |id| {
            let mut c = Command::new("crun");
            c.arg("--root")
                .arg(&state)
                .args(["--cgroup-manager=disabled", "run", "--bundle"])
                .arg(&bundle)
                .arg(id);
            c
        }));
    }
    if installed("runc") {
        let (state, bundle) = (dir.join("state-runc"), dir.join(format!("bundle-image-{name}-runc")));
        list.push(Runner::command(workload, "runc (7 ns), flattened layers", move |id| {
            let mut c = Command::new("runc");
            c.arg("--root")
                .arg(&state)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(id);
            c
        }));
    }
}

/// Imports the OCI layout `layout` as `reference` into the store `dir/store` and flattens the
/// uncompressed layers `layers/NN.tar` into `flat` (privileged, in order); returns the store.
fn prepare_image(dir: &Path, layout: &Path, reference: &str, layers: &Path, flat: &Path) -> Result<Store, String> {
    let started = Instant::now();
    let store = Store::open(dir.join("store")).map_err(|e| format!("open the store: {e}"))?;
    store
        .import(&Source::oci_layout(layout), reference, |_| {})
        .map_err(|e| format!("import {}: {e}", layout.display()))?;
    let imported = started.elapsed();
    let mut tars: Vec<PathBuf> = std::fs::read_dir(layers)
        .map_err(|e| format!("{}: {e}", layers.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    tars.sort();
    std::fs::create_dir_all(flat).map_err(|e| e.to_string())?;
    let options = Options {
        mode: Mode::Flatten,
        limits: Limits::default(),
        privileged: true,
    };
    for tar in &tars {
        let file = std::fs::File::open(tar).map_err(|e| format!("{}: {e}", tar.display()))?;
        apply_layer(std::io::BufReader::new(file), flat, &options).map_err(|e| format!("{}: {e}", tar.display()))?;
    }
    eprintln!(
        "{reference}: imported in {:.2} s, {} layers flattened in {:.2} s",
        imported.as_secs_f64(),
        tars.len(),
        (started.elapsed() - imported).as_secs_f64()
    );
    Ok(store)
}

/// Runs every runner `rounds` times, each round in a fresh shuffled order; `idle` before each
/// spawn for the cold pass.
fn pass(runners: &mut [Runner], rounds: u64, idle: Option<Duration>, shuffle: &mut Shuffle, ids: &mut u64) {
    for _ in 0..rounds {
        for i in shuffle.order(runners.len()) {
            let runner = &mut runners[i];
            if let Some(idle) = idle {
                std::thread::sleep(idle);
            }
            *ids += 1;
            let id = format!("nsb{}-{ids}", std::process::id());
            match runner.run_once(&id, true) {
                Ok(d) if idle.is_some() => runner.cold.push(d),
                Ok(d) => runner.hot.push(d),
                Err(e) => {
                    if runner.failures == 0 {
                        eprintln!("{} / {}: {e}", runner.workload, runner.name);
                    }
                    runner.failures += 1;
                }
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn print_table(title: &str, runners: &mut [Runner], cold: bool) {
    let samples = |r: &mut Runner| {
        let s = if cold { &mut r.cold } else { &mut r.hot };
        s.sort_unstable();
        s.clone()
    };
    let base = runners
        .iter_mut()
        .find(|r| r.workload == BASELINE)
        .map(|r| quantile(&samples(r), 0.5))
        .unwrap_or_default();
    println!("\n### {title}\n");
    println!("| workload | runner | n | p50 ms | p95 ms | min ms | p50 / p50(fork+exec) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in runners.iter_mut() {
        let s = samples(r);
        if s.is_empty() {
            println!("| {} | {} | 0 | failed | | | |", r.workload, r.name);
            continue;
        }
        let p50 = quantile(&s, 0.5);
        let failed = match r.failures {
            0 => String::new(),
            n => format!(" ({n} failed)"),
        };
        println!(
            "| {} | {} | {}{failed} | {:.3} | {:.3} | {:.3} | {:.1}x |",
            r.workload,
            r.name,
            s.len(),
            ms(p50),
            ms(quantile(&s, 0.95)),
            ms(s[0]),
            p50.as_secs_f64() / base.as_secs_f64().max(1e-9),
        );
    }
}

fn main() {
    let Some(dir) = std::env::var_os("NSBOX_COMPARE_DIR").map(PathBuf::from) else {
        println!("compare: run benches/compare.sh, which prepares the peers and the bundles");
        return;
    };
    assert!(
        !common::memory_hierarchy_visible(),
        "compare: the v1 memory cgroup hierarchy is visible: run under ../shared/testenv/cgsafe-ns.sh"
    );
    let hot = env_number("NSBOX_COMPARE_HOT", 200);
    let cold = env_number("NSBOX_COMPARE_COLD", 30);
    let idle = Duration::from_millis(env_number("NSBOX_COMPARE_IDLE_MS", 150));
    let memory = env_number("NSBOX_COMPARE_MEMORY", 20) as usize;
    let throughput = env_number("NSBOX_COMPARE_THROUGHPUT", 300) as usize;
    let throughput_rounds = env_number("NSBOX_COMPARE_THROUGHPUT_ROUNDS", 5) as usize;

    let mut runners = runners(&dir);
    if let Ok(keep) = std::env::var("NSBOX_COMPARE_RUNNERS") {
        let keep: Vec<&str> = keep.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        runners.retain(|r| r.workload == BASELINE || keep.iter().any(|k| r.name.contains(k)));
    }
    if let Ok(keep) = std::env::var("NSBOX_COMPARE_WORKLOADS") {
        let keep: Vec<&str> = keep.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        runners.retain(|r| r.workload == BASELINE || keep.iter().any(|k| r.workload.starts_with(k)));
    }
    // Check every runner once, with its error output; a failing one is reported and dropped.
    runners.retain_mut(
        |r| match r.run_once(&format!("nsb{}-check", std::process::id()), false) {
            Ok(_) => true,
            Err(e) => {
                println!("**{} / {} dropped**: {e}", r.workload, r.name);
                false
            }
        },
    );
    // Warm caches (page cache, nsbox's compiled seccomp filter, the runtimes' binaries).
    let (mut shuffle, mut ids) = (Shuffle(0x9e37_79b9_7f4a_7c15), 0);
    pass(&mut runners, 3, None, &mut shuffle, &mut ids);
    for r in &mut runners {
        r.hot.clear();
    }

    let started = Instant::now();
    pass(&mut runners, hot, None, &mut shuffle, &mut ids);
    let hot_time = started.elapsed();
    let started = Instant::now();
    pass(&mut runners, cold, Some(idle), &mut shuffle, &mut ids);
    let cold_time = started.elapsed();

    print_table(
        &format!("Hot: back to back, {hot} rounds ({:.0} s)", hot_time.as_secs_f64()),
        &mut runners,
        false,
    );
    print_table(
        &format!(
            "Cold: {} ms idle before each spawn, {cold} rounds ({:.0} s)",
            idle.as_millis(),
            cold_time.as_secs_f64()
        ),
        &mut runners,
        true,
    );

    if throughput > 0 {
        throughput::print_throughput(&runners, throughput, throughput_rounds);
    }
    for r in &runners {
        match &r.launch {
            Launch::NsboxPool(pool) => println!("\n{} / {}: {:?}", r.workload, r.name, pool.stats()),
            Launch::NsboxPremade(_, pool, cgroups) => {
                println!("\n{} / {}: {:?}", r.workload, r.name, pool.stats());
                if let Some(cgroups) = cgroups {
                    println!("{} / {}: {:?}", r.workload, r.name, cgroups.stats());
                }
            }
            _ => {}
        }
    }

    if memory > 0 {
        let mut rows = Vec::new();
        match memory::memory_nsbox(&dir.join("rootfs"), memory) {
            Ok(row) => rows.push(row),
            Err(e) => println!("memory: nsbox failed: {e}"),
        }
        if installed("crun") && dir.join("bundle-sleep").exists() {
            match memory::memory_crun(&dir, memory) {
                Ok(row) => rows.push(row),
                Err(e) => println!("memory: crun failed: {e}"),
            }
        }
        memory::print_memory(&rows, memory);
    }
    // The peers' exec targets (nsbox's dies with its handle).
    let dir_state = |name: &str| dir.join(name);
    for (runtime, state, id) in [
        ("crun", "state-crun", EXEC_TARGET_CRUN),
        ("runc", "state-runc", EXEC_TARGET_RUNC),
    ] {
        let _ = Command::new(runtime)
            .arg("--root")
            .arg(dir_state(state))
            .args(["delete", "-f", id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
