//! Reading a log directory: [`LogReader`]'s options and the [`LogEntries`] they yield, over a
//! cursor that walks the files oldest to newest and, when following, across rotations.
//!
//! The cursor keeps every file it reads open, so a file renamed or removed by a rotation is
//! still read to its end. At the end of the newest file it looks for files that were created
//! after it (by inode, whatever their names are now) and goes on with the oldest of those;
//! when the writer's lock is free and everything is drained, a follow ends. Lines are taken
//! whole: bytes after the last newline wait for the rest.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::files::{self, index_of};
use super::{LogEntry, Stream};
use crate::error::{Error, Result};

/// The longest line the reader accepts (an entry of [`MAX_LINE`](super::MAX_LINE) bytes,
/// every byte escaped, is about 96 KiB); a longer one is skipped.
const MAX_ENCODED_LINE: usize = 1 << 20;

/// How often a follow looks for more.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(20);

/// Reads a container's logs: from [`Container::logs`](crate::Container::logs), or from the
/// directory alone with [`open`](Self::open), also after the container and its handle are
/// gone. Options narrow what [`entries`](Self::entries) yields.
///
/// ```no_run
/// use nsbox::logs::{LogReader, Stream};
/// use std::time::{Duration, SystemTime};
/// let since = SystemTime::now() - Duration::from_secs(60);
/// for entry in LogReader::open("/tmp/my-logs").since(since).tail(10).stderr(false).entries()? {
///     let entry = entry?;
///     assert_eq!(entry.stream, Stream::Stdout);
/// }
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LogReader {
    dir: PathBuf,
    follow: bool,
    since: Option<SystemTime>,
    tail: Option<usize>,
    stdout: bool,
    stderr: bool,
}

impl LogReader {
    /// Reads the logs in `dir` (a [`LogConfig`](super::LogConfig)'s directory).
    pub fn open(dir: impl AsRef<Path>) -> Self {
        LogReader {
            dir: dir.as_ref().to_path_buf(),
            follow: false,
            since: None,
            tail: None,
            stdout: true,
            stderr: true,
        }
    }

    /// With `true`, the entries go on as the container writes them, across rotations, and
    /// end once its log writer stopped (the container exited and its pipes were drained)
    /// and every file is read. Without a writer at work, following ends at the end of the
    /// files, as a plain read does.
    pub fn follow(mut self, follow: bool) -> Self {
        self.follow = follow;
        self
    }

    /// Only entries stamped at or after `time`.
    pub fn since(mut self, time: SystemTime) -> Self {
        self.since = Some(time);
        self
    }

    /// Only the last `n` entries present when reading starts (after the other filters); with
    /// [`follow`](Self::follow), then every new one.
    pub fn tail(mut self, n: usize) -> Self {
        self.tail = Some(n);
        self
    }

    /// Whether entries of stdout are included (default: true).
    pub fn stdout(mut self, include: bool) -> Self {
        self.stdout = include;
        self
    }

    /// Whether entries of stderr are included (default: true).
    pub fn stderr(mut self, include: bool) -> Self {
        self.stderr = include;
        self
    }

    /// The directory read.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Opens the files and returns the entries, oldest first. A missing directory has no
    /// entries.
    pub fn entries(&self) -> Result<LogEntries> {
        let cursor = Cursor::open(&self.dir, self.follow).map_err(|e| self.error(e))?;
        let mut entries = LogEntries {
            reader: self.clone(),
            cursor,
            backlog: VecDeque::new(),
        };
        if let Some(n) = self.tail {
            // Everything there now, keeping the last n.
            loop {
                match entries.cursor.next().map_err(|e| self.error(e))? {
                    Next::Entry(entry) if entries.wanted(&entry) => {
                        if entries.backlog.len() == n {
                            entries.backlog.pop_front();
                        }
                        if n > 0 {
                            entries.backlog.push_back(entry);
                        }
                    }
                    Next::Entry(_) => {}
                    Next::Pending | Next::End => break,
                }
            }
        }
        Ok(entries)
    }

    fn error(&self, e: io::Error) -> Error {
        Error::io(format!("read the logs in {}", self.dir.display()), e)
    }
}

/// The entries of a [`LogReader`], oldest first; with `follow`, blocking until the next one
/// or the end of the container's logs.
#[derive(Debug)]
pub struct LogEntries {
    reader: LogReader,
    cursor: Cursor,
    backlog: VecDeque<LogEntry>,
}

impl LogEntries {
    fn wanted(&self, entry: &LogEntry) -> bool {
        let stream = match entry.stream {
            Stream::Stdout => self.reader.stdout,
            Stream::Stderr => self.reader.stderr,
        };
        stream && self.reader.since.is_none_or(|since| entry.time >= since)
    }
}

