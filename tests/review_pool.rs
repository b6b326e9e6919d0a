//! Review of warm pools (`nsbox::Pool`) against a hostile payload: a pooled payload gets exactly
//! a cold spawn's confinement (capabilities, no_new_privs, seccomp, session), its seccomp
//! filter is the template's and not one widened by what the parked launcher needs, and the
//! pool's counters account for every spawn.

mod common;

use std::time::Duration;

use common::{exclusive, root, root_and_busybox, wait_until};
use nsbox::{ConfigError, Container, ContainerBuilder, Error, Pool, Profile, Seccomp, StartKind, Stdio};

const PARK_LIMIT: Duration = Duration::from_secs(30);

fn wait_parked(pool: &Pool, count: usize) {
    wait_until("the pool to park its containers", PARK_LIMIT, || {
        pool.stats().parked >= count
    });
}

/// The confinement a payload reports about itself: its capability sets, no_new_privs, seccomp
/// mode and filter count from /proc/self/status, and whether it leads its own session.
const CONFINEMENT: &str = r#"grep -E '^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp|Seccomp_filters|Uid|Gid|Groups):' /proc/$$/status; set -- $(cat /proc/$$/stat); [ "$6" = "$$" ] && echo session-leader || echo "sid $6 pid $$""#;

fn confinement_of_cold(mut template: ContainerBuilder) -> String {
    let out = template
        .command("/bin/sh")
        .args(["-c", CONFINEMENT])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn confinement_of_pooled(pool: &Pool) -> String {
    wait_parked(pool, 1);
    let c = pool
        .spawn(|run| run.command("/bin/sh").args(["-c", CONFINEMENT]).stdout(Stdio::piped()))
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_pooled_payload_is_confined_exactly_as_a_cold_one() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    type Template = fn() -> ContainerBuilder;
    let templates: [(&str, Template); 3] = [
        ("default", Container::builder),
        ("sandbox", || {
            let mut b = Container::builder();
            b.profile(Profile::Sandbox);
            b
        }),
        ("fixture", || {
            let mut b = Container::builder();
            b.profile(Profile::Fixture);
            b
        }),
    ];
    for (name, template) in templates {
        let pool = Pool::new(template(), 1).unwrap();
        let pooled = confinement_of_pooled(&pool);
        let cold = confinement_of_cold(template());
        assert!(cold.contains("NoNewPrivs:\t1"), "{name}: {cold}");
        assert!(cold.contains("session-leader"), "{name}: {cold}");
        assert_eq!(
            pooled, cold,
            "{name}: a pooled payload's confinement differs from a cold one's"
        );
        drop(pool);
    }
}

/// What busybox's `sh -c 'cd DIR'` calls (strace), except `chdir`.
#[cfg(target_arch = "x86_64")]
const SHELL_WITHOUT_CHDIR: &[&str] = &[
    "arch_prctl",
    "brk",
    "getcwd",
    "getpid",
    "getppid",
    "getrandom",
    "getuid",
    "mprotect",
    "newfstatat",
    "prctl",
    "prlimit64",
    "readlink",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "set_robust_list",
    "set_tid_address",
    "uname",
    "fstat",
    "stat",
    "lstat",
];
#[cfg(not(target_arch = "x86_64"))]
const SHELL_WITHOUT_CHDIR: &[&str] = &[
    "brk",
    "getcwd",
    "getpid",
    "getppid",
    "getrandom",
    "getuid",
    "mprotect",
    "newfstatat",
    "prctl",
    "prlimit64",
    "readlinkat",
    "rseq",
    "rt_sigaction",
    "rt_sigprocmask",
    "set_robust_list",
    "set_tid_address",
    "uname",
    "fstat",
];

const CD: &str = "cd /tmp && echo moved || echo refused";

fn cd_cold(seccomp: Seccomp) -> String {
    let out = Container::builder()
        .seccomp(seccomp)
        .command("/bin/busybox")
        .args(["sh", "-c", CD])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn cd_pooled(pool: &Pool) -> String {
    wait_parked(pool, 1);
    let c = pool
        .spawn(|run| {
            run.command("/bin/busybox")
                .args(["sh", "-c", CD])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
        })
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
}

/// A pool used to add `recvmsg`, `mmap`, `dup3` and `chdir` to an allow list for its parked
/// launcher, and the payload inherited them: `cd` worked in a pooled container whose template
/// (and cold spawn) refuses it. An allow list lacking one is now refused, as a deny list naming
/// one is; one naming them all pools, with the cold spawn's filter.
#[test]
fn a_pool_never_widens_an_allow_list_for_its_payload() {
    if !root_and_busybox() {
        return;
    }
    let _serial = exclusive();
    let without_chdir = Seccomp::allow(SHELL_WITHOUT_CHDIR);
    assert_eq!(cd_cold(without_chdir.clone()), "refused\n");
    let mut template = Container::builder();
    template.seccomp(without_chdir);
    match Pool::new(template, 1) {
        Err(Error::Config(ConfigError::SeccompDeniesLauncherSyscall { syscall })) => {
            assert!(
                ["recvmsg", "mmap", "dup3", "chdir", "prctl"].contains(&syscall.as_str()),
                "{syscall}"
            );
        }
        Err(e) => panic!("{e}"),
        Ok(pool) => assert_eq!(
            cd_pooled(&pool),
            "refused\n",
            "the pool widened the template's allow list"
        ),
    }
    let with_pool_syscalls = SHELL_WITHOUT_CHDIR
        .iter()
        .copied()
        .chain(["recvmsg", "mmap", "dup3", "chdir", "prctl"]);
    let allowed = Seccomp::allow(with_pool_syscalls);
    let mut template = Container::builder();
    template.seccomp(allowed.clone());
    let pool = Pool::new(template, 1).unwrap();
    assert_eq!(cd_pooled(&pool), cd_cold(allowed));
    assert_eq!(pool.stats().failed_refills, 0);
}

/// Every spawn is counted once: a handed-out container whose payload could not be executed was
/// a hit (the parked container was used up), not nothing.
#[test]
fn pool_stats_count_a_failed_handout() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let pool = Pool::new(Container::builder(), 1).unwrap();
    wait_parked(&pool, 1);
    let err = pool.spawn(|run| run.command("/nonexistent/command")).unwrap_err();
    assert!(matches!(err, Error::Setup(_)), "{err}");
    let stats = pool.stats();
    assert_eq!(stats.hits + stats.cold_starts, 1, "one spawn, counted once: {stats:?}");
}

/// Handed-out containers are the caller's and outlive the pool (docs/pool.md). A container
/// without an init keeps its setup's `PR_SET_PDEATHSIG`, which follows the *thread* that
/// spawned it: for a pooled one, the refill thread, which ends when the pool is dropped.
#[test]
fn a_handed_out_container_without_an_init_outlives_its_pool() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let mut template = Container::builder();
    template.init(false);
    let pool = match Pool::new(template, 1) {
        Ok(pool) => pool,
        // Refusing the template is as good as keeping the promise.
        Err(Error::Pool(nsbox::PoolError::Template { method: "init", .. })) => return,
        Err(e) => panic!("{e}"),
    };
    wait_parked(&pool, 1);
    let mut c = pool.spawn(|run| run.command("/bin/sleep").arg("30")).unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    drop(pool);
    // The refill thread is joined; its death signal, if any, follows at once. Two seconds is
    // only a generous bound for it to arrive.
    let status = c.wait_timeout(Duration::from_secs(2)).unwrap();
    assert!(
        status.is_none(),
        "the pool's drop killed a handed-out container: {status:?}"
    );
    c.kill(nsbox::Signal::SIGKILL).unwrap();
}

