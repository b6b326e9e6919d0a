//! Directories under the layer root, opened without ever following a symlink.
//!
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)` opens a whole
//! parent in one call (Linux 5.6); without it (`ENOSYS`, or a seccomp policy answering
//! `EPERM`), and to create missing directories, the walk goes one `O_NOFOLLOW` component at a
//! time from the root fd. Names reach here normalised (no `..`), so neither can climb out; a
//! symlink on the way is refused ([`Refusal::SymlinkInPath`]), where Docker would resolve it
//! inside the root: an unpacker that follows nothing cannot be steered.

use std::cell::Cell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag, fstatat, mkdirat};

use super::UnpackError;
use super::error::Refusal;
use super::name::{DOT, EntryPath, c_name};
use super::sys::io_error;

/// `O_PATH` is enough for every `*at` call and needs only search permission.
const DIR_FLAGS: OFlag = OFlag::O_PATH.union(OFlag::O_DIRECTORY).union(OFlag::O_CLOEXEC);

/// The layer root, open as a directory.
pub(super) struct Root {
    fd: OwnedFd,
    /// Cleared once openat2 answered ENOSYS/EPERM: later lookups walk at once.
    openat2: Cell<bool>,
}

/// What to do with a missing directory on the way.
pub(super) enum Missing<'a> {
    /// Create it (mode 0700 until the layer's end) and tell the callback its path.
    Create(&'a mut dyn FnMut(&EntryPath)),
    /// Answer `None`.
    Absent,
}

impl Root {
    /// Opens `path` (the caller's own, trusted path) as the root of everything that follows.
    pub fn open(path: &Path) -> Result<Self, UnpackError> {
        let fd = nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_error(format!("open the layer root {}", path.display()), e))?;
        Ok(Self {
            fd,
            openat2: Cell::new(true),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory `dir` under the root (`O_PATH`). `entry` names the tar entry this is
    /// for, in errors.
    pub fn open_dir(
        &self,
        dir: &EntryPath,
        entry: &EntryPath,
        missing: Missing<'_>,
    ) -> Result<Option<OwnedFd>, UnpackError> {
        if dir.is_root() {
            return openat(self.fd(), DOT, DIR_FLAGS, Mode::empty())
                .map(Some)
                .map_err(|e| io_error("open the layer root", e));
        }
        if self.openat2.get() {
            let how = OpenHow::new().flags(DIR_FLAGS).resolve(
                ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS | ResolveFlag::RESOLVE_NO_MAGICLINKS,
            );
            match openat2(self.fd(), dir.as_bytes(), how) {
                Ok(fd) => return Ok(Some(fd)),
                Err(Errno::ENOSYS | Errno::EPERM) => self.openat2.set(false),
                Err(Errno::ENOENT) => {}
                Err(Errno::ELOOP) => return Err(refused(entry, Refusal::SymlinkInPath)),
                Err(Errno::ENOTDIR) => return Err(refused(entry, Refusal::NotADirectory)),
                Err(e) => return Err(io_error(format!("open {:?}", dir.to_path_buf()), e)),
            }
        }
        self.walk(dir, entry, missing)
    }

    /// One component at a time, `O_NOFOLLOW`, creating what is missing when asked to.
    fn walk(
        &self,
        dir: &EntryPath,
        entry: &EntryPath,
        mut missing: Missing<'_>,
    ) -> Result<Option<OwnedFd>, UnpackError> {
        let mut current =
            openat(self.fd(), DOT, DIR_FLAGS, Mode::empty()).map_err(|e| io_error("open the layer root", e))?;
        let mut walked = EntryPath::root();
        for component in dir.components() {
            walked = walked.join(component);
            let name = c_name(component);
            let flags = DIR_FLAGS | OFlag::O_NOFOLLOW;
            let next = match openat(current.as_fd(), name.as_c_str(), flags, Mode::empty()) {
                Err(Errno::ENOENT) => match &mut missing {
                    Missing::Absent => return Ok(None),
                    Missing::Create(created) => {
                        match mkdirat(current.as_fd(), name.as_c_str(), Mode::from_bits_truncate(0o700)) {
                            Ok(()) => created(&walked),
                            Err(Errno::EEXIST) => {}
                            Err(e) => return Err(io_error(format!("create directory {:?}", walked.to_path_buf()), e)),
                        }
                        openat(current.as_fd(), name.as_c_str(), flags, Mode::empty())
                    }
                },
                other => other,
            };
            current = match next {
                Ok(fd) => fd,
                Err(Errno::ENOTDIR | Errno::ELOOP) => {
                    let symlink = lstat_at(current.as_fd(), component).is_ok_and(|s| is_type(&s, SFlag::S_IFLNK));
                    let reason = if symlink {
                        Refusal::SymlinkInPath
                    } else {
                        Refusal::NotADirectory
                    };
                    return Err(refused(entry, reason));
                }
                Err(e) => return Err(io_error(format!("open {:?}", walked.to_path_buf()), e)),
            };
        }
        Ok(Some(current))
    }
}

/// `fstatat(AT_SYMLINK_NOFOLLOW)` of one name in `dir`.
pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> Result<FileStat, Errno> {
    fstatat(dir, c_name(name).as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
}

pub(super) fn is_type(stat: &FileStat, kind: SFlag) -> bool {
    stat.st_mode & SFlag::S_IFMT.bits() == kind.bits()
}

pub(super) fn refused(entry: &EntryPath, reason: Refusal) -> UnpackError {
    UnpackError::Refused {
        path: entry.to_path_buf(),
        reason,
    }
}
