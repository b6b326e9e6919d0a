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
        // The bundle's /dev/shm replaces nsbox's, with exactly its flags.
        ("/mounts/0/target", bytes("/dev/shm")),
        ("/mounts/0/kind/tmpfs", json!({"size": 65536 << 10, "mode": 0o1777})),
        ("/mounts/0/flags/nosuid", json!(true)),
        ("/mounts/0/flags/noexec", json!(true)),
        ("/mounts/0/flags/nodev", json!(true)),
        ("/masked_paths", json!(nsbox_oci::NSBOX_MASKED_PATHS.map(bytes))),
        ("/read_only_paths", json!(nsbox_oci::NSBOX_READONLY_PATHS.map(bytes))),
        // runc's default root propagation, rslave.
        ("/receive_host_mounts", json!(true)),
        ("/writable_sys", json!(false)),
        ("/tty", json!(null)),
        ("/resources/pids", json!(null)),
    ];
    for (pointer, want) in expect {
        assert_eq!(config.pointer(pointer), Some(&want), "{pointer} in {config:#}");
    }
    assert_eq!(config["mounts"].as_array().map(Vec::len), Some(1), "only /dev/shm");
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
        ("umask and oomScoreAdj equal to the caller's are inherited",
            vec![("/process/user/umask", json!(0o022)), ("/process/oomScoreAdj", json!(0))],
            vec![("/user", json!([0, 0])), ("/process/umask", json!(null)), ("/process/oom_score_adj", json!(null))]),
        ("umask and oomScoreAdj",
            vec![("/process/user/umask", json!(0o077)), ("/process/oomScoreAdj", json!(-500))],
            vec![("/process/umask", json!(0o077)), ("/process/oom_score_adj", json!(-500))]),
        ("sysctls, sorted", vec![("/linux/sysctl", json!({"net.ipv4.ip_unprivileged_port_start": "0",
                "net.ipv4.ping_group_range": "0 2147483647", "kernel.shmmax": "1000000", "fs.mqueue.msg_max": "20"}))],
            vec![("/process/sysctls", json!([["fs.mqueue.msg_max", "20"], ["kernel.shmmax", "1000000"],
                ["net.ipv4.ip_unprivileged_port_start", "0"], ["net.ipv4.ping_group_range", "0 2147483647"]]))]),
        ("domainname", vec![("/domainname", json!("example.org"))], vec![("/process/domainname", bytes("example.org"))]),
        ("netDevices, by host name, renamed where a name is given",
            vec![("/linux/netDevices", json!({"eth1": {}, "eth0": {"name": "ctr0"}, "eth2": {"name": ""}}))],
            vec![("/net_devices", json!([{"host": "eth0", "name": "ctr0"}, {"host": "eth1", "name": "eth1"},
                {"host": "eth2", "name": "eth2"}]))]),
        ("UTS sysctls are the hostname and domain name", vec![("/hostname", json!(null)),
                ("/linux/sysctl", json!({"kernel.hostname": "by-sysctl", "kernel.domainname": "example.net"}))],
            vec![("/hostname", bytes("by-sysctl")), ("/process/domainname", bytes("example.net")), ("/process/sysctls", json!([]))]),
        ("IPC, UTS and cgroup namespaces by path", vec![
            ("/linux/namespaces/2", json!({"type": "ipc", "path": "/proc/1/ns/ipc"})),
            ("/linux/namespaces/3", json!({"type": "uts", "path": "/run/uts"})),
            ("/linux/namespaces/5", json!({"type": "cgroup", "path": "/proc/1/ns/cgroup"})),
            ("/hostname", json!(null))],
            vec![("/process/joins", json!([{"namespace": ["ipc"], "path": bytes("/proc/1/ns/ipc")},
                    {"namespace": ["uts"], "path": bytes("/run/uts")},
                    {"namespace": ["cgroup"], "path": bytes("/proc/1/ns/cgroup")}])),
                 ("/namespaces", json!(["mnt", "pid", "net"])), ("/hostname", json!(null))]),
        ("PID and time namespaces by path", vec![
            ("/linux/namespaces/0/path", json!("/proc/7/ns/pid")),
            ("/linux/namespaces/6", json!({"type": "time", "path": "/proc/7/ns/time"}))],
            vec![("/process/joins", json!([{"namespace": ["pid"], "path": bytes("/proc/7/ns/pid")},
                    {"namespace": ["time"], "path": bytes("/proc/7/ns/time")}])),
                 ("/namespaces", json!(["mnt", "uts", "ipc", "net", "cgroup"])), ("/process/time_offsets", json!(null))]),
        ("time offsets", vec![
            ("/linux/namespaces/6", json!({"type": "time"})),
            ("/linux/timeOffsets", json!({"monotonic": {"secs": -60}, "boottime": {"secs": 86400, "nanosecs": 5}}))],
            vec![("/process/time_offsets", json!({"monotonic": {"secs": -60, "nanos": 0}, "boottime": {"secs": 86400, "nanos": 5}})),
                 ("/namespaces", json!(["mnt", "uts", "ipc", "pid", "net", "cgroup", "time"]))]),
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
        ("user namespace by path: no maps of its own", vec![
            ("/linux/namespaces/6", json!({"type": "user", "path": "/proc/1/ns/user"}))],
            vec![("/process/joins", json!([{"namespace": ["user"], "path": bytes("/proc/1/ns/user")}])),
                 ("/namespaces", json!(["mnt", "uts", "ipc", "pid", "net", "cgroup"])),
                 ("/uid_map", json!(null)), ("/gid_map", json!(null))]),
        ("user namespace and id maps", vec![
            ("/linux/namespaces/6", json!({"type": "user"})),
            ("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}])),
            ("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}]))],
            vec![("/uid_map", json!([{"inside": 0, "outside": 100000, "count": 65536}])),
                 ("/gid_map", json!([{"inside": 0, "outside": 200000, "count": 65536}]))]),
        ("idmapped rbind, every mount (ridmap)", vec![("/mounts/6", json!({"destination": "/data", "type": "bind",
                "source": "/srv", "options": ["rbind", "ridmap", "ro"],
                "uidMappings": [{"containerID": 1000, "hostID": 100000, "size": 1}],
                "gidMappings": [{"containerID": 1000, "hostID": 200000, "size": 2}]}))],
            vec![("/mounts/1/idmap", json!({"uid": [{"inside": 1000, "outside": 100000, "count": 1}],
                    "gid": [{"inside": 1000, "outside": 200000, "count": 2}], "recursive": true})),
                 ("/mounts/1/read_only", json!(true)), ("/mounts/1/kind/bind/recursive", json!(true))]),
        ("idmapped rbind, top mount (idmap)", vec![("/mounts/6", json!({"destination": "/data", "type": "bind",
                "source": "/srv", "options": ["rbind", "idmap"],
                "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}))],
            vec![("/mounts/1/idmap/recursive", json!(false))]),
        ("idmap without mappings takes the user namespace's", vec![
            ("/linux/namespaces/6", json!({"type": "user"})),
            ("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}])),
            ("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 65536}])),
            ("/mounts/6", mount("bind", "/data", Some("/srv"), &["bind", "idmap"]))],
            vec![("/mounts/1/idmap", json!({"uid": [{"inside": 0, "outside": 100000, "count": 65536}],
                    "gid": [{"inside": 0, "outside": 200000, "count": 65536}], "recursive": false}))]),
        ("read-only rbind", vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "ro", "rprivate"]))],
            vec![("/mounts/1/kind/bind/recursive", json!(true)), ("/mounts/1/kind/bind/follow", json!(true)),
                 ("/mounts/1/kind/bind/source", bytes("/srv")), ("/mounts/1/target", bytes("/data")),
                 ("/mounts/1/read_only", json!(true))]),
        ("non-recursive bind of a bundle path", vec![("/mounts/6", mount("none", "/data", Some("rootfs"), &["bind", "rw"]))],
            vec![("/mounts/1/kind/bind/recursive", json!(false)), ("/mounts/1/read_only", json!(false))]),
        ("tmpfs", vec![("/mounts/6", mount("tmpfs", "/scratch", Some("tmpfs"), &["nosuid", "nodev", "size=1m", "mode=700"]))],
            vec![("/mounts/1/kind/tmpfs", json!({"size": 1 << 20, "mode": 0o700}))]),
        ("Docker's --tmpfs", vec![("/mounts/6", mount("tmpfs", "/tmp", Some("tmpfs"), &["noexec", "nosuid", "nodev", "rprivate"]))],
            vec![("/mounts/1/kind/tmpfs", json!({"size": null, "mode": 0o1777})), ("/mounts/1/flags/noexec", json!(true))]),
        ("proc elsewhere", vec![("/mounts/6", mount("proc", "/host-proc", Some("proc"), &["nosuid", "noexec", "nodev", "ro"]))],
            vec![("/mounts/1/kind", json!("proc")), ("/mounts/1/read_only", json!(true))]),
        ("/dev/shm without size", vec![("/mounts/3/options", json!(["nosuid", "noexec", "nodev", "mode=1777"]))],
            vec![("/mounts/0/kind/tmpfs", json!({"size": null, "mode": 0o1777}))]),
        ("Docker's /dev/shm bind", vec![("/mounts/3", mount("bind", "/dev/shm", Some("/var/lib/docker/containers/x/mounts/shm"),
                &["rbind", "rprivate", "nosuid", "noexec", "nodev"]))],
            vec![("/mounts/0/kind/bind/source", bytes("/var/lib/docker/containers/x/mounts/shm")),
                 ("/mounts/0/kind/bind/recursive", json!(true)), ("/mounts/0/target", bytes("/dev/shm")),
                 ("/mounts/0/flags/nosuid", json!(true)), ("/mounts/0/flags/noexec", json!(true)),
                 ("/mounts/0/flags/propagation", json!(["private", true]))]),
        ("shm type", vec![("/mounts/3/type", json!("shm"))], vec![("/mounts/0/kind/tmpfs/mode", json!(0o1777))]),
        ("bind flags", vec![("/mounts/6", mount("bind", "/data", Some("/srv"),
                &["rbind", "nosuid", "nodev", "noexec", "noatime", "nodiratime", "rshared"]))],
            vec![("/mounts/1/flags", json!({"nosuid": true, "nodev": true, "noexec": true, "allow_suid": false,
                 "allow_devices": false, "atime": "never", "no_diratime": true, "propagation": ["shared", true]}))]),
        ("bind unbindable", vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["bind", "unbindable", "relatime"]))],
            vec![("/mounts/1/flags/propagation", json!(["unbindable", false])), ("/mounts/1/flags/atime", json!("relative"))]),
        ("tmpfs exactly as given", vec![("/mounts/6", mount("tmpfs", "/t", Some("tmpfs"), &["noexec", "strictatime", "size=1m"]))],
            vec![("/mounts/1/flags", json!({"nosuid": false, "nodev": false, "noexec": true, "allow_suid": true,
                 "allow_devices": true, "atime": "strict", "no_diratime": false, "propagation": null}))]),
        ("cgroup filesystem", vec![("/mounts/6", mount("cgroup", "/sys/fs/cgroup", Some("cgroup"),
                &["nosuid", "noexec", "nodev", "relatime", "ro"]))],
            vec![("/mounts/1/kind", json!("cgroup")), ("/mounts/1/read_only", json!(true)),
                 ("/mounts/1/flags/noexec", json!(true)), ("/cgroup", json!(true))]),
        ("cgroup2 filesystem, writable", vec![("/mounts/6", mount("cgroup2", "/sys/fs/cgroup", Some("cgroup2"), &["nosuid", "nodev", "rw"]))],
            vec![("/mounts/1/kind", json!("cgroup")), ("/mounts/1/read_only", json!(false))]),
        ("runc's masked paths", vec![("/linux/maskedPaths", json!(["/proc/kcore", "/sys/firmware/"]))],
            vec![("/masked_paths", json!([bytes("/proc/kcore"), bytes("/sys/firmware")]))]),
        ("no masked or read-only paths", vec![("/linux/maskedPaths", json!(null)), ("/linux/readonlyPaths", json!([]))],
            vec![("/masked_paths", json!([])), ("/read_only_paths", json!([]))]),
        ("containerd's /run tmpfs, without nodev", vec![("/mounts/6", mount("tmpfs", "/run", Some("tmpfs"),
                &["nosuid", "strictatime", "mode=755", "size=65536k"]))],
            vec![("/mounts/1/flags/allow_devices", json!(true)), ("/mounts/1/flags/allow_suid", json!(false)),
                 ("/mounts/1/flags/atime", json!("strict")), ("/mounts/1/kind/tmpfs/mode", json!(0o755))]),
        ("Docker's /etc/hosts file bind", vec![("/mounts/6", mount("bind", "/etc/hosts", Some("/etc/hosts"), &["rbind", "rprivate"]))],
            vec![("/mounts/1/kind/bind/source", bytes("/etc/hosts")), ("/mounts/1/flags/propagation", json!(["private", true]))]),
        ("bind rslave", vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "rslave"]))],
            vec![("/mounts/1/flags/propagation", json!(["slave", true]))]),
        ("rootfsPropagation rslave", vec![("/linux/rootfsPropagation", json!("rslave"))], vec![("/receive_host_mounts", json!(true))]),
        ("rootfsPropagation rprivate", vec![("/linux/rootfsPropagation", json!("rprivate"))], vec![("/receive_host_mounts", json!(false))]),
        ("writable sysfs with a network namespace", vec![("/mounts/5/options", json!(["nosuid", "noexec", "nodev", "rw"]))],
            vec![("/writable_sys", json!(true))]),
        ("sysfs without ro is writable", vec![("/mounts/5/options", json!(["nosuid", "noexec", "nodev"]))],
            vec![("/writable_sys", json!(true))]),
        ("a bind at /dev/mqueue replaces nsbox's", vec![("/mounts/4", mount("bind", "/dev/mqueue", Some("/srv"), &["rbind"]))],
            vec![("/mounts/1/target", bytes("/dev/mqueue"))]),
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
        ("seccomp deny rules", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": [native_arch()],
                "syscalls": [{"names": ["ptrace", "keyctl"], "action": "SCMP_ACT_ERRNO"},
                             {"names": ["bpf"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}))],
            vec![("/seccomp/rules/default", json!("allow")), ("/seccomp/rules/architectures", json!([])),
                 ("/seccomp/rules/rules/0", json!({"names": ["ptrace", "keyctl"], "action": {"errno": 1}, "conditions": []})),
                 ("/seccomp/rules/rules/1/action", json!({"errno": 38}))]),
        ("seccomp allow rules", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
                "syscalls": [{"names": launcher, "action": "SCMP_ACT_ALLOW"},
                             {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"}]}))],
            vec![("/seccomp/rules/default", json!({"errno": 38})), ("/seccomp/rules/rules/1/names", json!(["getpid"]))]),
        ("seccomp every action", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_LOG",
                "syscalls": [{"names": ["a"], "action": "SCMP_ACT_KILL"}, {"names": ["b"], "action": "SCMP_ACT_KILL_THREAD"},
                             {"names": ["c"], "action": "SCMP_ACT_KILL_PROCESS"}, {"names": ["d"], "action": "SCMP_ACT_TRAP"},
                             {"names": ["e"], "action": "SCMP_ACT_TRACE"}, {"names": ["f"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                             {"names": ["g"], "action": "SCMP_ACT_ALLOW"}, {"names": ["h"], "action": "SCMP_ACT_ERRNO"}]}))],
            vec![("/seccomp/rules/default", json!("log")),
                 ("/seccomp/rules/rules/0/action", json!("kill_thread")), ("/seccomp/rules/rules/1/action", json!("kill_thread")),
                 ("/seccomp/rules/rules/2/action", json!("kill_process")), ("/seccomp/rules/rules/3/action", json!("trap")),
                 ("/seccomp/rules/rules/4/action", json!({"trace": 1})), ("/seccomp/rules/rules/5/action", json!({"trace": 7})),
                 ("/seccomp/rules/rules/6/action", json!("allow")), ("/seccomp/rules/rules/7/action", json!({"errno": 1}))]),
        ("seccomp rules like the default are skipped, as runc does", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW"},
                             {"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 2}]}))],
            vec![("/seccomp/rules/rules", json!([{"names": ["mount"], "action": {"errno": 2}, "conditions": []}]))]),
        ("seccomp argument conditions", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ERRNO", "args": [
                    {"index": 0, "value": 2114060288, "valueTwo": 65536, "op": "SCMP_CMP_MASKED_EQ"},
                    {"index": 1, "value": 5, "op": "SCMP_CMP_NE"}, {"index": 2, "value": 5, "op": "SCMP_CMP_LT"},
                    {"index": 3, "value": 5, "op": "SCMP_CMP_LE"}, {"index": 4, "value": 5, "op": "SCMP_CMP_GE"},
                    {"index": 5, "value": 18446744073709551615u64, "op": "SCMP_CMP_GT"}, {"index": 0, "value": 4294967296u64, "op": "SCMP_CMP_EQ"}]}]}))],
            vec![("/seccomp/rules/rules/0/conditions", json!([
                {"index": 0, "compare": {"masked_eq": 2114060288}, "value": 65536},
                {"index": 1, "compare": "ne", "value": 5}, {"index": 2, "compare": "lt", "value": 5},
                {"index": 3, "compare": "le", "value": 5}, {"index": 4, "compare": "ge", "value": 5},
                {"index": 5, "compare": "gt", "value": 18446744073709551615u64}, {"index": 0, "compare": "eq", "value": 4294967296u64}]))]),
        ("seccomp compat architectures and flags", vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]}))],
            vec![("/seccomp/rules/architectures", json!(["x86", "x32"])), ("/seccomp/rules/log", json!(true)),
                 ("/seccomp/rules/spec_allow", json!(true))]),
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
        ("memory reservation, swappiness, OOM killer; kernel memory ignored as by runc; always hierarchical",
            vec![("/linux/resources/memory", json!({"limit": 64 << 20, "reservation": 32 << 20, "swappiness": 10,
                "disableOOMKiller": true, "kernel": 1 << 20, "kernelTCP": 1 << 20, "checkBeforeUpdate": true,
                "useHierarchy": true}))],
            vec![("/resources/memory", json!(64 << 20)), ("/resources/memory_reservation", json!(32 << 20)),
                 ("/resources/memory_swappiness", json!(10)), ("/resources/oom_kill_disable", json!(true))]),
        ("swappiness -1 (as the unsigned field holds it) is not set",
            vec![("/linux/resources/memory", json!({"swappiness": u64::MAX}))],
            vec![("/resources/memory_swappiness", json!(null))]),
        ("cpu period, burst, idle and realtime bandwidth", vec![("/linux/resources/cpu", json!({"quota": 50000,
                "period": 200000, "burst": 10000, "idle": 1, "realtimeRuntime": 5000, "realtimePeriod": 100000}))],
            vec![("/resources/cpus", json!(0.25)), ("/resources/cpu_period", json!(200000)),
                 ("/resources/cpu_burst", json!(10000)), ("/resources/cpu_idle", json!(true)),
                 ("/resources/cpu_rt_runtime", json!(5000)), ("/resources/cpu_rt_period", json!(100000))]),
        ("a period alone", vec![("/linux/resources/cpu", json!({"period": 50000}))],
            vec![("/resources/cpus", json!(null)), ("/resources/cpu_period", json!(50000))]),
        ("blockIO leaf and per-device weights (runc's conversion)", vec![("/linux/resources/blockIO", json!({"leafWeight": 500,
                "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 10}, {"major": 8, "minor": 16}]}))],
            vec![("/resources/io_leaf_weight", json!(4950)),
                 ("/resources/io_device_weights", json!([{"major": 8, "minor": 0, "weight": 4950, "leaf_weight": 1}]))]),
        ("network class and priorities", vec![("/linux/resources/network", json!({"classID": 1048577,
                "priorities": [{"name": "eth0", "priority": 5}]}))],
            vec![("/resources/net_class_id", json!(1048577)), ("/resources/net_priorities", json!([["eth0", 5]]))]),
        ("rdma, by device name", vec![("/linux/resources/rdma", json!({"mlx5_1": {"hcaHandles": 2}, "mlx5_0": {"hcaObjects": 100}}))],
            vec![("/resources/rdma", json!([{"device": "mlx5_0", "hca_handles": null, "hca_objects": 100},
                {"device": "mlx5_1", "hca_handles": 2, "hca_objects": null}]))]),
        ("personality LINUX", vec![("/linux/personality", json!({"domain": "LINUX"}))],
            vec![("/process/personality", json!("Linux"))]),
        ("personality LINUX32", vec![("/linux/personality", json!({"domain": "LINUX32", "flags": []}))],
            vec![("/process/personality", json!("Linux32"))]),
        ("ioPriority", vec![("/process/ioPriority", json!({"class": "IOPRIO_CLASS_IDLE", "priority": 7}))],
            vec![("/process/io_priority", json!(["Idle", 7]))]),
        ("scheduler", vec![("/process/scheduler", json!({"policy": "SCHED_RR", "priority": 5, "flags": ["SCHED_RESET_ON_FORK"]}))],
            vec![("/process/scheduler", json!({"policy": "RoundRobin", "nice": 0, "priority": 5, "flags": 1,
                "runtime": 0, "deadline": 0, "period": 0}))]),
        ("deadline scheduler", vec![("/process/scheduler", json!({"policy": "SCHED_DEADLINE",
                "runtime": 10000, "deadline": 20000, "period": 30000, "flags": ["SCHED_FLAG_RECLAIM"]}))],
            vec![("/process/scheduler", json!({"policy": "Deadline", "nice": 0, "priority": 0, "flags": 2,
                "runtime": 10000, "deadline": 20000, "period": 30000}))]),
        ("annotations", vec![("/annotations", json!({"org.example": "x"}))], vec![("/init", json!(false))]),
        ("execCPUAffinity: not applicable to the init process", vec![("/process/execCPUAffinity", json!({"initial": "0", "final": "0"}))],
            vec![("/init", json!(false))]),
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
        (vec![("/linux/cgroupsPath", json!("system.slice:docker:abc"))], "linux.cgroupsPath"),
        (vec![("/linux/mountLabel", json!("system_u:object_r:container_file_t:s0"))], "linux.mountLabel"),
        (vec![("/linux/personality", json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}))], "linux.personality.flags"),
        (vec![("/linux/rootfsPropagation", json!("rshared"))], "linux.rootfsPropagation"),
        (vec![("/linux/rootfsPropagation", json!("runbindable"))], "linux.rootfsPropagation"),
        (vec![("/linux/devices", json!([{"path": "/dev/fifo", "type": "p"}]))], "linux.devices[0]"),
        (vec![("/process/capabilities", json!({"bounding": ["CAP_MKNOD"], "effective": ["CAP_MKNOD"], "permitted": ["CAP_MKNOD"]})),
              ("/linux/resources/devices", json!([]))],
            "linux.resources.devices"),
        (vec![("/linux/resources/hugepageLimits", json!([{"pageSize": "2MB", "limit": 0}, {"pageSize": "1GB", "limit": 0}]))],
            "linux.resources.hugepageLimits[1]"),
        (vec![("/linux/resources/memory", json!({"swap": 1048576}))], "linux.resources.memory.swap"),
        (vec![("/linux/resources/memory", json!({"useHierarchy": false}))], "linux.resources.memory.useHierarchy"),
        (vec![("/linux/namespaces/4/path", json!("/proc/1/ns/mnt"))], "linux.namespaces[4].path"),
        (vec![("/linux/namespaces", json!([{"type": "pid"}]))], "linux.namespaces"),
        (vec![("/process/apparmorProfile", json!("docker-default"))], "process.apparmorProfile"),
        (vec![("/process/selinuxLabel", json!("system_u:system_r:container_t:s0"))], "process.selinuxLabel"),
        (vec![("/process/user/username", json!("me"))], "process.user.username"),
        (vec![("/process/scheduler", json!({"policy": "SCHED_ISO"}))], "process.scheduler.policy"),
        (vec![("/process/scheduler", json!({"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_KEEP_POLICY"]}))],
            "process.scheduler.flags[0]"),
        (vec![("/process/commandLine", json!("cmd.exe"))], "process.commandLine"),
        (vec![("/process/capabilities/inheritable", json!(["CAP_KILL"]))], "process.capabilities.inheritable"),
        (vec![("/process/capabilities/permitted", json!(["CAP_KILL"]))], "process.capabilities.permitted"),
        (vec![("/process/capabilities/effective", json!(["CAP_KILL"]))], "process.capabilities.effective"),
        (vec![("/process/user", json!({"uid": 1000, "gid": 1000}))], "process.capabilities.permitted"),
        (vec![("/process/capabilities/ambient", json!(["CAP_KILL"]))], "process.capabilities.inheritable"),
        (vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "suid"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("cgroup", "/sys/fs/cgroup", Some("cgroup"), &["ro", "nsdelegate"]))], "mounts[6]"),
        (vec![("/mounts/6", mount("tmpfs", "/t", Some("tmpfs"), &["nr_inodes=10"]))], "mounts[6]"),
        (vec![("/mounts/3/type", json!("devpts"))], "mounts[3]"),
        (vec![("/mounts/6", mount("overlay", "/o", Some("overlay"), &["lowerdir=/a"]))], "mounts[6]"),
        (vec![("/mounts/6", json!({"destination": "/d", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                 "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                 "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}))], "mounts[6].uidMappings"),
        (vec![("/mounts/5/options", json!(["nosuid", "noexec", "nodev", "rw"])),
              ("/linux/namespaces", json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]))], "mounts[5]"),
        (vec![("/mounts/5/options", json!(["nosuid", "noexec", "nodev", "rw", "relatime"]))], "mounts[5]"),
        (vec![("/mounts/1/options", json!(["nosuid", "strictatime", "mode=755", "size=1m"]))], "mounts[1]"),
        (vec![("/mounts/2/options", json!(["nosuid", "noexec", "newinstance", "ptmxmode=0600"]))], "mounts[2]"),
        (vec![("/mounts/0/type", json!("tmpfs"))], "mounts[0]"),
        (vec![("/mounts/0", mount("tmpfs", "/elsewhere", Some("tmpfs"), &["nosuid", "nodev"]))], "mounts"),
        (vec![("/linux/seccomp", seccomp(json!({"names": ["ioctl"], "action": "SCMP_ACT_NOTIFY"})))],
            "linux.seccomp.syscalls[0].action"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_NOTIFY"}))], "linux.seccomp.defaultAction"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": [native_arch(), "SCMP_ARCH_S390X"]}))],
            "linux.seccomp.architectures[1]"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"]}))],
            "linux.seccomp.flags[1]"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}))],
            "linux.seccomp.flags[0]"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}))],
            "linux.seccomp.listenerPath"),
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

