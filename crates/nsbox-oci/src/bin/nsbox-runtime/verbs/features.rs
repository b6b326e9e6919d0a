//! `features`: the runtime spec's features document (features.md, features-linux.md), as
//! `runc features` prints it, saying what nsbox-runtime maps without refusal (docs/oci.md).

use serde_json::json;

use crate::error::Result;

pub fn features() -> Result<()> {
    let caps: Vec<String> = nsbox::Capabilities::all().iter().map(|c| c.to_string()).collect();
    let arch = match std::env::consts::ARCH {
        "x86_64" => "SCMP_ARCH_X86_64",
        "aarch64" => "SCMP_ARCH_AARCH64",
        "x86" => "SCMP_ARCH_X86",
        "arm" => "SCMP_ARCH_ARM",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "s390x" => "SCMP_ARCH_S390X",
        "powerpc64" => "SCMP_ARCH_PPC64LE",
        other => other,
    };
    let doc = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "poststart", "poststop"],
        "mountOptions": [
            "bind", "rbind", "ro", "rro", "rw", "private", "rprivate", "nosuid", "nodev", "noexec",
            "strictatime", "newinstance", "mode", "size", "ptmxmode", "gid"
        ],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"],
                "operators": [],
                "archs": [arch],
                "knownFlags": [],
                "supportedFlags": []
            },
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {
            "org.opencontainers.runc.checkpoint.enabled": "false",
            "io.github.nsbox.runtime.version": env!("CARGO_PKG_VERSION")
        }
    });
    crate::verbs::query::print_json(&doc)
}
