//! Helpers of nsbox-image's tests: prerequisites and the run as `nobody` (copied from the
//! core's tests/common, trimmed to what these tests use), [`layer`] to build archives and
//! [`images`] to build test images offline.
#![allow(dead_code)]

pub mod debian;
pub mod images;
pub mod layer;
pub mod oracle;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Checks a prerequisite: with `NSBOX_REQUIRE_ALL=1` a missing one fails the test, otherwise
/// the test is skipped (prints `SKIP:`, appends to `NSBOX_SKIP_LOG`, returns false).
pub fn require(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    if let Some(log) = std::env::var_os("NSBOX_SKIP_LOG") {
        // `nsbox-image <test binary>::<test>`, the binary's name without cargo's hash.
        let exe = std::env::current_exe().unwrap_or_default();
        let stem = exe.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let binary = stem.rsplit_once('-').map_or(stem.as_str(), |(name, _)| name).to_owned();
        let thread = std::thread::current();
        let line = format!("nsbox-image {binary}::{}: {what}\n", thread.name().unwrap_or("?"));
        let _ = fs::OpenOptions::new()
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

/// Whether the tests run as root (the effective uid).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub fn root() -> bool {
    require("running as root", is_root())
}

/// A fresh 0755 directory under the temp dir, so that any user can read and run what is in it.
pub fn public_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .expect("create dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    dir
}

/// Copies the running test binary into `dir` as `name`, mode 0755 (by `install`, in another
/// process: a write fd held here could leak into children and make the copy ETXTBSY).
pub fn copy_of_this_test_binary(dir: &Path, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let copy = dir.join(name);
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(&exe)
        .arg(&copy)
        .status()
        .expect("run install");
    assert!(status.success(), "install {}: {status}", exe.display());
    copy
}

/// Runs `binary` with `args` as `nobody` (uid and gid 65534, no groups) through `setpriv`,
/// with `inner_env=1`; returns whether it passed and its output.
pub fn run_as_nobody(binary: &Path, args: &[&str], inner_env: &str) -> (bool, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary)
        .args(args)
        .env(inner_env, "1")
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .output()
        .expect("run setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The outer half of a run as nobody: copies this test binary into a public directory and
/// runs its tests named `inner_…` as `nobody`; checks that all of them (at least one) passed.
pub fn inner_tests_pass_as_nobody(inner_env: &str) -> bool {
    if !root() || !require("setpriv (util-linux)", Path::new("/usr/bin/setpriv").exists()) {
        return false;
    }
    let dir = public_dir("nsbox-inner-");
    let binary = copy_of_this_test_binary(dir.path(), "inner");
    let (listed_ok, listed) = run_as_nobody(&binary, &["inner_", "--list"], inner_env);
    let count = listed.lines().filter(|l| l.ends_with(": test")).count();
    assert!(listed_ok && count > 0, "no inner tests listed:\n{listed}");
    let (ok, text) = run_as_nobody(&binary, &["inner_", "--nocapture", "--test-threads=1"], inner_env);
    let summary = format!("test result: ok. {count} passed; 0 failed");
    assert!(
        ok && text.contains(&summary),
        "the run as nobody failed (want {summary:?}):\n{text}"
    );
    true
}

/// Whether this is the inner run (as nobody); the inner tests do nothing otherwise.
pub fn is_inner_run(inner_env: &str) -> bool {
    let on = std::env::var_os(inner_env).is_some_and(|v| v == "1");
    if on {
        assert!(!is_root(), "the inner run must not be root");
    }
    on
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
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
