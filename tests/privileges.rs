//! What the payload may do: capability sets (CVE-2022-29162), setuid binaries under
//! no_new_privs, and resource limits.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{PY_PROBES, PYTHON, probe_results, status_hex, stdout_of};
use nsbox::{
    Capabilities, Capability, ConfigError, Container, ContainerBuilder, Error, Mount, Namespaces, Profile, Resource,
};

/// The payload's capability sets, from its /proc/self/status.
#[derive(Debug, PartialEq, Eq)]
struct CapSets {
    inheritable: u64,
    permitted: u64,
    effective: u64,
    bounding: u64,
    ambient: u64,
}

fn cap_sets(builder: &mut ContainerBuilder) -> CapSets {
    let out = builder.command("/bin/cat").arg("/proc/self/status").output().unwrap();
    let status = stdout_of(&out);
    CapSets {
        inheritable: status_hex(&status, "CapInh"),
        permitted: status_hex(&status, "CapPrm"),
        effective: status_hex(&status, "CapEff"),
        bounding: status_hex(&status, "CapBnd"),
        ambient: status_hex(&status, "CapAmb"),
    }
}

#[test]
fn inheritable_and_ambient_capabilities_are_empty() {
    if !common::root() {
        return;
    }
    let podman = Capabilities::podman_default().bits();
    let root_default = cap_sets(&mut Container::builder());
    assert_eq!(
        root_default,
        CapSets {
            inheritable: 0,
            permitted: podman,
            effective: podman,
            bounding: podman,
            ambient: 0
        }
    );
    let sandbox = cap_sets(Container::builder().profile(Profile::Sandbox));
    assert_eq!(
        sandbox,
        CapSets {
            inheritable: 0,
            permitted: 0,
            effective: 0,
            bounding: 0,
            ambient: 0
        }
    );
    let non_root = cap_sets(Container::builder().user(1000, 1000));
    assert_eq!(
        non_root,
        CapSets {
            inheritable: 0,
            permitted: 0,
            effective: 0,
            bounding: podman,
            ambient: 0
        }
    );
}

#[test]
fn ambient_capability_is_the_only_one_a_non_root_payload_has() {
    if !common::root_and_python() {
        return;
    }
    let bind = Capability::CAP_NET_BIND_SERVICE;
    let sets = cap_sets(Container::builder().ambient_capabilities([bind]).user(1000, 1000));
    // The kernel keeps an ambient capability only while it is also inheritable.
    let only = bind.bit();
    assert_eq!(
        sets,
        CapSets {
            inheritable: only,
            permitted: only,
            effective: only,
            bounding: Capabilities::podman_default().bits(),
            ambient: only
        }
    );
    // And it works: a privileged port, as uid 1000; refused without the ambient capability.
    let script =
        format!("{PY_PROBES}\nimport socket\ncheck_os('bind', lambda: socket.socket().bind(('127.0.0.1', 80)))");
    let bind_port = |builder: &mut ContainerBuilder| {
        let out = builder
            .user(1000, 1000)
            .command(PYTHON)
            .args(["-c", &script])
            .output()
            .unwrap();
        probe_results(&stdout_of(&out))["bind"].clone()
    };
    assert_eq!(bind_port(Container::builder().ambient_capabilities([bind])), "OK");
    assert_eq!(bind_port(&mut Container::builder()), "EACCES");
}

#[test]
fn unknown_capability_names_are_refused() {
    for name in ["CAP_MAKE_COFFEE", "", "net_bind_servic", "CAP_", "cap_sys_admin2"] {
        assert!(Capabilities::parse(name).is_err(), "{name:?} was accepted");
    }
    for (name, cap) in [
        ("net_bind_service", Capability::CAP_NET_BIND_SERVICE),
        ("CAP_SYS_ADMIN", Capability::CAP_SYS_ADMIN),
        (" Cap_Kill ", Capability::CAP_KILL),
    ] {
        assert_eq!(Capabilities::parse(name).ok(), Some(cap), "{name:?}");
    }
    // An ambient capability must also be in the payload's set.
    let err = Container::builder()
        .capabilities([])
        .ambient_capabilities([Capability::CAP_NET_BIND_SERVICE])
        .command("/bin/true")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn setuid_binary_does_not_gain_privileges() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-setuid-");
    let id = dir.path().join("id");
    let status = Command::new("install")
        .args(["-m", "4755", "-o", "root", "/usr/bin/id"])
        .arg(&id)
        .status()
        .unwrap();
    assert!(status.success(), "install /usr/bin/id: {status}");
    assert_eq!(
        fs::metadata(&id).unwrap().permissions().mode() & 0o4000,
        0o4000,
        "setuid bit"
    );
    let run_id = |builder: &mut ContainerBuilder| {
        let out = builder
            .mount(Mount::bind(dir.path(), "/suid").read_only())
            .user(1000, 1000)
            .command("/suid/id")
            .output()
            .unwrap();
        stdout_of(&out)
    };
    let with_no_new_privs = run_id(&mut Container::builder());
    assert!(
        with_no_new_privs.starts_with("uid=1000") && !with_no_new_privs.contains("euid="),
        "gained privileges: {with_no_new_privs}"
    );
    // Control: without no_new_privs the same binary does run as root (the user namespace maps
    // the file's owner), so the check above can fail.
    let allowed = run_id(Container::builder().unsafe_allow_new_privileges());
    assert!(allowed.contains("euid=0"), "control did not gain: {allowed}");
}

#[test]
fn rlimits_are_applied_to_the_payload() {
    if !common::root() {
        return;
    }
    let limits = |builder: &mut ContainerBuilder| {
        let out = builder
            .command("/bin/sh")
            .args(["-c", "ulimit -n; ulimit -Hn; ulimit -c"])
            .output()
            .unwrap();
        stdout_of(&out)
    };
    let set = limits(Container::builder().rlimit(Resource::RLIMIT_NOFILE, 64, 64));
    assert_eq!(set.lines().take(2).collect::<Vec<_>>(), ["64", "64"], "{set}");
    let sandbox = limits(Container::builder().profile(Profile::Sandbox));
    assert_eq!(sandbox, "1024\n1024\n0\n");
    let err = Container::builder()
        .rlimit(Resource::RLIMIT_NOFILE, 100, 50)
        .command("/bin/true")
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "soft above hard: {err}");
}

#[test]
fn raising_a_hard_rlimit_above_the_callers_is_refused_at_build() {
    // Without CAP_SYS_RESOURCE (or in a user namespace, the default) the hard limit cannot go
    // up at all; with it, not past fs.nr_open. One above whichever applies is refused before
    // anything runs, naming the limit (tests/validation.rs checks the bound it names).
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let sys_resource = status_hex(&status, "CapEff") & Capability::CAP_SYS_RESOURCE.bit() != 0;
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for namespaces in [Namespaces::all(), Namespaces::all() - Namespaces::USER] {
        let may_raise = sys_resource && !namespaces.contains(Namespaces::USER);
        let above = if may_raise { nr_open + 1 } else { hard + 1 };
        let err = Container::builder()
            .namespaces(namespaces)
            .rlimit(Resource::RLIMIT_NOFILE, 64, above)
            .command("/bin/true")
            .spawn()
            .unwrap_err();
        assert!(
            matches!(err, Error::Config(ConfigError::RlimitAboveHost { hard, .. }) if hard == above),
            "{err}"
        );
        assert!(err.to_string().contains("RLIMIT_NOFILE"), "{err}");
    }
}
