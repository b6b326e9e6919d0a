//! Blobs: streamed into `tmp/` while their digest is checked, renamed to
//! `blobs/sha256/<hex>` only once complete and verified.

use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::files::{TempPath, create_temp};
use super::{Store, exists};
use crate::digest::{HashingReader, VerifyingReader};
use crate::{Digest, Error};

/// A blob written to `tmp/` and verified, or one the store already had.
#[derive(Debug)]
pub(crate) struct StagedBlob {
    temp: Option<TempPath>,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

impl StagedBlob {
    /// Where to read it now.
    pub(crate) fn path(&self, store: &Store) -> PathBuf {
        match &self.temp {
            Some(temp) => temp.path().to_owned(),
            None => store.blob_path(&self.digest),
        }
    }

    /// Moves it to `blobs/` (a copy that came meanwhile is as good: same content).
    pub(crate) fn commit(self, store: &Store) -> Result<(), Error> {
        let target = store.blob_path(&self.digest);
        match self.temp {
            Some(temp) if !exists(&target)? => temp.rename_to(&target),
            _ => Ok(()),
        }
    }
}

impl Store {
    /// Streams `source` into a temporary blob. With `expected`, the content must be that digest
    /// (and size, when given): the copy fails at the first byte past the size and at end of file
    /// on a mismatch. Without, the digest is computed. A blob already stored is not copied.
    pub(crate) fn stage_blob(
        &self,
        source: impl Read,
        expected: Option<(&Digest, Option<u64>)>,
    ) -> Result<StagedBlob, Error> {
        if let Some((digest, Some(size))) = expected
            && exists(&self.blob_path(digest))?
        {
            return Ok(StagedBlob {
                temp: None,
                digest: digest.clone(),
                size,
            });
        }
        let (mut file, temp) = create_temp(&self.tmp_dir(), "blob")?;
        let (digest, size) = match expected {
            Some((digest, size)) => {
                let mut reader = VerifyingReader::new(source, digest.clone(), size);
                copy(&mut reader, &mut file, &temp)?;
                (digest.clone(), reader.bytes_read())
            }
            None => {
                let mut reader = HashingReader::new(source);
                copy(&mut reader, &mut file, &temp)?;
                reader.hasher.finish()
            }
        };
        file.sync_all().map_err(|e| Error::io("syncing", temp.path(), e))?;
        let temp = (!exists(&self.blob_path(&digest))?).then_some(temp);
        Ok(StagedBlob { temp, digest, size })
    }

    /// Stores a small blob held in memory, verified against `expected` when given.
    pub(crate) fn put_bytes(&self, data: &[u8], expected: Option<&Digest>) -> Result<Digest, Error> {
        let staged = self.stage_blob(data, expected.map(|d| (d, Some(data.len() as u64))))?;
        let digest = staged.digest.clone();
        staged.commit(self)?;
        Ok(digest)
    }
}

fn copy(reader: &mut impl Read, file: &mut std::fs::File, temp: &TempPath) -> Result<(), Error> {
    let mut buf = vec![0; 128 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io("reading blob for", temp.path(), e)),
        };
        file.write_all(&buf[..n])
            .map_err(|e| Error::io("writing", temp.path(), e))?;
    }
}
