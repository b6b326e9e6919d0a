//! The child side of a shift: runs in a fresh user namespace whose maps the parent wrote with
//! newuidmap/newgidmap, as root there over the store's ids. It was cloned from a process that
//! may have other threads, so like nsbox's own setup child it only makes raw syscalls on data
//! the parent prepared: no allocation, no locks, no panics. It reports `(index, errno)` once.

use std::ffi::CStr;
use std::os::fd::RawFd;

use libc::{c_char, c_int, c_long};

/// How deep [`remove_tree`] descends: one fd per level. Layers are at most
/// [`unpack::MAX_DEPTH`](crate::unpack::MAX_DEPTH) deep.
const MAX_DEPTH: usize = 256;

/// Bytes of one getdents64 read (on the child's stack).
const DENTS: usize = 8192;

/// One owner change: the NUL-terminated name at `offset` of the names buffer (relative to the
/// layer root, `.` for the root) gets `uid:gid` (ids inside the namespace: the image's).
#[derive(Debug, Clone, Copy)]
pub(super) struct Chown {
    pub offset: usize,
    pub uid: u32,
    pub gid: u32,
}

/// What the child does, over data the parent owns and keeps alive until the child is reaped.
pub(super) enum Job<'a> {
    /// Changes owners under the layer root `root` (an O_PATH directory fd).
    Chown {
        root: RawFd,
        names: &'a [u8],
        list: &'a [Chown],
    },
    /// Removes `name` in the directory `parent`, the whole tree if it is one.
    Remove { parent: RawFd, name: &'a CStr },
}

/// The child's whole life: waits for the parent's go (its maps are written), does the job,
/// writes `(index, errno)` (errno 0: done) and exits.
pub(super) fn main(job: &Job<'_>, go: RawFd, result: RawFd, parents_ends: [RawFd; 2], parent: libc::pid_t) -> ! {
    // SAFETY: closes this process's copies of the parent's ends (else a parent that gives up
    // would leave the read of `go` blocked forever); prctl and getppid take no pointers.
    unsafe {
        for fd in parents_ends {
            libc::close(fd);
        }
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
        if libc::getppid() != parent {
            exit(2);
        }
    }
    let mut byte = 0u8;
    // SAFETY: reads one byte into a live local.
    if unsafe { libc::read(go, (&mut byte as *mut u8).cast(), 1) } != 1 {
        exit(1);
    }
    let (index, errno) = match *job {
        Job::Chown { root, names, list } => chown_all(root, names, list),
        Job::Remove { parent, name } => (0, remove_tree(parent, name.as_ptr())),
    };
    let mut out = [0u8; 12];
    out[..8].copy_from_slice(&(index as u64).to_le_bytes());
    out[8..].copy_from_slice(&errno.to_le_bytes());
    // SAFETY: writes a live local buffer of its length.
    unsafe { libc::write(result, out.as_ptr().cast(), out.len()) };
    exit(0)
}

fn exit(code: c_int) -> ! {
    // SAFETY: exit_group never returns.
    unsafe { libc::syscall(libc::SYS_exit_group, code as c_long) };
    #[allow(clippy::empty_loop)]
    loop {}
}

fn errno() -> c_int {
    nix::errno::Errno::last_raw()
}

/// Changes every owner of `list`; an entry no longer there (replaced later in the layer, or
/// under a symlink now) is skipped. Returns the failing index and errno, or errno 0.
fn chown_all(root: RawFd, names: &[u8], list: &[Chown]) -> (usize, c_int) {
    for (index, entry) in list.iter().enumerate() {
        let Some(name) = names.get(entry.offset..) else {
            return (index, libc::EINVAL);
        };
        let fd = match open_beneath(root, name.as_ptr().cast()) {
            Ok(fd) => fd,
            Err(libc::ENOENT | libc::ELOOP | libc::ENOTDIR) => continue,
            Err(e) => return (index, e),
        };
        // SAFETY: fd is an O_PATH fd we own; the empty path is a NUL-terminated literal.
        let r = unsafe { libc::fchownat(fd, c"".as_ptr(), entry.uid, entry.gid, libc::AT_EMPTY_PATH) };
        let e = errno();
        // SAFETY: closes the fd opened above.
        unsafe { libc::close(fd) };
        if r != 0 {
            return (index, e);
        }
    }
    (0, 0)
}

/// `openat2(root, name, O_PATH | O_NOFOLLOW, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS)`: the node itself (a symlink too, never followed), never anything
/// outside `root` nor reached through a symlink. EAGAIN (a rename elsewhere on the system
/// raced the lookup) is retried, as openat2(2) asks.
fn open_beneath(root: RawFd, name: *const c_char) -> Result<RawFd, c_int> {
    // SAFETY: open_how is plain data; zeroed is valid for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    for _ in 0..64 {
        // SAFETY: name is NUL-terminated (the parent's buffer); how is a live open_how of the
        // size passed.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root,
                name,
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            return Ok(fd as RawFd);
        }
        match errno() {
            libc::EAGAIN | libc::EINTR => continue,
            e => return Err(e),
        }
    }
    Err(libc::EAGAIN)
}

