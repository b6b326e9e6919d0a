//! Mounts the caller adds to a container: bind mounts, tmpfs and procfs.

use std::path::{Path, PathBuf};

/// A filesystem to mount inside the container, at an absolute path of the container.
///
/// Mount points that do not exist are created inside the rootfs (never through a symlink, never
/// outside the rootfs). On the host root, which is read-only, only existing paths and new
/// top-level directories can be mount points.
///
/// ```
/// use nsbox::Mount;
/// let data = Mount::bind("/srv/data", "/data").read_only();
/// let scratch = Mount::tmpfs("/scratch").size(64 << 20);
/// assert!(data.is_read_only());
/// # let _ = scratch;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub(crate) kind: MountKind,
    pub(crate) target: PathBuf,
    pub(crate) read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountKind {
    Bind { source: PathBuf, recursive: bool },
    Tmpfs { size: Option<u64>, mode: u32 },
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
