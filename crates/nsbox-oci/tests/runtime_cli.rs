//! `nsbox-runtime` driven as engines drive runc (as root, busybox-static at /bin/busybox):
//! `spec` → `create` (parked at the start gate) → `state` → `start` → `kill` → `delete`, exit
//! codes, the json log line containerd's shim reads, runc's error texts, `ps`, `pause`,
//! `exec`, hooks and the console socket. The test process is a child subreaper, as the
//! engine's shim is: the payloads become its children once `create` exits, and each test
//! reaps its own.

mod common;
mod runtime_support;

#[path = "../../../tests/common/mod.rs"]
mod nsbox_common;

use std::fs;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::set;
use nsbox_oci::{Bundle, Options};
use runtime_support::{RUNTIME, Runtime, bundle, bundle_with, last_error, pass_as_fd_3, pid_of, reap, serial};
use serde_json::{Value, json};

#[test]
fn spec_output_is_accepted_by_the_mapping() {
    let _serial = serial();
    for rootless in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        let mut cmd = Command::new(RUNTIME);
        cmd.args(["spec", "--bundle"]).arg(dir.path());
        if rootless {
            cmd.arg("--rootless");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let bundle = Bundle::open(dir.path()).unwrap();
        let builder = bundle
            .builder(&Options::fixed())
            .unwrap_or_else(|e| panic!("rootless {rootless}: {e}"));
        builder.build().unwrap_or_else(|e| panic!("rootless {rootless}: {e}"));
        // A second spec would overwrite it: refused, as runc does.
        let again = Command::new(RUNTIME)
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(again.status.code(), Some(1));
    }
}

#[test]
fn features_lists_what_the_mapping_supports() {
    let _serial = serial();
    let out = Command::new(RUNTIME).arg("features").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ociVersionMin"], "1.0.0");
    assert!(v["linux"]["namespaces"].as_array().unwrap().contains(&json!("pid")));
    assert!(
        v["linux"]["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("CAP_SYS_ADMIN"))
    );
    assert_eq!(v["linux"]["cgroup"]["systemd"], false);
    assert_eq!(v["linux"]["netDevices"]["enabled"], true);
    // The document parses as the spec's features type (oci-spec's).
    serde_json::from_value::<nsbox_oci::oci_spec::runtime::Features>(v).unwrap();
}

#[test]
fn systemd_cgroup_is_refused_in_the_log() {
    let rt = Runtime::new();
    let out = Command::new(RUNTIME)
        .arg("--log")
        .arg(rt.log())
        .args(["--log-format", "json", "--systemd-cgroup", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(last_error(&rt.log()).contains("systemd cgroup driver not supported"));
}

#[test]
fn an_unknown_container_does_not_exist() {
    let rt = Runtime::new();
    for verb in [
        &["state", "nope"][..],
        &["start", "nope"],
        &["kill", "nope", "9"],
        &["delete", "nope"],
    ] {
        let msg = rt.fails(verb);
        assert!(msg.contains(r#"container "nope" does not exist"#), "{verb:?}: {msg}");
    }
    // An id that could name a path outside the root is refused.
    assert!(rt.fails(&["state", "../x"]).contains("invalid container id"));
    // A usage error reaches the log too.
    let out = rt.run(&["kill"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!last_error(&rt.log()).is_empty());
    assert_eq!(rt.ok(&["list", "--format", "json"]).trim(), "null");
}

#[test]
fn create_start_state_kill_delete() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo started > /started; while true; do sleep 0.05; done",
        ],
        |spec| set(spec, "/root/readonly", json!(false)),
    );
    let bundle_dir = b.path().to_str().unwrap();
    let pid_file = rt.dir.path().join("pid");
    rt.ok(&[
        "create",
        "--bundle",
        bundle_dir,
        "--pid-file",
        pid_file.to_str().unwrap(),
        "c1",
    ]);

    let state = rt.state("c1");
    assert_eq!(state["status"], "created", "{state}");
    assert_eq!(state["id"], "c1");
    assert_eq!(state["ociVersion"], "1.2.0");
    assert_eq!(
        Path::new(state["bundle"].as_str().unwrap()),
        fs::canonicalize(b.path()).unwrap()
    );
    let pid = pid_of(&state);
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), pid.to_string());
    assert!(
        !b.path().join("rootfs/started").exists(),
        "the payload ran before start"
    );
    assert!(rt.fails(&["create", "--bundle", bundle_dir, "c1"]).contains("exists"));
    let listed: Value = serde_json::from_str(&rt.ok(&["list", "--format", "json"])).unwrap();
    assert_eq!(listed[0]["id"], "c1");
    assert_eq!(listed[0]["status"], "created");

    rt.ok(&["start", "c1"]);
    let state = rt.state("c1");
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(pid_of(&state), pid);
    assert!(rt.fails(&["start", "c1"]).contains("already running"));
    let ps: Vec<u32> = serde_json::from_str(&rt.ok(&["ps", "--format", "json", "c1"])).unwrap();
    assert!(ps.contains(&pid), "{ps:?} lacks {pid}");
    assert!(rt.fails(&["delete", "c1"]).contains("not stopped"));

    rt.ok(&["pause", "c1"]);
    assert_eq!(rt.state("c1")["status"], "paused");
    rt.ok(&["resume", "c1"]);
    assert_eq!(rt.state("c1")["status"], "running");

    // Waits for the payload to be in its loop (its trap set) before signalling it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/started").exists() {
        assert!(std::time::Instant::now() < deadline, "the payload never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    rt.ok(&["kill", "c1"]); // SIGTERM by default
    let status = reap(pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 42,
        "{status:#x}"
    );
    let state = rt.state("c1");
    assert_eq!(state["status"], "stopped");
    assert_eq!(state["pid"], 0);
    assert_eq!(rt.fails(&["kill", "c1", "KILL"]), "container not running");

    let cgroups = cgroup_dirs(&rt, "c1");
    assert!(!cgroups.is_empty());
    rt.ok(&["delete", "c1"]);
    for dir in cgroups {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    assert!(rt.fails(&["state", "c1"]).contains("does not exist"));
    assert!(!rt.dir.path().join("root/c1").exists());
}

/// The directories of the cgroup the runtime recorded for `id`.
fn cgroup_dirs(rt: &Runtime, id: &str) -> Vec<PathBuf> {
    let state: Value =
        serde_json::from_slice(&fs::read(rt.dir.path().join("root").join(id).join("state.json")).unwrap()).unwrap();
    let handle = nsbox::CgroupHandle::open(state["cgroup_path"].as_str().unwrap()).unwrap();
    handle.dirs().into_iter().map(Path::to_path_buf).collect()
}

#[test]
fn delete_force_kills_a_running_container() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "c2"]);
    let pid = pid_of(&rt.state("c2"));
    rt.ok(&["start", "c2"]);
    rt.ok(&["delete", "--force", "c2"]);
    let status = reap(pid);
    assert!(
        libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
        "{status:#x}"
    );
    assert!(rt.fails(&["state", "c2"]).contains("does not exist"));
}

