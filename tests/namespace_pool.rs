//! Pre-made user and network namespaces (`nsbox::NamespacePool`, issue 17): a spawn naming
//! the pool is born in a pair made ahead of time, which is its own (its root has every
//! capability over its network, the network belongs to its user namespace, the id maps are
//! the configuration's, the loopback is up), used once; a spawn that does not match makes its
//! own; the intermediate that enters the pair is gone before anything of the container runs;
//! the caller stays dumpable; dropping the pool leaves nothing behind.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Snapshot, sh_builder, stdout_of};
use nsbox::{
    Capability, Container, ContainerBuilder, Error, IdMap, NamespacePool, Namespaces, Network, PoolError, Signal,
};

/// A generous bound for the refill thread to make what a test waits for.
const FILL_LIMIT: Duration = Duration::from_secs(30);

fn template() -> ContainerBuilder {
    let mut b = Container::builder();
    b.namespaces(Namespaces::all()).command("/bin/true");
    b
}

fn full_pool(size: usize) -> NamespacePool {
    let pool = NamespacePool::new(&template(), size).unwrap();
    assert!(pool.wait_full(FILL_LIMIT), "the pool did not fill: {:?}", pool.stats());
    pool
}

/// The test lock and a full pool of `size`; `None` (skipped with a reason) without root.
fn serial_pool(size: usize) -> Option<(std::sync::MutexGuard<'static, ()>, NamespacePool)> {
    let serial = common::exclusive();
    common::root().then(|| (serial, full_pool(size)))
}

/// A sleeping container of the template, through `pool`.
fn sleeper(pool: &NamespacePool) -> Container {
    template()
        .namespace_pool(pool)
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap()
}

fn ns_inode(pid: u32, name: &str) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{name}")).unwrap().ino()
}

fn finish(mut container: Container) {
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
}

/// What the payload sees of its user and network namespaces, and what its root may do there:
/// change lo's MTU (CAP_NET_ADMIN over the network namespace), mount a tmpfs (over the mount
/// namespace, which the pair's user namespace owns too).
const PROBE: &str = "cat /proc/self/uid_map /proc/self/gid_map; cat /sys/class/net/lo/flags; \
    busybox ip link set lo mtu 1400 && cat /sys/class/net/lo/mtu; \
    mount -t tmpfs t /tmp && echo mounted";

#[test]
fn a_spawn_is_born_in_a_pre_made_pair_that_is_its_own() {
    let _serial = common::exclusive();
    if !common::root_and_busybox() {
        return;
    }
    let pool = full_pool(1);
    let probe = || {
        let mut b = sh_builder(PROBE);
        b.namespaces(Namespaces::all())
            .cap_add(Capability::CAP_NET_ADMIN)
            .cap_add(Capability::CAP_SYS_ADMIN);
        b
    };
    let cold = stdout_of(&probe().output().unwrap());
    assert_eq!(pool.stats().hits, 0, "a builder without the pool does not use it");
    let warm = stdout_of(&probe().namespace_pool(&pool).output().unwrap());
    assert_eq!(pool.stats().hits, 1, "{:?}", pool.stats());
    // The same maps, lo up (IFF_UP | IFF_LOOPBACK | IFF_RUNNING...), the same powers.
    assert_eq!(warm, cold);
    assert!(warm.contains("0x9") && warm.contains("1400\nmounted"), "{warm}");
}

