//! The create/start split (`ContainerBuilder::start_gate`) and the hooks run once a
//! container's namespaces exist (`ContainerBuilder::on_created`).

mod common;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::time::Duration;

use common::{proc_stat, sh_builder};
use nsbox::{Error, Mount, SetupStep};

fn gate() -> (OwnedFd, std::io::PipeWriter) {
    let (r, w) = std::io::pipe().expect("pipe");
    (r.into(), w)
}

fn setup_errno(err: &Error) -> Option<(SetupStep, i32)> {
    match err {
        Error::Setup(e) => Some((e.step, e.errno.raw())),
        _ => None,
    }
}

/// `spawn` returns with everything set up and the payload not yet run: it runs only once a
/// byte arrives, and the parked process is the launcher (a sealed memfd, not a copy of the
/// caller) with the payload's confinement already in force.
#[test]
fn a_gated_container_runs_its_payload_only_after_the_byte() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let dir = common::world_writable_dir();
    let (r, w) = gate();
    let mut builder = sh_builder("echo ran > /out/mark");
    builder.mount(Mount::bind(dir.path(), "/out")).start_gate(r);
    let mut c = builder.spawn().expect("spawn a gated container");
    // Parked: no matter how long it waits, the payload has not run.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!dir.path().join("mark").exists(), "the payload ran before the start");
    let stat = proc_stat(c.pid()).expect("the parked process exists");
    assert_ne!(stat[0], "Z", "the parked process exited");
    let exe = std::fs::read_link(format!("/proc/{}/exe", c.pid())).unwrap();
    assert!(
        exe.to_string_lossy().starts_with("/memfd:nsbox-init"),
        "parked in {exe:?}, not the launcher"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", c.pid())).unwrap();
    assert!(status.contains("NoNewPrivs:\t1"), "no_new_privs not yet set:\n{status}");
    assert!(
        status.contains("Seccomp:\t2"),
        "the filter is not yet loaded:\n{status}"
    );
    // The caller's memory is not the parked process's: its VmRSS is the launcher's few pages.
    (&w).write_all(b"s").unwrap();
    assert!(c.wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(dir.path().join("mark")).unwrap(), "ran\n");
}

/// The command is looked up at spawn, inside the container, as its user: missing and
/// non-executable commands fail the spawn before the gate, with execve's errno, and nothing
/// is left behind.
#[test]
fn the_lookup_happens_before_the_gate() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let before = common::Snapshot::take();
    for (program, errno) in [
        ("/no/such/program", libc::ENOENT),
        ("no-such-program-anywhere", libc::ENOENT),
        ("/etc/passwd", libc::EACCES),
        ("/etc", libc::EACCES),
    ] {
        let (r, _w) = gate();
        let err = nsbox::Container::builder()
            .command(program)
            .start_gate(r)
            .spawn()
            .expect_err(program);
        assert_eq!(setup_errno(&err), Some((SetupStep::Exec, errno)), "{program}: {err}");
    }
    // As the payload's user: a root-only executable is not executable for uid 1000.
    let dir = common::world_writable_dir();
    let script = dir.path().join("root-only");
    common::write_executable(&script, "#!/bin/sh\ntrue\n");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (r, _w) = gate();
    let err = nsbox::Container::builder()
        .command("/in/root-only")
        .mount(Mount::bind(dir.path(), "/in"))
        .user(1000, 1000)
        .start_gate(r)
        .spawn()
        .expect_err("root-only program as uid 1000");
    assert_eq!(setup_errno(&err), Some((SetupStep::Exec, libc::EACCES)), "{err}");
    drop((dir, _w));
    before.assert_unchanged("after failed gated spawns");
}

