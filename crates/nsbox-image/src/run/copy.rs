//! The copy fallback ([`RootStrategy::Copy`](super::RootStrategy::Copy)): an image's layers,
//! stored in overlayfs' format, flattened into a private directory that becomes one container's
//! root. Whiteouts (0:0 character devices) remove what lower layers put at their name, opaque
//! directories (`user.overlay.opaque=y`) are emptied of it first, as overlayfs shows them.
//!
//! The layers are the store's, but they came from archives: nothing is followed. Every name is
//! opened `O_NOFOLLOW` below its parent's fd, in the layer and in the copy; symlinks are copied
//! as links (`readlinkat`/`symlinkat`); hard links are remade only within one layer, from paths
//! this copy made. Device nodes are made only by root (a privileged store holds them);
//! otherwise skipped, as the unpacker skips them. Setuid files stay reachable only by the
//! store's owner: the copy lives under the store's 0700 `roots/`, itself 0700.

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use nsbox::IdMap;

/// The deepest directory a copy descends to (two fds are open per level).
pub const MAX_DEPTH: usize = 256;

/// How a copy is made.
#[derive(Debug, Clone, Default)]
pub(crate) struct CopyOptions {
    /// Owners, device nodes, setuid bits and `security.*` xattrs are copied (root copying a
    /// root-owned store).
    pub privileged: bool,
    /// Owners shifted through the container's id maps (uid, gid) so that its root owns what
    /// the image's root owns (a privileged copy for a user namespace).
    pub shift: Option<(Vec<IdMap>, Vec<IdMap>)>,
}

/// Copies `layers` (base first) into the new directory `dest`, flattened.
pub(crate) fn copy_layers(layers: &[PathBuf], dest: &Path, options: &CopyOptions) -> io::Result<()> {
    fn named(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
        move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
    }
    nix::unistd::mkdir(dest, Mode::from_bits_truncate(0o700)).map_err(|e| named(dest)(e.into()))?;
    let dst = open_dir(None, dest.as_os_str()).map_err(named(dest))?;
    for layer in layers {
        let src = open_dir(None, layer.as_os_str()).map_err(named(layer))?;
        let mut copy = Copy {
            options,
            root: dst.as_fd(),
            links: HashMap::new(),
            rel: PathBuf::new(),
        };
        copy.merge(&src, &dst, 0).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("copying {} of layer {}: {e}", copy.rel.display(), layer.display()),
            )
        })?;
        let st = nix::sys::stat::fstat(src.as_fd())?;
        copy.metadata(&st, &src, &dst)?;
    }
    Ok(())
}

/// One layer's pass.
struct Copy<'a> {
    options: &'a CopyOptions,
    root: std::os::fd::BorrowedFd<'a>,
    /// This layer's hard-link groups: (dev, ino) -> the copy's first path of the group.
    links: HashMap<(u64, u64), PathBuf>,
    /// The path being copied, relative to the root (for errors and hard links).
    rel: PathBuf,
}

