//! Where a container's root filesystem comes from.

use std::path::{Path, PathBuf};

/// The root filesystem a container sees after `pivot_root`.
///
/// The default, [`Rootfs::host`], needs nothing prepared: the host's own directories, bound
/// read-only, with a fresh `/proc`, `/dev`, `/sys`, `/tmp` and `/run`.
///
/// ```
/// use nsbox::Rootfs;
/// let _host = Rootfs::host();
/// let _busybox = Rootfs::dir("/var/lib/fixtures/busybox");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rootfs(pub(crate) RootfsKind);

#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum RootfsKind {
    #[default]
    Host,
    Dir(#[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))] PathBuf),
    Overlay(Overlay),
}

/// A copy-on-write root: read-only lower directories under an upper that takes the writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Overlay {
    /// Top layer first, as overlayfs' `lowerdir=` lists them.
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::vec_path"))]
    pub lower: Vec<PathBuf>,
    pub upper: Upper,
}

/// Where an overlay root ([`Rootfs::overlay`]) keeps what the container writes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum Upper {
    /// A tmpfs the container's mount namespace holds: the writes vanish with the container.
    /// `size` in bytes (`None`: the profile's `/tmp` size, see
    /// [`ContainerBuilder::tmp_size`](crate::ContainerBuilder::tmp_size)).
    Tmpfs {
        /// The tmpfs' size in bytes.
        size: Option<u64>,
    },
    /// A directory the caller keeps (for a `commit`-like use): nsbox makes `upper/` (the
    /// container's changes, in overlayfs' format: whiteouts are 0:0 character devices, opaque
    /// directories carry `user.overlay.opaque`) and `work/` (overlayfs' scratch space) in it.
    /// In a user namespace both are given to the container's root, so the files the container
    /// writes belong on the host to the id its root is mapped to. `upper/` is made 0700, or
    /// given the top layer's root mode when `dir` itself is private (0700): the container's
    /// root takes the mode of `upper/`. One container at a time.
    Dir(#[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))] PathBuf),
}

impl Default for Upper {
    fn default() -> Self {
        Upper::Tmpfs { size: None }
    }
}

impl Rootfs {
    /// The host paths [`Profile::Sandbox`](crate::Profile) hides on the host root (see
    /// [`ContainerBuilder::hide_host_paths`](crate::ContainerBuilder::hide_host_paths)): the
    /// trees host programs write to and keep their Unix sockets in (a read-only mount does not
    /// stop `connect(2)`, and a network namespace does not cover path-bound sockets), and the
    /// users' homes. `/tmp`, `/run` (with `/var/run`) and `/dev/shm` are the container's own on
    /// any host root and are listed so that the list says the whole rule.
    pub const SANDBOX_HIDDEN: &'static [&'static str] = &[
        "/tmp",
        "/run",
        "/var/run",
        "/dev/shm",
        "/var/tmp",
        "/home",
        "/root",
        "/var/lib",
        "/var/spool",
        "/var/mail",
        "/var/cache",
        "/var/log",
        "/mnt",
        "/media",
        "/srv",
    ];

    /// The host's root, every top-level directory bound read-only into a fresh tmpfs root.
    /// `/proc`, `/dev`, `/sys`, `/tmp` and `/run` are the container's own, never the host's.
    pub fn host() -> Self {
        Rootfs(RootfsKind::Host)
    }

    /// A directory tree (for example an unpacked busybox or distribution root).
    pub fn dir(path: impl AsRef<Path>) -> Self {
        Rootfs(RootfsKind::Dir(path.as_ref().to_path_buf()))
    }

    /// A copy-on-write root over `lower_dirs`, the **top layer first** (the order of overlayfs'
    /// `lowerdir=`: a file in an earlier directory hides the same name in later ones), with
    /// `upper` taking what the container writes. Nothing is ever written into a lower
    /// directory: the mount points nsbox needs that the layers lack are made in the upper too.
    ///
    /// The root is writable by default (like Docker's container layer);
    /// [`read_only_root(true)`](crate::ContainerBuilder::read_only_root) mounts the overlay
    /// read-only once nsbox's mount points are made. Needs overlayfs with `userxattr` (Linux
    /// 5.11; [`preflight`](crate::preflight) reports it): the layers' opaque directories are
    /// read from `user.overlay.opaque`, also for a container without a user namespace, so one
    /// store serves root and rootless alike. At most [`Rootfs::MAX_LAYERS`] layers.
    ///
    /// ```
    /// use nsbox::{Rootfs, Upper};
    /// let _root = Rootfs::overlay(["/store/layer2", "/store/layer1"], Upper::Tmpfs { size: None });
    /// ```
    pub fn overlay(lower_dirs: impl IntoIterator<Item = impl Into<PathBuf>>, upper: Upper) -> Self {
        Rootfs(RootfsKind::Overlay(Overlay {
            lower: lower_dirs.into_iter().map(Into::into).collect(),
            upper,
        }))
    }

    /// The most lower directories an overlay root may have (Docker's limit; the kernel's is
    /// 500, and every layer costs a path in the child's fixed buffers).
    pub const MAX_LAYERS: usize = 128;

    /// Whether this is an overlay root ([`Rootfs::overlay`]).
    pub fn is_overlay(&self) -> bool {
        matches!(self.0, RootfsKind::Overlay(_))
    }

    /// An overlay root's lower directories, top first.
    pub fn overlay_layers(&self) -> Option<&[PathBuf]> {
        match &self.0 {
            RootfsKind::Overlay(o) => Some(&o.lower),
            _ => None,
        }
    }

    /// An overlay root's upper.
    pub fn overlay_upper(&self) -> Option<&Upper> {
        match &self.0 {
            RootfsKind::Overlay(o) => Some(&o.upper),
            _ => None,
        }
    }

    /// Whether this is the host root.
    pub fn is_host(&self) -> bool {
        matches!(self.0, RootfsKind::Host)
    }
}
