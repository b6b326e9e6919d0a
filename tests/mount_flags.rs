//! Per-mount flags (`nosuid`, `nodev`, `noexec`, atime, propagation), tmpfs without nsbox's
//! default `nosuid,nodev`, the caller's masked and read-only path lists, and a caller's mount
//! replacing nsbox's own `/dev/shm`.

mod common;

use std::fs;

use common::{mount_options, sh_builder, stdout_of};
use nsbox::{Atime, Container, ContainerBuilder, Mount, Propagation, Setting};

/// The options (mountinfo field 6) and the optional fields (propagation) of the last mount at
/// `point`, as seen inside a container with `mount`.
fn mountinfo_with(b: &mut ContainerBuilder, point: &str) -> (String, String) {
    let out = b.args(["-c", "cat /proc/self/mountinfo"]).output().expect("spawn");
    let text = stdout_of(&out);
    let options = mount_options(&text, point).unwrap_or_else(|| panic!("no mount at {point}:\n{text}"));
    let line = text.lines().rfind(|l| l.split(' ').nth(4) == Some(point)).unwrap();
    let optional: Vec<&str> = line.split(' ').skip(6).take_while(|f| *f != "-").collect();
    (options, optional.join(" "))
}

/// `/bin/sh` without arguments yet.
fn shell() -> ContainerBuilder {
    let mut b = Container::builder();
    b.command("/bin/sh");
    b
}

fn flags_of(options: &str) -> Vec<&str> {
    options.split(',').collect()
}

#[test]
fn bind_flags_reach_the_kernel() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = shell();
    b.mount(Mount::bind(dir.path(), "/data").nosuid().nodev().noexec());
    let (options, _) = mountinfo_with(&mut b, "/data");
    let flags = flags_of(&options);
    for want in ["rw", "nosuid", "nodev", "noexec"] {
        assert!(flags.contains(&want), "{want} missing: {options}");
    }
}

#[test]
fn bind_without_flags_keeps_exec_and_suid() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = shell();
    b.mount(Mount::bind(dir.path(), "/data"));
    let (options, _) = mountinfo_with(&mut b, "/data");
    for absent in ["noexec", "nosuid", "noatime"] {
        assert!(!flags_of(&options).contains(&absent), "{absent} set: {options}");
    }
}

#[test]
fn recursive_bind_flags_reach_every_submount() {
    if !common::root() {
        return;
    }
    // The host's /sys has submounts (cgroup, security, debug...): each copy gets the flags.
    let mut b = shell();
    b.mount(Mount::bind("/sys", "/hostsys").noexec().nosuid().read_only());
    let out = b.args(["-c", "cat /proc/self/mountinfo"]).output().expect("spawn");
    let text = stdout_of(&out);
    let under: Vec<&str> = text
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|p| p.starts_with("/hostsys/")))
        .collect();
    if !common::require("submounts under the host's /sys", !under.is_empty()) {
        return;
    }
    for line in under {
        let options = flags_of(line.split(' ').nth(5).unwrap());
        for want in ["ro", "noexec", "nosuid"] {
            assert!(options.contains(&want), "{want} missing: {line}");
        }
    }
}

#[test]
fn noexec_bind_refuses_to_execute() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::copy("/bin/true", dir.path().join("true")).unwrap();
    let out = sh_builder("/data/true && echo ran")
        .mount(Mount::bind(dir.path(), "/data").noexec())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ermission denied"));
    let out = sh_builder("/data/true && echo ran")
        .mount(Mount::bind(dir.path(), "/data"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "ran\n");
}