/// A joined user namespace with `linux.uidMappings` too, as containerd's CRI writes a pod
/// container's: accepted when they are the namespace's own (runc warns), refused otherwise.
#[test]
fn mappings_beside_a_joined_user_namespace_must_be_its_own() {
    let own = |name: &str| -> Value {
        let text = std::fs::read_to_string(format!("/proc/self/{name}")).unwrap();
        let maps: Vec<Value> = text
            .lines()
            .map(|line| {
                let n: Vec<u64> = line.split_whitespace().map(|n| n.parse().unwrap()).collect();
                json!({"containerID": n[0], "hostID": n[1], "size": n[2]})
            })
            .collect();
        json!(maps)
    };
    let joined = (
        "/linux/namespaces/6",
        json!({"type": "user", "path": "/proc/self/ns/user"}),
    );
    let config = config_of(&with(&[
        joined.clone(),
        ("/linux/uidMappings", own("uid_map")),
        ("/linux/gidMappings", own("gid_map")),
    ]));
    assert_eq!(config["process"]["joins"][0]["namespace"], json!(["user"]));
    assert_eq!(config["uid_map"], json!(null), "no maps are written");
    let err = error_of(&with(&[
        joined,
        (
            "/linux/uidMappings",
            json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
        ),
        ("/linux/gidMappings", own("gid_map")),
    ]));
    assert!(err.to_string().contains("linux.uidMappings"), "{err}");
}

