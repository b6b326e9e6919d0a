//! Committing a container's changes: the overlay upper of a container run with
//! [`Upper::Dir`](nsbox::Upper::Dir) becomes a layer ([`layer_from_upper`]), and
//! [`Store::commit`] stores a new image of the base image's layers plus that one, as
//! `docker commit` does.
//!
//! ```no_run
//! use nsbox::{Container, Upper};
//! use nsbox_image::{Store, commit::CommitOptions, run::{ImageRun, Overrides}};
//! let store = Store::open("/var/lib/nsbox")?;
//! let work = "/var/tmp/c1"; // nsbox makes work/upper and work/work
//! let mut builder = Container::builder();
//! let overrides = Overrides {
//!     cmd: Some(vec!["sh".into(), "-c".into(), "echo hi > /etc/greeting".into()]),
//!     ..Default::default()
//! };
//! let run = ImageRun::new(&store, "debian:bookworm")?.overrides(overrides).upper(Upper::Dir(work.into()));
//! let base = run.image().clone();
//! run.apply(&mut builder)?;
//! builder.status()?;
//! let image = store.commit(&base, format!("{work}/upper"), "greeting:1", &CommitOptions::default())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod error;
mod upper;
mod xattr;

#[cfg(test)]
mod tests;

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub use error::CommitError;
pub use upper::{LayerReport, MAX_DEPTH, layer_from_upper, layer_from_upper_shifted};

use crate::digest::Hasher;
use crate::import::ImageInput;
use crate::store::{Kind, LayerInput, LockFile};
use crate::{Digest, Error, Image, Reference, Store};

/// The media type of committed layers: uncompressed (the store keeps blobs as they come, and a
/// local commit gains nothing from compressing what is unpacked next to it).
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";

/// What a commit changes beside the layers.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CommitOptions {
    /// The new image's run config (Env, Cmd, …); `None` keeps the base image's.
    pub config: Option<oci_spec::image::Config>,
    /// The history entry's `comment` (`docker commit -m`).
    pub comment: Option<String>,
    /// The config's `author` (`docker commit -a`).
    pub author: Option<String>,
    /// The id maps the container ran under, to write its owners in its own ids (see
    /// [`layer_from_upper_shifted`]). `None`: the store's ([`Store::id_maps`]) for a store
    /// with subordinate ids, else the ids on disk as they are.
    pub id_maps: Option<crate::StoreIdMaps>,
    /// The history entry's `created_by` (a build's instruction); `nsbox-image commit` if unset.
    pub created_by: Option<String>,
}

impl CommitOptions {
    /// The new image's run config instead of the base's.
    pub fn config(mut self, config: oci_spec::image::Config) -> Self {
        self.config = Some(config);
        self
    }

    /// A comment for the new history entry.
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comment = Some(comment.into());
        self
    }

    /// The image's author.
    pub fn author(mut self, author: impl Into<String>) -> Self {
        self.author = Some(author.into());
        self
    }

    /// The id maps the container ran under (a root caller's container with a subordinate
    /// range, say): its owners are shifted back through them.
    pub fn id_maps(mut self, maps: crate::StoreIdMaps) -> Self {
        self.id_maps = Some(maps);
        self
    }

    /// What the history entry says made the layer (`RUN apt-get install -y nginx`).
    pub fn created_by(mut self, created_by: impl Into<String>) -> Self {
        self.created_by = Some(created_by.into());
        self
    }
}

