//! Extended attributes of an open file, read through its fd (never through a path that could
//! be swapped for a symlink).

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};

/// The kernel's bounds: a list of names and one value are at most 64 KiB (`XATTR_LIST_MAX`,
/// `XATTR_SIZE_MAX`).
const XATTR_MAX: usize = 64 * 1024;

/// Every `(name, value)` of the file `fd` (open for reading, not `O_PATH`).
pub(super) fn all(fd: BorrowedFd<'_>) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut names = vec![0u8; XATTR_MAX];
    // SAFETY: the buffer is valid for its length; the kernel writes at most that much.
    let n = unsafe { libc::flistxattr(fd.as_raw_fd(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        // A file system without xattrs has none.
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(Vec::new()),
            _ => Err(e),
        };
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Ok(text) = std::str::from_utf8(name) else { continue };
        let c_name = CString::new(name).expect("split at NUL");
        let mut value = vec![0u8; XATTR_MAX];
        // SAFETY: as above; `c_name` is NUL-terminated.
        let n = unsafe { libc::fgetxattr(fd.as_raw_fd(), c_name.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENODATA) {
                continue; // removed in between
            }
            return Err(e);
        }
        value.truncate(n as usize);
        out.push((text.to_owned(), value));
    }
    Ok(out)
}
