//! Directory modes and mtimes, applied once the layer's last entry is in: creating a child
//! changes its directory's mtime, and a `0555` directory (or `0000` rootless) would refuse the
//! children that follow it. Until then the unpacker's directories are `0700`. Deepest first,
//! so a parent's mode never blocks the way to its children.

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;

use super::UnpackError;
use super::attrs::{self, Node};
use super::entry::Mtime;
use super::name::{DOT, EntryPath, c_name};
use super::resolve::{Missing, Root};
use super::sys::io_error;

/// What a directory gets at the end.
#[derive(Debug, Clone, Copy)]
pub(super) struct DirAttrs {
    /// The mode, setuid/setgid already dropped where not allowed.
    pub mode: u32,
    /// `None` for a directory created on the way to an entry (it keeps the time of its making).
    pub mtime: Option<Mtime>,
}

#[derive(Debug, Default)]
pub(super) struct Deferred(BTreeMap<EntryPath, DirAttrs>);

impl Deferred {
    /// Records (or replaces) what `path` gets.
    pub fn set(&mut self, path: &EntryPath, attrs: DirAttrs) {
        self.0.insert(path.clone(), attrs);
    }

    /// Applies every record, children before parents (a path sorts after its prefix). A path
    /// that is no longer a directory (a later entry replaced it) is passed over.
    pub fn apply(self, root: &Root) -> Result<(), UnpackError> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        for (path, attrs) in self.0.into_iter().rev() {
            let opened = match path.split_last() {
                None => openat(root.fd(), DOT, flags, Mode::empty()),
                Some((parent, name)) => match root.open_dir(&parent, &path, Missing::Absent) {
                    Ok(Some(dir)) => openat(dir.as_fd(), c_name(name).as_c_str(), flags, Mode::empty()),
                    Ok(None) | Err(UnpackError::Refused { .. }) => continue,
                    Err(e) => return Err(e),
                },
            };
            let dir = match opened {
                Ok(dir) => dir,
                Err(Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP) => continue,
                Err(e) => return Err(io_error(format!("open directory {:?}", path.to_path_buf()), e)),
            };
            nix::sys::stat::fchmod(dir.as_fd(), Mode::from_bits_truncate(attrs.mode))
                .map_err(|e| io_error(format!("chmod {:?}", path.to_path_buf()), e))?;
            if let Some(mtime) = attrs.mtime {
                attrs::mtime(Node::Open(dir.as_fd()), &path, mtime)?;
            }
        }
        Ok(())
    }
}
