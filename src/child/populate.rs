//! A shadow's tmpfs filled with its directory's entries: for each entry of the source
//! directory a mount point of the same kind in the tmpfs, with the entry (and every mount
//! under it) bound back onto it; symlinks copied as they are. The tmpfs then looks like the
//! directory it covers, and new mount points can be made in it without writing to the
//! directory (a rootfs the caller owns, or the host).
//!
//! Child side: raw syscalls on stack buffers; a name never goes through a symlink (each entry
//! is one component below an fd, opened or cloned with `AT_SYMLINK_NOFOLLOW`).

use std::ffi::CStr;
use std::os::fd::RawFd;

use nix::errno::Errno;

use super::mounts::create;
use crate::sys::{self, SysResult};

/// Bytes of `linux_dirent64` read at a time.
const DIRENT_BUFFER: usize = 4096;
/// Offset of `d_reclen`, `d_type` and `d_name` in a `linux_dirent64` record.
const RECLEN_AT: usize = 16;
const TYPE_AT: usize = 18;
const NAME_AT: usize = 19;

/// Fills the directory `into` (an fd of a fresh tmpfs' root) from the directory `source`.
pub(super) fn populate(source: RawFd, into: RawFd, read_only: bool) -> SysResult<()> {
    let dir = sys::openat(source, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
    let result = copy_owner(dir, into).and_then(|()| each_entry(dir, into, read_only));
    sys::close(dir);
    result
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
            let mut link = [0u8; libc::PATH_MAX as usize];
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
