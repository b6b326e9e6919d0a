//! Warm pools (`nsbox::Pool`): each run gets its own parked container with its own argv,
//! environment, working directory, stdio and tightened limits; the errors are a cold spawn's;
//! an empty pool starts cold and says so; dropping the pool leaves nothing behind.

mod common;

use std::fs;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use common::{Snapshot, exclusive, root, wait_until};
use nsbox::{
    ConfigError, Container, ContainerBuilder, Error, Pool, PoolError, Seccomp, Setting, SetupStep, StartKind, Stdio,
};

/// A generous bound for the refill thread to park what a test waits for.
const PARK_LIMIT: Duration = Duration::from_secs(30);

/// The usual template: a cgroup of its own under `parent` (so leaks can be counted), a pids
/// limit to tighten, stdout and stderr piped.
fn template(parent: &str) -> ContainerBuilder {
    let mut b = Container::builder();
    b.cgroup_parent(parent)
        .pids_limit(64)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    b
}

fn parent_name(test: &str) -> String {
    format!("nsbox-test-pool-{test}-{}", std::process::id())
}

/// The directories of cgroup parent `name`, one per hierarchy that has it.
fn parent_dirs(name: &str) -> Vec<PathBuf> {
    fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .chain(std::iter::once(PathBuf::from("/sys/fs/cgroup")))
        .map(|p| p.join(name))
        .filter(|p| p.is_dir())
        .collect()
}

/// The containers' cgroups left under parent `name` (by name: on cgroup v1 one container
/// has a directory in each hierarchy of its controllers).
fn cgroups_under(name: &str) -> Vec<std::ffi::OsString> {
    let names: std::collections::BTreeSet<_> = parent_dirs(name)
        .iter()
        .flat_map(|dir| fs::read_dir(dir).unwrap().flatten())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name())
        .collect();
    names.into_iter().collect()
}

/// Removes the (empty) parent directories a test made.
fn remove_parent(name: &str) {
    for dir in parent_dirs(name) {
        fs::remove_dir(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
}

fn wait_parked(pool: &Pool, count: usize) {
    wait_until("the pool to park its containers", PARK_LIMIT, || {
        pool.stats().parked >= count
    });
}

#[test]
fn per_run_argv_env_cwd_and_stdio_arrive() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("stdio");
    let pool = Pool::new(template(&parent), 2).unwrap();
    wait_parked(&pool, 1);
    let mut c = pool
        .spawn(|run| {
            run.command("/bin/sh")
                .args([
                    "-c",
                    r#"echo "$0 $1 $GREETING $(pwd)"; cat; echo oops >&2"#,
                    "zero",
                    "one",
                ])
                .env("GREETING", "hello")
                .current_dir("/proc")
                .stdin(Stdio::piped())
        })
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let mut stdin = c.take_stdin().expect("a piped stdin");
    stdin.write_all(b"from stdin\n").unwrap();
    drop(stdin);
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "zero one hello /proc\nfrom stdin\n"
    );
    assert_eq!(out.stderr, b"oops\n");
    // The template's argv and environment are not the run's: a run that sets nothing but the
    // command gets the template's environment and its own argv only.
    let out = pool
        .spawn(|run| run.command("/bin/sh").args(["-c", "echo ${GREETING:-unset} $#"]))
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert_eq!(out.stdout, b"unset 0\n");
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn two_runs_never_share_a_container() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("share");
    let pool = Pool::new(template(&parent), 2).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        wait_parked(&pool, 1);
        let c = pool
            .spawn(|run| {
                run.command("/bin/sh")
                    .args(["-c", "test -e /tmp/used && echo reused; touch /tmp/used; hostname"])
            })
            .unwrap();
        let id = c.id().to_string();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", out.status);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!text.contains("reused"), "a run saw the file of an earlier run: {text}");
        assert_eq!(text.trim(), id, "the hostname is the container's id");
        assert!(!seen.contains(&id), "container {id} handed out twice");
        seen.push(id);
    }
    assert_eq!(pool.stats().hits, 4);
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn a_missing_command_or_directory_fails_as_a_cold_spawn_does() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("missing");
    let pool = Pool::new(template(&parent), 1).unwrap();
    for command in [
        "/no/such/nsbox-command",
        "no-such-nsbox-command",
        "/etc/hostname",
        "/etc",
    ] {
        let cold = Container::builder().command(command).spawn().unwrap_err();
        let cold = cold.as_setup().unwrap_or_else(|| panic!("{command}: {cold}"));
        wait_parked(&pool, 1);
        let warm = pool.spawn(|run| run.command(command)).unwrap_err();
        let warm = warm.as_setup().unwrap_or_else(|| panic!("{command}: {warm}"));
        assert_eq!(warm.step, SetupStep::Exec, "{command}: {warm}");
        assert_eq!(
            (warm.step, warm.errno, &warm.path),
            (cold.step, cold.errno, &cold.path),
            "{command}"
        );
        assert_eq!(warm.hint(), cold.hint(), "{command}");
    }
    wait_parked(&pool, 1);
    let err = pool
        .spawn(|run| run.command("/bin/true").current_dir("/no/such/dir"))
        .unwrap_err();
    let err = err.as_setup().unwrap_or_else(|| panic!("{err}"));
    assert_eq!(err.step, SetupStep::Chdir);
    assert_eq!(err.errno, nsbox::Errno::ENOENT);
    // The pool goes on handing out containers after failed runs.
    wait_parked(&pool, 1);
    assert!(
        pool.spawn(|run| run.command("/bin/true"))
            .unwrap()
            .wait()
            .unwrap()
            .success()
    );
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn a_seccomp_template_still_confines_and_one_denying_the_launcher_is_refused() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("seccomp");
    let mut b = template(&parent);
    b.seccomp(Seccomp::deny(["mkdir", "mkdirat"]));
    let pool = Pool::new(b, 1).unwrap();
    wait_parked(&pool, 1);
    let out = pool
        .spawn(|run| run.command("/bin/sh").args(["-c", "mkdir /tmp/d && echo made"]))
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert!(!out.status.success(), "mkdir ran under a filter denying it");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not permitted"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(pool);
    for syscall in ["recvmsg", "dup3", "chdir", "mmap"] {
        let mut b = template(&parent);
        b.seccomp(Seccomp::deny([syscall]));
        let err = Pool::new(b, 1).unwrap_err();
        assert!(
            matches!(&err, Error::Config(ConfigError::SeccompDeniesLauncherSyscall { syscall: s }) if s == syscall),
            "{syscall}: {err}"
        );
    }
    remove_parent(&parent);
}

