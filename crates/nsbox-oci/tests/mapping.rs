//! config.json fragments → what nsbox's builder gets, read back through `Config`'s serialized
//! form; every unsupported field refused by name; hostile bundles refused cleanly. No root
//! needed: nothing is spawned.

mod common;

use std::os::unix::fs::symlink;

use common::{nsbox_spec, runc_spec, set, write_bundle};
use nsbox_oci::{Bundle, BundleError, Options};
use serde_json::{Value, json};

/// `spec` written as a bundle, opened, mapped and built; the `Config` serialized.
fn config_of(spec: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), spec);
    let bundle = Bundle::open(dir.path()).unwrap();
    let builder = bundle
        .builder(&Options::fixed())
        .unwrap_or_else(|e| panic!("{e:?} in {spec:#}"));
    let config = builder.build().unwrap_or_else(|e| panic!("build: {e}"));
    serde_json::to_value(&config).unwrap()
}

/// The error of opening and mapping `spec`.
fn error_of(spec: &Value) -> BundleError {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), spec);
    match Bundle::open(dir.path()).and_then(|b| b.builder(&Options::fixed())) {
        Ok(b) => panic!("accepted: {b:?}"),
        Err(e) => e,
    }
}

/// JSON pointers and the values put there (or, in expectations, found there).
type Patches = Vec<(&'static str, Value)>;

fn with(patches: &[(&str, Value)]) -> Value {
    let mut spec = nsbox_spec();
    for (pointer, value) in patches {
        set(&mut spec, pointer, value.clone());
    }
    spec
}

/// A path as `Config`'s serialized form holds it (bytes).
fn bytes(text: &str) -> Value {
    json!(text.as_bytes())
}

fn mount(kind: &str, destination: &str, source: Option<&str>, options: &[&str]) -> Value {
    let mut m = json!({"destination": destination, "type": kind, "options": options});
    if let Some(source) = source {
        m["source"] = json!(source);
    }
    m
}

#[test]
fn runc_spec_defaults_map_onto_the_builder_without_nsbox_defaults() {
    let config = config_of(&nsbox_spec());
    let expect = [
        ("/namespaces", json!(["mnt", "uts", "ipc", "pid", "net", "cgroup"])),
        ("/read_only_root", json!(true)),
        ("/hostname", bytes("runc")),
        ("/env_clear", json!(true)),
        ("/program", bytes("sh")),
        ("/args", json!([])),
        ("/cwd", bytes("/")),
        ("/user", json!([0, 0])),
        ("/init", json!(false)),
        ("/detach", json!(true)),
        ("/no_new_privileges", json!(true)),
        (
            "/capabilities",
            json!(["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]),
        ),
        ("/ambient", json!([])),
        ("/seccomp", json!("unconfined")),
        ("/rlimits", json!([["RLIMIT_NOFILE", 1024, 1024]])),
        ("/network", json!("none")),
        ("/mounts", json!([])),
        ("/bounds/shm_size", json!(64 << 20)),
        ("/tty", json!(null)),
        ("/resources/pids", json!(null)),
    ];
    for (pointer, want) in expect {
        assert_eq!(config.pointer(pointer), Some(&want), "{pointer} in {config:#}");
    }
    let env = config["env"].to_string();
    assert!(
        env.contains(&bytes("PATH").to_string()) && env.contains(&bytes("xterm").to_string()),
        "{env}"
    );
    assert!(config["rootfs"]["dir"].is_array(), "{}", config["rootfs"]);
}

#[test]
fn each_field_maps_onto_its_nsbox_setting() {
    let non_root_caps = json!({
        "bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
        "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE"],
        "inheritable": ["CAP_NET_BIND_SERVICE"],
        "ambient": ["CAP_NET_BIND_SERVICE"]
    });
    let no_caps = json!({"bounding": [], "effective": [], "permitted": []});
    let launcher = [
        "execve",
        "execveat",
        "read",
        "write",
        "exit_group",
        "fcntl",
        "close",
        "landlock_restrict_self",
    ];
    #[rustfmt::skip]
    let table: Vec<(&str, Patches, Patches)> = vec![
        ("args", vec![("/process/args", json!(["/bin/echo", "a", "b"]))],
            vec![("/program", bytes("/bin/echo")), ("/args", json!([bytes("a"), bytes("b")]))]),
        ("env", vec![("/process/env", json!(["A=1", "B=x=y", "EMPTY="]))],
            vec![("/env", json!([[bytes("A"), bytes("1")], [bytes("B"), bytes("x=y")], [bytes("EMPTY"), bytes("")]]))]),
        ("cwd", vec![("/process/cwd", json!("/tmp"))], vec![("/cwd", bytes("/tmp"))]),
        ("user and groups", vec![
            ("/process/user", json!({"uid": 1000, "gid": 100, "additionalGids": [5, 6]})),
            ("/process/capabilities", no_caps.clone())],
            vec![("/user", json!([1000, 100])), ("/groups", json!([5, 6])), ("/capabilities", json!([]))]),
        ("umask and oomScoreAdj equal to the caller's",
            vec![("/process/user/umask", json!(0o022)), ("/process/oomScoreAdj", json!(0))],
            vec![("/user", json!([0, 0]))]),
        ("terminal", vec![("/process/terminal", json!(true)), ("/process/consoleSize", json!({"height": 30, "width": 100}))],
            vec![("/tty", json!([30, 100]))]),
        ("rlimits", vec![("/process/rlimits", json!([
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                {"type": "RLIMIT_NOFILE", "soft": 64, "hard": 128}]))],
            vec![("/rlimits", json!([["RLIMIT_CORE", 0, 0], ["RLIMIT_NOFILE", 64, 128]]))]),
        ("noNewPrivileges false", vec![("/process/noNewPrivileges", json!(false))],
            vec![("/no_new_privileges", json!(false))]),
        ("ambient capabilities of a non-root user", vec![
            ("/process/user", json!({"uid": 1000, "gid": 1000})), ("/process/capabilities", non_root_caps)],
            vec![("/capabilities", json!(["CAP_KILL", "CAP_NET_BIND_SERVICE"])), ("/ambient", json!(["CAP_NET_BIND_SERVICE"]))]),
        ("writable root", vec![("/root/readonly", json!(false))], vec![("/read_only_root", json!(false))]),
        ("hostname", vec![("/hostname", json!("box"))], vec![("/hostname", bytes("box"))]),
        ("no hostname keeps the host's", vec![("/hostname", json!(null))], vec![("/hostname", bytes("host"))]),
        ("no network namespace", vec![("/linux/namespaces", json!([{"type": "mount"}, {"type": "uts"}, {"type": "pid"}]))],
            vec![("/network", json!("host")), ("/namespaces", json!(["mnt", "uts", "pid"]))]),
        ("network namespace by path", vec![("/linux/namespaces/1", json!({"type": "network", "path": "/run/netns/a"}))],
            vec![("/network", json!({"join": bytes("/run/netns/a")}))]),
        ("user namespace and id maps", vec![
            ("/linux/namespaces/6", json!({"type": "user"})),
            ("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}])),
            ("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]))],
            vec![("/uid_map", json!([{"inside": 0, "outside": 100000, "count": 65536}])),
                 ("/gid_map", json!([{"inside": 0, "outside": 200000, "count": 65536}]))]),
        ("read-only rbind", vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "ro", "rprivate"]))],
            vec![("/mounts/0/kind/bind/recursive", json!(true)), ("/mounts/0/kind/bind/follow", json!(true)),
                 ("/mounts/0/kind/bind/source", bytes("/srv")), ("/mounts/0/target", bytes("/data")),
                 ("/mounts/0/read_only", json!(true))]),
        ("non-recursive bind of a bundle path", vec![("/mounts/6", mount("none", "/data", Some("rootfs"), &["bind", "rw"]))],
            vec![("/mounts/0/kind/bind/recursive", json!(false)), ("/mounts/0/read_only", json!(false))]),
        ("tmpfs", vec![("/mounts/6", mount("tmpfs", "/scratch", Some("tmpfs"), &["nosuid", "nodev", "size=1m", "mode=700"]))],
            vec![("/mounts/0/kind/tmpfs", json!({"size": 1 << 20, "mode": 0o700}))]),
        ("proc elsewhere", vec![("/mounts/6", mount("proc", "/host-proc", Some("proc"), &["nosuid", "noexec", "nodev", "ro"]))],
            vec![("/mounts/0/kind", json!("proc")), ("/mounts/0/read_only", json!(true))]),
        ("/dev/shm size", vec![("/mounts/3/options", json!(["nosuid", "noexec", "nodev", "mode=1777", "size=1m"]))],
            vec![("/bounds/shm_size", json!(1 << 20))]),
        ("/dev/shm without size", vec![("/mounts/3/options", json!(["nosuid", "noexec", "nodev", "mode=1777"]))],
            vec![("/bounds/shm_size", json!(null))]),
        ("memory and swap", vec![("/linux/resources/memory", json!({"limit": 64 << 20, "swap": 128 << 20}))],
            vec![("/resources/memory", json!(64 << 20)), ("/resources/swap", json!(64 << 20))]),
        ("cpu", vec![("/linux/resources/cpu", json!({"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}))],
            vec![("/resources/cpu_weight", json!(39)), ("/resources/cpus", json!(0.5)),
                 ("/resources/cpuset_cpus", json!("0")), ("/resources/cpuset_mems", json!("0"))]),
        ("pids", vec![("/linux/resources/pids", json!({"limit": 100}))], vec![("/resources/pids", json!(100))]),
        ("pids -1 is no limit", vec![("/linux/resources/pids", json!({"limit": -1}))], vec![("/resources/pids", json!(null))]),
        ("blockIO", vec![("/linux/resources/blockIO", json!({"weight": 500,
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
                "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}]}))],
            vec![("/resources/io_weight", json!(4950)),
                 ("/resources/io_devices/0", json!({"major": 8, "minor": 0, "kind": "ReadBps", "value": 1048576})),
                 ("/resources/io_devices/1", json!({"major": 8, "minor": 16, "kind": "WriteIops", "value": 100}))]),
        ("seccomp deny list", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": [native_arch()],
                "syscalls": [{"names": ["ptrace", "keyctl"], "action": "SCMP_ACT_ERRNO"},
                             {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}))],
            vec![("/seccomp", json!({"deny": ["ptrace", "keyctl", "bpf"]}))]),
        ("seccomp allow list", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                "syscalls": [{"names": launcher, "action": "SCMP_ACT_ALLOW"},
                             {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}))],
            vec![("/seccomp/allow/8", json!("getpid"))]),
        ("device rules: deny first, the bundle's, runc's defaults", vec![("/linux/resources/devices", json!([
                {"allow": false, "access": "rwm"},
                {"allow": true, "type": "b", "major": 8, "minor": 0, "access": "rw"},
                {"allow": true, "type": "c", "major": 136, "access": "rwm"}]))],
            vec![("/resources/devices/0", json!({"allow": false, "kind": "All", "major": null, "minor": null, "access": 7})),
                 ("/resources/devices/2", json!({"allow": true, "kind": "Block", "major": 8, "minor": 0, "access": 6})),
                 ("/resources/devices/3", json!({"allow": true, "kind": "Char", "major": 136, "minor": null, "access": 7})),
                 ("/resources/devices/4", json!({"allow": true, "kind": "Char", "major": null, "minor": null, "access": 1})),
                 ("/resources/devices/13", json!({"allow": true, "kind": "Char", "major": 136, "minor": null, "access": 7}))]),
        ("CAP_MKNOD beside a device cgroup", vec![("/process/capabilities", json!({"bounding": ["CAP_MKNOD"],
                "effective": ["CAP_MKNOD"], "permitted": ["CAP_MKNOD"]}))],
            vec![("/capabilities/0", json!("CAP_MKNOD")), ("/resources/devices/1/kind", json!("All"))]),
        ("device nodes", vec![("/linux/devices", json!([
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o620, "uid": 1, "gid": 2},
                {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}]))],
            vec![("/device_nodes/0", json!({"path": bytes("/dev/fuse"), "block": false, "major": 10, "minor": 229,
                    "mode": 0o620, "uid": 1, "gid": 2})),
                 ("/device_nodes/1/block", json!(true)), ("/device_nodes/1/mode", json!(0o666))]),
        ("cgroupsPath", vec![("/linux/cgroupsPath", json!("/testenv/t1-true"))], vec![("/cgroup_path", bytes("/testenv/t1-true"))]),
        ("hugepageLimits", vec![("/linux/resources/hugepageLimits", json!([{"pageSize": "2MB", "limit": 2097152}]))],
            vec![("/resources/hugepages/0", json!(["2MB", 2097152]))]),
        ("unified", vec![("/linux/resources/unified", json!({"memory.high": "1000000"}))],
            vec![("/resources/unified/0", json!(["memory.high", "1000000"]))]),
        ("personality LINUX", vec![("/linux/personality", json!({"domain": "LINUX"}))], vec![("/init", json!(false))]),
        ("annotations", vec![("/annotations", json!({"org.example": "x"}))], vec![("/init", json!(false))]),
    ];
    for (name, patches, expect) in table {
        let config = config_of(&with(&patches));
        for (pointer, want) in expect {
            assert_eq!(config.pointer(pointer), Some(&want), "{name}: {pointer} in {config:#}");
        }
    }
}

fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        other => panic!("no test arch for {other}"),
    }
}

#[test]
fn unsupported_fields_are_refused_by_name() {
    let seccomp = |rule: Value| json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [rule]});
    #[rustfmt::skip]
    let table: Vec<(Patches, &str)> = vec![
        (vec![("/linux/intelRdt", json!({"closID": "x"}))], "linux.intelRdt"),
        (vec![("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"}))], "linux.sysctl"),
        (vec![("/linux/cgroupsPath", json!("system.slice:docker:abc"))], "linux.cgroupsPath"),
        (vec![("/linux/memoryPolicy", json!({"mode": "MPOL_BIND", "nodes": "0"}))], "linux.memoryPolicy"),
        (vec![("/linux/timeOffsets", json!({"monotonic": {"secs": 1}}))], "linux.timeOffsets"),
        (vec![("/linux/netDevices", json!({"eth0": {}}))], "linux.netDevices"),
        (vec![("/linux/mountLabel", json!("system_u:object_r:container_file_t:s0"))], "linux.mountLabel"),
        (vec![("/linux/rootfsPropagation", json!("rslave"))], "linux.rootfsPropagation"),
        (vec![("/linux/personality", json!({"domain": "LINUX32"}))], "linux.personality"),
        (vec![("/linux/devices", json!([{"path": "/dev/fifo", "type": "p"}]))], "linux.devices[0]"),
        (vec![("/process/capabilities", json!({"bounding": ["CAP_MKNOD"], "effective": ["CAP_MKNOD"], "permitted": ["CAP_MKNOD"]})),
              ("/linux/resources/devices", json!([]))],
            "linux.resources.devices"),
        (vec![("/linux/resources/hugepageLimits", json!([{"pageSize": "2MB", "limit": 0}, {"pageSize": "1GB", "limit": 0}]))],
            "linux.resources.hugepageLimits[1]"),
        (vec![("/linux/resources/network", json!({"classID": 1}))], "linux.resources.network"),
        (vec![("/linux/resources/rdma", json!({"mlx": {"hcaHandles": 1}}))], "linux.resources.rdma"),
        (vec![("/linux/resources/memory", json!({"limit": 67108864, "kernel": 1}))], "linux.resources.memory.kernel"),
        (vec![("/linux/resources/memory", json!({"swappiness": 10}))], "linux.resources.memory.swappiness"),
        (vec![("/linux/resources/memory", json!({"reservation": 1048576}))], "linux.resources.memory.reservation"),
        (vec![("/linux/resources/memory", json!({"disableOOMKiller": true}))], "linux.resources.memory.disableOOMKiller"),
        (vec![("/linux/resources/memory", json!({"swap": 1048576}))], "linux.resources.memory.swap"),
        (vec![("/linux/resources/cpu", json!({"quota": 50000, "period": 50000}))], "linux.resources.cpu.period"),
        (vec![("/linux/resources/cpu", json!({"realtimeRuntime": 1000}))], "linux.resources.cpu.realtimeRuntime"),
        (vec![("/linux/resources/cpu", json!({"idle": 1}))], "linux.resources.cpu.idle"),
        (vec![("/linux/resources/blockIO", json!({"weightDevice": [{"major": 8, "minor": 0, "weight": 100}]}))],
            "linux.resources.blockIO.weightDevice"),
        (vec![("/linux/resources/blockIO", json!({"leafWeight": 100}))], "linux.resources.blockIO.leafWeight"),
        (vec![("/linux/namespaces/0/path", json!("/proc/1/ns/pid"))], "linux.namespaces[0].path"),
        (vec![("/linux/namespaces", json!([{"type": "pid"}]))], "linux.namespaces"),
        (vec![("/linux/maskedPaths", json!(["/proc/kcore"]))], "linux.maskedPaths"),
        (vec![("/linux/readonlyPaths", json!([]))], "linux.readonlyPaths"),
        (vec![("/domainname", json!("example.org"))], "domainname"),
        (vec![("/process/apparmorProfile", json!("docker-default"))], "process.apparmorProfile"),
        (vec![("/process/selinuxLabel", json!("system_u:system_r:container_t:s0"))], "process.selinuxLabel"),
        (vec![("/process/oomScoreAdj", json!(500))], "process.oomScoreAdj"),
        (vec![("/process/user/umask", json!(0o077))], "process.user.umask"),
        (vec![("/process/user/username", json!("me"))], "process.user.username"),
        (vec![("/process/ioPriority", json!({"class": "IOPRIO_CLASS_RT", "priority": 1}))], "process.ioPriority"),
        (vec![("/process/scheduler", json!({"policy": "SCHED_FIFO", "priority": 1}))], "process.scheduler"),
        (vec![("/process/commandLine", json!("cmd.exe"))], "process.commandLine"),
        (vec![("/process/capabilities/inheritable", json!(["CAP_KILL"]))], "process.capabilities.inheritable"),
        (vec![("/process/capabilities/permitted", json!(["CAP_KILL"]))], "process.capabilities.permitted"),
        (vec![("/process/capabilities/effective", json!(["CAP_KILL"]))], "process.capabilities.effective"),
        (vec![("/process/user", json!({"uid": 1000, "gid": 1000}))], "process.capabilities.permitted"),
        (vec![("/process/capabilities/ambient", json!(["CAP_KILL"]))], "process.capabilities.inheritable"),
        (vec![("/mounts/6", mount("cgroup", "/sys/fs/cgroup", Some("cgroup"), &["ro"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "nosuid"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "rshared"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "idmap"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("tmpfs", "/t", Some("tmpfs"), &["nosuid", "nodev", "noexec"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("tmpfs", "/t", Some("tmpfs"), &["size=1m"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("overlay", "/o", Some("overlay"), &["lowerdir=/a"]))], "mounts[6]"),
        (vec![("/mounts/6", json!({"destination": "/d", "type": "bind", "source": "/srv", "options": ["rbind"],
                 "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}))], "mounts[6].uidMappings"),
        (vec![("/mounts/5/options", json!(["nosuid", "noexec", "nodev", "rw"]))], "mounts[5]"),
        (vec![("/mounts/5/options", json!(["nosuid", "noexec", "nodev"]))], "mounts[5]"),
        (vec![("/mounts/1/options", json!(["nosuid", "strictatime", "mode=755", "size=1m"]))], "mounts[1]"),
        (vec![("/mounts/2/options", json!(["nosuid", "noexec", "newinstance", "ptmxmode=0600"]))], "mounts[2]"),
        (vec![("/mounts/0/type", json!("tmpfs"))], "mounts[0]"),
        (vec![("/mounts/0", mount("tmpfs", "/elsewhere", Some("tmpfs"), &["nosuid", "nodev"]))], "mounts"),
        (vec![("/linux/seccomp", seccomp(json!({"names": ["socket"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]})))], "linux.seccomp.syscalls[0].args"),
        (vec![("/linux/seccomp", seccomp(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38})))],
            "linux.seccomp.syscalls[0].action"),
        (vec![("/linux/seccomp", seccomp(json!({"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY"})))],
            "linux.seccomp.syscalls[0].action"),
        (vec![("/linux/seccomp", seccomp(json!({"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"})))],
            "linux.seccomp.syscalls[0].action"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_KILL"}))], "linux.seccomp.defaultAction"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38}))], "linux.seccomp.defaultAction"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_AARCH64"]}))],
            "linux.seccomp.architectures[1]"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}))], "linux.seccomp.flags"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}))],
            "linux.seccomp.listenerPath"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ERRNO",
                 "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}))], "linux.seccomp.syscalls"),
        (vec![("/linux/foo", json!(1))], "linux.foo"),
        (vec![("/linux/fooEnabled", json!(false))], "linux.fooEnabled"),
        (vec![("/process/extra", json!([]))], "process.extra"),
        (vec![("/linux/resources/devices/0/extra", json!({}))], "linux.resources.devices[0].extra"),
        (vec![("/process/bar", json!("x"))], "process.bar"),
        (vec![("/mounts/0/extra", json!(true))], "mounts[0].extra"),
        (vec![("/linux/resources/memory/kmem", json!(1))], "linux.resources.memory.kmem"),
        (vec![("/foo", json!({"a": 1}))], "foo"),
        (vec![("/solaris", json!({"milestone": "svc:/x"}))], "solaris"),
        (vec![("/vm", json!({"kernel": {"path": "/vmlinuz"}}))], "vm"),
        (vec![("/ociVersion", json!("2.0.0"))], "ociVersion"),
    ];
    for (patches, field) in table {
        let err = error_of(&with(&patches));
        assert!(
            matches!(err, BundleError::Unsupported { .. }),
            "{patches:?}: not Unsupported: {err:?}"
        );
        assert_eq!(err.field(), Some(field), "{patches:?}: {err}");
        assert!(err.to_string().starts_with(field), "{err}");
    }
}

