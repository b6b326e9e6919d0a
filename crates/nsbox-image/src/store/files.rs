//! File helpers of the store: unique temporary names, atomic writes, tree removal.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// A name no other process or thread uses at the same time: pid, a counter, the clock.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{n}-{nanos:08x}", std::process::id())
}

/// Creates a new file in `dir` (0600, never an existing one).
pub(crate) fn create_temp(dir: &Path, prefix: &str) -> Result<(File, TempPath), Error> {
    let path = dir.join(unique_name(prefix));
    let file = OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Error::io("creating temporary file", &path, e))?;
    Ok((file, TempPath(Some(path))))
}

/// A temporary file or directory, removed on drop unless [`keep`](Self::keep) was called.
#[derive(Debug)]
pub(crate) struct TempPath(Option<PathBuf>);

impl TempPath {
    pub(crate) fn dir(dir: &Path, prefix: &str) -> Result<Self, Error> {
        let path = dir.join(unique_name(prefix));
        fs::DirBuilder::new()
            .mode(0o755)
            .create(&path)
            .map_err(|e| Error::io("creating temporary directory", &path, e))?;
        Ok(Self(Some(path)))
    }

    pub(crate) fn path(&self) -> &Path {
        self.0.as_deref().expect("a temp path is set until kept")
    }

    /// Gives up removing it on drop (the caller removes it otherwise).
    pub(crate) fn into_path(mut self) -> PathBuf {
        self.0.take().expect("a temp path is set until kept")
    }

    /// Renames it to `target`, after which it is no longer removed on drop.
    pub(crate) fn rename_to(mut self, target: &Path) -> Result<(), Error> {
        let path = self.0.take().expect("a temp path is set until kept");
        match fs::rename(&path, target) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.0 = Some(path);
                Err(Error::io("renaming into place", target, e))
            }
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = remove_tree(&path);
        }
    }
}

/// Writes `data` to `target` atomically: a temporary file in `tmp_dir` (same file system),
/// fsync, rename, fsync of the directory. A reader sees the old content or the new, never a part.
pub(crate) fn write_atomic(tmp_dir: &Path, target: &Path, data: &[u8]) -> Result<(), Error> {
    let (mut file, temp) = create_temp(tmp_dir, "write")?;
    file.write_all(data).map_err(|e| Error::io("writing", temp.path(), e))?;
    file.sync_all().map_err(|e| Error::io("syncing", temp.path(), e))?;
    temp.rename_to(target)?;
    sync_dir(target.parent().unwrap_or(Path::new("/")))
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}

/// Removes a file or a whole tree without following symlinks. Directories an unpacked layer left
/// without write permission (0555 and the like) are made writable first, so it also works
/// without CAP_DAC_OVERRIDE.
pub(crate) fn remove_tree(path: &Path) -> Result<(), Error> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("inspecting", path, e)),
    };
    if !meta.is_dir() {
        return fs::remove_file(path).map_err(|e| Error::io("removing", path, e));
    }
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            make_writable(path);
            fs::remove_dir_all(path).map_err(|e| Error::io("removing", path, e))
        }
        Err(e) => Err(Error::io("removing", path, e)),
    }
}

/// Makes `dir` and the directories below it 0700, never following a symlink: each directory is
/// opened `O_PATH | O_NOFOLLOW | O_DIRECTORY` below its parent's fd (no read permission needed),
/// changed through `/proc/self/fd/N` (the inode that fd holds, nothing a path could be swapped
/// for), then read; a tree a live container swaps a directory of for a symlink redirects nothing.
fn make_writable(dir: &Path) {
    use nix::fcntl::OFlag;
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    if let Ok(fd) = nix::fcntl::open(dir, flags, nix::sys::stat::Mode::empty()) {
        writable_below(fd, 0);
    }
}

fn writable_below(fd: std::os::fd::OwnedFd, depth: usize) {
    use nix::fcntl::OFlag;
    use nix::sys::stat::Mode;
    let held = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let _ = fs::set_permissions(&held, fs::Permissions::from_mode(0o700));
    // The unpacker's own bound on depth, with room to spare.
    if depth > 256 {
        return;
    }
    let read = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let Ok(dir) = nix::dir::Dir::open(held.as_str(), read, Mode::empty()) else {
        return;
    };
    let mut entries = dir;
    let dir_fd = entries.as_raw_fd();
    let names: Vec<std::ffi::CString> = entries
        .iter()
        .flatten()
        .filter(|e| e.file_type() == Some(nix::dir::Type::Directory))
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    for name in names {
        // SAFETY: dir_fd stays open while `entries` lives.
        let parent = unsafe { std::os::fd::BorrowedFd::borrow_raw(dir_fd) };
        if let Ok(child) = nix::fcntl::openat(parent, name.as_c_str(), flags, Mode::empty()) {
            writable_below(child, depth + 1);
        }
    }
}