#[test]
fn the_network_belongs_to_the_containers_user_namespace_and_each_pair_is_used_once() {
    let Some((_serial, pool)) = serial_pool(2) else { return };
    let host = (
        ns_inode(std::process::id(), "user"),
        ns_inode(std::process::id(), "net"),
    );
    let mut seen = BTreeSet::new();
    let mut containers = Vec::new();
    for _ in 0..4 {
        assert!(pool.wait_full(FILL_LIMIT));
        let container = sleeper(&pool);
        let pid = container.pid();
        let (user, net) = (ns_inode(pid, "user"), ns_inode(pid, "net"));
        assert_ne!((user, net), host);
        assert_eq!(
            common::owner_of(pid, "net"),
            user,
            "the pair's network belongs to its user namespace"
        );
        for name in ["mnt", "ipc", "uts", "pid", "cgroup"] {
            assert_eq!(common::owner_of(pid, name), user, "the container's {name} namespace");
        }
        assert!(seen.insert(user) && seen.insert(net), "a pair was used twice");
        containers.push(container);
    }
    assert_eq!(pool.stats().hits, 4, "{:?}", pool.stats());
    containers.into_iter().for_each(finish);
}

#[test]
fn a_spawn_that_does_not_match_the_pool_makes_its_own() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let other_maps = template()
        .namespace_pool(&pool)
        .uid_map([IdMap::new(0, 300_000, 65536)])
        .gid_map([IdMap::new(0, 300_000, 65536)])
        .status()
        .unwrap();
    assert!(other_maps.success());
    let host_network = template()
        .namespace_pool(&pool)
        .network(Network::Host)
        .status()
        .unwrap();
    assert!(host_network.success());
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.unmatched, stats.ready), (0, 2, 1), "{stats:?}");
    // And one that matches but finds none ready makes its own too.
    let drained = template().namespace_pool(&pool).status().unwrap();
    let again = template().namespace_pool(&pool).status().unwrap();
    assert!(drained.success() && again.success());
    let stats = pool.stats();
    assert_eq!(stats.hits + stats.misses, 2, "{stats:?}");
    assert!(stats.hits >= 1, "{stats:?}");
}

#[test]
fn a_template_without_both_namespaces_or_an_empty_pool_is_refused() {
    let refused = |b: &ContainerBuilder, size| match NamespacePool::new(b, size) {
        Err(Error::Pool(PoolError::NamespaceTemplate { why })) => why,
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut no_net = template();
    no_net.namespaces(Namespaces::all() - Namespaces::NET);
    assert!(refused(&no_net, 1).contains("user and network"));
    let mut host = template();
    host.network(Network::Host);
    assert!(refused(&host, 1).contains("Network::None"));
    assert!(refused(&template(), 0).contains("at least one"));
}

/// Only the setup process is the caller's child when the container is released: the
/// intermediate, which shared the caller's memory inside the pair's user namespace, is gone.
#[test]
fn the_intermediate_is_gone_before_anything_of_the_container_runs() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let out = sh_builder("true")
        .namespaces(Namespaces::all())
        .namespace_pool(&pool)
        .on_created(move |pid| {
            // The caller's children in the setup process's user namespace: the refill's next
            // holder, a child too, is in a user namespace of its own.
            let userns = ns_inode(pid, "user");
            let inside: Vec<u32> = common::children_of(std::process::id())
                .into_iter()
                .filter(|child| std::fs::metadata(format!("/proc/{child}/ns/user")).is_ok_and(|m| m.ino() == userns))
                .collect();
            record
                .lock()
                .unwrap()
                .push(format!("in its user namespace {inside:?} setup {pid}"));
            Ok(())
        })
        .output()
        .unwrap();
    stdout_of(&out);
    assert_eq!(pool.stats().hits, 1);
    let seen = seen.lock().unwrap().clone();
    let setup = seen[0].rsplit(' ').next().unwrap();
    assert_eq!(seen, [format!("in its user namespace [{setup}] setup {setup}")]);
}

/// The intermediate joins the pair on the caller's memory: the join must not touch the
/// memory's dumpable flag (`commit_creds` resets it unless the new user namespace is a child
/// of the old one owned by its euid, which a pair's is).
#[test]
fn the_caller_stays_dumpable() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    // SAFETY: prctl without pointers.
    let dumpable = || unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
    assert_eq!(dumpable(), 1);
    let pool = full_pool(2);
    for _ in 0..2 {
        assert!(template().namespace_pool(&pool).status().unwrap().success());
    }
    assert_eq!(pool.stats().hits, 2);
    assert_eq!(dumpable(), 1, "a pair's join changed the caller's dumpable flag");
}

