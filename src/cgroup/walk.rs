//! The walk over a container's cgroup and every cgroup nested in it, at any depth.
//!
//! A container with a writable cgroup mount can nest cgroups as deep and as wide as its memory
//! lets the kernel make them, so the walk holds the same small state at any depth: one
//! directory fd (plus one while listing it) and a bounded batch of names of the directory it
//! is in. It goes down by name with `openat(O_NOFOLLOW | O_DIRECTORY)` and up by `..`, and on
//! the way up finds which child it left by its inode number, so that neither the path, the fds
//! nor the memory held grow with the depth (a stack of names would: 255 bytes a level). The
//! price is one more listing of the parent per child left: O(width²) directory entries read
//! for a directory with `width` nested cgroups, each read in batches of [`BATCH`] names.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The names of one directory's subdirectories held at once.
const BATCH: usize = 64;

/// How often a walk starts a directory's listing again because the cgroup it came up from
/// vanished, before it gives up.
const MAX_RESTARTS: usize = 16;

/// Visits `top` and every directory below it, parents first: `visit(fd, depth)` (0 for
/// `top`). Once every directory below a nested one is done, `leave(parent_fd, name)` is
/// called for it (a removal, deepest first). Directories that vanish meanwhile are skipped;
/// one created meanwhile is visited if its name sorts after the one being visited.
pub(super) fn walk(
    top: &Path,
    visit: &mut dyn FnMut(BorrowedFd<'_>, usize),
    leave: &mut dyn FnMut(BorrowedFd<'_>, &CStr),
) -> io::Result<()> {
    let top = CString::new(top.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut cur = open_dir(None, &top)?;
    let mut depth = 0usize;
    visit(cur.as_fd(), depth);
    // The next subdirectories of `cur` to visit, in name order, all after `after`.
    let mut after: Option<CString> = None;
    let mut restarts = 0;
    let mut batch = subdirs_after(cur.as_fd(), None)?;
    loop {
        if let Some(name) = batch.pop() {
            let Ok(child) = open_dir(Some(cur.as_fd()), &name) else {
                after = Some(name);
                continue;
            };
            cur = child;
            depth += 1;
            visit(cur.as_fd(), depth);
            after = None;
            batch = subdirs_after(cur.as_fd(), None)?;
            continue;
        }
        if let Some(last) = after.take() {
            // The batch is done: the next one, if the directory has more.
            batch = subdirs_after(cur.as_fd(), Some(&last))?;
            if !batch.is_empty() {
                continue;
            }
        }
        if depth == 0 {
            return Ok(());
        }
        // Every directory below `cur` is done: up, and on after the one left.
        let inode = nix::sys::stat::fstat(cur.as_fd())?.st_ino;
        let parent = open_dir(Some(cur.as_fd()), c"..")?;
        drop(std::mem::replace(&mut cur, parent));
        depth -= 1;
        let name = name_of(cur.as_fd(), inode)?;
        if let Some(name) = &name {
            leave(cur.as_fd(), name);
        }
        // Gone (removed meanwhile): the batch restarts from the first name, visiting again
        // those still there; a bounded number of times, as a container could keep doing it.
        if name.is_none() {
            restarts += 1;
            if restarts > MAX_RESTARTS {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "cgroups keep vanishing under the walk",
                ));
            }
        }
        batch = subdirs_after(cur.as_fd(), name.as_deref())?;
        after = name;
    }
}

/// Whether the directory `dir` has a subdirectory (false if it cannot be read).
pub(super) fn has_subdirs(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let Ok(fd) = open_dir(None, &path) else { return false };
    let mut any = false;
    let _ = for_each_subdir(fd.as_fd(), &mut |_, _| {
        any = true;
        true
    });
    any
}

/// Up to [`BATCH`] names of subdirectories of `dir` sorting after `after`, the first last
/// (popped first).
fn subdirs_after(dir: BorrowedFd<'_>, after: Option<&CStr>) -> io::Result<Vec<CString>> {
    let mut batch: Vec<CString> = Vec::with_capacity(BATCH + 1);
    for_each_subdir(dir, &mut |name, _| {
        if after.is_some_and(|a| name <= a) {
            return false;
        }
        // Keep the BATCH smallest, largest first.
        let at = batch.partition_point(|n| n.as_c_str() > name);
        if at > 0 || batch.len() < BATCH {
            batch.insert(at, name.to_owned());
            if batch.len() > BATCH {
                batch.remove(0);
            }
        }
        false
    })?;
    Ok(batch)
}

/// The name of the subdirectory of `dir` with inode `inode`, if it is still there.
fn name_of(dir: BorrowedFd<'_>, inode: u64) -> io::Result<Option<CString>> {
    let mut found = None;
    for_each_subdir(dir, &mut |name, ino| {
        if ino == inode {
            found = Some(name.to_owned());
        }
        found.is_some()
    })?;
    Ok(found)
}

/// Calls `f(name, inode)` for each subdirectory of `dir` until it returns true.
fn for_each_subdir(dir: BorrowedFd<'_>, f: &mut dyn FnMut(&CStr, u64) -> bool) -> io::Result<()> {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW;
    let mut listing = nix::dir::Dir::openat(dir, ".", flags, nix::sys::stat::Mode::empty())?;
    for entry in listing.iter() {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let is_dir = entry.file_type() == Some(nix::dir::Type::Directory);
        if !is_dir || name == c"." || name == c".." {
            continue;
        }
        if f(name, entry.ino()) {
            break;
        }
    }
    Ok(())
}

/// `openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)`; `None`: from the
/// working directory (an absolute `name`).
pub(super) fn open_dir(dir: Option<BorrowedFd<'_>>, name: &CStr) -> io::Result<OwnedFd> {
    open_at(dir, name, libc::O_RDONLY | libc::O_DIRECTORY)
}

/// `openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW)`.
pub(super) fn open_at(dir: Option<BorrowedFd<'_>>, name: &CStr, flags: i32) -> io::Result<OwnedFd> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: openat on a live fd (or AT_FDCWD) and a NUL-terminated name.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The file `name` of the directory `dir`, read whole (empty if it cannot be).
pub(super) fn read_at(dir: BorrowedFd<'_>, name: &CStr) -> String {
    let mut text = String::new();
    if let Ok(fd) = open_at(Some(dir), name, libc::O_RDONLY) {
        let _ = io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
    }
    text
}

/// Writes `value` to the file `name` of the directory `dir`.
pub(super) fn write_at(dir: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> io::Result<()> {
    let mut file = std::fs::File::from(open_at(Some(dir), name, libc::O_WRONLY)?);
    io::Write::write_all(&mut file, value)
}

/// rmdir of `name` in `dir`, retried while the kernel still counts processes killed a moment
/// ago (EBUSY), for up to 5 s.
pub(super) fn remove_at(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        // SAFETY: unlinkat on a live directory fd and a NUL-terminated name.
        let r = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
        let e = io::Error::last_os_error();
        match r {
            0 => return Ok(()),
            _ if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            _ if e.raw_os_error() == Some(libc::EBUSY) && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            _ => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_a_deep_and_wide_tree_and_removes_it_deepest_first() {
        let tmp = std::env::temp_dir().join(format!("nsbox-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let mut deep = tmp.clone();
        for i in 0..200 {
            deep.push(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        for i in 0..(BATCH * 2 + 3) {
            std::fs::create_dir(tmp.join(format!("w{i:03}"))).unwrap();
        }
        std::fs::write(tmp.join("a-file"), "").unwrap();
        let (mut visited, mut max_depth, mut left) = (0, 0, 0);
        walk(
            &tmp,
            &mut |_, depth| {
                visited += 1;
                max_depth = max_depth.max(depth);
            },
            &mut |dir, name| {
                remove_at(dir, name).unwrap();
                left += 1;
            },
        )
        .unwrap();
        assert_eq!(visited, 1 + 200 + BATCH * 2 + 3);
        assert_eq!(max_depth, 200);
        assert_eq!(left, 200 + BATCH * 2 + 3);
        let rest: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(rest, ["a-file"]);
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