#[test]
fn tmpfs_defaults_to_nosuid_nodev_and_allow_suid_drops_them() {
    if !common::root() {
        return;
    }
    let mut b = shell();
    b.mount(Mount::tmpfs("/scratch"));
    let (options, _) = mountinfo_with(&mut b, "/scratch");
    assert!(flags_of(&options).contains(&"nosuid"), "{options}");
    assert!(flags_of(&options).contains(&"nodev"), "{options}");
    assert!(!flags_of(&options).contains(&"noexec"), "{options}");

    let mut b = shell();
    b.mount(
        Mount::tmpfs("/scratch")
            .allow_suid()
            .allow_devices()
            .noexec()
            .atime(Atime::Strict),
    );
    let (options, _) = mountinfo_with(&mut b, "/scratch");
    let flags = flags_of(&options);
    assert!(!flags.contains(&"nosuid"), "{options}");
    assert!(!flags.contains(&"nodev"), "{options}");
    assert!(flags.contains(&"noexec"), "{options}");
    assert!(
        !flags.contains(&"relatime"),
        "strictatime shows as no atime flag: {options}"
    );

    let mut b = shell();
    b.mount(Mount::tmpfs("/scratch").atime(Atime::Never).no_diratime());
    let (options, _) = mountinfo_with(&mut b, "/scratch");
    for want in ["noatime", "nodiratime", "nosuid", "nodev"] {
        assert!(flags_of(&options).contains(&want), "{want} missing: {options}");
    }
}

#[test]
fn read_only_tmpfs_with_mount_points_keeps_its_flags() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = shell();
    b.mount(Mount::tmpfs("/scratch").read_only().noexec())
        .mount(Mount::bind(dir.path(), "/scratch/inner"));
    let (options, _) = mountinfo_with(&mut b, "/scratch");
    let flags = flags_of(&options);
    for want in ["ro", "noexec", "nosuid", "nodev"] {
        assert!(flags.contains(&want), "{want} missing: {options}");
    }
}

#[test]
fn bind_propagation_is_set_once_attached() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = shell();
    b.mount(Mount::bind(dir.path(), "/shared").propagation(Propagation::Shared))
        .mount(Mount::bind(dir.path(), "/private"));
    let (_, optional) = mountinfo_with(&mut b, "/shared");
    assert!(optional.starts_with("shared:"), "optional fields: {optional:?}");
    let mut b = shell();
    b.mount(Mount::bind(dir.path(), "/private"));
    let (_, optional) = mountinfo_with(&mut b, "/private");
    assert_eq!(optional, "", "private by default");
    let mut b = shell();
    b.mount(Mount::bind(dir.path(), "/unbindable").propagation_recursive(Propagation::Unbindable));
    let (_, optional) = mountinfo_with(&mut b, "/unbindable");
    assert_eq!(optional, "unbindable");
}

#[test]
fn masked_paths_are_exactly_the_callers() {
    if !common::root() {
        return;
    }
    // /proc/interrupts is in nsbox's list, not in this one; /proc/cmdline is in this one.
    let script = "wc -c < /proc/cmdline; head -c 1 /proc/interrupts | wc -c; ls /sys/firmware | wc -l; \
                  test -e /proc/no-such-path || echo absent";
    let out = sh_builder(script)
        .masked_paths(["/proc/cmdline", "/sys/firmware", "/proc/no-such-path"])
        .output()
        .unwrap();
    let lines: Vec<String> = stdout_of(&out).lines().map(|l| l.trim().to_string()).collect();
    assert_eq!(lines, ["0", "1", "0", "absent"], "cmdline masked, interrupts not");

    let out = sh_builder("head -c 1 /proc/interrupts | wc -c").output().unwrap();
    assert_eq!(stdout_of(&out).trim(), "0", "nsbox's list masks /proc/interrupts");
}

#[test]
fn read_only_paths_are_exactly_the_callers() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut b = shell();
    b.mount(Mount::bind(dir.path(), "/data"))
        .read_only_paths(["/data"])
        .masked_paths(Vec::<&str>::new());
    let (options, _) = mountinfo_with(&mut b, "/data");
    assert!(flags_of(&options).contains(&"ro"), "{options}");
    let out = sh_builder("grep -c ' /proc/sys ' /proc/self/mountinfo")
        .read_only_paths(Vec::<&str>::new())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "0",
        "no read-only /proc/sys"
    );
}

