//! The rootless run: what works, and what is refused, when the caller is an unprivileged user.
//!
//! The outer test (as root) copies this test binary into a fresh 0755 directory and runs the
//! `rootless_inner_*` tests in it as `nobody` (uid and gid 65534, no groups) through
//! `setpriv`. The inner tests return at once unless `NSBOX_ROOTLESS_INNER=1`.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

use common::{Snapshot, status_hex, stdout_of};
use nsbox::{Capabilities, Container, Controller, Errno, Error, Mount, Profile, Rootfs, SetupStep};

const INNER: &str = "NSBOX_ROOTLESS_INNER";
const NOBODY: u32 = 65534;

/// True when this is the inner run (as nobody); the inner tests do nothing otherwise.
fn inner() -> bool {
    common::is_inner_run(INNER)
}

fn run_as_nobody(binary: &Path, args: &[&str]) -> (bool, String) {
    let args: Vec<&str> = ["rootless_inner_"].into_iter().chain(args.iter().copied()).collect();
    common::run_as_nobody(binary, &args, INNER)
}

#[test]
fn suite_passes_as_an_unprivileged_user() {
    if !common::root_and_busybox() || !common::require("setpriv (util-linux)", Path::new("/usr/bin/setpriv").exists()) {
        return;
    }
    let dir = common::public_dir("nsbox-rootless-");
    let binary = common::copy_of_this_test_binary(dir.path(), "rootless");
    let (listed_ok, listed) = run_as_nobody(&binary, &["--list"]);
    let count = listed.lines().filter(|l| l.ends_with(": test")).count();
    assert!(listed_ok && count > 0, "no inner tests listed:\n{listed}");
    // One at a time: one of them checks that a refused spawn leaves no fd or process behind.
    let (ok, text) = run_as_nobody(&binary, &["--nocapture", "--test-threads=1"]);
    let summary = format!("test result: ok. {count} passed; 0 failed");
    assert!(
        ok && text.contains(&summary),
        "the rootless run failed (want {summary:?}):\n{text}"
    );
}

#[test]
fn rootless_inner_default_container_is_root_mapped_to_the_caller() {
    if !inner() {
        return;
    }
    let text = common::sh_ok("id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map");
    let lines: Vec<Vec<&str>> = text.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines,
        [vec!["0"], vec!["0"], vec!["0", "65534", "1"], vec!["0", "65534", "1"]]
    );
}

#[test]
fn rootless_inner_tmpfs_and_bind_mounts_work() {
    if !inner() {
        return;
    }
    let shared = common::world_writable_dir();
    let out = Container::builder()
        .mount(Mount::tmpfs("/scratch"))
        .mount(Mount::bind(shared.path(), "/shared"))
        .command("/bin/sh")
        .args([
            "-c",
            "echo hi > /scratch/f && cat /scratch/f && touch /shared/made-inside",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "hi\n");
    let meta = fs::metadata(shared.path().join("made-inside")).expect("made inside, seen on the host");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (NOBODY, NOBODY),
        "owned by the caller on the host"
    );
}

#[test]
fn rootless_inner_sandbox_profile_runs() {
    if !inner() {
        return;
    }
    let out = Container::builder()
        .profile(Profile::Sandbox)
        .command("/bin/cat")
        .arg("/proc/self/status")
        .output()
        .unwrap();
    let status = stdout_of(&out);
    for field in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_hex(&status, field), 0, "{field}");
    }
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    assert_eq!(field("NoNewPrivs:"), Some("1"));
    assert_eq!(field("Seccomp:"), Some("2"), "a seccomp filter is loaded");
}

#[test]
fn rootless_inner_symlinked_kernel_fs_in_rootfs_is_refused() {
    if !inner() {
        return;
    }
    for name in ["proc", "sys", "dev"] {
        let rootfs = common::busybox_rootfs();
        let decoy = tempfile::tempdir().unwrap();
        symlink(decoy.path(), rootfs.path().join(name)).unwrap();
        let err = Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .command("/bin/true")
            .spawn()
            .unwrap_err();
        let setup = err.as_setup().unwrap_or_else(|| panic!("/{name}: {err}"));
        assert_eq!(
            (setup.step, setup.errno),
            (SetupStep::Mount, Errno::ELOOP),
            "/{name}: {err}"
        );
        assert_eq!(setup.path.as_deref(), Some(Path::new("/").join(name).as_path()));
        assert_eq!(
            fs::read_dir(decoy.path()).unwrap().count(),
            0,
            "/{name}: wrote to the decoy"
        );
    }
}

