//! Hard links: only to an entry already unpacked inside the root, resolved under the root fd
//! without following a symlink, linked with `linkat(target_dir, name, dir, name, 0)` (a
//! symlink target is linked itself, never followed). A link to `/etc/shadow` is a link to the
//! layer's own `etc/shadow`, or refused when there is none: never to the host's.
//!
//! In [`Mode::OverlayLayer`] the target must be an entry of this layer (a lower layer's file
//! is in another directory; sharing its inode would let a container's writes reach it). In
//! [`Mode::Flatten`] a lower layer's file in the tree may be the target too, as the layers
//! below are part of the same tree (umoci and Docker's flattening unpackers do the same).
//! The link's own header (mode, owner, mtime) is ignored, as GNU tar ignores it: it would
//! change the target's inode (CVE-2021-32760 was a chmod through such a link).

use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::SFlag;
use nix::unistd::linkat;

use super::create::At;
use super::created::Created;
use super::error::Refusal;
use super::layer::Layer;
use super::name::{EntryPath, c_name};
use super::resolve::{Missing, is_type, lstat_at, refused};
use super::sys::io_error;
use super::{Mode, UnpackError};

impl Layer<'_> {
    pub(super) fn hard_link(
        &mut self,
        (dir, name): At<'_>,
        path: &EntryPath,
        target: &EntryPath,
    ) -> Result<(), UnpackError> {
        let refuse = || {
            refused(
                path,
                Refusal::HardLinkTarget {
                    target: target.to_path_buf(),
                },
            )
        };
        let allowed = match (self.options.mode, self.created.get(target)) {
            (_, Some(Created::Directory | Created::Whiteout)) => false,
            (Mode::OverlayLayer, known) => known == Some(Created::Linkable),
            (Mode::Flatten, _) => true,
        };
        let Some((target_parent, target_name)) = target.split_last() else {
            return Err(refuse());
        };
        if !allowed || target == path {
            return Err(refuse());
        }
        let target_dir = match self.root.open_dir(&target_parent, path, Missing::Absent) {
            Ok(Some(fd)) => fd,
            Ok(None) | Err(UnpackError::Refused { .. }) => return Err(refuse()),
            Err(e) => return Err(e),
        };
        match lstat_at(target_dir.as_fd(), target_name) {
            Ok(stat) if !is_type(&stat, SFlag::S_IFDIR) => {}
            Ok(_) | Err(Errno::ENOENT) => return Err(refuse()),
            Err(e) => return Err(io_error(format!("stat {:?}", target.to_path_buf()), e)),
        }
        self.make_room(dir.as_fd(), name, path, false)?;
        let (from, to) = (c_name(target_name), c_name(name));
        match linkat(&target_dir, from.as_c_str(), dir, to.as_c_str(), AtFlags::empty()) {
            Ok(()) => {}
            // Gone since (the room made for the link held it): still not a target.
            Err(Errno::ENOENT) => return Err(refuse()),
            Err(e) => {
                return Err(io_error(
                    format!("link {:?} to {:?}", path.to_path_buf(), target.to_path_buf()),
                    e,
                ));
            }
        }
        self.created.insert(path, Created::Linkable);
        Ok(())
    }
}
