//! A shadow's tmpfs filled with its directory's entries: for each entry of the source
//! directory a mount point of the same kind in the tmpfs, with the entry (and every mount
//! under it) bound back onto it; symlinks copied as they are. The tmpfs then looks like the
//! directory it covers, and new mount points can be made in it without writing to the
//! directory (a rootfs the caller owns, or the host).
//!
//! Child side: raw syscalls on stack buffers; a name never goes through a symlink (each entry
//! is one component below an fd, opened or cloned with `AT_SYMLINK_NOFOLLOW`).

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use nix::errno::Errno;

use super::mounts::create;
use crate::sys::{self, SysResult};

/// Entries a shadowed directory may have: each is a mount (the kernel's default `mount-max`
/// is 100000 for a whole namespace). Beyond, the step fails with E2BIG.
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// Bytes of `linux_dirent64` records read at a time.
const DIRENT_BUFFER: usize = 4096;
/// Offset of `d_reclen`, `d_type` and `d_name` in a `linux_dirent64` record.
const RECLEN_AT: usize = 16;
const TYPE_AT: usize = 18;
const NAME_AT: usize = 19;

/// Shadows the directory `dir` (an `O_PATH` fd, the one lookup of its path): a detached tmpfs
/// filled from an fd of the directory opened first, then attached onto `dir` itself. Returns
/// the tmpfs root's fd. Nothing is looked up again by path, so a directory swapped for a
/// symlink meanwhile cannot redirect any of it.
pub(super) fn shadow(dir: RawFd, options: &[(CString, CString)], attrs: u64, fill: Option<bool>) -> SysResult<RawFd> {
    let source = match fill {
        Some(_) => sys::openat(dir, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?,
        None => -1,
    };
    let made = sys::fresh_mount(c"tmpfs", options, attrs).and_then(|tmpfs| {
        // Attached before it is filled: entries are bound into a mount of this namespace
        // (before Linux 6.15 a detached one takes none).
        let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
        let attached = sys::move_mount(tmpfs, c"", dir, c"", flags);
        let filled = attached.and_then(|()| match fill {
            Some(read_only) => self::fill(source, tmpfs, read_only),
            None => Ok(()),
        });
        match filled {
            Ok(()) => Ok(tmpfs),
            Err(e) => {
                sys::close(tmpfs);
                Err(e)
            }
        }
    });
    if source >= 0 {
        sys::close(source);
    }
    made
}

/// Fills the root `into` (the fresh tmpfs stage) from the directory `source` (an `O_PATH` fd).
pub(super) fn populate(source: RawFd, into: RawFd, read_only: bool) -> SysResult<()> {
    let dir = sys::openat(source, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let result = fill(dir, into, read_only);
    sys::close(dir);
    result
}

/// Fills the directory `into` (an fd of a fresh tmpfs' root) from `dir`, open for reading.
fn fill(dir: RawFd, into: RawFd, read_only: bool) -> SysResult<()> {
    copy_owner(dir, into).and_then(|()| each_entry(dir, into, read_only))
}

/// The tmpfs root takes the directory's mode and, where the id is mapped, its owner.
fn copy_owner(dir: RawFd, into: RawFd) -> SysResult<()> {
    let st = sys::fstat(dir)?;
    let root = sys::openat(into, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let result = sys::fchmod(root, st.st_mode & 0o7777).and_then(|()| {
        match sys::fchown(root, st.st_uid, st.st_gid) {
            // An owner outside the user namespace's maps shows as the overflow id, which
            // cannot be given: the mount point stays owned by the namespace's root.
            Err(Errno::EINVAL) => Ok(()),
            other => other,
        }
    });
    sys::close(root);
    result
}

fn each_entry(dir: RawFd, into: RawFd, read_only: bool) -> SysResult<()> {
    let mut buf = [0u64; DIRENT_BUFFER / 8];
    let mut entries = 0;
    loop {
        let len = sys::getdents64(dir, &mut buf)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: a view of the u64 buffer's first len bytes, which the kernel filled.
        let bytes = unsafe { std::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) };
        let mut at = 0;
        while let Some(record) = bytes.get(at..).filter(|r| !r.is_empty()) {
            let (Some(&[lo, hi]), Some(&d_type)) = (record.get(RECLEN_AT..TYPE_AT), record.get(TYPE_AT)) else {
                return Err(Errno::EIO);
            };
            let reclen = usize::from(u16::from_ne_bytes([lo, hi]));
            let name = record
                .get(NAME_AT..reclen)
                .and_then(|n| CStr::from_bytes_until_nul(n).ok())
                .ok_or(Errno::EIO)?;
            if name != c"." && name != c".." {
                entries += 1;
                if entries > MAX_ENTRIES {
                    return Err(Errno::E2BIG);
                }
                add(dir, into, name, d_type, read_only)?;
            }
            at += reclen;
        }
    }
}

/// One entry: its mount point in `into`, then the entry bound onto it (a symlink copied).
fn add(dir: RawFd, into: RawFd, name: &CStr, d_type: u8, read_only: bool) -> SysResult<()> {
    let kind = match d_type {
        libc::DT_UNKNOWN => match sys::lstat_at(dir, name)?.st_mode & libc::S_IFMT {
            libc::S_IFDIR => libc::DT_DIR,
            libc::S_IFLNK => libc::DT_LNK,
            _ => libc::DT_REG,
        },
        known => known,
    };
    match kind {
        libc::DT_LNK => {
            // A symlink's text is at most PATH_MAX - 1 bytes; one more for the NUL, one to tell it fits.
            let mut link = [0u8; libc::PATH_MAX as usize + 1];
            let text = sys::readlinkat(dir, name, &mut link)?;
            return sys::symlinkat(text, into, name);
        }
        libc::DT_DIR => create(into, name, false)?,
        // Files, devices, fifos, sockets: a bind of any of them goes onto an empty file.
        _ => create(into, name, true)?,
    }
    let recursive = libc::AT_RECURSIVE as u32;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_SYMLINK_NOFOLLOW as u32 | recursive;
    let tree = sys::open_tree(dir, name, flags)?;
    let result = match read_only {
        true => sys::mount_setattr(
            tree,
            c"",
            libc::AT_EMPTY_PATH as u32 | recursive,
            libc::MOUNT_ATTR_RDONLY,
            0,
        ),
        false => Ok(()),
    }
    .and_then(|()| sys::move_mount(tree, c"", into, name, libc::MOVE_MOUNT_F_EMPTY_PATH));
    sys::close(tree);
    result
}

/// The directory `name` below `dir` (nsbox's fresh /dev), made if missing, opened `O_PATH`
/// without following a symlink: the parent of a device node (`/dev/net` of `/dev/net/tun`).
pub(super) fn dev_dir(dir: RawFd, name: &CStr) -> SysResult<RawFd> {
    match sys::mkdirat(dir, name, 0o755) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    sys::openat(dir, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
}

/// A device node `name` in `dir`: mknod (which needs CAP_MKNOD, no user namespace, and `m`
/// in the device cgroup), then the owner and the exact mode (mknod's went through the umask).
pub(super) fn make_device(dir: RawFd, name: &CStr, mode: u32, rdev: u64, (uid, gid): (u32, u32)) -> SysResult<()> {
    // SAFETY: name is a NUL-terminated string the parent prepared; the calls take no other memory.
    let made = unsafe { libc::mknodat(dir, name.as_ptr(), mode, rdev) };
    Errno::result(made)?;
    let flags = libc::AT_SYMLINK_NOFOLLOW;
    // SAFETY: as above.
    Errno::result(unsafe { libc::fchownat(dir, name.as_ptr(), uid, gid, flags) })?;
    // SAFETY: as above; the node was just made, it is no symlink.
    Errno::result(unsafe { libc::fchmodat(dir, name.as_ptr(), mode & 0o7777, 0) }).map(drop)
}
