//! `ExecBuilder`'s settings beyond the command, as runc's `exec` flags have them: capabilities
//! given back within the container's bounding set (`cap_add`) or granted beyond it
//! (`cap_grant`, `ambient_capabilities`), the caller's fds
//! (`preserve_fds`), and a sub-cgroup of the container's (`cgroup`, `cgroup_of`) that never
//! leaves it. Each read back from the kernel by the exec'd process.

mod common;

use std::fs;
use std::path::PathBuf;

use nsbox::{Capability, CgroupError, ConfigError, Container, Controller, Error, Setting, Stdio};

/// A container (as root) sleeping until killed, in its own cgroup with a pids limit.
fn sleeper() -> Container {
    Container::builder()
        .cgroup()
        .pids_limit(64)
        .command("/bin/sleep")
        .arg("600")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn")
}

/// The exec's `/proc/self/status` field `field` (hex).
fn exec_status_hex(exec: &mut nsbox::ExecBuilder<'_>, field: &str) -> u64 {
    let out = exec
        .command("/bin/cat")
        .arg("/proc/self/status")
        .output()
        .expect("exec");
    common::status_hex(&common::stdout_of(&out), field)
}

#[test]
fn cap_add_gives_back_a_dropped_capability_and_never_more_than_the_container() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = sleeper();
    let kill = 1u64 << Capability::CAP_KILL as u32;
    let all = exec_status_hex(&mut container.exec(), "CapEff");
    assert_ne!(all & kill, 0, "{all:#x}");
    let dropped = exec_status_hex(container.exec().cap_drop(Capability::CAP_KILL), "CapEff");
    assert_eq!(dropped, all & !kill);
    let back = exec_status_hex(
        container
            .exec()
            .cap_drop(Capability::CAP_KILL)
            .cap_add(Capability::CAP_KILL),
        "CapEff",
    );
    assert_eq!(back, all);
    // The bounding set too: what an exec drops a setuid program could not get back.
    let bounding = exec_status_hex(container.exec().cap_drop(Capability::CAP_KILL), "CapBnd");
    assert_eq!(bounding & kill, 0);

    // The default set has no CAP_SYS_ADMIN: an exec cannot be given it.
    let err = container
        .exec()
        .command("/bin/true")
        .cap_add(Capability::CAP_SYS_ADMIN)
        .status()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Config(ConfigError::BeyondContainer { setting: Setting::Capabilities, value, .. })
                if value == "CAP_SYS_ADMIN"
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("beyond the container's bounding set"), "{err}");
}

/// The `/proc/PID/status` field `field` of a process of the caller's PID namespace (hex).
fn host_status_hex(pid: u32, field: &str) -> u64 {
    common::status_hex(&fs::read_to_string(format!("/proc/{pid}/status")).unwrap(), field)
}

#[test]
fn cap_grant_gives_an_exec_a_capability_the_container_lacks_and_its_seccomp_filter_stays() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    // Podman's 11 capabilities and Docker's seccomp profile: no CAP_SYS_PTRACE, CAP_SYS_ADMIN.
    let container = sleeper();
    let ptrace = 1u64 << Capability::CAP_SYS_PTRACE as u32;
    let admin = 1u64 << Capability::CAP_SYS_ADMIN as u32;
    assert_eq!(host_status_hex(container.pid(), "CapBnd") & (ptrace | admin), 0);
    let plain = exec_status_hex(&mut container.exec(), "CapEff");
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        let granted = exec_status_hex(container.exec().cap_grant(Capability::CAP_SYS_PTRACE), field);
        assert_eq!(granted, plain | ptrace, "{field}: {granted:#x}");
    }
    // Not the container's: its payload still lacks it, and `cap_add` still refuses it.
    assert_eq!(host_status_hex(container.pid(), "CapBnd") & ptrace, 0);
    let err = container
        .exec()
        .command("/bin/true")
        .cap_add(Capability::CAP_SYS_PTRACE)
        .status()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(ConfigError::BeyondContainer { value, .. }) if value == "CAP_SYS_PTRACE"),
        "{err:?}"
    );
    // A drop after the grant takes it away again.
    let dropped = exec_status_hex(
        container
            .exec()
            .cap_grant(Capability::CAP_SYS_PTRACE)
            .cap_drop(Capability::CAP_SYS_PTRACE),
        "CapBnd",
    );
    assert_eq!(dropped & ptrace, 0);

    // CAP_SYS_ADMIN granted, yet Docker's profile compiled for the container's capabilities
    // still refuses sethostname (allowed only with CAP_SYS_ADMIN): the filter is the
    // container's, not widened for the grant.
    let granted = exec_status_hex(container.exec().cap_grant(Capability::CAP_SYS_ADMIN), "CapEff");
    assert_ne!(granted & admin, 0, "{granted:#x}");
    let out = container
        .exec()
        .cap_grant(Capability::CAP_SYS_ADMIN)
        .command("/bin/hostname")
        .arg("granted")
        .output()
        .expect("exec");
    assert!(
        !out.status.success(),
        "sethostname passed the container's filter: {out:?}"
    );
    let hostname = container.exec().command("/bin/hostname").output().expect("exec");
    assert_ne!(common::stdout_of(&hostname).trim(), "granted");
}

