//! Reading a file of an image through its layer directories, as the merged root shows it:
//! the topmost layer that has the path wins; a whiteout (a 0:0 character device) or an opaque
//! directory (`user.overlay.opaque=y`) on the way hides what lies below.
//!
//! Symlinks are resolved the way a container sees them, inside the image's root (as
//! `openat2(RESOLVE_IN_ROOT)` would): a relative target from the link's directory, an absolute
//! one from the image's root, `..` never above the root; each link is itself looked up through
//! the layers (a link in an upper layer, its target in a lower one). Nothing is followed on the
//! host: every component is opened `O_NOFOLLOW` below the previous one's fd within one layer
//! directory, and a link's target is read with `readlinkat`, never opened. At most
//! [`MAX_SYMLINKS`] links and [`MAX_STEPS`] components per lookup; past either the file reads as
//! absent, as a loop (`ELOOP`) makes runc's user lookup read it (runc ignores any error opening
//! `/etc/passwd`).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The most symlinks one lookup follows (the kernel's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// The most components one lookup resolves (each looked up through every layer), links'
/// targets included: a real path takes a handful; the bound keeps a hostile image's chains of
/// long targets cheap.
pub const MAX_STEPS: usize = 256;

/// The layer directories of an unpacked image, top first (overlayfs' lowerdir order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStack {
    dirs: Vec<PathBuf>,
}

/// What one layer (or the merged stack) holds at a path.
enum Found {
    File(File),
    Directory,
    Symlink(OsString),
    /// A whiteout, another kind of node, or a non-directory on the way: hides lower layers.
    Hidden,
    /// Not in this layer; an opaque directory on the way also hides the layers below.
    Absent {
        opaque: bool,
    },
}

impl LayerStack {
    /// The stack of `dirs`, top first.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        LayerStack { dirs }
    }

    /// The layer directories, top first.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// The file at `path` (absolute in the image) as the merged root shows it, symlinks
    /// resolved inside the image's root, at most `limit` bytes (more is an error); `None` if it
    /// is not there, not a regular file, or its links loop.
    ///
    /// ```no_run
    /// use std::path::Path;
    /// use nsbox_image::run::LayerStack;
    /// let stack = LayerStack::new(vec!["/layers/top".into(), "/layers/base".into()]);
    /// let passwd = stack.read(Path::new("/etc/passwd"), 1 << 20)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn read(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        let mut pending: VecDeque<OsString> = parts(path.as_os_str()).collect();
        // The path resolved so far: no symlink in it, so `..` just drops its last component.
        let mut resolved: Vec<OsString> = Vec::new();
        let (mut links, mut steps) = (0, 0);
        while let Some(name) = pending.pop_front() {
            if name == ".." {
                resolved.pop();
                continue;
            }
            steps += 1;
            if steps > MAX_STEPS {
                return Ok(None);
            }
            resolved.push(name);
            match self.lookup(&resolved)? {
                Found::Directory => {}
                Found::File(file) if pending.is_empty() => return read_bounded(file, limit, path).map(Some),
                Found::Symlink(target) => {
                    links += 1;
                    // A loop, or an empty target (the kernel's ENOENT).
                    if links > MAX_SYMLINKS || target.is_empty() {
                        return Ok(None);
                    }
                    resolved.pop();
                    if target.as_bytes().starts_with(b"/") {
                        resolved.clear();
                    }
                    for part in parts(&target).collect::<Vec<_>>().into_iter().rev() {
                        pending.push_front(part);
                    }
                }
                // A file with components after it (ENOTDIR), a whiteout, a device, nothing.
                _ => return Ok(None),
            }
        }
        // The path names a directory (or the root).
        Ok(None)
    }

    /// What the merged root holds at `names` (a path without symlinks before its last
    /// component): the topmost layer that has it, unless a whiteout or an opaque directory
    /// hides the lower ones first.
    fn lookup(&self, names: &[OsString]) -> io::Result<Found> {
        for dir in &self.dirs {
            match find(dir, names)? {
                Found::Absent { opaque: false } => {}
                other => return Ok(other),
            }
        }
        Ok(Found::Absent { opaque: false })
    }
}

/// The components of a path or link target, `.` and empty ones dropped, `..` kept.
fn parts(path: &OsStr) -> impl Iterator<Item = OsString> + '_ {
    path.as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsString::from_vec(c.to_vec()))
}

fn read_bounded(file: File, limit: u64, path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::other(format!(
            "{} in the image is larger than {limit} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The last component of a lookup in one layer. Only a regular file is opened (never a device
/// node or a fifo of a hostile layer); a symlink's target is read, not followed.
fn probe(dir: &OwnedFd, name: &OsStr, opaque: bool) -> io::Result<Found> {
    let st = match nix::sys::stat::fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(nix::errno::Errno::ENOENT) => return Ok(Found::Absent { opaque }),
        Err(e) => return Err(e.into()),
        Ok(st) => st,
    };
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => match open_at(Some(dir), name, 0)? {
            Some(fd) => Found::File(File::from(fd)),
            None => Found::Absent { opaque },
        },
        libc::S_IFDIR => Found::Directory,
        libc::S_IFLNK => match nix::fcntl::readlinkat(dir.as_fd(), name) {
            Ok(target) => Found::Symlink(target),
            Err(nix::errno::Errno::ENOENT) => Found::Absent { opaque },
            Err(e) => return Err(e.into()),
        },
        // A whiteout (0:0 character device) or another node: hides the name below.
        _ => Found::Hidden,
    })
}

