//! Layers: the blob verified into the store first, then unpacked from the stored copy into
//! `tmp/` (so the unpacker never sees bytes that failed their digest), the uncompressed stream
//! hashed on the way and checked against the diff id, and only then renamed to
//! `layers/sha256/<diff id>`. An exclusive flock on the layer's lock file makes a second
//! importer of the same layer wait and then find it done.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};

use super::blobs::StagedBlob;
use super::files::TempPath;
use super::{Kind, LayerRecord, LockFile, Store, exists, shift};
use crate::digest::HashingReader;
use crate::error::unpack_error;
use crate::progress::{CountingReader, Reporter};
use crate::unpack::{self, Mode, Options};
use crate::{Digest, Error};

/// Bytes the uncompressed stream may hold after the tar's end-of-archive marker (padding to a
/// record size, normally under 10 KiB); more is refused instead of hashed forever.
const MAX_TRAILING_BYTES: u64 = 16 << 20;

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// From a layer media type (OCI and Docker's); `None` for one this crate does not know.
    pub(crate) fn of_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar" => Some(Self::None),
            "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip" => Some(Self::Gzip),
            "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar.zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// From the first bytes (gzip 1f 8b, zstd 28 b5 2f fd, anything else a plain tar).
    pub(crate) fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::None
        }
    }

    /// The OCI media type of a layer so compressed.
    pub(crate) fn oci_media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    fn decoder<'a>(self, blob: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
        let blob = BufReader::with_capacity(128 * 1024, blob);
        Ok(match self {
            Self::None => Box::new(blob),
            Self::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(blob)),
            Self::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(blob)?),
        })
    }
}

/// One layer to store, as a source describes it.
pub(crate) struct LayerInput<'a> {
    /// The blob's digest, when the source names it (checked); computed otherwise.
    pub(crate) blob: Option<Digest>,
    pub(crate) size: Option<u64>,
    /// The bytes to expect, for progress (the checked size, or what the source says).
    pub(crate) length: u64,
    /// The media type, when the source gives one; the compression is sniffed otherwise.
    pub(crate) media_type: Option<String>,
    /// The diff id the image config lists (checked); computed otherwise (a plain rootfs tar).
    pub(crate) diff_id: Option<Digest>,
    pub(crate) open: Box<dyn Fn() -> Result<Box<dyn Read + 'a>, Error> + 'a>,
}

impl Store {
    /// Stores and unpacks one layer unless the store has it; returns its record.
    pub(crate) fn ensure_layer(
        &self,
        input: &LayerInput<'_>,
        reporter: &mut Reporter<'_>,
    ) -> Result<LayerRecord, Error> {
        let bytes_before = reporter.state.bytes_done;
        let stored = |diff_id: &Digest, blob: &Digest| -> Result<bool, Error> {
            Ok(exists(&self.layer_path(diff_id))? && exists(&self.blob_path(blob))?)
        };
        let mut _lock = None;
        if let (Some(diff_id), Some(blob), Some(size)) = (&input.diff_id, &input.blob, input.size) {
            if !stored(diff_id, blob)? {
                _lock = Some(LockFile::acquire(&self.layer_lock_path(diff_id), Kind::Exclusive)?);
            }
            if stored(diff_id, blob)? {
                let media_type = match &input.media_type {
                    Some(m) => m.clone(),
                    None => self.sniff(&self.blob_path(blob))?.oci_media_type().to_owned(),
                };
                reporter.layer_done(bytes_before, size);
                return Ok(LayerRecord {
                    diff_id: diff_id.clone(),
                    blob: blob.clone(),
                    media_type,
                    size,
                });
            }
        } else if let Some(diff_id) = &input.diff_id {
            _lock = Some(LockFile::acquire(&self.layer_lock_path(diff_id), Kind::Exclusive)?);
        }

        let source = (input.open)()?;
        let counted = CountingReader {
            inner: source,
            reporter: &mut *reporter,
        };
        let staged = self.stage_blob(counted, input.blob.as_ref().map(|d| (d, input.size)))?;
        let blob_path = staged.path(self);
        let compression = match &input.media_type {
            Some(media_type) => Compression::of_media_type(media_type).ok_or_else(|| Error::UnsupportedMediaType {
                digest: staged.digest.clone(),
                media_type: media_type.clone(),
            })?,
            None => self.sniff(&blob_path)?,
        };
        let media_type = input
            .media_type
            .clone()
            .unwrap_or_else(|| compression.oci_media_type().to_owned());

        let diff_id = match &input.diff_id {
            Some(diff_id) if exists(&self.layer_path(diff_id))? => {
                // Unpacked from another blob of the same content (another compression): check
                // this blob's content without unpacking it again.
                let bound = self
                    .limits()
                    .max_total_size
                    .saturating_mul(2)
                    .saturating_add(MAX_TRAILING_BYTES);
                let actual = self.hash_uncompressed(&blob_path, compression, bound)?;
                check_diff_id(&staged, diff_id, &actual)?;
                actual
            }
            _ => self.unpack_blob(&staged, &blob_path, compression, input.diff_id.as_ref())?,
        };
        let record = LayerRecord {
            diff_id,
            blob: staged.digest.clone(),
            media_type,
            size: staged.size,
        };
        staged.commit(self)?;
        reporter.layer_done(bytes_before, record.size);
        Ok(record)
    }