impl Copy<'_> {
    /// Merges the layer directory `src` into the copy's directory `dst`.
    fn merge(&mut self, src: &OwnedFd, dst: &OwnedFd, depth: usize) -> io::Result<()> {
        if depth >= MAX_DEPTH {
            return Err(io::Error::other(format!("deeper than {MAX_DEPTH} directories")));
        }
        for name in names(src)? {
            self.rel.push(&name);
            self.entry(src, dst, &name, depth)?;
            self.rel.pop();
        }
        Ok(())
    }

    fn entry(&mut self, src: &OwnedFd, dst: &OwnedFd, name: &OsStr, depth: usize) -> io::Result<()> {
        let st = fstatat(src.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = st.st_mode & libc::S_IFMT;
        let privileged = self.options.privileged;
        match kind {
            // A whiteout: what lower layers put here is gone.
            libc::S_IFCHR if st.st_rdev == 0 => remove_at(dst, name, 0),
            libc::S_IFDIR => {
                let from = open_dir(Some(src), name)?;
                let existing = fstatat(dst.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|s| s.st_mode & libc::S_IFMT == libc::S_IFDIR);
                if !existing {
                    remove_at(dst, name, 0)?;
                    nix::sys::stat::mkdirat(dst.as_fd(), name, Mode::from_bits_truncate(0o700))?;
                }
                let to = open_dir(Some(dst), name)?;
                if existing {
                    // A lower layer's directory: writable to us while this layer fills it
                    // (its mode is this layer's once it is done).
                    nix::sys::stat::fchmod(to.as_fd(), Mode::from_bits_truncate(0o700))?;
                    if is_opaque(&from) {
                        empty(&to, 0)?;
                    }
                }
                self.merge(&from, &to, depth + 1)?;
                self.metadata(&st, &from, &to)
            }
            libc::S_IFREG => {
                remove_at(dst, name, 0)?;
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1
                    && let Some(first) = self.links.get(&key)
                {
                    return Ok(nix::unistd::linkat(
                        self.root,
                        first.as_path(),
                        dst.as_fd(),
                        name,
                        AtFlags::empty(),
                    )?);
                }
                let from = openat(src.as_fd(), name, flags(OFlag::O_RDONLY), Mode::empty())?;
                let to = openat(
                    dst.as_fd(),
                    name,
                    flags(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL),
                    Mode::from_bits_truncate(0o600),
                )?;
                let (mut reader, mut writer) = (File::from(from), File::from(to));
                // copy_file_range underneath: a reflink where the file system has them.
                io::copy(&mut reader, &mut writer)?;
                let (from, to) = (OwnedFd::from(reader), OwnedFd::from(writer));
                self.metadata(&st, &from, &to)?;
                if st.st_nlink > 1 {
                    self.links.insert(key, self.rel.clone());
                }
                Ok(())
            }
            libc::S_IFLNK => {
                remove_at(dst, name, 0)?;
                let target = nix::fcntl::readlinkat(src.as_fd(), name)?;
                nix::unistd::symlinkat(target.as_os_str(), dst.as_fd(), name)?;
                self.node_metadata(&st, dst, name, false)
            }
            libc::S_IFIFO | libc::S_IFCHR | libc::S_IFBLK => {
                if kind != libc::S_IFIFO && !privileged {
                    return Ok(()); // as the unprivileged unpacker: no device nodes
                }
                remove_at(dst, name, 0)?;
                let sflag = SFlag::from_bits_truncate(kind);
                nix::sys::stat::mknodat(dst.as_fd(), name, sflag, Mode::from_bits_truncate(0o600), st.st_rdev)?;
                self.node_metadata(&st, dst, name, true)
            }
            // Sockets: nothing an image can carry.
            _ => Ok(()),
        }
    }

    /// The owner (privileged, shifted), mode, xattrs and times of `st` on the open `to`.
    fn metadata(&self, st: &FileStat, from: &OwnedFd, to: &OwnedFd) -> io::Result<()> {
        if self.options.privileged {
            let (uid, gid) = self.owner(st);
            nix::unistd::fchown(to.as_fd(), Some(uid), Some(gid))?;
        }
        // After chown, which clears setuid bits and security.capability.
        nix::sys::stat::fchmod(
            to.as_fd(),
            Mode::from_bits_truncate(mode_bits(st, self.options.privileged)),
        )?;
        copy_xattrs(from, to, self.options.privileged)?;
        let (atime, mtime) = times(st);
        Ok(nix::sys::stat::futimens(to.as_fd(), &atime, &mtime)?)
    }

    /// The same for a symlink, fifo or device node at `name` in `dir` (no fd to hold).
    fn node_metadata(&self, st: &FileStat, dir: &OwnedFd, name: &OsStr, chmod: bool) -> io::Result<()> {
        if self.options.privileged {
            let (uid, gid) = self.owner(st);
            nix::unistd::fchownat(dir.as_fd(), name, Some(uid), Some(gid), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        }
        if chmod {
            // Just made as a fifo or device by mknodat in our private directory: not a symlink.
            let mode = Mode::from_bits_truncate(mode_bits(st, self.options.privileged));
            nix::sys::stat::fchmodat(dir.as_fd(), name, mode, nix::sys::stat::FchmodatFlags::FollowSymlink)?;
        }
        let (atime, mtime) = times(st);
        let flag = nix::sys::stat::UtimensatFlags::NoFollowSymlink;
        Ok(nix::sys::stat::utimensat(dir.as_fd(), name, &atime, &mtime, flag)?)
    }

    fn owner(&self, st: &FileStat) -> (Uid, Gid) {
        let shift = |maps: &[IdMap], id: u32| {
            maps.iter()
                .find(|m| id >= m.inside && id - m.inside < m.count)
                .map_or(id, |m| m.outside + (id - m.inside))
        };
        match &self.options.shift {
            Some((uids, gids)) => (
                Uid::from_raw(shift(uids, st.st_uid)),
                Gid::from_raw(shift(gids, st.st_gid)),
            ),
            None => (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid)),
        }
    }
}

