//! Removing what an entry replaces or a whiteout deletes: through directory fds, never
//! following a symlink (a symlink is removed, not its target).
//!
//! Unprivileged, a directory a lower layer made read-only (Go's module cache is `0555`) cannot
//! be emptied as it is: the caller owns it, so it is first given back `u+rwx` (through
//! `/proc/self/fd`, which names exactly that inode).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat};
use nix::unistd::{UnlinkatFlags, geteuid, unlinkat};

use super::UnpackError;
use super::created::{Created, CreatedSet};
use super::name::{EntryPath, c_name};
use super::resolve::{is_type, lstat_at};
use super::sys::io_error;

/// Removes `name` in `dir` (the whole tree if a directory); a missing name is not an error.
/// `path` is where `dir/name` is under the root, for errors.
pub(super) fn remove_all(dir: BorrowedFd<'_>, name: &[u8], path: &EntryPath) -> Result<(), UnpackError> {
    let c = c_name(name);
    match with_access(dir, || unlinkat(dir, c.as_c_str(), UnlinkatFlags::NoRemoveDir)) {
        Ok(()) | Err(Errno::ENOENT) => return Ok(()),
        Err(Errno::EISDIR) => {}
        Err(e) => return Err(io_error(format!("remove {:?}", path.to_path_buf()), e)),
    }
    let sub = open_listing(dir, &c).map_err(|e| io_error(format!("open {:?}", path.to_path_buf()), e))?;
    for child in names(&sub).map_err(|e| io_error(format!("list {:?}", path.to_path_buf()), e))? {
        remove_all(sub.as_fd(), &child, &path.join(&child))?;
    }
    match with_access(dir, || unlinkat(dir, c.as_c_str(), UnlinkatFlags::RemoveDir)) {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(io_error(format!("remove directory {:?}", path.to_path_buf()), e)),
    }
}

/// Empties directory `dir` (at `path`) of what this layer did not create; in a directory this
/// layer created or entered, recursively so (an opaque directory hides all lower content).
pub(super) fn remove_lower(dir: BorrowedFd<'_>, path: &EntryPath, created: &CreatedSet) -> Result<(), UnpackError> {
    let listing = open_listing(dir, c".").map_err(|e| io_error(format!("open {:?}", path.to_path_buf()), e))?;
    for child in names(&listing).map_err(|e| io_error(format!("list {:?}", path.to_path_buf()), e))? {
        let child_path = path.join(&child);
        match created.get(&child_path) {
            None => remove_all(listing.as_fd(), &child, &child_path)?,
            Some(Created::Directory) => {
                let is_dir = lstat_at(listing.as_fd(), &child).is_ok_and(|s| is_type(&s, SFlag::S_IFDIR));
                if is_dir {
                    let sub = open_listing(listing.as_fd(), &c_name(&child))
                        .map_err(|e| io_error(format!("open {:?}", child_path.to_path_buf()), e))?;
                    remove_lower(sub.as_fd(), &child_path, created)?;
                }
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Opens `name` in `dir` for listing (`O_RDONLY`), a directory and not a symlink.
fn open_listing(dir: BorrowedFd<'_>, name: &std::ffi::CStr) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    match openat(dir, name, flags, Mode::empty()) {
        Err(Errno::EACCES) => {
            let path = openat(
                dir,
                name,
                OFlag::O_PATH | flags.difference(OFlag::O_RDONLY),
                Mode::empty(),
            )?;
            grant_owner_access(path.as_fd())?;
            openat(dir, name, flags, Mode::empty())
        }
        other => other,
    }
}

/// The names in directory `dir`, `.` and `..` left out.
fn names(dir: &OwnedFd) -> Result<Vec<Vec<u8>>, Errno> {
    let mut listing = Dir::from_fd(dir.try_clone().map_err(|_| Errno::EMFILE)?)?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    Ok(names)
}

/// Runs `op` (an unlink in `dir`); on EACCES gives the caller's own `dir` `u+rwx` and retries.
fn with_access(dir: BorrowedFd<'_>, op: impl Fn() -> Result<(), Errno>) -> Result<(), Errno> {
    match op() {
        Err(Errno::EACCES) if grant_owner_access(dir).is_ok() => op(),
        other => other,
    }
}

/// Adds `u+rwx` to a directory the caller owns (`EACCES` otherwise). Works on `O_PATH` fds:
/// `/proc/self/fd/N` is the inode itself, no name on the way is looked up again.
fn grant_owner_access(dir: BorrowedFd<'_>) -> Result<(), Errno> {
    let stat = fstat(dir)?;
    if stat.st_uid != geteuid().as_raw() || stat.st_mode & 0o700 == 0o700 {
        return Err(Errno::EACCES);
    }
    let proc_path = CString::new(format!("/proc/self/fd/{}", dir.as_raw_fd())).expect("no NUL in a number");
    let mode = Mode::from_bits_truncate((stat.st_mode & 0o7777) | 0o700);
    fchmodat(
        nix::fcntl::AT_FDCWD,
        proc_path.as_c_str(),
        mode,
        FchmodatFlags::FollowSymlink,
    )
}
