//! A hostile-payload review of `nsbox-runtime`: what a container (root inside, racing
//! anything) can make the runtime do to the host. Each test names the attack it stands for.
//! Every container is deleted with `--force` and reaped when its test ends, also when the test
//! fails (`Runtime`'s drop).

mod common;
mod runtime_support;

#[path = "../../../tests/common/mod.rs"]
mod nsbox_common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt, symlink};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::set;
use runtime_support::{Runtime, bundle_with, read_back, try_reap as reap};
use serde_json::{Value, json};

/// The fds beyond stdio in an `ls -l /proc/PID/fd` listing, as "N -> target".
fn extra_fds(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|l| {
            let (before, target) = l.split_once(" -> ")?;
            let fd: u32 = before.split_whitespace().last()?.parse().ok()?;
            // ls's own directory fd, on /proc/PID/fd.
            let own = target.starts_with("/proc/") && target.ends_with("/fd");
            (fd > 2 && !own).then(|| format!("{fd} -> {target}"))
        })
        .collect()
}

/// The targets of this process's fds that a program it runs inherits (no `O_CLOEXEC`): the
/// engine's, which the runtime passes on as runc does (cargo's jobserver pipe, for one).
fn engine_fds() -> Vec<String> {
    let mut targets = Vec::new();
    for entry in fs::read_dir("/proc/self/fd").unwrap().flatten() {
        let fd = entry.file_name().to_string_lossy().into_owned();
        let Ok(info) = fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) else {
            continue;
        };
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
            .unwrap_or(0);
        if flags & libc::O_CLOEXEC as u32 == 0
            && let Ok(target) = fs::read_link(entry.path())
        {
            targets.push(format!("{fd} -> {}", target.display()));
        }
    }
    targets
}

/// A prestart (and createRuntime) hook runs on the host, as root, while nsbox's spawn holds
/// its own fds (the setup process's sockets, pidfds, the pty master): it must get its stdin
/// (the state), stdout and stderr, and nothing else of the runtime's.
#[test]
fn hooks_get_no_fd_of_the_runtime() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let listing = rt.dir.path().join("hook-fds");
    // What the hook's process inherited, listed by itself (ls's own directory fd aside).
    let script = format!("exec ls -l /proc/self/fd > {}-$1", listing.display());
    let b = bundle_with(&["true"], |spec| {
        set(spec, "/process/terminal", json!(true));
        for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
            set(
                spec,
                &format!("/hooks/{kind}"),
                json!([{"path": nsbox_common::BUSYBOX, "args": ["sh", "-c", script, "sh", kind]}]),
            );
        }
    });
    // A terminal: the spawn then holds a pty master too.
    let socket = rt.dir.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
    rt.ok(&[
        "create",
        "--bundle",
        b.path().to_str().unwrap(),
        "--console-socket",
        socket.to_str().unwrap(),
        "fds",
    ]);
    let _console = receiver.join().unwrap().unwrap();
    let pid = rt.pid("fds");
    rt.ok(&["start", "fds"]);
    reap(pid);
    rt.ok(&["delete", "fds"]);
    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        let text = fs::read_to_string(format!("{}-{kind}", listing.display())).unwrap();
        let engine = engine_fds();
        let extra: Vec<String> = extra_fds(&text).into_iter().filter(|f| !engine.contains(f)).collect();
        assert!(extra.is_empty(), "{kind} hook inherited {extra:?}\n{text}");
    }
}

/// The payload (root in the container, no user namespace) must hold no fd of the runtime's:
/// not the start gate's FIFO (`<root>/<id>/exec.fifo`, in the runtime's 0700 state
/// directory), nor anything else beyond its stdio.
#[test]
fn the_payload_holds_no_fd_of_the_runtime() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(&["sh", "-c", "exec ls -l /proc/self/fd > /fds"], |spec| {
        set(spec, "/root/readonly", json!(false))
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "gate"]);
    let pid = rt.pid("gate");
    rt.ok(&["start", "gate"]);
    reap(pid);
    rt.ok(&["delete", "gate"]);
    let text = fs::read_to_string(b.path().join("rootfs/fds")).unwrap();
    let extra = extra_fds(&text);
    assert!(extra.is_empty(), "the payload holds {extra:?}\n{text}");
}