fn mode_bits(st: &FileStat, privileged: bool) -> u32 {
    let mask = if privileged { 0o7777 } else { 0o1777 };
    st.st_mode & mask
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (
        TimeSpec::new(st.st_atime, st.st_atime_nsec),
        TimeSpec::new(st.st_mtime, st.st_mtime_nsec),
    )
}

fn flags(extra: OFlag) -> OFlag {
    extra | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK
}

/// A directory below `dir` (or a path), never through a symlink.
fn open_dir(dir: Option<&OwnedFd>, name: &OsStr) -> io::Result<OwnedFd> {
    let flags = flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY);
    Ok(match dir {
        Some(dir) => openat(dir.as_fd(), name, flags, Mode::empty())?,
        None => nix::fcntl::open(name, flags, Mode::empty())?,
    })
}

/// The names in the directory `dir` (without `.` and `..`).
fn names(dir: &OwnedFd) -> io::Result<Vec<OsString>> {
    let mut listing = nix::dir::Dir::openat(
        dir.as_fd(),
        ".",
        flags(OFlag::O_RDONLY | OFlag::O_DIRECTORY),
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for entry in listing.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsString::from_vec(name));
        }
    }
    Ok(names)
}

/// Removes `name` in `dir`, a whole tree if it is a directory; nothing followed. Missing: done.
fn remove_at(dir: &OwnedFd, name: &OsStr, depth: usize) -> io::Result<()> {
    let st = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => return Ok(()),
        other => other?,
    };
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        let child = open_dir(Some(dir), name)?;
        nix::sys::stat::fchmod(child.as_fd(), Mode::from_bits_truncate(0o700))?;
        empty(&child, depth + 1)?;
        return Ok(nix::unistd::unlinkat(
            dir.as_fd(),
            name,
            nix::unistd::UnlinkatFlags::RemoveDir,
        )?);
    }
    Ok(nix::unistd::unlinkat(
        dir.as_fd(),
        name,
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    )?)
}

/// Removes everything in `dir`.
fn empty(dir: &OwnedFd, depth: usize) -> io::Result<()> {
    if depth >= MAX_DEPTH {
        return Err(io::Error::other(format!("deeper than {MAX_DEPTH} directories")));
    }
    for name in names(dir)? {
        remove_at(dir, &name, depth)?;
    }
    Ok(())
}

