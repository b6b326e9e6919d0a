//! NUMA memory policy of a container's processes (`ContainerBuilder::memory_policy`, read back
//! with `get_mempolicy(2)` by the payload and by an exec) and an exec's CPU affinity around
//! its cgroup join (`ExecBuilder::cpu_affinity`, `initial_cpu_affinity`, read back from
//! `/proc/self/status`). On a one-node, two-CPU machine: node 0, CPUs 0 and 1.

mod common;

use nsbox::{Capability, ConfigError, Container, Error, MemoryPolicy, MemoryPolicyMode, Setting, SetupStep, Stdio};

/// Prints `MODE MASK` of the calling thread's policy (`get_mempolicy(2)`).
const GET_MEMPOLICY: &str = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
# SYS_get_mempolicy: glibc has no wrapper (libnuma does).
nr = {"x86_64": 239, "aarch64": 236}[os.uname().machine]
mode = ctypes.c_int(-1)
mask = (ctypes.c_ulong * 16)()
if libc.syscall(nr, ctypes.byref(mode), mask, ctypes.c_ulong(1024), None, ctypes.c_ulong(0)) != 0:
    raise SystemExit("get_mempolicy: errno %d" % ctypes.get_errno())
print(mode.value, mask[0])
"#;

/// Docker's seccomp profile lets `get_mempolicy` through with `CAP_SYS_NICE` only; nsbox's own
/// `set_mempolicy` runs before the filter is loaded, so the policy itself needs neither.
fn policy_of(builder: &mut nsbox::ContainerBuilder) -> String {
    let out = builder
        .cap_add(Capability::CAP_SYS_NICE)
        .command(common::PYTHON)
        .args(["-c", GET_MEMPOLICY])
        .output()
        .expect("spawn");
    common::stdout_of(&out).trim().to_owned()
}

#[test]
fn memory_policy_is_the_payloads_and_its_execs() {
    if !common::root_and_python() {
        return;
    }
    // MPOL_DEFAULT 0, MPOL_PREFERRED 1, MPOL_BIND 2, MPOL_INTERLEAVE 3; node 0 is bit 0.
    for (policy, want) in [
        (MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("0"), "2 1"),
        (MemoryPolicy::new(MemoryPolicyMode::Interleave).nodes("0"), "3 1"),
        (MemoryPolicy::new(MemoryPolicyMode::Preferred).nodes("0"), "1 1"),
        (MemoryPolicy::new(MemoryPolicyMode::Default), "0 0"),
        // MPOL_F_STATIC_NODES (1 << 15) is reported with the mode.
        (
            MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("0").static_nodes(),
            "32770 1",
        ),
    ] {
        let got = policy_of(Container::builder().memory_policy(policy.clone()));
        assert_eq!(got, want, "{policy:?}");
    }
    // Without one: the caller's (the default here), untouched.
    assert_eq!(policy_of(&mut Container::builder()), "0 0");

    // An exec has the container's policy.
    let container = Container::builder()
        .memory_policy(MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("0"))
        .cap_add(Capability::CAP_SYS_NICE)
        .command("/bin/sleep")
        .arg("600")
        .spawn()
        .expect("spawn");
    let out = container
        .exec()
        .command(common::PYTHON)
        .args(["-c", GET_MEMPOLICY])
        .output()
        .expect("exec");
    assert_eq!(common::stdout_of(&out).trim(), "2 1");
}

#[test]
fn memory_policies_that_cannot_hold_are_refused() {
    let refused = |policy: MemoryPolicy| {
        let mut builder = Container::builder();
        builder.command("/bin/true").memory_policy(policy);
        builder.build().unwrap_err()
    };
    for policy in [
        MemoryPolicy::new(MemoryPolicyMode::Bind),
        MemoryPolicy::new(MemoryPolicyMode::Local).nodes("0"),
        MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("0-"),
        MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("4096"),
        MemoryPolicy::new(MemoryPolicyMode::Bind)
            .nodes("0")
            .static_nodes()
            .relative_nodes(),
    ] {
        let err = refused(policy.clone());
        assert!(
            matches!(
                err,
                Error::Config(ConfigError::Malformed {
                    setting: Setting::MemoryPolicy,
                    ..
                })
            ),
            "{policy:?}: {err:?}"
        );
    }
}

#[test]
fn a_node_the_host_lacks_fails_the_spawn_at_set_mempolicy() {
    if !common::root() {
        return;
    }
    // Node 1000: beyond any machine's nodes (and most kernels' MAX_NUMNODES).
    let err = Container::builder()
        .memory_policy(MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("1000"))
        .command("/bin/true")
        .stdout(Stdio::null())
        .status()
        .unwrap_err();
    let setup = err.as_setup().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(setup.step, SetupStep::ProcessAttributes, "{err}");
    assert_eq!(setup.errno.raw(), libc::EINVAL, "{err}");
    assert!(err.to_string().contains("set_mempolicy"), "{err}");
}

/// The exec'd process's `Cpus_allowed_list`.
fn exec_cpus(exec: &mut nsbox::ExecBuilder<'_>) -> String {
    let out = exec
        .command("/bin/grep")
        .args(["^Cpus_allowed_list:", "/proc/self/status"])
        .output()
        .expect("exec");
    let text = common::stdout_of(&out);
    text.split_whitespace().nth(1).unwrap_or_default().to_owned()
}

#[test]
fn exec_cpu_affinity_is_set_around_the_cgroup_join() {
    if !common::root() {
        return;
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if !common::require("two CPUs", cpus >= 2) {
        return;
    }
    let container = Container::builder()
        .cgroup()
        .pids_limit(64)
        .command("/bin/sleep")
        .arg("600")
        .spawn()
        .expect("spawn");
    let online = exec_cpus(&mut container.exec());
    assert_eq!(exec_cpus(container.exec().cpu_affinity("1")), "1");
    assert_eq!(
        exec_cpus(container.exec().initial_cpu_affinity("0").cpu_affinity("1")),
        "1"
    );
    // Without a final list the kernel keeps what was asked (Linux 6.2 and later), within the
    // container's CPUs; before 6.2 the cgroup join may have reset it.
    let kept = exec_cpus(container.exec().initial_cpu_affinity("0"));
    assert!(kept == "0" || kept == online, "{kept} (online {online})");

    let err = container
        .exec()
        .command("/bin/true")
        .cpu_affinity("0-")
        .status()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Config(ConfigError::Malformed {
                setting: Setting::ExecCpuAffinity,
                ..
            })
        ),
        "{err:?}"
    );
    // A CPU this machine lacks: the kernel refuses it at that step.
    let err = container
        .exec()
        .command("/bin/true")
        .cpu_affinity("1000")
        .status()
        .unwrap_err();
    let setup = err.as_setup().unwrap_or_else(|| panic!("{err:?}"));
    assert_eq!(setup.errno.raw(), libc::EINVAL, "{err}");
    assert!(err.to_string().contains("sched_setaffinity"), "{err}");
}
