//! What opening or mapping a bundle can fail with.

use std::path::PathBuf;

/// Why a bundle cannot be opened or run as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// The bundle directory or its `config.json` could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `config.json` is not a runtime spec (bad JSON, a wrong type, an unknown enum value).
    #[error("{}: not a valid runtime spec: {why}", path.display())]
    Parse {
        /// The `config.json`.
        path: PathBuf,
        /// serde's message, with line and column.
        why: String,
    },
    /// A field whose value the runtime spec itself forbids (a relative `process.cwd`, an
    /// environment entry without `=`, a root path escaping the bundle…).
    #[error("{field}: {why}")]
    Invalid {
        /// The field, as a JSON path (`process.env[2]`).
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// A field (or a value of it) nsbox cannot honour exactly; never ignored.
    #[error("{field} is not supported: {why}")]
    Unsupported {
        /// The field, as a JSON path (`linux.intelRdt`, `mounts[6]`).
        field: String,
        /// Why, and what nsbox would do instead.
        why: String,
    },
}

impl BundleError {
    /// The field named by an [`Invalid`](Self::Invalid) or [`Unsupported`](Self::Unsupported)
    /// error.
    pub fn field(&self) -> Option<&str> {
        match self {
            BundleError::Invalid { field, .. } | BundleError::Unsupported { field, .. } => Some(field),
            _ => None,
        }
    }
}

pub(crate) fn unsupported(field: impl Into<String>, why: impl Into<String>) -> BundleError {
    BundleError::Unsupported {
        field: field.into(),
        why: why.into(),
    }
}

pub(crate) fn invalid(field: impl Into<String>, why: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        field: field.into(),
        why: why.into(),
    }
}

pub(crate) type Result<T> = std::result::Result<T, BundleError>;