/// What `layer` holds at `names`.
fn find(layer: &Path, names: &[OsString]) -> io::Result<Found> {
    let Some((last, parents)) = names.split_last() else {
        return Ok(Found::Directory);
    };
    let Some(mut current) = open_at(None, layer.as_os_str(), libc::O_DIRECTORY)? else {
        return Ok(Found::Absent { opaque: false });
    };
    // Below an opaque directory this layer decides alone.
    let mut opaque = false;
    for name in parents {
        match open_at(Some(&current), name, libc::O_DIRECTORY) {
            Ok(Some(fd)) => {
                opaque |= is_opaque(&fd);
                current = fd;
            }
            // A whiteout here (a 0:0 character device) hides the name in lower layers.
            Ok(None) if is_whiteout(&current, name) => return Ok(Found::Hidden),
            Ok(None) => return Ok(Found::Absent { opaque }),
            // A symlink or a non-directory where the merged root has a directory: this layer
            // has something else there, hidden by an upper one, and hiding the lower ones.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                return Ok(Found::Hidden);
            }
            Err(e) => return Err(e),
        }
    }
    probe(&current, last, opaque)
}

/// `openat(dir, name, O_RDONLY | O_NOFOLLOW | flags)`; `None` if it does not exist.
fn open_at(dir: Option<&OwnedFd>, name: &OsStr, flags: libc::c_int) -> io::Result<Option<OwnedFd>> {
    let name = std::ffi::CString::new(name.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK | flags;
    // SAFETY: name is NUL-terminated; the returned fd is owned here.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags) };
    if fd < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOENT) => Ok(None),
            _ => Err(e),
        };
    }
    // SAFETY: fd was just opened and is owned by nothing else.
    Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn is_whiteout(dir: &OwnedFd, name: &OsStr) -> bool {
    nix::sys::stat::fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == 0)
}

