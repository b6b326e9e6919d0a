//! Fields that depend on what the host has (AppArmor, SELinux, Intel RDT's resctrl): refused
//! with the reason the host gives ("this host has no resctrl (Intel RDT)"), or as something
//! nsbox cannot apply where the host has it; and the NUMA memory policy (`linux.memoryPolicy`),
//! mapped onto `MemoryPolicy`. No root needed: nothing is spawned.

mod common;

use common::{nsbox_spec, set, write_bundle};
use nsbox_oci::{Bundle, BundleError, Options};
use serde_json::{Value, json};

/// `spec` mapped and built, the `Config` serialized.
fn config_of(spec: &Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), spec);
    let builder = Bundle::open(dir.path())
        .and_then(|b| b.builder(&Options::fixed()))
        .unwrap_or_else(|e| panic!("{e}"));
    serde_json::to_value(builder.build().unwrap_or_else(|e| panic!("build: {e}"))).unwrap()
}

/// The `build()` error of mapping `spec`.
fn build_error_of(spec: &Value) -> String {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), spec);
    let builder = Bundle::open(dir.path())
        .and_then(|b| b.builder(&Options::fixed()))
        .unwrap_or_else(|e| panic!("{e}"));
    builder.build().unwrap_err().to_string()
}

#[test]
fn memory_policy_maps_onto_nsbox_memory_policy() {
    for (policy, mode, nodes, flags) in [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "Bind", "0", 0),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0-1"}),
            "Interleave",
            "0-1",
            0,
        ),
        (json!({"mode": "MPOL_PREFERRED"}), "Preferred", "", 0),
        (json!({"mode": "MPOL_DEFAULT"}), "Default", "", 0),
        (json!({"mode": "MPOL_LOCAL"}), "Local", "", 0),
        (
            json!({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}),
            "PreferredMany",
            "0",
            0,
        ),
        (
            json!({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}),
            "WeightedInterleave",
            "0",
            0,
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "Bind",
            "0",
            1 << 15,
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]}),
            "Bind",
            "0",
            1 << 14,
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]}),
            "Bind",
            "0",
            1 << 13,
        ),
    ] {
        let config = config_of(&spec_with("/linux/memoryPolicy", policy.clone()));
        let want = json!({"mode": mode, "nodes": nodes, "flags": flags});
        assert_eq!(config["memory_policy"], want, "{policy}");
    }
    assert_eq!(config_of(&nsbox_spec())["memory_policy"], Value::Null);
    // What cannot hold is build()'s to refuse, naming the setting.
    for policy in [
        json!({"mode": "MPOL_BIND"}),
        json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
        json!({"mode": "MPOL_BIND", "nodes": "0-"}),
        json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]}),
    ] {
        let err = build_error_of(&spec_with("/linux/memoryPolicy", policy.clone()));
        assert!(err.contains("memory_policy"), "{policy}: {err}");
    }
}

/// The error of mapping `spec` with `options`.
fn error_with(spec: &Value, options: &Options) -> BundleError {
    let dir = tempfile::tempdir().unwrap();
    write_bundle(dir.path(), spec);
    match Bundle::open(dir.path()).and_then(|b| b.builder(options)) {
        Ok(b) => panic!("accepted: {b:?}"),
        Err(e) => e,
    }
}

fn spec_with(pointer: &str, value: Value) -> Value {
    let mut spec = nsbox_spec();
    set(&mut spec, pointer, value);
    spec
}

#[test]
fn intel_rdt_is_refused_for_the_hosts_reason() {
    let spec = spec_with(
        "/linux/intelRdt",
        json!({"closID": "guaranteed", "l3CacheSchema": "L3:0=ff"}),
    );
    let mut options = Options::fixed();
    let err = error_with(&spec, &options);
    assert_eq!(err.field(), Some("linux.intelRdt"));
    assert_eq!(
        err.to_string(),
        "linux.intelRdt is not supported: this host has no resctrl (Intel RDT)"
    );
    options.resctrl = true;
    let err = error_with(&spec, &options);
    assert!(err.to_string().contains("nsbox cannot apply Intel RDT"), "{err}");
}

#[test]
fn lsm_labels_are_refused_for_the_hosts_reason() {
    let mut options = Options::fixed();
    let apparmor = spec_with("/process/apparmorProfile", json!("docker-default"));
    let selinux = spec_with("/process/selinuxLabel", json!("system_u:system_r:container_t:s0"));
    assert_eq!(
        error_with(&apparmor, &options).to_string(),
        "process.apparmorProfile is not supported: this host has no AppArmor (profile \"docker-default\")"
    );
    assert!(
        error_with(&selinux, &options)
            .to_string()
            .contains("this host has no SELinux")
    );
    // The same words as nsbox-runtime exec's --apparmor and --process-label.
    assert_eq!(
        options.apparmor_refusal("docker-default"),
        "this host has no AppArmor (profile \"docker-default\")"
    );
    options.apparmor = true;
    options.selinux = true;
    assert!(
        error_with(&apparmor, &options)
            .to_string()
            .contains("nsbox cannot apply AppArmor profile")
    );
    assert!(
        error_with(&selinux, &options)
            .to_string()
            .contains("nsbox cannot apply SELinux label")
    );
}

#[test]
fn probe_finds_resctrl_where_the_kernel_mounted_it() {
    // What the runtime tests' expectations rest on, read from the host as `probe` reads it.
    let options = Options::probe();
    assert_eq!(options.resctrl, std::path::Path::new("/sys/fs/resctrl/info").exists());
}
