//! Spawn -> exit latency of `/bin/true` over container configurations, and of an exec of it
//! into a running container, beside a plain fork+exec of the same binary measured in the same
//! run.
//!
//! ```sh
//! ../shared/testenv/cgsafe-ns.sh cargo bench --bench spawn            # ~1.5 minutes here
//! ../shared/testenv/cgsafe-ns.sh cargo bench --bench spawn -- --test  # each config once (CI)
//! ```
//!
//! The cgroup row creates cgroups: outside `cgsafe-ns.sh`, where this machine's v1 memory
//! hierarchy is visible, it is skipped with a note. See docs/benchmarks.md.

use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use nsbox::{
    CgroupPool, Container, ContainerBuilder, IdMap, Mount, NamespacePool, Namespaces, Pool, Port, Profile, Rootfs,
    Seccomp, StartKind,
};

mod common;

/// Every namespace on its own, in the order the kernel's clone flags list them.
const SINGLE: [Namespaces; 8] = [
    Namespaces::MOUNT,
    Namespaces::UTS,
    Namespaces::IPC,
    Namespaces::PID,
    Namespaces::NET,
    Namespaces::USER,
    Namespaces::CGROUP,
    Namespaces::TIME,
];

/// A builder running `/bin/true` in `namespaces` without a seccomp filter (the host root, the
/// other defaults).
fn unconfined(namespaces: Namespaces) -> ContainerBuilder {
    let mut builder = Container::builder();
    builder
        .namespaces(namespaces)
        .seccomp(Seccomp::unconfined())
        .command("/bin/true");
    builder
}

/// The configurations, named as criterion prints them. `rootfs` is a busybox tree.
fn configurations(rootfs: &std::path::Path, cgroups_allowed: bool) -> Vec<(String, ContainerBuilder)> {
    let mut configs = vec![("no namespaces".to_string(), unconfined(Namespaces::empty()))];
    for ns in SINGLE {
        let name = ns.proc_name().unwrap_or("?");
        configs.push((format!("only {name} ns"), unconfined(ns)));
    }
    configs.push(("all namespaces".into(), unconfined(Namespaces::all())));

    let mut with_rootfs = unconfined(Namespaces::all());
    with_rootfs.rootfs(Rootfs::dir(rootfs));
    configs.push(("all + busybox rootfs".into(), with_rootfs));

    let mut with_seccomp = unconfined(Namespaces::all());
    with_seccomp.seccomp(Seccomp::docker_default());
    configs.push(("all + docker seccomp".into(), with_seccomp));

    if cgroups_allowed {
        let mut with_limits = unconfined(Namespaces::all());
        with_limits.pids_limit(64).cpu_limit(1.0);
        configs.push(("all + cgroup limits".into(), with_limits));
    } else {
        eprintln!(
            "note: skipping \"all + cgroup limits\": the v1 memory cgroup hierarchy is visible; \
             run under ../shared/testenv/cgsafe-ns.sh"
        );
    }

    // A listener on an ephemeral host port, the connector in the container, the forwarder.
    let mut with_port = unconfined(Namespaces::all());
    with_port.publish(Port::tcp(0, 80));
    configs.push(("all + published port".into(), with_port));

    configs.push(("all but user".into(), unconfined(Namespaces::all() - Namespaces::USER)));

    // One bind, plain and idmapped (the busybox tree's bin, its root-owned files shown as
    // the container root's host id): the idmapped one costs a helper process and the mount
    // made in the caller.
    let bin = rootfs.join("bin");
    let mut with_bind = unconfined(Namespaces::all());
    with_bind.mount(Mount::bind(&bin, "/tmp/data").read_only());
    configs.push(("all + bind".into(), with_bind));
    let mut with_idmapped = unconfined(Namespaces::all());
    let root = with_idmapped.build().map(|c| c.uid_map()[0].outside).unwrap_or(0);
    let map = [IdMap::new(0, root, 1)];
    with_idmapped.mount(Mount::bind(&bin, "/tmp/data").read_only().idmap(map, map));
    configs.push(("all + idmapped bind".into(), with_idmapped));

    // The profile for untrusted code, as a caller would use it.
    let mut sandbox = Container::builder();
    sandbox.profile(Profile::Sandbox).command("/bin/true");
    configs.push(("sandbox profile".into(), sandbox));
    configs
}