/// Sets the next pid the kernel hands out (in this, the initial, PID namespace) to `pid` and
/// spawns a decoy `sleep`; retried until the decoy gets exactly `pid` (other processes of the
/// host may take it first). The decoy is a plain host process: no container.
fn decoy_at(pid: u32) -> std::process::Child {
    for _ in 0..2000 {
        fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let child = Command::new(nsbox_common::BUSYBOX)
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        if child.id() == pid {
            return child;
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("could not recycle pid {pid} for a decoy in 2000 attempts");
}

/// The pid-reuse race of every verb that acts through `ContainerBuilder::adopt` (exec, pause,
/// resume, startContainer hooks): the runtime checks the pid's start time, then (later)
/// opens a pidfd on the pid. A payload that dies in between, its pid taken by a host process,
/// would have the exec enter that process's namespaces and root: the host's, as root. Here
/// the window is held open deterministically: `exec --process` reads a FIFO between the
/// check and the adopt, and the test recycles the pid meanwhile. The exec must fail ("not
/// running"), never run anything.
#[test]
fn exec_never_enters_a_process_that_took_a_dead_containers_pid() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(&["sleep", "1000"], |_| {});
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "reuse"]);
    let pid = rt.pid("reuse");
    rt.ok(&["start", "reuse"]);

    let fifo = rt.dir.path().join("process.json");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let marker = rt.dir.path().join("exec-ran");
    let out = tempfile::tempfile().unwrap();
    let mut exec = rt
        .command(&["exec", "--process", fifo.to_str().unwrap(), "reuse"])
        .stdout(out.try_clone().unwrap())
        .stderr(out.try_clone().unwrap())
        .spawn()
        .unwrap();
    // The runtime has checked the container and opened the FIFO once a non-blocking open
    // for writing stops failing with ENXIO; it then waits for the text.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut writer = loop {
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
                assert!(std::time::Instant::now() < deadline, "exec never read its process");
                assert!(
                    exec.try_wait().unwrap().is_none(),
                    "exec ended early: {:?}",
                    read_back(out)
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => panic!("{e}"),
        }
    };
    // The payload dies and is reaped; a host process takes its pid.
    // SAFETY: kill(2) of our own child (this test is the payload's subreaper).
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    reap(pid).expect("the payload is our child");
    let mut decoy = decoy_at(pid);
    let process = json!({
        "args": [nsbox_common::BUSYBOX, "touch", marker],
        "cwd": "/",
        "env": ["PATH=/bin"],
        "user": {"uid": 0, "gid": 0},
        "noNewPrivileges": true,
    });
    writer.write_all(&serde_json::to_vec(&process).unwrap()).unwrap();
    drop(writer);
    let status = exec.wait().unwrap();
    let _ = decoy.kill();
    let _ = decoy.wait();
    let said = String::from_utf8_lossy(&read_back(out)).into_owned();
    assert!(
        !marker.exists(),
        "exec ran a command in the host process {pid} that took the container's pid"
    );
    assert!(
        !status.success(),
        "exec succeeded in a process not the container's: {said}"
    );
    assert!(said.contains("not running"), "{said}");
}

/// A payload's id check: ids that would name paths outside `--root` (or nothing), and an id
/// too long for a file name, are refused before anything is made.
#[test]
fn hostile_ids_are_refused_before_anything_is_made() {
    let rt = Runtime::new();
    let b = tempfile::tempdir().unwrap();
    let long = "a".repeat(300);
    for id in ["", ".", "..", "../escape", "a/b", "/abs", "a\nb", long.as_str()] {
        let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), id]);
        assert!(!out.status.success(), "{id:?} accepted");
    }
    let made: Vec<_> = fs::read_dir(rt.root())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(made.is_empty(), "{made:?}");
    assert!(!rt.dir.path().join("escape").exists());
}