fn is_opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 2];
    // SAFETY: the name is NUL-terminated and value is writable for its length.
    let n = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            c"user.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::symlink;

    fn whiteout(path: &Path) {
        let c = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: c is NUL-terminated.
        assert_eq!(
            unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) },
            0,
            "mknod {}",
            path.display()
        );
    }

    fn opaque(dir: &Path) {
        let c = CString::new(dir.as_os_str().as_bytes()).unwrap();
        // SAFETY: both strings are NUL-terminated and the value is one byte.
        let r = unsafe { libc::setxattr(c.as_ptr(), c"user.overlay.opaque".as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(r, 0, "setxattr {}", dir.display());
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_topmost_layer_wins_and_whiteouts_and_opaque_dirs_hide_lower_ones() {
        let (top, mid, low) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        write(&low.path().join("etc/passwd"), "low");
        write(&low.path().join("etc/group"), "low");
        write(&low.path().join("etc/hosts"), "low");
        write(&low.path().join("opt/app/conf"), "low");
        write(&mid.path().join("etc/passwd"), "mid");
        whiteout(&mid.path().join("etc/group"));
        std::fs::create_dir_all(top.path().join("opt/app")).unwrap();
        opaque(&top.path().join("opt/app"));
        write(&top.path().join("etc/motd"), "top");
        let stack = LayerStack::new(vec![top.path().into(), mid.path().into(), low.path().into()]);
        let read = |p: &str| {
            stack
                .read(Path::new(p), 100)
                .unwrap()
                .map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(read("/etc/passwd").as_deref(), Some("mid"));
        assert_eq!(read("/etc/group"), None, "whited out");
        assert_eq!(read("/etc/hosts").as_deref(), Some("low"));
        assert_eq!(read("/etc/motd").as_deref(), Some("top"));
        assert_eq!(read("/opt/app/conf"), None, "below an opaque directory");
        assert_eq!(read("/nothing/here"), None);
        assert!(stack.read(Path::new("/etc/hosts"), 2).is_err(), "larger than the limit");
    }

    #[test]
    fn symlinks_to_the_host_resolve_inside_the_image_and_devices_and_fifos_are_never_opened() {
        let (top, low) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("passwd"), "outside");
        write(&low.path().join("etc/passwd"), "low");
        std::fs::create_dir_all(top.path().join("etc")).unwrap();
        // Absolute host paths: inside the image they name nothing.
        symlink(outside.path().join("passwd"), top.path().join("etc/passwd")).unwrap();
        symlink(outside.path(), top.path().join("srv")).unwrap();
        // Out through `..`: stops at the image's root, as RESOLVE_IN_ROOT does.
        let dots = "../".repeat(20) + &outside.path().join("passwd").display().to_string()[1..];
        symlink(&dots, top.path().join("etc/shadow")).unwrap();
        let fifo = CString::new(top.path().join("etc/group").as_os_str().as_bytes()).unwrap();
        // SAFETY: fifo is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let stack = LayerStack::new(vec![top.path().into(), low.path().into()]);
        let read = |p: &str| stack.read(Path::new(p), 100).unwrap();
        assert_eq!(
            read("/etc/passwd"),
            None,
            "the link hides low's file; its target is not in the image"
        );
        assert_eq!(read("/srv/passwd"), None);
        assert_eq!(read("/etc/shadow"), None);
        assert_eq!(read("/etc/group"), None, "a fifo is not opened");
        // The same target made part of the image: found there, never on the host.
        write(
            &low.path()
                .join(outside.path().join("passwd").strip_prefix("/").unwrap()),
            "in the image",
        );
        assert_eq!(read("/etc/passwd").as_deref(), Some(&b"in the image"[..]));
        assert_eq!(read("/etc/shadow").as_deref(), Some(&b"in the image"[..]));
        assert_eq!(read("/srv/passwd").as_deref(), Some(&b"in the image"[..]));
    }

    #[test]
    fn symlinks_resolve_across_layers_relative_absolute_and_through_directories() {
        let (top, mid, low) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        write(&low.path().join("usr/lib/passwd"), "usr-lib");
        write(&low.path().join("usr/share/group"), "usr-share");
        write(&low.path().join("opt/hidden/passwd"), "hidden");
        std::fs::create_dir_all(mid.path().join("etc")).unwrap();
        // Relative, from the link's directory; the target lies in a lower layer.
        symlink("../usr/lib/passwd", mid.path().join("etc/passwd")).unwrap();
        // Absolute, from the image's root.
        symlink("/usr/share/group", mid.path().join("etc/group")).unwrap();
        // A link to a link, and a directory link on the way.
        symlink("passwd", mid.path().join("etc/passwd2")).unwrap();
        symlink("usr/lib", mid.path().join("lib")).unwrap();
        // A link whose target an upper layer whites out.
        symlink("/opt/hidden/passwd", mid.path().join("etc/gone")).unwrap();
        std::fs::create_dir_all(top.path().join("opt")).unwrap();
        whiteout(&top.path().join("opt/hidden"));
        // A link an upper layer replaces with a file.
        symlink("/usr/lib/passwd", mid.path().join("etc/hosts")).unwrap();
        write(&top.path().join("etc/hosts"), "top-hosts");
        let stack = LayerStack::new(vec![top.path().into(), mid.path().into(), low.path().into()]);
        let read = |p: &str| {
            stack
                .read(Path::new(p), 100)
                .unwrap()
                .map(|b| String::from_utf8(b).unwrap())
        };
        assert_eq!(read("/etc/passwd").as_deref(), Some("usr-lib"));
        assert_eq!(read("/etc/group").as_deref(), Some("usr-share"));
        assert_eq!(read("/etc/passwd2").as_deref(), Some("usr-lib"));
        assert_eq!(read("/lib/passwd").as_deref(), Some("usr-lib"));
        assert_eq!(
            read("/lib/../share/group").as_deref(),
            Some("usr-share"),
            "`..` after a link"
        );
        assert_eq!(read("/etc/gone"), None, "the target is whited out");
        assert_eq!(read("/etc/hosts").as_deref(), Some("top-hosts"));
        assert_eq!(read("/etc/passwd/x"), None, "a file is not a directory");
        assert_eq!(read("/usr/lib"), None, "a directory is not a file");
    }

    #[test]
    fn symlink_loops_and_long_chains_read_as_absent() {
        let top = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(top.path().join("etc")).unwrap();
        symlink("group", top.path().join("etc/passwd")).unwrap();
        symlink("/etc/passwd", top.path().join("etc/group")).unwrap();
        symlink("passwd", top.path().join("etc/self")).unwrap();
        symlink("self2", top.path().join("etc/self2")).unwrap();
        // A chain longer than the kernel follows: l0 -> l1 -> ... -> l41 -> file.
        write(&top.path().join("etc/end"), "end");
        for i in 0..=MAX_SYMLINKS {
            let next = if i == MAX_SYMLINKS {
                "end".to_owned()
            } else {
                format!("l{}", i + 1)
            };
            symlink(next, top.path().join(format!("etc/l{i}"))).unwrap();
        }
        // A chain the kernel does follow.
        write(&top.path().join("etc/short-end"), "short");
        for i in 0..10 {
            let next = if i == 9 {
                "short-end".to_owned()
            } else {
                format!("s{}", i + 1)
            };
            symlink(next, top.path().join(format!("etc/s{i}"))).unwrap();
        }
        let stack = LayerStack::new(vec![top.path().into()]);
        let read = |p: &str| stack.read(Path::new(p), 100).unwrap();
        for loop_ in ["/etc/passwd", "/etc/group", "/etc/self2", "/etc/l0"] {
            assert_eq!(read(loop_), None, "{loop_}");
        }
        assert_eq!(read("/etc/l1").as_deref(), Some(&b"end"[..]), "40 links are followed");
        assert_eq!(read("/etc/s0").as_deref(), Some(&b"short"[..]));
    }
}
