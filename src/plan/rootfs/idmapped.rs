//! Idmapped lower layers for an overlay root whose container root is another host id than
//! the caller's (`Profile::Sandbox` maps it to an unused one).
//!
//! Measured on Linux 6.18: the layers opened before the setup process takes the container's
//! credentials mount fine from a root-only 0700 store (their lookup is done), but their files,
//! owned by host root, show as the overflow id to the container's root: a 0640 file cannot be
//! read and no lower file can be changed (copy-up must give the copy its owner, which is not
//! mapped). So each layer is cloned (`open_tree(OPEN_TREE_CLONE)`), made read-only and
//! idmapped (`mount_setattr(MOUNT_ATTR_IDMAP)`, Linux 5.12; overlayfs takes idmapped layers
//! since 5.19) with the container's maps: host root's files are the container root's. Only
//! the caller can do it (`CAP_SYS_ADMIN` over the layers' filesystem, which the container's
//! root never has), and before clone, as everything the child uses: a short-lived process is
//! born in a user namespace of its own, given the container's maps, and its namespace fd
//! lends them to the mounts (a mount keeps the maps, not the process).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{Pid, Uid};

use super::{Plan, Result};
use crate::config::Config;
use crate::error::{Error, SetupError, SetupStep};
use crate::idmap::{IdMap, IdMaps};
use crate::sys;

/// Whether the layers need idmapping: a user namespace whose root is not the caller's host uid
/// or gid, and a caller that can idmap (root). A rootless caller's own store is its own uid's,
/// which rootless maps to the container's root.
pub(super) fn needed(config: &Config) -> bool {
    let root_is = |maps, own| crate::idmap::IdMap::to_host(maps, 0) == Some(own);
    !config.uid_map.is_empty()
        && Uid::effective().is_root()
        && !(root_is(&config.uid_map, 0) && root_is(&config.gid_map, 0))
}

/// The layers `dirs`, idmapped with the container's maps, each in a new slot the parent fills
/// (the child inherits the fds).
pub(super) fn open_layers(plan: &mut Plan, config: &Config, dirs: &[PathBuf]) -> Result<Vec<usize>> {
    let userns = user_namespace(&config.uid_map, &config.gid_map)?;
    let mut slots = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let tree = idmapped(dir, &userns)?;
        let slot = plan.new_slot();
        plan.slots[slot] = tree.as_raw_fd();
        plan.child_fds.push(tree);
        slots.push(slot);
    }
    Ok(slots)
}

/// A detached, read-only clone of `dir` whose ids are shown through `userns`'s maps. A failure
/// names the layer, as the `OpenSource` step of an unmapped layer would.
fn idmapped(dir: &Path, userns: &OwnedFd) -> Result<OwnedFd> {
    let fail = |errno| {
        let errno = crate::Errno::from_nix(errno);
        Error::Setup(SetupError::new(SetupStep::PrepareRoot, Some(dir.to_path_buf()), errno))
    };
    let path = CString::new(dir.as_os_str().as_bytes()).map_err(|_| fail(nix::errno::Errno::EINVAL))?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
    let tree = sys::open_tree(libc::AT_FDCWD, &path, flags).map_err(fail)?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree) };
    sys::mount_setattr_idmap(tree.as_raw_fd(), libc::MOUNT_ATTR_RDONLY, userns.as_raw_fd()).map_err(fail)?;
    Ok(tree)
}

/// A user namespace with `uid` and `gid` maps: a process born in it, mapped, its namespace
/// opened, then let go (it exits when the pipe it waits on closes) and reaped, on every path.
/// The fd is the caller's alone (`O_CLOEXEC`, never a slot): the container never gets it.
pub(super) fn user_namespace(uid: &[IdMap], gid: &[IdMap]) -> Result<OwnedFd> {
    let fail = |what: &str, e: nix::errno::Errno| Error::io(format!("{what} for an idmapped mount"), e);
    let (wait_r, wait_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("create a pipe", e))?;
    let pid = sys::fork_into_user_namespace().map_err(|e| fail("create a user namespace", e))?;
    if pid == 0 {
        // The child: raw syscalls only (the caller may be multi-threaded). Keeps only its pipe
        // (its copy of the caller's fd table would hold other processes' pipes open: two such
        // children at once each waited for the EOF the other's copy held back) and waits until
        // killed (or EOF).
        sys::close_all_except(&[wait_r.as_raw_fd()]);
        let mut byte = [0u8; 1];
        let _ = sys::read_full(wait_r.as_raw_fd(), &mut byte);
        sys::exit(0);
    }
    drop(wait_r);
    let maps = IdMaps {
        uid: uid.to_vec(),
        gid: gid.to_vec(),
        allow_setgroups: IdMaps::default_allows_setgroups(),
    };
    let opened = maps.write(Pid::from_raw(pid)).map_err(Error::Setup).and_then(|()| {
        let path = format!("/proc/{pid}/ns/user");
        std::fs::File::open(&path)
            .map(OwnedFd::from)
            .map_err(|e| Error::io(format!("open {path}"), e))
    });
    drop(wait_w);
    // Not EOF alone: a fork elsewhere in the caller may hold a copy of the write end.
    sys::kill(pid, libc::SIGKILL);
    let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
    opened
}