impl Store {
    /// Stores a new image `reference`: the layers of `base` (an image of this store) plus the
    /// layer of the overlayfs upper directory `upper` (see [`layer_from_upper`]; for
    /// `Upper::Dir(dir)` it is `dir/upper`), with `base`'s config (or `options.config`), the
    /// new diff id appended and a history entry. The new layer is unpacked into the store like
    /// any imported one (through the same safe unpacker), so what runs from the new image is
    /// what the layer says. The container must have exited.
    pub fn commit(
        &self,
        base: &Image,
        upper: impl AsRef<Path>,
        reference: &str,
        options: &CommitOptions,
    ) -> Result<Image, CommitError> {
        let reference = Reference::parse(reference)?;
        let _no_gc = LockFile::acquire(&self.path().join("gc.lock"), Kind::Shared)?;
        let staged = TempFile::create(&self.tmp_dir())?;
        let file = OpenOptions::new()
            .write(true)
            .open(&staged.0)
            .map_err(|e| CommitError::io("opening", &staged.0, e))?;
        let writer = HashingWriter {
            inner: BufWriter::with_capacity(256 * 1024, file),
            hasher: Hasher::default(),
        };
        let ids = options.id_maps.as_ref().or(self.id_maps());
        let (mut writer, _) = layer_from_upper_shifted(upper.as_ref(), writer, ids)?;
        writer.flush().map_err(|e| CommitError::io("writing", &staged.0, e))?;
        let (diff_id, size) = writer.hasher.finish();

        let config = self.committed_config(base, &diff_id, options)?;
        let config_digest = Digest::of(&config);
        let mut layers: Vec<LayerInput<'_>> = self.stored_layers(base);
        let path = staged.0.clone();
        layers.push(LayerInput {
            blob: Some(diff_id.clone()),
            size: Some(size),
            length: size,
            media_type: Some(LAYER_MEDIA_TYPE.to_owned()),
            diff_id: Some(diff_id),
            open: Box::new(move || {
                let file = File::open(&path).map_err(|e| Error::io("opening", &path, e))?;
                Ok(Box::new(file) as Box<dyn std::io::Read>)
            }),
        });
        let input = ImageInput {
            manifest: None,
            config: Some((config.clone(), config_digest)),
            layers,
        };
        Ok(self.store_image(&reference, input, &mut |_| {})?)
    }

    /// The base's config (as stored: fields this crate does not know are kept) with the new
    /// layer's diff id, a history entry and the caller's changes.
    fn committed_config(&self, base: &Image, diff_id: &Digest, options: &CommitOptions) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(base.config_digest());
        let data = fs::read(&path).map_err(|e| Error::io("reading image config", &path, e))?;
        if Digest::of(&data) != *base.config_digest() {
            return Err(Error::Corrupt {
                path,
                what: "the config blob does not hash to its name".into(),
            });
        }
        let corrupt = |what: &str| Error::Corrupt {
            path: path.clone(),
            what: what.into(),
        };
        let mut config: serde_json::Value = serde_json::from_slice(&data).map_err(|e| corrupt(&e.to_string()))?;
        let object = config.as_object_mut().ok_or_else(|| corrupt("not a JSON object"))?;
        let diff_ids = object
            .get_mut("rootfs")
            .and_then(|r| r.get_mut("diff_ids"))
            .and_then(|d| d.as_array_mut())
            .ok_or_else(|| corrupt("no rootfs.diff_ids"))?;
        diff_ids.push(diff_id.to_string().into());
        let created = created_now();
        let created_by = options.created_by.as_deref().unwrap_or("nsbox-image commit");
        let mut entry = serde_json::json!({ "created": created, "created_by": created_by });
        if let Some(comment) = &options.comment {
            entry["comment"] = comment.clone().into();
        }
        match object.get_mut("history").and_then(|h| h.as_array_mut()) {
            Some(history) => history.push(entry),
            None => {
                object.insert("history".into(), serde_json::Value::Array(vec![entry]));
            }
        }
        object.insert("created".into(), created.into());
        if let Some(author) = &options.author {
            object.insert("author".into(), author.clone().into());
        }
        if let Some(run) = &options.config {
            object.insert("config".into(), serde_json::to_value(run).expect("a config serializes"));
        }
        Ok(serde_json::to_vec(&config).expect("a config serializes"))
    }
}

/// Now, as RFC 3339 in UTC (the config's `created`).
fn created_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A file in the store's `tmp/`, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn create(dir: &Path) -> Result<Self, CommitError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!("commit-{}-{nanos}.tar", std::process::id()));
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| CommitError::io("creating", &path, e))?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Hashes (the diff id) and counts what it writes.
struct HashingWriter<W> {
    inner: W,
    hasher: Hasher,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
