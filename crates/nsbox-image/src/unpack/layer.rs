//! The unpacker's loop: one entry at a time, limits checked before a body is read, each entry
//! handed to the module that creates its kind (create, hardlink, whiteout).

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use super::created::{Created, CreatedSet};
use super::deferred::{Deferred, DirAttrs};
use super::entry::{Header, Kind, read_header};
use super::error::{Exceeded, LimitKind, Refusal};
use super::meter::{Meter, Metered};
use super::name::{EntryPath, Special, special};
use super::resolve::{Missing, Root, refused};
use super::{MAX_ENTRY_METADATA, Options, Report, UnpackError};

/// Bytes copied at a time from the stream into a file.
const BUFFER: usize = 64 << 10;

/// The state of one layer being applied.
pub(super) struct Layer<'o> {
    pub root: Root,
    pub options: &'o Options,
    pub report: Report,
    pub created: CreatedSet,
    pub deferred: Deferred,
    pub buffer: Vec<u8>,
    /// Directories made because a name implied them: they count against `max_entries` with
    /// the entries.
    pub implied: u64,
    /// The owners the image gives its nodes, when asked for ([`apply_recording_owners`]):
    /// every node made, in entry order (a later one for a path wins; an implied directory is
    /// 0:0).
    pub owners: Option<Vec<Owner>>,
}

/// A node of the layer (its path relative to the root, empty for the root) and the uid and
/// gid its entry names; `None` for a hard link, which must not be changed through its name
/// (its inode is its target's, owned as the target's entry says).
pub(crate) type Owner = (std::path::PathBuf, Option<(u32, u32)>);

pub(super) fn apply(tar: impl Read, root: &Path, options: &Options) -> Result<Report, UnpackError> {
    apply_with(tar, root, options, None).map(|(report, _)| report)
}

/// [`apply`], also returning the owners the entries name (unprivileged, they are not applied:
/// a store with subordinate ids applies them afterwards, from its user namespace).
pub(crate) fn apply_recording_owners(
    tar: impl Read,
    root: &Path,
    options: &Options,
) -> Result<(Report, Vec<Owner>), UnpackError> {
    apply_with(tar, root, options, Some(Vec::new())).map(|(report, owners)| (report, owners.unwrap_or_default()))
}

fn apply_with(
    tar: impl Read,
    root: &Path,
    options: &Options,
    owners: Option<Vec<Owner>>,
) -> Result<(Report, Option<Vec<Owner>>), UnpackError> {
    let meter = Meter::new();
    let mut archive = tar::Archive::new(Metered {
        inner: tar,
        meter: &meter,
    });
    let mut layer = Layer {
        root: Root::open(root)?,
        options,
        report: Report::default(),
        created: CreatedSet::default(),
        deferred: Deferred::default(),
        implied: 0,
        buffer: vec![0; BUFFER],
        owners,
    };
    let mut entries = archive.entries().map_err(|e| stream_error(&meter, e))?;
    loop {
        // Headers, PAX records and long names before the next entry: bounded.
        meter.allow(MAX_ENTRY_METADATA);
        let next = entries.next();
        // The body: bounded by its header's size, checked against the limits first.
        meter.allow(u64::MAX);
        match next {
            None => break,
            Some(Err(e)) => return Err(stream_error(&meter, e)),
            Some(Ok(mut entry)) => layer.entry(&mut entry)?,
        }
    }
    let Layer {
        root,
        deferred,
        report,
        owners,
        ..
    } = layer;
    deferred.apply(&root)?;
    Ok((report, owners))
}

fn stream_error(meter: &Meter, e: io::Error) -> UnpackError {
    if meter.exceeded() {
        return UnpackError::Limit(Exceeded {
            kind: LimitKind::EntryMetadata,
            bound: MAX_ENTRY_METADATA,
        });
    }
    UnpackError::Io {
        context: "read the layer tar".into(),
        source: e,
    }
}

