//! The image's file tree as a container of it sees it (the overlay of its layer directories),
//! read without mounting: where COPY writes (its destination, resolved through the image's
//! symlinks inside the image's root, as Docker does), what metadata the parent directories of
//! a copied file keep, and the accounts `--chown` names.
//!
//! A path is looked up from the top layer down: the first layer holding it wins; a whiteout
//! (a 0:0 character device) or a non-directory on the way hides the layers below. Layers are
//! hostile input: nothing is followed on the host. Every prefix is checked to be a real
//! directory (`lstat`) in that layer before anything below it is looked at, and symlinks are
//! resolved here, inside the image's root. Opaque directories are not consulted: they only
//! change which metadata a parent directory of a copied file keeps.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use nsbox_image::run::LayerStack;

/// How many symlinks one resolution may follow (Linux's `MAXSYMLINKS`).
const MAX_SYMLINKS: usize = 40;

/// The most of `/etc/passwd` or `/etc/group` read.
const ACCOUNTS_LIMIT: u64 = 4 << 20;

/// An image's layer directories, top first; valid while the image is leased.
pub struct ImageFs {
    layers: Vec<PathBuf>,
}

/// What the image holds at a path.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// A symlink's target.
    pub link: Option<PathBuf>,
}

impl Entry {
    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }
}

impl ImageFs {
    /// The layer directories `layers`, top first.
    pub fn new(layers: Vec<PathBuf>) -> ImageFs {
        ImageFs { layers }
    }

    /// The entry at the absolute, normalised `path` (its parents resolved: no symlink among
    /// them), not following a symlink at the end.
    pub fn lstat(&self, path: &Path) -> Option<Entry> {
        let components: Vec<&std::ffi::OsStr> = path
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        if components.is_empty() {
            return Some(Entry {
                mode: libc::S_IFDIR | 0o755,
                uid: 0,
                gid: 0,
                link: None,
            });
        }
        'layers: for layer in &self.layers {
            let mut at = layer.clone();
            for (i, name) in components.iter().enumerate() {
                at.push(name);
                let meta = match fs::symlink_metadata(&at) {
                    Ok(meta) => meta,
                    Err(_) => continue 'layers,
                };
                let last = i + 1 == components.len();
                if meta.file_type().is_char_device() && meta.rdev() == 0 {
                    return None; // a whiteout
                }
                if !last && !meta.is_dir() {
                    return None; // a file or symlink here hides the layers below
                }
                if last {
                    let link = meta.file_type().is_symlink().then(|| fs::read_link(&at).ok()).flatten();
                    return Some(Entry {
                        mode: meta.mode(),
                        uid: meta.uid(),
                        gid: meta.gid(),
                        link,
                    });
                }
            }
        }
        None
    }

    /// `path` (absolute in the image) with every symlink resolved inside the image's root
    /// (`..` stops at the root), the last component too when `follow_last`.
    pub fn resolve(&self, path: &Path, follow_last: bool) -> Result<PathBuf, String> {
        let mut pending: Vec<PathBuf> = path
            .components()
            .rev()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(PathBuf::from(n)),
                Component::ParentDir => Some(PathBuf::from("..")),
                _ => None,
            })
            .collect();
        let mut current = PathBuf::from("/");
        let mut hops = 0;
        while let Some(name) = pending.pop() {
            if name == Path::new("..") {
                current.pop();
                continue;
            }
            let candidate = current.join(&name);
            let last = pending.is_empty();
            match self.lstat(&candidate).and_then(|e| e.link) {
                Some(target) if !last || follow_last => {
                    hops += 1;
                    if hops > MAX_SYMLINKS {
                        return Err(format!(
                            "too many levels of symbolic links in the image at {}",
                            path.display()
                        ));
                    }
                    if target.is_absolute() {
                        current = PathBuf::from("/");
                    }
                    for c in target.components().rev() {
                        match c {
                            Component::Normal(n) => pending.push(PathBuf::from(n)),
                            Component::ParentDir => pending.push(PathBuf::from("..")),
                            _ => {}
                        }
                    }
                }
                _ => current = candidate,
            }
        }
        Ok(current)
    }

    /// A text file of the image (`/etc/passwd`), if it is there.
    pub fn read_text(&self, path: &str) -> Result<Option<String>, String> {
        LayerStack::new(self.layers.clone())
            .read(Path::new(path), ACCOUNTS_LIMIT)
            .map(|b| b.map(|b| String::from_utf8_lossy(&b).into_owned()))
            .map_err(|e| format!("reading {path} in the image: {e}"))
    }

    /// `--chown=user[:group]`: names looked up in the image's `/etc/passwd` and `/etc/group`,
    /// numbers taken as they are; without a group, the user's number is the group's (Docker's
    /// rule for `--chown`).
    pub fn owner(&self, spec: &str) -> Result<(u32, u32), String> {
        let (user, group) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec, None),
        };
        let id = |name: &str, file: &str| -> Result<u32, String> {
            if let Ok(n) = name.parse::<u32>() {
                return Ok(n);
            }
            let text = self.read_text(file)?.unwrap_or_default();
            text.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split(':').collect();
                    (f.len() >= 3 && f[0] == name)
                        .then(|| f[2].parse::<u32>().ok())
                        .flatten()
                })
                .next()
                .ok_or_else(|| {
                    format!(
                        "unable to find {} {name:?} in the image's {file}",
                        if file == "/etc/passwd" { "user" } else { "group" }
                    )
                })
        };
        if user.is_empty() {
            return Err(format!("--chown={spec}: no user"));
        }
        let uid = id(user, "/etc/passwd")?;
        let gid = match group {
            Some(g) if !g.is_empty() => id(g, "/etc/group")?,
            Some(_) => return Err(format!("--chown={spec}: no group after ':'")),
            None => uid,
        };
        Ok((uid, gid))
    }
}