/// Removes `name` in `parent` without following anything: a non-directory is unlinked; a
/// directory is emptied one level at a time through a fixed stack of directory fds (opened
/// `O_NOFOLLOW`), read with getdents64 into one stack buffer. A directory that is not empty is
/// entered; when it is empty it is closed, its parent read again from the start (what was
/// there before it is gone), and removed. Returns 0 or the errno.
fn remove_tree(parent: RawFd, name: *const c_char) -> c_int {
    match unlink(parent, name) {
        0 | libc::ENOENT => return 0,
        libc::EISDIR => {}
        e => return e,
    }
    let mut stack = [-1 as RawFd; MAX_DEPTH];
    let first = match open_dir(parent, name) {
        Ok(fd) => fd,
        Err(libc::ENOENT) => return 0,
        Err(e) => return e,
    };
    stack[0] = first;
    let mut depth = 1;
    let mut buffer = [0u8; DENTS];
    let result = loop {
        let dir = stack[depth - 1];
        // SAFETY: reads into a live stack buffer of its length.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, buffer.as_mut_ptr(), buffer.len()) };
        if n < 0 {
            break errno();
        }
        if n == 0 {
            // Empty (all but subdirectories already gone, and those removed on the way back).
            // SAFETY: closes a directory fd of the stack.
            unsafe { libc::close(dir) };
            depth -= 1;
            if depth == 0 {
                break rmdir(parent, name);
            }
            // SAFETY: rewinds a directory fd of the stack.
            if unsafe { libc::lseek(stack[depth - 1], 0, libc::SEEK_SET) } < 0 {
                break errno();
            }
            continue;
        }
        match remove_entries(dir, &buffer[..n as usize]) {
            Ok(None) => {}
            Ok(Some(offset)) => {
                // A non-empty subdirectory at `offset` of the buffer: enter it.
                if depth == MAX_DEPTH {
                    break libc::ELOOP;
                }
                match open_dir(dir, buffer[offset..].as_ptr().cast()) {
                    Ok(fd) => {
                        stack[depth] = fd;
                        depth += 1;
                    }
                    Err(e) => break e,
                }
            }
            Err(e) => break e,
        }
    };
    for &fd in &stack[..depth] {
        // SAFETY: closes the directory fds still open after an error.
        unsafe { libc::close(fd) };
    }
    result
}

/// Removes the entries of one getdents64 batch of `dir`; returns the offset of the name of a
/// non-empty subdirectory to enter first, if one is met.
fn remove_entries(dir: RawFd, batch: &[u8]) -> Result<Option<usize>, c_int> {
    let mut at = 0;
    // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, then the name (NUL-ended).
    while at + 19 < batch.len() {
        let reclen = u16::from_ne_bytes([batch[at + 16], batch[at + 17]]) as usize;
        if reclen < 20 || at + reclen > batch.len() {
            return Err(libc::EIO);
        }
        let name = &batch[at + 19..at + reclen];
        let len = name.iter().position(|&b| b == 0).ok_or(libc::EIO)?;
        let ptr = name.as_ptr().cast::<c_char>();
        if !(len == 1 && name[0] == b'.' || len == 2 && name[..2] == *b"..") {
            match unlink(dir, ptr) {
                0 | libc::ENOENT => {}
                libc::EISDIR => match rmdir(dir, ptr) {
                    0 | libc::ENOENT => {}
                    libc::ENOTEMPTY | libc::EEXIST => return Ok(Some(at + 19)),
                    e => return Err(e),
                },
                e => return Err(e),
            }
        }
        at += reclen;
    }
    Ok(None)
}

fn unlink(dir: RawFd, name: *const c_char) -> c_int {
    // SAFETY: name is NUL-terminated.
    match unsafe { libc::unlinkat(dir, name, 0) } {
        0 => 0,
        _ => errno(),
    }
}

fn rmdir(dir: RawFd, name: *const c_char) -> c_int {
    // SAFETY: name is NUL-terminated.
    match unsafe { libc::unlinkat(dir, name, libc::AT_REMOVEDIR) } {
        0 => 0,
        _ => errno(),
    }
}

fn open_dir(dir: RawFd, name: *const c_char) -> Result<RawFd, c_int> {
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: name is NUL-terminated; the fd returned is owned by the caller.
    match unsafe { libc::openat(dir, name, flags) } {
        fd if fd >= 0 => Ok(fd),
        _ => Err(errno()),
    }
}
