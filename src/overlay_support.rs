//! Whether overlayfs serves [`Rootfs::overlay`](crate::Rootfs::overlay) here, for
//! [`preflight`](crate::preflight): probed once per process, in a short-lived child.

use std::ffi::CString;
use std::sync::OnceLock;

use nix::errno::Errno;

use crate::sys;

/// What overlayfs can do on this host, for [`Rootfs::overlay`](crate::Rootfs::overlay).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OverlaySupport {
    /// `overlay` is listed in `/proc/filesystems` (it may also be a module the first mount
    /// loads: `usable` tells).
    pub listed: bool,
    /// An overlay of the kind nsbox mounts (`userxattr`, layers by `/proc/self/fd/N`) mounts in
    /// a user namespace this process creates (tried once, cached for the process's life):
    /// what a rootless or [`Profile::Sandbox`](crate::Profile) container needs. Root without a
    /// user namespace needs only `listed`.
    pub usable: bool,
    /// The kernel takes layers one at a time (`lowerdir+`, Linux 6.8); else they go in one
    /// `lowerdir=` list of one page.
    pub lowerdir_append: bool,
    /// A tmpfs takes `user.*` xattrs (Linux 6.6), so an [`Upper::Tmpfs`](crate::Upper) can hold
    /// the `user.overlay.*` markers a `userxattr` overlay writes. Without them, writes work but
    /// removing or replacing a directory the layers also have fails with `EIO` (overlayfs must
    /// mark the new one opaque): use an [`Upper::Dir`](crate::Upper) on a disk file system.
    pub tmpfs_upper_xattrs: bool,
    /// Why not, when it is not usable: the errno of the probe, or what stopped it.
    pub reason: Option<String>,
}

impl OverlaySupport {
    /// This host's support, as [`preflight`](crate::preflight) reports it, without the rest
    /// of the report (probed once per process, then cached).
    pub fn detect() -> Self {
        support()
    }
}

/// The cached probe.
pub(crate) fn support() -> OverlaySupport {
    static SUPPORT: OnceLock<OverlaySupport> = OnceLock::new();
    SUPPORT.get_or_init(probe).clone()
}

fn listed() -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|text| text.lines().any(|l| l.split_whitespace().last() == Some("overlay")))
}

fn probe() -> OverlaySupport {
    let listed = listed();
    let (usable, lowerdir_append, tmpfs_upper_xattrs, reason) = match try_mount() {
        Ok((append, xattrs)) => (true, append, xattrs, None),
        Err(reason) => (false, false, false, Some(reason)),
    };
    OverlaySupport {
        listed,
        usable,
        lowerdir_append,
        tmpfs_upper_xattrs,
        reason,
    }
}

/// Exit codes of the probe's child: mounted by fsconfig or by mount(2), plus
/// `NO_TMPFS_XATTRS` when its tmpfs refused a `user.*` xattr; or `FAILED_AT` + errno.
const BY_FSCONFIG: i32 = 0;
const BY_MOUNT: i32 = 1;
const NO_TMPFS_XATTRS: i32 = 2;
const FAILED_AT: i32 = 4;

/// Forks a child born in a user namespace that maps this process's ids to root, which makes
/// its own mount namespace, a tmpfs and an overlay in it (see `child::overlay::probe`).
/// `Ok((lowerdir+ taken, a tmpfs takes user xattrs))`.
fn try_mount() -> Result<(bool, bool), String> {
    let uid = nix::unistd::Uid::effective().as_raw();
    let gid = nix::unistd::Gid::effective().as_raw();
    // Everything the child writes is made before the fork: it runs raw syscalls only.
    let uid_map = format!("0 {uid} 1\n");
    let gid_map = format!("0 {gid} 1\n");
    let paths = [c"/proc/self/setgroups", c"/proc/self/uid_map", c"/proc/self/gid_map"];
    let contents: [&[u8]; 3] = [b"deny", uid_map.as_bytes(), gid_map.as_bytes()];
    let tmpfs_options = [(CString::from(c"mode"), CString::from(c"755"))];
    let pid = sys::fork_into_user_namespace().map_err(|e| format!("cannot create a user namespace: {e}"))?;
    if pid == 0 {
        let code = match child(&paths, &contents, &tmpfs_options) {
            Ok((by_fsconfig, xattrs)) => {
                let by = if by_fsconfig { BY_FSCONFIG } else { BY_MOUNT };
                by + if xattrs { 0 } else { NO_TMPFS_XATTRS }
            }
            Err(e) => FAILED_AT + e as i32,
        };
        sys::exit(code);
    }
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    match status {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) if code < FAILED_AT => {
            Ok((code & BY_MOUNT == 0, code & NO_TMPFS_XATTRS == 0))
        }
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Err(match Errno::from_raw(code - FAILED_AT) {
            Errno::ENODEV => "overlayfs is not in this kernel (ENODEV)".to_string(),
            e => format!("an overlay with userxattr does not mount in a user namespace: {e}"),
        }),
        other => Err(format!("the probe ended as {other:?}")),
    }
}

/// The probe's child: its id maps, a private mount namespace, a tmpfs on `/` of it, the
/// overlay in the tmpfs.
fn child(
    paths: &[&std::ffi::CStr; 3],
    contents: &[&[u8]; 3],
    tmpfs: &[(CString, CString)],
) -> sys::SysResult<(bool, bool)> {
    for (path, content) in paths.iter().zip(contents) {
        let fd = sys::openat(libc::AT_FDCWD, path, libc::O_WRONLY, 0)?;
        let written = sys::write_all(fd, content);
        sys::close(fd);
        written?;
    }
    sys::unshare(libc::CLONE_NEWNS)?;
    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?;
    let dir = sys::fresh_mount(c"tmpfs", tmpfs, 0)?;
    sys::move_mount(dir, c"", libc::AT_FDCWD, c"/", libc::MOVE_MOUNT_F_EMPTY_PATH)?;
    // On the tmpfs itself, through its mount fd: a path ("/") would resolve to the root this
    // process started with, the host's, under the tmpfs.
    let xattrs = sys::openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0).is_ok_and(|fd| {
        let set = sys::fsetxattr(fd, c"user.nsbox-probe", b"y").is_ok();
        sys::close(fd);
        set
    });
    crate::child::overlay::probe(dir).map(|by_fsconfig| (by_fsconfig, xattrs))
}
