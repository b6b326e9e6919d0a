//! The JSON documents of image sources (index, manifest, descriptors, Docker's manifest.json),
//! read with a size bound. Digests are kept as strings here and checked with
//! [`Digest::parse`] where they are used, so a malformed one is a typed
//! [`Error::MalformedDigest`], never a path.

use std::collections::HashMap;
use std::io::Read;

use oci_spec::image::ImageConfiguration;
use serde::Deserialize;

use super::files::Files;
use crate::{Digest, Error};

/// The most bytes of one JSON document (index, manifest, config) read into memory.
pub(crate) const MAX_JSON: u64 = 8 << 20;

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// An OCI (or Docker) content descriptor.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    pub(crate) digest: String,
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) urls: Option<Vec<String>>,
    #[serde(default)]
    pub(crate) annotations: Option<HashMap<String, String>>,
    #[serde(default)]
    pub(crate) platform: Option<Platform>,
}

impl Descriptor {
    pub(crate) fn digest(&self) -> Result<Digest, Error> {
        Digest::parse(&self.digest)
    }

    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// A layer marked non-distributable (or with URLs): its blob may be absent, and is then
    /// never fetched.
    pub(crate) fn is_foreign(&self) -> bool {
        let media_type = self.media_type.as_deref().unwrap_or("");
        media_type.contains("nondistributable")
            || media_type.contains("foreign")
            || self.urls.as_ref().is_some_and(|u| !u.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    pub(crate) architecture: String,
    pub(crate) os: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Index {
    pub(crate) manifests: Vec<Descriptor>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Manifest {
    #[serde(default)]
    pub(crate) media_type: Option<String>,
    pub(crate) config: Descriptor,
    pub(crate) layers: Vec<Descriptor>,
}

/// One image of Docker's `manifest.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DockerEntry {
    pub(crate) config: String,
    #[serde(default)]
    pub(crate) repo_tags: Option<Vec<String>>,
    pub(crate) layers: Vec<String>,
    #[serde(default)]
    pub(crate) layer_sources: Option<HashMap<String, Descriptor>>,
}

/// Parses `data` as `T`, naming `what` and the source in the error.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(files: &dyn Files, what: &str, data: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(data).map_err(|e| Error::format(files.origin(), format!("{what}: {e}")))
}

/// Reads a whole file of the source, at most [`MAX_JSON`] bytes.
pub(crate) fn read_file(files: &dyn Files, path: &str) -> Result<Vec<u8>, Error> {
    let reader = files
        .open(path)?
        .ok_or_else(|| Error::format(files.origin(), format!("{path} is missing")))?;
    read_bounded(reader, path, files)
}

/// Reads the blob `descriptor` names, checked against its digest and size.
pub(crate) fn read_blob(files: &dyn Files, descriptor: &Descriptor) -> Result<(Vec<u8>, Digest), Error> {
    let digest = descriptor.digest()?;
    if descriptor.size > MAX_JSON {
        return Err(Error::TooLarge {
            what: format!("blob {digest}"),
            limit: MAX_JSON,
        });
    }
    let reader = files.open(&blob_path(&digest))?.ok_or_else(|| Error::BlobMissing {
        source_path: files.origin().to_owned(),
        digest: digest.clone(),
    })?;
    let verified = crate::VerifyingReader::new(reader, digest.clone(), Some(descriptor.size));
    Ok((read_bounded(verified, &blob_path(&digest), files)?, digest))
}

fn read_bounded(reader: impl Read, path: &str, files: &dyn Files) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    reader
        .take(MAX_JSON + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io("reading", files.origin().join(path), e))?;
    if data.len() as u64 > MAX_JSON {
        return Err(Error::TooLarge {
            what: format!("{}: {path}", files.origin().display()),
            limit: MAX_JSON,
        });
    }
    Ok(data)
}

/// `blobs/sha256/<hex>`, the one way a path is made from a digest.
pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// The image config, parsed with oci-spec, and its diff ids (checked digests).
pub(crate) fn parse_config(files: &dyn Files, data: &[u8]) -> Result<(ImageConfiguration, Vec<Digest>), Error> {
    let config: ImageConfiguration = parse(files, "image config", data)?;
    let diff_ids = config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<_, _>>()?;
    Ok((config, diff_ids))
}
