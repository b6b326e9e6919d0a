//! The content-addressed image store.
//!
//! ```text
//! <root>/                       0700: layers hold setuid files (CVE-2021-41091)
//!   lock                        flock: writers of refs.json and images/
//!   gc.lock                     flock: shared by every import, exclusive by gc
//!   refs.json                   {"busybox:latest": "sha256:<manifest>"}, replaced atomically
//!   images/sha256/<hex>.json    one record per image, keyed by its manifest digest
//!   blobs/sha256/<hex>          manifests, configs, layer blobs as imported (compressed)
//!   layers/sha256/<hex>/        unpacked layers, keyed by diff id (an overlayfs lower layer)
//!   locks/layers/<hex>.lock     flock per layer: exclusive while unpacking or deleting it,
//!                               shared while a Lease holds it
//!   leases/<id>.json            the process a detached container's layers are held by
//!   tmp/                        everything in progress; renamed into place only when complete
//! ```
//!
//! Every name under `blobs/`, `layers/`, `images/` and `locks/` is the hex of a checked
//! [`Digest`]; references live only inside `refs.json`, never in a path.

mod blobs;
mod files;
mod gc;
mod holders;
mod idmap;
mod image;
mod layers;
mod lease;
mod lock;
mod records;
mod roots;
mod shift;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use gc::GcReport;
pub use idmap::{MAX_SUBORDINATE_IDS, StoreIdMaps};
pub use image::{Image, Layer};
pub use lease::Lease;

pub(crate) use layers::LayerInput;
pub(crate) use lock::{Kind, LockFile};
pub(crate) use records::{ImageRecord, LayerRecord};
pub(crate) use roots::remove_root_copy;

use crate::unpack::Limits;
use crate::{Digest, Error, Reference};

/// The bounds every layer is unpacked under unless [`Store::set_limits`] says otherwise.
pub const DEFAULT_LIMITS: Limits = Limits {
    max_entries: 1 << 20,
    max_name_len: 255,
    max_path_len: 4096,
    max_total_size: 64 << 30,
};

/// A local image store: blobs by digest, unpacked layers by diff id, references by name.
///
/// Several processes may use one store at once (see the module docs for its locks). A `Store`
/// holds no file descriptors between calls.
///
/// ```no_run
/// use nsbox_image::{Source, Store};
/// let store = Store::open(Store::default_path().expect("a home directory"))?;
/// let image = store.import(&Source::oci_layout("busybox-oci"), "busybox:latest", |p| {
///     eprintln!("{}/{} bytes, {}/{} layers", p.bytes_done, p.bytes_total, p.layers_done, p.layers_total)
/// })?;
/// let lease = store.lease(&image)?; // keeps gc off its layers while a container runs
/// # Ok::<(), nsbox_image::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
    limits: Limits,
    privileged: bool,
    id_maps: Option<StoreIdMaps>,
}

impl Store {
    /// `/var/lib/nsbox` as root, otherwise `$XDG_DATA_HOME/nsbox` or `~/.local/share/nsbox`;
    /// `None` if neither variable is set for a non-root user.
    pub fn default_path() -> Option<PathBuf> {
        if nix::unistd::geteuid().is_root() {
            return Some(PathBuf::from("/var/lib/nsbox"));
        }
        let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
        if let Some(data) = std::env::var_os("XDG_DATA_HOME").and_then(absolute) {
            return Some(data.join("nsbox"));
        }
        std::env::var_os("HOME")
            .and_then(absolute)
            .map(|home| home.join(".local/share/nsbox"))
    }

