//! Review of the start gate, adopt / detached exec and the console: regressions for what a
//! hostile container (or its caller's lifecycle) could do with them.

mod common;

use nsbox::{Container, Mount, Signal, Stdio};

/// The cgroup lines of `/proc/PID/cgroup` (host view).
fn cgroups_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

/// An exec into an adopted container (an OCI runtime's `exec`) joins the container's cgroup,
/// as an exec through the spawning handle does: else it runs outside the container's limits
/// (a fork bomb from it escapes the pids limit) and outlives a teardown by `cgroup.kill`.
#[test]
fn an_exec_into_an_adopted_container_joins_its_cgroup() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let mut builder = Container::builder();
    builder
        .command("/bin/sleep")
        .arg("60")
        .init(false)
        .pids_limit(64)
        .detach();
    let mut container = builder.spawn().expect("spawn");
    let want = cgroups_of(container.pid());
    let cat = |c: &Container| {
        c.exec()
            .command("/bin/cat")
            .arg("/proc/self/cgroup")
            .stdin(Stdio::null())
            .output()
            .map(|out| common::stdout_of(&out))
    };
    let through_spawner = cat(&container).expect("exec through the spawning handle");
    let adopted = builder.adopt(container.pid()).expect("adopt");
    let attached = cat(&adopted);
    let detached = adopted
        .exec()
        .command("/bin/sleep")
        .arg("61")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn_detached();
    let detached_cgroups = detached.as_ref().map(|d| cgroups_of(d.pid));
    if let Ok(d) = &detached {
        // SAFETY: kill with integer arguments, on the process this test started.
        unsafe { libc::kill(d.pid as i32, libc::SIGKILL) };
    }
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
    assert_eq!(
        attached.expect("exec into the adopted container"),
        through_spawner,
        "an exec into an adopted container is outside the container's cgroup"
    );
    assert_eq!(
        detached_cgroups.expect("detached exec"),
        want,
        "a detached exec into an adopted container is outside the container's cgroup"
    );
}

/// A detached exec's process outlives its setup process: the parent death signal the
/// exec'd process sets is tied to a parent that exits at once (the setup process, or after
/// the reparenting some thread of the caller's subreaper), so it must not be set at all.
/// Raced 200 times: the setup process exits while the exec'd process goes through its steps.
/// Run in its own process, a subreaper, so that the exec'd process is this test's child and
/// its end can be read exactly (SIGKILL from the parent death signal, or our SIGTERM).
#[test]
fn a_detached_exec_is_not_killed_when_its_setup_process_exits() {
    if !common::root() {
        return;
    }
    if !common::in_own_process(
        "a_detached_exec_is_not_killed_when_its_setup_process_exits",
        "NSBOX_REVIEW_SUBREAPER",
    ) {
        return;
    }
    // SAFETY: prctl with integer arguments; this process is this test's own.
    assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }, 0);
    let mut builder = Container::builder();
    builder.command("/bin/sleep").arg("60").init(false);
    let mut container = builder.spawn().expect("spawn");
    let mut killed = 0;
    for _ in 0..200 {
        let exec = container
            .exec()
            .command("/bin/sleep")
            .arg("61")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn_detached()
            .expect("detached exec");
        let pid = exec.pid as i32;
        // SAFETY: kill with integer arguments, on our own child (reparented to us).
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let mut status = 0;
        // SAFETY: waitpid on our own child with a live status.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFSIGNALED(status), "status {status:#x}");
        if libc::WTERMSIG(status) == libc::SIGKILL {
            killed += 1;
        }
    }
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
    assert_eq!(
        killed, 0,
        "{killed} of 200 detached execs were killed as their setup process exited"
    );
}

/// The parked launcher holds nothing the payload would not: no error pipe (closed before it
/// waits), no confirmation pipe, no pty master, no fd of the caller's but stdio and the gate;
/// with and without nsbox-init, with a terminal or pipes.
#[test]
fn the_parked_launcher_holds_only_stdio_and_the_gate() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    for (init, tty) in [(false, true), (true, true), (true, false), (false, false)] {
        let (r, w) = std::io::pipe().expect("pipe");
        let mut builder = Container::builder();
        builder.command("/bin/true").init(init).tty(tty).start_gate(r.into());
        if !tty {
            builder
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
        }
        let mut c = builder.spawn().expect("spawn a gated container");
        // The parked launcher: the first process, or nsbox-init's only child.
        let parked = match init {
            false => c.pid(),
            true => *common::children_of(c.pid()).iter().next().expect("init's child"),
        };
        let fds: Vec<(String, String)> = std::fs::read_dir(format!("/proc/{parked}/fd"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let target = std::fs::read_link(e.path()).unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    target.to_string_lossy().into_owned(),
                )
            })
            .collect();
        let exe = std::fs::read_link(format!("/proc/{parked}/exe")).unwrap();
        drop(w);
        let _ = c.wait();
        let what = format!("init {init}, tty {tty}: {fds:?}");
        assert!(exe.to_string_lossy().starts_with("/memfd:nsbox-init"), "{exe:?} {what}");
        let others: Vec<_> = fds
            .iter()
            .filter(|(n, _)| !["0", "1", "2"].contains(&n.as_str()))
            .collect();
        assert_eq!(others.len(), 1, "the parked launcher holds more than the gate: {what}");
        assert!(others[0].1.starts_with("pipe:"), "{what}");
        assert!(fds.iter().all(|(_, t)| !t.contains("ptmx")), "a pty master: {what}");
    }
}

/// A caller's bind onto `/dev/console` is covered by the terminal, never changed: the
/// terminal's owner change is the pts's, and nothing is written through the bound file.
#[test]
fn a_bound_dev_console_is_covered_not_changed() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let host = common::world_writable_dir();
    let file = host.path().join("console");
    std::fs::write(&file, "host file\n").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let out = common::world_writable_dir();
    let script = "stat -c '%t:%T %u' /dev/console $(tty) > /out/r; : > /dev/console";
    let mut c = Container::builder()
        .tty(true)
        .user(1000, 1000)
        .mount(Mount::bind(&file, "/dev/console"))
        .mount(Mount::bind(out.path(), "/out"))
        .command("/bin/sh")
        .args(["-c", script])
        .spawn()
        .expect("spawn with a tty and a bound /dev/console");
    let pty = c.take_pty();
    assert!(c.wait().unwrap().success());
    drop(pty);
    let seen = std::fs::read_to_string(out.path().join("r")).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines.len(), 2, "{seen:?}");
    assert_eq!(lines[0], lines[1], "/dev/console is not the pts: {seen:?}");
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&meta),
            std::fs::read_to_string(&file).unwrap()
        ),
        (0, "host file\n".to_owned()),
        "the bound host file was changed"
    );
}

/// A gated container dropped while it waits (an OCI `delete` of a created container) leaves
/// no process, fd or mount behind.
#[test]
fn a_parked_container_dropped_leaves_nothing() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let warm = Container::builder().command("/bin/true").stdin(Stdio::null()).status();
    assert!(warm.unwrap().success());
    let before = common::Snapshot::take();
    for init in [false, true] {
        let (r, w) = std::io::pipe().expect("pipe");
        let c = Container::builder()
            .command("/bin/true")
            .init(init)
            .pids_limit(16)
            .stdin(Stdio::null())
            .start_gate(r.into())
            .spawn()
            .expect("spawn a gated container");
        let pid = c.pid();
        drop(c);
        assert!(
            common::proc_stat(pid).is_none(),
            "the parked container {pid} outlived its handle"
        );
        drop(w);
    }
    before.assert_unchanged("after dropping parked containers");
}
