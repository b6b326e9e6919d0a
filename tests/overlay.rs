//! `Rootfs::overlay`: a copy-on-write root over lower directories the test builds (files
//! shadowing each other, a whiteout, an opaque directory), against the real kernel.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{require, root_and_busybox, stdout_of};
use nsbox::{Container, ContainerBuilder, Mount, Rootfs, Upper};

/// Three layers, top first: `top` over `middle` over `bottom` (a busybox root).
///
/// - `/etc/shadowed` is in all three: the top one's shows;
/// - `/data/gone` is in `bottom`, whited out in `middle` (a 0:0 character device);
/// - `/opq` holds `old` in `bottom` and is opaque in `middle` (`user.overlay.opaque=y`) with
///   `new`: only `new` shows.
struct Layers {
    _dirs: Vec<tempfile::TempDir>,
    paths: Vec<PathBuf>,
}

fn layers() -> Layers {
    let bottom = common::busybox_rootfs();
    let middle = common::public_dir("nsbox-layer-middle-");
    let top = common::public_dir("nsbox-layer-top-");
    let write = |dir: &Path, path: &str, text: &str| {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(bottom.path(), "etc/shadowed", "bottom\n");
    write(bottom.path(), "etc/base", "base\n");
    write(bottom.path(), "data/gone", "gone\n");
    write(bottom.path(), "data/kept", "kept\n");
    write(bottom.path(), "opq/old", "old\n");
    write(middle.path(), "etc/shadowed", "middle\n");
    write(middle.path(), "opq/new", "new\n");
    fs::create_dir_all(middle.path().join("data")).unwrap();
    nix::sys::stat::mknod(
        &middle.path().join("data/gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        0,
    )
    .expect("mknod the whiteout");
    set_xattr(&middle.path().join("opq"), "user.overlay.opaque", b"y");
    write(top.path(), "etc/shadowed", "top\n");
    write(top.path(), "etc/top", "top\n");
    let paths = vec![top.path().to_owned(), middle.path().to_owned(), bottom.path().to_owned()];
    Layers {
        _dirs: vec![top, middle, bottom],
        paths,
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a live buffer of the given length.
    let ret = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    assert_eq!(ret, 0, "setxattr {name:?}: {}", std::io::Error::last_os_error());
}

fn get_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 4096];
    // SAFETY: a live buffer of the given length.
    let len = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if len <= 0 {
        return Vec::new();
    }
    names.truncate(len as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 4096];
        // SAFETY: as above.
        let n = unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        value.truncate(n.max(0) as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    out.sort();
    out
}

/// Everything about a tree that a write could change: per entry its path, type, mode, owner,
/// device, size, mtime, ctime, content or link text, and xattrs.
fn tree_state(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let m = fs::symlink_metadata(&path).unwrap();
        let content = if m.file_type().is_symlink() {
            fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()
        } else if m.is_file() {
            fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        out.push(format!(
            "{:?} mode {:o} {}:{} rdev {} size {} mtime {}.{} ctime {}.{} content {:x?} xattrs {:?}",
            path.strip_prefix(root).unwrap(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.rdev(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            std::collections::hash_map::DefaultHasher::default().hash_of(&content),
            get_xattrs(&path)
        ));
        if m.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    out.sort();
    out
}

trait HashOf {
    fn hash_of(self, bytes: &[u8]) -> u64;
}

impl HashOf for std::collections::hash_map::DefaultHasher {
    fn hash_of(mut self, bytes: &[u8]) -> u64 {
        use std::hash::Hasher;
        self.write(bytes);
        self.finish()
    }
}

fn overlay_sh(layers: &Layers, upper: Upper, script: &str) -> ContainerBuilder {
    let mut b = Container::builder();
    b.rootfs(Rootfs::overlay(layers.paths.clone(), upper))
        .command("/bin/sh")
        .args(["-c", script]);
    b
}

#[test]
fn overlay_root_shows_the_merged_layers() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let script = "cat /etc/shadowed /etc/base /etc/top /data/kept /opq/new; \
                  ls /data; ls /opq; test -e /data/gone || echo no-gone; test -e /opq/old || echo no-old";
    let out = overlay_sh(&layers, Upper::default(), script).output().unwrap();
    assert_eq!(
        stdout_of(&out),
        "top\nbase\ntop\nkept\nnew\nkept\nnew\nno-gone\nno-old\n"
    );
}
