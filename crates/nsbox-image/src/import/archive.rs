//! The entries of a tar archive as [`Files`], read in place.
//!
//! The archive is scanned once for its headers: regular files are recorded with their data's
//! offset, symlinks and hard links with their targets. Nothing is written or followed on the
//! host: a link inside the archive resolves within the archive's own names (`..` stops at the
//! archive's root, absolute targets start from it), up to 40 hops. Docker and skopeo write the
//! legacy `<id>/layer.tar` entries as such links.
//!
//! What the scan holds is bounded: [`MAX_ENTRIES`] entries, names and link targets of at most
//! [`MAX_NAME`] bytes and [`MAX_NAMES_TOTAL`] in all, and the long names and PAX records the
//! `tar` crate reads before an entry at most
//! [`MAX_ENTRY_METADATA`](crate::unpack::MAX_ENTRY_METADATA) bytes (read through a
//! [`Budget`]: a 64 MiB long name fails after 1 MiB is read). Past any of them the import fails
//! with [`Error::TooLarge`].

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::budget::{Budget, Budgeted};
use super::files::Files;
use crate::Error;
use crate::unpack::MAX_ENTRY_METADATA;

/// Entries beyond this many are refused (the index is held in memory).
const MAX_ENTRIES: usize = 1 << 16;
/// The longest name or link target kept (the unpacker's default path length).
const MAX_NAME: usize = 4096;
/// The bytes of names and link targets the index holds in all (an OCI-form archive of
/// [`MAX_ENTRIES`] blobs needs about 5 MiB).
const MAX_NAMES_TOTAL: usize = 16 << 20;
const MAX_LINK_HOPS: usize = 40;

#[derive(Debug)]
enum Entry {
    File { offset: u64, size: u64 },
    Symlink(String),
    HardLink(String),
    Other,
}

/// An indexed tar archive.
pub(crate) struct ArchiveFiles {
    path: PathBuf,
    file: File,
    entries: HashMap<String, Entry>,
}

impl ArchiveFiles {
    /// Scans the archive at `path` (an uncompressed tar).
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        let file = File::open(path).map_err(|e| Error::io("opening", path, e))?;
        let mut entries = HashMap::new();
        let budget = Budget::new();
        let too_large = |what: &str, limit: usize| Error::TooLarge {
            what: format!("{what} {}", path.display()),
            limit: limit as u64,
        };
        {
            let mut archive = tar::Archive::new(Budgeted {
                inner: &file,
                budget: &budget,
            });
            let bad = |e: io::Error| {
                if budget.exceeded() {
                    return Error::TooLarge {
                        what: format!(
                            "the metadata (long names, PAX records) before an entry of {}",
                            path.display()
                        ),
                        limit: MAX_ENTRY_METADATA,
                    };
                }
                Error::format(path, format!("not a tar archive: {e}"))
            };
            let mut names_total = 0usize;
            let mut entries_iter = archive.entries_with_seek().map_err(bad)?;
            loop {
                // Headers, long names and PAX records before the next entry: bounded. Bodies
                // are skipped by seeking.
                budget.allow(MAX_ENTRY_METADATA);
                let Some(entry) = entries_iter.next() else { break };
                let entry = entry.map_err(bad)?;
                if entries.len() >= MAX_ENTRIES {
                    return Err(too_large("the entries of", MAX_ENTRIES));
                }
                let raw_name = entry.path_bytes();
                let raw_link = entry.link_name_bytes();
                let link_len = raw_link.as_ref().map_or(0, |l| l.len());
                if raw_name.len() > MAX_NAME || link_len > MAX_NAME {
                    return Err(too_large("a name or link target in", MAX_NAME));
                }
                names_total += raw_name.len() + link_len;
                if names_total > MAX_NAMES_TOTAL {
                    return Err(too_large("the names and link targets of", MAX_NAMES_TOTAL));
                }
                let name = normalize(&String::from_utf8_lossy(&raw_name));
                let link = || {
                    raw_link
                        .as_ref()
                        .map(|l| String::from_utf8_lossy(l).into_owned())
                        .unwrap_or_default()
                };
                let kind = entry.header().entry_type();
                let record = if kind.is_file() || kind == tar::EntryType::Continuous {
                    Entry::File {
                        offset: entry.raw_file_position(),
                        size: entry.size(),
                    }
                } else if kind.is_symlink() {
                    Entry::Symlink(link())
                } else if kind.is_hard_link() {
                    Entry::HardLink(link())
                } else {
                    Entry::Other
                };
                entries.insert(name, record);
            }
        }
        Ok(Self {
            path: path.to_owned(),
            file,
            entries,
        })
    }

    /// The archive name `name` stands for once links are resolved; `None` if it names nothing
    /// (or a link loop).
    pub(crate) fn resolve(&self, name: &str) -> Option<String> {
        let mut pending: VecDeque<String> = components(name).collect();
        let mut current: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(component) = pending.pop_front() {
            if component == ".." {
                current.pop();
                continue;
            }
            current.push(component);
            let target = match self.entries.get(&current.join("/")) {
                Some(Entry::Symlink(target)) => {
                    current.pop();
                    if target.starts_with('/') {
                        current.clear();
                    }
                    target
                }
                // Hard link names are relative to the archive's root.
                Some(Entry::HardLink(target)) => {
                    current.clear();
                    target
                }
                _ => continue,
            };
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return None;
            }
            for component in components(target).collect::<Vec<_>>().into_iter().rev() {
                pending.push_front(component);
            }
        }
        let name = current.join("/");
        self.entries.contains_key(&name).then_some(name)
    }

    fn file_entry(&self, name: &str) -> Result<Option<(u64, u64)>, Error> {
        let Some(resolved) = self.resolve(name) else {
            return Ok(None);
        };
        match self.entries.get(&resolved) {
            Some(Entry::File { offset, size }) => Ok(Some((*offset, *size))),
            _ => Err(Error::format(
                &self.path,
                format!("{name} is not a regular file in the archive"),
            )),
        }
    }
}

