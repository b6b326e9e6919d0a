//! The few syscalls nix does not wrap (xattrs, fchmodat2), and errno -> [`UnpackError`].

use std::ffi::CStr;
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

use super::UnpackError;

/// An I/O error with its context (lowercase, names the path).
pub(super) fn io_error(context: impl Into<String>, errno: Errno) -> UnpackError {
    UnpackError::Io {
        context: context.into(),
        source: std::io::Error::from_raw_os_error(errno as i32),
    }
}

/// `fsetxattr(2)` on an open file or directory.
pub(super) fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: name is NUL-terminated, value points to value.len() readable bytes.
    let rc = unsafe { libc::fsetxattr(fd.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    Errno::result(rc).map(drop)
}

/// `lsetxattr(2)`: sets an xattr on `path` itself, never on what a symlink there points to.
pub(super) fn lsetxattr(path: &CStr, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated, value points to value.len() readable bytes.
    let rc = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    Errno::result(rc).map(drop)
}

/// `fchmodat2(2)` with `AT_SYMLINK_NOFOLLOW` (Linux 6.6): a mode for a node we cannot open
/// (a device, a fifo) without following a symlink that might stand there.
pub(super) fn fchmodat_nofollow(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> Result<(), Errno> {
    const SYS_FCHMODAT2: libc::c_long = 452;
    // SAFETY: name is NUL-terminated; the other arguments are plain integers.
    let rc = unsafe {
        libc::syscall(
            SYS_FCHMODAT2,
            dir.as_raw_fd(),
            name.as_ptr(),
            mode,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    Errno::result(rc).map(drop)
}
