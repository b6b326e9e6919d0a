//! What of the host a payload can see or reach beyond what it was given: the cgroup tree
//! (CVE-2023-25809), and host directories lying under the container's own mounts.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{PY_PROBES, PYTHON, probe_results, stdout_of};
use nsbox::{Capability, Container, ContainerBuilder, Profile};

/// The first entry of a host directory, as a path (None if it is empty or missing).
fn first_entry(dir: &str) -> Option<PathBuf> {
    let mut names: Vec<_> = fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
    names.sort();
    names.into_iter().next()
}

#[test]
fn host_directories_under_the_containers_own_mounts_stay_unreachable() {
    if !common::root() {
        return;
    }
    // A payload granted CAP_SYS_ADMIN may unmount what the setup mounted for it (its /tmp,
    // /run, /dev, /sys, /proc). Underneath there must be nothing of the host: the host's /tmp
    // and /run hold its files and sockets (a read-only mount does not stop connect(2)), its
    // procfs lists every host process, its devtmpfs has every device.
    let marker_dir = tempfile::tempdir_in("/tmp").unwrap();
    let marker = marker_dir.path().join("host-only");
    fs::write(&marker, "host").unwrap();
    let mut host_only = vec![marker, PathBuf::from(format!("/proc/{}", std::process::id()))];
    host_only.extend(
        ["/dev/kmsg", "/dev/mem"]
            .map(PathBuf::from)
            .into_iter()
            .filter(|p| p.exists()),
    );
    host_only.extend(first_entry("/run"));
    host_only.extend(first_entry("/sys/fs/cgroup"));
    let checks: String = host_only
        .iter()
        .map(|p| format!("[ -e {0} ] && echo 'visible {0}'; ", p.display()))
        .collect();
    let script =
        format!("for m in /tmp /run /dev /sys /proc; do umount -l $m && echo \"unmounted $m\"; done; {checks}true");
    let out = Container::builder()
        .cap_add(Capability::CAP_SYS_ADMIN)
        .command("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let unmounted = text.lines().filter(|l| l.starts_with("unmounted ")).count();
    assert_eq!(unmounted, 5, "the payload could not unmount its own mounts: {text}");
    let visible: Vec<&str> = text.lines().filter(|l| l.starts_with("visible ")).collect();
    assert!(
        visible.is_empty(),
        "host paths reachable under the container's own mounts: {visible:#?}"
    );
    assert!(Path::new(&marker_dir.path().join("host-only")).exists());
}

#[test]
fn cgroup_filesystem_is_read_only_inside() {
    if !common::root_and_python() {
        return;
    }
    // CVE-2023-25809: a writable cgroup tree inside lets the payload raise its own limits.
    let script = format!(
        "{PY_PROBES}
check_os('create', lambda: os.close(os.open('/sys/fs/cgroup/nsbox-probe', os.O_CREAT | os.O_WRONLY)))
check_os('mkdir', lambda: os.mkdir('/sys/fs/cgroup/nsbox-probe'))
writable = []
for top, dirs, files in os.walk('/sys/fs/cgroup'):
    for f in files:
        try:
            os.close(os.open(os.path.join(top, f), os.O_WRONLY))
            writable.append(os.path.join(top, f))
        except OSError:
            pass
print('writable', writable or 'none')
check('mount-cgroup2', libc.mount(b'none', b'/sys/fs/cgroup', b'cgroup2', 0, None))
check('mount-cgroup', libc.mount(b'none', b'/sys/fs/cgroup', b'cgroup', 0, b'pids'))
"
    );
    let mut sandbox = Container::builder();
    sandbox.profile(Profile::Sandbox);
    for (name, mut builder) in [("default", Container::builder()), ("sandbox", sandbox)] {
        let builder: &mut ContainerBuilder = builder.cgroup();
        let out = builder.command(PYTHON).args(["-c", &script]).output().unwrap();
        let results = probe_results(&stdout_of(&out));
        let got = ["create", "mkdir", "writable", "mount-cgroup2", "mount-cgroup"]
            .map(|k| results.get(k).map_or("missing", String::as_str));
        // Nothing of the host's cgroup tree is mounted: /sys/fs/cgroup is an empty directory
        // of the read-only sysfs (creating in it fails: EROFS, or ENOENT from sysfs' lookup).
        assert!(
            !got[..2].contains(&"OK") && !got[..2].contains(&"missing"),
            "{name}: {results:?}"
        );
        assert_eq!(got[2..], ["none", "EPERM", "EPERM"], "{name}: {results:?}");
    }
}
