//! Joining a running container's user namespace by path (issue 16; a Kubernetes pod with
//! `hostUsers: false`): the container's root is the namespace's, the namespaces the container
//! creates belong to it, other joins come after it, the typed errors, no leaks, and the
//! intermediate process that enters it out of the payload's reach.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};

use common::{Snapshot, refused, sh_builder, stdout_of};
use nsbox::{Capability, ConfigError, Container, Error, IdMap, Namespaces, Network, Rootfs, Setting, Signal, Stdio};

const HOST_ROOT: u32 = 200_000;

/// A container in a user namespace of its own (root at `HOST_ROOT`) and every other namespace
/// of its own, sleeping: the "pod sandbox" whose namespaces are joined.
fn sandbox() -> Container {
    Container::builder()
        .namespaces(Namespaces::all())
        .uid_map([IdMap::new(0, HOST_ROOT, 65536)])
        .gid_map([IdMap::new(0, HOST_ROOT, 65536)])
        .hostname("sandbox")
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap()
}

fn ns_path(container: &Container, name: &str) -> String {
    format!("/proc/{}/ns/{name}", container.pid())
}

fn user_ns_inode(pid: u32) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/user")).unwrap().ino()
}

fn finish(mut container: Container) {
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
}

#[test]
fn the_containers_new_namespaces_belong_to_the_joined_user_namespace() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let mut joiner = sh_builder(
        "id -u; cat /proc/self/uid_map; touch /run/made; mount -t tmpfs t /tmp && echo mounted; hostname; read x || true",
    )
    .namespaces(Namespaces::all())
    .join_namespace(Namespaces::USER, ns_path(&target, "user"))
    .cap_add(Capability::CAP_SYS_ADMIN)
    .hostname("joiner")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let joined = user_ns_inode(target.pid());
    assert_eq!(user_ns_inode(joiner.pid()), joined);
    for name in ["mnt", "uts", "ipc", "net", "pid", "cgroup"] {
        assert_eq!(
            common::owner_of(joiner.pid(), name),
            joined,
            "the owner of the container's {name} namespace"
        );
        assert_ne!(
            common::ns_link(&joiner.pid().to_string(), name),
            common::ns_link(&target.pid().to_string(), name)
        );
    }
    // Wait for the first lines, then look at the file made, from the host.
    let mut stdout = joiner.take_stdout().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 512];
    while !text.contains("joiner") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "{text}");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let made = std::fs::metadata(format!("/proc/{}/root/run/made", joiner.pid())).unwrap();
    assert_eq!((made.uid(), made.gid()), (HOST_ROOT, HOST_ROOT));
    drop(joiner.take_stdin());
    let status = joiner.wait().unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(status.success(), "{status}: {text}");
    assert_eq!(lines[0], "0", "{text}");
    let map: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(map, ["0", &HOST_ROOT.to_string(), "65536"], "{text}");
    assert_eq!(&lines[2..], ["mounted", "joiner"], "{text}");
    finish(target);
}

/// What a Kubernetes pod's container does: the sandbox's user, network, IPC and UTS namespaces
/// joined, mount and PID namespaces of its own.
#[test]
fn a_pod_container_joins_the_sandboxs_user_network_ipc_and_uts_namespaces() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let out = sh_builder(
        "id -u; hostname; readlink /proc/self/ns/net /proc/self/ns/ipc /proc/self/ns/uts; cat /proc/sys/kernel/shmmax",
    )
    .namespaces(Namespaces::all())
    .join_namespace(Namespaces::USER, ns_path(&target, "user"))
    .network(Network::join_path(ns_path(&target, "net")))
    .join_namespace(Namespaces::IPC, ns_path(&target, "ipc"))
    .join_namespace(Namespaces::UTS, ns_path(&target, "uts"))
    .sysctl("kernel.shmmax", "65536")
    .output()
    .unwrap();
    let text = stdout_of(&out);
    let pid = target.pid().to_string();
    let expected = format!(
        "0\nsandbox\n{}\n{}\n{}\n65536\n",
        common::ns_link(&pid, "net"),
        common::ns_link(&pid, "ipc"),
        common::ns_link(&pid, "uts")
    );
    // The sysctl was written in the joined IPC namespace, which the joined user namespace owns.
    assert_eq!(text, expected);
    finish(target);
}