#[test]
fn masked_and_read_only_paths_are_checked() {
    let refused = |b: &mut ContainerBuilder| match b.build() {
        Err(nsbox::Error::Config(e)) => e,
        other => panic!("build() must refuse: {other:?}"),
    };
    let e = refused(shell().masked_paths(["relative"]));
    assert!(format!("{e}").contains("masked_paths"), "{e}");
    let e = refused(shell().read_only_paths(["/"]));
    assert!(
        matches!(
            e,
            nsbox::ConfigError::BadContainerPath {
                setting: Setting::ReadOnlyPaths,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(ContainerBuilder::DEFAULT_MASKED_PATHS.len(), 12);
    assert!(ContainerBuilder::DEFAULT_READ_ONLY_PATHS.contains(&"/proc/sys"));
}

/// The mounts on the container's own `/dev` (the last mount there) at `/dev/<name>`: their
/// roots (field 4: `/` for a fresh filesystem, the source's path for a bind).
fn in_dev(mountinfo: &str, name: &str) -> Vec<String> {
    let field = |l: &str, n: usize| l.split(' ').nth(n).unwrap_or("").to_string();
    let dev = mountinfo.lines().rfind(|l| field(l, 4) == "/dev").map(|l| field(l, 0));
    let point = format!("/dev/{name}");
    mountinfo
        .lines()
        .filter(|l| Some(field(l, 1)) == dev && field(l, 4) == point)
        .map(|l| field(l, 3))
        .collect()
}

#[test]
fn a_callers_mount_at_dev_shm_replaces_nsboxs() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("from-engine"), "shm\n").unwrap();
    let out = shell()
        .args(["-c", "cat /dev/shm/from-engine; cat /proc/self/mountinfo"])
        .mount(Mount::bind(dir.path(), "/dev/shm").nosuid().nodev().noexec())
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(text.starts_with("shm\n"), "{text}");
    let host_fs = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let _ = host_fs;
    let roots = in_dev(&text, "shm");
    assert_eq!(
        roots.len(),
        1,
        "one mount at /dev/shm, the caller's:
{text}"
    );
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    assert!(
        roots[0].ends_with(name),
        "the bind of {name}, not nsbox's tmpfs:
{text}"
    );

    let out = shell()
        .args(["-c", "cat /proc/self/mountinfo"])
        .mount(Mount::tmpfs("/dev/shm").noexec().size(1 << 20))
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(in_dev(&text, "shm"), ["/"], "one fresh tmpfs: {text}");
    let line = text.lines().rfind(|l| l.split(' ').nth(4) == Some("/dev/shm")).unwrap();
    assert!(line.contains("size=1024k"), "{line}");
}

#[test]
fn cgroup_filesystem_shows_the_containers_own_cgroup_read_only() {
    if !common::root() {
        return;
    }
    // pids.max of the container's own cgroup: the v1 pids directory on a v1 or hybrid host,
    // the v2 one on a pure v2 host.
    let script = "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; \
                  grep ' /sys/fs/cgroup' /proc/self/mountinfo; \
                  touch /sys/fs/cgroup/new 2>/dev/null && echo writable; \
                  echo 5 > /sys/fs/cgroup/pids/pids.max 2>/dev/null && echo v1-writable; ls /sys/fs/cgroup";
    let out = shell()
        .args(["-c", script])
        .init(false)
        .pids_limit(37)
        .mount(Mount::cgroup("/sys/fs/cgroup").read_only().noexec())
        .output()
        .expect("spawn");
    let text = stdout_of(&out);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("37"), "the container's limit:\n{text}");
    assert!(!text.contains("writable"), "read-only:\n{text}");
    // The container's cgroupfs: the last mount at /sys/fs/cgroup and those on it (the host
    // root's own lie below it).
    let field = |l: &str, n: usize| l.split(' ').nth(n).unwrap_or("").to_string();
    let top = text
        .lines()
        .rfind(|l| field(l, 4) == "/sys/fs/cgroup")
        .expect("a cgroupfs");
    let ours: Vec<&str> = text
        .lines()
        .filter(|l| *l == top || field(l, 1) == field(top, 0))
        .collect();
    assert!(!ours.is_empty());
    for line in ours {
        let options = flags_of(line.split(' ').nth(5).unwrap());
        for want in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(options.contains(&want), "{want} missing: {line}");
        }
    }
    let hybrid_or_v1 = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - cgroup "));
    if hybrid_or_v1 {
        assert!(text.lines().any(|l| l == "pids"), "a pids directory:\n{text}");
        // The memory hierarchy the test environment hides is not shown.
        assert!(!text.lines().any(|l| l == "memory"), "{text}");
    }
}

