//! Importing images into the store: an OCI layout directory, a `docker save` archive, a plain
//! rootfs tar. Every import runs the same steps: plan (read and check the source's JSON, find
//! every blob, before anything is stored), store each layer (blob verified, then unpacked,
//! diff id checked), store config and manifest, and only then, under the store lock, write the
//! image record and move the reference. A failure at any step leaves the references as they
//! were and removes its temporary files; blobs and layers already completed stay (verified,
//! unreferenced) for a later import to reuse or for [`Store::gc`] to free.
//!
//! Foreign (non-distributable) layers: their URLs are never fetched. A foreign layer whose blob
//! is in the source is imported like any other; one whose blob is not fails the import with
//! [`Error::ForeignLayer`] (skipping it would yield a different root than the image's).

mod archive;
mod budget;
mod docker_archive;
pub(crate) mod files;
pub(crate) mod json;
mod names;
pub(crate) mod oci;
mod rootfs_tar;

use std::path::{Path, PathBuf};

use crate::progress::Reporter;
use crate::store::{ImageRecord, Kind, LayerInput, LayerRecord, LockFile};
use crate::{Digest, Error, Image, Progress, Reference, Store};

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// An OCI image layout directory (`skopeo copy … oci:DIR`, `umoci`, `buildah push … oci:DIR`).
    OciLayout(PathBuf),
    /// A `docker save` (or `skopeo copy … docker-archive:FILE`) tar, either shape.
    DockerArchive(PathBuf),
    /// A tar of a root filesystem (`docker export`, `tar -C dir -c .`), uncompressed, gzip or
    /// zstd: imported as a one-layer image with a minimal config (this host's platform).
    RootfsTar(PathBuf),
    /// An image in an OCI distribution registry (the `pull` feature).
    #[cfg(feature = "pull")]
    Registry(crate::pull::RegistrySource),
}

impl Source {
    /// An OCI image layout directory.
    pub fn oci_layout(path: impl AsRef<Path>) -> Self {
        Self::OciLayout(path.as_ref().to_owned())
    }

    /// A `docker save` archive.
    pub fn docker_archive(path: impl AsRef<Path>) -> Self {
        Self::DockerArchive(path.as_ref().to_owned())
    }

    /// A root filesystem tarball.
    pub fn rootfs_tar(path: impl AsRef<Path>) -> Self {
        Self::RootfsTar(path.as_ref().to_owned())
    }
}

/// What a source yields once read and checked: the documents (verified) and the layers to store.
pub(crate) struct ImageInput<'a> {
    /// The manifest's bytes and digest; synthesized (OCI) when the source has none.
    pub(crate) manifest: Option<(Vec<u8>, Digest)>,
    /// The config's bytes and digest; synthesized when the source has none.
    pub(crate) config: Option<(Vec<u8>, Digest)>,
    pub(crate) layers: Vec<LayerInput<'a>>,
}

impl Store {
    /// Imports the image `source` holds and tags it `reference` (`name[:tag]`, or
    /// `name@sha256:…`, which must then be the imported manifest's digest). In an archive or
    /// index holding several images, the one `reference` names is taken, else the one for this
    /// host's platform. `progress` is called as layer bytes are read and after each layer.
    ///
    /// Two imports of the same image at once (from any processes) share the work: a layer is
    /// unpacked once, the second importer waits for it.
    pub fn import(&self, source: &Source, reference: &str, mut progress: impl FnMut(Progress)) -> Result<Image, Error> {
        let reference = Reference::parse(reference)?;
        let _no_gc = LockFile::acquire(&self.path().join("gc.lock"), Kind::Shared)?;
        match source {
            Source::OciLayout(path) => {
                let dir = files::DirFiles::new(path);
                self.store_image(&reference, oci::read(&dir, &reference)?, &mut progress)
            }
            Source::DockerArchive(path) => {
                let archive = archive::ArchiveFiles::open(path)?;
                self.store_image(&reference, docker_archive::read(&archive, &reference)?, &mut progress)
            }
            Source::RootfsTar(path) => self.store_image(&reference, rootfs_tar::read(path)?, &mut progress),
            #[cfg(feature = "pull")]
            Source::Registry(source) => {
                let files = crate::pull::RegistryFiles::connect(source)?;
                self.store_image(&reference, oci::read(&files, &reference)?, &mut progress)
            }
        }
    }

    pub(crate) fn store_image(
        &self,
        reference: &Reference,
        input: ImageInput<'_>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Image, Error> {
        // More layers than an overlay root takes (and one lease fd each): refused up front.
        if input.layers.len() > nsbox::Rootfs::MAX_LAYERS {
            return Err(Error::TooLarge {
                what: format!("layers of {reference}"),
                limit: nsbox::Rootfs::MAX_LAYERS as u64,
            });
        }
        let bytes_total = input.layers.iter().map(|l| l.length).sum::<u64>();
        let mut reporter = Reporter::new(progress, bytes_total, input.layers.len());
        reporter.report();
        let mut layers = Vec::with_capacity(input.layers.len());
        for layer in &input.layers {
            layers.push(self.ensure_layer(layer, &mut reporter)?);
        }
        // A total that was an estimate (a file that changed size) ends exact.
        if reporter.state.bytes_total != reporter.state.bytes_done {
            reporter.state.bytes_total = reporter.state.bytes_done;
            reporter.report();
        }
        let (config_bytes, config_digest) = match input.config {
            Some((bytes, digest)) => {
                self.put_bytes(&bytes, Some(&digest))?;
                (bytes, digest)
            }
            None => {
                let bytes = rootfs_tar::minimal_config(&layers);
                let digest = self.put_bytes(&bytes, None)?;
                (bytes, digest)
            }
        };
        let manifest_digest = match input.manifest {
            Some((bytes, digest)) => self.put_bytes(&bytes, Some(&digest))?,
            None => self.put_bytes(&oci_manifest(&config_digest, config_bytes.len(), &layers), None)?,
        };
        if let Some(wanted) = reference.digest()
            && *wanted != manifest_digest
        {
            return Err(crate::digest::VerifyError::Digest {
                expected: wanted.clone(),
                actual: manifest_digest,
            }
            .into());
        }
        let record = ImageRecord {
            manifest: manifest_digest.clone(),
            config: config_digest,
            layers,
        };
        let _lock = LockFile::acquire(&self.path().join("lock"), Kind::Exclusive)?;
        self.write_record(&record)?;
        let mut refs = self.read_refs()?;
        let previous = refs.insert(reference.clone(), manifest_digest.clone());
        self.write_refs(&refs)?;
        if let Some(previous) = previous.filter(|p| *p != manifest_digest && !refs.values().any(|d| d == p)) {
            self.remove_record(&previous)?;
        }
        self.load_image(&manifest_digest, &refs)
    }
}

/// An OCI image manifest for a config and layers (sources without one: classic docker
/// archives, rootfs tars).
fn oci_manifest(config: &Digest, config_size: usize, layers: &[LayerRecord]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| serde_json::json!({ "mediaType": l.media_type, "digest": l.blob.to_string(), "size": l.size }))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": json::OCI_MANIFEST,
        "config": { "mediaType": json::OCI_CONFIG, "digest": config.to_string(), "size": config_size },
        "layers": layers,
    });
    serde_json::to_vec(&manifest).expect("a manifest serializes")
}