fn is_opaque(dir: &OwnedFd) -> bool {
    let mut value = [0u8; 2];
    // SAFETY: the name is NUL-terminated and value is writable for its length.
    let n = unsafe {
        libc::fgetxattr(
            dir.as_raw_fd(),
            c"user.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    n == 1 && value[0] == b'y'
}

/// The extended attributes of `from` set on `to`: `user.*` always, the others (file
/// capabilities, ACLs) only privileged; overlayfs' own (`*.overlay.*`) never.
fn copy_xattrs(from: &OwnedFd, to: &OwnedFd, privileged: bool) -> io::Result<()> {
    let list = xattr_call(|buf, len| {
        // SAFETY: buf is writable for len bytes (or NULL with len 0, a size query).
        unsafe { libc::flistxattr(from.as_raw_fd(), buf.cast(), len) }
    })?;
    for name in list.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let text = String::from_utf8_lossy(name);
        let overlay = text.starts_with("user.overlay.") || text.starts_with("trusted.overlay.");
        if overlay || (!privileged && !text.starts_with("user.")) {
            continue;
        }
        let name = CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let value = xattr_call(|buf, len| {
            // SAFETY: name is NUL-terminated; buf is writable for len bytes (or a size query).
            unsafe { libc::fgetxattr(from.as_raw_fd(), name.as_ptr(), buf.cast(), len) }
        })?;
        set_xattr(to, &name, &value)?;
    }
    Ok(())
}

fn set_xattr(to: &OwnedFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: name is NUL-terminated and value readable for its length.
    let r = unsafe { libc::fsetxattr(to.as_raw_fd(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    if r < 0 {
        let e = io::Error::last_os_error();
        // A file system without xattrs of that namespace: what the store could not keep
        // either (the unpacker skips them the same way).
        if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
            return Err(e);
        }
    }
    Ok(())
}

/// Calls a size-query-then-fill xattr function until the value fits (it may grow between).
fn xattr_call(mut call: impl FnMut(*mut u8, usize) -> libc::ssize_t) -> io::Result<Vec<u8>> {
    for _ in 0..4 {
        let size = call(std::ptr::null_mut(), 0);
        if size < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => Ok(Vec::new()),
                _ => Err(e),
            };
        }
        let mut buf = vec![0u8; size as usize];
        let got = call(buf.as_mut_ptr(), buf.len());
        if got >= 0 {
            buf.truncate(got as usize);
            return Ok(buf);
        }
        if io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) {
            return Err(io::Error::last_os_error());
        }
    }
    Err(io::Error::from_raw_os_error(libc::ERANGE))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn whiteout(path: &Path) -> bool {
        let c = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: c is NUL-terminated.
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, 0) == 0 }
    }

    fn opaque(dir: &Path) {
        let c = CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: both strings are NUL-terminated and the value is one byte.
        let r = unsafe { libc::setxattr(c.as_ptr(), c"user.overlay.opaque".as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        assert_eq!(r, 0, "setxattr {}", dir.display());
    }

    fn read(path: &Path) -> Option<String> {
        std::fs::read_to_string(path).ok()
    }

    /// Three layers in the store's format flattened as overlayfs shows them; links copied as
    /// links, never followed out of the tree; nothing outside touched.
    #[test]
    fn layers_flatten_as_the_overlay_shows_them_and_nothing_is_followed() {
        let base = tempfile::tempdir().unwrap();
        let (low, mid, top) = (
            base.path().join("low"),
            base.path().join("mid"),
            base.path().join("top"),
        );
        let outside = base.path().join("outside");
        write(&outside.join("secret"), "outside");
        write(&low.join("etc/passwd"), "low");
        write(&low.join("etc/group"), "low");
        write(&low.join("opt/app/conf"), "low");
        write(&low.join("bin/tool"), "tool");
        std::fs::hard_link(low.join("bin/tool"), low.join("bin/tool2")).unwrap();
        symlink(&outside, low.join("srv")).unwrap();
        symlink(outside.join("secret"), low.join("etc/secret")).unwrap();
        std::fs::create_dir_all(low.join("ro")).unwrap();
        std::fs::set_permissions(low.join("ro"), std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        write(&mid.join("etc/passwd"), "mid");
        std::fs::create_dir_all(mid.join("opt/app")).unwrap();
        opaque(&mid.join("opt/app"));
        write(&mid.join("opt/app/new"), "mid");
        // Over a lower symlink: a directory, whose file must land in the copy, not outside.
        write(&mid.join("srv/x"), "mid");
        write(&mid.join("ro/added"), "mid");
        std::fs::set_permissions(mid.join("ro"), std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
        std::fs::create_dir_all(top.join("etc")).unwrap();
        let whiteouts = whiteout(&top.join("etc/group"));
        let layers = [low.clone(), mid.clone(), top.clone()];
        let dest = base.path().join("copy");
        copy_layers(&layers, &dest, &CopyOptions::default()).unwrap();

        assert_eq!(read(&dest.join("etc/passwd")).as_deref(), Some("mid"));
        if whiteouts {
            assert!(!dest.join("etc/group").exists(), "whited out");
        }
        assert!(!dest.join("opt/app/conf").exists(), "below an opaque directory");
        assert_eq!(read(&dest.join("opt/app/new")).as_deref(), Some("mid"));
        assert_eq!(read(&dest.join("srv/x")).as_deref(), Some("mid"));
        assert!(std::fs::symlink_metadata(dest.join("srv")).unwrap().is_dir());
        assert_eq!(read(&outside.join("x")), None, "written outside through a symlink");
        assert_eq!(
            std::fs::read_link(dest.join("etc/secret")).unwrap(),
            outside.join("secret"),
            "a symlink is copied as it is"
        );
        assert_eq!(read(&dest.join("ro/added")).as_deref(), Some("mid"));
        assert_eq!(
            std::fs::metadata(dest.join("ro")).unwrap().mode() & 0o777,
            0o555,
            "mid's mode"
        );
        let (a, b) = (
            std::fs::metadata(dest.join("bin/tool")).unwrap(),
            std::fs::metadata(dest.join("bin/tool2")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino(), "a hard-link group stays one");
        assert_ne!(
            a.ino(),
            std::fs::metadata(low.join("bin/tool")).unwrap().ino(),
            "a copy, not a link"
        );
        assert_eq!(read(&outside.join("secret")).as_deref(), Some("outside"));
        // The layers are unchanged.
        assert_eq!(read(&low.join("opt/app/conf")).as_deref(), Some("low"));
        assert_eq!(read(&low.join("etc/group")).as_deref(), Some("low"));
        crate::store::remove_root_copy(&dest).unwrap();
        assert!(!dest.exists());
    }

    #[test]
    fn setuid_bits_are_dropped_unprivileged_and_kept_privileged() {
        let base = tempfile::tempdir().unwrap();
        let low = base.path().join("low");
        write(&low.join("bin/su"), "su");
        std::fs::set_permissions(low.join("bin/su"), std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
        let plain = base.path().join("plain");
        copy_layers(std::slice::from_ref(&low), &plain, &CopyOptions::default()).unwrap();
        assert_eq!(std::fs::metadata(plain.join("bin/su")).unwrap().mode() & 0o7777, 0o755);
        if nix::unistd::geteuid().is_root() {
            let kept = base.path().join("kept");
            let options = CopyOptions {
                privileged: true,
                shift: Some((vec![IdMap::new(0, 100000, 65536)], vec![IdMap::new(0, 100000, 65536)])),
            };
            copy_layers(std::slice::from_ref(&low), &kept, &options).unwrap();
            let su = std::fs::metadata(kept.join("bin/su")).unwrap();
            assert_eq!(su.mode() & 0o7777, 0o4755);
            assert_eq!((su.uid(), su.gid()), (100000, 100000), "shifted through the maps");
        }
    }

    #[test]
    fn a_tree_deeper_than_the_bound_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let low = base.path().join("low");
        let mut deep = low.clone();
        for _ in 0..MAX_DEPTH + 1 {
            deep.push("d");
        }
        std::fs::create_dir_all(&deep).unwrap();
        let err = copy_layers(&[low], &base.path().join("copy"), &CopyOptions::default()).unwrap_err();
        assert!(err.to_string().contains("deeper than"), "{err}");
    }
}
