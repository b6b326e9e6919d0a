//! The host root as a container's root: where the staging mount goes, and the host's
//! top-level entries bound one by one (bubblewrap's layout) when the root is not one bind of
//! `/`.

use std::path::{Path, PathBuf};

use super::*;

/// Host directories where the child may mount its staging root. The mount is private to the
/// child's mount namespace, so any real directory serves; these exist almost everywhere.
pub(super) const STAGE_CANDIDATES: [&str; 4] = ["/tmp", "/mnt", "/var/tmp", "/run"];

/// Top-level host entries a host-root container gets fresh instead of bound.
pub(super) const FRESH_ON_HOST_ROOT: [&str; 5] = ["proc", "sys", "dev", "tmp", "run"];

pub(super) enum HostEntry {
    Dir(PathBuf),
    File(PathBuf),
    Symlink(PathBuf, PathBuf),
}

pub(super) fn choose_stage() -> Result<&'static str> {
    STAGE_CANDIDATES
        .into_iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .ok_or_else(|| {
            Error::io(
                "find a directory to stage the root on",
                std::io::Error::from_raw_os_error(libc::ENOENT),
            )
        })
}

/// The host's top-level entries, minus the ones a container gets fresh.
pub(super) fn host_top_level() -> Result<Vec<HostEntry>> {
    let read = std::fs::read_dir("/").map_err(|e| Error::io("list the host root", e))?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io("list the host root", e))?;
        let name = entry.file_name();
        if FRESH_ON_HOST_ROOT.iter().any(|f| name.as_bytes() == f.as_bytes()) {
            continue;
        }
        let path = Path::new("/").join(&name);
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
        entries.push(if kind.is_symlink() {
            let link = std::fs::read_link(&path).map_err(|e| Error::io(format!("read link {}", path.display()), e))?;
            HostEntry::Symlink(path, link)
        } else if kind.is_dir() {
            HostEntry::Dir(path)
        } else if kind.is_file() {
            HostEntry::File(path)
        } else {
            continue;
        });
    }
    entries.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
    Ok(entries)
}

pub(super) fn entry_path(e: &HostEntry) -> &Path {
    match e {
        HostEntry::Dir(p) | HostEntry::File(p) | HostEntry::Symlink(p, _) => p,
    }
}
