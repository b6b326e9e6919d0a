//! A registry read as an OCI layout, so [`oci::read`](crate::import::oci) imports from it as
//! from a directory: `oci-layout` is made up, `index.json` is a one-entry index naming the
//! manifest (or index) the reference resolves to, and `blobs/sha256/<hex>` are fetched on
//! demand — from the registry's manifests endpoint for digests an index listed, from its blobs
//! endpoint for the configs and layers a manifest listed. The import checks each against its
//! digest and size as it reads it, exactly as for a layout on disk.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

use super::RegistrySource;
use super::endpoint::Endpoint;
use super::fetcher::{Failure, Fetcher};
use crate::import::files::Files;
use crate::import::json::{Descriptor, MAX_JSON, OCI_INDEX, OCI_MANIFEST};
use crate::{Digest, Error, Reference};

/// The files of an image in a registry.
pub(crate) struct RegistryFiles {
    /// `registry/repository`, for messages.
    origin: PathBuf,
    endpoint: Endpoint,
    reference: Reference,
    anonymous: bool,
    fetcher: Fetcher,
    index_json: Vec<u8>,
    /// Manifests and indexes fetched so far, by digest.
    documents: RefCell<HashMap<Digest, bytes::Bytes>>,
    /// Digests an index listed: fetched as manifests.
    manifests: RefCell<HashSet<Digest>>,
    /// Blobs a manifest listed, with their declared size; `None` for foreign layers.
    blobs: RefCell<HashMap<Digest, Option<u64>>>,
}

impl RegistryFiles {
    /// Resolves the source's reference: fetches what its tag or digest names.
    pub(crate) fn connect(source: &RegistrySource) -> Result<Self, Error> {
        let endpoint = Endpoint::of(&source.reference, source.options.insecure_http);
        let auth = source.options.credentials.resolve(&endpoint)?;
        let fetcher = Fetcher::start(&endpoint, &auth)?;
        let mut files = Self {
            origin: PathBuf::from(format!("{}/{}", endpoint.registry, endpoint.repository)),
            reference: source.reference.clone(),
            anonymous: auth == super::credentials::Auth::Anonymous,
            endpoint,
            fetcher,
            index_json: Vec::new(),
            documents: RefCell::default(),
            manifests: RefCell::default(),
            blobs: RefCell::default(),
        };
        let top = files
            .fetcher
            .manifest(files.endpoint.oci_reference(&source.reference))
            .map_err(|f| match f {
                Failure::NotFound => Error::NotInRegistry {
                    reference: source.reference.to_string(),
                },
                other => files.error(other),
            })?;
        let digest = Digest::of(&top);
        if let Some(wanted) = source.reference.digest()
            && *wanted != digest
        {
            return Err(crate::VerifyError::Digest {
                expected: wanted.clone(),
                actual: digest,
            }
            .into());
        }
        files.check_size(&digest, top.len())?;
        let media_type = media_type_of(&top);
        files.index_json = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{ "mediaType": media_type, "digest": digest.to_string(), "size": top.len() }],
        }))
        .expect("an index serializes");
        files.manifests.borrow_mut().insert(digest.clone());
        files.documents.borrow_mut().insert(digest, top);
        Ok(files)
    }

    fn error(&self, failure: Failure) -> Error {
        match failure {
            Failure::Unauthorized => Error::Unauthorized {
                registry: self.endpoint.registry.clone(),
                anonymous: self.anonymous,
            },
            Failure::NotFound => Error::NotInRegistry {
                reference: self.reference.to_string(),
            },
            Failure::Digest { expected, actual } => match (Digest::parse(&expected), Digest::parse(&actual)) {
                (Ok(expected), Ok(actual)) => crate::VerifyError::Digest { expected, actual }.into(),
                _ => Error::Registry {
                    registry: self.endpoint.registry.clone(),
                    what: format!("content of {expected} hashes to {actual}"),
                },
            },
            Failure::Other(what) => Error::Registry {
                registry: self.endpoint.registry.clone(),
                what,
            },
        }
    }

    fn check_size(&self, digest: &Digest, len: usize) -> Result<(), Error> {
        if len as u64 > MAX_JSON {
            return Err(Error::TooLarge {
                what: format!("manifest {digest} from {}", self.origin.display()),
                limit: MAX_JSON,
            });
        }
        Ok(())
    }

    /// A manifest or index by digest, fetched once; what it lists is noted.
    fn document(&self, digest: &Digest) -> Result<Option<bytes::Bytes>, Error> {
        let cached = self.documents.borrow().get(digest).cloned();
        let data = match cached {
            Some(data) => data,
            None => {
                let reference = self.reference_for(digest);
                let data = match self.fetcher.manifest(self.endpoint.oci_reference(&reference)) {
                    Ok(data) => data,
                    Err(Failure::NotFound) => return Ok(None),
                    Err(other) => return Err(self.error(other)),
                };
                self.check_size(digest, data.len())?;
                self.documents.borrow_mut().insert(digest.clone(), data.clone());
                data
            }
        };
        self.note_contents(&data);
        Ok(Some(data))
    }

    /// Records what a manifest or index lists, so later names are fetched from the right place.
    /// Malformed documents are left to the import's parser to report.
    fn note_contents(&self, data: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Listing {
            #[serde(default)]
            manifests: Vec<Descriptor>,
            #[serde(default)]
            config: Option<Descriptor>,
            #[serde(default)]
            layers: Vec<Descriptor>,
        }
        let Ok(listing) = serde_json::from_slice::<Listing>(data) else {
            return;
        };
        let mut manifests = self.manifests.borrow_mut();
        for d in &listing.manifests {
            if let Ok(digest) = d.digest() {
                manifests.insert(digest);
            }
        }
        let mut blobs = self.blobs.borrow_mut();
        for d in listing.config.iter().chain(&listing.layers) {
            if let Ok(digest) = d.digest() {
                blobs.insert(digest, (!d.is_foreign()).then_some(d.size));
            }
        }
    }

    fn reference_for(&self, digest: &Digest) -> Reference {
        Reference::parse(&format!("{}@{digest}", self.reference.name())).expect("a name and a checked digest parse")
    }

    fn blob_digest(name: &str) -> Option<Digest> {
        Digest::from_hex(name.strip_prefix("blobs/sha256/")?).ok()
    }
}

