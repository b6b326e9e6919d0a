//! The id maps of an existing user namespace, given its namespace file (issue 16): what a
//! container joining it ([`ContainerBuilder::join_namespace`](crate::ContainerBuilder::join_namespace))
//! runs with, and what an OCI runtime compares a bundle's `linux.uidMappings` with.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::errno::Errno;
use crate::error::{Error, Result};
use crate::idmap::IdMap;
use crate::shared_memory::BlockedSignals;
use crate::sys;

/// `NS_GET_NSTYPE` (`_IO(0xb7, 0x3)`): the `CLONE_NEW*` type of an nsfs file.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The uid and gid maps of the user namespace at `path` (`/proc/PID/ns/user`, or a bind mount
/// or `/proc/self/fd/N` of one), as `/proc/PID/uid_map` shows them inside it: the host ids
/// are the caller's view when the caller's user namespace is the namespace's parent.
///
/// A namespace file names no process whose maps could be read, so a short-lived process joins
/// it (`setns`; the caller needs `CAP_SYS_ADMIN` in it: root, or its owner) and its maps are
/// read, as runc does; it is reaped before this returns. Errors: the path does not open, is no
/// user namespace (`EINVAL`), or cannot be joined.
///
/// ```no_run
/// let (uid, gid) = nsbox::user_namespace_maps("/proc/1234/ns/user")?;
/// # Ok::<(), nsbox::Error>(())
/// ```
pub fn user_namespace_maps(path: impl AsRef<Path>) -> Result<(Vec<IdMap>, Vec<IdMap>)> {
    let path = path.as_ref();
    let what = |e: Errno| Error::io(format!("read the id maps of user namespace {}", path.display()), e);
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("open namespace {}", path.display()), e))?;
    // SAFETY: an ioctl without argument on an fd this function owns.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind != libc::CLONE_NEWUSER {
        return Err(what(Errno::EINVAL));
    }
    // The caller's own: it cannot join it again (EINVAL), and needs not.
    let own = std::fs::metadata("/proc/self/ns/user").map_err(|e| Error::io("stat /proc/self/ns/user", e))?;
    let target = file
        .metadata()
        .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
    if (own.dev(), own.ino()) == (target.dev(), target.ino()) {
        return read_maps("self").map_err(|e| Error::io("read this process's id maps", e));
    }
    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| what(Errno::from_nix(e)))?;
    let (wait_r, wait_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| what(Errno::from_nix(e)))?;
    // Signals blocked in the child: none of the caller's handlers may run in its copy, which
    // the namespace's root may signal once it joined.
    let blocked = BlockedSignals::new();
    let forked = sys::fork();
    if forked == Ok(0) {
        // The child: raw syscalls only (the caller may be multi-threaded). Keeps only what it
        // uses (its copy of the caller's fd table would hold other processes' pipes open: two
        // such children at once each waited for the EOF the other's copy held back), joins,
        // says so (its errno, 0 for none), waits until killed (or EOF).
        let mut keep = [file.as_raw_fd(), ready_w.as_raw_fd(), wait_r.as_raw_fd()];
        keep.sort_unstable();
        sys::close_all_except(&keep);
        let errno = sys::prctl(libc::PR_SET_DUMPABLE, 0)
            .and_then(|()| sys::setns(file.as_raw_fd(), libc::CLONE_NEWUSER))
            .err()
            .map_or(0, |e| e as i32);
        let _ = sys::write_all(ready_w.as_raw_fd(), &errno.to_ne_bytes());
        let mut byte = [0u8; 1];
        let _ = sys::read_full(wait_r.as_raw_fd(), &mut byte);
        sys::exit(0);
    }
    drop(blocked);
    let pid = forked.map_err(|e| what(Errno::from_nix(e)))?;
    drop(ready_w);
    drop(wait_r);
    let mut raw = [0u8; 4];
    let read = match sys::read_full(ready_r.as_raw_fd(), &mut raw) {
        Ok(4) => match i32::from_ne_bytes(raw) {
            0 => read_maps(&pid.to_string())
                .map_err(|e| Error::io(format!("read the id maps of user namespace {}", path.display()), e)),
            errno => Err(what(Errno::from_raw(errno))),
        },
        Ok(_) => Err(what(Errno::ECHILD)),
        Err(e) => Err(what(Errno::from_nix(e))),
    };
    drop(wait_w);
    // Not EOF alone: a fork elsewhere in the caller may hold a copy of the write end.
    sys::kill(pid, libc::SIGKILL);
    let _ = sys::wait_for(pid);
    read
}

fn read_maps(pid: &str) -> std::io::Result<(Vec<IdMap>, Vec<IdMap>)> {
    let read = |name: &str| -> std::io::Result<Vec<IdMap>> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/{name}"))?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let numbers: Vec<u32> = line.split_whitespace().filter_map(|n| n.parse().ok()).collect();
                match numbers[..] {
                    [inside, outside, count] => Ok(IdMap::new(inside, outside, count)),
                    _ => Err(std::io::Error::other(format!(
                        "a line of {name} that is not three ids: {line}"
                    ))),
                }
            })
            .collect()
    };
    Ok((read("uid_map")?, read("gid_map")?))
}
