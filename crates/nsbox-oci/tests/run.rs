//! End to end, as root: a bundle of `runc spec`'s defaults (as nsbox honours them) on a
//! busybox rootfs runs, and the process sees what the bundle says: its uid, capability sets,
//! mounts, hostname, rlimits, environment and masked paths.

mod common;

#[path = "../../../tests/common/mod.rs"]
mod nsbox_common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;

use common::{nsbox_spec, set, write_bundle};
use nsbox::Stdio;
use nsbox_oci::{Bundle, Options};
use serde_json::{Value, json};

/// A bundle directory with `spec` and a busybox rootfs (the host's static busybox copied, an
/// applet symlink per command the checks run).
fn busybox_bundle(spec: &Value) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("nsbox-oci-").tempdir().unwrap();
    // Walkable by a user namespace's mapped root, as a real bundle is.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    write_bundle(dir.path(), spec);
    let bin = dir.path().join("rootfs/bin");
    fs::create_dir_all(&bin).unwrap();
    // cp from another process: a write fd in this one could reach a container spawned
    // meanwhile by another test thread (ETXTBSY, see tests/common).
    let copied = Command::new("cp")
        .arg(nsbox_common::BUSYBOX)
        .arg(bin.join("busybox"))
        .status()
        .unwrap();
    assert!(copied.success());
    for applet in [
        "sh", "id", "cat", "hostname", "touch", "grep", "env", "stat", "echo", "mknod", "head", "sleep", "wc", "sed",
    ] {
        symlink("busybox", bin.join(applet)).unwrap();
    }
    dir
}

/// Runs `script` in the bundle `spec` describes; its stdout. With a user namespace the
/// rootfs belongs to the mapped root, as engines prepare it (Docker's userns-remap).
fn run(spec: Value, script: &str) -> String {
    let mut spec = spec;
    set(&mut spec, "/process/args", json!(["/bin/sh", "-c", script]));
    let dir = busybox_bundle(&spec);
    if let Some(root) = spec.pointer("/linux/uidMappings/0/hostID") {
        let owner = format!("{root}:{}", spec["linux"]["gidMappings"][0]["hostID"]);
        let rootfs = dir.path().join("rootfs");
        let chowned = Command::new("chown")
            .args(["-R", "-h", &owner])
            .arg(rootfs)
            .status()
            .unwrap();
        assert!(chowned.success());
    }
    let bundle = Bundle::open(dir.path()).unwrap();
    let mut builder = bundle.builder(&Options::probe()).unwrap();
    let out = builder.stdout(Stdio::piped()).stderr(Stdio::piped()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `field: value` lines of the checks' output.
fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// The `env:` line's words, sorted.
fn env(out: &str) -> Vec<&str> {
    let mut words: Vec<&str> = field(out, "env").split_whitespace().collect();
    words.sort();
    words
}

const CHECKS: &str = r#"
echo "uid: $(id -u) $(id -g) $(id -G)"
echo "pid: $$"
echo "hostname: $(hostname)"
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status
echo "nofile: $(grep 'Max open files' /proc/self/limits)"
echo "env: $(env | grep -v '^PWD=' | grep -v '^SHLVL=' | grep -v '^_=' | tr '\n' ' ')"
echo "mounts: $(cat /proc/self/mounts | while read src dst type opts rest; do echo -n "$dst=$type,$opts "; done)"
touch /written 2>/dev/null && echo "root: writable" || echo "root: read-only"
echo "timer_list: $(stat -c %t:%T /proc/timer_list 2>&1)"
touch /proc/sys/kernel/x 2>/dev/null; echo "proc-sys: $(grep ' /proc/sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1)"
"#;

#[test]
fn runc_spec_defaults_run_as_the_bundle_says() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let out = run(nsbox_spec(), CHECKS);
    assert_eq!(field(&out, "uid"), "0 0 0", "{out}");
    assert_eq!(field(&out, "pid"), "1", "the payload is PID 1: {out}");
    assert_eq!(field(&out, "hostname"), "runc", "{out}");
    // CAP_KILL (5), CAP_NET_BIND_SERVICE (10), CAP_AUDIT_WRITE (29).
    let caps = format!("{:016x}", (1u64 << 5) | (1 << 10) | (1 << 29));
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(field(&out, set), caps, "{set}: {out}");
    }
    assert_eq!(field(&out, "CapInh"), "0000000000000000", "{out}");
    assert_eq!(field(&out, "CapAmb"), "0000000000000000", "{out}");
    assert_eq!(field(&out, "NoNewPrivs"), "1", "{out}");
    assert!(
        field(&out, "nofile")
            .split_whitespace()
            .collect::<Vec<_>>()
            .ends_with(&["1024", "1024", "files"]),
        "{out}"
    );
    assert_eq!(
        env(&out),
        [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm"
        ],
        "nothing of the caller's environment: {out}"
    );
    let mounts = field(&out, "mounts");
    for want in [
        "/=",
        "/proc=proc,rw,nosuid,nodev,noexec",
        "/dev=tmpfs,rw,nosuid",
        "/dev/pts=devpts,rw,nosuid,noexec",
        "/dev/shm=tmpfs,rw,nosuid,nodev,noexec",
        "/dev/mqueue=mqueue,rw,nosuid,nodev,noexec",
        "/sys=sysfs,ro,nosuid,nodev,noexec",
    ] {
        assert!(mounts.split(' ').any(|m| m.starts_with(want)), "{want} in {mounts}");
    }
    assert!(mounts.contains("size=65536k"), "{mounts}");
    assert!(!mounts.contains("cgroup"), "{mounts}");
    assert!(
        !mounts.contains(" /tmp=") && !mounts.contains(" /run="),
        "no fresh /tmp or /run: {mounts}"
    );
    assert_eq!(field(&out, "root"), "read-only", "{out}");
    assert_eq!(field(&out, "timer_list"), "1:3", "masked by /dev/null: {out}");
    assert_eq!(field(&out, "proc-sys"), "ro", "{out}");
}

