//! Leases: shared flocks on an image's layers, held for as long as a container uses them.

use std::path::{Path, PathBuf};

use super::holders::HolderRecord;
use super::{Image, Kind, LockFile, Store, exists};
use crate::{Digest, Error};

/// Keeps [`Store::gc`] off an image's layers while it lives: a shared flock on each layer's lock
/// file (gc deletes a layer only under an exclusive one, which it never waits for). Hold one for
/// as long as a container runs on the layers; dropping it releases them. The locks are
/// `O_CLOEXEC`: a container never inherits them.
///
/// A container that outlives the lease's owner (a [`detach`](nsbox::ContainerBuilder::detach)ed
/// one, whose handle drops the lease while it runs on) is recorded with
/// [`hold_for`](Self::hold_for): gc then keeps the layers for as long as its process lives.
/// [`ImageRun`](crate::run::ImageRun) does that for every detached container it configures.
#[derive(Debug)]
pub struct Lease {
    image: Digest,
    layers: Vec<PathBuf>,
    holder: HolderRecord,
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

    /// Keeps the layers from gc for as long as `container`'s first process lives, also after
    /// this lease is dropped and after this process exits: a record under the store's
    /// `leases/`, which gc removes once that process is gone (its pid and start time, see
    /// `store/holders.rs`). Call it once the container runs (from
    /// [`ContainerBuilder::on_spawn`](nsbox::ContainerBuilder::on_spawn), say).
    pub fn hold_for(&self, container: &nsbox::Container) -> Result<(), Error> {
        self.holder.write(container.id(), container.pid())
    }

    /// What [`hold_for`](Self::hold_for) writes, detached from the lease (for a hook that runs
    /// after the lease moved into a container's keep-alive values).
    pub(crate) fn holder(&self) -> HolderRecord {
        self.holder.clone()
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
            holder: HolderRecord {
                root: self.root.clone(),
                image: image.manifest_digest().clone(),
                layers: image.layers().iter().map(|l| l.diff_id().clone()).collect(),
            },
            _locks: locks,
        })
    }
}

fn is_dir(path: &Path) -> Result<bool, Error> {
    Ok(exists(path)? && std::fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()))
}