#[test]
fn a_missing_command_fails_create_with_runcs_text() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["no-such-command"]);
    let msg = rt.fails(&["create", "--bundle", b.path().to_str().unwrap(), "c3"]);
    // Docker maps this text to exit status 127.
    assert!(
        msg.contains(r#"exec: "no-such-command": executable file not found in $PATH"#),
        "{msg}"
    );
    assert!(rt.fails(&["state", "c3"]).contains("does not exist"));
    fs::write(b.path().join("rootfs/bin/noexec"), "#!/bin/sh\n").unwrap();
    let b2 = bundle(&["/bin/noexec"]);
    fs::copy(b.path().join("rootfs/bin/noexec"), b2.path().join("rootfs/bin/noexec")).unwrap();
    let msg = rt.fails(&["create", "--bundle", b2.path().to_str().unwrap(), "c3"]);
    assert!(msg.contains("permission denied"), "{msg}"); // Docker: 126
}

#[test]
fn an_unsupported_config_fails_create_naming_the_field() {
    let rt = Runtime::new();
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("rootfs")).unwrap();
    let mut spec = common::nsbox_spec();
    set(&mut spec, "/linux/intelRdt", json!({"closID": "x"}));
    fs::write(dir.path().join("config.json"), spec.to_string()).unwrap();
    let msg = rt.fails(&["create", "--bundle", dir.path().to_str().unwrap(), "bad"]);
    assert!(msg.contains("linux.intelRdt"), "{msg}");
    assert!(rt.fails(&["state", "bad"]).contains("does not exist"));
    // A terminal without a console socket, as runc refuses it.
    set(&mut spec, "/linux/intelRdt", Value::Null);
    set(&mut spec, "/process/terminal", json!(true));
    fs::write(dir.path().join("config.json"), spec.to_string()).unwrap();
    let msg = rt.fails(&["create", "--bundle", dir.path().to_str().unwrap(), "bad"]);
    assert!(msg.contains("console socket"), "{msg}");
}