fn spawn_true(c: &mut Criterion) {
    let rootfs = common::busybox_rootfs();
    let mut group = c.benchmark_group("spawn /bin/true");
    // Each spawn takes 1-10 ms here: 20 samples in 2 s keep the whole run near 1.5 minutes.
    // Flat sampling (the same iteration count in every sample) suits iterations this long.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));

    let baseline = |b: &mut criterion::Bencher| {
        b.iter(|| {
            let status = Command::new("/bin/true").status().expect("run /bin/true");
            assert!(status.success());
        })
    };
    group.bench_function("fork+exec (baseline)", baseline);
    for (name, mut builder) in configurations(rootfs.path(), !common::memory_hierarchy_visible()) {
        // Fail with the setup error before criterion starts timing.
        if let Err(e) = builder.status() {
            panic!("{name}: {e}");
        }
        group.bench_function(name.as_str(), |b| {
            b.iter(|| {
                let status = builder.status().expect("spawn the container");
                assert!(status.success());
            })
        });
    }
    // `exec` into a running container of the defaults (all namespaces, Docker's filter), beside
    // a spawn of the same configuration.
    let mut defaults = Container::builder();
    defaults.command("/bin/true");
    group.bench_function("defaults (spawn)", |b| {
        b.iter(|| assert!(defaults.status().expect("spawn the container").success()))
    });
    let running = Container::builder()
        .command("/bin/sleep")
        .arg("3600")
        .spawn()
        .expect("spawn the container to exec into");
    group.bench_function("defaults (exec /bin/true into a running one)", |b| {
        b.iter(|| {
            let status = running.exec().command("/bin/true").status().expect("exec");
            assert!(status.success());
        })
    });
    drop(running);
    // Joining a running container's PID namespace (its init stays PID 1, the joiner has none)
    // beside "all but user", which makes one (and an init).
    let target = Container::builder()
        .namespaces(Namespaces::all() - Namespaces::USER)
        .command("/bin/sleep")
        .arg("3600")
        .spawn()
        .expect("spawn the container whose PID namespace is joined");
    let mut joining = unconfined(Namespaces::all() - Namespaces::USER);
    joining.join_namespace(Namespaces::PID, format!("/proc/{}/ns/pid", target.pid()));
    group.bench_function("all but user, PID ns joined", |b| {
        b.iter(|| assert!(joining.status().expect("spawn the container").success()))
    });
    let mut joining_only = unconfined(Namespaces::empty());
    joining_only.join_namespace(Namespaces::PID, format!("/proc/{}/ns/pid", target.pid()));
    group.bench_function("only pid ns, joined", |b| {
        b.iter(|| assert!(joining_only.status().expect("spawn the container").success()))
    });
    drop(target);
    pool_rows(&mut group, rootfs.path(), !common::memory_hierarchy_visible());
    premade_row(&mut group, rootfs.path());
    if !common::memory_hierarchy_visible() {
        premade_cgroup_row(&mut group, rootfs.path());
    }
    // Criterion runs one benchmark after the other: the baseline again at the end shows how far
    // the machine drifted meanwhile.
    group.bench_function("fork+exec (baseline, again)", baseline);
    group.finish();
}