/// The container's cgroups take it in as for any spawn: v1 through the `tasks` files the
/// caller opened (written by the setup process before it takes the namespace's root), v2 by
/// `CLONE_INTO_CGROUP` from the intermediate, whose permission over the cgroup is its owner's.
#[test]
fn a_container_joining_a_user_namespace_is_in_its_cgroups_with_its_limits() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let mut joiner = sh_builder("read x || true")
        .namespaces(Namespaces::all())
        .join_namespace(Namespaces::USER, ns_path(&target, "user"))
        .pids_limit(64)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", joiner.pid())).unwrap();
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let line = |text: &str, prefix: &str| text.lines().find(|l| l.contains(prefix)).map(str::to_owned);
    let pids = line(&cgroups, ":pids:").or_else(|| line(&cgroups, "0::")).unwrap();
    assert_ne!(
        Some(&pids),
        line(&own, ":pids:").or_else(|| line(&own, "0::")).as_ref(),
        "{cgroups}"
    );
    let path = pids.splitn(3, ':').nth(2).unwrap();
    let limit = ["/sys/fs/cgroup/pids", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .iter()
        .find_map(|root| std::fs::read_to_string(format!("{root}{path}/pids.max")).ok())
        .unwrap_or_else(|| panic!("no pids.max for {path}"));
    // The payload's 64 and nsbox's init.
    assert_eq!(limit.trim(), "65");
    if let (Some(unified), Some(caller)) = (line(&cgroups, "0::"), line(&own, "0::")) {
        assert_ne!(unified, caller, "in the container's v2 cgroup: {cgroups}");
    }
    drop(joiner.take_stdin());
    assert!(joiner.wait().unwrap().success());
    finish(target);
}

/// A pod sharing its process namespace: the sandbox's user and PID namespaces joined. The
/// intermediate is born in the joined PID namespace (the spawning thread entered it), and so is
/// the setup process it clones, which is still the caller's child (`CLONE_PARENT`).
#[test]
fn user_and_pid_namespaces_are_joined_together() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let joiner = sh_builder("id -u; cat /proc/1/comm; read x || true")
        .namespaces(Namespaces::all())
        .join_namespace(Namespaces::USER, ns_path(&target, "user"))
        .join_namespace(Namespaces::PID, ns_path(&target, "pid"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = joiner.pid().to_string();
    assert_eq!(
        common::ns_link(&pid, "pid"),
        common::ns_link(&target.pid().to_string(), "pid")
    );
    assert_eq!(
        common::proc_stat(joiner.pid()).unwrap()[1],
        std::process::id().to_string()
    );
    let mut joiner = joiner;
    drop(joiner.take_stdin());
    let out = joiner.wait_with_output().unwrap();
    // PID 1 there is the sandbox's init.
    let init = std::fs::read_to_string(format!("/proc/{}/comm", target.pid())).unwrap();
    assert_eq!(stdout_of(&out), format!("0\n{init}"));
    finish(target);
}

/// `Profile::Sandbox` makes a user namespace of its own; joined, the joined one replaces it.
#[test]
fn the_sandbox_profile_joins_a_user_namespace_instead_of_making_one() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let out = sh_builder("id -u; cat /proc/self/uid_map")
        .profile(nsbox::Profile::Sandbox)
        .join_namespace(Namespaces::USER, ns_path(&target, "user"))
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.starts_with("0\n") && text.contains(&HOST_ROOT.to_string()),
        "{text}"
    );
    finish(target);
}