const NAMESPACES: [&str; 7] = ["mnt", "pid", "net", "ipc", "uts", "cgroup", "user"];

fn namespaces_of_pooled(pool: &Pool) -> Vec<String> {
    let script = NAMESPACES.map(|ns| format!("readlink /proc/self/ns/{ns}")).join("; ");
    let c = pool
        .spawn(|run| run.command("/bin/sh").args(["-c", &script]).stdout(Stdio::piped()))
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let out = c.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Two containers parked side by side share no namespace the template makes (namespace ids
/// are only unique among live ones: both are parked before either runs).
#[test]
fn pooled_containers_share_no_namespace_they_make() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let pool = Pool::new(Container::builder(), 2).unwrap();
    wait_parked(&pool, 2);
    let first = namespaces_of_pooled(&pool);
    let second = namespaces_of_pooled(&pool);
    assert_eq!(first.len(), NAMESPACES.len(), "{first:?}");
    let mut made = 0;
    for ((ns, a), b) in NAMESPACES.iter().zip(&first).zip(&second) {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        if *a == host.to_string_lossy() {
            assert_eq!(a, b, "{ns}: the template shares the host's, so both do");
            continue;
        }
        made += 1;
        assert_ne!(a, b, "{ns}: two pooled containers share one");
    }
    assert!(
        made >= 5,
        "the default template makes mnt, pid, net, ipc, uts: {first:?}"
    );
}

/// The directories of cgroup parent `name`, one per hierarchy that has it.
fn parent_dirs(name: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .chain(std::iter::once(std::path::PathBuf::from("/sys/fs/cgroup")))
        .map(|p| p.join(name))
        .filter(|p| p.is_dir())
        .collect()
}

/// In a template without a PID namespace a payload sees the other parked containers'
/// launchers, which wait with its own uid and capabilities: if it could pass their ptrace
/// access check it could `ptrace` them or `pidfd_getfd` their socket and take the next run's
/// message, stdio and payload. It cannot (checked through `/proc/PID/fd/0`, which asks the
/// same check; listing `/proc/PID/fd` asks only the owner's): with a user namespace per
/// container the check wants `CAP_SYS_PTRACE` in the launcher's; without one (the same uid
/// and capabilities in the same namespace) a parked launcher used to pass it, being dumpable,
/// and is now undumpable until its payload's `execve`.
#[test]
fn a_payload_cannot_reach_another_parked_launcher() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    use nsbox::Namespaces;
    for namespaces in [
        Namespaces::all() - Namespaces::PID,
        Namespaces::all() - Namespaces::PID - Namespaces::USER,
    ] {
        payload_cannot_reach_another_parked_launcher(namespaces);
    }
}

