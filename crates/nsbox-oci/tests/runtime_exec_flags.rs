//! `nsbox-runtime exec`'s flags beyond the process, as runc has them: `--cap` (and a
//! process.json's capabilities beyond the container's, as `docker exec --privileged` sends),
//! `--preserve-fds`, `--cgroup` (with escapes refused), and `--apparmor`/`--process-label`
//! refused on a host without them. Each flag's effect is read back from the kernel by the
//! exec'd process (`/proc/self/status`, `/proc/self/cgroup`, a file written through fd 3).

mod common;
mod runtime_support;

#[path = "../../../tests/common/mod.rs"]
mod nsbox_common;

use std::fs;
use std::os::fd::AsRawFd;
use std::process::Command;

use common::set;
use runtime_support::{RUNTIME, Runtime, bundle, bundle_with, pass_as_fd_3, reap};
use serde_json::{Value, json};

/// The `CapEff:` mask of `/proc/self/status` as printed by an exec.
fn cap_eff(status: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap_or_else(|| panic!("no CapEff in {status}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

/// The `field:` mask of a `/proc/…/status` text.
fn status_mask(status: &str, field: &str) -> u64 {
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    u64::from_str_radix(hex.trim(), 16).unwrap()
}

#[test]
fn exec_cap_grants_a_capability_even_beyond_the_containers_bounding_set() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "caps"]);
    let pid = rt.pid("caps");
    rt.ok(&["start", "caps"]);
    // runc spec's sets: AUDIT_WRITE (29), KILL (5), NET_BIND_SERVICE (10).
    let plain = cap_eff(&rt.ok(&["exec", "caps", "cat", "/proc/self/status"]));
    assert_eq!(plain, 1 << 29 | 1 << 5 | 1 << 10);
    let added = cap_eff(&rt.ok(&["exec", "--cap", "CAP_KILL", "caps", "cat", "/proc/self/status"]));
    assert_eq!(added, plain);

    // CAP_SYS_PTRACE (19), which the container lacks: granted, as runc grants it (debugging).
    let ptrace = 1u64 << 19;
    let status = rt.ok(&["exec", "--cap", "CAP_SYS_PTRACE", "caps", "cat", "/proc/self/status"]);
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_mask(&status, field), plain | ptrace, "{field}: {status}");
    }
    // runc adds it to the ambient set too, where the kernel raises nothing without it in the
    // inheritable set: empty, as under runc.
    assert_eq!(status_mask(&status, "CapAmb"), 0);
    assert_eq!(status_mask(&status, "CapInh"), 0);
    // The container's own process still lacks it.
    let first = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_mask(&first, "CapBnd") & ptrace, 0);

    assert!(
        rt.fails(&["exec", "--cap", "CAP_MAKE_COFFEE", "caps", "true"])
            .contains("--cap")
    );
    // runc ignores --cap with --process; nsbox refuses rather than ignore it.
    let process = rt.dir.path().join("process.json");
    let spec = json!({"args": ["true"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
    fs::write(&process, spec.to_string()).unwrap();
    let msg = rt.fails(&[
        "exec",
        "--cap",
        "CAP_KILL",
        "--process",
        process.to_str().unwrap(),
        "caps",
    ]);
    assert!(msg.contains("--cap is not supported with --process"), "{msg}");
    rt.ok(&["kill", "caps", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "caps"]);
}

/// `docker exec --privileged`: Docker copies the container's process and puts every
/// capability available to it in bounding, permitted and effective (no inheritable, no
/// ambient: moby's `execSetPlatformOpt`), as root or as another user.
#[test]
fn exec_process_json_with_every_capability_as_docker_exec_privileged_sends() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "priv"]);
    let pid = rt.pid("priv");
    rt.ok(&["start", "priv"]);
    // Every capability available here: in this process's bounding set (moby's
    // GetAllCapabilities; a test environment may lack one).
    let every = status_mask(&fs::read_to_string("/proc/self/status").unwrap(), "CapBnd");
    let all: Vec<String> = nsbox::Capabilities::all()
        .iter()
        .filter(|c| every & 1 << *c as u32 != 0)
        .map(|c| c.to_string())
        .collect();
    let container: Value = serde_json::from_slice(&fs::read(b.path().join("config.json")).unwrap()).unwrap();
    let privileged = |uid: u32| {
        let mut p = container["process"].clone();
        p["args"] = json!(["cat", "/proc/self/status"]);
        p["user"] = json!({"uid": uid, "gid": uid});
        p["capabilities"] = json!({"bounding": all, "permitted": all, "effective": all});
        p
    };
    let process = rt.dir.path().join("privileged.json");
    fs::write(&process, privileged(0).to_string()).unwrap();
    let status = rt.ok(&["exec", "--process", process.to_str().unwrap(), "priv"]);
    for field in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(status_mask(&status, field), every, "{field}: {status}");
    }
    assert_eq!(status_mask(&status, "CapInh"), 0);
    assert_eq!(status_mask(&status, "CapAmb"), 0);
    // The container's process is as it was.
    let first = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_eq!(status_mask(&first, "CapBnd"), 1 << 29 | 1 << 5 | 1 << 10);
    // `docker exec --privileged -u 1000`: every capability in the bounding set, none left
    // after the exec of a file without capabilities (the kernel's rule, as under runc). The
    // bundle has noNewPrivileges: permitted must then be the ambient set (docs/oci.md), so
    // this one runs in a container without it.
    let b2 = bundle_with(&["sleep", "1000"], |spec| {
        set(spec, "/process/noNewPrivileges", json!(false));
    });
    rt.ok(&["create", "--bundle", b2.path().to_str().unwrap(), "priv2"]);
    let pid2 = rt.pid("priv2");
    rt.ok(&["start", "priv2"]);
    let mut user = privileged(1000);
    user["noNewPrivileges"] = json!(false);
    fs::write(&process, user.to_string()).unwrap();
    let status = rt.ok(&["exec", "--process", process.to_str().unwrap(), "priv2"]);
    assert_eq!(status_mask(&status, "CapBnd"), every);
    assert_eq!(status_mask(&status, "CapEff"), 0);
    // With noNewPrivileges a non-root process's permitted set must be its ambient set: what
    // nsbox cannot honour is refused by field name.
    fs::write(&process, privileged(1000).to_string()).unwrap();
    let msg = rt.fails(&["exec", "--process", process.to_str().unwrap(), "priv"]);
    assert!(msg.contains("process.capabilities.permitted"), "{msg}");
    for (id, pid) in [("priv", pid), ("priv2", pid2)] {
        rt.ok(&["kill", id, "KILL"]);
        reap(pid);
        rt.ok(&["delete", id]);
    }
}

