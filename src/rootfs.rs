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

    /// Whether this is the host root.
    pub fn is_host(&self) -> bool {
        matches!(self.0, RootfsKind::Host)
    }
}
