//! The overlay root (`Step::StageOverlay`): the layers the parent's plan opened into slots,
//! under an upper that takes the container's writes, mounted at the stage.
//!
//! Every layer reaches the kernel as `/proc/self/fd/N` of an fd opened before the setup
//! process took the container's credentials, never as the caller's path: nothing needs
//! escaping (overlayfs splits `lowerdir=` on `:` and `,`), and a root-only store the
//! container's root cannot search is reached anyway (its lookup is done). Child side: raw
//! syscalls on stack buffers.

use std::ffi::CStr;
use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::sys::{self, SysResult};

/// `mount(2)`'s data is one page.
const DATA_MAX: usize = 4096;

/// Mounts the overlay at `stage` and returns an `O_PATH` fd of its root. A tmpfs (`tmpfs`, its
/// options) is mounted at `stage` first: it holds `upper/` and `work/` without `upper` (upper
/// and work directories), so the container's changes live as long as its mount namespace, and,
/// with `attach`, the layers (detached mounts the parent made) attached under `layers/`.
pub(super) fn stage(
    stage: &CStr,
    lower: &[RawFd],
    upper: Option<(RawFd, RawFd)>,
    attach: bool,
    tmpfs: &CStr,
) -> SysResult<RawFd> {
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    sys::mount(Some(c"tmpfs"), stage, Some(c"tmpfs"), flags, Some(tmpfs))?;
    let dir = open_dir(libc::AT_FDCWD, stage)?;
    let attached = match attach {
        true => attach_layers(dir, lower),
        false => Ok(()),
    };
    let halves = attached.and_then(|()| match upper {
        Some((upper, work)) => Ok((upper, work, false)),
        None => make_dir(dir, c"upper").and_then(|upper| match make_dir(dir, c"work") {
            Ok(work) => Ok((upper, work, true)),
            Err(e) => {
                sys::close(upper);
                Err(e)
            }
        }),
    });
    sys::close(dir);
    let (upper, work, own) = halves?;
    let mounted = mount_overlay(stage, lower, upper, work);
    if own {
        sys::close(upper);
        sys::close(work);
    }
    mounted?;
    open_dir(libc::AT_FDCWD, stage)
}

/// Attaches each detached layer mount onto `layers/<index>` in the tmpfs `dir`: overlayfs
/// takes a private clone of each layer, which only a mount of the mounter's own namespace
/// allows (`clone_private_mount`: EINVAL before Linux 6.15; a detached one after, but only
/// for a mounter privileged over the namespace that made it, which the child is not: EPERM).
fn attach_layers(dir: RawFd, lower: &[RawFd]) -> SysResult<()> {
    let layers = make_dir(dir, c"layers")?;
    let result = lower.iter().enumerate().try_for_each(|(index, &tree)| {
        let mut digits = [0u8; 16];
        let name = sys::decimal(index as u64, &mut digits);
        sys::mkdirat(layers, name, 0o755)?;
        sys::move_mount(tree, c"", layers, name, libc::MOVE_MOUNT_F_EMPTY_PATH)
    });
    sys::close(layers);
    result
}