#[test]
fn runc_spec_as_runc_writes_it_is_refused_naming_the_cgroup_mount() {
    let err = error_of(&runc_spec());
    assert_eq!(err.field(), Some("mounts[6]"), "{err}");
    let mut spec = runc_spec();
    spec["mounts"].as_array_mut().unwrap().pop();
    let err = error_of(&spec);
    assert_eq!(err.field(), Some("linux.maskedPaths"), "{err}");
    assert!(err.to_string().contains("/proc/interrupts"), "{err}");
}

#[test]
fn invalid_values_are_refused_by_name() {
    #[rustfmt::skip]
    let table: Vec<(Patches, &str)> = vec![
        (vec![("/process/args", json!([]))], "process.args"),
        (vec![("/process/env", json!(["PATH=/bin", "NOEQUALS"]))], "process.env[1]"),
        (vec![("/process/env", json!(["=x"]))], "process.env[0]"),
        (vec![("/process/cwd", json!("relative"))], "process.cwd"),
        (vec![("/process/consoleSize", json!({"height": 1, "width": 1}))], "process.consoleSize"),
        (vec![("/process/terminal", json!(true)), ("/process/consoleSize", json!({"height": 70000, "width": 80}))],
            "process.consoleSize.height"),
        (vec![("/process/rlimits", json!([{"type": "RLIMIT_CORE", "soft": 2, "hard": 1}]))], "process.rlimits[0]"),
        (vec![("/process/rlimits/1", json!({"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1}))], "process.rlimits[1]"),
        (vec![("/process/capabilities/ambient", json!(["CAP_SYS_ADMIN"]))], "process.capabilities.ambient"),
        (vec![("/linux/namespaces/6", json!({"type": "pid"}))], "linux.namespaces[6]"),
        (vec![("/linux/namespaces/6", json!({"type": "user"}))], "linux.uidMappings"),
        (vec![("/linux/uidMappings", json!([{"containerID": 0, "hostID": 1, "size": 1}]))], "linux.uidMappings"),
        (vec![("/linux/namespaces", json!([{"type": "mount"}])), ("/hostname", json!("box"))], "hostname"),
        (vec![("/mounts/6", mount("bind", "relative/dest", Some("/srv"), &["rbind"]))], "mounts[6].destination"),
        (vec![("/mounts/6", mount("bind", "/a/../etc", Some("/srv"), &["rbind"]))], "mounts[6].destination"),
        (vec![("/mounts/6", mount("bind", "/data", None, &["rbind"]))], "mounts[6].source"),
        (vec![("/mounts/6", mount("bind", "/data", Some("../.."), &["rbind"]))], "mounts[6].source"),
        (vec![("/mounts/6", mount("tmpfs", "/t", None, &["nosuid", "nodev", "size=99999999999999999g"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("tmpfs", "/t", None, &["nosuid", "nodev", "mode=77777"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("proc", "/proc", Some("proc"), &[])), ("/mounts/0/destination", json!("/proc"))], "mounts[6]"),
        (vec![("/linux/resources/memory", json!({"limit": -5}))], "linux.resources.memory.limit"),
        (vec![("/linux/resources/memory", json!({"limit": 67108864, "swap": 1048576}))], "linux.resources.memory.swap"),
        (vec![("/linux/resources/blockIO", json!({"weight": 5000}))], "linux.resources.blockIO.weight"),
        (vec![("/linux/resources/blockIO", json!({"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}))],
            "linux.resources.blockIO.throttleReadBpsDevice[0]"),
        (vec![("/linux/resources/devices/1", json!({"allow": true, "access": "rwx"}))], "linux.resources.devices[1]"),
        (vec![("/root", json!({"path": ""}))], "root.path"),
        (vec![("/root", json!(null))], "root"),
        (vec![("/process", json!(null))], "process"),
    ];
    for (patches, field) in table {
        let err = error_of(&with(&patches));
        assert_eq!(err.field(), Some(field), "{patches:?}: {err:?}");
    }
}

#[test]
fn limits_nsbox_refuses_come_back_from_build() {
    for patches in [
        vec![("/linux/resources/pids", json!({"limit": i64::MAX}))],
        vec![("/linux/resources/memory", json!({"limit": 4096}))],
        vec![("/linux/resources/cpu", json!({"quota": 1_000_000_000_000i64}))],
        vec![("/linux/resources/cpu", json!({"cpus": "0-99999"}))],
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path(), &with(&patches));
        let builder = Bundle::open(dir.path()).unwrap().builder(&Options::fixed()).unwrap();
        let err = builder.build().unwrap_err();
        assert!(matches!(err, nsbox::Error::Config(_)), "{patches:?}: {err:?}");
    }
}

#[test]
fn a_root_path_leaving_the_bundle_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &with(&[("/root/path", json!("../outside"))]));
    let err = Bundle::open(dir.path())
        .unwrap()
        .builder(&Options::fixed())
        .unwrap_err();
    assert_eq!(err.field(), Some("root.path"), "{err}");

    symlink(outside.path(), dir.path().join("link")).unwrap();
    write_bundle(dir.path(), &with(&[("/root/path", json!("link"))]));
    let err = Bundle::open(dir.path())
        .unwrap()
        .builder(&Options::fixed())
        .unwrap_err();
    assert_eq!(err.field(), Some("root.path"), "{err}");
    assert!(err.to_string().contains("symlink"), "{err}");

    // A symlink that stays inside is followed; an absolute path is the engine's to name.
    symlink("rootfs", dir.path().join("inside")).unwrap();
    write_bundle(dir.path(), &with(&[("/root/path", json!("inside"))]));
    let bundle = Bundle::open(dir.path()).unwrap();
    assert_eq!(bundle.root_dir().unwrap(), bundle.dir().join("rootfs"));
    write_bundle(dir.path(), &with(&[("/root/path", json!(outside.path()))]));
    assert_eq!(Bundle::open(dir.path()).unwrap().root_dir().unwrap(), outside.path());
}

#[test]
fn malformed_config_files_are_parse_errors_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let open = |text: &[u8]| {
        std::fs::write(dir.path().join("config.json"), text).unwrap();
        Bundle::open(dir.path()).unwrap_err()
    };
    let err = open(b"{");
    assert!(matches!(err, BundleError::Parse { .. }), "{err:?}");
    let mut spec = nsbox_spec();
    spec["process"]["capabilities"]["bounding"] = json!(["CAP_MAKE_COFFEE"]);
    let err = open(&serde_json::to_vec(&spec).unwrap());
    assert!(err.to_string().contains("CAP_MAKE_COFFEE"), "{err}");
    let deep = "[".repeat(100_000);
    assert!(matches!(open(deep.as_bytes()), BundleError::Parse { .. }));
    let huge = vec![b' '; 5 << 20];
    assert_eq!(open(&huge).field(), Some("config.json"));
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("config.json"))
        .status()
        .unwrap();
    assert!(made.success());
    assert_eq!(
        Bundle::open(dir.path()).unwrap_err().field(),
        Some("config.json"),
        "a FIFO is refused, not read"
    );
    let missing = Bundle::open(dir.path().join("nope")).unwrap_err();
    assert!(matches!(missing, BundleError::Read { .. }), "{missing:?}");
}

#[test]
fn hooks_are_parsed_and_returned() {
    let hooks = json!({
        "prestart": [{"path": "/usr/bin/setkey", "args": ["setkey", "x"], "env": ["A=1"], "timeout": 5}],
        "createRuntime": [{"path": "/bin/a"}], "createContainer": [{"path": "/bin/b"}],
        "startContainer": [{"path": "/bin/c"}], "poststart": [{"path": "/bin/d"}], "poststop": [{"path": "/bin/e"}]
    });
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &with(&[("/hooks", hooks)]));
    let bundle = Bundle::open(dir.path()).unwrap();
    let h = bundle.hooks().unwrap();
    let prestart = &h.prestart().as_ref().unwrap()[0];
    assert_eq!(prestart.path().to_str(), Some("/usr/bin/setkey"));
    assert_eq!(prestart.timeout(), Some(5));
    for (list, path) in [
        (h.create_runtime(), "/bin/a"),
        (h.create_container(), "/bin/b"),
        (h.start_container(), "/bin/c"),
        (h.poststart(), "/bin/d"),
        (h.poststop(), "/bin/e"),
    ] {
        assert_eq!(list.as_ref().unwrap()[0].path().to_str(), Some(path));
    }
    bundle.builder(&Options::fixed()).unwrap();
}

#[test]
fn the_fuzz_entry_point_takes_the_seeds_and_garbage() {
    for seed in [
        &include_bytes!("../../../fuzz/seeds/oci_config/runc-spec.json")[..],
        &include_bytes!("../../../fuzz/seeds/oci_config/nsbox-accepted.json")[..],
        b"",
        b"null",
        b"{\"ociVersion\": \"1.0.0\", \"root\": {\"path\": \"../..\"}, \"process\": {\"cwd\": \"/\", \"user\": {\"uid\": 0, \"gid\": 0}}}",
    ] {
        nsbox_oci::__fuzz::config(seed);
    }
}

#[test]
fn device_rules_without_a_device_cgroup_are_checked_against_nsbox_dev() {
    let mut options = Options::fixed();
    options.device_cgroup = false;
    let map = |patches: &[(&str, Value)]| {
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path(), &with(patches));
        Bundle::open(dir.path()).and_then(|b| b.builder(&options)).map(drop)
    };
    let narrow = json!([{"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "access": "m"}]);
    map(&[("/linux/resources/devices", narrow)]).unwrap();
    let wide = json!([{"allow": true, "type": "b", "major": 8, "minor": 0, "access": "rw"}]);
    let err = map(&[("/linux/resources/devices", wide)]).unwrap_err();
    assert!(
        matches!(&err, BundleError::Unsupported { field, .. } if field == "linux.resources.devices[0]"),
        "{err:?}"
    );
    let mknod = json!({"bounding": ["CAP_MKNOD"], "effective": ["CAP_MKNOD"], "permitted": ["CAP_MKNOD"]});
    let err = map(&[("/process/capabilities", mknod)]).unwrap_err();
    assert!(
        matches!(&err, BundleError::Unsupported { field, .. } if field == "linux.resources.devices"),
        "{err:?}"
    );
}
