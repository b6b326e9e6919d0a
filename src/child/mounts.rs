//! The filesystem steps: private propagation, the sources, the staged root, binds and fresh
//! mounts on resolved fds, pivot_root, masked and read-only paths. Every container path is
//! resolved under the root fd one component at a time; nothing is created through a symlink.

use std::ffi::CStr;
use std::os::fd::RawFd;

use nix::errno::Errno;

use super::slot;
use crate::plan::{BindAttrs, ContainerPath, Leaf, Step};
use crate::sys::{self, SysResult};

pub(super) fn run(step: &Step, root: &mut RawFd, slots: &mut [RawFd]) -> SysResult<()> {
    match step {
        Step::PrivatePropagation => sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None),
        Step::SlavePropagation => sys::mount(None, c"/", None, libc::MS_REC | libc::MS_SLAVE, None),
        Step::OpenSource { path, slot, no_follow } => {
            let fd = match no_follow {
                None => sys::openat(libc::AT_FDCWD, path, libc::O_PATH, 0)?,
                Some(names) => open_source_no_follow(path, names)?,
            };
            match slots.get_mut(*slot) {
                Some(s) => *s = fd,
                None => {
                    sys::close(fd);
                    return Err(Errno::EBADF);
                }
            }
            Ok(())
        }
        Step::Stage {
            stage,
            bind_slot,
            read_only,
            tmpfs,
        } => {
            match bind_slot {
                None => sys::mount(
                    Some(c"tmpfs"),
                    stage,
                    Some(c"tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(tmpfs),
                )?,
                Some(index) => {
                    let tree = clone_tree(slot(slots, *index)?, true, *read_only)?;
                    // No device node of the tree opens in the container (its /dev is a fresh
                    // tmpfs): a rootfs directory's, or an image's, are not the container's.
                    let flags = libc::AT_EMPTY_PATH as u32 | libc::AT_RECURSIVE as u32;
                    let moved = sys::mount_setattr(tree, c"", flags, libc::MOUNT_ATTR_NODEV, 0).and_then(|()| {
                        sys::move_mount(tree, c"", libc::AT_FDCWD, stage, libc::MOVE_MOUNT_F_EMPTY_PATH)
                    });
                    sys::close(tree);
                    moved?;
                }
            }
            *root = sys::openat(
                libc::AT_FDCWD,
                stage,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?;
            Ok(())
        }
        Step::StageOverlay {
            stage,
            lower,
            upper,
            attach,
            tmpfs,
        } => {
            let mut layers = [-1; crate::Rootfs::MAX_LAYERS];
            for (fd, index) in layers.iter_mut().zip(lower) {
                *fd = slot(slots, *index)?;
            }
            let layers = layers.get(..lower.len()).ok_or(Errno::E2BIG)?;
            let upper = match upper {
                Some((upper, work)) => Some((slot(slots, *upper)?, slot(slots, *work)?)),
                None => None,
            };
            *root = super::overlay::stage(stage, layers, upper, *attach, tmpfs)?;
            Ok(())
        }
        Step::Bind {
            slot: index,
            target,
            leaf,
            recursive,
            read_only,
            attrs,
        } => {
            let source = slot(slots, *index)?;
            let target_fd = resolve(*root, target, target.prefixes.len(), *leaf)?;
            bind_onto(source, target_fd, *recursive, *read_only, attrs)
        }
        Step::AttachTree {
            slot: index,
            target,
            leaf,
            propagation,
        } => {
            let tree = slot(slots, *index)?;
            let target_fd = resolve(*root, target, target.prefixes.len(), *leaf)?;
            let attached = attach_onto(tree, target_fd, *propagation);
            sys::close(tree);
            if let Some(s) = slots.get_mut(*index) {
                *s = -1;
            }
            attached
        }
        Step::Shadow {
            path,
            options,
            attrs,
            fill,
            slot: index,
        } => {
            let dir = resolve(*root, path, path.prefixes.len(), Leaf::Dir)?;
            let shadowed = super::populate::shadow(dir, options, *attrs, *fill);
            sys::close(dir);
            put(slots, *index, shadowed?)
        }
        Step::Populate { source, read_only } => {
            let result = super::populate::populate(slot(slots, *source)?, *root, *read_only);
            if let Some(s) = slots.get_mut(*source) {
                sys::close(*s);
                *s = -1;
            }
            result
        }
        Step::MountPoint { dir, path, leaf } => {
            let fd = resolve(slot(slots, *dir)?, path, path.prefixes.len(), *leaf)?;
            sys::close(fd);
            Ok(())
        }
        Step::OpenMountDir { path, slot: index } => {
            let fd = resolve(*root, path, path.prefixes.len(), Leaf::Dir)?;
            put(slots, *index, fd)
        }
        Step::BindInto { source, dir, name } => bind_node_into(slot(slots, *source)?, slot(slots, *dir)?, name),
        Step::MountInto {
            dir,
            name,
            fstype,
            flags,
            data,
        } => {
            let dir = slot(slots, *dir)?;
            create(dir, name, false)?;
            let target_fd = sys::openat(dir, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
            mount_fresh_on(target_fd, fstype, *flags, data.as_deref())
        }
        Step::SymlinkInto { dir, name, link } => sys::symlinkat(link, slot(slots, *dir)?, name),
        Step::DevDir { dir, name, slot: index } => {
            put(slots, *index, super::populate::dev_dir(slot(slots, *dir)?, name)?)
        }
        Step::MakeDevice {
            dir,
            name,
            mode,
            rdev,
            uid,
            gid,
        } => super::populate::make_device(slot(slots, *dir)?, name, *mode, *rdev, (*uid, *gid)),
        Step::Mount {
            fstype,
            target,
            flags,
            data,
        } => {
            let target_fd = resolve(*root, target, target.prefixes.len(), Leaf::Dir)?;
            mount_fresh_on(target_fd, fstype, *flags, data.as_deref())
        }
        Step::Symlink { link, path } => {
            let depth = path.prefixes.len().saturating_sub(1);
            let parent = if depth == 0 {
                *root
            } else {
                resolve(*root, path, depth, Leaf::Dir)?
            };
            let result = match path.names.last() {
                Some(name) => sys::symlinkat(link, parent, name),
                None => Err(Errno::EINVAL),
            };
            if parent != *root {
                sys::close(parent);
            }
            result
        }
        Step::ReadOnlyMount(index) => sys::mount_setattr(
            slot(slots, *index)?,
            c"",
            libc::AT_EMPTY_PATH as u32,
            libc::MOUNT_ATTR_RDONLY,
            0,
        ),
        Step::ReadOnlyRoot => sys::mount_setattr(*root, c"", libc::AT_EMPTY_PATH as u32, libc::MOUNT_ATTR_RDONLY, 0),
        Step::PivotRoot => {
            // pivot_root(".", ".") stacks the old root on the new one; detaching "." then
            // removes the old root without needing a directory for it (runc, lxc).
            sys::fchdir(*root)?;
            sys::pivot_root(c".", c".")?;
            sys::umount2(c".", libc::MNT_DETACH)?;
            sys::close(*root);
            *root = -1;
            sys::chdir(c"/")
        }
        Step::CheckDevNull => check_dev_null(),
        Step::MaskPath { path, dir } => mask(path, *dir),
        Step::ReadOnlyPath(path) => match sys::mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => sys::mount_setattr(
                libc::AT_FDCWD,
                path,
                libc::AT_RECURSIVE as u32,
                libc::MOUNT_ATTR_RDONLY,
                0,
            ),
        },
        _ => Err(Errno::EINVAL),
    }
}

/// Stores `fd` in the slot `index` (closed if there is no such slot).
fn put(slots: &mut [RawFd], index: usize, fd: RawFd) -> SysResult<()> {
    match slots.get_mut(index) {
        Some(s) => {
            *s = fd;
            Ok(())
        }
        None => {
            sys::close(fd);
            Err(Errno::EBADF)
        }
    }
}

/// Binds the host's device node `source` onto a new file `name` in `dir` (a fresh /dev),
/// read-only: the node is the host's inode; a container root with power over it (no user
/// namespace, or one mapping root to root) must not chmod or chown it. Reading and writing
/// the device itself do not need a writable mount.
pub(super) fn bind_node_into(source: RawFd, dir: RawFd, name: &CStr) -> SysResult<()> {
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
    let target_fd = sys::openat(dir, name, flags, 0o644)?;
    bind_onto(source, target_fd, false, true, &BindAttrs::default())
}

/// Binds a copy of the tree at `source` onto the resolved `target_fd` (closed here), made
/// read-only (and given `attrs`) before it is attached when asked, its propagation changed
/// once attached (through the tree's fd, which then names the attached mount).
fn bind_onto(source: RawFd, target_fd: RawFd, recursive: bool, read_only: bool, attrs: &BindAttrs) -> SysResult<()> {
    let result = clone_tree_with(source, recursive, read_only, attrs).and_then(|tree| {
        let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
        let moved = sys::move_mount(tree, c"", target_fd, c"", flags).and_then(|()| match attrs.propagation {
            0 => Ok(()),
            propagation => {
                let mut buf = [0u8; 32];
                sys::mount(None, sys::proc_fd_path(tree, &mut buf), None, propagation, None)
            }
        });
        sys::close(tree);
        moved
    });
    sys::close(target_fd);
    result
}

/// Attaches the ready detached `tree` onto the resolved `target_fd` (closed here), then
/// changes its propagation through the tree's fd, which now names the attached mount.
fn attach_onto(tree: RawFd, target_fd: RawFd, propagation: libc::c_ulong) -> SysResult<()> {
    let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
    let result = sys::move_mount(tree, c"", target_fd, c"", flags).and_then(|()| match propagation {
        0 => Ok(()),
        propagation => {
            let mut buf = [0u8; 32];
            sys::mount(None, sys::proc_fd_path(tree, &mut buf), None, propagation, None)
        }
    });
    sys::close(target_fd);
    result
}

/// Mounts a fresh `fstype` on the resolved `target_fd` (closed here), through
/// `/proc/self/fd/N`: a component swapped after resolution cannot redirect it.
fn mount_fresh_on(target_fd: RawFd, fstype: &CStr, flags: libc::c_ulong, data: Option<&CStr>) -> SysResult<()> {
    let mut buf = [0u8; 32];
    let result = sys::mount(
        Some(fstype),
        sys::proc_fd_path(target_fd, &mut buf),
        Some(fstype),
        flags,
        data,
    );
    sys::close(target_fd);
    result
}

/// A detached copy of the mount tree at `source` (`open_tree(OPEN_TREE_CLONE)`), made
/// read-only before it is attached anywhere, so it is never writable in the container.
fn clone_tree(source: RawFd, recursive: bool, read_only: bool) -> SysResult<RawFd> {
    clone_tree_with(source, recursive, read_only, &BindAttrs::default())
}

/// [`clone_tree`] with the caller's mount attributes too, on every mount of a recursive copy
/// (`AT_RECURSIVE`), set before it is attached, in one `mount_setattr`.
fn clone_tree_with(source: RawFd, recursive: bool, read_only: bool, attrs: &BindAttrs) -> SysResult<RawFd> {
    let recursive_flag = if recursive { libc::AT_RECURSIVE as u32 } else { 0 };
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32 | recursive_flag;
    let tree = sys::open_tree(source, c"", flags)?;
    let set = attrs.set | if read_only { libc::MOUNT_ATTR_RDONLY } else { 0 };
    if (set != 0 || attrs.clear != 0)
        && let Err(e) = sys::mount_setattr(tree, c"", libc::AT_EMPTY_PATH as u32 | recursive_flag, set, attrs.clear)
    {
        sys::close(tree);
        return Err(e);
    }
    Ok(tree)
}

/// Resolves the first `depth` components of `path` under `root` with openat2, creating
/// missing ones (directories, or an empty file for a `File` leaf) inside the directory the
/// previous component resolved to: nothing is ever created through a symlink or outside the
/// root, nor before `path.create_from` (ENOENT there). Returns an O_PATH fd of the last
/// component.
fn resolve(root: RawFd, path: &ContainerPath, depth: usize, leaf: Leaf) -> SysResult<RawFd> {
    let mut current = root;
    for (i, (prefix, name)) in path.prefixes.iter().zip(&path.names).take(depth).enumerate() {
        let last = i + 1 == depth;
        let file_leaf = last && leaf == Leaf::File;
        let flags = libc::O_PATH | if file_leaf { 0 } else { libc::O_DIRECTORY };
        let open = || match sys::openat2(root, prefix, flags, path.resolve) {
            Err(Errno::ENOSYS) => open_no_symlink(current, name, flags),
            other => other,
        };
        let opened = match open() {
            Err(Errno::ENOENT) if i >= path.create_from => create(current, name, file_leaf).and_then(|()| open()),
            other => other,
        };
        if current != root {
            sys::close(current);
        }
        current = opened?;
    }
    Ok(current)
}

/// Opens the host path `path` (O_PATH) refusing a symlink in any component, the last one
/// included, with ELOOP: a bind source in a volume a container could have rewritten. Without
/// openat2, `names` (the components the parent split) are walked from `/` one `O_NOFOLLOW`
/// open at a time, each fd closed once the next is open.
fn open_source_no_follow(path: &CStr, names: &[std::ffi::CString]) -> SysResult<RawFd> {
    match sys::openat2(libc::AT_FDCWD, path, libc::O_PATH, libc::RESOLVE_NO_SYMLINKS) {
        Err(Errno::ENOSYS) => {}
        other => return other,
    }
    let mut current = sys::openat(libc::AT_FDCWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)?;
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let flags = libc::O_PATH | if last { 0 } else { libc::O_DIRECTORY };
        let next = open_no_symlink(current, name, flags);
        sys::close(current);
        current = next?;
    }
    Ok(current)
}