    fn unpack_blob(
        &self,
        staged: &StagedBlob,
        blob_path: &std::path::Path,
        compression: Compression,
        expected: Option<&Digest>,
    ) -> Result<Digest, Error> {
        let temp = TempPath::dir(&self.tmp_dir(), "layer")?;
        let blob = File::open(blob_path).map_err(|e| Error::io("opening blob", blob_path, e))?;
        let decoder = compression
            .decoder(blob)
            .map_err(|e| Error::io("decompressing", blob_path, e))?;
        let mut tar = HashingReader::new(decoder);
        let options = Options {
            mode: Mode::OverlayLayer,
            limits: self.limits(),
            privileged: self.privileged(),
        };
        let provisional = expected.cloned().unwrap_or_else(|| staged.digest.clone());
        let owners = match self.id_maps() {
            None => unpack::apply_layer(&mut tar, temp.path(), &options).map(|_| Vec::new()),
            Some(_) => unpack::apply_layer_recording_owners(&mut tar, temp.path(), &options).map(|(_, o)| o),
        }
        .map_err(|e| unpack_error(&provisional, e))?;
        // The diff id covers the whole stream, including what follows the end-of-archive marker.
        let trailing = io::copy(&mut (&mut tar).take(MAX_TRAILING_BYTES + 1), &mut io::sink())
            .map_err(|e| Error::io("decompressing", blob_path, e))?;
        if trailing > MAX_TRAILING_BYTES {
            return Err(Error::TooLarge {
                what: format!("data after the tar archive of layer {}", staged.digest),
                limit: MAX_TRAILING_BYTES,
            });
        }
        let (actual, _) = tar.hasher.finish();
        if let Some(expected) = expected {
            check_diff_id(staged, expected, &actual)?;
        }
        let _lock = match expected {
            Some(_) => None, // the caller holds it
            None => Some(LockFile::acquire(&self.layer_lock_path(&actual), Kind::Exclusive)?),
        };
        let target = self.layer_path(&actual);
        if !exists(&target)? {
            match self.id_maps() {
                None => {
                    sync_tree(temp.path())?;
                    temp.rename_to(&target)?;
                }
                Some(maps) => {
                    // From here the tree holds subordinate ids: only the store's user namespace
                    // can remove it, so it is removed that way on failure.
                    let path = temp.into_path();
                    let placed = shift::chown_all(maps, &path, &last_owners(owners))
                        .and_then(|()| sync_tree(&path))
                        .and_then(|()| {
                            std::fs::rename(&path, &target).map_err(|e| Error::io("renaming into place", &target, e))
                        });
                    if let Err(e) = placed {
                        let _ = self.remove_tree(&path);
                        return Err(e);
                    }
                }
            }
        }
        Ok(actual)
    }

    fn hash_uncompressed(
        &self,
        blob_path: &std::path::Path,
        compression: Compression,
        bound: u64,
    ) -> Result<Digest, Error> {
        let blob = File::open(blob_path).map_err(|e| Error::io("opening blob", blob_path, e))?;
        let decoder = compression
            .decoder(blob)
            .map_err(|e| Error::io("decompressing", blob_path, e))?;
        let mut reader = HashingReader::new(decoder.take(bound + 1));
        let n = io::copy(&mut reader, &mut io::sink()).map_err(|e| Error::io("decompressing", blob_path, e))?;
        if n > bound {
            return Err(Error::TooLarge {
                what: format!("uncompressed layer {blob_path:?}"),
                limit: bound,
            });
        }
        Ok(reader.hasher.finish().0)
    }

    fn sniff(&self, blob_path: &std::path::Path) -> Result<Compression, Error> {
        let mut file = File::open(blob_path).map_err(|e| Error::io("opening blob", blob_path, e))?;
        let mut head = [0; 4];
        let mut n = 0;
        while n < head.len() {
            match file.read(&mut head[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io("reading blob", blob_path, e)),
            }
        }
        let _ = file.rewind();
        Ok(Compression::sniff(&head[..n]))
    }
}

/// Syncs the store's file system: an unpacked tree is complete on disk before its name appears.
fn sync_tree(path: &std::path::Path) -> Result<(), Error> {
    let dir = File::open(path).map_err(|e| Error::io("opening", path, e))?;
    nix::unistd::syncfs(&dir).map_err(|e| Error::io("syncing", path, e.into()))
}

/// The owner each node ends with (a later entry for a path wins), without those the caller's
/// own ids already give (0:0 inside is the caller) and hard links (changed through their
/// target's name, not their own).
fn last_owners(owners: Vec<unpack::Owner>) -> Vec<(std::path::PathBuf, u32, u32)> {
    let mut last = std::collections::BTreeMap::new();
    for (path, ids) in owners {
        last.insert(path, ids);
    }
    last.into_iter()
        .filter_map(|(path, ids)| match ids {
            Some((0, 0)) | None => None,
            Some((uid, gid)) => Some((path, uid, gid)),
        })
        .collect()
}

fn check_diff_id(staged: &StagedBlob, expected: &Digest, actual: &Digest) -> Result<(), Error> {
    if expected != actual {
        return Err(Error::DiffIdMismatch {
            blob: staged.digest.clone(),
            expected: expected.clone(),
            actual: actual.clone(),
        });
    }
    Ok(())
}
