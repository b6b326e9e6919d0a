//! Mounts the caller adds to a container: bind mounts, tmpfs and procfs.

use std::path::{Path, PathBuf};

/// A filesystem to mount inside the container, at an absolute path of the container.
///
/// The target may be any absolute path, existing or not, nested or not, on the host root or in
/// a [`Rootfs::dir`](crate::Rootfs::dir). A missing mount point is never created on the host or
/// in a read-only rootfs directory (the default): the nearest existing directory is covered by
/// a tmpfs with its entries bound back and the new mount point made there (a *shadow*, sealed
/// read-only; see docs/architecture.md). A writable rootfs directory
/// ([`read_only_root(false)`](crate::ContainerBuilder::read_only_root)) is the payload's to
/// write: missing mount points are made in it, as runc makes them. In nsbox's own tmpfs mounts (`/tmp`, `/run`, `/dev`, a
/// [`Mount::tmpfs`]) and in a writable [`Mount::bind`] of the caller's, missing directories
/// (and an empty file for a file bind) are created there, as Docker does for volumes.
///
/// Symlinks in the target are followed as the payload would see them, inside the root (an
/// absolute link starts at the container's root); one climbing above the root with `..` is
/// refused: the spawn fails with [`SetupError`](crate::SetupError) `ELOOP` naming the target.
/// Every mount failure names the target as given here.
///
/// ```
/// use nsbox::Mount;
/// let data = Mount::bind("/srv/data", "/data").read_only();
/// let scratch = Mount::tmpfs("/scratch").size(64 << 20);
/// assert!(data.is_read_only());
/// # let _ = scratch;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Mount {
    pub(crate) kind: MountKind,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))]
    pub(crate) target: PathBuf,
    pub(crate) read_only: bool,
    /// Per-mount flags and propagation (issue 16, mounts).
    #[cfg_attr(feature = "serde", serde(default))]
    pub(crate) flags: MountFlags,
    /// The id maps of an idmapped bind (issue 16, idmapped mounts; see `mount_idmap.rs`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub(crate) idmap: Option<crate::mount_idmap::MountIdMap>,
}

/// How a mount updates access times: `mount(8)`'s `relatime`, `noatime` and `strictatime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Atime {
    /// `relatime`: the kernel's default; updated when older than the modification time or a
    /// day old.
    Relative,
    /// `noatime`: never updated.
    Never,
    /// `strictatime`: updated on every access.
    Strict,
}

/// The propagation type of a bind mount ([mount_namespaces(7)]), within the container.
///
/// Every mount of a container is private to begin with (nsbox makes the container's whole
/// mount namespace private before mounting anything), so no propagation crosses between the
/// host and a container, unless
/// [`receive_host_mounts`](crate::ContainerBuilder::receive_host_mounts) makes them slaves.
///
/// [mount_namespaces(7)]: https://man7.org/linux/man-pages/man7/mount_namespaces.7.html
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Propagation {
    /// `private`: the default.
    Private,
    /// `shared`: a peer group of its own; mounts made under it appear under its binds in the
    /// container and the other way round.
    Shared,
    /// `unbindable`: private, and refused as the source of a bind.
    Unbindable,
    /// `slave`: receives the mounts and unmounts of the source's peer group, sends none.
    /// Only meaningful with
    /// [`receive_host_mounts`](crate::ContainerBuilder::receive_host_mounts) (then the host's
    /// later mounts under the source reach the bind); otherwise the same as private.
    Slave,
}

/// The flags of one [`Mount`] beyond read-only (`Default`: none asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub(crate) struct MountFlags {
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    /// A tmpfs without nosuid or nodev (nsbox sets both by default).
    pub allow_suid: bool,
    pub allow_devices: bool,
    pub atime: Option<Atime>,
    pub no_diratime: bool,
    /// The propagation type and whether every mount of a recursive bind gets it.
    pub propagation: Option<(Propagation, bool)>,
}