#[test]
fn a_user_namespace_bundle_runs_its_user_with_ambient_capabilities() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let mut spec = nsbox_spec();
    let caps = json!(["CAP_NET_BIND_SERVICE"]);
    let patches = [
        ("/linux/namespaces/6", json!({"type": "user"})),
        (
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 1_000_000, "size": 65536}]),
        ),
        (
            "/linux/gidMappings",
            json!([{"containerID": 0, "hostID": 1_000_000, "size": 65536}]),
        ),
        (
            "/process/user",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [5, 20]}),
        ),
        (
            "/process/capabilities",
            json!({"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"], "effective": caps,
                   "permitted": caps, "inheritable": caps, "ambient": caps}),
        ),
        (
            "/process/rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": 64, "hard": 128}]),
        ),
        ("/root/readonly", json!(false)),
        ("/hostname", json!("userns")),
        ("/process/env", json!(["PATH=/bin", "GREETING=hello world"])),
        ("/process/cwd", json!("/bin")),
    ];
    for (pointer, value) in patches {
        set(&mut spec, pointer, value);
    }
    let script = format!("{CHECKS}\necho \"cwd: $(pwd)\"\necho \"host-uid: $(cat /proc/self/uid_map)\"");
    let out = run(spec, &script);
    assert_eq!(field(&out, "uid"), "1000 1000 1000 5 20", "{out}");
    assert_eq!(field(&out, "hostname"), "userns", "{out}");
    let bind = format!("{:016x}", 1u64 << 10);
    for set in ["CapPrm", "CapEff", "CapInh", "CapAmb"] {
        assert_eq!(field(&out, set), bind, "{set}: {out}");
    }
    assert_eq!(
        field(&out, "CapBnd"),
        format!("{:016x}", (1u64 << 5) | (1 << 10)),
        "{out}"
    );
    assert!(field(&out, "nofile").contains("64                   128"), "{out}");
    assert_eq!(env(&out), ["GREETING=hello", "PATH=/bin", "world"], "{out}");
    assert_eq!(field(&out, "cwd"), "/bin", "{out}");
    assert_eq!(
        field(&out, "host-uid").split_whitespace().collect::<Vec<_>>(),
        ["0", "1000000", "65536"],
        "{out}"
    );
    assert_eq!(
        field(&out, "root"),
        "read-only",
        "uid 1000 cannot write root's /: {out}"
    );
}

