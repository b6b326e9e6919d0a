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
        "sh", "id", "cat", "hostname", "touch", "grep", "env", "stat", "echo", "readlink", "ls", "head", "wc", "mknod",
        "sleep", "sed",
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

/// Runs `script` with CAP_SYS_ADMIN (so that the kernel itself would allow unshare and mount)
/// under the bundle's `seccomp` (none: no filter); its stdout.
fn run_with_seccomp(seccomp: Option<Value>, script: &str) -> String {
    let mut spec = nsbox_spec();
    let caps = json!(["CAP_SYS_ADMIN", "CAP_KILL", "CAP_AUDIT_WRITE"]);
    for set_name in ["bounding", "effective", "permitted"] {
        set(&mut spec, &format!("/process/capabilities/{set_name}"), caps.clone());
    }
    set(&mut spec, "/process/args", json!(["/bin/sh", "-c", script]));
    if let Some(seccomp) = seccomp {
        set(&mut spec, "/linux/seccomp", seccomp);
    }
    let dir = busybox_bundle(&spec);
    for applet in ["unshare", "mount", "linux64"] {
        symlink("busybox", dir.path().join("rootfs/bin").join(applet)).unwrap();
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

#[test]
fn docker_default_seccomp_profile_runs_busybox_and_refuses_namespaces() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let profile: Value = serde_json::from_str(
        &fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/docker-20.10-default-seccomp.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let script = r#"
unshare -u true 2>/dev/null && echo "unshare: OK" || echo "unshare: $(unshare -u true 2>&1)"
mount -t tmpfs none /dev/shm 2>/dev/null && echo "mount: OK" || echo "mount: refused"
linux64 echo "personality: OK"
echo "seccomp: $(grep '^Seccomp:' /proc/self/status | cut -f2)"
"#;
    // Control: the kernel lets this container's CAP_SYS_ADMIN unshare and mount.
    let out = run_with_seccomp(None, script);
    assert_eq!(field(&out, "unshare"), "OK", "{out}");
    assert_eq!(field(&out, "mount"), "OK", "{out}");
    assert_eq!(field(&out, "seccomp"), "0", "{out}");
    // Docker's profile (made for a container without CAP_SYS_ADMIN) refuses them with EPERM;
    // busybox's shell, applets and personality(PER_LINUX) run.
    let out = run_with_seccomp(Some(profile), script);
    assert!(field(&out, "unshare").contains("Operation not permitted"), "{out}");
    assert_eq!(field(&out, "mount"), "refused", "{out}");
    assert_eq!(field(&out, "personality"), "OK", "{out}");
    assert_eq!(field(&out, "seccomp"), "2", "{out}");
}

/// What Docker 20.10 asks of a runtime beyond runc's defaults: an `oomScoreAdj` (dockerd runs
/// at -500 and gives containers 0), a umask, the sysctls it sets for every container, a
/// domain name; each read back from the kernel inside, the caller's and the host's unchanged.
#[test]
fn docker_process_settings_reach_the_kernel() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let own = || fs::read_to_string("/proc/self/oom_score_adj").unwrap();
    let before = own();
    // Raised: lowering needs CAP_SYS_RESOURCE, which root on some hosts lacks.
    let score = before.trim().parse::<i32>().unwrap() + 100;
    let host_port_start = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    let mut spec = nsbox_spec();
    set(&mut spec, "/process/oomScoreAdj", json!(score));
    set(&mut spec, "/process/user/umask", json!(0o027));
    set(&mut spec, "/domainname", json!("nsbox.example"));
    set(
        &mut spec,
        "/linux/sysctl",
        json!({
            "net.ipv4.ip_unprivileged_port_start": "0",
            "net.ipv4.ping_group_range": "0 2147483647",
            "kernel.shmmax": "123456789"
        }),
    );
    let out = run(
        spec,
        r#"
echo "oom: $(cat /proc/self/oom_score_adj)"
grep Umask /proc/self/status
echo "port_start: $(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)"
echo "ping: $(cat /proc/sys/net/ipv4/ping_group_range)"
echo "shmmax: $(cat /proc/sys/kernel/shmmax)"
echo "domainname: $(cat /proc/sys/kernel/domainname)"
"#,
    );
    assert_eq!(field(&out, "oom"), score.to_string(), "{out}");
    assert_eq!(field(&out, "Umask"), "0027", "{out}");
    assert_eq!(field(&out, "port_start"), "0", "{out}");
    assert_eq!(
        field(&out, "ping").split_whitespace().collect::<Vec<_>>(),
        ["0", "2147483647"],
        "{out}"
    );
    assert_eq!(field(&out, "shmmax"), "123456789", "{out}");
    assert_eq!(field(&out, "domainname"), "nsbox.example", "{out}");
    assert_eq!(own(), before, "the caller's oom_score_adj changed");
    let after = fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start").unwrap();
    assert_eq!(after, host_port_start, "the host's sysctl changed");
}

/// `linux.namespaces[].path` for an IPC namespace: the bundle's process is in the running
/// container's, as `docker run --ipc container:X` asks.
#[test]
fn a_bundle_joins_a_running_containers_ipc_namespace() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let mut target = nsbox::Container::builder()
        .init(false)
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let path = format!("/proc/{}/ns/ipc", target.pid());
    let link = fs::read_link(&path).unwrap().to_string_lossy().into_owned();
    assert_ne!(link, fs::read_link("/proc/self/ns/ipc").unwrap().to_string_lossy());
    let mut spec = nsbox_spec();
    set(&mut spec, "/linux/namespaces/2", json!({"type": "ipc", "path": path}));
    let out = run(spec, "echo \"ipc: $(readlink /proc/self/ns/ipc)\"");
    assert_eq!(field(&out, "ipc"), link, "{out}");
    target.kill(nsbox::Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

/// `linux.namespaces[].path` for a PID namespace (`docker run --pid container:X`, a pod
/// sharing its process namespace) and `linux.timeOffsets`: the bundle's process sees the
/// running container's processes in its /proc, is not PID 1, and its boot-time clock runs
/// ten days ahead of the host's.
#[test]
fn a_bundle_joins_a_running_containers_pid_namespace_with_time_offsets() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let mut target = nsbox::Container::builder()
        .namespaces(nsbox::Namespaces::all() - nsbox::Namespaces::USER)
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let path = format!("/proc/{}/ns/pid", target.pid());
    let link = fs::read_link(&path).unwrap().to_string_lossy().into_owned();
    let mut spec = nsbox_spec();
    set(&mut spec, "/linux/namespaces/0/path", json!(path));
    set(&mut spec, "/linux/namespaces/6", json!({"type": "time"}));
    set(&mut spec, "/linux/timeOffsets", json!({"boottime": {"secs": 864_000}}));
    let uptime = |text: &str| -> f64 { text.split_whitespace().next().unwrap().parse().unwrap() };
    let before = uptime(&fs::read_to_string("/proc/uptime").unwrap());
    let out = run(
        spec,
        r#"echo "pid: $$"; echo "ns: $(readlink /proc/self/ns/pid)"; for f in /proc/[0-9]*/comm; do echo "comm: $(cat $f)"; done; echo "uptime: $(cat /proc/uptime)""#,
    );
    let after = uptime(&fs::read_to_string("/proc/uptime").unwrap());
    assert_ne!(field(&out, "pid"), "1", "{out}");
    assert_eq!(field(&out, "ns"), link, "{out}");
    assert!(out.lines().any(|l| l == "comm: sleep"), "the target's sleep: {out}");
    let inside = uptime(field(&out, "uptime"));
    assert!(
        inside >= before + 864_000.0 - 0.01 && inside <= after + 864_000.0 + 0.01,
        "{inside} not within [{before}, {after}] + 10 days"
    );
    target.kill(nsbox::Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

/// `linux.personality`, `process.ioPriority` and `process.scheduler`, read back inside.
#[test]
fn scheduling_settings_reach_the_kernel() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let mut spec = nsbox_spec();
    set(
        &mut spec,
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    set(
        &mut spec,
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 7}),
    );
    if cfg!(target_arch = "x86_64") {
        set(&mut spec, "/linux/personality", json!({"domain": "LINUX32"}));
    }
    let out = run(
        spec,
        r#"
echo "machine: $(uname -m)"
echo "ioprio: $(ionice)"
echo "sched: $(cut -d' ' -f19,41 /proc/self/stat)"
"#,
    );
    if cfg!(target_arch = "x86_64") {
        assert_eq!(field(&out, "machine"), "i686", "{out}");
    }
    assert_eq!(field(&out, "ioprio"), "best-effort: prio 6", "{out}");
    // nice 7, SCHED_BATCH (3).
    assert_eq!(field(&out, "sched"), "7 3", "{out}");
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

#[test]
fn idmapped_bind_mounts_of_a_bundle_show_and_store_the_mapped_ids() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let host = tempfile::Builder::new().prefix("nsbox-oci-idmap-").tempdir().unwrap();
    fs::set_permissions(host.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let (users, roots) = (host.path().join("users"), host.path().join("roots"));
    fs::create_dir(&users).unwrap();
    fs::create_dir(&roots).unwrap();
    fs::write(users.join("owned"), "").unwrap();
    fs::write(roots.join("owned"), "").unwrap();
    for path in [&users, &users.join("owned")] {
        std::os::unix::fs::chown(path, Some(1000), Some(1000)).unwrap();
    }
    let mut spec = nsbox_spec();
    let map = |host_id: u32, size: u32| json!([{"containerID": 0, "hostID": host_id, "size": size}]);
    let user = json!([{"containerID": 1000, "hostID": 1_000_000, "size": 1}]);
    let patches = [
        ("/linux/namespaces/6", json!({"type": "user"})),
        ("/linux/uidMappings", map(1_000_000, 65536)),
        ("/linux/gidMappings", map(1_000_000, 65536)),
        // Host user 1000's files as the container's root (runc's explicit mappings).
        (
            "/mounts/6",
            json!({"destination": "/users", "type": "bind", "source": users, "options": ["rbind", "ridmap"],
                   "uidMappings": user, "gidMappings": user}),
        ),
        // Host root's files as the container's root: `idmap` alone takes the container's maps.
        (
            "/mounts/7",
            json!({"destination": "/roots", "type": "bind", "source": roots, "options": ["bind", "idmap", "ro"]}),
        ),
    ];
    for (pointer, value) in patches {
        set(&mut spec, pointer, value);
    }
    let script = "stat -c %u:%g /users/owned /roots/owned; touch /users/new && stat -c %u:%g /users/new; \
                  touch /roots/new 2>/dev/null || echo read-only";
    let out = run(spec, script);
    assert_eq!(out, "0:0\n0:0\n0:0\nread-only\n");
    let meta = fs::metadata(users.join("new")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000), "stored as the host user");
    assert!(!roots.join("new").exists());
}

/// `linux.namespaces[].path` for a user namespace, as containerd's CRI writes a container of a
/// pod with `hostUsers: false`: the sandbox's user, network, IPC and UTS namespaces joined
/// (and its mappings given too), mount and PID namespaces of its own. The process is the
/// namespace's root, with its maps, and what it makes belongs on the host to the mapped root.
#[test]
fn a_bundle_joins_a_running_containers_user_network_ipc_and_uts_namespaces() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    const ROOT: u32 = 300_000;
    let mut sandbox = nsbox::Container::builder()
        .namespaces(nsbox::Namespaces::all())
        .uid_map([nsbox::IdMap::new(0, ROOT, 65536)])
        .gid_map([nsbox::IdMap::new(0, ROOT, 65536)])
        .hostname("pod")
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let ns = |name: &str| format!("/proc/{}/ns/{name}", sandbox.pid());
    let link = |name: &str| fs::read_link(ns(name)).unwrap().to_string_lossy().into_owned();
    let volume = tempfile::Builder::new().prefix("nsbox-oci-userns-").tempdir().unwrap();
    std::os::unix::fs::chown(volume.path(), Some(ROOT), Some(ROOT)).unwrap();
    let map = json!([{"containerID": 0, "hostID": ROOT, "size": 65536}]);
    let mut spec = nsbox_spec();
    let patches = [
        ("/linux/namespaces/1", json!({"type": "network", "path": ns("net")})),
        ("/linux/namespaces/2", json!({"type": "ipc", "path": ns("ipc")})),
        ("/linux/namespaces/3", json!({"type": "uts", "path": ns("uts")})),
        ("/linux/namespaces/6", json!({"type": "user", "path": ns("user")})),
        ("/linux/uidMappings", map.clone()),
        ("/linux/gidMappings", map),
        ("/hostname", json!(null)),
        (
            "/mounts/6",
            json!({"destination": "/data", "type": "bind", "source": volume.path(), "options": ["rbind", "rw"]}),
        ),
    ];
    for (pointer, value) in patches {
        set(&mut spec, pointer, value);
    }
    let script = "echo \"uid: $(id -u)\"; echo \"map: $(cat /proc/self/uid_map)\"; echo \"hostname: $(hostname)\"; \
                  echo \"ns: $(readlink /proc/self/ns/net) $(readlink /proc/self/ns/ipc) $(readlink /proc/self/ns/uts)\"; \
                  touch /data/made";
    let out = run(spec, script);
    assert_eq!(field(&out, "uid"), "0", "{out}");
    let own_map = fs::read_to_string(format!("/proc/{}/uid_map", sandbox.pid())).unwrap();
    assert_eq!(field(&out, "map"), own_map.trim(), "{out}");
    assert_eq!(field(&out, "hostname"), "pod", "{out}");
    assert_eq!(
        field(&out, "ns"),
        format!("{} {} {}", link("net"), link("ipc"), link("uts")),
        "{out}"
    );
    let made = fs::metadata(volume.path().join("made")).unwrap();
    assert_eq!((made.uid(), made.gid()), (ROOT, ROOT), "made as the mapped root");
    sandbox.kill(nsbox::Signal::SIGKILL).unwrap();
    sandbox.wait().unwrap();
}

