//! Garbage collection: frees blobs and layers no image record uses, never a leased layer.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use super::{Kind, LockFile, Store, holders};
use crate::{Digest, Error};

/// What a [`Store::gc`] run freed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GcReport {
    /// Blobs no image uses, removed.
    pub blobs_removed: Vec<Digest>,
    /// Bytes of the removed blobs.
    pub blob_bytes_freed: u64,
    /// Unpacked layers no image uses, removed.
    pub layers_removed: Vec<Digest>,
    /// Layers no image uses but a [`Lease`](crate::Lease) holds (or a detached container's
    /// process, recorded by [`Lease::hold_for`](crate::Lease::hold_for)): kept for a later gc.
    pub layers_in_use: Vec<Digest>,
    /// Image records no reference named (left by an interrupted import), removed.
    pub records_removed: Vec<Digest>,
}

impl Store {
    /// Frees what no referenced image uses. Waits for running imports (they hold `gc.lock`
    /// shared) and blocks new ones and every reference change until done. A layer held by a
    /// [`Lease`](crate::Lease) is skipped, never waited for, and so is one a detached
    /// container's process holds ([`Lease::hold_for`](crate::Lease::hold_for)); the records of
    /// such processes that are gone are removed.
    pub fn gc(&self) -> Result<GcReport, Error> {
        let _imports = LockFile::acquire(&self.root.join("gc.lock"), Kind::Exclusive)?;
        let _writers = LockFile::acquire(&self.root.join("lock"), Kind::Exclusive)?;
        let mut report = GcReport::default();

        let refs = self.read_refs()?;
        let named: BTreeSet<&Digest> = refs.values().collect();
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for (manifest, record) in self.all_records()? {
            if !named.contains(&manifest) {
                self.remove_record(&manifest)?;
                report.records_removed.push(manifest);
                continue;
            }
            blobs.insert(record.manifest.clone());
            blobs.insert(record.config.clone());
            for layer in record.layers {
                blobs.insert(layer.blob);
                layers.insert(layer.diff_id);
            }
        }

        for (digest, path) in digests_in(&self.root.join("blobs/sha256"), "")? {
            if !blobs.contains(&digest) {
                report.blob_bytes_freed += fs::symlink_metadata(&path).map_or(0, |m| m.len());
                self.remove_tree(&path)?;
                report.blobs_removed.push(digest);
            }
        }
        let held = holders::held_layers(&self.root)?;
        for (digest, path) in digests_in(&self.root.join("layers/sha256"), "")? {
            if layers.contains(&digest) {
                continue;
            }
            if held.contains(&digest) {
                report.layers_in_use.push(digest);
                continue;
            }
            match LockFile::try_acquire(&self.layer_lock_path(&digest), Kind::Exclusive)? {
                Some(lock) => {
                    self.remove_tree(&path)?;
                    lock.unlink()?;
                    report.layers_removed.push(digest);
                }
                None => report.layers_in_use.push(digest),
            }
        }
        // Lock files of layers that are gone (an import that failed), unless someone holds one.
        for (digest, path) in digests_in(&self.root.join("locks/layers"), ".lock")? {
            if !self.layer_path(&digest).exists()
                && let Some(lock) = LockFile::try_acquire(&path, Kind::Exclusive)?
            {
                lock.unlink()?;
            }
        }
        // No import runs (we hold gc.lock) and we hold the store lock: all of tmp/ is debris.
        let tmp = self.tmp_dir();
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io("listing", &tmp, e))? {
            let entry = entry.map_err(|e| Error::io("listing", &tmp, e))?;
            self.remove_tree(&entry.path())?;
        }
        Ok(report)
    }
}

/// The entries of `dir` named `<64 hex><suffix>`; other names are left alone.
fn digests_in(dir: &Path, suffix: &str) -> Result<Vec<(Digest, std::path::PathBuf)>, Error> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))? {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(suffix)) else {
            continue;
        };
        if let Ok(digest) = Digest::from_hex(hex) {
            found.push((digest, entry.path()));
        }
    }
    Ok(found)
}