#[test]
fn exec_apparmor_and_process_label_are_refused_on_a_host_without_them() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let options = nsbox_oci::Options::probe();
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "lsm"]);
    let msg = rt.fails(&["exec", "--apparmor", "docker-default", "lsm", "true"]);
    let want = match options.apparmor {
        false => "--apparmor is not supported: this host has no AppArmor (profile \"docker-default\")",
        true => "--apparmor is not supported: nsbox cannot apply AppArmor profile \"docker-default\"",
    };
    assert!(msg.contains(want), "{msg}");
    let msg = rt.fails(&[
        "exec",
        "--process-label",
        "system_u:system_r:container_t:s0",
        "lsm",
        "true",
    ]);
    let want = match options.selinux {
        false => "--process-label is not supported: this host has no SELinux",
        true => "--process-label is not supported: nsbox cannot apply SELinux label",
    };
    assert!(msg.contains(want), "{msg}");
}

#[test]
fn exec_preserve_fds_passes_the_callers_fds() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle(&["sleep", "1000"]);
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "fds"]);
    let pid = rt.pid("fds");
    rt.ok(&["start", "fds"]);
    let out_path = rt.dir.path().join("fd3.out");
    let out = fs::File::create(&out_path).unwrap();
    let fd = out.as_raw_fd();
    let mut cmd = Command::new(RUNTIME);
    cmd.arg("--root")
        .arg(rt.root())
        .args(["exec", "--preserve-fds", "1", "fds", "sh", "-c", "echo from-exec >&3"])
        .stdin(std::process::Stdio::null());
    pass_as_fd_3(&mut cmd, fd);
    let status = cmd.status().unwrap();
    drop(out);
    assert!(status.success(), "{status:?}");
    assert_eq!(fs::read_to_string(&out_path).unwrap(), "from-exec\n");
    // Without it, fd 3 is not the exec's.
    let out = rt.run(&["exec", "fds", "sh", "-c", "echo x >&3"]);
    assert!(!out.status.success(), "{out:?}");
    // More than the caller passed: refused, never filled with the runtime's own fds.
    let msg = rt.fails(&["exec", "--preserve-fds", "40", "fds", "true"]);
    assert!(msg.contains("is not open"), "{msg}");
    rt.ok(&["kill", "fds", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "fds"]);
}