/// Removes `dir` and every directory below it, deepest first, however deep (test cleanup of
/// cgroups the runtime may have left).
fn remove_cgroup_tree(dir: &std::path::Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
}

/// Whether `pid` is alive (a zombie is not).
fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| t.rsplit_once(')').map(|(_, rest)| rest.trim_start().to_string()))
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// A container whose cgroup mount is writable (a bundle may say `rw`) runs `script` (which
/// writes the pid of a process it hides to `/hidden.pid` and then `/ready`), without a PID
/// namespace (nothing else kills its processes). `delete --force` must still kill every
/// process of the container and remove every cgroup directory and the state: else a process
/// outlives the container, and the cgroup and the state stay, every later delete failing.
fn delete_force_cleans_up_after(id: &str, script: &str) {
    let rt = Runtime::new();
    let b = bundle_with(&["sh", "-c", script], |spec| {
        set(spec, "/root/readonly", json!(false));
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut().filter(|m| m["type"] == "cgroup") {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
        let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "pid");
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), id]);
    let state: Value = serde_json::from_slice(&fs::read(rt.root().join(id).join("state.json")).unwrap()).unwrap();
    let dirs: Vec<PathBuf> = nsbox::CgroupHandle::open(state["cgroup_path"].as_str().unwrap())
        .unwrap()
        .dirs()
        .into_iter()
        .map(PathBuf::from)
        .collect();
    // Cleanup, also when an assertion fails: the hidden process and every directory.
    struct Leftovers(Vec<PathBuf>, PathBuf);
    impl Drop for Leftovers {
        fn drop(&mut self) {
            // Thawed first: a frozen process cannot die.
            for dir in &self.0 {
                thaw_tree(dir);
            }
            if let Some(pid) = fs::read_to_string(&self.1)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
                && alive(pid)
            {
                // SAFETY: kill(2) of the container's process (our descendant), checked alive.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                reap(pid);
            }
            for dir in &self.0 {
                remove_cgroup_tree(dir);
            }
        }
    }
    let _leftovers = Leftovers(dirs.clone(), b.path().join("rootfs/hidden.pid"));
    let pid = rt.pid(id);
    rt.ok(&["start", id]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/ready").exists() {
        assert!(alive(pid), "the payload failed");
        assert!(std::time::Instant::now() < deadline, "the payload never got ready");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let hidden: u32 = fs::read_to_string(b.path().join("rootfs/hidden.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let out = rt.run(&["delete", "--force", id]);
    reap(pid);
    let survived = alive(hidden);
    let left: Vec<&PathBuf> = dirs.iter().filter(|d| d.exists()).collect();
    let state_left = rt.root().join(id).exists();
    assert!(
        out.status.success() && !survived && left.is_empty() && !state_left,
        "delete --force: {}; process {hidden} survived: {survived}; cgroups left: {left:?}; state left: {state_left}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Writes THAWED into every v1 `freezer.state` below `dir` (test cleanup).
fn thaw_tree(dir: &std::path::Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                thaw_tree(&e.path());
            }
        }
    }
    let _ = fs::write(dir.join("freezer.state"), "THAWED");
    let _ = fs::write(dir.join("cgroup.freeze"), "0");
}

/// 40 nested cgroups (deeper than the core's walk once went, 32), a process moved to the
/// bottom: the core's walk has no depth bound.
#[test]
fn delete_kills_and_removes_deeply_nested_cgroups() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    delete_force_cleans_up_after(
        "deep",
        "sleep 1000 & child=$!; echo $child > /hidden.pid; \
        for h in /sys/fs/cgroup/*; do [ -e $h/cgroup.procs ] || continue; cd $h; i=0; \
        while [ $i -lt 40 ]; do mkdir d && cd d || exit 1; i=$((i+1)); done; echo $child > cgroup.procs || exit 1; done; \
        echo > /ready; exec sleep 1000",
    );
}