/// Every writer of the gate gone without a byte: the launcher exits 125 and nothing runs;
/// the payload's exec failing after the start: 127 (gone) or 126, as a shell reports.
#[test]
fn a_closed_gate_runs_nothing_and_a_late_exec_failure_is_an_exit_status() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let dir = common::world_writable_dir();
    let (r, w) = gate();
    let mut builder = sh_builder("echo ran > /out/mark");
    builder.mount(Mount::bind(dir.path(), "/out")).start_gate(r);
    let mut c = builder.spawn().unwrap();
    drop(builder);
    drop(w);
    assert_eq!(c.wait().unwrap().code(), Some(125));
    assert!(!dir.path().join("mark").exists());

    let script = dir.path().join("vanishing");
    common::write_executable(&script, "#!/bin/sh\ntrue\n");
    let (r, w) = gate();
    let mut builder = nsbox::Container::builder();
    builder
        .command("/in/vanishing")
        .mount(Mount::bind(dir.path(), "/in"))
        .start_gate(r);
    let mut c = builder.spawn().unwrap();
    std::fs::remove_file(&script).unwrap();
    (&w).write_all(b"s").unwrap();
    assert_eq!(c.wait().unwrap().code(), Some(127));
}

/// `on_created` hooks run with the container's host pid while its namespaces exist and before
/// its setup (its hostname is not set yet); a failing one undoes the spawn.
#[test]
fn on_created_hooks_see_the_namespaces_and_a_failing_one_undoes_the_spawn() {
    if !common::root() {
        return;
    }
    // From the start: its first spawn would show in another test's snapshot.
    let _guard = common::exclusive();
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let mut builder = sh_builder("hostname");
    builder.hostname("gated").on_created(move |pid| {
        let net = std::fs::read_link(format!("/proc/{pid}/ns/net"))?;
        record.lock().unwrap().push(net.to_string_lossy().into_owned());
        Ok(())
    });
    let out = builder.output().unwrap();
    assert_eq!(common::stdout_of(&out), "gated\n");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_ne!(
        seen[0],
        common::ns_link("self", "net"),
        "the hook saw the caller's netns"
    );

    let before = common::Snapshot::take();
    let pids = Arc::new(Mutex::new(Vec::new()));
    let recorded = pids.clone();
    let err = sh_builder("sleep 60")
        .on_created(move |pid| {
            recorded.lock().unwrap().push(pid);
            Err(std::io::Error::other("hook refused"))
        })
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("hook refused"), "{err}");
    let pid = pids.lock().unwrap()[0];
    assert!(
        proc_stat(pid).is_none(),
        "the container of a failed hook was not reaped"
    );
    before.assert_unchanged("after a failing on_created hook");
}

/// `preserve_fds(n)`: the caller's fds 3..3+n reach the payload at the same numbers (also
/// close-on-exec ones), and no other; one that is not open fails the spawn. Run in a fresh
/// copy of this test binary whose fds 3 and 4 are a pipe's write end (the test harness's
/// threads take low fd numbers in this process at any time).
#[test]
fn preserved_fds_reach_the_payload_and_nothing_else_does() {
    if std::env::var_os("NSBOX_PRESERVE_INNER").is_some() {
        return preserve_inner();
    }
    if !common::root() {
        return;
    }
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let _guard = common::exclusive();
    let (r, w) = std::io::pipe().unwrap();
    let raw = w.as_raw_fd();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "preserved_fds_reach_the_payload_and_nothing_else_does",
            "--test-threads=1",
        ])
        .env("NSBOX_PRESERVE_INNER", "1")
        .stdout(std::process::Stdio::piped());
    // SAFETY: dup2 and fcntl are async-signal-safe; only fds of the forked child change.
    unsafe {
        command.pre_exec(move || {
            // Through a high number: dup2 onto itself would keep close-on-exec.
            let high = libc::fcntl(raw, libc::F_DUPFD, 100);
            if high < 0 || libc::dup2(high, 3) < 0 || libc::dup2(high, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(high);
            Ok(())
        });
    }
    let child = command.spawn().unwrap();
    drop(command);
    drop(w);
    let mut text = String::new();
    std::io::Read::read_to_string(&mut &r, &mut text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the inner test failed: {text}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(text, "3 4\nrefused\n");
}

/// The inner half: fd 4 is close-on-exec here, and still reaches the payload; fd 5 and up
/// (the harness's, nsbox's own) do not.
fn preserve_inner() {
    use std::io::Write;
    // SAFETY: fcntl with integer arguments on the fd the outer test gave this process.
    assert_eq!(unsafe { libc::fcntl(4, libc::F_SETFD, libc::FD_CLOEXEC) }, 0);
    let script = "fds=; for fd in 3 4 5 6 7 8 9; do [ -e /proc/self/fd/$fd ] && fds=\"$fds $fd\"; done; echo $fds >&3";
    let status = nsbox::Container::builder()
        .command("/bin/sh")
        .args(["-c", script])
        .preserve_fds(2)
        .status()
        .expect("spawn with two preserved fds");
    assert!(status.success());
    let err = nsbox::Container::builder()
        .command("/bin/true")
        .preserve_fds(200)
        .status()
        .expect_err("an fd that is not open");
    assert!(err.to_string().contains("is to be preserved but is not open"), "{err}");
    // SAFETY: fd 3 is the pipe the outer test gave this process.
    let mut out = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(3) };
    out.write_all(b"refused\n").unwrap();
}

