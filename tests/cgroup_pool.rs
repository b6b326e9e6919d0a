//! Pre-made cgroups (`nsbox::CgroupPool`, issue 17): a spawn naming the pool takes a cgroup
//! made ahead of time with the template's limits (its container takes the cgroup's name),
//! used once; a used one is removed by the pool's thread once the container (with its own PID
//! namespace) is reaped, or by `wait` itself without one; a spawn whose cgroup settings differ
//! makes its own; refused templates; dropping the pool leaves no cgroup, fd or process.
//! Run as root under scripts/test (cgsafe-ns.sh: no v1 memory hierarchy).

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Snapshot, root, wait_until};
use nsbox::{CgroupPool, Container, ContainerBuilder, Error, Namespaces, PoolError, Signal, Stdio};

/// A generous bound for the pool's thread to make or remove what a test waits for.
const LIMIT: Duration = Duration::from_secs(30);

fn template() -> ContainerBuilder {
    let mut b = Container::builder();
    b.pids_limit(32).cpu_limit(0.5).command("/bin/true");
    b
}

fn full_pool(template: &ContainerBuilder, size: usize) -> CgroupPool {
    let pool = CgroupPool::new(template, size).unwrap();
    assert!(pool.wait_full(LIMIT), "the pool did not fill: {:?}", pool.stats());
    pool
}

/// The test lock and a full pool of `size` of the template; `None` (skipped with a reason)
/// without root.
fn serial_pool(size: usize) -> Option<(std::sync::MutexGuard<'static, ()>, CgroupPool)> {
    let serial = common::exclusive();
    root().then(|| (serial, full_pool(&template(), size)))
}

fn sleeper(pool: &CgroupPool) -> Container {
    template()
        .cgroup_pool(pool)
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap()
}

/// Every cgroup directory named `name` in any hierarchy mounted here (a few levels deep: the
/// caller's own cgroup may be below the root).
fn dirs_named(name: &str) -> Vec<PathBuf> {
    fn search(dir: &Path, name: &str, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if entry.file_name() == name {
                found.push(path);
            } else if depth > 0 {
                search(&path, name, depth - 1, found);
            }
        }
    }
    let mut found = Vec::new();
    search(Path::new("/sys/fs/cgroup"), name, 4, &mut found);
    found
}

