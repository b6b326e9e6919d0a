//! Fields that depend on what the host has (AppArmor, SELinux, Intel RDT's resctrl): refused
//! with the reason the host gives ("this host has no resctrl (Intel RDT)"), or as something
//! nsbox cannot apply where the host has it. No root needed: nothing is spawned.

mod common;

use common::{nsbox_spec, set, write_bundle};
use nsbox_oci::{Bundle, BundleError, Options};
use serde_json::{Value, json};

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