/// `mount(2)`'s per-mount `MS_*` flags and the `MOUNT_ATTR_*` (`mount_setattr(2)`,
/// `fsmount(2)`) that mean the same; relatime, whose attribute is 0, aside.
pub(crate) const MS_AND_ATTRS: [(libc::c_ulong, u64); 7] = [
    (libc::MS_RDONLY, libc::MOUNT_ATTR_RDONLY),
    (libc::MS_NOSUID, libc::MOUNT_ATTR_NOSUID),
    (libc::MS_NODEV, libc::MOUNT_ATTR_NODEV),
    (libc::MS_NOEXEC, libc::MOUNT_ATTR_NOEXEC),
    (libc::MS_NODIRATIME, libc::MOUNT_ATTR_NODIRATIME),
    (libc::MS_NOATIME, libc::MOUNT_ATTR_NOATIME),
    (libc::MS_STRICTATIME, libc::MOUNT_ATTR_STRICTATIME),
];

impl MountFlags {
    /// The `MOUNT_ATTR_*` bits to set and to clear (`mount_setattr(2)`), read-only aside.
    pub(crate) fn attrs(&self, tmpfs: bool) -> (u64, u64) {
        let mut set = 0;
        let mut clear = 0;
        if self.nosuid || (tmpfs && !self.allow_suid) {
            set |= libc::MOUNT_ATTR_NOSUID;
        }
        if self.nodev || (tmpfs && !self.allow_devices) {
            set |= libc::MOUNT_ATTR_NODEV;
        }
        if self.noexec {
            set |= libc::MOUNT_ATTR_NOEXEC;
        }
        if self.no_diratime {
            set |= libc::MOUNT_ATTR_NODIRATIME;
        }
        if let Some(atime) = self.atime {
            clear |= libc::MOUNT_ATTR__ATIME;
            set |= match atime {
                Atime::Relative => libc::MOUNT_ATTR_RELATIME,
                Atime::Never => libc::MOUNT_ATTR_NOATIME,
                Atime::Strict => libc::MOUNT_ATTR_STRICTATIME,
            };
        }
        (set, clear)
    }

    /// The same as `mount(2)` flags (a fresh mount: nothing to clear).
    pub(crate) fn ms_flags(&self, tmpfs: bool) -> libc::c_ulong {
        let (set, _) = self.attrs(tmpfs);
        let mut flags = MS_AND_ATTRS
            .iter()
            .filter(|(_, attr)| set & attr != 0)
            .fold(0, |f, (ms, _)| f | ms);
        if self.atime == Some(Atime::Relative) {
            flags |= libc::MS_RELATIME;
        }
        flags
    }

