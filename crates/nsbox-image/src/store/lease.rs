//! Leases: shared flocks on an image's layers, held for as long as a container uses them.

use std::path::{Path, PathBuf};

use super::{Image, Kind, LockFile, Store, exists};
use crate::{Digest, Error};

/// Keeps [`Store::gc`] off an image's layers while it lives: a shared flock on each layer's lock
/// file (gc deletes a layer only under an exclusive one, which it never waits for). Hold one for
/// as long as a container runs on the layers; dropping it releases them. The locks are
/// `O_CLOEXEC`: a container never inherits them.
#[derive(Debug)]
pub struct Lease {
    image: Digest,
    layers: Vec<PathBuf>,
    _locks: Vec<LockFile>,
}

impl Lease {
    /// The manifest digest of the leased image.
    pub fn image(&self) -> &Digest {
        &self.image
    }

    /// The unpacked layer directories, base layer first (overlayfs wants `lowerdir` topmost
    /// first: reverse them).
    pub fn layers(&self) -> &[PathBuf] {
        &self.layers
    }
}

impl Store {
    /// Leases `image`'s layers. Fails with [`Error::ImageNotFound`] if a layer is gone (the
    /// image was removed and collected since it was read).
    pub fn lease(&self, image: &Image) -> Result<Lease, Error> {
        let mut locks = Vec::with_capacity(image.layers().len());
        let mut layers = Vec::with_capacity(image.layers().len());
        for layer in image.layers() {
            locks.push(LockFile::acquire(&self.layer_lock_path(layer.diff_id()), Kind::Shared)?);
            let path = self.layer_path(layer.diff_id());
            if !is_dir(&path)? {
                return Err(Error::ImageNotFound {
                    reference: image.manifest_digest().to_string(),
                });
            }
            layers.push(path);
        }
        Ok(Lease {
            image: image.manifest_digest().clone(),
            layers,
            _locks: locks,
        })
    }
}

fn is_dir(path: &Path) -> Result<bool, Error> {
    Ok(exists(path)? && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()))
}
