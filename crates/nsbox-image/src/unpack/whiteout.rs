//! Whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`), which act only on what lower
//! layers hold (an entry of this layer always stays, the OCI layer spec's rule).
//!
//! - [`Mode::OverlayLayer`]: a whiteout becomes a 0:0 character device (what overlayfs reads
//!   as one; `mknod` of it needs no privilege since Linux 5.8), an opaque marker the xattr
//!   `user.overlay.opaque=y`, not `trusted.overlay.opaque`: overlayfs in a user namespace
//!   ignores `trusted.*`, so one store serves root and rootless (mounted with `userxattr`).
//! - [`Mode::Flatten`]: a whiteout removes the lower entry (the whole tree, through fds), an
//!   opaque marker empties the directory of what lower layers put there.
//!
//! The name is one component (`.wh..` and `.wh...` are refused by [`super::name::special`]),
//! below a parent resolved like any entry's: a whiteout through a symlink is refused.

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode as FileMode, SFlag, makedev, mknodat};

use super::created::Created;
use super::layer::Layer;
use super::name::{DOT, EntryPath, c_name};
use super::remove::{remove_all, remove_lower};
use super::resolve::Missing;
use super::sys::{fsetxattr, io_error};
use super::{Mode, UnpackError};

const OPAQUE_XATTR: &std::ffi::CStr = c"user.overlay.opaque";

impl Layer<'_> {
    /// `.wh.NAME` in `parent` (`entry` is the whiteout's own path, for errors).
    pub(super) fn whiteout(&mut self, parent: &EntryPath, name: &[u8], entry: &EntryPath) -> Result<(), UnpackError> {
        let victim = parent.join(name);
        match self.options.mode {
            Mode::OverlayLayer => {
                let dir = self.parent_dir(parent, entry)?;
                if matches!(self.created.get(&victim), Some(Created::Directory | Created::Linkable)) {
                    return Ok(());
                }
                self.make_room(dir.as_fd(), name, &victim, false)?;
                let c = c_name(name);
                mknodat(&dir, c.as_c_str(), SFlag::S_IFCHR, FileMode::empty(), makedev(0, 0)).map_err(|e| {
                    io_error(
                        format!(
                            "create whiteout {:?} (a 0:0 device: Linux 5.8 or privilege)",
                            victim.to_path_buf()
                        ),
                        e,
                    )
                })?;
                self.created.insert(&victim, Created::Whiteout);
            }
            Mode::Flatten => {
                let Some(dir) = self.root.open_dir(parent, entry, Missing::Absent)? else {
                    return Ok(());
                };
                if self.created.get(&victim).is_none() {
                    remove_all(dir.as_fd(), name, &victim)?;
                }
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq` in `dir_path`.
    pub(super) fn opaque(&mut self, dir_path: &EntryPath, entry: &EntryPath) -> Result<(), UnpackError> {
        match self.options.mode {
            Mode::OverlayLayer => {
                let dir = self.parent_dir(dir_path, entry)?;
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
                let context = || format!("mark {:?} opaque", dir_path.to_path_buf());
                let readable = openat(&dir, DOT, flags, FileMode::empty()).map_err(|e| io_error(context(), e))?;
                fsetxattr(readable.as_fd(), OPAQUE_XATTR, b"y").map_err(|e: Errno| io_error(context(), e))?;
                if !dir_path.is_root() {
                    self.created.insert(dir_path, Created::Directory);
                }
            }
            Mode::Flatten => {
                if let Some(dir) = self.root.open_dir(dir_path, entry, Missing::Absent)? {
                    remove_lower(dir.as_fd(), dir_path, &self.created)?;
                }
            }
        }
        Ok(())
    }
}