fn open_dir(dir: RawFd, name: &CStr) -> SysResult<RawFd> {
    sys::openat(dir, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
}

/// `name` made in `dir` (a fresh tmpfs) and opened. Its mode is the overlay root's.
fn make_dir(dir: RawFd, name: &CStr) -> SysResult<RawFd> {
    sys::mkdirat(dir, name, 0o755)?;
    open_dir(dir, name)
}

fn mount_overlay(stage: &CStr, lower: &[RawFd], upper: RawFd, work: RawFd) -> SysResult<()> {
    match by_fsconfig(lower, upper, work) {
        Ok(tree) => {
            let moved = sys::move_mount(tree, c"", libc::AT_FDCWD, stage, libc::MOVE_MOUNT_F_EMPTY_PATH);
            sys::close(tree);
            moved
        }
        // No `lowerdir+` before Linux 6.8: an unknown key (6.5 to 6.7), or refused when the
        // legacy option string is parsed at create (before 6.5).
        Err(Errno::EINVAL) => by_mount(stage, lower, upper, work),
        Err(e) => Err(e),
    }
}

/// The new mount API, one `lowerdir+` per layer (each `fsconfig` string is at most 256 bytes,
/// so a `lowerdir=` list would hold a dozen layers).
fn by_fsconfig(lower: &[RawFd], upper: RawFd, work: RawFd) -> SysResult<RawFd> {
    let fs = sys::fsopen(c"overlay")?;
    let configure = || {
        let mut path = [0u8; 32];
        for &layer in lower {
            sys::fsconfig_string(fs, c"lowerdir+", sys::proc_fd_path(layer, &mut path))?;
        }
        sys::fsconfig_string(fs, c"upperdir", sys::proc_fd_path(upper, &mut path))?;
        sys::fsconfig_string(fs, c"workdir", sys::proc_fd_path(work, &mut path))?;
        sys::fsconfig_flag(fs, c"userxattr")?;
        // nodev: the layers' device nodes (a root store keeps them) never open in the
        // container (its /dev is a fresh tmpfs); without a user namespace nothing else stops it.
        sys::fsconfig_mount(fs, libc::MOUNT_ATTR_NODEV)
    };
    let result = configure();
    sys::close(fs);
    result
}

/// `mount(2)` with every option in one page: `lowerdir=` lists the layers, `:`-separated.
fn by_mount(stage: &CStr, lower: &[RawFd], upper: RawFd, work: RawFd) -> SysResult<()> {
    let mut data = Data {
        buf: [0; DATA_MAX],
        len: 0,
    };
    data.push(b"lowerdir=")?;
    for (i, &layer) in lower.iter().enumerate() {
        if i > 0 {
            data.push(b":")?;
        }
        data.push_fd(layer)?;
    }
    data.push(b",upperdir=")?;
    data.push_fd(upper)?;
    data.push(b",workdir=")?;
    data.push_fd(work)?;
    data.push(b",userxattr\0")?;
    let data = CStr::from_bytes_until_nul(&data.buf).map_err(|_| Errno::E2BIG)?;
    sys::mount(Some(c"overlay"), stage, Some(c"overlay"), libc::MS_NODEV, Some(data))
}

struct Data {
    buf: [u8; DATA_MAX],
    len: usize,
}

impl Data {
    fn push(&mut self, bytes: &[u8]) -> SysResult<()> {
        let end = self.len + bytes.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(Errno::E2BIG)?
            .copy_from_slice(bytes);
        self.len = end;
        Ok(())
    }

    fn push_fd(&mut self, fd: RawFd) -> SysResult<()> {
        let mut path = [0u8; 32];
        self.push(sys::proc_fd_path(fd, &mut path).to_bytes())
    }
}

/// `preflight`'s probe, in a short-lived process with a user namespace and a mount namespace
/// of its own: an overlay of one layer (`userxattr`) mounted in the tmpfs `dir`. Returns
/// whether `lowerdir+` was taken (else the one `mount(2)` list).
pub(crate) fn probe(dir: RawFd) -> SysResult<bool> {
    let mut fds = [-1; 4];
    let names = [c"lower", c"upper", c"work", c"merged"];
    let made = fds
        .iter_mut()
        .zip(names)
        .try_for_each(|(fd, name)| make_dir(dir, name).map(|made| *fd = made));
    let result = made.and_then(|()| {
        let [lower, upper, work, merged] = fds;
        let lowers = [lower];
        match by_fsconfig(&lowers, upper, work) {
            Ok(tree) => {
                sys::close(tree);
                Ok(true)
            }
            Err(Errno::EINVAL) => {
                let mut path = [0u8; 32];
                by_mount(sys::proc_fd_path(merged, &mut path), &lowers, upper, work).map(|()| false)
            }
            Err(e) => Err(e),
        }
    });
    fds.into_iter().filter(|&fd| fd >= 0).for_each(sys::close);
    result
}
