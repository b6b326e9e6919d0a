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

use common::{nsbox_spec, runc_spec, set, write_bundle};
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
        "sh", "id", "cat", "hostname", "touch", "grep", "env", "stat", "echo", "ls", "head", "wc",
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

/// The options (field 6) of the last mount at `point` in a mountinfo text, and those of the
/// mounts on it.
fn mount_and_children<'a>(mountinfo: &'a str, point: &str) -> Vec<&'a str> {
    let field = |l: &'a str, n: usize| l.split(' ').nth(n).unwrap_or("");
    let Some(top) = mountinfo.lines().rfind(|l| field(l, 4) == point) else {
        return Vec::new();
    };
    mountinfo
        .lines()
        .filter(|l| *l == top || field(l, 1) == field(top, 0))
        .map(|l| field(l, 5))
        .collect()
}

#[test]
fn runc_spec_as_runc_writes_it_runs_with_its_cgroupfs_masked_paths_and_docker_shm() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let shm = tempfile::Builder::new().prefix("nsbox-oci-shm-").tempdir().unwrap();
    fs::write(shm.path().join("engine"), "shm\n").unwrap();
    let data = tempfile::Builder::new().prefix("nsbox-oci-data-").tempdir().unwrap();
    let mut spec = runc_spec();
    set(&mut spec, "/process/terminal", json!(false));
    set(&mut spec, "/linux/resources/pids", json!({"limit": 42}));
    // A privileged container's sysfs (it has a network namespace).
    set(
        &mut spec,
        "/mounts/5/options",
        json!(["nosuid", "noexec", "nodev", "rw"]),
    );
    // Docker's /dev/shm: its own shm mount bound in.
    set(
        &mut spec,
        "/mounts/3",
        json!({"destination": "/dev/shm", "type": "bind", "source": shm.path(),
               "options": ["rbind", "rprivate", "nosuid", "noexec", "nodev"]}),
    );
    set(
        &mut spec,
        "/mounts/7",
        json!({"destination": "/data", "type": "bind", "source": data.path(),
               "options": ["rbind", "nosuid", "nodev", "noexec", "rshared"]}),
    );
    let script = r#"
echo "pids: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max)"
touch /sys/fs/cgroup/x 2>/dev/null && echo "cgroupfs: writable" || echo "cgroupfs: read-only"
echo "timer_list: $(stat -c %t:%T /proc/timer_list 2>&1)"
echo "interrupts: $(head -c 1 /proc/interrupts | wc -c)"
echo "shm: $(cat /dev/shm/engine)"
echo "mountinfo:"
cat /proc/self/mountinfo
"#;
    let out = run(spec, script);
    assert_eq!(field(&out, "pids"), "42", "the container's own cgroup: {out}");
    assert_eq!(field(&out, "cgroupfs"), "read-only", "{out}");
    assert_eq!(field(&out, "timer_list"), "1:3", "masked by /dev/null: {out}");
    assert_eq!(field(&out, "interrupts"), "1", "not in runc's list: {out}");
    assert_eq!(field(&out, "shm"), "shm", "the engine's /dev/shm: {out}");
    let mountinfo = out.split("mountinfo:\n").nth(1).unwrap();
    let cgroupfs = mount_and_children(mountinfo, "/sys/fs/cgroup");
    assert!(
        !cgroupfs.is_empty(),
        "a tmpfs and the hierarchies (hybrid) or one v2 bind: {mountinfo}"
    );
    for options in cgroupfs {
        let options: Vec<&str> = options.split(',').collect();
        for want in ["ro", "nosuid", "nodev", "noexec"] {
            assert!(options.contains(&want), "{want} missing in {options:?}");
        }
    }
    for point in ["/dev/shm", "/data"] {
        let options = mount_and_children(mountinfo, point);
        let options: Vec<&str> = options[0].split(',').collect();
        for want in ["rw", "nosuid", "nodev", "noexec"] {
            assert!(options.contains(&want), "{point}: {want} missing in {options:?}");
        }
    }
    let sys = mount_and_children(mountinfo, "/sys");
    assert!(sys[0].split(',').any(|o| o == "rw"), "a writable sysfs: {sys:?}");
    let data = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/data"))
        .unwrap();
    assert!(
        data.split(' ').nth(6).is_some_and(|f| f.starts_with("shared:")),
        "rshared: {data}"
    );
}
