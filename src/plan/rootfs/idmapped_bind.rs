//! Idmapped binds ([`Mount::idmap`]): made whole by the parent before clone, attached by the
//! child (`Step::AttachTree`).
//!
//! `mount_setattr(MOUNT_ATTR_IDMAP)` takes only a detached mount, a user namespace whose maps
//! it copies, and `CAP_SYS_ADMIN` over the source's filesystem, which the container's root
//! never has. So the caller opens the source (in its own mount namespace, which the child's
//! is a copy of), clones its tree (`open_tree(OPEN_TREE_CLONE)`), sets the maps and every
//! flag of the bind on it in one go, and hands the ready tree to the child in a slot. The
//! user namespace lending the maps comes from a short-lived helper process
//! ([`idmapped::user_namespace`]), one per distinct pair of maps in a spawn; its fd never
//! reaches the container. A tree that is never attached (a failed spawn) vanishes with its
//! last fd: nothing changes on the host.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{Plan, Result, idmapped};
use crate::error::{Error, SetupError, SetupStep};
use crate::idmap::IdMap;
use crate::mount::Mount;
use crate::mount_idmap::MountIdMap;
use crate::sys;

/// A uid map and a gid map.
type Maps = (Vec<IdMap>, Vec<IdMap>);

/// The user namespaces made for one spawn's idmapped binds, by their maps.
#[derive(Default)]
pub(super) struct UserNamespaces(Vec<(Maps, OwnedFd)>);

impl UserNamespaces {
    fn get(&mut self, idmap: &MountIdMap) -> Result<&OwnedFd> {
        let at = self.0.iter().position(|((u, g), _)| *u == idmap.uid && *g == idmap.gid);
        let at = match at {
            Some(at) => at,
            None => {
                let userns = idmapped::user_namespace(&idmap.uid, &idmap.gid)?;
                self.0.push(((idmap.uid.clone(), idmap.gid.clone()), userns));
                self.0.len() - 1
            }
        };
        Ok(&self.0[at].1)
    }
}

/// The bind `mount` of `source` as a ready, detached, idmapped tree in a new slot (the child
/// inherits the fd and only attaches it). A failure names the source.
pub(super) fn open(
    plan: &mut Plan,
    mount: &Mount,
    idmap: &MountIdMap,
    source: &Path,
    recursive: bool,
    no_follow: bool,
    namespaces: &mut UserNamespaces,
) -> Result<usize> {
    let fail = |errno| {
        let errno = crate::Errno::from_nix(errno);
        Error::Setup(SetupError::new(
            SetupStep::IdmapMount,
            Some(source.to_path_buf()),
            errno,
        ))
    };
    let path = CString::new(source.as_os_str().as_bytes()).map_err(|_| fail(nix::errno::Errno::EINVAL))?;
    // As the child's `OpenSource`: without following symlinks when asked (openat2 is older
    // than idmapped mounts, so it is there).
    let opened = match no_follow {
        true => sys::openat2(libc::AT_FDCWD, &path, libc::O_PATH, libc::RESOLVE_NO_SYMLINKS),
        false => sys::openat(libc::AT_FDCWD, &path, libc::O_PATH, 0),
    };
    // SAFETY: openat returned a new fd that nothing else owns.
    let opened = unsafe { OwnedFd::from_raw_fd(opened.map_err(fail)?) };
    let recursive_flag = if recursive { libc::AT_RECURSIVE as u32 } else { 0 };
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32 | recursive_flag;
    let tree = sys::open_tree(opened.as_raw_fd(), c"", flags).map_err(fail)?;
    // SAFETY: open_tree returned a new fd that nothing else owns.
    let tree = unsafe { OwnedFd::from_raw_fd(tree) };
    drop(opened);

    // Only a privileged caller can idmap a host filesystem: say so here rather than through
    // newuidmap refusing the helper's maps.
    if !nix::unistd::Uid::effective().is_root() {
        return Err(fail(nix::errno::Errno::EPERM));
    }
    let (mut set, clear) = mount.flags.attrs(false);
    if mount.read_only {
        set |= libc::MOUNT_ATTR_RDONLY;
    }
    let userns = namespaces.get(idmap)?;
    if recursive && !idmap.recursive {
        // The flags on every mount of the bind, the maps on its top one only (OCI `idmap`).
        let every = libc::AT_EMPTY_PATH as u32 | libc::AT_RECURSIVE as u32;
        sys::mount_setattr(tree.as_raw_fd(), c"", every, set, clear).map_err(fail)?;
        sys::mount_setattr_idmap_with(tree.as_raw_fd(), 0, 0, 0, userns.as_raw_fd()).map_err(fail)?;
    } else {
        sys::mount_setattr_idmap_with(tree.as_raw_fd(), recursive_flag, set, clear, userns.as_raw_fd())
            .map_err(fail)?;
    }
    Ok(plan.adopt_fd(tree))
}
