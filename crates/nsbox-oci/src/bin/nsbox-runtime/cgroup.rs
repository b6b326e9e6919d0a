//! The container's cgroup: an exact path (the bundle's `linux.cgroupsPath`, else
//! `/nsbox-runtime/<id>`), given to nsbox at `create` (`ContainerBuilder::cgroup_path`) and
//! found again by every later invocation with `nsbox::CgroupHandle::open` for `ps`, `kill
//! --all`, `update`, `delete` and the `paused` status.

use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nsbox::CgroupHandle;

use crate::error::{Error, Result};

/// Where the runtime puts a container whose bundle names no cgroup (runc uses `/<id>`; a
/// parent of our own keeps ids from meeting the host's cgroups).
pub fn default_path(id: &str) -> PathBuf {
    Path::new("/nsbox-runtime").join(id)
}

/// `path` absolute: a relative `cgroupsPath` is relative to this process's cgroup (cgroup2's,
/// else the first v1 hierarchy's), which later invocations need not share.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let base = own
        .lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| own.lines().next())
        .and_then(|l| l.splitn(3, ':').nth(2))
        .unwrap_or("/");
    Path::new(base).join(path)
}

/// The container's cgroup, recorded at `create`.
pub fn open(path: &Path) -> Result<CgroupHandle> {
    CgroupHandle::open(path).map_err(|e| Error(format!("the container's cgroup {}: {e}", path.display())))
}

/// Every process of the container killed, wherever in its cgroups it hides: a container with a
/// writable cgroup mount can nest cgroups deeper than nsbox's own walk goes and freeze a
/// nested one itself (a task the v1 freezer froze does not die of SIGKILL until thawed). With
/// the container's cgroup frozen (nothing in it runs, so nothing freezes again), every nested
/// freeze is cleared and every process listed at any depth gets SIGKILL; thawed, they die.
/// Best effort: the caller's own kill and removal follow.
pub fn kill_nested(handle: &CgroupHandle) {
    signal_nested(handle, libc::SIGKILL);
}

/// `signal` to every process of the container, at any depth of its nested cgroups (`kill
/// --all`), with the container frozen meanwhile so that nothing forks out of the list. With
/// SIGKILL, the nested freezes the container set are cleared too (see [`kill_nested`]).
pub fn signal_nested(handle: &CgroupHandle, signal: i32) {
    // A paused container stays paused (but SIGKILL needs it thawed to end anything); a
    // freeze that timed out (left FREEZING) is undone all the same.
    let paused = handle.is_frozen().unwrap_or(false);
    let _ = handle.freeze();
    // Each process once: it is listed in every hierarchy.
    let mut pids = std::collections::BTreeSet::new();
    for dir in handle.dirs() {
        let _ = walk(dir, false, &mut |fd, depth| {
            if depth > 0 && signal == libc::SIGKILL {
                let _ = write_at(fd, c"freezer.state", b"THAWED");
                let _ = write_at(fd, c"cgroup.freeze", b"0");
            }
            let listed = read_at(fd, c"cgroup.procs");
            pids.extend(listed.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        });
    }
    for pid in pids {
        // SAFETY: kill(2) takes no memory; a pid listed in the frozen cgroup is its process.
        unsafe { libc::kill(pid, signal) };
    }
    if !paused || signal == libc::SIGKILL {
        let _ = handle.thaw();
    }
}

/// Removes every cgroup nested in the container's, at any depth, deepest first (the
/// container's own directories are left to `CgroupHandle::remove`, whose walk stops at 32).
pub fn remove_nested(handle: &CgroupHandle) {
    for dir in handle.dirs() {
        let _ = walk(dir, true, &mut |_, _| {});
    }
}

/// Visits `top` and every directory below it (`visit(fd, depth)`, parents first) through one
/// directory fd at a time, going down by name and up by `..`, so that neither the path nor the
/// fds held grow with the depth. With `remove`, each nested directory is removed once left.
fn walk(top: &Path, remove: bool, visit: &mut dyn FnMut(BorrowedFd<'_>, usize)) -> std::io::Result<()> {
    let top = CString::new(top.as_os_str().as_bytes()).map_err(std::io::Error::other)?;
    let mut cur = open_at(None, &top, libc::O_RDONLY | libc::O_DIRECTORY)?;
    visit(cur.as_fd(), 0);
    // Per level: the subdirectories still to visit, and the name the level has in its parent.
    let mut stack: Vec<(Vec<CString>, Option<CString>)> = vec![(subdirs(cur.as_fd()), None)];
    while let Some((remaining, _)) = stack.last_mut() {
        if let Some(name) = remaining.pop() {
            let Ok(child) = open_at(Some(cur.as_fd()), &name, libc::O_RDONLY | libc::O_DIRECTORY) else {
                continue;
            };
            cur = child;
            visit(cur.as_fd(), stack.len());
            stack.push((subdirs(cur.as_fd()), Some(name)));
            continue;
        }
        let Some((_, Some(name))) = stack.pop() else { break };
        cur = open_at(Some(cur.as_fd()), c"..", libc::O_RDONLY | libc::O_DIRECTORY)?;
        if remove {
            remove_at(cur.as_fd(), &name);
        }
    }
    Ok(())
}

/// rmdir of `name` in `dir`, retried for a while on EBUSY (the kernel still counts processes
/// killed a moment ago), as nsbox's own removal does.
fn remove_at(dir: BorrowedFd<'_>, name: &CStr) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        // SAFETY: unlinkat on a live directory fd and a NUL-terminated name.
        let r = unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) };
        if r == 0 || nix::errno::Errno::last() != nix::errno::Errno::EBUSY || std::time::Instant::now() > deadline {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// `openat(dir, name, flags | O_CLOEXEC | O_NOFOLLOW)`; `None`: from the working directory.
fn open_at(dir: Option<BorrowedFd<'_>>, name: &CStr, flags: i32) -> std::io::Result<OwnedFd> {
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: openat on a live fd (or AT_FDCWD) and a NUL-terminated name.
    let fd = unsafe { libc::openat(at, name.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The names of the directories in `dir` (listed through `/proc/self/fd`, a short path).
fn subdirs(dir: BorrowedFd<'_>) -> Vec<CString> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd())) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| CString::new(e.file_name().as_bytes()).ok())
        .collect()
}

fn write_at(dir: BorrowedFd<'_>, name: &CStr, value: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::from(open_at(Some(dir), name, libc::O_WRONLY)?);
    std::io::Write::write_all(&mut file, value)
}

fn read_at(dir: BorrowedFd<'_>, name: &CStr) -> String {
    let mut text = String::new();
    if let Ok(fd) = open_at(Some(dir), name, libc::O_RDONLY) {
        let _ = std::io::Read::read_to_string(&mut std::fs::File::from(fd), &mut text);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(default_path("c1"), Path::new("/nsbox-runtime/c1"));
        assert_eq!(absolute(Path::new("/docker/abc")), Path::new("/docker/abc"));
        assert!(absolute(Path::new("x/y")).is_absolute());
    }
}
