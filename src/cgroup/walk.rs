//! The walk over a container's cgroup and every cgroup nested in it, at any depth.
//!
//! A container with a writable cgroup mount can nest cgroups as deep and as wide as its memory
//! lets the kernel make them. The walk holds one directory fd at a time, reads it with
//! `getdents64` into one 4 KiB buffer, goes down by name with `openat(O_NOFOLLOW |
//! O_DIRECTORY)` and up by `..`, and keeps per level above it only the directory position of
//! the entry it went down (8 bytes: the kernel's readdir cookie, a name hash in cgroupfs),
//! where it resumes on the way up after checking by inode number that the entry is still the
//! one it left. So neither the path, the fds nor the names held grow with the depth (a
//! stack of names would: up to 255 bytes a level; 8 bytes a level is far less than the
//! kernel memory each nested cgroup costs the container), and every directory entry is read
//! about once: O(entries) time, also for a directory with thousands of cgroups in it.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Visits `top` and every directory below it, parents first: `visit(fd, depth)` (0 for
/// `top`). Once every directory below a nested one is done, `leave(parent_fd, name)` is
/// called for it (a removal, deepest first). Directories that vanish meanwhile are skipped;
/// one created meanwhile may or may not be visited.
pub(super) fn walk(
    top: &Path,
    visit: &mut dyn FnMut(BorrowedFd<'_>, usize),
    leave: &mut dyn FnMut(BorrowedFd<'_>, &CStr),
) -> io::Result<()> {
    let top = CString::new(top.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut cur = open_dir(None, &top)?;
    // The walk stays on `top`'s filesystem and mount (see `entered`).
    let dev = nix::sys::stat::fstat(cur.as_fd())?.st_dev;
    visit(cur.as_fd(), 0);
    // Per level above `cur`: the position of the entry the walk went down.
    let mut down: Vec<i64> = Vec::new();
    let mut entries = Entries::new();
    let mut pos = 0i64;
    loop {
        if let Some(entry) = entries.next_subdir(cur.as_fd(), &mut pos)? {
            let Ok(child) = open_dir(Some(cur.as_fd()), &entry.name) else {
                continue;
            };
            if !entered(child.as_fd(), dev, entry.inode) {
                continue;
            }
            down.push(entry.start);
            cur = child;
            (pos, entries.len) = (0, 0);
            visit(cur.as_fd(), down.len());
            continue;
        }
        let Some(start) = down.pop() else {
            return Ok(());
        };
        // Every directory below `cur` is done: up, back to its entry.
        let inode = nix::sys::stat::fstat(cur.as_fd())?.st_ino;
        cur = open_dir(Some(cur.as_fd()), c"..")?;
        seek(cur.as_fd(), start)?;
        (pos, entries.len) = (start, 0);
        match entries.next_subdir(cur.as_fd(), &mut pos)? {
            // Still there: left, and on after it.
            Some(entry) if entry.inode == inode => leave(cur.as_fd(), &entry.name),
            // Gone meanwhile: on from where it was, the entry read now included.
            _ => {
                seek(cur.as_fd(), start)?;
                (pos, entries.len) = (start, 0);
            }
        }
    }
}

/// Whether `child`, opened by the name of an entry read with inode number `inode`, is that
/// directory itself on the walk's filesystem `dev`: not a mount on it (whose root has another
/// inode, or another device: a bind of another cgroup placed on a nested one in the caller's
/// mount namespace would lead the walk out of the container's cgroup, and back up by `..` to
/// an entry whose inode never matches, again and again), nor a directory that replaced it.
fn entered(child: BorrowedFd<'_>, dev: u64, inode: u64) -> bool {
    nix::sys::stat::fstat(child).is_ok_and(|st| st.st_dev == dev && st.st_ino == inode)
}

/// Whether the directory `dir` has a subdirectory (false if it cannot be read).
pub(super) fn has_subdirs(dir: &Path) -> bool {
    let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    let Ok(fd) = open_dir(None, &path) else {
        return false;
    };
    Entries::new()
        .next_subdir(fd.as_fd(), &mut 0)
        .is_ok_and(|e| e.is_some())
}

/// A subdirectory's entry.
struct Entry {
    name: CString,
    inode: u64,
    /// The directory position to read it again from.
    start: i64,
}

/// A directory's entries, read with `getdents64` one buffer at a time from the fd's position.
struct Entries {
    /// `linux_dirent64` records (8-byte aligned, as the kernel writes them).
    buf: Vec<u64>,
    /// Bytes of `buf` filled by the last call (0: read again from the fd's position).
    len: usize,
    at: usize,
}

/// The bytes `getdents64` fills per call.
const BUFFER: usize = 4096;

impl Entries {
    fn new() -> Self {
        Entries {
            buf: vec![0; BUFFER / 8],
            len: 0,
            at: 0,
        }
    }

    /// The next subdirectory (not `.` or `..`); `pos` follows the position past each entry.
    fn next_subdir(&mut self, dir: BorrowedFd<'_>, pos: &mut i64) -> io::Result<Option<Entry>> {
        loop {
            if self.at >= self.len {
                // SAFETY: getdents64 on a live fd into a buffer of BUFFER bytes we own.
                let n = unsafe { libc::syscall(libc::SYS_getdents64, dir.as_raw_fd(), self.buf.as_mut_ptr(), BUFFER) };
                let e = io::Error::last_os_error();
                // ENOENT: the directory was removed meanwhile: it has nothing left to list.
                if n < 0 && e.kind() == io::ErrorKind::NotFound {
                    return Ok(None);
                }
                if n < 0 {
                    return Err(e);
                }
                if n == 0 {
                    return Ok(None);
                }
                (self.len, self.at) = (n as usize, 0);
            }
            let record = &self.bytes()[self.at..self.len];
            let malformed = || io::Error::other("getdents64 returned a malformed record");
            let header = record.get(..19).ok_or_else(malformed)?;
            let eight = |at: usize| <[u8; 8]>::try_from(&header[at..at + 8]).unwrap_or_default();
            let inode = u64::from_ne_bytes(eight(0));
            let next = i64::from_ne_bytes(eight(8));
            let length = usize::from(u16::from_ne_bytes([header[16], header[17]]));
            let kind = header[18];
            let name = record.get(19..length).ok_or_else(malformed)?;
            let name = CStr::from_bytes_until_nul(name).map_err(|_| malformed())?;
            let wanted = kind == libc::DT_DIR && name != c"." && name != c"..";
            let name = wanted.then(|| name.to_owned());
            let start = *pos;
            (*pos, self.at) = (next, self.at + length);
            if let Some(name) = name {
                return Ok(Some(Entry { name, inode, start }));
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the Vec<u64>'s BUFFER bytes, viewed as bytes (any bit pattern is a u8).
        unsafe { std::slice::from_raw_parts(self.buf.as_ptr().cast::<u8>(), BUFFER) }
    }
}

/// Sets the directory position of `dir` (a readdir cookie from `getdents64`).
fn seek(dir: BorrowedFd<'_>, pos: i64) -> io::Result<()> {
    // SAFETY: lseek on a live fd.
    if unsafe { libc::lseek(dir.as_raw_fd(), pos, libc::SEEK_SET) } < 0 {
        return Err(io::Error::last_os_error());
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
        for i in 0..203 {
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
        assert_eq!(visited, 1 + 200 + 203);
        assert_eq!(max_depth, 200);
        assert_eq!(left, 200 + 203);
        let rest: Vec<_> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(rest, ["a-file"]);
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn a_directory_removed_under_the_walk_is_skipped_not_its_siblings() {
        let tmp = std::env::temp_dir().join(format!("nsbox-walk-vanish-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        for dir in ["a/x", "a/y", "b", "c"] {
            std::fs::create_dir_all(tmp.join(dir)).unwrap();
        }
        let (mut visited, mut left, mut removed) = (0, Vec::new(), false);
        walk(
            &tmp,
            &mut |_, depth| {
                visited += 1;
                // Whichever of a/x, a/y comes first goes while the walk is in it.
                if depth == 2 && !removed {
                    removed = ["x", "y"]
                        .iter()
                        .any(|n| std::fs::remove_dir(tmp.join("a").join(n)).is_ok());
                }
            },
            &mut |_, name| left.push(name.to_string_lossy().into_owned()),
        )
        .unwrap();
        left.sort();
        assert!(removed);
        assert_eq!(visited, 1 + 5);
        assert_eq!(left.len(), 4, "{left:?}");
        assert!(["a", "b", "c"].iter().all(|n| left.iter().any(|l| l == n)), "{left:?}");
        std::fs::remove_dir_all(&tmp).unwrap();
    }
}
