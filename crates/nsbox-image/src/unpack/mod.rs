//! Unpacking one image layer (an uncompressed tar stream) safely.
//!
//! The `tar` crate only *reads* the stream (headers, PAX records, GNU long names); every file
//! operation is ours, relative to directory fds inside the layer root:
//!
//! - names are normalised (leading `/` and `./`, empty and `.` components dropped) and refused
//!   with a typed [`Refusal`] when they hold `..`, a NUL byte, or nothing;
//! - each parent directory is opened under the root fd with `openat2(RESOLVE_IN_ROOT |
//!   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`, or one `O_NOFOLLOW` component at a time
//!   where the kernel has no openat2: a symlink on the way is refused, never followed;
//! - the last component is created relative to that parent fd (`O_CREAT|O_EXCL|O_NOFOLLOW`,
//!   `mkdirat`, `symlinkat`, `mknodat`, `linkat` with both fds);
//! - a header's size is checked against [`Limits`] before its body is read, and the bytes of
//!   metadata before each entry are bounded ([`MAX_ENTRY_METADATA`]).
//!
//! Known unpacker bugs this avoids, each with a test in `tests/unpack.rs`: CVE-2021-29136
//! (umoci: the root replaced by a symlink), CVE-2021-32760 (containerd: a chmod through a
//! symlink), CVE-2025-62518 (tokio-tar: a PAX size the ustar header disagrees with).
//!
//! On error, [`apply_layer`] leaves a partial tree inside `root` (never anything outside):
//! unpack into a temporary directory and rename it into place only on success.

mod attrs;
mod create;
mod created;
mod deferred;
mod entry;
mod error;
mod hardlink;
mod layer;
mod meter;
mod name;
mod remove;
mod resolve;
mod sys;
mod whiteout;

use std::io::Read;
use std::path::{Path, PathBuf};

pub use error::{Exceeded, LimitKind, Refusal};
pub(crate) use layer::Owner;

/// The most components one entry's name may have (`a/b/c` has 3): a layer of deep names would
/// make that many directories per entry. Real trees stay far below (Debian's deepest paths
/// have about 15).
pub const MAX_DEPTH: usize = 128;

/// The bytes of headers, PAX records and GNU long names the reader may hold before one entry:
/// past it a layer fails with [`LimitKind::EntryMetadata`]. Real entries need a few KiB
/// (a long path, a few xattrs); the bound keeps a PAX header claiming gigabytes out of memory.
pub const MAX_ENTRY_METADATA: u64 = 1 << 20;

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

/// Bounds on one layer; beyond any, unpacking fails with a typed error
/// ([`UnpackError::Limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Entries in the stream, whiteouts and PAX global headers included.
    pub max_entries: u64,
    /// Bytes in one name component (the kernel's `NAME_MAX` is 255).
    pub max_name_len: usize,
    /// Bytes in a whole normalised name, and in a symlink or hard link target.
    pub max_path_len: usize,
    /// Sum of the entries' sizes (a sparse file counts its full size), checked against each
    /// header before its body is read.
    pub max_total_size: u64,
}

impl Default for Limits {
    /// Generous for real images (a Debian layer holds ~10k entries and ~100 MiB, the largest
    /// images a few hundred thousand entries and tens of GiB): 1 Mi entries, 255-byte names,
    /// 4096-byte paths, 64 GiB of content.
    fn default() -> Self {
        Self {
            max_entries: 1 << 20,
            max_name_len: 255,
            max_path_len: 4096,
            max_total_size: 64 << 30,
        }
    }
}

/// What the unpacker may do besides plain files, directories and symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub mode: Mode,
    pub limits: Limits,
    /// Owners, device nodes, setuid/setgid bits and `security.*`/`trusted.*`/`system.*`
    /// xattrs are applied (a root-owned store); otherwise they are skipped and listed in the
    /// report (owners are not listed: unprivileged, every file belongs to the caller).
    pub privileged: bool,
}

/// What one layer held and what was not applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: u64,
    pub bytes: u64,
    /// Entries (or attributes) skipped because the unpacker was not privileged, or because
    /// they are reserved (an `*.overlay.*` xattr in the archive): each path once, in order.
    pub skipped: Vec<PathBuf>,
    /// What was skipped on each of those paths.
    pub skips: Vec<Skip>,
}

/// One thing not applied, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub path: PathBuf,
    pub what: Skipped,
}

/// What was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// A character or block device (unprivileged).
    DeviceNode,
    /// The setuid/setgid bits of the mode (unprivileged); the rest of the mode is applied.
    SetIdBits,
    /// An xattr: `security.*`, `trusted.*`, `system.*` unprivileged, an unknown namespace, or
    /// `user.overlay.*`/`trusted.overlay.*` ever (only whiteouts may set overlay's xattrs).
    Xattr(String),
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("layer entry {path:?}: {reason}")]
    Refused { path: PathBuf, reason: Refusal },
    #[error("layer exceeds its limit: {0}")]
    Limit(Exceeded),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

/// Applies the layer `tar` onto the directory `root` (see [`Mode`]). Every path resolves under
/// `root` without following symlinks; nothing outside it is ever touched.
///
/// On error the tree under `root` is partial: the caller unpacks into a fresh directory and
/// removes it on error (the store renames it into place only on success).
///
/// ```
/// use nsbox_image::unpack::{apply_layer, Limits, Mode, Options};
///
/// let mut layer = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.set_size(3);
/// header.set_mode(0o644);
/// layer.append_data(&mut header, "etc/motd", &b"hi\n"[..]).unwrap();
/// let layer = layer.into_inner().unwrap();
///
/// let root = tempfile::tempdir().unwrap();
/// let options = Options { mode: Mode::OverlayLayer, limits: Limits::default(), privileged: false };
/// let report = apply_layer(&layer[..], root.path(), &options).unwrap();
/// assert_eq!(report.entries, 1);
/// assert_eq!(std::fs::read(root.path().join("etc/motd")).unwrap(), b"hi\n");
/// ```
pub fn apply_layer(tar: impl Read, root: &Path, options: &Options) -> Result<Report, UnpackError> {
    layer::apply(tar, root, options)
}

/// [`apply_layer`], also returning the owner every node's entry names (unprivileged they are not
/// applied; a store with subordinate ids applies them from its user namespace).
pub(crate) fn apply_layer_recording_owners(
    tar: impl Read,
    root: &Path,
    options: &Options,
) -> Result<(Report, Vec<Owner>), UnpackError> {
    layer::apply_recording_owners(tar, root, options)
}
