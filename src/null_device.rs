//! `/dev/null` for [`Stdio::null`](crate::Stdio::null): the host's node, opened through a
//! read-only detached copy of its mount where the caller may make one (root), so the file the
//! container holds as fd 0, 1 or 2 cannot be chmod'ed or chown'ed through `/proc/self/fd/N` by
//! a container root with power over host root's inodes (no user namespace, or one mapping root
//! to root). Reading and writing it do not need a writable mount. An unprivileged caller's
//! containers have no power over the root-owned node: it opens the plain path.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::OnceLock;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// A new fd of `/dev/null`, read-write and close-on-exec.
pub(crate) fn open() -> std::io::Result<OwnedFd> {
    static READ_ONLY: OnceLock<Option<OwnedFd>> = OnceLock::new();
    match READ_ONLY.get_or_init(read_only_copy) {
        Some(fd) => fd.try_clone(),
        None => Ok(nix::fcntl::open(
            "/dev/null",
            OFlag::O_RDWR | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?),
    }
}

/// `/dev/null` on a detached, read-only clone of its mount (`open_tree(OPEN_TREE_CLONE)` +
/// `mount_setattr(MOUNT_ATTR_RDONLY)`), reopened read-write through `/proc/self/fd`; `None`
/// where the caller may not clone mounts.
fn read_only_copy() -> Option<OwnedFd> {
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    let tree = crate::sys::open_tree(libc::AT_FDCWD, c"/dev/null", flags).ok()?;
    // SAFETY: open_tree returned a new fd nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree) };
    let tree_fd = std::os::fd::AsRawFd::as_raw_fd(&tree);
    crate::sys::mount_setattr(tree_fd, c"", libc::AT_EMPTY_PATH as u32, libc::MOUNT_ATTR_RDONLY, 0).ok()?;
    let path = format!("/proc/self/fd/{tree_fd}");
    let file = nix::fcntl::open(path.as_str(), OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
    // Still the null device, now on a read-only mount.
    let meta = nix::sys::stat::fstat(&file).ok()?;
    (meta.st_mode & libc::S_IFMT == libc::S_IFCHR && meta.st_rdev == libc::makedev(1, 3)).then_some(file)
}
