//! Helpers of nsbox-image's tests: prerequisites (skips as in the root crate's tests/common) and
//! the test images, built offline here.
#![allow(dead_code)]

pub mod images;

use std::io::Write;
use std::path::Path;

/// A missing prerequisite: fails the test under `NSBOX_REQUIRE_ALL=1`, otherwise prints `SKIP:`
/// (and records it in `NSBOX_SKIP_LOG`) and returns false.
pub fn require(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    if let Some(log) = std::env::var_os("NSBOX_SKIP_LOG") {
        let exe = std::env::current_exe().unwrap_or_default();
        let stem = exe.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let binary = stem.rsplit_once('-').map_or(stem.as_str(), |(name, _)| name).to_owned();
        let line = format!("{binary}::{}: {what}\n", std::thread::current().name().unwrap_or("?"));
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
    if std::env::var_os("NSBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("missing prerequisite: {what}");
    }
    eprintln!("SKIP: {what}");
    false
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// Whether the layer unpacker is implemented (it lands in another branch of issue 14); the tests
/// that unpack skip until it is.
pub fn unpacker_ready() -> bool {
    use nsbox_image::unpack::{Mode, Options, apply_layer};
    let dir = tempfile::tempdir().unwrap();
    let empty = vec![0u8; 1024];
    let options = Options {
        mode: Mode::OverlayLayer,
        limits: nsbox_image::store::DEFAULT_LIMITS,
        privileged: false,
    };
    // Until then its body is `unimplemented!()`: a panic (printed once per test) means not ready.
    let ready = std::panic::catch_unwind(|| apply_layer(&empty[..], dir.path(), &options).is_ok()).unwrap_or(false);
    require(
        "the layer unpacker (src/unpack, merged separately) is implemented",
        ready,
    )
}

/// Every file under `dir` with its content hash, for before/after comparisons.
pub fn tree_listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.push(format!("{rel}/"));
            walk(root, &path, out);
        } else if meta.is_file() {
            let data = std::fs::read(&path).unwrap();
            out.push(format!("{rel} {}", nsbox_image::Digest::of(&data)));
        } else {
            out.push(rel);
        }
    }
}
