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
        }
    }

    /// A procfs of the container's PID namespace at `target`.
    pub fn proc(target: impl AsRef<Path>) -> Self {
        Mount {
            kind: MountKind::Proc,
            target: target.as_ref().to_path_buf(),
            read_only: false,
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