/// A warm pool's spawn -> exit of `/bin/true` (issue 17): each iteration waits (untimed) until
/// the pool is full, then times the spawn from the pool and the wait (the refill starts 2 ms
/// after the handout). With the busybox rootfs, as the comparison runner's (a) and (c).
fn pool_rows(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rootfs: &std::path::Path,
    cgroups_allowed: bool,
) {
    let mut plain = Container::builder();
    plain.rootfs(Rootfs::dir(rootfs)).seccomp(Seccomp::unconfined());
    let mut limited = Container::builder();
    limited.rootfs(Rootfs::dir(rootfs)).seccomp(Seccomp::docker_default());
    let mut rows = vec![("pool: all + busybox rootfs", plain)];
    if cgroups_allowed {
        limited.pids_limit(64).cpu_limit(1.0);
        rows.push(("pool: all + busybox rootfs + docker seccomp + limits", limited));
    }
    for (name, template) in rows {
        let pool = Pool::new(template, 2).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut cold = 0u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Untimed: every container parked, no refill running beside the spawn.
                    let parked = Instant::now() + Duration::from_secs(5);
                    while pool.stats().parked < pool.size() && Instant::now() < parked {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    let start = Instant::now();
                    let c = pool.spawn(|run| run.command("/bin/true")).expect("spawn from the pool");
                    cold += u64::from(c.setup_timings().start() != StartKind::Pooled);
                    assert!(c.wait_with_output().expect("wait").status.success());
                    total += start.elapsed();
                }
                total
            })
        });
        eprintln!("{name}: {:?} ({cold} spawns found none parked)", pool.stats());
    }
}

/// A cold spawn born in pre-made user and network namespaces (`NamespacePool`, issue 17):
/// each iteration waits (untimed) for the pair, then times spawn -> exit. Beside the
/// comparison runner's (a), whose namespaces the spawn makes itself.
fn premade_row(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, rootfs: &std::path::Path) {
    let mut builder = Container::builder();
    builder
        .rootfs(Rootfs::dir(rootfs))
        .seccomp(Seccomp::unconfined())
        .command("/bin/true");
    let pool = NamespacePool::new(&builder, 1).expect("a namespace pool");
    builder.namespace_pool(&pool);
    group.bench_function("all + busybox rootfs, pre-made user+net ns", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let ready = pool.wait_full(Duration::from_secs(5)) && pool.wait_released(Duration::from_secs(5));
                assert!(ready, "no pre-made pair");
                let start = Instant::now();
                assert!(builder.status().expect("spawn the container").success());
                total += start.elapsed();
            }
            total
        })
    });
    eprintln!("pre-made user+net ns: {:?}", pool.stats());
}

/// The same with Docker's seccomp and pids/cpu limits (the comparison runner's (c)), born in a
/// pre-made pair and a pre-made cgroup (`CgroupPool`, issue 17): each iteration waits
/// (untimed) for both pools to be full and the last used cgroup removed.
fn premade_cgroup_row(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rootfs: &std::path::Path,
) {
    let mut builder = Container::builder();
    builder
        .rootfs(Rootfs::dir(rootfs))
        .seccomp(Seccomp::docker_default())
        .pids_limit(64)
        .cpu_limit(1.0)
        .command("/bin/true");
    let pool = NamespacePool::new(&builder, 1).expect("a namespace pool");
    let cgroups = CgroupPool::new(&builder, 1).expect("a cgroup pool");
    builder.namespace_pool(&pool).cgroup_pool(&cgroups);
    let full = Duration::from_secs(5);
    group.bench_function(
        "all + busybox rootfs + docker seccomp + limits, pre-made ns and cgroup",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let ready = pool.wait_full(full)
                        && pool.wait_released(full)
                        && cgroups.wait_full(full)
                        && cgroups.wait_removed(full);
                    assert!(ready, "nothing pre-made");
                    let start = Instant::now();
                    assert!(builder.status().expect("spawn the container").success());
                    total += start.elapsed();
                }
                total
            })
        },
    );
    eprintln!("pre-made ns and cgroup: {:?}, {:?}", pool.stats(), cgroups.stats());
}

criterion_group!(benches, spawn_true);
criterion_main!(benches);