#[test]
fn a_pool_and_its_containers_leave_nothing_behind() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    // The pools' refill threads by name: other tests' threads may come and go meanwhile.
    let threads = || {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "nsbox-nspool"))
            .count()
    };
    let (before, threads_before) = (Snapshot::take(), threads());
    {
        let pool = full_pool(3);
        let builder = template().namespace_pool(&pool).clone();
        for _ in 0..3 {
            assert!(pool.wait_full(FILL_LIMIT));
            assert!(builder.clone().status().unwrap().success());
        }
        // A failing one: the pair is used up, nothing of it stays.
        assert!(pool.wait_full(FILL_LIMIT));
        let failed = builder.clone().command("/nonexistent").status();
        assert!(failed.is_err());
        assert_eq!(pool.stats().hits, 4, "{:?}", pool.stats());
        // The builder's clone keeps the pool alive; both go here.
    }
    before.assert_unchanged("a namespace pool");
    common::wait_until("the refill thread to end", FILL_LIMIT, || threads() == threads_before);
}

/// Exec into a container born in a pair joins the pair's namespaces, as for any container.
#[test]
fn exec_into_a_container_born_in_a_pair_is_in_its_namespaces() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let container = sleeper(&pool);
    assert_eq!(pool.stats().hits, 1);
    let out = container
        .exec()
        .command("/bin/sh")
        .args(["-c", "readlink /proc/self/ns/user; readlink /proc/self/ns/net"])
        .output()
        .unwrap();
    let expected = format!(
        "user:[{}]\nnet:[{}]\n",
        ns_inode(container.pid(), "user"),
        ns_inode(container.pid(), "net")
    );
    assert_eq!(stdout_of(&out), expected);
    finish(container);
}

/// Two pools refilling at once beside a fork that never executes (it holds a copy of every fd
/// of the caller): each holder keeps only its own pipe, so neither waits for the other, and both
/// pools fill and drop.
#[test]
fn two_pools_fill_beside_each_other_and_a_lingering_fork() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    // SAFETY: the child only sleeps and exits (async-signal-safe calls).
    let lingering = unsafe { libc::fork() };
    if lingering == 0 {
        // SAFETY: as above.
        unsafe {
            libc::sleep(60);
            libc::_exit(0);
        }
    }
    let (a, b) = (
        NamespacePool::new(&template(), 3).unwrap(),
        NamespacePool::new(&template(), 3).unwrap(),
    );
    let filled = (a.wait_full(FILL_LIMIT), b.wait_full(FILL_LIMIT));
    // SAFETY: the child forked above.
    unsafe {
        libc::kill(lingering, libc::SIGKILL);
        libc::waitpid(lingering, std::ptr::null_mut(), 0);
    }
    assert_eq!(filled, (true, true), "{:?} {:?}", a.stats(), b.stats());
    assert!(template().namespace_pool(&a).status().unwrap().success());
    assert!(template().namespace_pool(&b).status().unwrap().success());
    assert_eq!((a.stats().hits, b.stats().hits), (1, 1));
    drop((a, b));
}

/// Root mapped to an unprivileged host id: the setup process cannot share the caller's memory
/// (its credential change would reset the dumpable flag), so the intermediate, which does,
/// forks it. With a pids limit: the cgroup is joined from inside the pair too.
#[test]
fn a_pair_with_unprivileged_maps_and_limits_forks_its_setup_process() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut builder = template();
    builder
        .uid_map([IdMap::new(0, 300_000, 65536)])
        .gid_map([IdMap::new(0, 300_000, 65536)])
        .pids_limit(32);
    let pool = NamespacePool::new(&builder, 1).unwrap();
    assert!(pool.wait_full(FILL_LIMIT));
    let out = builder
        .namespace_pool(&pool)
        .command("/bin/sh")
        .args(["-c", "cat /proc/self/uid_map; cat /sys/class/net/lo/flags"])
        .output()
        .unwrap();
    assert_eq!(pool.stats().hits, 1, "{:?}", pool.stats());
    let text = stdout_of(&out);
    let fields: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(fields, ["0", "300000", "65536", "0x9"]);
}

