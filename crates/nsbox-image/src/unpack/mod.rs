//! Unpacking one image layer (an uncompressed tar stream) safely. (API agreed for issue 14; the
//! implementation lands with its tests.)

use std::io::Read;
use std::path::{Path, PathBuf};

/// How a layer is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Into its own empty directory, as one overlayfs lower layer: a whiteout `.wh.name` becomes
    /// a 0:0 character device `name`, an opaque marker `.wh..wh..opq` the xattr
    /// `user.overlay.opaque=y` on its directory (mounted with `userxattr`, root and rootless
    /// alike).
    OverlayLayer,
    /// Onto the tree of the layers below (a flattened root, for hosts without overlayfs): a
    /// whiteout removes the entry, an opaque marker empties the directory.
    Flatten,
}

/// Bounds on one layer; beyond any, unpacking fails with a typed error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_entries: u64,
    pub max_name_len: usize,
    pub max_path_len: usize,
    pub max_total_size: u64,
}

/// What the unpacker may do besides plain files, directories and symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    pub limits: Limits,
    /// Owners, device nodes, setuid/setgid bits and `security.*`/`trusted.*` xattrs are
    /// applied (a root-owned store); otherwise they are skipped and listed in the report.
    pub privileged: bool,
}

/// What one layer held and what was not applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub bytes: u64,
    /// Entries (or attributes) skipped because the unpacker was not privileged.
    pub skipped: Vec<PathBuf>,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {path:?}: {reason}")]
    Refused { path: PathBuf, reason: String },
    #[error("layer exceeds its limit: {0}")]
    Limit(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Applies the layer `tar` onto the directory `root` (see [`Mode`]). Every path resolves under
/// `root` without following symlinks; nothing outside it is ever touched.
pub fn apply_layer(tar: impl Read, root: &Path, options: &Options) -> Result<Report, UnpackError> {
    let _ = (tar, root, options);
    unimplemented!("lands with the unpacker")
}
