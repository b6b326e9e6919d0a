//! The build cache: each step's image is stored under the reference
//! `nsbox-build-cache:<key>`, where the key is the SHA-256 of the parent image's manifest
//! digest, the instruction after substitution (with, for RUN, the build arguments in its
//! environment) and, for COPY, ADD and a WORKDIR that creates its directory, the digest of what
//! the step adds (names, types, modes, owners, contents, link targets: not mtimes, as
//! Docker's cache ignores them). A later build that reaches the same parent with the same
//! instruction and content finds the image and goes on from it ("---> Using cache").
//!
//! Being referenced, cached images survive `Store::gc` (and `nsbox image prune`) until their
//! reference is removed (`nsbox rmi nsbox-build-cache:<key>`, or `nsbox builder prune`);
//! `nsbox images` does not list the cache's repository.

use std::fs;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nsbox_image::{Digest, Image, Store};
use sha2::{Digest as _, Sha256};

/// The repository cached step images are stored under.
pub const REPOSITORY: &str = "nsbox-build-cache";

/// A step's cache key.
pub fn key(parent: &Image, instruction: &str, content: Option<&str>) -> String {
    let text = format!(
        "nsbox-build-cache v1\nparent {}\ninstruction {instruction}\ncontent {}\n",
        parent.manifest_digest(),
        content.unwrap_or("-")
    );
    Digest::of(text.as_bytes()).hex().to_owned()
}

/// The reference a step image is stored under.
pub fn reference(key: &str) -> String {
    format!("{REPOSITORY}:{key}")
}

/// The cached image of `key`, if any.
pub fn lookup(store: &Store, key: &str) -> Option<Image> {
    store.inspect(&reference(key)).ok()
}

/// The digest of the tree at `dir` (our own staging directory): every entry, in name order,
/// with its type, mode, owner, size and content (or link target).
pub fn tree_digest(dir: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    if dir.exists() {
        walk(dir, "", &mut hasher)?;
    }
    Ok(hex(&hasher.finalize()))
}

fn walk(dir: &Path, rel: &str, hasher: &mut Sha256) -> std::io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let child = format!("{rel}/{}", name.to_string_lossy());
        let meta = fs::symlink_metadata(&path)?;
        hasher.update(format!("{child}\0{:o}\0{}:{}\0", meta.mode(), meta.uid(), meta.gid()).as_bytes());
        if meta.file_type().is_symlink() {
            hasher.update(fs::read_link(&path)?.as_os_str().as_encoded_bytes());
        } else if meta.is_file() {
            let mut file = fs::File::open(&path)?;
            let mut content = Sha256::new();
            let mut buf = vec![0; 64 * 1024];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                content.update(&buf[..n]);
            }
            hasher.update(format!("{} {}", meta.len(), hex(&content.finalize())).as_bytes());
        } else if meta.is_dir() {
            walk(&path, &child, hasher)?;
        } else {
            hasher.update(format!("rdev {}", meta.rdev()).as_bytes());
        }
        hasher.update(b"\n");
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A config as JSON with its keys sorted (labels are a hash map: its order varies per run).
pub fn canonical(config: &nsbox_image::oci_spec::image::Config) -> String {
    serde_json::to_value(config).map(|v| v.to_string()).unwrap_or_default()
}