impl Iterator for LogEntries {
    type Item = Result<LogEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(entry) = self.backlog.pop_front() {
            return Some(Ok(entry));
        }
        loop {
            match self.cursor.next() {
                Err(e) => return Some(Err(self.reader.error(e))),
                Ok(Next::Entry(entry)) if self.wanted(&entry) => return Some(Ok(entry)),
                Ok(Next::Entry(_)) => {}
                Ok(Next::Pending) => std::thread::sleep(FOLLOW_INTERVAL),
                Ok(Next::End) => return None,
            }
        }
    }
}

/// What the cursor has next.
#[derive(Debug)]
pub(crate) enum Next {
    Entry(LogEntry),
    /// Nothing yet; the writer is still at work (following only).
    Pending,
    End,
}

/// Walks the files of a log directory in order (see the module's docs).
#[derive(Debug)]
pub(crate) struct Cursor {
    dir: PathBuf,
    /// Files still to read; the front is being read.
    queue: VecDeque<Segment>,
    follow: bool,
    /// The writer was seen gone, and the files read once more since.
    writer_gone: bool,
}

#[derive(Debug)]
struct Segment {
    file: File,
    id: (u64, u64),
    pending: Vec<u8>,
    /// Where the next line starts in `pending`.
    start: usize,
    /// Inside a line longer than [`MAX_ENCODED_LINE`]: drop bytes up to its newline.
    skipping: bool,
}

impl Cursor {
    pub(crate) fn open(dir: &Path, follow: bool) -> io::Result<Cursor> {
        Ok(Cursor {
            dir: dir.to_path_buf(),
            queue: open_all(dir)?.into(),
            follow,
            writer_gone: false,
        })
    }

    pub(crate) fn next(&mut self) -> io::Result<Next> {
        loop {
            if let Some(segment) = self.queue.front_mut() {
                if let Some(line) = segment.next_line()? {
                    match super::json::decode(&line) {
                        Some(entry) => return Ok(Next::Entry(entry)),
                        None => continue, // not ours: skipped
                    }
                }
                if self.queue.len() > 1 {
                    self.queue.pop_front();
                    continue;
                }
            }
            if !self.follow || self.writer_gone {
                return Ok(Next::End);
            }
            // Whether a writer is at work, asked before looking for newer files: what it
            // wrote before it stopped is then found below or by the read that follows.
            let active = files::writer_active(&self.dir)?;
            let newer = self.newer()?;
            if !newer.is_empty() {
                // The front may have got its last entries after we saw its end: it is read
                // to its end again before it is dropped.
                self.queue.extend(newer);
                continue;
            }
            if !active {
                self.writer_gone = true;
                continue;
            }
            return Ok(Next::Pending);
        }
    }

    /// The files created after the one being read, oldest first.
    fn newer(&self) -> io::Result<Vec<Segment>> {
        let mut all = open_all(&self.dir)?;
        let Some(front) = self.queue.front() else {
            return Ok(all);
        };
        // Not found: it was rotated out of the directory, and every file there is newer.
        if let Some(at) = all.iter().position(|s| s.id == front.id) {
            all.drain(..=at);
        }
        Ok(all)
    }
}

/// Opens every log file in `dir`, oldest (highest index) first.
fn open_all(dir: &Path) -> io::Result<Vec<Segment>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut indexes: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str().and_then(index_of))
        .collect();
    indexes.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = Vec::with_capacity(indexes.len());
    for index in indexes {
        use std::os::unix::fs::OpenOptionsExt;
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(dir.join(files::name(index)));
        let file = match opened {
            Ok(file) => file,
            // Rotated away between the listing and the open.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        let meta = file.metadata()?;
        out.push(Segment {
            file,
            id: (meta.dev(), meta.ino()),
            pending: Vec::new(),
            start: 0,
            skipping: false,
        });
    }
    Ok(out)
}

impl Segment {
    /// The next whole line (without its newline), or `None` at the end of what is written.
    fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut scanned = self.start;
        loop {
            if let Some(nl) = self.pending[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + nl;
                let line = self.pending[self.start..end].to_vec();
                self.start = end + 1;
                if self.start == self.pending.len() {
                    self.pending.clear();
                    self.start = 0;
                }
                if std::mem::take(&mut self.skipping) {
                    scanned = self.start;
                    continue;
                }
                return Ok(Some(line));
            }
            if self.start > 0 {
                self.pending.drain(..self.start);
                self.start = 0;
            }
            if self.pending.len() > MAX_ENCODED_LINE {
                self.pending.clear();
                self.skipping = true;
            }
            scanned = self.pending.len();
            let mut chunk = [0u8; 16 * 1024];
            let n = loop {
                match self.file.read(&mut chunk) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other?,
                }
            };
            if n == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }
}
