//! Why an entry is refused and which limit a layer exceeded: typed, so a caller (and a test)
//! can tell a hostile archive from a full disk.

use std::fmt;
use std::path::PathBuf;

/// Why one entry of a layer was refused. Every refusal leaves the tree outside the layer root
/// untouched; see [`apply_layer`](super::apply_layer) for what stays inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name has a `..` component. Every `..` is refused, even one that would stay inside:
    /// no layer writer emits them, and a name without any needs no resolution.
    ParentDirectory,
    /// The name (or a symlink target) is empty.
    EmptyName,
    /// The name, a link target or an xattr name holds a NUL byte.
    NulByte,
    /// A directory on the way to the entry is a symlink: it is never followed
    /// (`RESOLVE_NO_SYMLINKS`), where Docker would resolve it inside the root.
    SymlinkInPath,
    /// A component on the way to the entry exists and is not a directory.
    NotADirectory,
    /// An entry other than a directory names the root itself (`.`, `/`): replacing the root
    /// with a symlink is how CVE-2021-29136 wrote outside.
    RootNotDirectory,
    /// A whiteout names nothing a single component can name (`.wh.`, `.wh..`, `.wh...`).
    InvalidWhiteout,
    /// A hard link whose target is not an entry already unpacked inside the root (in
    /// [`Mode::OverlayLayer`](super::Mode::OverlayLayer): of this layer), is a directory, or is
    /// the link itself.
    HardLinkTarget { target: PathBuf },
    /// An entry type the unpacker does not handle (the tar type flag).
    UnsupportedType(u8),
    /// A header field does not parse (the field's name).
    MalformedHeader(&'static str),
    /// An owner id outside 0..=4294967294.
    Owner(u64),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ParentDirectory => write!(f, "a `..` component"),
            Self::EmptyName => write!(f, "an empty name"),
            Self::NulByte => write!(f, "a NUL byte in a name"),
            Self::SymlinkInPath => write!(f, "a symlink on the way (never followed)"),
            Self::NotADirectory => write!(f, "a component on the way is not a directory"),
            Self::RootNotDirectory => write!(f, "only a directory may name the root"),
            Self::InvalidWhiteout => write!(f, "a whiteout of nothing a single name can name"),
            Self::HardLinkTarget { target } => {
                write!(
                    f,
                    "hard link target {target:?} is not an entry unpacked inside the root"
                )
            }
            Self::UnsupportedType(t) => write!(f, "unsupported entry type {:?}", char::from(*t)),
            Self::MalformedHeader(field) => write!(f, "malformed header field {field}"),
            Self::Owner(id) => write!(f, "owner id {id} out of range"),
        }
    }
}

/// Which bound of [`Limits`](super::Limits) a layer exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`Limits::max_entries`](super::Limits::max_entries).
    Entries,
    /// [`Limits::max_name_len`](super::Limits::max_name_len) (one component).
    NameLength,
    /// [`Limits::max_path_len`](super::Limits::max_path_len) (a whole name or link target).
    PathLength,
    /// [`Limits::max_total_size`](super::Limits::max_total_size): checked against each
    /// header's size before its body is read.
    TotalSize,
    /// [`MAX_DEPTH`](super::MAX_DEPTH): the components of one name (every directory a
    /// name implies is made, and counts as an entry).
    Depth,
    /// [`MAX_ENTRY_METADATA`](super::MAX_ENTRY_METADATA): the bytes of headers, PAX records
    /// and GNU long names before one entry (the tar reader holds them in memory).
    EntryMetadata,
}

/// A limit exceeded: which, and its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exceeded {
    pub kind: LimitKind,
    pub bound: u64,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            LimitKind::Entries => "entries",
            LimitKind::NameLength => "bytes in a name component",
            LimitKind::PathLength => "bytes in a path",
            LimitKind::Depth => "components in a path",
            LimitKind::TotalSize => "bytes of content",
            LimitKind::EntryMetadata => "bytes of metadata before one entry",
        };
        write!(f, "more than {} {what}", self.bound)
    }
}
