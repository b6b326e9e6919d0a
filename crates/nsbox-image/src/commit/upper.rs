//! An overlayfs upper directory as an OCI layer tar: what a container changed, in the format
//! of the layers it ran on (the OCI image spec's "changesets").
//!
//! overlayfs records a deletion as a 0:0 character device and a directory that replaced a
//! lower one as opaque (`user.overlay.opaque=y` with `userxattr`, `trusted.overlay.opaque`
//! otherwise); a layer says both in names: `.wh.NAME` and `DIR/.wh..wh..opq`. Everything else
//! is copied as it is: owners (the ids on disk), modes with setuid bits, mtimes (seconds),
//! symlinks (never followed), hard links within the upper, fifos and device nodes, and the
//! xattrs of files and directories (`user.*`, `security.capability`, `trusted.*`) except
//! overlayfs' own bookkeeping (`*.overlay.*`).
//!
//! The upper is the container's work: hostile. It is walked by directory fds, every name opened
//! `O_NOFOLLOW` relative to its parent and checked to be what `fstatat` saw; no path is ever
//! resolved through something the container made. The container must have exited (a file that
//! changes while it is read is [`CommitError::Changed`]).

use std::collections::HashMap;
use std::ffi::{CStr, OsStr};
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};
use tar::{EntryType, Header};

use super::CommitError;
use super::xattr;
use crate::store::StoreIdMaps;

/// How deep the upper may nest (one fd is open per level).
pub const MAX_DEPTH: usize = 256;

/// What went into a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerReport {
    /// Tar entries written (whiteouts and opaque markers included).
    pub entries: u64,
    /// `.wh.NAME` entries: files the container deleted from lower layers.
    pub whiteouts: u64,
    /// Directories marked opaque (`.wh..wh..opq`).
    pub opaque_dirs: u64,
    /// Bytes of file content.
    pub content_bytes: u64,
    /// Sockets, which a tar cannot hold: left out.
    pub skipped_sockets: Vec<PathBuf>,
}

/// Writes the layer tar of the overlayfs upper directory `upper` into `out`, entries in name
/// order (the same upper gives the same bytes), and returns `out` with what was written.
///
/// For a container run with [`Upper::Dir(dir)`](nsbox::Upper::Dir), the upper is
/// `dir/upper`.
///
/// ```no_run
/// let (tar, report) = nsbox_image::commit::layer_from_upper("/srv/c1/upper", Vec::new())?;
/// println!("{} bytes, {} deletions", tar.len(), report.whiteouts);
/// # Ok::<(), nsbox_image::commit::CommitError>(())
/// ```
pub fn layer_from_upper<W: Write>(upper: impl AsRef<Path>, out: W) -> Result<(W, LayerReport), CommitError> {
    layer_from_upper_shifted(upper, out, None)
}

/// [`layer_from_upper`] for a container that ran under the id maps `ids`: the owners on disk
/// (host ids) are written as the container's ids, shifted back through the maps; an owner
/// outside them is [`CommitError::Unmapped`]. `None` writes the ids on disk.
pub fn layer_from_upper_shifted<W: Write>(
    upper: impl AsRef<Path>,
    out: W,
    ids: Option<&StoreIdMaps>,
) -> Result<(W, LayerReport), CommitError> {
    let upper = upper.as_ref();
    let root = nix::fcntl::open(upper, dir_flags(), Mode::empty()).map_err(|e| CommitError::io("opening", upper, e))?;
    let mut tar = tar::Builder::new(out);
    tar.mode(tar::HeaderMode::Complete);
    let mut walk = Walk {
        upper,
        tar,
        report: LayerReport::default(),
        links: HashMap::new(),
        ids,
    };
    walk.dir(root.as_fd(), Path::new(""), 0)?;
    let report = walk.report;
    let out = walk
        .tar
        .into_inner()
        .map_err(|e| CommitError::io("writing the layer of", upper, e))?;
    Ok((out, report))
}

fn dir_flags() -> OFlag {
    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC
}

struct Walk<'a, W: Write> {
    upper: &'a Path,
    tar: tar::Builder<W>,
    report: LayerReport,
    /// (dev, ino) of files with several links -> the first name written.
    links: HashMap<(u64, u64), PathBuf>,
    /// The maps the container ran under: owners on disk are host ids, shifted back.
    ids: Option<&'a StoreIdMaps>,
}

