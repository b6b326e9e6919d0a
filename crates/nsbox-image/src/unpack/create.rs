//! Creating an entry's last component relative to its parent's fd: files
//! (`O_CREAT|O_EXCL|O_NOFOLLOW`), directories, symlinks, devices and fifos. What stands at the
//! name is removed first (a later entry overrides, as in Docker), except that a directory over
//! a directory only updates its metadata.

use std::ffi::CStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{Mode, SFlag, makedev, mknodat};
use nix::unistd::symlinkat;

use super::attrs::{self, Node};
use super::created::Created;
use super::deferred::DirAttrs;
use super::entry::{Header, Kind};
use super::layer::Layer;
use super::name::{DOT, EntryPath, c_name};
use super::remove::remove_all;
use super::resolve::{is_type, lstat_at};
use super::sys::io_error;
use super::{Skipped, UnpackError};

/// A parent directory's fd and the last component of an entry.
pub(super) type At<'a> = (&'a OwnedFd, &'a [u8]);

impl Layer<'_> {
    /// Removes what stands at `name` in `dir`, unless `keep_directory` and it is a directory;
    /// returns whether a directory was kept.
    pub(super) fn make_room(
        &mut self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        path: &EntryPath,
        keep_directory: bool,
    ) -> Result<bool, UnpackError> {
        match lstat_at(dir, name) {
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(io_error(format!("stat {:?}", path.to_path_buf()), e)),
            Ok(stat) if keep_directory && is_type(&stat, SFlag::S_IFDIR) => Ok(true),
            Ok(_) => remove_all(dir, name, path).map(|()| false),
        }
    }

    pub(super) fn file(
        &mut self,
        (dir, name): At<'_>,
        header: &Header,
        body: &mut dyn Read,
    ) -> Result<(), UnpackError> {
        let path = &header.path;
        self.make_room(dir.as_fd(), name, path, false)?;
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(dir, c_name(name).as_c_str(), flags, Mode::from_bits_truncate(0o600))
            .map_err(|e| io_error(format!("create file {:?}", path.to_path_buf()), e))?;
        let mut file = File::from(fd);
        let mut written = 0u64;
        loop {
            let n = body.read(&mut self.buffer).map_err(|e| UnpackError::Io {
                context: format!("read {:?} from the layer tar", path.to_path_buf()),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            file.write_all(&self.buffer[..n]).map_err(|e| UnpackError::Io {
                context: format!("write {:?}", path.to_path_buf()),
                source: e,
            })?;
            written += n as u64;
        }
        if written != header.size {
            return Err(UnpackError::Io {
                context: format!("read {:?} from the layer tar", path.to_path_buf()),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        let node = Node::Open(file.as_fd());
        attrs::owner(node, header, self.options)?;
        attrs::mode(node, header, self.options, &mut self.report)?;
        attrs::xattrs(node, header, self.options, &mut self.report)?;
        attrs::mtime(node, path, header.mtime)?;
        self.created.insert(path, Created::Linkable);
        Ok(())
    }

    /// A directory entry; `None` is the root itself (a `./` entry): only its metadata.
    pub(super) fn directory(&mut self, at: Option<At<'_>>, header: &Header) -> Result<(), UnpackError> {
        let path = &header.path;
        let read_only = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let opened = match at {
            None => openat(self.root.fd(), DOT, read_only, Mode::empty()),
            Some((dir, name)) => {
                let c = c_name(name);
                if !self.make_room(dir.as_fd(), name, path, true)? {
                    nix::sys::stat::mkdirat(dir, c.as_c_str(), Mode::from_bits_truncate(0o700))
                        .map_err(|e| io_error(format!("create directory {:?}", path.to_path_buf()), e))?;
                }
                openat(dir, c.as_c_str(), read_only, Mode::empty())
            }
        };
        let fd = opened.map_err(|e| io_error(format!("open directory {:?}", path.to_path_buf()), e))?;
        let node = Node::Open(fd.as_fd());
        attrs::owner(node, header, self.options)?;
        attrs::xattrs(node, header, self.options, &mut self.report)?;
        let mode = attrs::effective_mode(header, self.options, &mut self.report);
        self.deferred.set(
            path,
            DirAttrs {
                mode,
                mtime: Some(header.mtime),
            },
        );
        if !path.is_root() {
            self.created.insert(path, Created::Directory);
        }
        Ok(())
    }

    /// A symlink, stored as it is: its target is never looked at, let alone followed.
    pub(super) fn symlink(&mut self, (dir, name): At<'_>, header: &Header, target: &CStr) -> Result<(), UnpackError> {
        let path = &header.path;
        self.make_room(dir.as_fd(), name, path, false)?;
        let c = c_name(name);
        symlinkat(target, dir, c.as_c_str())
            .map_err(|e| io_error(format!("create symlink {:?}", path.to_path_buf()), e))?;
        let node = Node::At {
            dir: dir.as_fd(),
            name: &c,
        };
        attrs::owner(node, header, self.options)?;
        attrs::xattrs(node, header, self.options, &mut self.report)?;
        attrs::mtime(node, path, header.mtime)?;
        self.created.insert(path, Created::Linkable);
        Ok(())
    }

    /// A character or block device (privileged only; skipped and reported otherwise) or a
    /// fifo (anyone may make one).
    pub(super) fn special_node(&mut self, (dir, name): At<'_>, header: &Header) -> Result<(), UnpackError> {
        let path = &header.path;
        let (kind, device) = match header.kind {
            Kind::CharDevice { major, minor } => (SFlag::S_IFCHR, makedev(major.into(), minor.into())),
            Kind::BlockDevice { major, minor } => (SFlag::S_IFBLK, makedev(major.into(), minor.into())),
            _ => (SFlag::S_IFIFO, 0),
        };
        if kind != SFlag::S_IFIFO && !self.options.privileged {
            attrs::skip(&mut self.report, path, Skipped::DeviceNode);
            return Ok(());
        }
        self.make_room(dir.as_fd(), name, path, false)?;
        let c = c_name(name);
        mknodat(dir, c.as_c_str(), kind, Mode::from_bits_truncate(0o600), device)
            .map_err(|e| io_error(format!("create node {:?}", path.to_path_buf()), e))?;
        let node = Node::At {
            dir: dir.as_fd(),
            name: &c,
        };
        attrs::owner(node, header, self.options)?;
        attrs::mode(node, header, self.options, &mut self.report)?;
        attrs::xattrs(node, header, self.options, &mut self.report)?;
        attrs::mtime(node, path, header.mtime)?;
        self.created.insert(path, Created::Linkable);
        Ok(())
    }
}