    /// Opens the store at `path`, creating it (0700) and its layout if needed. An existing
    /// directory we own is made 0700; one owned by another user is refused.
    ///
    /// A new store of an unprivileged caller with subordinate ids (/etc/subuid and
    /// /etc/subgid, newuidmap and newgidmap installed) records their map
    /// ([`StoreIdMaps::for_caller`]) and keeps its layers' owners through it; a store that
    /// recorded a map the caller no longer has is refused ([`Error::IdMapChanged`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let root = path.as_ref().to_owned();
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
        }
        match fs::DirBuilder::new().mode(0o700).create(&root) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(Error::io("creating", &root, e)),
            _ => {}
        }
        let meta = fs::metadata(&root).map_err(|e| Error::io("inspecting", &root, e))?;
        let euid = nix::unistd::geteuid().as_raw();
        if meta.uid() != euid {
            return Err(Error::StoreNotOwned {
                path: root,
                owner: meta.uid(),
            });
        }
        if meta.mode() & 0o777 != 0o700 {
            fs::set_permissions(&root, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("making private", &root, e))?;
        }
        for dir in [
            "blobs/sha256",
            "layers/sha256",
            "images/sha256",
            "locks/layers",
            "leases",
            "tmp",
        ] {
            let dir = root.join(dir);
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .map_err(|e| Error::io("creating", &dir, e))?;
        }
        let id_maps = idmap::load(&root, StoreIdMaps::for_caller())?;
        Ok(Self {
            root,
            limits: DEFAULT_LIMITS,
            privileged: euid == 0 && meta.uid() == 0,
            id_maps,
        })
    }

    /// The subordinate id map this store's layers are owned through (a rootless store made by
    /// a caller with subordinate ids), `None` otherwise (root's image ids, or every file the
    /// caller's). A container of its images must run under this map
    /// ([`ImageRun`](crate::run::ImageRun) sets it).
    pub fn id_maps(&self) -> Option<&StoreIdMaps> {
        self.id_maps.as_ref()
    }

    /// Removes a file or tree of the store: a directory through the store's user namespace
    /// when its layers belong to subordinate ids (the caller alone cannot), anything else
    /// directly.
    pub(crate) fn remove_tree(&self, path: &Path) -> Result<(), Error> {
        let is_dir = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
        match &self.id_maps {
            Some(maps) if is_dir(path) => shift::remove_tree(maps, path),
            _ => files::remove_tree(path),
        }
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Whether layers are unpacked with owners, device nodes and setuid bits (a root-owned store
    /// opened by root).
    pub fn privileged(&self) -> bool {
        self.privileged
    }

    /// Bounds on each layer unpacked by this handle.
    pub fn set_limits(&mut self, limits: Limits) -> &mut Self {
        self.limits = limits;
        self
    }

    /// The directory of the unpacked layer `diff_id` (it may not exist).
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers/sha256").join(diff_id.hex())
    }

    /// The file of the blob `digest` (it may not exist).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Every image with at least one reference, each once, in reference order.
    pub fn list(&self) -> Result<Vec<Image>, Error> {
        let refs = self.read_refs()?;
        let mut seen = std::collections::BTreeSet::new();
        let mut images = Vec::new();
        for digest in refs.values() {
            if seen.insert(digest.clone()) {
                match self.load_image(digest, &refs) {
                    Ok(image) => images.push(image),
                    // Removed between reading refs and the record.
                    Err(Error::ImageNotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(images)
    }

    /// The image `reference` names (`name[:tag]`, or `name@sha256:…` for the manifest digest).
    pub fn inspect(&self, reference: &str) -> Result<Image, Error> {
        let reference = Reference::parse(reference)?;
        let refs = self.read_refs()?;
        let digest = self.resolve(&reference, &refs)?;
        self.load_image(&digest, &refs)
    }

    /// Removes the reference; the image record goes with its last reference. Blobs and layers
    /// stay until [`gc`](Self::gc).
    pub fn remove(&self, reference: &str) -> Result<(), Error> {
        let reference = Reference::parse(reference)?;
        let _lock = LockFile::acquire(&self.root.join("lock"), Kind::Exclusive)?;
        let mut refs = self.read_refs()?;
        let key = match reference.digest() {
            // `name@digest` removes every reference of that name to that image.
            Some(digest) => {
                let keys: Vec<Reference> = refs
                    .iter()
                    .filter(|(r, d)| r.name() == reference.name() && *d == digest)
                    .map(|(r, _)| r.clone())
                    .collect();
                if keys.is_empty() {
                    return Err(Error::ImageNotFound {
                        reference: reference.to_string(),
                    });
                }
                for key in &keys[1..] {
                    refs.remove(key);
                }
                keys[0].clone()
            }
            None => reference,
        };
        let Some(digest) = refs.remove(&key) else {
            return Err(Error::ImageNotFound {
                reference: key.to_string(),
            });
        };
        self.write_refs(&refs)?;
        if !refs.values().any(|d| *d == digest) {
            self.remove_record(&digest)?;
        }
        Ok(())
    }

    fn resolve(&self, reference: &Reference, refs: &records::Refs) -> Result<Digest, Error> {
        let not_found = || Error::ImageNotFound {
            reference: reference.to_string(),
        };
        match reference.digest() {
            Some(digest) => refs
                .iter()
                .any(|(r, d)| r.name() == reference.name() && d == digest)
                .then(|| digest.clone())
                .ok_or_else(not_found),
            None => refs.get(reference).cloned().ok_or_else(not_found),
        }
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn layer_lock_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("locks/layers").join(format!("{}.lock", diff_id.hex()))
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }
}

fn exists(path: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io("inspecting", path, e)),
    }
}
