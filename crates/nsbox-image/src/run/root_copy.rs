//! One container's root copy ([`RootStrategy::Copy`](super::RootStrategy::Copy)), or its
//! overlay upper where a tmpfs cannot hold one: made under the store's `roots/`, removed when
//! the container is reaped.

use std::path::{Path, PathBuf};

use super::copy::{CopyOptions, copy_layers};
use crate::store::Store;

/// A container's private copy of its image's tree, kept alive with the container
/// ([`nsbox::ContainerBuilder::keep_alive`]): dropping it removes the copy (the container was
/// reaped, its spawn failed, or the builder was dropped unspawned). A detached container's copy
/// is [`kept`](Self::keep) instead: it must outlive the handle.
#[derive(Debug)]
pub struct RootCopy {
    dir: PathBuf,
    keep: bool,
}

impl RootCopy {
    /// Copies `layers` (base first) of `store` into a new private directory under `roots/`.
    pub(crate) fn make(store: &Store, layers: &[PathBuf], options: &CopyOptions) -> Result<Self, crate::Error> {
        let dir = store.new_root_copy_dir()?;
        let copy = RootCopy { dir, keep: false };
        let root = copy.root();
        copy_layers(layers, &root, options).map_err(|e| crate::Error::io("copying the image into", &root, e))?;
        Ok(copy)
    }

    /// A new, empty private directory under `roots/`, for an overlay's upper on the store's
    /// file system (where a tmpfs keeps no `user.*` xattrs, Linux < 6.6).
    pub(crate) fn empty(store: &Store) -> Result<Self, crate::Error> {
        Ok(RootCopy {
            dir: store.new_root_copy_dir()?,
            keep: false,
        })
    }

    /// The directory under the store's `roots/` that holds the copy.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The container's root: `root/` in [`dir`](Self::dir).
    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// Leaves the copy in place when this is dropped (for a detached container; remove it with
    /// [`Store::remove_root_copies`] or by its path once the container is gone).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for RootCopy {
    fn drop(&mut self) {
        if !self.keep {
            let _ = crate::store::remove_root_copy(&self.dir);
        }
    }
}
