//! The one error type of image import and the store.

use std::io;
use std::path::PathBuf;

use crate::Digest;
use crate::digest::VerifyError;
use crate::unpack::UnpackError;

/// Why an import or a store operation failed. Whatever failed, a failed import leaves no trace
/// a reader of the store can see: its temporary files are removed and no reference moved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A digest that is not `sha256:<64 lowercase hex>` (refused before it names any path).
    #[error("malformed digest {digest:?}: only sha256:<64 lowercase hex digits> is accepted")]
    MalformedDigest { digest: String },
    /// A blob's content is not its digest or size.
    #[error("blob verification failed: {0}")]
    Verify(#[from] VerifyError),
    /// A layer's uncompressed content is not the diff id its image config lists.
    #[error("layer {blob}: uncompressed content hashes to {actual}, the image config says {expected}")]
    DiffIdMismatch {
        blob: Digest,
        expected: Digest,
        actual: Digest,
    },
    /// An image reference outside Docker's grammar.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: &'static str },
    /// No image in the store answers to this reference.
    #[error("no image {reference} in the store")]
    ImageNotFound { reference: String },
    /// The source is not an image of the expected shape (a missing file, bad JSON, a manifest
    /// and config that disagree).
    #[error("{source_path}: {what}")]
    Format { source_path: PathBuf, what: String },
    /// A descriptor names a blob the source does not hold.
    #[error("{source_path}: blob {digest} is missing")]
    BlobMissing { source_path: PathBuf, digest: Digest },
    /// A layer with a media type this crate cannot decompress.
    #[error("layer {digest}: unsupported media type {media_type:?}")]
    UnsupportedMediaType { digest: Digest, media_type: String },
    /// A foreign (non-distributable) layer whose blob is not in the source: its URLs are never
    /// fetched.
    #[error("layer {digest} is a foreign layer not included in the source (urls {urls:?} are never fetched)")]
    ForeignLayer { digest: Digest, urls: Vec<String> },
    /// An index lists no image for this platform.
    #[error("{source_path}: no image for {platform}")]
    NoMatchingPlatform { source_path: PathBuf, platform: String },
    /// Several images fit and nothing says which one is meant.
    #[error("{source_path}: {count} images match, name one ({candidates:?})")]
    AmbiguousImage {
        source_path: PathBuf,
        count: usize,
        candidates: Vec<String>,
    },
    /// A JSON document (manifest, index, config) larger than the bound read into memory, or
    /// a source past another bound: more layers than a root takes, an archive of too many
    /// entries, too long names, or too much metadata (long names, PAX records) before an entry.
    #[error("{what} is larger than {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    /// Unpacking a layer failed.
    #[error("unpacking layer {diff_id}: {source}")]
    Unpack {
        diff_id: Digest,
        #[source]
        source: UnpackError,
    },
    /// The store directory cannot be made private (0700) because another user owns it.
    #[error("store {path:?} is owned by uid {owner}, not by us: refusing to use it")]
    StoreNotOwned { path: PathBuf, owner: u32 },
    /// The store holds something it should not (a record naming a missing blob, bad JSON).
    #[error("store {path:?} is corrupt: {what}")]
    Corrupt { path: PathBuf, what: String },
    /// The registry has no manifest for this tag or digest (or no such repository).
    #[cfg(feature = "pull")]
    #[error("{reference}: no such image in the registry")]
    NotInRegistry { reference: String },
    /// The registry refused access: no credentials were found for it (`anonymous`), or the ones
    /// sent were refused.
    #[cfg(feature = "pull")]
    #[error("registry {registry} refused access ({})", if *anonymous { "no credentials for it" } else { "credentials refused" })]
    Unauthorized { registry: String, anonymous: bool },
    /// Talking to the registry failed otherwise (connection, TLS, an unexpected answer).
    #[cfg(feature = "pull")]
    #[error("registry {registry}: {what}")]
    Registry { registry: String, what: String },
    /// The Docker config file cannot be used: malformed, or it names a credential helper for
    /// the registry (helpers are not run).
    #[cfg(feature = "pull")]
    #[error("docker config {path:?}: {what}")]
    DockerConfig { path: PathBuf, what: String },
    /// A rootless store's layers hold ids for the subordinate range it recorded when it was
    /// made, and the caller's range (/etc/subuid, /etc/subgid) is now another one (or none):
    /// using it would mis-own every file. Use a new store (or restore the range).
    #[error("store {path:?} was made for the id map {recorded:?}, the caller's is now {current:?}")]
    IdMapChanged {
        path: PathBuf,
        recorded: String,
        current: String,
    },
    /// A layer entry of a store with subordinate ids is owned by an id outside its map.
    #[error("layer entry {path:?} is owned by {uid}:{gid}, outside the store's id map")]
    UnmappedOwner { path: PathBuf, uid: u32, gid: u32 },
    /// A system call failed.
    #[error("{context} {path:?}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// An I/O error on `path`; a [`VerifyError`] carried inside the `io::Error` (from a
    /// [`VerifyingReader`](crate::VerifyingReader)) comes out as [`Error::Verify`].
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        match take_verify_error(source) {
            Ok(verify) => Error::Verify(verify),
            Err(source) => Error::Io {
                context,
                path: path.into(),
                source,
            },
        }
    }

    pub(crate) fn format(source_path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Error::Format {
            source_path: source_path.into(),
            what: what.into(),
        }
    }
}

/// The verification failure inside `e`, if that is what it carries.
pub(crate) fn take_verify_error(e: io::Error) -> Result<VerifyError, io::Error> {
    if e.get_ref().is_some_and(|inner| inner.is::<VerifyError>()) {
        let inner = e.into_inner().expect("checked above");
        return Ok(*inner.downcast::<VerifyError>().expect("checked above"));
    }
    Err(e)
}

/// A verification failure found anywhere in an unpack error's chain (the unpacker reads through
/// our verifying readers and wraps their errors).
pub(crate) fn unpack_error(diff_id: &Digest, e: UnpackError) -> Error {
    match e {
        UnpackError::Io { context, source } => match take_verify_error(source) {
            Ok(verify) => Error::Verify(verify),
            Err(source) => Error::Unpack {
                diff_id: diff_id.clone(),
                source: UnpackError::Io { context, source },
            },
        },
        other => Error::Unpack {
            diff_id: diff_id.clone(),
            source: other,
        },
    }
}
