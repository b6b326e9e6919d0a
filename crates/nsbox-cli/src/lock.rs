//! flock(2) locks on files in the state directory.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{Context, Result};

/// An exclusive flock, released on drop (or when the process exits, whatever kills it).
pub struct Lock(#[allow(dead_code)] File);

impl Lock {
    pub fn exclusive(path: &Path) -> Result<Lock> {
        let file = open(path)?;
        flock(&file, libc::LOCK_EX).context(|| format!("locking {}", path.display()))?;
        Ok(Lock(file))
    }

    /// `None` if another process holds it.
    pub fn try_exclusive(path: &Path) -> Result<Option<Lock>> {
        let file = open(path)?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(Some(Lock(file))),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(None),
            Err(e) => Err(e).context(|| format!("locking {}", path.display())),
        }
    }
}

fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)
        .context(|| format!("opening {}", path.display()))
}

fn flock(file: &File, op: i32) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(file.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}
