//! The holder's side of a pair's pre-made /dev and /sys (`crate::namespace_pool`): the two
//! trees a container of the pool's template gets there, made detached ahead of time by the
//! holder process, in the pair's namespaces, and attached by the container's setup process
//! with one `move_mount` each (`Step::AttachTree`). Its five superblocks (a tmpfs, devpts,
//! another tmpfs, mqueue, sysfs), six binds and five symlinks are then off the spawn's path.
//!
//! The trees are what the fresh mounts of `plan::rootfs::dev` give, from the same constants
//! and the same `DevLayout`: the parent turns those into a [`Recipe`], and the holder makes
//! it here with raw syscalls only, on data the parent prepared, as every child does. The
//! holder has its own mount namespace (a copy of the caller's, as a setup process has: the
//! host's device nodes are bound from it) and the ids the container's root has on the host,
//! so every inode it makes has the owner the fresh mount's would.

use std::ffi::CString;
use std::os::fd::RawFd;

use crate::sys::{self, SysResult};

/// A filesystem's options (a flag where the value is empty, see [`sys::fresh_mount`]) and
/// its mount attributes (`MOUNT_ATTR_*`).
pub(crate) type Superblock = (Vec<(CString, CString)>, u64);

/// What goes into the trees, prepared by the parent (`plan::rootfs::dev::recipe`).
#[derive(Debug)]
pub(crate) struct Recipe {
    /// What the holder makes of its copy of the caller's mounts first, as the setup process
    /// does of its own (`Step::PrivatePropagation` or `Step::SlavePropagation`): the device
    /// nodes bound from it then receive from the host exactly what a fresh spawn's would.
    pub propagation: libc::c_ulong,
    /// The /dev tmpfs.
    pub dev: Superblock,
    /// The host's device nodes bound into it, read-only: (host path, name in /dev).
    pub devices: Vec<(CString, CString)>,
    /// Mounted on directories made in it: (name, filesystem type, how).
    pub mounts: Vec<(CString, CString, Superblock)>,
    /// Symlinks made in it: (name, target).
    pub links: Vec<(CString, CString)>,
    /// The sysfs mounted at /sys.
    pub sys: Superblock,
}

/// Makes the two trees: (/dev, /sys), detached. Nothing is left on failure.
pub(crate) fn build(recipe: &Recipe) -> SysResult<(RawFd, RawFd)> {
    sys::mount(None, c"/", None, libc::MS_REC | recipe.propagation, None)?;
    let dev = sys::fresh_mount(c"tmpfs", &recipe.dev.0, recipe.dev.1)?;
    let sysfs = fill_dev(dev, recipe).and_then(|()| sys::fresh_mount(c"sysfs", &recipe.sys.0, recipe.sys.1));
    match sysfs {
        Ok(sysfs) => Ok((dev, sysfs)),
        Err(e) => {
            sys::close(dev);
            Err(e)
        }
    }
}

/// Fills the detached /dev tmpfs as `Step::BindInto`, `Step::MountInto` and
/// `Step::SymlinkInto` fill a fresh one: mounts go into a detached tree with `move_mount`
/// (Linux 6.15; before, EINVAL and the pair goes without trees).
fn fill_dev(dev: RawFd, recipe: &Recipe) -> SysResult<()> {
    for (host, name) in &recipe.devices {
        let source = sys::openat(libc::AT_FDCWD, host, libc::O_PATH, 0)?;
        let bound = super::mounts::bind_node_into(source, dev, name);
        sys::close(source);
        bound?;
    }
    for (name, fstype, (options, attrs)) in &recipe.mounts {
        super::mounts::create(dev, name, false)?;
        let mount = sys::fresh_mount(fstype, options, *attrs)?;
        let moved = sys::move_mount(mount, c"", dev, name, libc::MOVE_MOUNT_F_EMPTY_PATH);
        sys::close(mount);
        moved?;
    }
    recipe
        .links
        .iter()
        .try_for_each(|(name, link)| sys::symlinkat(link, dev, name))
}