#[test]
fn rootless_inner_mount_targets_through_symlinks_stay_inside() {
    if !inner() {
        return;
    }
    // A symlink to an existing host directory; the rootfs has the same path. Mount points
    // through it are made in the rootfs' copy (in a shadow of it), never in the host directory.
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("marker"), "host").unwrap();
    let rootfs = common::busybox_rootfs();
    let inside = rootfs.path().join(host.path().strip_prefix("/").unwrap());
    fs::create_dir_all(&inside).unwrap();
    symlink(host.path(), rootfs.path().join("escape")).unwrap();
    let source = tempfile::tempdir().unwrap();
    fs::write(source.path().join("f"), "source\n").unwrap();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::bind(source.path(), "/escape/sub"))
        .mount(Mount::tmpfs("/escape/t/u"))
        .command("/bin/sh")
        .args([
            "-c",
            &format!(
                "cat /escape/sub/f; grep -c ' {}/t/u ' /proc/self/mountinfo",
                host.path().display()
            ),
        ])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(text, "source\n1\n", "the bind and the tmpfs are in the rootfs' copy");
    // In a shadow of the rootfs' copy: not written to the rootfs directory either.
    assert_eq!(
        fs::read_dir(&inside).unwrap().count(),
        0,
        "made in the rootfs directory"
    );
    let entries: Vec<_> = fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, ["marker"], "something was created in the host directory");
}

#[test]
fn rootless_inner_capability_sets_are_clean() {
    if !inner() {
        return;
    }
    let status = common::sh_ok("cat /proc/self/status");
    let podman = Capabilities::podman_default().bits();
    let sets = ["CapInh", "CapEff", "CapBnd", "CapAmb"].map(|f| status_hex(&status, f));
    assert_eq!(sets, [0, podman, podman, 0], "CapInh, CapEff, CapBnd, CapAmb");
}

/// The entries of the directory a container's cgroup would be made in, for every controller.
fn cgroup_parents() -> BTreeSet<String> {
    let host = nsbox::preflight();
    let mut entries = BTreeSet::new();
    for support in &host.controllers {
        if let Some(dir) = &support.parent {
            for e in fs::read_dir(dir).into_iter().flatten().flatten() {
                entries.insert(e.path().display().to_string());
            }
        }
    }
    entries
}

#[test]
fn rootless_inner_cgroup_limits_fail_clearly_and_leave_nothing_behind() {
    if !inner() {
        return;
    }
    let before = Snapshot::take();
    let cgroups = cgroup_parents();
    let host = nsbox::preflight();
    assert!(!host.can_use(Controller::Pids), "nobody can use pids here? {host:?}");
    for (name, result) in [
        ("pids", Container::builder().pids_limit(16).command("/bin/true").spawn()),
        (
            "memory",
            Container::builder().memory_limit(64 << 20).command("/bin/true").spawn(),
        ),
    ] {
        let err = result
            .err()
            .unwrap_or_else(|| panic!("{name}: a limit without delegation was accepted"));
        assert!(matches!(err, Error::Cgroup(_)), "{name}: not a cgroup error: {err}");
        // Either the controller is named as unavailable, or the cgroup nsbox had to create
        // (for the limit or for accounting) is refused: both say "no delegation here".
        let text = err.to_string();
        assert!(
            text.contains(name) || text.contains("Permission denied"),
            "{name}: unclear error: {text}"
        );
    }
    before.assert_unchanged("refused cgroup limits");
    assert_eq!(cgroups, cgroup_parents(), "cgroup directories changed");
}

#[test]
fn rootless_inner_preflight_reports_user_namespaces() {
    if !inner() {
        return;
    }
    let host = nsbox::preflight();
    assert!(host.user_namespaces.available, "{host:?}");
    assert!(host.user_namespaces.blocked_by.is_empty(), "{host:?}");
}

#[test]
fn rootless_inner_published_port_round_trip() {
    if !inner() {
        return;
    }
    use std::io::{BufRead, Read, Write};
    // The server inside answers a request with the host uid root is mapped to: the caller's.
    // It waits for the request: its one connection is the forwarder's probe, kept for the
    // first client (docs/ports.md), and exiting before that client came would end it.
    let server = "import socket
s = socket.socket(); s.bind(('127.0.0.1', 7000)); s.listen()
print('ready', flush=True)
c, _ = s.accept(); c.recv(1)
c.sendall(b'uid ' + open('/proc/self/uid_map').read().split()[1].encode())";
    let mut c = Container::builder()
        .publish(nsbox::Port::tcp(0, 7000))
        .command(common::PYTHON)
        .args(["-c", server])
        .stdout(nsbox::Stdio::piped())
        .spawn()
        .expect("publishing works without privileges");
    let mut line = String::new();
    std::io::BufReader::new(c.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    // The host port listens once the forwarder saw the server listen (docs/ports.md).
    let published = c.ports()[0];
    common::wait_until(
        "the published port to listen",
        std::time::Duration::from_secs(10),
        || c.port_accepting(&published),
    );
    let mut reply = String::new();
    let mut stream = std::net::TcpStream::connect(published.host).unwrap();
    stream.write_all(b"?").unwrap();
    stream.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, format!("uid {NOBODY}"));
    c.wait().unwrap();
}