#[test]
fn runc_spec_as_runc_writes_it_maps() {
    let config = config_of(&runc_spec());
    let masked = config["masked_paths"].to_string();
    assert!(
        !masked.contains(&bytes("/proc/interrupts").to_string()),
        "runc's list: {masked}"
    );
    assert_eq!(config.pointer("/mounts/1/kind"), Some(&json!("cgroup")), "{config:#}");
    assert_eq!(
        config.pointer("/read_only_paths/3"),
        Some(&bytes("/proc/sys")),
        "{config:#}"
    );
}

#[test]
fn missing_dev_shm_is_refused() {
    let mut spec = nsbox_spec();
    spec["mounts"].as_array_mut().unwrap().remove(3);
    let err = error_of(&spec);
    assert_eq!(err.field(), Some("mounts"), "{err}");
    let mut spec = nsbox_spec();
    spec["mounts"]
        .as_array_mut()
        .unwrap()
        .push(mount("tmpfs", "/dev/shm", None, &["nosuid"]));
    let err = error_of(&spec);
    assert_eq!(err.field(), Some("mounts[6]"), "{err}");
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
        (vec![("/process/ioPriority", json!({"class": "IOPRIO_CLASS_BE", "priority": 8}))], "process.ioPriority.priority"),
        (vec![("/process/scheduler", json!({"policy": "SCHED_FIFO", "priority": -1}))], "process.scheduler.priority"),
        (vec![("/linux/namespaces/6", json!({"type": "pid"}))], "linux.namespaces[6]"),
        (vec![("/mounts/6", json!({"destination": "/d", "type": "bind", "source": "/srv", "options": ["rbind"],
                 "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}))], "mounts[6].gidMappings"),
        (vec![("/mounts/6", mount("bind", "/data", Some("/srv"), &["rbind", "idmap"]))], "mounts[6]"),
        (vec![("/linux/timeOffsets", json!({"monotonic": {"secs": 1}}))], "linux.timeOffsets"),
        (vec![("/linux/namespaces", json!([{"type": "mount"}, {"type": "uts"}])), ("/linux/netDevices", json!({"eth0": {}}))],
            "linux.netDevices"),
        (vec![("/linux/namespaces", json!([{"type": "mount"}, {"type": "uts"}, {"type": "network", "path": "/proc/1/ns/net"}])),
            ("/linux/netDevices", json!({"eth0": {}}))], "linux.netDevices"),
        (vec![("/linux/namespaces/6", json!({"type": "time", "path": "/proc/1/ns/time"})),
            ("/linux/timeOffsets", json!({"monotonic": {"secs": 1}}))], "linux.timeOffsets"),
        (vec![("/linux/namespaces/6", json!({"type": "time"})), ("/linux/timeOffsets", json!({"realtime": {"secs": 1}}))],
            "linux.timeOffsets.realtime"),
        (vec![("/linux/namespaces/6", json!({"type": "user"}))], "linux.uidMappings"),
        (vec![("/linux/uidMappings", json!([{"containerID": 0, "hostID": 1, "size": 1}]))], "linux.uidMappings"),
        (vec![("/linux/namespaces", json!([{"type": "mount"}])), ("/hostname", json!("box"))], "hostname"),
        (vec![("/linux/namespaces/3/path", json!("/proc/1/ns/uts"))], "hostname"),
        (vec![("/linux/namespaces/3/path", json!("/proc/1/ns/uts")), ("/hostname", json!(null)),
            ("/domainname", json!("example.org"))], "domainname"),
        (vec![("/linux/namespaces/2", json!({"type": "ipc", "path": "/a"})), ("/linux/namespaces/6", json!({"type": "ipc"}))],
            "linux.namespaces[6]"),
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
        (vec![("/linux/resources/blockIO", json!({"leafWeight": 5}))], "linux.resources.blockIO.leafWeight"),
        (vec![("/linux/resources/blockIO", json!({"weightDevice": [{"major": 8, "minor": 0, "weight": 1001}]}))],
            "linux.resources.blockIO.weightDevice[0]"),
        (vec![("/linux/resources/memory", json!({"swappiness": 101}))], "linux.resources.memory.swappiness"),
        (vec![("/linux/resources/cpu", json!({"idle": 2}))], "linux.resources.cpu.idle"),
        (vec![("/linux/resources/cpu", json!({"realtimeRuntime": -1}))], "linux.resources.cpu.realtimeRuntime"),
        (vec![("/linux/resources/blockIO", json!({"throttleReadBpsDevice": [{"major": -1, "minor": 0, "rate": 1}]}))],
            "linux.resources.blockIO.throttleReadBpsDevice[0]"),
        (vec![("/linux/resources/devices/1", json!({"allow": true, "access": "rwx"}))], "linux.resources.devices[1]"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 70000}))],
            "linux.seccomp.defaultErrnoRet"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "errnoRet": 65536}]}))],
            "linux.seccomp.syscalls[0].errnoRet"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ERRNO",
                 "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]}))],
            "linux.seccomp.syscalls[0].errnoRet"),
        (vec![("/linux/seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]}))],
            "linux.seccomp.syscalls[0].args[0].index"),
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
        vec![("/process/oomScoreAdj", json!(1001))],
        vec![("/process/scheduler", json!({"policy": "SCHED_FIFO"}))],
        vec![("/process/scheduler", json!({"policy": "SCHED_OTHER", "nice": 40}))],
        vec![("/process/user/umask", json!(0o1777))],
        vec![("/linux/sysctl", json!({"vm.swappiness": "10"}))],
        vec![("/linux/sysctl", json!({"kernel.pid_max": "10"}))],
        // The bundle's hostname and a kernel.hostname sysctl.
        vec![("/linux/sysctl", json!({"kernel.hostname": "other"}))],
        // net.* with the host's network namespace, kernel.shm* without an IPC namespace.
        vec![
            ("/linux/sysctl", json!({"net.ipv4.ip_forward": "1"})),
            ("/linux/namespaces/1", json!({"type": "time"})),
        ],
        vec![
            ("/linux/sysctl", json!({"kernel.shmmax": "1"})),
            ("/linux/namespaces/2", json!({"type": "time"})),
        ],
        // A joined namespace with a new user namespace.
        vec![
            ("/linux/namespaces/2", json!({"type": "ipc", "path": "/proc/1/ns/ipc"})),
            ("/linux/namespaces/6", json!({"type": "user"})),
            (
                "/linux/uidMappings",
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
            ),
            (
                "/linux/gidMappings",
                json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
            ),
        ],
    ] {
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path(), &with(&patches));
        let builder = Bundle::open(dir.path()).unwrap().builder(&Options::fixed()).unwrap();
        let err = builder.build().unwrap_err();
        assert!(matches!(err, nsbox::Error::Config(_)), "{patches:?}: {err:?}");
    }
}