/// A spawn without IPC and UTS namespaces of its own uses a pair's user and network namespaces
/// only: it stays in the caller's IPC and UTS namespaces, as without the pool.
#[test]
fn a_spawn_without_ipc_and_uts_namespaces_keeps_the_callers() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let mut builder = template();
    builder
        .namespaces(Namespaces::all() - Namespaces::IPC - Namespaces::UTS)
        .namespace_pool(&pool);
    let container = builder.command("/bin/sleep").arg("100").spawn().unwrap();
    assert_eq!(pool.stats().hits, 1, "{:?}", pool.stats());
    let me = std::process::id();
    for name in ["ipc", "uts"] {
        assert_eq!(ns_inode(container.pid(), name), ns_inode(me, name), "{name}");
    }
    assert_ne!(ns_inode(container.pid(), "net"), ns_inode(me, "net"));
    finish(container);
}

/// The fds of this process that are the mount namespace `link` (`mnt:[inode]`).
fn held(link: &str) -> usize {
    common::fds_to(std::path::Path::new(link))
}

/// The caller holds a container's mount namespace while it runs (so that its init does not
/// tear the mounts down in its exit), and the pool's thread releases it once the container is
/// reaped; a container reaped after its pool is gone releases its own.
#[test]
fn the_pool_holds_the_containers_mount_namespace_and_releases_it_after_the_reap() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let container = sleeper(&pool);
    let link = std::fs::read_link(format!("/proc/{}/ns/mnt", container.pid()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(held(&link), 1, "the caller holds {link} while the container runs");
    finish(container);
    assert!(pool.wait_released(FILL_LIMIT));
    assert_eq!(held(&link), 0, "{link} released after the reap");
    // A container that outlives its pool releases its own at the reap.
    assert!(pool.wait_full(FILL_LIMIT));
    let outliving = sleeper(&pool);
    let link = std::fs::read_link(format!("/proc/{}/ns/mnt", outliving.pid()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(held(&link), 1);
    drop(pool);
    finish(outliving);
    assert_eq!(held(&link), 0, "{link} released by the reap itself");
}

/// The mount namespace the caller holds for one container never reaches another's payload:
/// a second pair-born container, spawned while the first runs, sees only its stdio.
#[test]
fn a_held_mount_namespace_is_not_among_another_payloads_fds() {
    let Some((_serial, pool)) = serial_pool(2) else { return };
    let first = sleeper(&pool);
    let link = std::fs::read_link(format!("/proc/{}/ns/mnt", first.pid())).unwrap();
    assert_eq!(common::fds_to(&link), 1, "held by the caller");
    let out = sh_builder("ls /proc/self/fd").namespace_pool(&pool).output().unwrap();
    let fds: Vec<String> = stdout_of(&out).split_whitespace().map(str::to_owned).collect();
    // 0-2, and the one `ls` opened to read the directory.
    assert!(
        fds.len() <= 4 && ["0", "1", "2"].iter().all(|f| fds.iter().any(|x| x == f)),
        "{fds:?}"
    );
    assert_eq!(pool.stats().hits, 2);
    finish(first);
}

/// A pair carries the container's /dev and /sys made ahead (where the kernel can make them):
/// a spawn attaches them, and its payload sees exactly what a cold spawn's fresh mounts give
/// (entries, modes, owners, device numbers, mount options, superblocks, its own network in
/// /sys, its own IPC namespace's mqueue).
#[test]
fn a_pairs_pre_made_dev_and_sys_are_what_fresh_mounts_give() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    let cold = stdout_of(&sh_builder(common::DEV_AND_SYS_VIEW).output().unwrap());
    let warm = stdout_of(
        &sh_builder(common::DEV_AND_SYS_VIEW)
            .namespace_pool(&pool)
            .output()
            .unwrap(),
    );
    let stats = pool.stats();
    assert_eq!(stats.hits, 1, "{stats:?}");
    let expected = u64::from(common::kernel_mounts_in_detached_trees());
    // Without the kernel's support the first pair's trees fail, and the pool stops asking.
    assert_eq!(
        (stats.premade_mounts, stats.failed_premade_mounts),
        (expected, 1 - expected),
        "{stats:?}"
    );
    assert_eq!(warm, cold);
    for line in [
        "/dev rw,nosuid tmpfs",
        "/dev/pts rw,nosuid,noexec",
        "/dev/null ro,",
        "/sys ro,",
    ] {
        assert!(warm.contains(line), "{line} in:\n{warm}");
    }
    assert!(warm.ends_with("\nlo\n"), "{warm}");
    // The mqueue is the container's IPC namespace's, not the host's.
    assert!(pool.wait_full(FILL_LIMIT));
    let queue = common::unique("nsbox-q");
    let out = sh_builder(&format!("touch /dev/mqueue/{queue} && ls /dev/mqueue"))
        .namespace_pool(&pool)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), format!("{queue}\n"));
    assert!(!std::path::Path::new("/dev/mqueue").join(&queue).exists());
    assert_eq!(pool.stats().premade_mounts, 2 * expected);
}