fn payload_cannot_reach_another_parked_launcher(namespaces: nsbox::Namespaces) {
    let marker = format!("nsbox-review-pool-reach-{}", std::process::id());
    let mut template = Container::builder();
    template.namespaces(namespaces).cgroup_parent(&marker);
    let pool = Pool::new(template, 2).unwrap();
    wait_parked(&pool, 2);
    // Every launcher of this pool (its cgroup is a sibling of the payload's, `/../ID` in the
    // payload's cgroup namespace) but the shell's own process.
    let script = r#"n=0; for p in /proc/[0-9]*; do
             [ "${p#/proc/}" = "$$" ] && continue
             tr '\0' ' ' 2>/dev/null < $p/cmdline | grep -q '^nsbox-exec' || continue
             grep -q ':/\.\./[^/]*$' 2>/dev/null $p/cgroup || continue
             n=$((n+1)); readlink $p/fd/0 >/dev/null 2>&1 && echo "reached $p"
           done; echo "launchers $n"
           sleep 30 & readlink /proc/$!/fd/0 >/dev/null && echo "reached own child"; kill $!"#;
    let c = pool
        .spawn(|run| run.command("/bin/sh").args(["-c", script]).stdout(Stdio::piped()))
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let out = String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap();
    // The other one parked, and maybe the refill thread's next.
    assert!(
        !out.ends_with("launchers 0\n"),
        "the other parked launcher is not seen: {out}"
    );
    // The probe works: the payload passes the check for its own child.
    assert!(out.contains("reached own child"), "{out}");
    assert!(!out.contains("reached /proc"), "{namespaces:?}: {out}");
    drop(pool);
    for dir in parent_dirs(&marker) {
        std::fs::remove_dir(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
}

/// A pool of a template without an init parks on the process-wide spawner thread: dropping
/// it at once, while that thread is setting a container up, still kills, reaps and removes
/// everything it parked.
#[test]
fn dropping_an_init_less_pool_mid_setup_leaves_nothing() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = format!("nsbox-review-pool-drop-{}", std::process::id());
    let template = || {
        let mut b = Container::builder();
        b.init(false).cgroup_parent(&parent);
        b
    };
    // Warm up: the spawner thread and what a first spawn allocates once per process.
    let pool = Pool::new(template(), 1).unwrap();
    wait_parked(&pool, 1);
    drop(pool);
    let before = common::Snapshot::take();
    for _ in 0..5 {
        drop(Pool::new(template(), 2).unwrap());
    }
    let pool = Pool::new(template(), 2).unwrap();
    wait_parked(&pool, 2);
    drop(pool);
    before.assert_unchanged("after init-less pools were dropped");
    for dir in parent_dirs(&parent) {
        let children = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .count();
        assert_eq!(children, 0, "cgroups left under {}", dir.display());
        std::fs::remove_dir(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
}