impl Files for RegistryFiles {
    fn origin(&self) -> &Path {
        &self.origin
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + '_>>, Error> {
        match name {
            "oci-layout" => return Ok(Some(Box::new(&br#"{"imageLayoutVersion":"1.0.0"}"#[..]))),
            "index.json" => return Ok(Some(Box::new(&self.index_json[..]))),
            _ => {}
        }
        let Some(digest) = Self::blob_digest(name) else {
            return Ok(None);
        };
        if self.manifests.borrow().contains(&digest) {
            return Ok(self
                .document(&digest)?
                .map(|d| Box::new(Cursor::new(d)) as Box<dyn Read>));
        }
        let declared = self.blobs.borrow().get(&digest).copied();
        let size = match declared {
            Some(Some(size)) => size,
            // Foreign layers, and digests no manifest listed, are not fetched.
            _ => return Ok(None),
        };
        let reference = self.endpoint.oci_reference(&self.reference_for(&digest));
        match self.fetcher.blob(reference, &digest, size) {
            Ok(reader) => Ok(Some(Box::new(reader))),
            Err(Failure::NotFound) => Ok(None),
            Err(other) => Err(self.error(other)),
        }
    }

    fn size(&self, name: &str) -> Result<Option<u64>, Error> {
        let Some(digest) = Self::blob_digest(name) else {
            return Ok(None);
        };
        if self.manifests.borrow().contains(&digest) {
            return Ok(self.document(&digest)?.map(|d| d.len() as u64));
        }
        // As the manifest declares it: the read checks it.
        Ok(self.blobs.borrow().get(&digest).copied().flatten())
    }
}

/// The media type a manifest or index states, else what its shape says.
fn media_type_of(data: &[u8]) -> String {
    let value: serde_json::Value = serde_json::from_slice(data).unwrap_or_default();
    match value.get("mediaType").and_then(|m| m.as_str()) {
        Some(media_type) => media_type.to_owned(),
        None if value.get("manifests").is_some() => OCI_INDEX.to_owned(),
        None => OCI_MANIFEST.to_owned(),
    }
}
