//! Image records (`images/sha256/<manifest hex>.json`) and the refs index (`refs.json`).
//! Both are replaced atomically; writers hold the store lock, readers need none.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use oci_spec::image::ImageConfiguration;
use serde::{Deserialize, Serialize};

use super::files::write_atomic;
use super::{Image, Layer, Store};
use crate::{Digest, Error, Reference};

/// Reference -> manifest digest.
pub(crate) type Refs = BTreeMap<Reference, Digest>;

/// What the store knows of one image; the config itself is the blob `config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageRecord {
    pub(crate) manifest: Digest,
    pub(crate) config: Digest,
    pub(crate) layers: Vec<LayerRecord>,
}

/// One layer of a record, base layer first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LayerRecord {
    pub(crate) diff_id: Digest,
    pub(crate) blob: Digest,
    pub(crate) media_type: String,
    pub(crate) size: u64,
}

impl Store {
    pub(crate) fn read_refs(&self) -> Result<Refs, Error> {
        let path = self.root.join("refs.json");
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data).map_err(|e| Error::Corrupt {
                path,
                what: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Refs::new()),
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// Caller holds the store lock.
    pub(crate) fn write_refs(&self, refs: &Refs) -> Result<(), Error> {
        let data = serde_json::to_vec_pretty(refs).expect("refs serialize");
        write_atomic(&self.tmp_dir(), &self.root.join("refs.json"), &data)
    }

    fn record_path(&self, manifest: &Digest) -> PathBuf {
        self.root.join("images/sha256").join(format!("{}.json", manifest.hex()))
    }

    pub(crate) fn read_record(&self, manifest: &Digest) -> Result<Option<ImageRecord>, Error> {
        let path = self.record_path(manifest);
        match fs::read(&path) {
            Ok(data) => {
                let record: ImageRecord = serde_json::from_slice(&data).map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    what: e.to_string(),
                })?;
                if record.manifest != *manifest {
                    return Err(Error::Corrupt {
                        path,
                        what: format!("record of {}", record.manifest),
                    });
                }
                Ok(Some(record))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("reading", path, e)),
        }
    }

    /// Caller holds the store lock.
    pub(crate) fn write_record(&self, record: &ImageRecord) -> Result<(), Error> {
        let data = serde_json::to_vec_pretty(record).expect("records serialize");
        write_atomic(&self.tmp_dir(), &self.record_path(&record.manifest), &data)
    }

    /// Caller holds the store lock.
    pub(crate) fn remove_record(&self, manifest: &Digest) -> Result<(), Error> {
        let path = self.record_path(manifest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("removing", path, e)),
            _ => Ok(()),
        }
    }

    /// Every record in `images/`, keyed by manifest digest.
    pub(crate) fn all_records(&self) -> Result<BTreeMap<Digest, ImageRecord>, Error> {
        let dir = self.root.join("images/sha256");
        let mut records = BTreeMap::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
            let name = entry.file_name();
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(digest) = Digest::from_hex(hex) else { continue };
            if let Some(record) = self.read_record(&digest)? {
                records.insert(digest, record);
            }
        }
        Ok(records)
    }

    pub(crate) fn load_image(&self, manifest: &Digest, refs: &Refs) -> Result<Image, Error> {
        let record = self.read_record(manifest)?.ok_or_else(|| Error::ImageNotFound {
            reference: manifest.to_string(),
        })?;
        let config_path = self.blob_path(&record.config);
        let data = fs::read(&config_path).map_err(|e| Error::io("reading image config", &config_path, e))?;
        let config: ImageConfiguration = serde_json::from_slice(&data).map_err(|e| Error::Corrupt {
            path: config_path,
            what: e.to_string(),
        })?;
        let references = refs
            .iter()
            .filter(|(_, d)| *d == manifest)
            .map(|(r, _)| r.clone())
            .collect();
        let layers = record
            .layers
            .iter()
            .map(|l| Layer {
                diff_id: l.diff_id.clone(),
                blob: l.blob.clone(),
                media_type: l.media_type.clone(),
                size: l.size,
                path: self.layer_path(&l.diff_id),
            })
            .collect();
        Ok(Image {
            manifest: record.manifest,
            config_digest: record.config,
            layers,
            config,
            references,
        })
    }
}