impl Layer<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        let limits = &self.options.limits;
        self.report.entries += 1;
        if self.report.entries + self.implied > limits.max_entries {
            return Err(limit(LimitKind::Entries, limits.max_entries));
        }
        // Before any byte of the body: a header claiming 1 TiB fails here.
        let size = entry.size();
        match self.report.bytes.checked_add(size) {
            Some(total) if total <= limits.max_total_size => self.report.bytes = total,
            _ => return Err(limit(LimitKind::TotalSize, limits.max_total_size)),
        }
        let header = read_header(entry, limits)?;
        self.place(&header, entry)?;
        // What the kind did not read (a directory or link with a size): skipped, bounded.
        io::copy(entry, &mut io::sink()).map_err(|e| UnpackError::Io {
            context: "read the layer tar".into(),
            source: e,
        })?;
        Ok(())
    }

    fn place(&mut self, header: &Header, body: &mut dyn Read) -> Result<(), UnpackError> {
        if header.kind == Kind::GlobalHeader {
            return Ok(());
        }
        let Some((parent, name)) = header.path.split_last() else {
            return match header.kind {
                Kind::Directory => self.directory(None, header).map(|()| self.record_owner(header)),
                _ => Err(refused(&header.path, Refusal::RootNotDirectory)),
            };
        };
        match special(name).map_err(|reason| refused(&header.path, reason))? {
            Special::Opaque => return self.opaque(&parent, &header.path),
            Special::Whiteout(target) => return self.whiteout(&parent, target, &header.path),
            Special::AufsMeta => return Ok(()),
            Special::None => {}
        }
        let dir = self.parent_dir(&parent, &header.path)?;
        let at = (&dir, name);
        match &header.kind {
            Kind::File => self.file(at, header, body),
            Kind::Directory => self.directory(Some(at), header),
            Kind::Symlink(target) => self.symlink(at, header, target),
            // A hard link has its target's owner: its own header's is ignored (as GNU tar).
            Kind::HardLink(target) => {
                self.hard_link(at, &header.path, target)?;
                if let Some(owners) = &mut self.owners {
                    owners.push((header.path.to_path_buf(), None));
                }
                return Ok(());
            }
            Kind::CharDevice { .. } | Kind::BlockDevice { .. } | Kind::Fifo => self.special_node(at, header),
            Kind::GlobalHeader => return Ok(()),
        }?;
        self.record_owner(header);
        Ok(())
    }

    fn record_owner(&mut self, header: &Header) {
        if let Some(owners) = &mut self.owners
            && !self.options.privileged
        {
            owners.push((header.path.to_path_buf(), Some((header.uid, header.gid))));
        }
    }

    /// Opens `dir` (the parent of `entry`) under the root, creating what is missing: mode
    /// 0755 at the layer's end, as Docker gives directories a layer implies.
    pub(super) fn parent_dir(&mut self, dir: &EntryPath, entry: &EntryPath) -> Result<OwnedFd, UnpackError> {
        let (created, deferred, owners) = (&mut self.created, &mut self.deferred, &mut self.owners);
        let mut implied = 0;
        let mut on_create = |path: &EntryPath| {
            implied += 1;
            if let Some(owners) = owners.as_mut() {
                owners.push((path.to_path_buf(), Some((0, 0))));
            }
            created.insert(path, Created::Directory);
            deferred.set(
                path,
                DirAttrs {
                    mode: 0o755,
                    mtime: None,
                },
            );
        };
        let opened = self.root.open_dir(dir, entry, Missing::Create(&mut on_create));
        // A directory a name implies counts as an entry: a tiny layer of deep names would
        // otherwise make thousands of directories (and their records) per tar entry.
        self.implied += implied;
        let limits = &self.options.limits;
        if self.report.entries + self.implied > limits.max_entries {
            return Err(limit(LimitKind::Entries, limits.max_entries));
        }
        Ok(opened?.expect("missing directories are created"))
    }
}

fn limit(kind: LimitKind, bound: impl TryInto<u64>) -> UnpackError {
    UnpackError::Limit(Exceeded {
        kind,
        bound: bound.try_into().unwrap_or(u64::MAX),
    })
}
