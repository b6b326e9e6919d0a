//! Compiles the container init (src/pid1/nsbox_init.rs) into a tiny static binary the crate
//! embeds. Uses the same rustc and no libc, so it needs nothing a Rust build lacks. Where it
//! cannot be built (an architecture it does not support), the crate falls back to an init that
//! runs in a fork of the host process (`nsbox_no_init_binary`).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/pid1/nsbox_init.rs");
    println!("cargo:rerun-if-changed=src/pid1/confinement.rs");
    println!("cargo:rustc-check-cfg=cfg(nsbox_no_init_binary)");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("nsbox-init");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        println!("cargo:rustc-cfg=nsbox_no_init_binary");
        return;
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let target = env::var("TARGET").expect("TARGET");
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition",
        "2024",
        "--crate-type",
        "bin",
        "--crate-name",
        "nsbox_init",
        "--target",
        &target,
    ])
    .args([
        "-C",
        "opt-level=s",
        "-C",
        "panic=abort",
        "-C",
        "relocation-model=static",
        "-C",
        "strip=symbols",
    ])
    .args([
        "-C",
        "link-arg=-nostartfiles",
        "-C",
        "link-arg=-nostdlib",
        "-C",
        "link-arg=-static",
    ])
    .arg("-o")
    .arg(&out)
    .arg("src/pid1/nsbox_init.rs");
    let linker_var = format!("CARGO_TARGET_{}_LINKER", target.to_uppercase().replace('-', "_"));
    if let Ok(linker) = env::var(&linker_var) {
        cmd.arg("-C").arg(format!("linker={linker}"));
    }
    match cmd.status() {
        Ok(status) if status.success() => {}
        other => {
            println!("cargo:warning=nsbox-init not built ({other:?}); containers use a forked init");
            println!("cargo:rustc-cfg=nsbox_no_init_binary");
        }
    }
}