#[test]
fn run_exits_with_the_containers_status_and_deletes_it() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sh", "-c", "echo out; exit 7"]);
    let out = rt.run(&["run", "--bundle", b.path().to_str().unwrap(), "c4"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert!(rt.fails(&["state", "c4"]).contains("does not exist"));
}

#[test]
fn run_passes_signals_on_to_the_container() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(
        &[
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo > /started; while true; do sleep 0.05; done",
        ],
        |spec| set(spec, "/root/readonly", json!(false)),
    );
    let mut run = Command::new(RUNTIME)
        .arg("--root")
        .arg(rt.dir.path().join("root"))
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg("c11")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/started").exists() {
        assert!(std::time::Instant::now() < deadline, "the payload never started");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // SAFETY: kill on our own child's pid, not yet reaped.
    assert_eq!(unsafe { libc::kill(run.id() as i32, libc::SIGTERM) }, 0);
    assert_eq!(run.wait().unwrap().code(), Some(42));
    assert!(rt.fails(&["state", "c11"]).contains("does not exist"));
}

#[test]
fn exec_and_update_in_a_running_container() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "c5"]);
    let pid = pid_of(&rt.state("c5"));
    rt.ok(&["exec", "c5", "true"]); // a created container takes execs, as under runc
    rt.ok(&["start", "c5"]);
    let process = rt.dir.path().join("process.json");
    let spec = json!({"args": ["sh", "-c", "echo $X; exit 3"], "env": ["X=from-exec"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "noNewPrivileges": true});
    fs::write(&process, spec.to_string()).unwrap();
    let out = rt.run(&["exec", "--process", process.to_str().unwrap(), "c5"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-exec\n");

    // Docker's exec: detached, the pid in a file, reaped by the shim (here: us).
    let pid_file = rt.dir.path().join("exec.pid");
    rt.ok(&[
        "exec",
        "--process",
        process.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "c5",
    ]);
    let exec_pid: u32 = fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let status = reap(exec_pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 3, "{status:#x}");

    assert!(
        rt.fails(&["exec", "c5", "no-such-command"])
            .contains("executable file not found")
    );
    rt.ok(&["kill", "c5", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "c5"]);
}

/// An exec's process.json chooses its capabilities (here narrower than the container's: the
/// rest are dropped), args, env, cwd, user and terminal; a field it cannot honour is refused
/// by name.
#[test]
fn an_exec_process_json_narrows_capabilities_and_refuses_what_it_cannot_honour() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "c15"]);
    let pid = pid_of(&rt.state("c15"));
    rt.ok(&["start", "c15"]);
    let process = rt.dir.path().join("narrow.json");
    let caps = |names: &[&str]| json!({"bounding": names, "effective": names, "permitted": names});
    let base = |extra: Value| {
        let mut p = json!({"args": ["sh", "-c", "grep -E '^Cap(Bnd|Eff)' /proc/self/status"], "cwd": "/",
            "user": {"uid": 0, "gid": 0}, "noNewPrivileges": true});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    };
    fs::write(&process, base(json!({"capabilities": caps(&["CAP_KILL"])})).to_string()).unwrap();
    let out = rt.run(&["exec", "--process", process.to_str().unwrap(), "c15"]);
    assert!(out.status.success(), "{out:?}");
    // CAP_KILL is bit 5.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "CapEff:\t0000000000000020\nCapBnd:\t0000000000000020\n"
    );
    for (extra, field) in [
        (
            json!({"capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": []}}),
            "process.capabilities.permitted",
        ),
        (
            json!({"capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"]}}),
            "process.capabilities.inheritable",
        ),
        (json!({"apparmorProfile": "docker-default"}), "process.apparmorProfile"),
        (json!({"noNewPrivileges": false}), "process.noNewPrivileges"),
        (
            json!({"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 10}]}),
            "process.rlimits",
        ),
    ] {
        fs::write(&process, base(extra).to_string()).unwrap();
        let msg = rt.fails(&["exec", "--process", process.to_str().unwrap(), "c15"]);
        assert!(msg.contains(field), "{field}: {msg}");
    }
    rt.ok(&["kill", "c15", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "c15"]);
}