#[test]
fn an_exec_as_another_user_keeps_a_granted_capability_only_as_an_ambient_one() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = sleeper();
    let ptrace = 1u64 << Capability::CAP_SYS_PTRACE as u32;
    let grant = |exec: &mut nsbox::ExecBuilder<'_>| {
        exec.user(1000, 1000).cap_grant(Capability::CAP_SYS_PTRACE);
    };
    // Without an ambient set: only in the bounding set (runc's --cap as non-root gives as
    // much: the kernel clears the permitted set at the exec of a file without capabilities).
    let mut exec = container.exec();
    grant(&mut exec);
    assert_eq!(exec_status_hex(&mut exec, "CapBnd") & ptrace, ptrace);
    let mut exec = container.exec();
    grant(&mut exec);
    assert_eq!(exec_status_hex(&mut exec, "CapEff"), 0);
    // With it: ambient, inheritable, permitted and effective after the exec.
    for field in ["CapAmb", "CapInh", "CapPrm", "CapEff"] {
        let mut exec = container.exec();
        grant(&mut exec);
        exec.ambient_capabilities([Capability::CAP_SYS_PTRACE]);
        assert_eq!(exec_status_hex(&mut exec, field), ptrace, "{field}");
    }
    // An ambient capability beyond the exec's bounding set: refused.
    let err = container
        .exec()
        .user(1000, 1000)
        .ambient_capabilities([Capability::CAP_SYS_PTRACE])
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Config(ConfigError::Conflict {
                setting: Setting::AmbientCapabilities,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn preserve_fds_that_are_not_open_fail_the_exec() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = sleeper();
    let err = container
        .exec()
        .command("/bin/true")
        .preserve_fds(60000)
        .status()
        .unwrap_err();
    assert!(err.to_string().contains("is not open"), "{err}");
}

/// The host directories of the cgroups `pid` is in, one per hierarchy where it has one below
/// the root (v1 `controllers` or `""` for v2), as `/proc/PID/cgroup` names them from here.
fn cgroup_dirs(pid: u32) -> Vec<(String, PathBuf)> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.strip_prefix('/')?;
            if path.is_empty() || controllers.starts_with("name=") {
                return None;
            }
            let base = match controllers {
                "" if PathBuf::from("/sys/fs/cgroup/unified/cgroup.procs").exists() => "/sys/fs/cgroup/unified".into(),
                "" => PathBuf::from("/sys/fs/cgroup"),
                v1 => PathBuf::from("/sys/fs/cgroup").join(v1),
            };
            Some((controllers.to_owned(), base.join(path)))
        })
        .filter(|(_, dir)| dir.exists())
        .collect()
}