/// `linux.resources.cpu.realtimeRuntime`: with realtime group scheduling (v1
/// `cpu.rt_runtime_us`), a cgroup without a realtime budget cannot run a `SCHED_FIFO` task
/// (the kernel refuses the policy); with the bundle's budget the payload runs as one.
#[test]
fn a_realtime_budget_lets_the_payload_run_sched_fifo() {
    if !nsbox_common::root_and_busybox() {
        return;
    }
    let rt_group_sched = Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()
        || Path::new("/sys/fs/cgroup/cpu,cpuacct/cpu.rt_runtime_us").exists();
    if !nsbox_common::require("a v1 cpu hierarchy with realtime group scheduling", rt_group_sched) {
        return;
    }
    let spawn = |budget: bool| {
        // At the top of the hierarchy: a new parent would have no realtime budget to share.
        let path = format!("/{}", nsbox_common::unique("nsbox-oci-rt"));
        let mut spec = nsbox_spec();
        set(&mut spec, "/linux/cgroupsPath", json!(path));
        set(
            &mut spec,
            "/process/scheduler",
            json!({"policy": "SCHED_FIFO", "priority": 1}),
        );
        set(&mut spec, "/process/capabilities/bounding", json!(["CAP_SYS_NICE"]));
        set(&mut spec, "/process/capabilities/effective", json!(["CAP_SYS_NICE"]));
        set(&mut spec, "/process/capabilities/permitted", json!(["CAP_SYS_NICE"]));
        // Either way a cpu cgroup of its own (a new one has no realtime budget).
        let cpu = match budget {
            true => json!({"shares": 1024, "realtimeRuntime": 10000, "realtimePeriod": 100000}),
            false => json!({"shares": 1024}),
        };
        set(&mut spec, "/linux/resources/cpu", cpu);
        set(
            &mut spec,
            "/process/args",
            json!(["/bin/sh", "-c", "cut -d' ' -f41 /proc/self/stat"]),
        );
        let dir = busybox_bundle(&spec);
        let bundle = Bundle::open(dir.path()).unwrap();
        let mut builder = bundle.builder(&Options::probe()).unwrap();
        let out = builder.stdout(Stdio::piped()).stderr(Stdio::piped()).output();
        if let Ok(cgroup) = nsbox::CgroupHandle::open(&path) {
            let _ = cgroup.remove(true);
        }
        out
    };
    let out = spawn(true).expect("with a realtime budget");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "SCHED_FIFO is 1: {out:?}"
    );
    let err = spawn(false).expect_err("no realtime budget");
    assert!(err.to_string().contains("sched"), "{err}");
}