#[test]
fn cgroup_filesystem_is_writable_when_asked_and_still_the_containers() {
    if !common::root() {
        return;
    }
    // v1: the container's own pids.max. v2: a child cgroup (the namespace root's own files
    // are not writable from inside with nsdelegate, as under runc).
    let script = "if test -d /sys/fs/cgroup/pids; then echo 12 > /sys/fs/cgroup/pids/pids.max && cat /sys/fs/cgroup/pids/pids.max; \
                  else mkdir /sys/fs/cgroup/sub && test -e /sys/fs/cgroup/sub/cgroup.procs && rmdir /sys/fs/cgroup/sub && echo 12; fi";
    let out = shell()
        .args(["-c", script])
        .init(false)
        .pids_limit(30)
        .mount(Mount::cgroup("/sys/fs/cgroup"))
        .output()
        .expect("spawn");
    assert_eq!(stdout_of(&out), "12\n");
}

#[test]
fn writable_sys_mounts_a_writable_sysfs_and_needs_a_network_namespace() {
    let e = match shell().network(nsbox::Network::Host).writable_sys().build() {
        Err(nsbox::Error::Config(e)) => e,
        other => panic!("build() must refuse: {other:?}"),
    };
    assert!(
        matches!(
            e,
            nsbox::ConfigError::NeedsNamespace {
                setting: Setting::WritableSys,
                ..
            }
        ),
        "{e:?}"
    );
    if !common::root() {
        return;
    }
    let mut b = shell();
    b.writable_sys();
    let (options, _) = mountinfo_with(&mut b, "/sys");
    assert!(flags_of(&options).contains(&"rw"), "{options}");
    let mut b = shell();
    let (options, _) = mountinfo_with(&mut b, "/sys");
    assert!(flags_of(&options).contains(&"ro"), "read-only by default: {options}");
}

#[cfg(feature = "serde")]
#[test]
fn the_new_mount_settings_survive_serialization() {
    let mut b = shell();
    b.mount(
        Mount::bind("/srv", "/data")
            .nosuid()
            .noexec()
            .atime(Atime::Never)
            .propagation_recursive(Propagation::Slave),
    )
    .mount(Mount::tmpfs("/t").allow_suid().allow_devices())
    .mount(Mount::cgroup("/sys/fs/cgroup").read_only())
    .masked_paths(["/proc/kcore"])
    .read_only_paths(Vec::<&str>::new())
    .receive_host_mounts()
    .writable_sys();
    let config = b.build().expect("build");
    let json = serde_json::to_string(&config).unwrap();
    let again: nsbox::Config = serde_json::from_str(&json).unwrap();
    assert_eq!(format!("{again:?}"), format!("{config:?}"));
    // A config serialized before these settings existed still reads, with their defaults.
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    for key in ["masked_paths", "read_only_paths", "receive_host_mounts", "writable_sys"] {
        old.as_object_mut().unwrap().remove(key);
    }
    old["mounts"][0].as_object_mut().unwrap().remove("flags");
    let older: nsbox::Config = serde_json::from_value(old).unwrap();
    assert_eq!(older.mounts()[0], Mount::bind("/srv", "/data"));
}
