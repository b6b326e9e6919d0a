//! Why a commit failed.

use std::path::PathBuf;

/// Why an upper directory cannot become a layer, or the layer an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitError {
    /// Reading the upper directory or writing the layer failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The upper holds what a layer tar cannot say: an overlayfs redirect or metacopy (their
    /// content lives in a lower layer), or a tree deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("{path} cannot go into a layer: {what}")]
    Unrepresentable { path: PathBuf, what: String },
    /// A node of the upper is owned by a host id outside the id maps the container ran under
    /// (it cannot be said in the container's ids).
    #[error("{path} is owned by {uid}:{gid} on the host, outside the container's id maps")]
    Unmapped { path: PathBuf, uid: u32, gid: u32 },
    /// A file changed while it was read (a container still running on the upper).
    #[error("{path} changed while it was read into the layer")]
    Changed { path: PathBuf },
    /// The store refused (the base image, its config, storing the new image).
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl CommitError {
    pub(super) fn io(action: &'static str, path: impl Into<PathBuf>, source: impl Into<std::io::Error>) -> Self {
        CommitError::Io {
            action,
            path: path.into(),
            source: source.into(),
        }
    }
}