#[test]
fn seccomp_rules_that_would_stop_the_launcher_come_back_from_build() {
    let spec = with(&[(
        "/linux/seccomp",
        json!({"defaultAction": "SCMP_ACT_ERRNO",
               "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}),
    )]);
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), &spec);
    let builder = Bundle::open(dir.path()).unwrap().builder(&Options::fixed()).unwrap();
    match builder.build().unwrap_err() {
        nsbox::Error::Config(nsbox::ConfigError::SeccompDeniesLauncherSyscall { syscall }) => {
            assert_eq!(syscall, "execve")
        }
        other => panic!("{other:?}"),
    }
}

/// Docker 20.10's default profile as dockerd puts it in a container's config.json (see
/// tests/data/README.md).
pub fn docker_profile() -> Value {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/docker-20.10-default-seccomp.json"
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn docker_default_profile_maps_onto_rules() {
    let profile = docker_profile();
    let config = config_of(&with(&[("/linux/seccomp", profile.clone())]));
    let rules = &config["seccomp"]["rules"];
    assert_eq!(rules["default"], json!({"errno": 1}), "{rules:#}");
    assert_eq!(rules["architectures"], json!(["x86", "x32"]));
    let syscalls = profile["syscalls"].as_array().unwrap();
    assert_eq!(rules["rules"].as_array().unwrap().len(), syscalls.len());
    let names: usize = syscalls.iter().map(|s| s["names"].as_array().unwrap().len()).sum();
    assert!(names > 300, "{names} names");
    let personality = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["names"] == json!(["personality"]))
        .unwrap();
    assert_eq!(
        personality["conditions"],
        json!([{"index": 0, "compare": "eq", "value": 0}])
    );
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

/// The mounts, masked and read-only paths Docker 20.10 writes (`docker run` defaults, with its
/// own shm and the /etc files bound), and those of a containerd 1.6 CRI container.
#[test]
fn docker_20_10_and_containerd_1_6_mounts_map() {
    let bind = |destination: &str, source: &str, options: &[&str]| mount("bind", destination, Some(source), options);
    let docker = json!([
        mount("proc", "/proc", Some("proc"), &["nosuid", "noexec", "nodev"]),
        mount(
            "tmpfs",
            "/dev",
            Some("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"]
        ),
        mount(
            "devpts",
            "/dev/pts",
            Some("devpts"),
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
        ),
        mount("sysfs", "/sys", Some("sysfs"), &["nosuid", "noexec", "nodev", "ro"]),
        mount(
            "cgroup",
            "/sys/fs/cgroup",
            Some("cgroup"),
            &["ro", "nosuid", "noexec", "nodev"]
        ),
        mount("mqueue", "/dev/mqueue", Some("mqueue"), &["nosuid", "noexec", "nodev"]),
        bind(
            "/dev/shm",
            "/var/lib/docker/containers/c/mounts/shm",
            &["rbind", "rprivate", "nosuid", "noexec", "nodev"]
        ),
        bind(
            "/etc/resolv.conf",
            "/var/lib/docker/containers/c/resolv.conf",
            &["rbind", "rprivate"]
        ),
        bind(
            "/etc/hostname",
            "/var/lib/docker/containers/c/hostname",
            &["rbind", "rprivate"]
        ),
        bind(
            "/etc/hosts",
            "/var/lib/docker/containers/c/hosts",
            &["rbind", "rprivate"]
        ),
    ]);
    let docker_masked = json!([
        "/proc/asound",
        "/proc/acpi",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware"
    ]);
    let containerd = json!([
        mount("proc", "/proc", Some("proc"), &["nosuid", "noexec", "nodev"]),
        mount(
            "tmpfs",
            "/dev",
            Some("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"]
        ),
        mount(
            "devpts",
            "/dev/pts",
            Some("devpts"),
            &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
        ),
        mount("mqueue", "/dev/mqueue", Some("mqueue"), &["nosuid", "noexec", "nodev"]),
        mount("sysfs", "/sys", Some("sysfs"), &["nosuid", "noexec", "nodev", "ro"]),
        mount(
            "cgroup",
            "/sys/fs/cgroup",
            Some("cgroup"),
            &["nosuid", "noexec", "nodev", "relatime", "ro"]
        ),
        bind(
            "/etc/hosts",
            "/var/lib/kubelet/pods/p/etc-hosts",
            &["rbind", "rprivate", "rw"]
        ),
        bind(
            "/dev/termination-log",
            "/var/lib/kubelet/pods/p/containers/c/x",
            &["rbind", "rprivate", "rw"]
        ),
        bind(
            "/etc/hostname",
            "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/s/hostname",
            &["rbind", "rprivate", "rw"]
        ),
        bind(
            "/etc/resolv.conf",
            "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/s/resolv.conf",
            &["rbind", "rprivate", "rw"]
        ),
        bind(
            "/dev/shm",
            "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/s/shm",
            &["rbind", "rprivate", "rw"]
        ),
        bind(
            "/var/run/secrets/kubernetes.io/serviceaccount",
            "/var/lib/kubelet/pods/p/volumes/token",
            &["rbind", "rprivate", "ro"]
        ),
    ]);
    for (engine, mounts, masked) in [
        ("docker", docker, docker_masked.clone()),
        ("containerd", containerd, docker_masked),
    ] {
        let spec = with(&[
            ("/mounts", mounts.clone()),
            ("/linux/maskedPaths", masked),
            ("/linux/rootfsPropagation", json!(null)),
        ]);
        let config = config_of(&spec);
        let mapped = config["mounts"].as_array().unwrap();
        // Every mount but nsbox's own /proc, /dev, /dev/pts, /dev/mqueue and /sys.
        let own = ["/proc", "/dev", "/dev/pts", "/dev/mqueue", "/sys"];
        let expected: Vec<Value> = mounts
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| !own.contains(&m["destination"].as_str().unwrap()))
            .map(|m| bytes(m["destination"].as_str().unwrap()))
            .collect();
        let targets: Vec<Value> = mapped.iter().map(|m| m["target"].clone()).collect();
        assert_eq!(targets, expected, "{engine}: {config:#}");
        assert_eq!(config["receive_host_mounts"], json!(true), "{engine}: runc's rslave");
        assert_eq!(config["masked_paths"].as_array().unwrap().len(), 10, "{engine}");
        let cgroup = mapped.iter().find(|m| m["kind"] == json!("cgroup")).unwrap();
        assert_eq!(cgroup["read_only"], json!(true), "{engine}");
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