#[test]
fn dropping_a_pool_leaves_no_process_fd_mount_or_cgroup() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("drop");
    // Warm up: what a first spawn allocates once per process is not a leak.
    drop(Pool::new(template(&parent), 1).unwrap());
    let before = Snapshot::take();
    for round in 0..3 {
        let pool = Pool::new(template(&parent), 3).unwrap();
        wait_parked(&pool, 3);
        assert_eq!(cgroups_under(&parent).len(), 3, "one cgroup per parked container");
        let out = pool
            .spawn(|run| run.command("/bin/echo").arg(round.to_string()))
            .unwrap()
            .wait_with_output()
            .unwrap();
        assert_eq!(out.stdout, format!("{round}\n").into_bytes());
        // A run still going when the pool drops is the caller's: it lives on.
        let running = pool.spawn(|run| run.command("/bin/sleep").arg("60")).unwrap();
        drop(pool);
        assert_eq!(
            cgroups_under(&parent).len(),
            1,
            "the parked containers' cgroups are gone"
        );
        drop(running);
    }
    before.assert_unchanged("after 3 pools were dropped");
    assert_eq!(cgroups_under(&parent), Vec::<std::ffi::OsString>::new());
    remove_parent(&parent);
}

/// The host path of the pids cgroup of `pid` (v1 `pids` hierarchy, else the v2 tree).
fn pids_max_of(pid: u32) -> String {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1 = cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == "pids")
            .then(|| format!("/sys/fs/cgroup/pids{path}"))
    });
    let dir = v1.unwrap_or_else(|| {
        let path = cgroups.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        format!("/sys/fs/cgroup{path}")
    });
    fs::read_to_string(format!("{dir}/pids.max"))
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn a_tightened_pids_limit_is_in_force_and_a_looser_one_refused() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("limits");
    let mut b = template(&parent);
    // Without a PID namespace the payload is the container's first process: its cgroup is
    // the container's, seen from here.
    b.namespaces(nsbox::Namespaces::all() - nsbox::Namespaces::PID);
    let pool = Pool::new(b, 1).unwrap();
    wait_parked(&pool, 1);
    let script = "i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i+1)); done";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut c = pool
        .spawn(|run| {
            run.command("/bin/sh")
                // `read`: alive until its cgroup was read (a shell whose fork fails may exit,
                // and an exited process's cgroup reads as the root). `exec`: no fork left to
                // fail, so the shell (as sleep) stays until killed.
                .args(["-c", &format!("read go; {script}; exec sleep 30")])
                .stdin(Stdio::piped())
                .pids_limit(4)
                // A file, not a pipe: the background sleeps would hold a pipe open.
                .stderr(Stdio::from(fs::File::create(&log).unwrap()))
        })
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    assert_eq!(
        pids_max_of(c.pid()),
        "4",
        "the run's limit (no init without a PID namespace)"
    );
    c.take_stdin().unwrap().write_all(b"go\n").unwrap();
    wait_until("the shell to run into the limit", PARK_LIMIT, || {
        fs::read_to_string(&log).is_ok_and(|e| e.to_lowercase().contains("fork"))
    });
    let running = c.stats().unwrap().pids_current.expect("pids accounting");
    assert!(running <= 4, "{running} processes with a run's pids_limit(4)");
    c.kill(nsbox::Signal::SIGKILL).unwrap();
    drop(c);
    for (setting, err) in [
        (
            Setting::PidsLimit,
            pool.spawn(|run| run.command("/bin/true").pids_limit(65)).unwrap_err(),
        ),
        (
            Setting::MemoryLimit,
            pool.spawn(|run| run.command("/bin/true").memory_limit(64 << 20))
                .unwrap_err(),
        ),
        (
            Setting::CpuLimit,
            pool.spawn(|run| run.command("/bin/true").cpu_limit(0.5)).unwrap_err(),
        ),
    ] {
        assert!(
            matches!(&err, Error::Pool(PoolError::LimitNotTighter { setting: s, .. }) if *s == setting),
            "{setting}: {err}"
        );
    }
    // Refused before a container was taken: the parked one is still there.
    wait_parked(&pool, 1);
    assert_eq!(pool.stats().hits, 1);
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn an_empty_pool_starts_cold_and_says_so() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("cold");
    let pool = Pool::new(template(&parent), 1).unwrap();
    let (mut pooled, mut cold) = (0, 0);
    // Back to back, the refill thread (one setup per taken container) falls behind at once;
    // the bound only avoids a hang.
    for _ in 0..100 {
        let c = pool.spawn(|run| run.command("/bin/true")).unwrap();
        match c.setup_timings().start() {
            StartKind::Pooled => pooled += 1,
            StartKind::PoolFallback => cold += 1,
            other => panic!("a pool's container started as {other:?}"),
        }
        assert!(c.wait_with_output().unwrap().status.success());
        if cold > 0 && pooled > 0 {
            break;
        }
        if pooled == 0 {
            wait_parked(&pool, 1);
        }
    }
    assert!(cold > 0 && pooled > 0, "{pooled} pooled, {cold} cold");
    let stats = pool.stats();
    assert_eq!((stats.hits, stats.cold_starts), (pooled, cold), "{stats:?}");
    assert_eq!(stats.failed_refills, 0, "{stats:?}");
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn several_threads_spawn_from_one_pool() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("threads");
    let pool = Pool::new(template(&parent), 4).unwrap();
    wait_parked(&pool, 4);
    let ids = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..4 {
            let (pool, ids) = (&pool, &ids);
            s.spawn(move || {
                for i in 0..10 {
                    let word = format!("{t}-{i}");
                    let c = pool.spawn(|run| run.command("/bin/echo").arg(&word)).unwrap();
                    ids.lock().unwrap().push(c.id().to_string());
                    let out = c.wait_with_output().unwrap();
                    assert_eq!(out.stdout, format!("{word}\n").into_bytes());
                }
            });
        }
    });
    let mut ids = ids.into_inner().unwrap();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "a container was handed out twice");
    let stats = pool.stats();
    assert_eq!(stats.hits + stats.cold_starts, 40, "{stats:?}");
    assert!(stats.parked <= 4, "{stats:?}");
    drop(pool);
    assert_eq!(cgroups_under(&parent), Vec::<std::ffi::OsString>::new());
    remove_parent(&parent);
}