impl<W: Write> Walk<'_, W> {
    fn io(&self, action: &'static str, rel: &Path, e: impl Into<std::io::Error>) -> CommitError {
        CommitError::io(action, self.upper.join(rel), e)
    }

    fn dir(&mut self, fd: BorrowedFd<'_>, rel: &Path, depth: usize) -> Result<(), CommitError> {
        if depth >= MAX_DEPTH {
            return Err(CommitError::Unrepresentable {
                path: self.upper.join(rel),
                what: format!("deeper than {MAX_DEPTH} directories"),
            });
        }
        let mut names = Vec::new();
        let mut listing =
            nix::dir::Dir::openat(fd, c".", dir_flags(), Mode::empty()).map_err(|e| self.io("listing", rel, e))?;
        for entry in listing.iter() {
            let entry = entry.map_err(|e| self.io("listing", rel, e))?;
            let name = entry.file_name();
            if name != c"." && name != c".." {
                names.push(name.to_owned());
            }
        }
        drop(listing);
        names.sort();
        for name in names {
            self.entry(fd, rel, &name, depth)?;
        }
        Ok(())
    }

    fn entry(&mut self, parent: BorrowedFd<'_>, rel: &Path, name: &CStr, depth: usize) -> Result<(), CommitError> {
        let path = rel.join(OsStr::from_bytes(name.to_bytes()));
        let mut st =
            fstatat(parent, name, AtFlags::AT_SYMLINK_NOFOLLOW).map_err(|e| self.io("inspecting", &path, e))?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let whiteout = kind == SFlag::S_IFCHR && st.st_rdev == 0;
        if let (Some(ids), false) = (self.ids, whiteout) {
            let (uid, gid) = (ids.inside_uid(st.st_uid), ids.inside_gid(st.st_gid));
            let (Some(uid), Some(gid)) = (uid, gid) else {
                return Err(CommitError::Unmapped {
                    path: self.upper.join(&path),
                    uid: st.st_uid,
                    gid: st.st_gid,
                });
            };
            (st.st_uid, st.st_gid) = (uid, gid);
        }
        match kind {
            SFlag::S_IFCHR if st.st_rdev == 0 => {
                let mut whiteout = b".wh.".to_vec();
                whiteout.extend_from_slice(name.to_bytes());
                let whiteout = rel.join(OsStr::from_bytes(&whiteout));
                self.marker(&whiteout)?;
                self.report.whiteouts += 1;
            }
            SFlag::S_IFDIR => {
                let fd = self.open_checked(parent, name, &path, &st, dir_flags())?;
                let attrs = self.xattrs(fd.as_fd(), &path)?;
                let opaque = attrs.opaque;
                self.append(header(EntryType::Directory, &st), &path, attrs.kept, None)?;
                if opaque {
                    self.marker(&path.join(".wh..wh..opq"))?;
                    self.report.opaque_dirs += 1;
                }
                self.dir(fd.as_fd(), &path, depth + 1)?;
            }
            SFlag::S_IFREG => {
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&(st.st_dev, st.st_ino)).cloned() {
                        let mut h = header(EntryType::Link, &st);
                        h.set_size(0);
                        self.report.entries += 1;
                        return self
                            .tar
                            .append_link(&mut h, &path, &first)
                            .map_err(|e| self.io("writing the layer entry of", &path, e));
                    }
                    self.links.insert((st.st_dev, st.st_ino), path.clone());
                }
                let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
                let fd = self.open_checked(parent, name, &path, &st, flags)?;
                let attrs = self.xattrs(fd.as_fd(), &path)?;
                let file = std::fs::File::from(fd);
                self.append(header(EntryType::Regular, &st), &path, attrs.kept, Some(file))?;
                self.report.content_bytes += st.st_size as u64;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(parent, name).map_err(|e| self.io("reading the link", &path, e))?;
                let mut h = header(EntryType::Symlink, &st);
                h.set_size(0);
                self.report.entries += 1;
                self.tar
                    .append_link(&mut h, &path, &target)
                    .map_err(|e| self.io("writing the layer entry of", &path, e))?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                let kind = match kind {
                    SFlag::S_IFCHR => EntryType::Char,
                    SFlag::S_IFBLK => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = header(kind, &st);
                if kind != EntryType::Fifo {
                    let (major, minor) = (libc::major(st.st_rdev), libc::minor(st.st_rdev));
                    h.set_device_major(major).map_err(|e| self.io("writing", &path, e))?;
                    h.set_device_minor(minor).map_err(|e| self.io("writing", &path, e))?;
                }
                self.append(h, &path, Vec::new(), None)?;
            }
            _ => self.report.skipped_sockets.push(self.upper.join(&path)),
        }
        Ok(())
    }

    /// Opens `name` in `parent` and checks it is the inode `fstatat` saw (not swapped since).
    fn open_checked(
        &self,
        parent: BorrowedFd<'_>,
        name: &CStr,
        path: &Path,
        seen: &FileStat,
        flags: OFlag,
    ) -> Result<OwnedFd, CommitError> {
        let fd = openat(parent, name, flags, Mode::empty()).map_err(|e| self.io("opening", path, e))?;
        let now = fstat(&fd).map_err(|e| self.io("inspecting", path, e))?;
        if (now.st_dev, now.st_ino, now.st_mode) != (seen.st_dev, seen.st_ino, seen.st_mode) {
            return Err(CommitError::Changed {
                path: self.upper.join(path),
            });
        }
        Ok(fd)
    }

    fn xattrs(&self, fd: BorrowedFd<'_>, path: &Path) -> Result<Xattrs, CommitError> {
        let mut out = Xattrs::default();
        for (name, value) in xattr::all(fd).map_err(|e| self.io("reading the xattrs of", path, e))? {
            if let Some(key) = name
                .strip_prefix("user.overlay.")
                .or_else(|| name.strip_prefix("trusted.overlay."))
            {
                match key {
                    "opaque" => out.opaque |= value == b"y",
                    "redirect" | "metacopy" => {
                        return Err(CommitError::Unrepresentable {
                            path: self.upper.join(path),
                            what: format!("an overlayfs {key} (its content is in a lower layer)"),
                        });
                    }
                    _ => {} // origin, impure, nlink…: the mount's bookkeeping
                }
            } else if name.starts_with("user.") || name.starts_with("trusted.") || name == "security.capability" {
                out.kept.push((name, value));
            }
        }
        Ok(out)
    }

    /// A whiteout or opaque marker: an empty file owned by root.
    fn marker(&mut self, path: &Path) -> Result<(), CommitError> {
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(0);
        self.append(h, path, Vec::new(), None)
    }

    fn append(
        &mut self,
        mut h: Header,
        path: &Path,
        xattrs: Vec<(String, Vec<u8>)>,
        content: Option<std::fs::File>,
    ) -> Result<(), CommitError> {
        if !xattrs.is_empty() {
            let records: Vec<(String, Vec<u8>)> = xattrs
                .into_iter()
                .map(|(n, v)| (format!("SCHILY.xattr.{n}"), v))
                .collect();
            self.tar
                .append_pax_extensions(records.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
                .map_err(|e| self.io("writing the layer entry of", path, e))?;
        }
        self.report.entries += 1;
        let size = h.size().unwrap_or(0);
        let result = match content {
            Some(file) => {
                let mut exact = Exact {
                    inner: file.take(size),
                    left: size,
                };
                let r = self.tar.append_data(&mut h, path, &mut exact);
                if exact.left != 0 || exact.inner.into_inner().read(&mut [0]).is_ok_and(|n| n > 0) {
                    return Err(CommitError::Changed {
                        path: self.upper.join(path),
                    });
                }
                r
            }
            None => self.tar.append_data(&mut h, path, std::io::empty()),
        };
        result.map_err(|e| self.io("writing the layer entry of", path, e))
    }
}

#[derive(Default)]
struct Xattrs {
    opaque: bool,
    kept: Vec<(String, Vec<u8>)>,
}

/// A header from a node's metadata (its size only for a regular file).
fn header(kind: EntryType, st: &FileStat) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(if kind == EntryType::Regular {
        st.st_size as u64
    } else {
        0
    });
    h
}

/// Reads exactly the header's size; fails on a file that shrank (the tar would be corrupt).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.left > 0 && !buf.is_empty() {
            return Err(std::io::Error::other("the file shrank while it was read"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}