/// The exec's own `/proc/self/cgroup` line for the hierarchy `controllers`, as the host sees it.
fn exec_cgroup_line(exec: &mut nsbox::ExecBuilder<'_>, controllers: &str) -> String {
    let out = exec
        .command("/bin/sh")
        .args(["-c", "cat /proc/$$/cgroup"])
        .output()
        .expect("exec");
    let text = common::stdout_of(&out);
    text.lines()
        .find(|l| l.split(':').nth(1) == Some(controllers))
        .unwrap_or_else(|| panic!("no {controllers:?} line in {text}"))
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn exec_runs_in_a_sub_cgroup_of_the_containers_and_never_outside() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = sleeper();
    let dirs = cgroup_dirs(container.pid());
    assert!(!dirs.is_empty(), "no cgroup of the container's found");
    for (_, dir) in &dirs {
        fs::create_dir(dir.join("sub")).unwrap();
    }
    // In every hierarchy: `sub` (the container has a cgroup namespace: paths from its root).
    for (controllers, _) in &dirs {
        let line = exec_cgroup_line(container.exec().cgroup("sub"), controllers);
        assert_eq!(line, "/sub", "hierarchy {controllers:?}");
        let line = exec_cgroup_line(container.exec().cgroup("/./sub"), controllers);
        assert_eq!(line, "/sub", "hierarchy {controllers:?}");
    }
    // One v1 controller's hierarchy only.
    if let Some((pids, _)) = dirs.iter().find(|(c, _)| c.split(',').any(|c| c == "pids")) {
        for (controllers, _) in &dirs {
            let line = exec_cgroup_line(container.exec().cgroup_of(Controller::Pids, "sub"), controllers);
            assert_eq!(line, if controllers == pids { "/sub" } else { "/" }, "{controllers:?}");
        }
    } else {
        let err = container
            .exec()
            .command("/bin/true")
            .cgroup_of(Controller::Pids, "sub")
            .status()
            .unwrap_err();
        assert!(err.to_string().contains("unknown controller pids"), "{err}");
    }

    // `..` never leaves the container's cgroup; a missing cgroup is an error; nothing runs.
    for sub in ["..", "../sub", "sub/../.."] {
        let err = container.exec().command("/bin/true").cgroup(sub).status().unwrap_err();
        assert!(
            matches!(&err, Error::Cgroup(CgroupError::Refused { why, .. }) if why.contains("not a sub-cgroup")),
            "{sub}: {err:?}"
        );
    }
    let err = container
        .exec()
        .command("/bin/true")
        .cgroup("missing")
        .status()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Cgroup(CgroupError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound),
        "{err:?}"
    );

    // A sub-cgroup frozen (by the container, say): refused, not a setup process stopped there.
    if let Some((_, v2)) = dirs.iter().find(|(c, _)| c.is_empty()) {
        for (_, dir) in &dirs {
            fs::create_dir(dir.join("ice")).unwrap();
        }
        fs::write(v2.join("ice/cgroup.freeze"), "1").unwrap();
        common::wait_until("ice frozen", std::time::Duration::from_secs(30), || {
            fs::read_to_string(v2.join("ice/cgroup.events")).is_ok_and(|e| e.contains("frozen 1"))
        });
        let err = container
            .exec()
            .command("/bin/true")
            .cgroup("ice")
            .status()
            .unwrap_err();
        assert!(err.to_string().contains("is frozen"), "{err}");
    }
    // The execs are gone: their cgroups are empty, and ours to remove.
    for (_, dir) in &dirs {
        for sub in ["sub", "ice"] {
            let _ = fs::remove_dir(dir.join(sub));
        }
    }
    drop(container);
    for (_, dir) in &dirs {
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
}

#[test]
fn a_container_without_a_cgroup_takes_no_sub_cgroup() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = Container::builder()
        .command("/bin/sleep")
        .arg("600")
        .spawn()
        .expect("spawn");
    let err = container
        .exec()
        .command("/bin/true")
        .cgroup("sub")
        .status()
        .unwrap_err();
    assert!(err.to_string().contains("has no cgroup"), "{err}");
}

#[test]
fn no_new_privileges_narrows_an_exec_of_a_container_without_it() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = Container::builder()
        .unsafe_allow_new_privileges()
        .command("/bin/sleep")
        .arg("600")
        .spawn()
        .expect("spawn");
    assert_eq!(exec_status_hex(&mut container.exec(), "NoNewPrivs"), 0);
    assert_eq!(exec_status_hex(container.exec().no_new_privileges(), "NoNewPrivs"), 1);
}

#[test]
fn sub_cgroup_and_affinity_execs_hold_no_fd_of_the_caller_afterwards() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let container = sleeper();
    let dirs = cgroup_dirs(container.pid());
    for (_, dir) in &dirs {
        fs::create_dir(dir.join("sub")).unwrap();
    }
    let fds = |s: &common::Snapshot| s.fds.clone();
    let before = common::Snapshot::take();
    for _ in 0..3 {
        let status = container
            .exec()
            .command("/bin/true")
            .cgroup("sub")
            .initial_cpu_affinity("0")
            .status();
        assert!(status.unwrap().success());
        assert!(container.exec().command("/bin/true").cgroup("../x").status().is_err());
        assert!(
            container
                .exec()
                .command("/bin/true")
                .cgroup("missing")
                .status()
                .is_err()
        );
    }
    let mut after = common::Snapshot::take();
    for _ in 0..20 {
        if fds(&after) == fds(&before) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        after = common::Snapshot::take();
    }
    assert_eq!(fds(&after), fds(&before), "fds held after the execs");
    for (_, dir) in &dirs {
        let _ = fs::remove_dir(dir.join("sub"));
    }
}