/// A process moved into a nested cgroup the container froze itself (v1 freezer where the
/// container sees it, else cgroup2's `cgroup.freeze`), and another freezing it again in a
/// loop: SIGKILL does not end a task frozen by the v1 freezer until it is thawed.
#[test]
fn delete_kills_a_process_the_container_froze_in_a_nested_cgroup() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    delete_force_cleans_up_after(
        "frozen",
        "sleep 1000 & child=$!; echo $child > /hidden.pid; \
        for h in /sys/fs/cgroup/freezer /sys/fs/cgroup/unified /sys/fs/cgroup; do \
          if [ -e $h/freezer.state ] || [ -e $h/cgroup.freeze ]; then mkdir $h/ice || exit 1; \
          echo $child > $h/ice/cgroup.procs || exit 1; \
          if [ -e $h/ice/freezer.state ]; then f=$h/ice/freezer.state; v=FROZEN; else f=$h/ice/cgroup.freeze; v=1; fi; \
          echo $v > $f; (while true; do echo $v > $f; done) & \
          break; fi; done; \
        echo > /ready; exec sleep 1000",
    );
}

/// A container with a writable cgroup mount moves its first process into a cgroup it nests in
/// its own (in every hierarchy it sees), its other processes staying where they are. `pause`
/// must still freeze the whole container (the cgroup recorded at `create`), not only the
/// cgroup its first process is in now: else the rest keeps running while the engine thinks it
/// paused, and `state` says "running".
#[test]
fn pause_freezes_the_recorded_cgroup_not_where_the_first_process_moved() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let script = "sleep 1000 & \
        for h in /sys/fs/cgroup/*; do [ -e $h/cgroup.procs ] || continue; \
        mkdir $h/sub && echo $$ > $h/sub/cgroup.procs || exit 1; done; \
        echo > /ready; exec sleep 1000";
    let b = bundle_with(&["sh", "-c", script], |spec| {
        set(spec, "/root/readonly", json!(false));
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut().filter(|m| m["type"] == "cgroup") {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "moved"]);
    let pid = rt.pid("moved");
    rt.ok(&["start", "moved"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/ready").exists() {
        assert!(alive(pid), "the payload failed to move");
        assert!(std::time::Instant::now() < deadline, "the payload never moved");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let paused = rt.run(&["pause", "moved"]);
    let state: Value = serde_json::from_str(&rt.ok(&["state", "moved"])).unwrap();
    // Thawed again whatever happened (delete --force on drop handles the rest).
    let _ = rt.run(&["resume", "moved"]);
    assert!(paused.status.success(), "{}", String::from_utf8_lossy(&paused.stderr));
    assert_eq!(state["status"], "paused", "{state}");
}

/// `kill --all` reaches a process the container moved into a cgroup nested 40 deep (deeper
/// than the core's walk once went, 32), in every hierarchy it sees.
#[test]
fn kill_all_reaches_a_process_in_a_deeply_nested_cgroup() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let script = "sleep 1000 & child=$!; echo $child > /hidden.pid; \
        for h in /sys/fs/cgroup/*; do [ -e $h/cgroup.procs ] || continue; cd $h; i=0; \
        while [ $i -lt 40 ]; do mkdir d && cd d || exit 1; i=$((i+1)); done; echo $child > cgroup.procs || exit 1; done; \
        echo > /ready; exec sleep 1000";
    let b = bundle_with(&["sh", "-c", script], |spec| {
        set(spec, "/root/readonly", json!(false));
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut().filter(|m| m["type"] == "cgroup") {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
        let namespaces = spec["linux"]["namespaces"].as_array_mut().unwrap();
        namespaces.retain(|n| n["type"] != "pid");
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "killall"]);
    let state: Value = serde_json::from_slice(&fs::read(rt.root().join("killall/state.json")).unwrap()).unwrap();
    let dirs: Vec<PathBuf> = nsbox::CgroupHandle::open(state["cgroup_path"].as_str().unwrap())
        .unwrap()
        .dirs()
        .into_iter()
        .map(PathBuf::from)
        .collect();
    struct Leftovers(Vec<PathBuf>, PathBuf);
    impl Drop for Leftovers {
        fn drop(&mut self) {
            if let Some(pid) = fs::read_to_string(&self.1)
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
                && alive(pid)
            {
                // SAFETY: kill(2) of the container's process (our descendant), checked alive.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                reap(pid);
            }
            for dir in &self.0 {
                remove_cgroup_tree(dir);
            }
        }
    }
    let _leftovers = Leftovers(dirs, b.path().join("rootfs/hidden.pid"));
    let pid = rt.pid("killall");
    rt.ok(&["start", "killall"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/ready").exists() {
        assert!(alive(pid), "the payload failed to nest its cgroups");
        assert!(
            std::time::Instant::now() < deadline,
            "the payload never nested its cgroups"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let hidden: u32 = fs::read_to_string(b.path().join("rootfs/hidden.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    rt.ok(&["kill", "--all", "killall", "TERM"]);
    reap(pid);
    // SIGTERM's default action ends `sleep`: wait until it is gone (generous bound).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while alive(hidden) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!alive(hidden), "kill --all TERM missed process {hidden}");
}

/// `exec --cwd` through a symlink the hostile rootfs planted towards a host directory (and a
/// relative or climbing cwd): the exec'd process never gets a working directory outside the
/// container's root (runc's CVE-2024-21626 class).
#[test]
fn exec_cwd_never_leaves_the_container_root() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let host_dir = rt.dir.path().join("host-only");
    fs::create_dir(&host_dir).unwrap();
    fs::write(host_dir.join("host-marker"), "").unwrap();
    let b = bundle_with(&["sleep", "1000"], |_| {});
    let climb = format!("../../../../../../../../..{}", host_dir.display());
    symlink(&climb, b.path().join("rootfs/esc")).unwrap();
    symlink(&host_dir, b.path().join("rootfs/abs")).unwrap();
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "cwd"]);
    rt.ok(&["start", "cwd"]);
    // The control: an exec with a cwd in the container runs and lists it.
    let listed = rt.ok(&["exec", "--cwd", "/bin", "cwd", "/bin/sh", "-c", "ls"]);
    assert!(listed.contains("busybox"), "{listed}");
    let mut cwds = vec!["/esc".to_string(), "/abs".to_string(), climb.clone()];
    cwds.push(format!("/..{}", host_dir.display()));
    for cwd in &cwds {
        let out = rt.run(&["exec", "--cwd", cwd, "cwd", "/bin/sh", "-c", "ls -a; ls -a ..; pwd"]);
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            !said.contains("host-marker"),
            "--cwd {cwd}: the exec saw the host's directory: {said}"
        );
    }
}

/// A hostile rootfs whose mount points (`/dev`, `/proc`, `/sys`, the parent of a bind's
/// destination as Docker binds `/etc/hosts`) are symlinks to host directories, absolute or
/// climbing: `create` either refuses it or mounts inside the container; nothing is made,
/// mounted or changed in the host directory.
#[test]
fn mount_points_planted_as_symlinks_never_reach_the_host() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let hosts = rt.dir.path().join("hosts");
    fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    for (i, planted) in ["dev", "proc", "sys", "etc"].into_iter().enumerate() {
        for climbing in [false, true] {
            let target = rt.dir.path().join(format!("host-{planted}-{climbing}"));
            fs::create_dir(&target).unwrap();
            fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).unwrap();
            let b = bundle_with(&["true"], |spec| {
                set(spec, "/process/terminal", json!(planted == "dev"));
                let mounts = spec["mounts"].as_array_mut().unwrap();
                mounts.push(json!({"destination": "/etc/hosts", "type": "bind", "source": hosts, "options": ["rbind", "rprivate"]}));
            });
            let rootfs = b.path().join("rootfs");
            let link = match climbing {
                true => PathBuf::from(format!("../../../../../../../..{}", target.display())),
                false => target.clone(),
            };
            symlink(&link, rootfs.join(planted)).unwrap();
            let socket = rt.dir.path().join(format!("console-{i}-{climbing}.sock"));
            let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
            let id = format!("planted-{planted}-{climbing}");
            let mut args = vec!["create", "--bundle", b.path().to_str().unwrap()];
            if planted == "dev" {
                args.extend(["--console-socket", socket.to_str().unwrap()]);
            }
            args.push(&id);
            let out = rt.run(&args);
            if out.status.success() {
                let pid = rt.pid(&id);
                rt.ok(&["start", &id]);
                reap(pid);
                rt.ok(&["delete", &id]);
            }
            let inside: Vec<_> = fs::read_dir(&target)
                .unwrap()
                .flatten()
                .map(|e| e.file_name())
                .collect();
            let mode = fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
            assert!(
                inside.is_empty() && mode == 0o700,
                "{planted} -> {}: the host directory got {inside:?}, mode {mode:o} (create: {})",
                link.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
    }
}

/// Two `start`s racing on one created container: exactly one starts it (and runs the
/// `startContainer` and `poststart` hooks once); the other fails. Many rounds.
#[test]
fn racing_starts_start_once() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let record = rt.dir.path().join("poststart");
    let b = bundle_with(&["sleep", "1000"], |spec| {
        set(
            spec,
            "/hooks/poststart",
            json!([{"path": nsbox_common::BUSYBOX, "args": ["sh", "-c", format!("echo ran >> {}", record.display())]}]),
        );
    });
    for round in 0..100 {
        let id = format!("race{round}");
        let _ = fs::remove_file(&record);
        rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        let pid = rt.pid(&id);
        let spawn = || {
            rt.command(&["start", &id])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        };
        let (mut first, mut second) = (spawn(), spawn());
        let ok = [first.wait().unwrap(), second.wait().unwrap()]
            .iter()
            .filter(|s| s.success())
            .count();
        let ran = fs::read_to_string(&record).unwrap_or_default().lines().count();
        rt.ok(&["delete", "--force", &id]);
        reap(pid);
        assert_eq!(
            (ok, ran),
            (1, 1),
            "round {round}: {ok} starts succeeded, poststart ran {ran} times"
        );
    }
}

/// A container with a writable cgroup mount moves its first process into a cgroup it nests
/// and freezes (another of its processes writes the freeze). An `exec` must not join that
/// frozen cgroup and hang the engine's call: it joins the container's cgroup (as runc's exec
/// joins the recorded one), runs and returns. The exec is given a generous bound, then killed.
#[test]
fn exec_does_not_join_a_cgroup_the_container_froze() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let script = "sleep 1000 & \
        for h in /sys/fs/cgroup/freezer /sys/fs/cgroup/unified /sys/fs/cgroup; do \
          if [ -e $h/freezer.state ] || [ -e $h/cgroup.freeze ]; then mkdir $h/ice || exit 1; \
          if [ -e $h/ice/freezer.state ]; then f=$h/ice/freezer.state; v=FROZEN; else f=$h/ice/cgroup.freeze; v=1; fi; \
          (sleep 0.5; echo $v > $f; echo > /ready) & \
          echo $$ > $h/ice/cgroup.procs || exit 1; break; fi; done; \
        exec sleep 1000";
    let b = bundle_with(&["sh", "-c", script], |spec| {
        set(spec, "/root/readonly", json!(false));
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut().filter(|m| m["type"] == "cgroup") {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "iced"]);
    rt.ok(&["start", "iced"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/ready").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the payload never froze its cgroup"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let mut exec = rt
        .command(&["exec", "iced", "/bin/true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = exec.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = exec.kill();
            let _ = exec.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    // The frozen cgroup and the exec's leftovers go with delete --force (Runtime's drop).
    assert!(
        status.is_some_and(|s| s.success()),
        "exec hung in the frozen cgroup: {status:?}"
    );
}
