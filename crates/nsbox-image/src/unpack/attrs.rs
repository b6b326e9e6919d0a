//! Owners, modes, xattrs and mtimes of what an entry created, in that order: `chown` clears the
//! setuid bits and `security.capability`, so the mode and the xattrs come after it; the mtime
//! comes last, once nothing else changes the node. Symlinks never get a mode (Linux has none).

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::{FchmodatFlags, Mode, UtimensatFlags, fchmod, fchmodat, futimens, utimensat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, fchown, fchownat};

use super::entry::{Header, Mtime};
use super::name::EntryPath;
use super::sys::{fchmodat_nofollow, fsetxattr, io_error, lsetxattr};
use super::{Options, Report, Skip, Skipped, UnpackError};

/// What the attributes are set on.
#[derive(Clone, Copy)]
pub(super) enum Node<'a> {
    /// An open regular file or directory.
    Open(BorrowedFd<'a>),
    /// A symlink, device or fifo: a name in a directory, never opened (opening a fifo blocks,
    /// a device may act), never followed.
    At { dir: BorrowedFd<'a>, name: &'a CStr },
}

/// Changes the owner (privileged only).
pub(super) fn owner(node: Node<'_>, header: &Header, options: &Options) -> Result<(), UnpackError> {
    if !options.privileged {
        return Ok(());
    }
    let (uid, gid) = (Some(Uid::from_raw(header.uid)), Some(Gid::from_raw(header.gid)));
    match node {
        Node::Open(fd) => fchown(fd, uid, gid),
        Node::At { dir, name } => fchownat(dir, name, uid, gid, AtFlags::AT_SYMLINK_NOFOLLOW),
    }
    .map_err(|e| io_error(format!("chown {:?}", header.path.to_path_buf()), e))
}

/// The mode to set: setuid/setgid only when privileged (the rest always).
pub(super) fn effective_mode(header: &Header, options: &Options, report: &mut Report) -> u32 {
    if !options.privileged && header.mode & 0o6000 != 0 {
        skip(report, &header.path, Skipped::SetIdBits);
        return header.mode & !0o6000;
    }
    header.mode
}

/// Sets the mode (not on symlinks).
pub(super) fn mode(node: Node<'_>, header: &Header, options: &Options, report: &mut Report) -> Result<(), UnpackError> {
    let bits = effective_mode(header, options, report);
    let mode = Mode::from_bits_truncate(bits);
    match node {
        Node::Open(fd) => fchmod(fd, mode),
        Node::At { dir, name } => match fchmodat_nofollow(dir, name, bits) {
            // Before Linux 6.6: the node was just made by mknodat in a directory only this
            // unpacker writes, so nothing can have turned it into a symlink since.
            Err(Errno::ENOSYS) => fchmodat(dir, name, mode, FchmodatFlags::FollowSymlink),
            other => other,
        },
    }
    .map_err(|e| io_error(format!("chmod {:?}", header.path.to_path_buf()), e))
}

/// Sets the entry's xattrs that the options allow; records the others as skipped.
pub(super) fn xattrs(
    node: Node<'_>,
    header: &Header,
    options: &Options,
    report: &mut Report,
) -> Result<(), UnpackError> {
    for (name, value) in &header.xattrs {
        if let Err(skipped) = allowed(name, options.privileged) {
            skip(report, &header.path, skipped);
            continue;
        }
        set_xattr(node, name, value)
            .map_err(|e| io_error(format!("set xattr {name:?} on {:?}", header.path.to_path_buf()), e))?;
    }
    Ok(())
}

pub(super) fn set_xattr(node: Node<'_>, name: &CStr, value: &[u8]) -> Result<(), Errno> {
    match node {
        Node::Open(fd) => fsetxattr(fd, name, value),
        Node::At { dir, name: file } => {
            // The directory fd pins the parent; the last name is not followed (lsetxattr).
            let mut path = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
            path.extend_from_slice(file.to_bytes());
            let path = CString::new(path).map_err(|_| Errno::EINVAL)?;
            lsetxattr(&path, name, value)
        }
    }
}

/// Whether an xattr may be set: `user.*` always, `security.*` (`security.capability` among
/// them), `trusted.*` and `system.*` (ACLs) when privileged, and never overlayfs's own
/// (`user.overlay.*`, `trusted.overlay.*`): a layer setting `overlay.redirect` or
/// `overlay.opaque` itself would steer the overlay mount; only whiteouts set them.
fn allowed(name: &CStr, privileged: bool) -> Result<(), Skipped> {
    let bytes = name.to_bytes();
    let skipped = || Skipped::Xattr(String::from_utf8_lossy(bytes).into_owned());
    if bytes.starts_with(b"user.overlay.") || bytes.starts_with(b"trusted.overlay.") {
        return Err(skipped());
    }
    let privileged_namespace = [&b"security."[..], b"trusted.", b"system."]
        .iter()
        .any(|ns| bytes.starts_with(ns));
    match () {
        _ if bytes.starts_with(b"user.") => Ok(()),
        _ if privileged_namespace && privileged => Ok(()),
        _ => Err(skipped()),
    }
}

/// Sets the mtime (and the atime to the same).
pub(super) fn mtime(node: Node<'_>, path: &EntryPath, mtime: Mtime) -> Result<(), UnpackError> {
    let time = TimeSpec::new(mtime.seconds, mtime.nanoseconds);
    match node {
        Node::Open(fd) => futimens(fd, &time, &time),
        Node::At { dir, name } => utimensat(dir, name, &time, &time, UtimensatFlags::NoFollowSymlink),
    }
    .map_err(|e| io_error(format!("set the mtime of {:?}", path.to_path_buf()), e))
}

/// Records one thing not applied on `path`.
pub(super) fn skip(report: &mut Report, path: &EntryPath, what: Skipped) {
    let path = path.to_path_buf();
    if report.skipped.last() != Some(&path) {
        report.skipped.push(path.clone());
    }
    report.skips.push(Skip { path, what });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_namespaces() {
        let ok = |name: &CStr, privileged| allowed(name, privileged).is_ok();
        assert!(ok(c"user.foo", false));
        assert!(!ok(c"security.capability", false));
        assert!(ok(c"security.capability", true));
        assert!(ok(c"trusted.foo", true));
        assert!(!ok(c"trusted.foo", false));
        assert!(!ok(c"user.overlay.opaque", true));
        assert!(!ok(c"trusted.overlay.redirect", true));
        assert!(!ok(c"weird.name", true));
    }
}