#[test]
fn templates_a_pool_cannot_park_are_refused() {
    let mut b = Container::builder();
    b.tty(true);
    let err = Pool::new(b, 1).unwrap_err();
    assert!(
        matches!(err, Error::Pool(PoolError::Template { method: "tty", .. })),
        "{err}"
    );
    let mut b = Container::builder();
    b.detach();
    assert!(matches!(
        Pool::new(b, 1).unwrap_err(),
        Error::Pool(PoolError::Template { method: "detach", .. })
    ));
    let mut b = Container::builder();
    b.move_network_device("veth-nsbox", "eth0");
    assert!(matches!(
        Pool::new(b, 1).unwrap_err(),
        Error::Pool(PoolError::Template {
            method: "move_network_device",
            ..
        })
    ));
    assert!(matches!(
        Pool::new(Container::builder(), 0).unwrap_err(),
        Error::Pool(PoolError::Empty)
    ));
}

#[test]
fn a_run_without_a_command_needs_one_from_the_template() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("command");
    let pool = Pool::new(template(&parent), 1).unwrap();
    let err = pool.spawn(|run| run).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config(ConfigError::Missing {
                setting: Setting::Command
            })
        ),
        "{err}"
    );
    drop(pool);
    let mut b = template(&parent);
    b.command("/bin/echo").arg("from the template");
    let pool = Pool::new(b, 1).unwrap();
    wait_parked(&pool, 1);
    let out = pool.spawn(|run| run).unwrap().wait_with_output().unwrap();
    assert_eq!(out.stdout, b"from the template\n");
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn a_run_holds_the_fds_a_cold_spawn_holds_and_nothing_of_the_pool() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("fds");
    let pool = Pool::new(template(&parent), 1).unwrap();
    // ls lists its own fds: 0-2 and the directory it reads (no pipeline: a shell's pipes
    // would show up while its children run).
    let script = "exec ls /proc/self/fd";
    let cold = template(&parent)
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    wait_parked(&pool, 1);
    let c = pool.spawn(|run| run.command("/bin/sh").args(["-c", script])).unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let warm = c.wait_with_output().unwrap();
    assert!(warm.status.success(), "{}", String::from_utf8_lossy(&warm.stderr));
    assert_eq!(
        String::from_utf8_lossy(&warm.stdout),
        String::from_utf8_lossy(&cold.stdout)
    );
    assert_eq!(String::from_utf8_lossy(&warm.stdout), "0\n1\n2\n3\n");
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn long_arguments_arrive_whole_and_too_long_ones_are_refused() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("long");
    let mut b = template(&parent);
    b.env("FROM_TEMPLATE", "yes");
    let pool = Pool::new(b, 1).unwrap();
    wait_parked(&pool, 1);
    // Several socket buffers' worth: the message is sent and read in pieces.
    let long = "x".repeat(100_000);
    let c = pool
        .spawn(|run| {
            run.command("/bin/sh")
                .args(["-c", r#"echo ${#0} ${#1} ${#LONG} $FROM_TEMPLATE"#, &long, &long])
                .env("LONG", &long)
        })
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let out = c.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "100000 100000 100000 yes\n");
    let too_long = "y".repeat(1 << 20);
    let err = pool.spawn(|run| run.command("/bin/true").arg(&too_long)).unwrap_err();
    assert!(matches!(err, Error::Pool(PoolError::TooLarge { .. })), "{err}");
    drop(pool);
    remove_parent(&parent);
}

