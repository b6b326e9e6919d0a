//! Reading a file of an image through its layer directories, as the merged root shows it:
//! the topmost layer that has the path wins; a whiteout (a 0:0 character device) or an opaque
//! directory (`user.overlay.opaque=y`) on the way hides what lies below. Nothing is followed
//! out of a layer: each component is opened `O_NOFOLLOW` below the previous one's fd, and a
//! symlink on the way is not resolved (an image config's files, `/etc/passwd` and
//! `/etc/group`, are plain files in every distribution).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

/// The layer directories of an unpacked image, top first (overlayfs' lowerdir order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStack {
    dirs: Vec<PathBuf>,
}

/// What one layer holds at a path.
enum Found {
    File(File),
    /// A whiteout, or a non-file where a directory or the file was expected: hides lower layers.
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

    /// The file at `path` (absolute in the image) as the merged root shows it, at most `limit`
    /// bytes (more is an error); `None` if it is not there or not a regular file.
    pub fn read(&self, path: &Path, limit: u64) -> io::Result<Option<Vec<u8>>> {
        for dir in &self.dirs {
            match find(dir, path)? {
                Found::File(file) => return read_bounded(file, limit, path).map(Some),
                Found::Hidden => return Ok(None),
                Found::Absent { opaque: true } => return Ok(None),
                Found::Absent { opaque: false } => {}
            }
        }
        Ok(None)
    }
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

/// The last component of a lookup: opened only if it is a regular file (never a device node
/// or a fifo of a hostile layer); what else is there hides the layers below.
fn open_file(dir: &OwnedFd, name: &std::ffi::OsStr) -> io::Result<Found> {
    match nix::sys::stat::fstatat(dir.as_fd(), name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(nix::errno::Errno::ENOENT) => Ok(Found::Absent { opaque: false }),
        Err(e) => Err(e.into()),
        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => match open_at(Some(dir), name, 0)? {
            Some(fd) => Ok(Found::File(File::from(fd))),
            None => Ok(Found::Absent { opaque: false }),
        },
        Ok(_) => Ok(Found::Hidden),
    }
}

fn find(layer: &Path, path: &Path) -> io::Result<Found> {
    let names: Vec<&std::ffi::OsStr> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect();
    let root = open_at(None, layer.as_os_str(), libc::O_DIRECTORY)?;
    let Some(mut current) = root else {
        return Ok(Found::Absent { opaque: false });
    };
    for (i, name) in names.iter().enumerate() {
        if i + 1 == names.len() {
            return match open_file(&current, name)? {
                Found::Absent { .. } if is_whiteout(&current, name) => Ok(Found::Hidden),
                other => Ok(other),
            };
        }
        match open_at(Some(&current), name, libc::O_DIRECTORY) {
            Ok(Some(fd)) if is_opaque(&fd) => {
                // Below an opaque directory: this layer decides alone.
                let rest: PathBuf = names[i + 1..].iter().collect();
                return Ok(match find_below(fd, &rest)? {
                    Found::Absent { .. } => Found::Absent { opaque: true },
                    other => other,
                });
            }
            Ok(Some(fd)) => current = fd,
            Ok(None) => {
                // A whiteout here (a 0:0 character device) hides the name in lower layers.
                return Ok(if is_whiteout(&current, name) {
                    Found::Hidden
                } else {
                    Found::Absent { opaque: false }
                });
            }
            // A symlink or a non-directory on the way: this layer has something else there.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => {
                return Ok(Found::Hidden);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(Found::Hidden)
}

/// The rest of the lookup inside an opaque directory (no lower layer consulted).
fn find_below(dir: OwnedFd, rest: &Path) -> io::Result<Found> {
    let mut current = dir;
    let names: Vec<_> = rest.components().collect();
    for (i, c) in names.iter().enumerate() {
        if i + 1 == names.len() {
            return Ok(match open_file(&current, c.as_os_str())? {
                Found::Absent { .. } => Found::Absent { opaque: true },
                other => other,
            });
        }
        match open_at(Some(&current), c.as_os_str(), libc::O_DIRECTORY) {
            Ok(Some(fd)) => current = fd,
            Ok(None) => return Ok(Found::Absent { opaque: true }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::ENOTDIR)) => return Ok(Found::Hidden),
            Err(e) => return Err(e),
        }
    }
    Ok(Found::Hidden)
}

/// `openat(dir, name, O_RDONLY | O_NOFOLLOW | flags)`; `None` if it does not exist.
fn open_at(dir: Option<&OwnedFd>, name: &std::ffi::OsStr, flags: libc::c_int) -> io::Result<Option<OwnedFd>> {
    use std::os::unix::ffi::OsStrExt;
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

fn is_whiteout(dir: &OwnedFd, name: &std::ffi::OsStr) -> bool {
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
    fn symlinks_devices_and_fifos_are_never_followed_or_opened() {
        let (top, low) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("passwd"), "outside");
        write(&low.path().join("etc/passwd"), "low");
        std::fs::create_dir_all(top.path().join("etc")).unwrap();
        symlink(outside.path().join("passwd"), top.path().join("etc/passwd")).unwrap();
        symlink(outside.path(), top.path().join("srv")).unwrap();
        let fifo = CString::new(top.path().join("etc/group").as_os_str().as_bytes()).unwrap();
        // SAFETY: fifo is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let stack = LayerStack::new(vec![top.path().into(), low.path().into()]);
        assert_eq!(
            stack.read(Path::new("/etc/passwd"), 100).unwrap(),
            None,
            "a symlink hides, never followed"
        );
        assert_eq!(stack.read(Path::new("/srv/passwd"), 100).unwrap(), None);
        assert_eq!(
            stack.read(Path::new("/etc/group"), 100).unwrap(),
            None,
            "a fifo is not opened"
        );
    }
}