#[test]
fn exec_into_a_container_that_joined_a_user_namespace_is_its_root() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let joiner = Container::builder()
        .namespaces(Namespaces::all())
        .join_namespace(Namespaces::USER, ns_path(&target, "user"))
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let out = joiner
        .exec()
        .command("/bin/sh")
        .args(["-c", "id -u; cat /proc/self/uid_map"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "0", "{text}");
    assert_eq!(
        lines[1].split_whitespace().nth(1),
        Some(HOST_ROOT.to_string().as_str()),
        "{text}"
    );
    finish(joiner);
    finish(target);
}

#[test]
fn joining_what_is_not_a_live_user_namespace_fails_naming_the_path() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = sandbox();
    // Another type of namespace.
    let ipc = ns_path(&target, "ipc");
    let err = sh_builder("true")
        .join_namespace(Namespaces::USER, &ipc)
        .output()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(ConfigError::Malformed { setting: Setting::JoinNamespace, value, .. }) if value.contains(&ipc)),
        "{err}"
    );
    // A user namespace whose processes all exited is kept by an fd: it can still be joined.
    let kept = std::fs::File::open(ns_path(&target, "user")).unwrap();
    let gone = ns_path(&target, "user");
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
    let out = sh_builder("id -u; cat /proc/self/uid_map")
        .namespaces(Namespaces::all())
        .join_namespace(Namespaces::USER, format!("/proc/self/fd/{}", kept.as_raw_fd()))
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(
        text.starts_with("0\n") && text.contains(&HOST_ROOT.to_string()),
        "{text}"
    );
    // Its process's path is gone with it.
    let err = sh_builder("true")
        .join_namespace(Namespaces::USER, &gone)
        .output()
        .unwrap_err();
    assert!(err.to_string().contains(&gone), "{err}");
}

#[test]
fn user_namespace_maps_reads_a_namespaces_maps() {
    let _serial = common::exclusive();
    let own = nsbox::user_namespace_maps("/proc/self/ns/user").unwrap();
    let text = std::fs::read_to_string("/proc/self/uid_map").unwrap();
    let first: Vec<u32> = text.split_whitespace().take(3).map(|n| n.parse().unwrap()).collect();
    assert_eq!(own.0[0], IdMap::new(first[0], first[1], first[2]));
    if !common::root() {
        return;
    }
    let target = sandbox();
    let before = Snapshot::take();
    let maps = nsbox::user_namespace_maps(ns_path(&target, "user")).unwrap();
    assert_eq!(
        maps,
        (
            vec![IdMap::new(0, HOST_ROOT, 65536)],
            vec![IdMap::new(0, HOST_ROOT, 65536)]
        )
    );
    let err = nsbox::user_namespace_maps(ns_path(&target, "net")).unwrap_err();
    assert!(err.to_string().contains("/ns/net"), "{err}");
    before.assert_unchanged("reading a user namespace's maps");
    finish(target);
}