/// A container's cgroup name: `nsbox-` and 12 hex digits (not the OCI runtime's parent).
fn is_container_cgroup(name: &str) -> bool {
    name.strip_prefix("nsbox-")
        .is_some_and(|id| id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The containers' cgroup directories anywhere (a few levels deep).
fn nsbox_dirs() -> Vec<PathBuf> {
    fn search(dir: &Path, depth: usize, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            match is_container_cgroup(&entry.file_name().to_string_lossy()) {
                true => found.push(entry.path()),
                false if depth > 0 => search(&entry.path(), depth - 1, found),
                false => {}
            }
        }
    }
    let mut found = Vec::new();
    search(Path::new("/sys/fs/cgroup"), 4, &mut found);
    found.sort();
    found
}

/// The `pids.max` of `pid`'s cgroup: v1 (`pids` hierarchy) or v2 (the cgroup2 mount).
fn pids_max_of(pid: u32) -> String {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let dir = match cgroups.lines().find_map(|l| l.split_once(":pids:")) {
        Some((_, path)) => format!("/sys/fs/cgroup/pids{path}"),
        None => {
            let path = cgroups
                .lines()
                .find_map(|l| l.strip_prefix("0::"))
                .expect("a cgroup2 line");
            let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
            let mountpoint = mounts
                .lines()
                .find_map(|l| {
                    let fields: Vec<&str> = l.split_whitespace().collect();
                    (fields.get(2) == Some(&"cgroup2")).then(|| fields[1].to_string())
                })
                .expect("a cgroup2 mount");
            format!("{mountpoint}{path}")
        }
    };
    std::fs::read_to_string(format!("{dir}/pids.max"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_spawn_takes_the_ready_cgroup_with_its_limits_and_name_and_the_pool_removes_it() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let ready = nsbox_dirs();
    assert!(!ready.is_empty(), "the ready cgroup exists before any spawn");
    let mut c = sleeper(&pool);
    let name = format!("nsbox-{}", c.id());
    assert!(
        ready.iter().all(|d| d.file_name().unwrap() == name.as_str()),
        "the container took the ready cgroup's name: {name}, ready were {ready:?}"
    );
    let host = std::fs::read_to_string(format!("/proc/{}/cgroup", c.pid())).unwrap();
    assert!(host.lines().any(|l| l.ends_with(&name)), "{host}");
    // 32 for the payload, plus nsbox's own processes (the init).
    let max: u64 = pids_max_of(c.pid()).parse().unwrap();
    assert!((32..=34).contains(&max), "pids.max {max}");
    assert!(c.stats().is_ok(), "stats read the pooled cgroup");
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    assert!(pool.wait_removed(LIMIT), "{:?}", pool.stats());
    assert!(
        dirs_named(&name).is_empty(),
        "used cgroup left: {:?}",
        dirs_named(&name)
    );
    let stats = pool.stats();
    assert_eq!(
        (
            stats.hits,
            stats.misses,
            stats.unmatched,
            stats.returned,
            stats.failed_removals
        ),
        (1, 0, 0, 1, 0),
        "handed back to the pool, which removed it"
    );
}

#[test]
fn the_pool_removes_what_a_container_nested_in_its_cgroup() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let mut c = sleeper(&pool);
    let name = format!("nsbox-{}", c.id());
    // As a container with a writable cgroup mount would (here made from outside).
    let dir = dirs_named(&name).into_iter().next().expect("the container's cgroup");
    std::fs::create_dir(dir.join("nested")).unwrap();
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    assert!(pool.wait_removed(LIMIT));
    assert!(dirs_named(&name).is_empty(), "{:?}", dirs_named(&name));
    let stats = pool.stats();
    assert_eq!((stats.returned, stats.failed_removals), (1, 0), "{stats:?}");
}

#[test]
fn a_container_with_an_exec_removes_its_cgroup_in_wait() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let mut c = sleeper(&pool);
    let name = format!("nsbox-{}", c.id());
    // The exec's init stays in the cgroup, outside the container's PID namespace.
    let mut exec = c.exec().command("/bin/sleep").arg("100").spawn().unwrap();
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    assert!(dirs_named(&name).is_empty(), "removed by wait: {:?}", dirs_named(&name));
    assert_eq!(pool.stats().returned, 0);
    // Killed with the cgroup.
    assert!(exec.wait().is_ok());
}

#[test]
fn a_used_cgroup_is_never_handed_out_again() {
    let Some((_serial, pool)) = serial_pool(2) else { return };
    let mut ids = Vec::new();
    for _ in 0..4 {
        assert!(pool.wait_full(LIMIT));
        let mut c = sleeper(&pool);
        ids.push(c.id().to_string());
        c.kill(Signal::SIGKILL).unwrap();
        c.wait().unwrap();
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every spawn got a cgroup of its own: {ids:?}");
    assert!(pool.wait_removed(LIMIT));
    for id in &ids {
        assert!(dirs_named(&format!("nsbox-{id}")).is_empty(), "{id} left");
    }
    assert_eq!(pool.stats().hits, 4);
}

#[test]
fn a_spawn_with_other_cgroup_settings_makes_its_own() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let ready = nsbox_dirs();
    let mut other = template();
    other.cgroup_pool(&pool).pids_limit(20).command("/bin/sleep").arg("100");
    let mut c = other.spawn().unwrap();
    let max: u64 = pids_max_of(c.pid()).parse().unwrap();
    assert!((20..=22).contains(&max), "its own limit: {max}");
    let name = format!("nsbox-{}", c.id());
    assert!(ready.iter().all(|d| d.file_name().unwrap() != name.as_str()));
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    // Removed by wait itself, as without a pool.
    assert!(dirs_named(&name).is_empty());
    // An exact cgroup path is one container's own: never pooled.
    let exact = format!("nsbox-test-exact-{}", std::process::id());
    let status = template().cgroup_pool(&pool).cgroup_path(&exact).status().unwrap();
    assert!(status.success());
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.unmatched, stats.ready), (0, 2, 1), "{stats:?}");
    assert_eq!(nsbox_dirs(), ready, "the ready cgroup stays ready");
}