impl Files for ArchiveFiles {
    fn origin(&self) -> &Path {
        &self.path
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + '_>>, Error> {
        Ok(self.file_entry(name)?.map(|(offset, size)| {
            Box::new(Section {
                file: &self.file,
                position: offset,
                end: offset + size,
            }) as Box<dyn Read>
        }))
    }

    fn size(&self, name: &str) -> Result<Option<u64>, Error> {
        Ok(self.file_entry(name)?.map(|(_, size)| size))
    }
}

/// A byte range of the archive, read with pread: sections do not share a file position.
struct Section<'a> {
    file: &'a File,
    position: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end - self.position).unwrap_or(usize::MAX);
        let len = buf.len().min(left);
        if len == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..len], self.position)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "archive truncated"));
        }
        self.position += n as u64;
        Ok(n)
    }
}

fn components(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
}

/// `./a//b/../c` -> `a/c`, `..` never above the root.
fn normalize(name: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    for component in components(name) {
        if component == ".." {
            out.pop();
        } else {
            out.push(component);
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (tempfile::TempDir, ArchiveFiles) {
        let mut builder = tar::Builder::new(Vec::new());
        build(&mut builder);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, builder.into_inner().unwrap()).unwrap();
        let files = ArchiveFiles::open(&path).unwrap();
        (dir, files)
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, kind: tar::EntryType, name: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(0);
        b.append_link(&mut h, name, target).unwrap();
    }

    fn read(files: &ArchiveFiles, name: &str) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        files.open(name).unwrap()?.read_to_end(&mut out).unwrap();
        Some(out)
    }

    #[test]
    fn symlinks_and_hard_links_resolve_inside_the_archive() {
        let (_dir, files) = archive(|b| {
            file(b, "blobs/sha256/aa", b"layer");
            link(b, tar::EntryType::Symlink, "id/layer.tar", "../blobs/sha256/aa");
            link(b, tar::EntryType::Symlink, "abs.tar", "/blobs/sha256/aa");
            link(b, tar::EntryType::Symlink, "dir", "blobs/sha256");
            link(b, tar::EntryType::Link, "hard.tar", "blobs/sha256/aa");
            link(b, tar::EntryType::Symlink, "chain", "id/layer.tar");
        });
        for name in [
            "blobs/sha256/aa",
            "./id/layer.tar",
            "abs.tar",
            "dir/aa",
            "hard.tar",
            "chain",
        ] {
            assert_eq!(read(&files, name).as_deref(), Some(&b"layer"[..]), "{name}");
        }
    }

    #[test]
    fn links_out_of_the_archive_name_nothing_on_the_host() {
        let (_dir, files) = archive(|b| {
            file(b, "x", b"x");
            link(b, tar::EntryType::Symlink, "passwd", "../../../../etc/passwd");
            link(b, tar::EntryType::Symlink, "abs", "/etc/passwd");
            link(b, tar::EntryType::Symlink, "loop1", "loop2");
            link(b, tar::EntryType::Symlink, "loop2", "loop1");
        });
        for name in ["passwd", "abs", "loop1", "../../etc/passwd", "/etc/passwd"] {
            assert!(read(&files, name).is_none(), "{name} resolved");
        }
        // `..` stops at the archive's root.
        assert_eq!(read(&files, "../../x").as_deref(), Some(&b"x"[..]));
    }
}