/// `before_pivot_root` hooks run in the container's namespaces before its pivot_root, with the
/// stdin made of the container's pid; a failing or timed-out one fails the spawn at the
/// `Hook` step and leaves nothing behind.
#[test]
fn before_pivot_root_hooks_run_in_the_container_and_fail_the_spawn() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    // Not under /tmp: the setup process stages the container's root there, hiding the host's.
    let dir = tempfile::Builder::new()
        .prefix("hooks-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let out = dir.path().to_path_buf();
    let script = dir.path().join("hook.sh");
    common::write_executable(
        &script,
        &format!(
            "#!/bin/sh\ncat > {0}/stdin\nreadlink /proc/self/ns/mnt > {0}/mnt\nreadlink /proc/self/ns/uts > {0}/uts\necho \"$1 $FOO\" > {0}/args\n",
            out.display()
        ),
    );
    let mut builder = sh_builder("readlink /proc/self/ns/mnt");
    builder.mount(Mount::bind(dir.path(), "/out")).before_pivot_root(
        nsbox::ProcessHook::new(&script)
            .args([script.as_os_str(), std::ffi::OsStr::new("first")])
            .env(["FOO=bar"])
            .stdin(|pid| format!("pid {pid}").into_bytes()),
    );
    let container = builder.stdout(nsbox::Stdio::piped()).spawn().unwrap();
    let pid = container.pid();
    let inside = container.wait_with_output().unwrap();
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    assert_eq!(read("stdin"), format!("pid {pid}"));
    assert_eq!(read("args"), "first bar\n");
    assert_eq!(
        read("mnt"),
        String::from_utf8_lossy(&inside.stdout),
        "not the container's mount namespace"
    );
    assert_ne!(read("uts").trim(), common::ns_link("self", "uts"));

    let before = common::Snapshot::take();
    let missing = sh_builder("true")
        .before_pivot_root(nsbox::ProcessHook::new("/no/such/hook"))
        .spawn()
        .unwrap_err();
    assert_eq!(
        setup_errno(&missing),
        Some((SetupStep::Hook, libc::ENOENT)),
        "{missing}"
    );
    for (body, timeout, errno) in [
        ("exit 3", None, libc::ECANCELED),
        ("sleep 20", Some(1), libc::ETIMEDOUT),
    ] {
        let failing = dir.path().join("failing.sh");
        common::write_executable(&failing, &format!("#!/bin/sh\n{body}\n"));
        let mut hook = nsbox::ProcessHook::new(&failing);
        if let Some(secs) = timeout {
            hook = hook.timeout(Duration::from_secs(secs));
        }
        let err = sh_builder("true").before_pivot_root(hook).spawn().unwrap_err();
        assert_eq!(setup_errno(&err), Some((SetupStep::Hook, errno)), "{body}: {err}");
    }
    before.assert_unchanged("after failing hooks");
}