#[test]
fn settings_a_joined_user_namespace_cannot_have_are_refused() {
    let _serial = common::exclusive();
    let path = "/proc/1/ns/user";
    let err = refused(
        sh_builder("true")
            .join_namespace(Namespaces::USER, path)
            .uid_map([IdMap::new(0, 1000, 1)]),
    );
    assert!(
        matches!(
            err,
            ConfigError::Conflict {
                setting: Setting::UidMap,
                with: Setting::JoinNamespace,
                ..
            }
        ),
        "{err}"
    );
    let err = refused(
        sh_builder("true")
            .join_namespace(Namespaces::USER, path)
            .rootfs(Rootfs::overlay(["/usr"], nsbox::Upper::Tmpfs { size: None })),
    );
    assert!(
        matches!(
            err,
            ConfigError::Conflict {
                setting: Setting::Rootfs,
                with: Setting::JoinNamespace,
                ..
            }
        ),
        "{err}"
    );
    // Other joins beside a new user namespace stay refused.
    let err = refused(
        sh_builder("true")
            .namespaces(Namespaces::all())
            .join_namespace(Namespaces::IPC, "/proc/1/ns/ipc"),
    );
    assert!(
        matches!(
            err,
            ConfigError::Conflict {
                setting: Setting::JoinNamespace,
                with: Setting::Namespaces,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn user_namespace_joins_leak_nothing() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let path = ns_path(&target, "user");
    let join = || {
        let out = sh_builder("true")
            .namespaces(Namespaces::all())
            .join_namespace(Namespaces::USER, &path)
            .output()
            .unwrap();
        stdout_of(&out);
        // And a failing one: the intermediate joins, the setup process fails.
        let failed = sh_builder("true")
            .namespaces(Namespaces::all())
            .join_namespace(Namespaces::USER, &path)
            .current_dir("/nonexistent")
            .output();
        assert!(failed.is_err());
    };
    join();
    let before = Snapshot::take();
    for _ in 0..3 {
        join();
    }
    before.assert_unchanged("user namespace joins");
    finish(target);
}

/// Whether a process of the user namespace `userns` with every capability in it and host
/// uid 0 (the setup process's until its `SetCredentials`) opens `/proc/PID/mem`: a raw fork
/// that joins and opens, without exec (an exec there, unmapped, would drop its capabilities).
fn joined_root_opens_memory_of(userns: &std::fs::File, pid: u32) -> bool {
    let path = std::ffi::CString::new(format!("/proc/{pid}/mem")).unwrap();
    // SAFETY: the child makes only async-signal-safe calls on data prepared before the fork.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: raw calls on an fd and a C string this process holds.
        let code = unsafe {
            if libc::setns(userns.as_raw_fd(), libc::CLONE_NEWUSER) != 0 {
                2
            } else if libc::open(path.as_ptr(), libc::O_RDONLY) >= 0 {
                0
            } else {
                1
            }
        };
        // SAFETY: ends the forked child without running the test harness's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for the child just forked.
    assert_eq!(unsafe { libc::waitpid(child, &mut status, 0) }, child);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) < 2,
        "the probe could not join"
    );
    libc::WEXITSTATUS(status) == 0
}

/// The intermediate that enters the namespace is gone before anything of the container runs
/// (only the setup process is the caller's child when it is released), and the setup process
/// is not dumpable by then: a process of the joined namespace with every capability in it and
/// the setup process's uid cannot open its memory, while it can open a dumpable one's (the
/// sandbox's payload, the control: same checks but dumpability).
#[test]
fn the_joined_namespaces_processes_cannot_reach_the_intermediate_or_the_setup_process() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let target = sandbox();
    let user = ns_path(&target, "user");
    let userns = Arc::new(std::fs::File::open(&user).unwrap());
    let before = common::children_of(std::process::id());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let probe = userns.clone();
    let out = sh_builder("true")
        .namespaces(Namespaces::all())
        .join_namespace(Namespaces::USER, &user)
        .on_created(move |pid| {
            let children = common::children_of(std::process::id());
            let new: Vec<u32> = children.difference(&before).copied().collect();
            record.lock().unwrap().push(format!("children {new:?} setup {pid}"));
            let opened = joined_root_opens_memory_of(&probe, pid);
            record.lock().unwrap().push(format!("opened {opened}"));
            Ok(())
        })
        .output()
        .unwrap();
    stdout_of(&out);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let setup = seen[0].rsplit(' ').next().unwrap();
    assert_eq!(
        seen[0],
        format!("children [{setup}] setup {setup}"),
        "only the setup process is the caller's child"
    );
    assert_eq!(seen[1], "opened false", "{seen:?}");
    // The control: the sandbox's sleep, dumpable, in the same namespace, as its root (another
    // uid than the probe's, over which the probe's capabilities in the namespace count).
    let sleeper = common::children_of(target.pid())
        .into_iter()
        .next()
        .unwrap_or(target.pid());
    assert!(joined_root_opens_memory_of(&userns, sleeper));
    finish(target);
}