/// Set in the copy of this binary running in a network namespace of its own.
const NETDEV_INSIDE: &str = "NSBOX_OCI_TEST_NETDEV_NETNS";

/// `linux.netDevices`: a veth end of the test's own network namespace (never the host's
/// interfaces: this runs in a copy of the test binary under `unshare --net`) moves into the
/// container, renamed, up, with its address; its peer goes when the container's namespace
/// does (a veth pair is destroyed with it).
#[test]
fn a_bundles_net_devices_move_into_the_container_renamed_up_with_their_addresses() {
    let name = "a_bundles_net_devices_move_into_the_container_renamed_up_with_their_addresses";
    if std::env::var_os(NETDEV_INSIDE).is_none() {
        if !nsbox_common::root_and_busybox()
            || !nsbox_common::require("unshare (util-linux)", Path::new("/usr/bin/unshare").exists())
            || !nsbox_common::require("ip (iproute2)", Path::new("/usr/sbin/ip").exists())
        {
            return;
        }
        let out = Command::new("/usr/bin/unshare")
            .arg("--net")
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads=1"])
            .env(NETDEV_INSIDE, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    let ip = |args: &[&str]| {
        let out = Command::new("/usr/sbin/ip").args(args).output().unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    let has_link = |name: &str| {
        Command::new("/usr/sbin/ip")
            .args(["link", "show", "dev", name])
            .output()
            .unwrap()
            .status
            .success()
    };
    ip(&["link", "add", "nsbox-r0", "type", "veth", "peer", "name", "nsbox-r0p"]);
    ip(&["addr", "add", "10.7.6.5/24", "dev", "nsbox-r0"]);
    let mut spec = nsbox_spec();
    set(&mut spec, "/linux/netDevices", json!({"nsbox-r0": {"name": "eth5"}}));
    let out = run(
        spec,
        "/bin/busybox ip -o addr show dev eth5; cat /sys/class/net/eth5/flags",
    );
    assert!(out.contains("inet 10.7.6.5/24"), "{out}");
    let flags = out.lines().last().unwrap_or_default();
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_ne!(flags & libc::IFF_UP as u32, 0, "{out}");
    assert!(!has_link("nsbox-r0"));
    nsbox_common::wait_until(
        "the moved veth's peer to go",
        std::time::Duration::from_secs(30),
        || !has_link("nsbox-r0p"),
    );
}
