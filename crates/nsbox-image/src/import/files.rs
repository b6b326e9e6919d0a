//! The files of an image source, by relative name: a directory (an OCI layout) or the entries of
//! a tar archive (a docker-save archive, see [`super::archive`]).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::Error;

/// Read access to the files of an image source. Names are relative (`index.json`,
/// `blobs/sha256/<hex>`) and built only from fixed strings and checked digests.
pub(crate) trait Files {
    /// The source, for messages.
    fn origin(&self) -> &Path;
    /// A regular file's content; `None` if there is no such file.
    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + '_>>, Error>;
    /// Its size, if it exists.
    fn size(&self, name: &str) -> Result<Option<u64>, Error>;
}

/// The files of a directory. The last component is opened with `O_NOFOLLOW` and must be a
/// regular file: a blob that is a symlink, a FIFO or a device is refused, not read.
pub(crate) struct DirFiles {
    root: PathBuf,
}

impl DirFiles {
    pub(crate) fn new(root: &Path) -> Self {
        Self { root: root.to_owned() }
    }

    fn open_file(&self, name: &str) -> Result<Option<File>, Error> {
        let path = self.root.join(name);
        // Looked at before it is opened: opening a device node can act on the device.
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("inspecting", path, e)),
            Ok(meta) if !meta.is_file() => {
                return Err(Error::format(&self.root, format!("{name} is not a regular file")));
            }
            Ok(_) => {}
        }
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("opening", path, e)),
        };
        let meta = file.metadata().map_err(|e| Error::io("inspecting", &path, e))?;
        if !meta.is_file() {
            return Err(Error::format(&self.root, format!("{name} is not a regular file")));
        }
        Ok(Some(file))
    }
}

impl Files for DirFiles {
    fn origin(&self) -> &Path {
        &self.root
    }

    fn open(&self, name: &str) -> Result<Option<Box<dyn Read + '_>>, Error> {
        Ok(self.open_file(name)?.map(|f| Box::new(f) as Box<dyn Read>))
    }

    fn size(&self, name: &str) -> Result<Option<u64>, Error> {
        match self.open_file(name)? {
            Some(f) => Ok(Some(
                f.metadata()
                    .map_err(|e| Error::io("inspecting", self.root.join(name), e))?
                    .len(),
            )),
            None => Ok(None),
        }
    }
}