/// The hierarchies in which the container's cgroup is its cgroup namespace's root ("/"), as
/// `/proc/self/cgroup` lines of a plain exec show them, with the path a `--cgroup` exec has in
/// each.
fn cgroup_lines(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|l| l.rsplit_once(':'))
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .collect()
}

#[test]
fn exec_cgroup_runs_in_the_containers_sub_cgroup_and_never_outside() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    // The payload makes `sub` in every hierarchy it sees (a writable cgroup mount), as a
    // container that manages its own cgroups does.
    let script = "for h in /sys/fs/cgroup/* /sys/fs/cgroup; do [ -e $h/cgroup.procs ] || continue; \
        mkdir -p $h/sub || exit 1; done; echo > /ready; exec sleep 1000";
    let b = bundle_with(&["sh", "-c", script], |spec| {
        set(spec, "/root/readonly", json!(false));
        let mounts = spec["mounts"].as_array_mut().unwrap();
        for m in mounts.iter_mut().filter(|m| m["type"] == "cgroup") {
            m["options"] = json!(["nosuid", "noexec", "nodev", "relatime", "rw"]);
        }
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "sub"]);
    let pid = rt.pid("sub");
    rt.ok(&["start", "sub"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !b.path().join("rootfs/ready").exists() {
        assert!(std::time::Instant::now() < deadline, "the payload made no sub-cgroup");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let plain = cgroup_lines(&rt.ok(&["exec", "sub", "cat", "/proc/self/cgroup"]));
    assert!(plain.iter().all(|(_, p)| p == "/"), "{plain:?}");
    // The hierarchies the container has a cgroup of its own in: its `sub` in each (the
    // others, where nsbox makes it none, stay the cgroup namespace's root).
    let moved = cgroup_lines(&rt.ok(&["exec", "--cgroup", "sub", "sub", "cat", "/proc/self/cgroup"]));
    let in_sub: Vec<&str> = moved
        .iter()
        .filter(|(_, p)| p == "/sub")
        .map(|(h, _)| h.as_str())
        .collect();
    assert!(moved.iter().all(|(_, p)| p == "/" || p == "/sub"), "{moved:?}");
    let v1_pids = plain.iter().any(|(h, _)| h.ends_with(":pids"));
    assert!(!v1_pids || in_sub.iter().any(|h| h.ends_with(":pids")), "{moved:?}");
    if let Some((v2, _)) = plain.iter().find(|(h, _)| h == "0:") {
        assert!(in_sub.contains(&v2.as_str()), "{moved:?}");
    }
    // The pids hierarchy only; the others stay the container's (on cgroup v2 there is no
    // such hierarchy: "unknown controller", as under runc).
    let args = ["exec", "--cgroup", "pids:/sub", "sub", "cat", "/proc/self/cgroup"];
    if v1_pids {
        let one = cgroup_lines(&rt.ok(&args));
        for (h, p) in &one {
            let want = if h.ends_with(":pids") { "/sub" } else { "/" };
            assert_eq!(p, want, "hierarchy {h}: {one:?}");
        }
    } else {
        assert!(rt.fails(&args).contains("unknown controller"));
    }

    // Escapes and what does not exist: refused, nothing run.
    for (arg, want) in [
        ("../sub", "is not a sub-cgroup path"),
        ("sub/../..", "is not a sub-cgroup path"),
        ("missing", "No such file or directory"),
        ("net_prio,bogus:sub", "unknown controller"),
        ("a:b:c", "invalid --cgroup argument"),
    ] {
        let msg = rt.fails(&["exec", "--cgroup", arg, "sub", "mkdir", "/escaped"]);
        assert!(msg.contains(want), "--cgroup {arg}: {msg}");
    }
    assert!(!b.path().join("rootfs/escaped").exists());
    rt.ok(&["kill", "sub", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "sub"]);
}

/// `Cpus_allowed_list` of a `/proc/self/status` printed by an exec.
fn cpus_allowed(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_else(|| panic!("no Cpus_allowed_list in {status}"))
        .trim()
        .to_owned()
}

#[test]
fn exec_cpu_affinity_comes_from_process_json_or_the_bundle() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !nsbox_common::require("two CPUs", cpus >= 2) {
        return;
    }
    let rt = Runtime::new();
    // The bundle's process.execCPUAffinity: for `exec ID CMD`, as runc takes it (not for the
    // container's first process).
    let b = bundle_with(&["sleep", "1000"], |spec| {
        set(spec, "/process/execCPUAffinity", json!({"initial": "1", "final": "0"}));
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "cpus"]);
    let pid = rt.pid("cpus");
    rt.ok(&["start", "cpus"]);
    let first = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert_ne!(cpus_allowed(&first), "0", "the first process got the exec's affinity");
    assert_eq!(cpus_allowed(&rt.ok(&["exec", "cpus", "cat", "/proc/self/status"])), "0");
    // A process.json's own.
    let process = rt.dir.path().join("process.json");
    let spec = json!({"args": ["cat", "/proc/self/status"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "noNewPrivileges": true, "execCPUAffinity": {"final": "1"},
        "capabilities": {"bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]},
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]});
    fs::write(&process, spec.to_string()).unwrap();
    let status = rt.ok(&["exec", "--process", process.to_str().unwrap(), "cpus"]);
    assert_eq!(cpus_allowed(&status), "1");
    rt.ok(&["kill", "cpus", "KILL"]);
    reap(pid);
    rt.ok(&["delete", "cpus"]);
}

#[test]
fn exec_no_new_privs_sets_it_where_the_container_has_none() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt = Runtime::new();
    let b = bundle_with(&["sleep", "1000"], |spec| {
        set(spec, "/process/noNewPrivileges", json!(false));
    });
    rt.ok(&["create", "--bundle", b.path().to_str().unwrap(), "nnp"]);
    rt.ok(&["start", "nnp"]);
    let field = |status: String| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("NoNewPrivs:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no NoNewPrivs in {status}"))
    };
    assert_eq!(field(rt.ok(&["exec", "nnp", "cat", "/proc/self/status"])), "0");
    let status = rt.ok(&["exec", "--no-new-privs", "nnp", "cat", "/proc/self/status"]);
    assert_eq!(field(status), "1");
}

#[test]
fn features_list_the_memory_policy_modes_and_flags() {
    let _serial = runtime_support::serial();
    let out = Command::new(RUNTIME).arg("features").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let modes = &v["linux"]["memoryPolicy"]["modes"];
    assert!(modes.as_array().unwrap().contains(&json!("MPOL_BIND")), "{v}");
    assert_eq!(v["linux"]["memoryPolicy"]["flags"].as_array().unwrap().len(), 3);
    assert_eq!(v["linux"]["intelRdt"]["enabled"], false);
}
