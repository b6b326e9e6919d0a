//! File locks (flock(2)) on lock files inside the store.
//!
//! flock locks belong to an open file description: two `open`s of the same file conflict even in
//! one process, so separate `Store` handles (and separate processes) exclude each other alike.
//! A lock file may be unlinked by its exclusive holder (gc deleting a layer): a waiter that then
//! gets the lock holds it on a dead inode, so after locking we check the path still names the
//! file we locked and start over if not.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::Error;

/// A held flock on a lock file; released on drop.
#[derive(Debug)]
pub(crate) struct LockFile {
    _lock: Flock<File>,
    path: PathBuf,
}

/// Shared (readers, users) or exclusive (writers, gc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Shared,
    Exclusive,
}

impl LockFile {
    /// Waits for the lock.
    pub(crate) fn acquire(path: &Path, kind: Kind) -> Result<Self, Error> {
        Ok(Self::lock(path, kind, true)?.expect("a blocking lock is always acquired"))
    }

    /// Takes the lock if nobody holds a conflicting one, `None` otherwise.
    pub(crate) fn try_acquire(path: &Path, kind: Kind) -> Result<Option<Self>, Error> {
        Self::lock(path, kind, false)
    }

    fn lock(path: &Path, kind: Kind, wait: bool) -> Result<Option<Self>, Error> {
        let arg = match (kind, wait) {
            (Kind::Shared, true) => FlockArg::LockShared,
            (Kind::Exclusive, true) => FlockArg::LockExclusive,
            (Kind::Shared, false) => FlockArg::LockSharedNonblock,
            (Kind::Exclusive, false) => FlockArg::LockExclusiveNonblock,
        };
        loop {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .map_err(|e| Error::io("opening lock file", path, e))?;
            let lock = match Flock::lock(file, arg) {
                Ok(lock) => lock,
                Err((_, Errno::EWOULDBLOCK)) if !wait => return Ok(None),
                Err((_, Errno::EINTR)) => continue,
                Err((_, errno)) => return Err(Error::io("locking", path, errno.into())),
            };
            let held = lock
                .metadata()
                .map_err(|e| Error::io("inspecting lock file", path, e))?;
            match std::fs::symlink_metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(Some(Self {
                        _lock: lock,
                        path: path.to_owned(),
                    }));
                }
                // Unlinked (or replaced) while we waited: lock the current file instead.
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("inspecting lock file", path, e)),
            }
        }
    }

    /// Unlinks the lock file while holding it exclusively (waiters start over on a new file).
    pub(crate) fn unlink(&self) -> Result<(), Error> {
        match std::fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io("removing lock file", &self.path, e)),
            _ => Ok(()),
        }
    }
}