/// Without openat2 (Linux < 5.6): one component below `dir`, refusing a symlink (ELOOP).
/// Stricter than openat2's RESOLVE_IN_ROOT, never looser.
fn open_no_symlink(dir: RawFd, name: &CStr, flags: libc::c_int) -> SysResult<RawFd> {
    let fd = match sys::openat(dir, name, flags | libc::O_NOFOLLOW, 0) {
        // O_DIRECTORY on a symlink says ENOTDIR: tell the symlink apart.
        Err(Errno::ENOTDIR) if sys::is_symlink_at(dir, name) => return Err(Errno::ELOOP),
        other => other?,
    };
    match sys::fstat_mode(fd) {
        Ok(mode) if mode & libc::S_IFMT != libc::S_IFLNK => Ok(fd),
        other => {
            sys::close(fd);
            Err(other.err().unwrap_or(Errno::ELOOP))
        }
    }
}

pub(super) fn create(dir: RawFd, name: &CStr, file: bool) -> SysResult<()> {
    let result = if file {
        sys::openat(
            dir,
            name,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o644,
        )
        .map(sys::close)
    } else {
        sys::mkdirat(dir, name, 0o755)
    };
    match result {
        // Lost a race with another creator, or a dangling symlink: the re-open decides.
        Err(Errno::EEXIST) => Ok(()),
        other => other,
    }
}

/// Hides `path` (after pivot_root and `CheckDevNull`): a file under /dev/null, a directory
/// under an empty read-only tmpfs. No stat: the kind the path is expected to have is tried
/// first, and a mount onto the other kind fails with ENOTDIR.
fn mask(path: &CStr, dir: bool) -> SysResult<()> {
    let null = || sys::mount(Some(c"/dev/null"), path, None, libc::MS_BIND, None);
    let empty = || {
        let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), flags, None)
    };
    let (first, other): (&dyn Fn() -> SysResult<()>, &dyn Fn() -> SysResult<()>) =
        if dir { (&empty, &null) } else { (&null, &empty) };
    match first() {
        Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTDIR) => other(),
        done => done,
    }
}

/// Refuses a /dev/null that is not the char device 1:3 (CVE-2025-31133: a masked path bound
/// to whatever /dev/null is would expose it).
fn check_dev_null() -> SysResult<()> {
    let null = sys::lstat(c"/dev/null")?.ok_or(Errno::ENOENT)?;
    if null.st_mode & libc::S_IFMT != libc::S_IFCHR || null.st_rdev != libc::makedev(1, 3) {
        return Err(Errno::EPERM);
    }
    Ok(())
}
