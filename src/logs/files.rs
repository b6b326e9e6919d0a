//! The log directory on the writer's side: `container.log` and its rotated predecessors
//! `container.log.1` (newest) to `container.log.N-1` (oldest), and the lock that tells readers
//! a writer is still at work.
//!
//! The writer holds an exclusive `flock(2)` on the directory for as long as it may write; a
//! reader that can take a shared lock knows no writer is left, so following can end once the
//! files are drained (see `reader.rs`). The lock also keeps two containers from logging into
//! one directory.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::LogConfig;

/// The file being written.
pub(crate) const CURRENT: &str = "container.log";

/// `container.log` for 0, `container.log.N` for N.
pub(crate) fn name(index: u32) -> String {
    match index {
        0 => CURRENT.to_string(),
        n => format!("{CURRENT}.{n}"),
    }
}

/// The rotated index of a file name (`container.log` is 0), if it is one of ours.
pub(crate) fn index_of(name: &str) -> Option<u32> {
    match name.strip_prefix(CURRENT)? {
        "" => Some(0),
        rest => rest
            .strip_prefix('.')
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'))
            .and_then(|n| n.parse().ok()),
    }
}

/// The writer's side of a log directory.
#[derive(Debug)]
pub(crate) struct LogFiles {
    dir: PathBuf,
    /// The directory, locked (LOCK_EX) until this is dropped.
    _lock: OwnedFd,
    current: File,
    size: u64,
    max_size: u64,
    max_files: u32,
}

impl LogFiles {
    /// Creates the directory if needed, locks it, removes the log files of an earlier
    /// container and opens a fresh `container.log`.
    pub(crate) fn create(config: &LogConfig) -> Result<LogFiles> {
        let dir = config.dir.clone();
        let shown = dir.display();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create log directory {shown}"), e))?;
        let lock = lock_exclusive(&dir).map_err(|e| match e.raw_os_error() {
            Some(libc::EWOULDBLOCK) => Error::io(
                format!("log directory {shown} is in use by another container's log writer"),
                io::Error::from_raw_os_error(libc::EBUSY),
            ),
            _ => Error::io(format!("lock log directory {shown}"), e),
        })?;
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(format!("read log directory {shown}"), e))?;
        for entry in entries.flatten() {
            if entry.file_name().to_str().and_then(index_of).is_some() {
                let path = entry.path();
                std::fs::remove_file(&path)
                    .map_err(|e| Error::io(format!("remove old log file {}", path.display()), e))?;
            }
        }
        let current = open_new(&dir).map_err(|e| Error::io(format!("create {}", dir.join(CURRENT).display()), e))?;
        Ok(LogFiles {
            dir,
            _lock: lock,
            current,
            size: 0,
            // build() refuses 0 for either.
            max_size: config.max_size.max(1),
            max_files: config.max_files.max(1),
        })
    }

    /// Appends one whole entry, rotating first if it would overflow a non-empty file.
    /// Whether `len` more bytes stay within the current file's size limit.
    pub(crate) fn fits(&self, len: usize) -> bool {
        self.size.saturating_add(len as u64) <= self.max_size
    }

    /// Writes whole entries (one or several, never part of one) to the current file, after
    /// a rotation if they do not fit in it.
    pub(crate) fn write(&mut self, entry: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size.saturating_add(entry.len() as u64) > self.max_size {
            self.rotate()?;
        }
        // One write for the whole batch (O_APPEND): a reader sees it all or a prefix it
        // keeps until the newline arrives.
        self.current.write_all(entry)?;
        self.size += entry.len() as u64;
        Ok(())
    }

    /// `container.log` becomes `.1`, `.1` becomes `.2`, ...; the oldest beyond `max_files`
    /// goes. A reader holding a file open keeps reading it under its new name.
    fn rotate(&mut self) -> io::Result<()> {
        let path = |i: u32| self.dir.join(name(i));
        let ignore_missing = |r: io::Result<()>| match r {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
        match self.max_files {
            1 => ignore_missing(std::fs::remove_file(path(0)))?,
            max => {
                ignore_missing(std::fs::remove_file(path(max - 1)))?;
                for i in (1..max - 1).rev() {
                    ignore_missing(std::fs::rename(path(i), path(i + 1)))?;
                }
                ignore_missing(std::fs::rename(path(0), path(1)))?;
            }
        }
        self.current = open_new(&self.dir)?;
        self.size = 0;
        Ok(())
    }
}

fn open_new(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .truncate(false)
        .mode(0o640)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(dir.join(CURRENT))
}

fn open_dir(dir: &Path) -> io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir)?;
    Ok(file.into())
}

fn flock(fd: &OwnedFd, op: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(fd.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// The writer's lock. A reader checking for a writer holds a shared lock for an instant:
/// retry for up to ~100 ms before calling the directory taken.
fn lock_exclusive(dir: &Path) -> io::Result<OwnedFd> {
    let fd = open_dir(dir)?;
    let mut tries = 0;
    loop {
        match flock(&fd, libc::LOCK_EX | libc::LOCK_NB) {
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            other => return other.map(|()| fd),
        }
    }
}

/// Whether a log writer holds `dir` (false for a directory that is missing).
pub(crate) fn writer_active(dir: &Path) -> io::Result<bool> {
    let fd = match open_dir(dir) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match flock(&fd, libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => Ok(true),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_agree() {
        for i in [0, 1, 9, 10, 999] {
            assert_eq!(index_of(&name(i)), Some(i));
        }
        for other in [
            "container.log.",
            "container.log.01",
            "container.log.x",
            "container.logs",
            "x",
        ] {
            assert_eq!(index_of(other), None, "{other}");
        }
    }

    #[test]
    fn rotation_keeps_max_files_and_never_splits_an_entry() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::new(dir.path()).max_size(10).max_files(3);
        let mut files = LogFiles::create(&config).unwrap();
        assert!(writer_active(dir.path()).unwrap());
        for i in 0..5 {
            files.write(format!("entry-{i}\n").as_bytes()).unwrap();
        }
        let read = |i| std::fs::read_to_string(dir.path().join(name(i))).unwrap();
        assert_eq!(
            (read(0), read(1), read(2)),
            ("entry-4\n".into(), "entry-3\n".into(), "entry-2\n".into())
        );
        assert!(!dir.path().join(name(3)).exists());
        // A second writer is refused while the first holds the directory.
        assert!(LogFiles::create(&config).is_err());
        drop(files);
        assert!(!writer_active(dir.path()).unwrap());
        // A new writer starts from empty files.
        let _again = LogFiles::create(&config).unwrap();
        assert_eq!(read(0), "");
        assert!(!dir.path().join(name(1)).exists());
    }
}
