//! Bundles for the tests: the spec `runc spec` writes, and the same adjusted to what nsbox
//! honours exactly.
#![allow(dead_code)]

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

/// `runc spec`'s config.json (runc 1.2), as it writes it.
pub fn runc_spec() -> Value {
    json!({
        "ociVersion": "1.2.0",
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// `runc spec` as the mapping tests build on it: no terminal (tests have none), no cgroup
/// mount (so that a test's own mount is `mounts[6]`), and nsbox's default masked paths
/// (Docker's list: runc's plus `/proc/interrupts` and `/sys/devices/virtual/powercap`).
pub fn nsbox_spec() -> Value {
    let mut spec = runc_spec();
    spec["process"]["terminal"] = json!(false);
    spec["mounts"].as_array_mut().unwrap().pop();
    spec["linux"]["maskedPaths"] = json!(nsbox_oci::NSBOX_MASKED_PATHS);
    spec
}

/// Sets `pointer` in `value`, making the objects on the way.
pub fn set(value: &mut Value, pointer: &str, new: Value) {
    let mut at = value;
    for key in pointer.split('/').skip(1) {
        at = match at {
            Value::Array(list) => {
                let i = key.parse::<usize>().unwrap();
                if i == list.len() {
                    list.push(Value::Null);
                }
                &mut list[i]
            }
            other => {
                if !other.is_object() {
                    *other = json!({});
                }
                other.as_object_mut().unwrap().entry(key).or_insert(Value::Null)
            }
        };
    }
    *at = new;
}

/// Writes `spec` as `dir/config.json`, with an empty `dir/rootfs`.
pub fn write_bundle(dir: &Path, spec: &Value) {
    fs::create_dir_all(dir.join("rootfs")).unwrap();
    fs::write(dir.join("config.json"), serde_json::to_vec_pretty(spec).unwrap()).unwrap();
}