    /// The `MS_*` propagation flag, with `MS_REC` when recursive; 0 for none asked.
    pub(crate) fn propagation_flags(&self) -> libc::c_ulong {
        match self.propagation {
            None => 0,
            Some((p, recursive)) => {
                let flag = match p {
                    Propagation::Private => libc::MS_PRIVATE,
                    Propagation::Shared => libc::MS_SHARED,
                    Propagation::Unbindable => libc::MS_UNBINDABLE,
                    Propagation::Slave => libc::MS_SLAVE,
                };
                flag | if recursive { libc::MS_REC } else { 0 }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum MountKind {
    /// `follow`: `Some(false)` opens the source without following any symlink, `Some(true)`
    /// follows them, `None` leaves it to the builder ([`bind_no_follow`]).
    ///
    /// [`bind_no_follow`]: crate::ContainerBuilder::bind_no_follow
    Bind {
        #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))]
        source: PathBuf,
        recursive: bool,
        follow: Option<bool>,
    },
    Tmpfs {
        size: Option<u64>,
        mode: u32,
    },
    Proc,
    /// The container's own cgroups (issue 16, mounts).
    Cgroup,
}

impl Mount {
    /// Binds the host path `source` (a directory or a file) at `target`, with every mount below
    /// it (a recursive bind, like `mount --rbind`).
    pub fn bind(source: impl AsRef<Path>, target: impl AsRef<Path>) -> Self {
        Mount {
            kind: MountKind::Bind {
                source: source.as_ref().to_path_buf(),
                recursive: true,
                follow: None,
            },
            target: target.as_ref().to_path_buf(),
            read_only: false,
            flags: MountFlags::default(),
            idmap: None,
        }
    }

    /// A fresh, empty tmpfs at `target` (mode 1777 unless [`Mount::mode`] says otherwise).
    pub fn tmpfs(target: impl AsRef<Path>) -> Self {
        Mount {
            kind: MountKind::Tmpfs {
                size: None,
                mode: 0o1777,
            },
            target: target.as_ref().to_path_buf(),
            read_only: false,
            flags: MountFlags::default(),
            idmap: None,
        }
    }

    /// A procfs of the container's PID namespace at `target`.
    pub fn proc(target: impl AsRef<Path>) -> Self {
        Mount {
            kind: MountKind::Proc,
            target: target.as_ref().to_path_buf(),
            read_only: false,
            flags: MountFlags::default(),
            idmap: None,
        }
    }

    /// The container's own cgroups as a cgroup filesystem at `target` (usually
    /// `/sys/fs/cgroup`), as runc mounts one: the container gets a cgroup (as with
    /// [`cgroup`](crate::ContainerBuilder::cgroup)), and sees that cgroup, not the host's tree.
    ///
    /// On a cgroup v2 host its v2 directory is bound at `target`. On a v1 or hybrid host a
    /// tmpfs is mounted at `target` with, for each v1 hierarchy the container has a cgroup in,
    /// its directory bound at a directory named after the hierarchy's controllers
    /// (`cpu,cpuacct`, with `cpu` and `cpuacct` symlinks to it), and the v2 directory at
    /// `unified` (hybrid). Hierarchies the container has no cgroup in (those nsbox neither
    /// limits nor accounts with) are not shown: their root would be the caller's cgroup.
    /// `nosuid` and `nodev` unless [`allow_suid`](Self::allow_suid) or
    /// [`allow_devices`](Self::allow_devices); [`read_only`](Self::read_only) makes the tmpfs
    /// and every directory in it read-only. Writable, it lets a payload with the permission
    /// change its own cgroup's limits (as under runc): make it read-only for untrusted code.
    ///
    /// ```
    /// use nsbox::Mount;
    /// let _cgroupfs = Mount::cgroup("/sys/fs/cgroup").read_only().noexec();
    /// ```
    pub fn cgroup(target: impl AsRef<Path>) -> Self {
        Mount {
            kind: MountKind::Cgroup,
            target: target.as_ref().to_path_buf(),
            read_only: false,
            flags: MountFlags::default(),
            idmap: None,
        }
    }

    /// Makes the mount read-only (for a bind: every mount below it too).
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// Binds only the source mount itself, not the mounts below it.
    pub fn non_recursive(mut self) -> Self {
        if let MountKind::Bind { recursive, .. } = &mut self.kind {
            *recursive = false;
        }
        self
    }

    /// Opens a bind's source without following symlinks: a symlink in any component of the
    /// source path fails the spawn with a [`SetupError`](crate::SetupError) at step
    /// [`BindMount`](crate::SetupStep::BindMount), naming the source, with `ELOOP`.
    ///
    /// For sources under a directory a container can write to (a shared volume): a container
    /// that replaced `vol/sub` with a symlink to a host directory would otherwise get that
    /// directory bound into the next container bound to `vol/sub`. Resolved with
    /// `openat2(RESOLVE_NO_SYMLINKS)`, or one `O_NOFOLLOW` component at a time where the
    /// kernel has no openat2. The default under [`Profile::Sandbox`](crate::Profile::Sandbox),
    /// see [`bind_no_follow`](crate::ContainerBuilder::bind_no_follow). No effect on other kinds.
    pub fn no_follow(mut self) -> Self {
        if let MountKind::Bind { follow, .. } = &mut self.kind {
            *follow = Some(false);
        }
        self
    }

    /// Follows symlinks in a bind's source path, whatever the builder's
    /// [`bind_no_follow`](crate::ContainerBuilder::bind_no_follow) says: for a source the
    /// caller knows to be a symlink no container can replace. No effect on other kinds.
    pub fn follow_symlinks(mut self) -> Self {
        if let MountKind::Bind { follow, .. } = &mut self.kind {
            *follow = Some(true);
        }
        self
    }

    /// Limits a tmpfs to `bytes` (rounded up to whole pages by the kernel). No effect on
    /// other kinds.
    pub fn size(mut self, bytes: u64) -> Self {
        if let MountKind::Tmpfs { size, .. } = &mut self.kind {
            *size = Some(bytes);
        }
        self
    }

    /// Sets the permission bits of a tmpfs root. No effect on other kinds.
    pub fn mode(mut self, bits: u32) -> Self {
        if let MountKind::Tmpfs { mode, .. } = &mut self.kind {
            *mode = bits;
        }
        self
    }

    /// Sets `nosuid`: set-user-ID and set-group-ID bits and file capabilities are ignored
    /// (for a recursive bind, on every mount of it). A tmpfs has it unless
    /// [`allow_suid`](Self::allow_suid).
    pub fn nosuid(mut self) -> Self {
        self.flags.nosuid = true;
        self.flags.allow_suid = false;
        self
    }

    /// Sets `nodev`: device nodes do not open (for a recursive bind, on every mount of it). A
    /// tmpfs has it unless [`allow_devices`](Self::allow_devices).
    pub fn nodev(mut self) -> Self {
        self.flags.nodev = true;
        self.flags.allow_devices = false;
        self
    }

    /// Sets `noexec`: nothing on the mount executes (for a recursive bind, on every mount of
    /// it).
    pub fn noexec(mut self) -> Self {
        self.flags.noexec = true;
        self
    }

    /// A tmpfs without `nosuid`, which nsbox sets on every tmpfs otherwise: for an engine's
    /// bundle that says exactly which flags it wants. No effect on other kinds (a bind keeps
    /// the flags of its source, which nsbox never clears: in a user namespace they may be
    /// locked).
    ///
    /// ```
    /// use nsbox::Mount;
    /// let _suid_allowed = Mount::tmpfs("/opt/tools").allow_suid();
    /// ```
    pub fn allow_suid(mut self) -> Self {
        self.flags.allow_suid = true;
        self.flags.nosuid = false;
        self
    }

    /// A tmpfs without `nodev`, which nsbox sets on every tmpfs otherwise. No effect on other
    /// kinds.
    pub fn allow_devices(mut self) -> Self {
        self.flags.allow_devices = true;
        self.flags.nodev = false;
        self
    }

    /// How access times are updated (for a recursive bind, on every mount of it). Unset: the
    /// source's way for a bind, the kernel's default (`relatime`) for a fresh mount.
    ///
    /// ```
    /// use nsbox::{Atime, Mount};
    /// let _cache = Mount::bind("/srv/cache", "/cache").atime(Atime::Never).noexec();
    /// ```
    pub fn atime(mut self, atime: Atime) -> Self {
        self.flags.atime = Some(atime);
        self
    }

    /// Sets `nodiratime`: directories' access times are not updated.
    pub fn no_diratime(mut self) -> Self {
        self.flags.no_diratime = true;
        self
    }

    /// The propagation type of a bind's own mount (the mount at the target), set once it is
    /// attached. No effect on other kinds.
    pub fn propagation(mut self, propagation: Propagation) -> Self {
        if matches!(self.kind, MountKind::Bind { .. }) {
            self.flags.propagation = Some((propagation, false));
        }
        self
    }

    /// The propagation type of every mount of a bind (`mount --make-r*`). No effect on other
    /// kinds.
    pub fn propagation_recursive(mut self, propagation: Propagation) -> Self {
        if matches!(self.kind, MountKind::Bind { .. }) {
            self.flags.propagation = Some((propagation, true));
        }
        self
    }

    /// The path inside the container.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The host path of a bind mount.
    pub fn source(&self) -> Option<&Path> {
        match &self.kind {
            MountKind::Bind { source, .. } => Some(source),
            _ => None,
        }
    }

    /// Whether the mount is read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }
}
