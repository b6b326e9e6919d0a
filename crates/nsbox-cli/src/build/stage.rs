//! A step's staging directory: where a RUN container's upper lives, or where COPY and ADD lay
//! out what they add, in overlayfs' upper format, for `Store::commit` to turn into a layer.
//! It lives in the build's work directory (inside the 0700 store, like every layer: setuid
//! files copied in must not be reachable by other users, CVE-2021-41091) and is removed when
//! dropped, on success and on every error path.
//!
//! Only this build writes into it. Symlinks it holds come from the context or an archive, so
//! every path is prepared component by component: a symlink (or file) where a directory must
//! be is replaced by a directory, never followed.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{SFlag, UtimensatFlags, utimensat};
use nix::sys::time::TimeSpec;

use super::context::{Child, Context, Source, children, open_dir};
use super::imagefs::ImageFs;

/// Owners and modes of copied files (`--chown`, `--chmod`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// `None`: root (0:0), as Docker copies.
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
}

/// A private directory, removed on drop.
pub struct Stage {
    dir: PathBuf,
    /// Whether ownership can be set (root); otherwise files stay the caller's.
    chown: bool,
}

impl Stage {
    /// A new directory under `parent`.
    pub fn new(parent: &Path) -> io::Result<Stage> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(parent)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = parent.join(format!("step-{}-{nanos}", std::process::id()));
        fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(Stage {
            dir,
            chown: nix::unistd::geteuid().is_root(),
        })
    }

    /// The directory (for `Upper::Dir`: nsbox makes `upper/` and `work/` in it).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The upper: what goes into the layer.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// A file of the stage outside the upper (a RUN's log).
    pub fn scratch(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Where the image path `path` (absolute) lies in the upper.
    fn at(&self, path: &Path) -> PathBuf {
        let mut at = self.upper();
        for c in path.components() {
            if let Component::Normal(n) = c {
                at.push(n);
            }
        }
        at
    }

    /// Makes the directory `path` (absolute in the image) and its parents in the upper; those
    /// the image has keep its mode and owner, new ones are 0755 root (or `new_owner`).
    pub fn make_dir(&self, image: &ImageFs, path: &Path, new_owner: Option<(u32, u32)>) -> io::Result<PathBuf> {
        let upper = self.upper();
        if !upper.exists() {
            fs::DirBuilder::new().mode(0o755).create(&upper)?;
        }
        let mut in_image = PathBuf::from("/");
        let mut at = upper;
        for c in path.components() {
            let Component::Normal(name) = c else { continue };
            in_image.push(name);
            at.push(name);
            match fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => continue,
                Ok(_) => remove(&at)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            fs::create_dir(&at)?;
            let (mode, uid, gid) = match image.lstat(&in_image).filter(|e| e.is_dir()) {
                Some(e) => (e.mode & 0o7777, e.uid, e.gid),
                None => {
                    let (uid, gid) = new_owner.unwrap_or((0, 0));
                    (0o755, uid, gid)
                }
            };
            self.own(&at, uid, gid)?;
            fs::set_permissions(&at, fs::Permissions::from_mode(mode))?;
        }
        Ok(at)
    }

    fn own(&self, path: &Path, uid: u32, gid: u32) -> io::Result<()> {
        match self.chown {
            true => std::os::unix::fs::lchown(path, Some(uid), Some(gid)),
            false => Ok(()),
        }
    }

    /// Copies `source` of `context` to the image path `dest`: a directory's contents into the
    /// directory `dest`, a file as the file `dest`. The parents of `dest` must exist.
    pub fn copy(&self, context: &Context, source: &Source, dest: &Path, options: CopyOptions) -> io::Result<()> {
        let target = self.at(dest);
        if source.is_dir() {
            if !fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
                let _ = remove(&target);
                fs::create_dir(&target)?;
                self.attributes(&target, source.stat.st_mode, options, None)?;
            }
            let dir = open_dir(&source.fd, ".")?;
            self.copy_tree(context, &source.rel, dir, &target, options)
        } else if is_regular(&source.stat) {
            let file = source.open()?;
            self.put_file(file, &source.stat, &target, options)
        } else {
            Err(io::Error::other(format!(
                "{}: not a regular file or directory",
                source.rel
            )))
        }
    }

    fn copy_tree(
        &self,
        context: &Context,
        rel: &str,
        mut dir: nix::dir::Dir,
        target: &Path,
        options: CopyOptions,
    ) -> io::Result<()> {
        for (name, child) in children(&mut dir)? {
            let child_rel = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            let excluded = context.excluded(&child_rel);
            let at = target.join(&name);
            match child {
                Child::Dir(sub, stat) => {
                    if excluded && !context_may_reinclude(context) {
                        continue;
                    }
                    if !fs::symlink_metadata(&at).is_ok_and(|m| m.is_dir()) {
                        let _ = remove(&at);
                        fs::create_dir(&at)?;
                    }
                    self.copy_tree(context, &child_rel, sub, &at, options)?;
                    self.attributes(&at, stat.st_mode, options, Some(&stat))?;
                }
                _ if excluded => {}
                Child::File(file, stat) => self.put_file(file, &stat, &at, options)?,
                Child::Symlink(link, stat) => {
                    let _ = remove(&at);
                    std::os::unix::fs::symlink(&link, &at)?;
                    let (uid, gid) = options.owner.unwrap_or((0, 0));
                    self.own(&at, uid, gid)?;
                    let _ = stat;
                }
                Child::Other => {}
            }
        }
        Ok(())
    }

    fn put_file(
        &self,
        mut file: File,
        stat: &nix::sys::stat::FileStat,
        at: &Path,
        options: CopyOptions,
    ) -> io::Result<()> {
        if fs::symlink_metadata(at).is_ok() {
            remove(at)?;
        }
        let mut out = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode_private()
            .open(at)?;
        io::copy(&mut file, &mut out)?;
        drop(out);
        self.attributes(at, stat.st_mode, options, Some(stat))
    }

    /// Owner, mode (`--chmod` or the source's, setuid bits kept) and mtime.
    fn attributes(
        &self,
        at: &Path,
        mode: u32,
        options: CopyOptions,
        times: Option<&nix::sys::stat::FileStat>,
    ) -> io::Result<()> {
        let (uid, gid) = options.owner.unwrap_or((0, 0));
        self.own(at, uid, gid)?;
        let mode = options.chmod.unwrap_or(mode & 0o7777);
        fs::set_permissions(at, fs::Permissions::from_mode(mode))?;
        if let Some(stat) = times {
            let mtime = TimeSpec::new(stat.st_mtime, stat.st_mtime_nsec);
            utimensat(
                nix::fcntl::AT_FDCWD,
                at,
                &mtime,
                &mtime,
                UtimensatFlags::NoFollowSymlink,
            )?;
        }
        Ok(())
    }

    /// ADD of a local archive: its entries unpacked into the directory `dest` (made first)
    /// by nsbox-image's unpacker, which refuses names and links that would leave it.
    pub fn extract(&self, image: &ImageFs, archive: impl Read, dest: &Path) -> io::Result<()> {
        let root = self.make_dir(image, dest, None)?;
        let options = nsbox_image::unpack::Options {
            mode: nsbox_image::unpack::Mode::Flatten,
            limits: nsbox_image::unpack::Limits::default(),
            privileged: self.chown,
        };
        nsbox_image::unpack::apply_layer(archive, &root, &options).map_err(io::Error::other)?;
        Ok(())
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// With an exception (`!pattern`) in `.dockerignore`, an excluded directory may hold files
/// that are included again: walk it.
fn context_may_reinclude(context: &Context) -> bool {
    context.may_reinclude()
}

/// Removes whatever is at `path` (a directory with its contents).
fn remove(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `stat` is a regular file.
pub fn is_regular(stat: &nix::sys::stat::FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFREG
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for fs::OpenOptions {
    /// Created 0600; the final mode is set once the content is in.
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}