#[test]
fn prestart_hooks_get_the_state_and_a_failing_one_fails_create() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let out_file = rt.dir.path().join("hook-state.json");
    let hook_script = format!(
        "cat > {0}; test -e /proc/$(sed 's/.*\"pid\":\\([0-9]*\\).*/\\1/' {0})/ns/net",
        out_file.display()
    );
    let b = bundle_with(&["true"], |spec| {
        set(
            spec,
            "/hooks/prestart",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", hook_script], "env": ["PATH=/usr/bin:/bin"]}]),
        );
        set(
            spec,
            "/hooks/poststop",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}.poststop", out_file.display())]}]),
        );
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "c6"]);
    let pid = pid_of(&rt.state("c6"));
    let seen: Value = serde_json::from_slice(&fs::read(&out_file).unwrap()).unwrap();
    assert_eq!(seen["id"], "c6");
    assert_eq!(seen["status"], "creating");
    assert_eq!(seen["pid"], pid);
    rt.ok(&["start", "c6"]);
    reap(pid);
    rt.ok(&["delete", "c6"]);
    let stopped: Value =
        serde_json::from_slice(&fs::read(format!("{}.poststop", out_file.display())).unwrap()).unwrap();
    assert_eq!(stopped["status"], "stopped");

    let failing = bundle_with(&["true"], |spec| {
        set(
            spec,
            "/hooks/createRuntime",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", "echo no network >&2; exit 1"]}]),
        );
    });
    let msg = rt.fails(&["create", "--bundle", failing.path().to_str().unwrap(), "c7"]);
    assert!(msg.contains("no network"), "{msg}");
    assert!(rt.fails(&["state", "c7"]).contains("does not exist"));
}