#[test]
fn the_bundle_root_path_is_resolved_in_the_bundle() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let dir = busybox_bundle(&nsbox_spec());
    fs::rename(dir.path().join("rootfs"), dir.path().join("busybox")).unwrap();
    let mut spec = nsbox_spec();
    set(&mut spec, "/root/path", json!("./busybox"));
    set(&mut spec, "/process/args", json!(["/bin/echo", "hi"]));
    fs::write(dir.path().join("config.json"), serde_json::to_vec(&spec).unwrap()).unwrap();
    fs::create_dir(dir.path().join("rootfs")).unwrap();
    let bundle = Bundle::open(dir.path()).unwrap();
    assert_eq!(bundle.root_dir().unwrap(), Path::new(bundle.dir()).join("busybox"));
    let out = bundle
        .builder(&Options::probe())
        .unwrap()
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"hi\n");
}

/// `process.capabilities` with CAP_MKNOD beside runc's defaults.
fn with_mknod(spec: &mut Value) {
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_MKNOD"]);
    for set_name in ["bounding", "effective", "permitted"] {
        set(spec, &format!("/process/capabilities/{set_name}"), caps.clone());
    }
}

#[test]
fn the_device_cgroup_and_device_nodes_of_a_bundle_take_effect() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    // runc's spec denies every device; runc's defaults (null, zero, ..., mknod of any node)
    // are appended. /dev/fuse is made as the bundle says, but not allowed.
    let mut spec = nsbox_spec();
    with_mknod(&mut spec);
    set(
        &mut spec,
        "/linux/devices",
        json!([{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o600}]),
    );
    let script = "stat -c 'fuse:%t:%T %a' /dev/fuse; \
        (exec 3<>/dev/fuse) 2>&1 | grep -q 'not permitted' && echo 'open-fuse:refused'; \
        mknod /dev/sda b 8 0 && echo 'mknod:made'; \
        head -c1 /dev/sda 2>&1 | grep -q 'not permitted' && echo 'open-sda:refused'; \
        head -c1 /dev/zero | wc -c | sed 's/^/zero:/'";
    let out = run(spec.clone(), script);
    assert_eq!(field(&out, "fuse"), "a:e5 600", "{out}");
    assert_eq!(field(&out, "open-fuse"), "refused", "{out}");
    assert_eq!(field(&out, "mknod"), "made", "{out}");
    assert_eq!(field(&out, "open-sda"), "refused", "{out}");
    assert_eq!(field(&out, "zero"), "1", "{out}");

    // The bundle's allow opens it.
    set(
        &mut spec,
        "/linux/resources/devices/1",
        json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"}),
    );
    let out = run(spec, "(exec 3<>/dev/fuse) && echo 'open-fuse:ok'");
    assert_eq!(field(&out, "open-fuse"), "ok", "{out}");
}

#[test]
fn a_bundles_cgroups_path_is_the_containers_cgroup_and_outlives_create() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let path = format!("/nsbox-oci-test/{}", nsbox_common::unique("t1"));
    let mut spec = nsbox_spec();
    set(&mut spec, "/linux/cgroupsPath", json!(path));
    set(&mut spec, "/process/args", json!(["/bin/sleep", "100"]));
    let dir = busybox_bundle(&spec);
    let bundle = Bundle::open(dir.path()).unwrap();
    let container = bundle.builder(&Options::probe()).unwrap().spawn().unwrap();
    let pid = container.pid() as i32;
    assert!(container.is_detached());
    drop(container);
    // A later `nsbox-runtime ps` / `delete`: another handle, by path only.
    let cgroup = nsbox::CgroupHandle::open(&path).unwrap();
    assert!(cgroup.pids().contains(&pid), "{:?} {pid}", cgroup.pids());
    let dirs: Vec<_> = cgroup.dirs().iter().map(|d| d.to_path_buf()).collect();
    assert!(
        dirs.iter()
            .any(|d| d.join("devices.list").exists() || d.join("cgroup.procs").exists())
    );
    cgroup.remove(true).unwrap();
    assert!(dirs.iter().all(|d| !d.exists()), "{dirs:?}");
    let mut status = 0;
    // SAFETY: waitpid on this process's own child (the detached payload), a valid pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    for parent in dirs.iter().filter_map(|d| d.parent()) {
        let _ = fs::remove_dir(parent);
    }
}