#[test]
fn without_a_pid_namespace_wait_kills_what_is_left_and_removes_the_cgroup_itself() {
    let serial = common::exclusive();
    if !root() {
        return;
    }
    let mut no_pidns = template();
    no_pidns.namespaces(Namespaces::all() - Namespaces::PID);
    let pool = full_pool(&no_pidns, 1);
    let mut c = no_pidns
        .cgroup_pool(&pool)
        .command("/bin/sh")
        .args(["-c", "sleep 60 & echo $!"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let orphan = common::first_line_pid(&mut c);
    let name = format!("nsbox-{}", c.id());
    c.wait().unwrap();
    // Nothing deferred: the cgroup is gone when wait returns, its last process killed.
    assert!(dirs_named(&name).is_empty(), "{:?}", dirs_named(&name));
    wait_until("the background process to die", LIMIT, || {
        std::fs::read_to_string(format!("/proc/{orphan}/stat")).map_or(true, |s| s.contains(") Z "))
    });
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.returned), (1, 0), "{stats:?}");
    drop(serial);
}

#[test]
fn a_failed_spawn_removes_the_pooled_cgroup_it_took() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let ready = nsbox_dirs();
    let err = template()
        .cgroup_pool(&pool)
        .command("/nonexistent/program")
        .spawn()
        .unwrap_err();
    assert!(matches!(err, Error::Setup(_)), "{err:?}");
    // Removed by the spawn itself or, once the setup process is reaped, by the pool.
    assert!(pool.wait_removed(LIMIT));
    for dir in &ready {
        assert!(!dir.exists(), "{} left by the failed spawn", dir.display());
    }
    assert_eq!(pool.stats().hits, 1);
}

#[test]
fn templates_without_a_cgroup_to_make_are_refused() {
    let refused = |builder: &ContainerBuilder, size: usize| match CgroupPool::new(builder, size) {
        Err(Error::Pool(e @ PoolError::CgroupTemplate { .. })) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(refused(&template(), 0).contains("at least one"));
    let mut plain = Container::builder();
    plain.command("/bin/true");
    assert!(refused(&plain, 1).contains("no cgroup"));
    let mut exact = template();
    exact.cgroup_path("/nsbox-test-never-made");
    assert!(refused(&exact, 1).contains("exact cgroup path"));
}

#[test]
fn many_threads_share_a_pool_and_dropping_it_leaves_nothing() {
    let serial = common::exclusive();
    if !root() {
        return;
    }
    let before_dirs = nsbox_dirs();
    let before = Snapshot::take();
    let pool = full_pool(&template(), 2);
    let outliving = sleeper(&pool);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let pool = pool.clone();
            s.spawn(move || {
                for _ in 0..8 {
                    let status = template().cgroup_pool(&pool).status().unwrap();
                    assert!(status.success());
                }
            });
        }
    });
    let stats = pool.stats();
    assert_eq!(stats.hits + stats.misses, 33, "{stats:?}");
    assert_eq!(stats.failed_removals, 0);
    // The pool goes first: the container reaped after it removes its own cgroup.
    drop(pool);
    let name = format!("nsbox-{}", outliving.id());
    let mut outliving = outliving;
    outliving.kill(Signal::SIGKILL).unwrap();
    outliving.wait().unwrap();
    assert!(dirs_named(&name).is_empty(), "{name} left after the pool was dropped");
    drop(outliving);
    assert_eq!(nsbox_dirs(), before_dirs, "cgroups left");
    before.assert_unchanged("a cgroup pool used from four threads, then dropped");
    drop(serial);
}

/// The pools are shared across threads (builders hold clones), and a container holding a
/// pool's return handles still moves between threads.
#[test]
fn pools_and_containers_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CgroupPool>();
    send_sync::<nsbox::NamespacePool>();
    send_sync::<nsbox::Pool>();
    send_sync::<Container>();
    send_sync::<ContainerBuilder>();
}