#[test]
fn start_container_hooks_run_in_the_container_before_the_payload() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(&["sh", "-c", "test -s /hook-state && echo > /payload-saw-it"], |spec| {
        set(spec, "/root/readonly", json!(false));
        // /bin/sh and /hook-state are the container's: the hook runs in its root.
        set(
            spec,
            "/hooks/startContainer",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /hook-state"], "timeout": 60}]),
        );
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "c12"]);
    let pid = pid_of(&rt.state("c12"));
    assert!(!b.path().join("rootfs/hook-state").exists(), "ran before start");
    rt.ok(&["start", "c12"]);
    let status = reap(pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
    assert!(b.path().join("rootfs/payload-saw-it").exists());
    let seen: Value = serde_json::from_slice(&fs::read(b.path().join("rootfs/hook-state")).unwrap()).unwrap();
    assert_eq!(seen["id"], "c12");
    assert_eq!(seen["pid"], pid);
    rt.ok(&["delete", "c12"]);

    // createContainer hooks: at create, in the container's mount namespace before its
    // pivot_root (host paths outside /tmp, where the root is staged, still resolve), the state
    // on stdin.
    let out = tempfile::Builder::new()
        .prefix("cc-hook-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    let cc_state = out.path().join("state");
    let cc_mnt = out.path().join("mnt");
    let script = format!(
        "cat > {}; readlink /proc/self/ns/mnt > {}",
        cc_state.display(),
        cc_mnt.display()
    );
    let with_hook = bundle_with(&["true"], |spec| {
        set(
            spec,
            "/hooks/createContainer",
            json!([{"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 60}]),
        );
    });
    rt.ok(&["create", "--bundle", with_hook.path().to_str().unwrap(), "c13"]);
    let pid = pid_of(&rt.state("c13"));
    let seen: Value = serde_json::from_slice(&fs::read(&cc_state).unwrap()).unwrap();
    assert_eq!(
        (seen["id"].as_str(), seen["status"].as_str(), seen["pid"].as_u64()),
        (Some("c13"), Some("creating"), Some(pid as u64))
    );
    let container_mnt = fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap();
    assert_eq!(
        fs::read_to_string(&cc_mnt).unwrap().trim(),
        container_mnt.to_string_lossy()
    );
    rt.ok(&["delete", "--force", "c13"]);
    reap(pid);
    // A failing one fails create and leaves no state.
    let failing = bundle_with(&["true"], |spec| {
        set(spec, "/hooks/createContainer", json!([{"path": "/bin/false"}]));
    });
    let msg = rt.fails(&["create", "--bundle", failing.path().to_str().unwrap(), "c14"]);
    assert!(msg.contains("hook"), "{msg}");
    assert!(rt.fails(&["state", "c14"]).contains("does not exist"));
}

#[test]
fn the_console_socket_gets_one_pty_master() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(&["sh", "-c", "test -t 0 && echo on-a-tty"], |spec| {
        set(spec, "/process/terminal", json!(true));
    });
    let socket = rt.dir.path().join("console.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 4]);
        let msg = nix::sys::socket::recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
        let mut fds = Vec::new();
        for cmsg in msg.cmsgs().unwrap() {
            if let nix::sys::socket::ControlMessageOwned::ScmRights(received) = cmsg {
                fds.extend(received);
            }
        }
        // SAFETY: fds received just now, owned by nobody else.
        fds.into_iter()
            .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
            .collect::<Vec<_>>()
    });
    rt.ok(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--console-socket",
        socket.to_str().unwrap(),
        "c8",
    ]);
    let fds = receiver.join().unwrap();
    assert_eq!(fds.len(), 1, "exactly one fd");
    // SAFETY: isatty on a live fd.
    assert_eq!(unsafe { libc::isatty(fds[0].as_raw_fd()) }, 1);
    let pid = pid_of(&rt.state("c8"));
    rt.ok(&["start", "c8"]);
    let mut pty = fs::File::from(fds.into_iter().next().unwrap());
    let mut text = Vec::new();
    let _ = pty.read_to_end(&mut text); // EIO once the payload closed its side
    assert!(String::from_utf8_lossy(&text).contains("on-a-tty"), "{text:?}");
    reap(pid);
    rt.ok(&["delete", "c8"]);
}

#[test]
fn preserved_fds_reach_the_payload() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sh", "-c", "echo through-fd-3 >&3"]);
    let out_path = rt.dir.path().join("fd3.out");
    let out = fs::File::create(&out_path).unwrap();
    let fd = out.as_raw_fd();
    let mut cmd = Command::new(RUNTIME);
    cmd.arg("--root")
        .arg(rt.dir.path().join("root"))
        .args(["create", "--preserve-fds", "1", "--bundle"])
        .arg(b.path())
        .arg("c9")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    pass_as_fd_3(&mut cmd, fd);
    let status = cmd.status().unwrap();
    assert!(status.success());
    drop(out);
    let pid = pid_of(&rt.state("c9"));
    rt.ok(&["start", "c9"]);
    let status = reap(pid);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{status:#x}");
    assert_eq!(fs::read_to_string(&out_path).unwrap(), "through-fd-3\n");
    rt.ok(&["delete", "c9"]);

    // Asked for more fds than the caller passed: refused, never filled with the runtime's own.
    let msg = rt.fails(&[
        "create",
        "--preserve-fds",
        "40",
        "--bundle",
        b.path().to_str().unwrap(),
        "c10",
    ]);
    assert!(msg.contains("is not open"), "{msg}");
}

/// `update` as engines send it: `-1` lifts a limit (runc's reading), flags set new ones, and
/// what nsbox cannot change is refused by name; read back from the container's cgroup files.
#[test]
fn update_lifts_limits_with_minus_one_and_sets_them_with_flags() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let cgroup = format!("/nsbox-test/{}", nsbox_common::unique("update"));
    let b = bundle_with(&["sleep", "1000"], |spec| {
        set(spec, "/linux/cgroupsPath", json!(cgroup));
        set(
            spec,
            "/linux/resources",
            json!({"pids": {"limit": 50}, "cpu": {"quota": 50000, "period": 100000}}),
        );
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "c-update"]);
    let pid = pid_of(&rt.state("c-update"));
    rt.ok(&["start", "c-update"]);
    let dirs: Vec<PathBuf> = nsbox::CgroupHandle::open(&cgroup)
        .unwrap()
        .dirs()
        .iter()
        .map(|d| d.to_path_buf())
        .collect();
    let read = |file: &str| {
        dirs.iter()
            .find_map(|d| fs::read_to_string(d.join(file)).ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let cpu = || match read("cpu.cfs_quota_us") {
        q if q.is_empty() => read("cpu.max"),
        q => format!("{q} {}", read("cpu.cfs_period_us")),
    };
    assert_eq!(read("pids.max"), "50");
    assert_eq!(cpu(), "50000 100000");

    // Docker sends every field, zeros for those it leaves alone.
    let file = rt.dir.path().join("resources.json");
    let lift = json!({"pids": {"limit": -1}, "cpu": {"quota": -1, "shares": 0, "period": 0},
        "memory": {"limit": 0, "swap": 0, "reservation": 0}, "blockIO": {"weight": 0}});
    fs::write(&file, lift.to_string()).unwrap();
    rt.ok(&["update", "--resources", file.to_str().unwrap(), "c-update"]);
    assert_eq!(read("pids.max"), "max");
    assert!(matches!(cpu().as_str(), "-1 100000" | "max 100000"), "{}", cpu());

    rt.ok(&[
        "update",
        "--pids-limit",
        "30",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "200000",
        "c-update",
    ]);
    assert_eq!(read("pids.max"), "30");
    assert_eq!(cpu(), "20000 200000");

    fs::write(&file, json!({"memory": {"swappiness": 10}}).to_string()).unwrap();
    let err = rt.fails(&["update", "--resources", file.to_str().unwrap(), "c-update"]);
    assert!(err.contains("memory.swappiness"), "{err}");

    rt.ok(&["kill", "c-update", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "c-update"]);
    for parent in dirs.iter().filter_map(|d| d.parent()) {
        let _ = fs::remove_dir(parent);
    }
}
