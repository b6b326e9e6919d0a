//! Compiles the container init (src/pid1/nsbox_init.rs) into a tiny static binary the crate
//! embeds. Uses the same rustc and no libc, so it needs nothing a Rust build lacks. Where it
//! cannot be built (an architecture it does not support), the crate falls back to an init that
//! runs in a fork of the host process (`nsbox_no_init_binary`).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/pid1/nsbox_init.rs");
    println!("cargo:rerun-if-changed=src/pid1/confinement.rs");
    println!("cargo:rerun-if-changed=src/pid1/pool_launcher.rs");
    println!("cargo:rerun-if-changed=src/pid1/syscall_numbers.rs");
    println!("cargo:rustc-check-cfg=cfg(nsbox_no_init_binary)");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("nsbox-init");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os != "linux" || !matches!(arch.as_str(), "x86_64" | "aarch64") {
        println!("cargo:rustc-cfg=nsbox_no_init_binary");
        return;
    }
    // Position-independent first, so the kernel loads it at a random address (there is no
    // dynamic loader to relocate it: only a binary without relocations may be one); else at
    // fixed addresses, as before.
    let target = env::var("TARGET").expect("TARGET");
    let built = build(&target, &out, true) && !has_relocations(&out) || build(&target, &out, false);
    if !built {
        println!("cargo:warning=nsbox-init not built; containers use a forked init");
        println!("cargo:rustc-cfg=nsbox_no_init_binary");
    } else {
        drop_section_headers(&out);
    }
}

/// Cuts what only tools read off the end of the 64-bit little-endian ELF at `path`: the
/// section headers and the sections no segment loads (`.comment`), as `sstrip` does. The
/// kernel loads only the program headers' segments; the binary then fits one page of its
/// memfd per container. Left as it is if the layout is not the expected one.
fn drop_section_headers(path: &Path) {
    let Ok(mut elf) = std::fs::read(path) else { return };
    let u16_at = |elf: &[u8], at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u64_at = |elf: &[u8], at: usize| {
        elf.get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()) as usize)
    };
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(&elf, 0x20), u16_at(&elf, 0x36), u16_at(&elf, 0x38))
    else {
        return;
    };
    let mut end = phoff + phentsize * phnum;
    for i in 0..phnum {
        let header = phoff + i * phentsize;
        let (Some(offset), Some(size)) = (u64_at(&elf, header + 8), u64_at(&elf, header + 32)) else {
            return;
        };
        end = end.max(offset + size);
    }
    if elf.get(..4) != Some(b"\x7fELF".as_slice()) || end > elf.len() {
        return;
    }
    elf.truncate(end);
    // e_shoff, e_shnum, e_shstrndx: no section headers.
    elf[0x28..0x30].fill(0);
    elf[0x3c..0x40].fill(0);
    let _ = std::fs::write(path, elf);
}

/// Compiles src/pid1/nsbox_init.rs into `out`: a static-pie, or a static binary at fixed
/// addresses. Whether it worked.
fn build(target: &str, out: &Path, pie: bool) -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let (model, link) = if pie {
        ("relocation-model=pie", "link-arg=-static-pie")
    } else {
        ("relocation-model=static", "link-arg=-static")
    };
    let mut cmd = Command::new(rustc);
    cmd.args([
        "--edition",
        "2024",
        "--crate-type",
        "bin",
        "--crate-name",
        "nsbox_init",
        "--target",
        target,
    ])
    .args([
        "-C",
        "opt-level=s",
        "-C",
        "panic=abort",
        "-C",
        model,
        "-C",
        "strip=symbols",
    ])
    // Nothing unwinds (panic=abort, no_std) and nothing applies RELRO (no dynamic loader):
    // without unwind tables, a build id and RELRO padding the init stays under 4 KB.
    .args(["-C", "force-unwind-tables=no"])
    .args(["-C", "link-arg=-nostartfiles", "-C", "link-arg=-nostdlib", "-C", link])
    .args(["-C", "link-arg=-Wl,--build-id=none", "-C", "link-arg=-Wl,-z,norelro"])
    .args(["-C", "link-arg=-Wl,--no-eh-frame-hdr"])
    .arg("-o")
    .arg(out)
    .arg("src/pid1/nsbox_init.rs");
    let linker_var = format!("CARGO_TARGET_{}_LINKER", target.to_uppercase().replace('-', "_"));
    if let Ok(linker) = env::var(&linker_var) {
        cmd.arg("-C").arg(format!("linker={linker}"));
    }
    match cmd.status() {
        Ok(status) if status.success() => true,
        other => {
            println!("cargo:warning=nsbox-init (pie: {pie}) not built: {other:?}");
            false
        }
    }
}

/// Whether the 64-bit little-endian ELF at `path` has a dynamic section with relocations
/// (DT_RELA, DT_REL, DT_RELR, DT_JMPREL), which nothing would apply to a static-pie without a
/// libc. Unreadable counts as having some.
fn has_relocations(path: &Path) -> bool {
    const PT_DYNAMIC: u32 = 2;
    const RELOCATION_TAGS: [u64; 4] = [7, 17, 36, 23];
    let Ok(elf) = std::fs::read(path) else { return true };
    let u16_at = |at: usize| elf.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |at: usize| elf.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    let u64_at = |at: usize| elf.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    let (Some(phoff), Some(phentsize), Some(phnum)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38)) else {
        return true;
    };
    for i in 0..phnum {
        let header = phoff as usize + i * phentsize;
        if u32_at(header) != Some(PT_DYNAMIC) {
            continue;
        }
        let (Some(offset), Some(size)) = (u64_at(header + 8), u64_at(header + 32)) else {
            return true;
        };
        for entry in (offset..offset + size).step_by(16) {
            match u64_at(entry as usize) {
                None => return true,
                Some(0) => break,
                Some(tag) if RELOCATION_TAGS.contains(&tag) => return true,
                Some(_) => {}
            }
        }
    }
    false
}