#[test]
fn rootless_inner_sandbox_cannot_reach_the_callers_unix_sockets() {
    if !inner() {
        return;
    }
    // Rootless, container root is the caller itself: a socket only the caller may use is the
    // payload's too, unless its tree is hidden.
    let dir = Path::new("/var/tmp").join(common::unique("nsbox-rootless-sock"));
    fs::create_dir(&dir).unwrap();
    let path = dir.join("sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let script = format!(
        "{}\nimport socket\ncheck_os('connect', lambda: socket.socket(socket.AF_UNIX).connect({:?}))\n",
        common::PY_PROBES,
        path.display().to_string()
    );
    let run = |builder: &mut nsbox::ContainerBuilder| {
        let out = builder.command(common::PYTHON).args(["-c", &script]).output().unwrap();
        common::probe_results(&stdout_of(&out)).get("connect").cloned()
    };
    let sandbox = run(Container::builder().profile(Profile::Sandbox));
    let fixture = run(&mut Container::builder());
    fs::remove_dir_all(&dir).unwrap();
    assert_eq!(sandbox.as_deref(), Some("ENOENT"));
    assert_eq!(
        fixture.as_deref(),
        Some("OK"),
        "the default profile still sees /var/tmp"
    );
}

#[test]
fn rootless_inner_idmapped_bind_is_refused_naming_the_source() {
    if !inner() {
        return;
    }
    let shared = common::world_writable_dir();
    let map = [nsbox::IdMap::new(0, NOBODY, 1)];
    let out = Container::builder()
        .mount(Mount::bind(shared.path(), "/shared").idmap(map, map))
        .command("/bin/true")
        .output();
    let err = common::setup_failure_of(out);
    assert_eq!(
        (err.step, err.path.as_deref(), err.errno),
        (SetupStep::IdmapMount, Some(shared.path()), Errno::EPERM)
    );
}

/// A namespace pool fills for an unprivileged caller (the holder brings `lo` up itself: the
/// caller may not enter the pair's network namespace), a spawn is born in a pair, and the
/// caller's dumpable flag is left alone by the join.
#[test]
fn rootless_inner_namespace_pool_fills_and_is_used() {
    if !inner() {
        return;
    }
    let mut template = Container::builder();
    template.command("/bin/true");
    let pool = nsbox::NamespacePool::new(&template, 2).unwrap();
    assert!(
        pool.wait_full(std::time::Duration::from_secs(30)),
        "the pool did not fill: {:?}",
        pool.stats()
    );
    let out = common::sh_builder("cat /sys/class/net/lo/flags /proc/self/uid_map")
        .namespace_pool(&pool)
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(pool.stats().hits, 1, "{:?}", pool.stats());
    assert!(text.starts_with("0x9\n") && text.contains("65534"), "{text}");
    // SAFETY: prctl without pointers.
    assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 1);
    // The caller holds a pair-born container's mount namespace until the reap, unprivileged
    // too, and the pool releases it after.
    assert!(pool.wait_full(std::time::Duration::from_secs(30)));
    let mut sleeper = Container::builder();
    sleeper.namespace_pool(&pool).command("/bin/sleep").arg("100");
    let mut container = sleeper.spawn().unwrap();
    let link = std::fs::read_link(format!("/proc/{}/ns/mnt", container.pid())).unwrap();
    let held = || common::fds_to(&link);
    // A setup process on a copy of the caller's memory (the fork-spawn build) is not
    // dumpable: an unprivileged caller cannot open its namespaces, and the init tears the
    // mounts down itself, as without the pool.
    let expected = if cfg!(feature = "fork-spawn") { 0 } else { 1 };
    assert_eq!(held(), expected, "{} held while the container runs", link.display());
    container.kill(nsbox::Signal::SIGKILL).unwrap();
    container.wait().unwrap();
    assert!(pool.wait_released(std::time::Duration::from_secs(30)));
    assert_eq!(held(), 0, "{} released", link.display());
    // Every pair carried the container's /dev and /sys, made ahead by the unprivileged holder
    // (where the kernel can), and they are what a cold spawn's fresh mounts give.
    assert!(pool.wait_full(std::time::Duration::from_secs(30)));
    let view = || common::sh_builder(common::DEV_AND_SYS_VIEW);
    let warm = stdout_of(&view().namespace_pool(&pool).output().unwrap());
    let cold = stdout_of(&view().output().unwrap());
    assert_eq!(warm, cold);
    let stats = pool.stats();
    let expected = stats.hits * u64::from(common::kernel_mounts_in_detached_trees());
    assert_eq!((stats.hits, stats.premade_mounts), (3, expected), "{stats:?}");
}
