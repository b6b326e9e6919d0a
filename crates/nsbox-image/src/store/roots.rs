//! `roots/`: the private directories of per-container root copies, the fallback where
//! overlayfs cannot be mounted (see `run::copy`).
//!
//! ```text
//! <root>/roots/              0700, made on first use
//!   <pid>-<n>-<nanos>/       0700, one per container: `root/` inside is its root filesystem
//! ```
//!
//! A copy belongs to the process that made it and goes when its container is reaped; one a
//! crashed process left stays until [`Store::remove_root_copies`] (never run by `gc`: the copy
//! of a running, detached container lives here too).

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use super::Store;
use super::files::{remove_tree, unique_name};
use crate::Error;

impl Store {
    /// `roots/` of the store, where per-container root copies live.
    pub fn roots_path(&self) -> PathBuf {
        self.path().join("roots")
    }

    /// A new, empty, private (0700) directory under `roots/`, for one container's root copy.
    pub(crate) fn new_root_copy_dir(&self) -> Result<PathBuf, Error> {
        let roots = self.roots_path();
        match fs::DirBuilder::new().mode(0o700).create(&roots) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(Error::io("creating", &roots, e)),
            _ => {}
        }
        let dir = roots.join(unique_name("root"));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("creating", &dir, e))?;
        Ok(dir)
    }

    /// Removes every root copy under `roots/`: for copies that crashed processes or detached
    /// containers left behind. Call it only when no container of this store runs on a copy
    /// (a running container's files would vanish under it).
    pub fn remove_root_copies(&self) -> Result<usize, Error> {
        let roots = self.roots_path();
        let entries = match fs::read_dir(&roots) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("listing", &roots, e)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("listing", &roots, e))?;
            remove_root_copy(&entry.path())?;
            removed += 1;
        }
        Ok(removed)
    }
}

/// Removes one root copy directory (nothing is followed; read-only directories the container
/// left are made writable first).
pub(crate) fn remove_root_copy(dir: &Path) -> Result<(), Error> {
    remove_tree(dir)
}
