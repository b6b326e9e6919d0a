//! What the store tells about an image.

use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;

use crate::{Digest, Reference};

/// An image in the store: its digests, layers and parsed config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub(crate) manifest: Digest,
    pub(crate) config_digest: Digest,
    pub(crate) layers: Vec<Layer>,
    pub(crate) config: ImageConfiguration,
    pub(crate) references: Vec<Reference>,
}

impl Image {
    /// The digest of its manifest: the image's identity (`name@<this>` names it).
    pub fn manifest_digest(&self) -> &Digest {
        &self.manifest
    }

    /// The digest of its config blob.
    pub fn config_digest(&self) -> &Digest {
        &self.config_digest
    }

    /// Its layers, base layer first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// The image config (Env, Cmd, rootfs.diff_ids…), as [`oci_spec`] parses it.
    pub fn config(&self) -> &ImageConfiguration {
        &self.config
    }

    /// The references that name it in the store (when it was read).
    pub fn references(&self) -> &[Reference] {
        &self.references
    }
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub(crate) diff_id: Digest,
    pub(crate) blob: Digest,
    pub(crate) media_type: String,
    pub(crate) size: u64,
    pub(crate) path: PathBuf,
}

impl Layer {
    /// The digest of the uncompressed tar: the name of its unpacked directory.
    pub fn diff_id(&self) -> &Digest {
        &self.diff_id
    }

    /// The digest of the blob as imported (compressed or not).
    pub fn blob(&self) -> &Digest {
        &self.blob
    }

    /// The blob's media type (`application/vnd.oci.image.layer.v1.tar+gzip`…).
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// The blob's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The unpacked layer directory; use it only while holding a [`Lease`](crate::Lease).
    pub fn path(&self) -> &Path {
        &self.path
    }
}