/// A spawn whose /dev would differ from the template's (another /dev/shm size, or without its
/// own mount namespace) still gets the pair, mounts its own /dev and /sys, and the pair's
/// trees are released on the pool's thread: nothing of them stays.
#[test]
fn a_spawn_with_another_dev_gets_the_pair_without_its_trees() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let before = Snapshot::take();
    let pool = full_pool(1);
    let out = sh_builder("grep ' /dev/shm ' /proc/self/mountinfo")
        .namespace_pool(&pool)
        .shm_size(1 << 20)
        .output()
        .unwrap();
    assert!(stdout_of(&out).contains("size=1024k"), "{}", stdout_of(&out));
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.premade_mounts), (1, 0), "{stats:?}");
    assert!(pool.wait_full(FILL_LIMIT));
    let mut builder = template();
    builder
        .namespaces(Namespaces::all() - Namespaces::MOUNT)
        .namespace_pool(&pool);
    assert!(builder.status().unwrap().success());
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.premade_mounts), (2, 0), "{stats:?}");
    assert!(pool.wait_released(FILL_LIMIT));
    assert!(pool.wait_full(FILL_LIMIT));
    drop((builder, pool));
    before.assert_unchanged("after the pool and its unused trees are gone");
}

/// A pool made with `namespaces_only` makes no trees; spawns mount their own.
#[test]
fn a_namespaces_only_pool_makes_no_trees() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let pool = NamespacePool::namespaces_only(&template(), 1).unwrap();
    assert!(pool.wait_full(FILL_LIMIT));
    let warm = stdout_of(
        &sh_builder(common::DEV_AND_SYS_VIEW)
            .namespace_pool(&pool)
            .output()
            .unwrap(),
    );
    let cold = stdout_of(&sh_builder(common::DEV_AND_SYS_VIEW).output().unwrap());
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.premade_mounts), (1, 0), "{stats:?}");
    assert_eq!(warm, cold);
}

