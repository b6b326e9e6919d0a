//! Shifting a rootless store's layers to its subordinate ids, and removing them again.
//!
//! An unprivileged process cannot give files away, and cannot remove what belongs to its
//! subordinate ids. A child cloned into a new user namespace whose maps newuidmap/newgidmap
//! wrote (the store's [`StoreIdMaps`]) can: it is root there, over exactly those ids. The
//! parent prepares everything (names, ids, fds), the child makes raw syscalls only (see
//! [`child`]) and reports `(index, errno)` through a pipe.
//!
//! Nothing a layer holds is ever followed: owners change through `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` with `O_PATH | O_NOFOLLOW` and `fchownat(AT_EMPTY_PATH)`, so a path
//! that a later entry turned into a symlink (`etc -> /home/…`) is skipped, and a symlink gets
//! its own owner, never its target's. Removal unlinks symlinks and opens directories
//! `O_NOFOLLOW`.

mod child;

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nsbox::IdMap;

use super::idmap::StoreIdMaps;
use crate::Error;
use child::{Chown, Job};

/// Gives each `(path, uid, gid)` under `root` (paths relative to it, ids as the image says
/// them) its owner through `maps`. Ids `maps` does not cover are refused before anything
/// changes ([`Error::UnmappedOwner`]).
pub(crate) fn chown_all(maps: &StoreIdMaps, root: &Path, owners: &[(PathBuf, u32, u32)]) -> Result<(), Error> {
    let mut names = Vec::new();
    let mut list = Vec::with_capacity(owners.len());
    for (path, uid, gid) in owners {
        if maps.host_uid(*uid).is_none() || maps.host_gid(*gid).is_none() {
            return Err(Error::UnmappedOwner {
                path: path.clone(),
                uid: *uid,
                gid: *gid,
            });
        }
        let offset = names.len();
        match path.as_os_str().as_bytes() {
            [] => names.push(b'.'),
            bytes if bytes.contains(&0) => continue, // never a name the unpacker made
            bytes => names.extend_from_slice(bytes),
        }
        names.push(0);
        list.push(Chown {
            offset,
            uid: *uid,
            gid: *gid,
        });
    }
    if list.is_empty() {
        return Ok(());
    }
    let root_fd = open_path(root)?;
    let job = Job::Chown {
        root: root_fd.as_raw_fd(),
        names: &names,
        list: &list,
    };
    match run(maps, &job, "changing owners under", root)? {
        (_, 0) => Ok(()),
        (index, errno) => {
            let path = owners
                .iter()
                .filter(|(p, ..)| !p.as_os_str().as_bytes().contains(&0))
                .nth(index)
                .map_or_else(|| root.to_owned(), |(p, ..)| root.join(p));
            Err(Error::io(
                "changing the owner of",
                path,
                std::io::Error::from_raw_os_error(errno),
            ))
        }
    }
}

/// Removes `path` (a file or a whole tree of a shifted layer) from inside the store's user
/// namespace.
pub(crate) fn remove_tree(maps: &StoreIdMaps, path: &Path) -> Result<(), Error> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::io("removing", path, std::io::ErrorKind::InvalidInput.into()));
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let name = CString::new(name.as_bytes())
        .map_err(|_| Error::io("removing", path, std::io::ErrorKind::InvalidInput.into()))?;
    let parent_fd = open_path(parent)?;
    let job = Job::Remove {
        parent: parent_fd.as_raw_fd(),
        name: &name,
    };
    match run(maps, &job, "removing", path)? {
        (_, 0) => Ok(()),
        (_, errno) => Err(Error::io("removing", path, std::io::Error::from_raw_os_error(errno))),
    }
}

/// An `O_PATH` directory fd (enough for `*at` calls; not readable).
fn open_path(dir: &Path) -> Result<OwnedFd, Error> {
    let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
    nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()).map_err(|e| Error::io("opening", dir, e.into()))
}

/// Clones a child into a new user namespace, writes its maps with newuidmap/newgidmap, lets it
/// run `job` and returns what it reported.
fn run(maps: &StoreIdMaps, job: &Job<'_>, action: &'static str, path: &Path) -> Result<(usize, i32), Error> {
    let fail = |e: std::io::Error| Error::io(action, path, e);
    let (go_r, go_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(e.into()))?;
    let (result_r, result_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(e.into()))?;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: clone without CLONE_VM and without a new stack is fork with a new user
    // namespace; the child runs only `child::main` (raw syscalls on data prepared above, all
    // alive until it is reaped below) and never returns.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(fail(std::io::Error::last_os_error()));
    }
    if pid == 0 {
        child::main(
            job,
            go_r.as_raw_fd(),
            result_w.as_raw_fd(),
            [go_w.as_raw_fd(), result_r.as_raw_fd()],
            parent,
        );
    }
    let pid = pid as libc::pid_t;
    drop((go_r, result_w));
    let mapped = write_map("newuidmap", pid, &maps.uid).and_then(|()| write_map("newgidmap", pid, &maps.gid));
    let reported = mapped.and_then(|()| {
        nix::unistd::write(&go_w, &[1]).map_err(std::io::Error::from)?;
        drop(go_w);
        let mut out = [0u8; 12];
        let mut file = std::fs::File::from(result_r);
        file.read_exact(&mut out)
            .map_err(|_| std::io::Error::other("the id shift helper exited without a report"))?;
        let index = u64::from_le_bytes(out[..8].try_into().expect("8 bytes"));
        let errno = i32::from_le_bytes(out[8..].try_into().expect("4 bytes"));
        Ok((index as usize, errno))
    });
    // Reaped on every path: without its go byte (a map helper failed) the child exits.
    reap(pid);
    reported.map_err(fail)
}

fn write_map(helper: &str, pid: libc::pid_t, maps: &[IdMap]) -> std::io::Result<()> {
    let mut cmd = Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.inside.to_string(), m.outside.to_string(), m.count.to_string()]);
    }
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(512)]).into_owned();
        return Err(std::io::Error::other(format!(
            "{helper} failed ({}): {}",
            out.status,
            stderr.trim()
        )));
    }
    Ok(())
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    loop {
        // SAFETY: waits for our own child; status is a live local.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r >= 0 || nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            return;
        }
    }
}