/// The host directory of `pid`'s cgroup in the v1 hierarchy of `controller`, else the v2 tree.
fn cgroup_file_of(pid: u32, controller: &str, file: &str) -> String {
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let v1 = cgroups.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let mount = controllers.split(',').any(|c| c == controller).then_some(controllers)?;
        Some(format!("/sys/fs/cgroup/{mount}{path}"))
    });
    let dir = v1.unwrap_or_else(|| {
        let path = cgroups.lines().find_map(|l| l.strip_prefix("0::")).unwrap();
        format!("/sys/fs/cgroup{path}")
    });
    fs::read_to_string(format!("{dir}/{file}")).unwrap().trim().to_string()
}

#[test]
fn a_tightened_cpu_limit_is_written_before_the_payload_runs() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("cpu");
    let mut b = template(&parent);
    b.cpu_limit(1.0);
    let pool = Pool::new(b, 1).unwrap();
    wait_parked(&pool, 1);
    let mut c = pool
        .spawn(|run| run.command("/bin/sleep").arg("30").cpu_limit(0.5))
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let v2 = fs::read_to_string(format!("/proc/{}/cgroup", c.pid()))
        .unwrap()
        .lines()
        .count()
        == 1;
    match v2 {
        true => assert_eq!(cgroup_file_of(c.pid(), "cpu", "cpu.max"), "50000 100000"),
        false => assert_eq!(cgroup_file_of(c.pid(), "cpu", "cpu.cfs_quota_us"), "50000"),
    }
    c.kill(nsbox::Signal::SIGKILL).unwrap();
    drop(c);
    drop(pool);
    remove_parent(&parent);
}

#[test]
fn a_sandbox_profile_template_pools() {
    if !root() {
        return;
    }
    let _serial = exclusive();
    let parent = parent_name("sandbox");
    let mut b = Container::builder();
    b.profile(nsbox::Profile::Sandbox).cgroup_parent(&parent);
    let pool = Pool::new(b, 1).unwrap();
    wait_parked(&pool, 1);
    let c = pool
        .spawn(|run| {
            run.command("/bin/sh")
                .args(["-c", "id -u; echo $PWD"])
                .stdout(Stdio::piped())
                .current_dir("/tmp")
        })
        .unwrap();
    assert_eq!(c.setup_timings().start(), StartKind::Pooled);
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cold = Container::builder()
        .profile(nsbox::Profile::Sandbox)
        .command("/bin/sh")
        .args(["-c", "id -u; echo $PWD"])
        .current_dir("/tmp")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).ends_with("\n/tmp\n"),
        "{:?}",
        out.stdout
    );
    assert_eq!(out.stdout, cold.stdout, "the same user and directory as a cold spawn");
    assert_eq!(pool.stats().failed_refills, 0);
    drop(pool);
    remove_parent(&parent);
}