/// With `receive_host_mounts` the host's device nodes in /dev are slaves of the host's mounts
/// in a cold spawn, and so they are in a pair's pre-made /dev made for such a template; a
/// spawn of the default (private) template does not take those trees.
#[test]
fn pre_made_device_nodes_receive_host_mounts_only_where_a_cold_spawn_would() {
    let _serial = common::exclusive();
    if !common::root_and_busybox() {
        return;
    }
    let mut slave = template();
    slave.receive_host_mounts();
    let pool = NamespacePool::new(&slave, 1).unwrap();
    assert!(pool.wait_full(FILL_LIMIT));
    let view = |b: &mut ContainerBuilder| {
        b.command("/bin/sh").args(["-c", common::DEV_AND_SYS_VIEW]);
        stdout_of(&b.output().unwrap())
    };
    let cold = view(template().receive_host_mounts());
    let warm = view(template().receive_host_mounts().namespace_pool(&pool));
    let expected = u64::from(common::kernel_mounts_in_detached_trees());
    assert_eq!(pool.stats().premade_mounts, expected, "{:?}", pool.stats());
    assert_eq!(warm, cold);
    // Slaves where the caller's mount holding /dev/null propagates (shared, as systemd makes
    // /dev, or itself a slave; not in the v2 VM), as in the cold spawn above.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let holding = mountinfo
        .lines()
        .filter(|l| {
            let point = l.split(' ').nth(4).unwrap_or_default();
            ["/", "/dev", "/dev/null"].contains(&point)
        })
        .max_by_key(|l| l.split(' ').nth(4).unwrap_or_default().len())
        .unwrap_or_default();
    let propagates = holding.contains(" shared:") || holding.contains(" master:");
    let slave = warm
        .lines()
        .any(|l| l.starts_with("/dev/null ") && l.contains(" master:"));
    assert_eq!(slave, propagates, "{holding}\n{warm}");
    // The default template's spawn differs in propagation: the pair, but not its trees.
    assert!(pool.wait_full(FILL_LIMIT));
    let private = view(template().namespace_pool(&pool));
    assert_eq!(pool.stats().hits, 2);
    assert_eq!(pool.stats().premade_mounts, expected, "{:?}", pool.stats());
    assert!(
        private
            .lines()
            .any(|l| l.starts_with("/dev/null ") && !l.contains("master:")),
        "{private}"
    );
}

/// The kernel keeps one sysfs superblock per network namespace, and a copy of a pair's /sys
/// tree fd in a process forked meanwhile keeps it alive: a spawn that wants a writable /sys
/// from a pool whose template's is read-only does not take the pair (counted as unmatched) and
/// gets a writable sysfs of its own network namespace, with such a fork alive beside it.
#[test]
fn a_writable_sys_from_a_read_only_template_pool_is_writable() {
    let Some((_serial, pool)) = serial_pool(1) else { return };
    // A fork of this process holding copies of every fd (the ready pair's too) for 0.5 s.
    // SAFETY: the child only sleeps and exits (async-signal-safe calls).
    let lingering = match unsafe { libc::fork() } {
        0 => unsafe {
            libc::usleep(500_000);
            libc::_exit(0)
        },
        pid => pid,
    };
    assert!(lingering > 0, "fork: {}", std::io::Error::last_os_error());
    let out =
        sh_builder("grep ' /sys ' /proc/self/mountinfo; touch /sys/kernel/nsbox-probe 2>&1 | grep -c Read-only; true")
            .writable_sys()
            .namespace_pool(&pool)
            .output()
            .unwrap();
    // SAFETY: waits for our own child.
    unsafe { libc::waitpid(lingering, std::ptr::null_mut(), 0) };
    let text = stdout_of(&out);
    let stats = pool.stats();
    // A pair without trees (a kernel that makes none) is used: its sysfs is the spawn's own.
    let expected = match common::kernel_mounts_in_detached_trees() {
        true => (0, 1, 0),
        false => (1, 0, 0),
    };
    assert_eq!(
        (stats.hits, stats.unmatched, stats.premade_mounts),
        expected,
        "{stats:?}"
    );
    assert!(
        text.contains(" /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"),
        "{text}"
    );
    assert!(text.ends_with("0\n"), "no read-only error: {text}");
}
