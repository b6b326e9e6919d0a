//! Container logs: a payload's stdout and stderr written to files in Docker's json-file shape,
//! with size-based rotation, readable while the container runs and after it exited, with or
//! without its [`Container`] handle.
//!
//! [`ContainerBuilder::logs`](crate::ContainerBuilder::logs) turns them on; a thread of the
//! caller's process drains both pipes and writes `container.log` in the directory given,
//! rotating it to `container.log.1`, `container.log.2`, ... [`LogReader`] reads them back
//! (from [`Container::logs`](crate::Container::logs), or [`LogReader::open`] on the directory
//! alone), with `follow`, `since`, `tail` and a stream filter. See docs/logs.md for the
//! format, rotation and follow semantics.
//!
//! ```no_run
//! use nsbox::logs::{LogConfig, LogReader};
//! let dir = std::env::temp_dir().join("nsbox-logs-doc");
//! let mut c = nsbox::Container::builder()
//!     .logs(LogConfig::new(&dir).max_size(1 << 20).max_files(3))
//!     .command("/bin/sh").args(["-c", "echo out; echo err >&2"])
//!     .spawn()?;
//! c.wait()?; // the writer has drained the pipes once the container is reaped
//! for entry in LogReader::open(&dir).entries()? {
//!     let entry = entry?;
//!     println!("{} {}", entry.stream, String::from_utf8_lossy(entry.line()));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod files;
mod json;
mod reader;
mod time;
mod writer;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub(crate) use reader::{Cursor, Next};
pub use reader::{LogEntries, LogReader};

/// `time` in RFC 3339, UTC, nine fraction digits (`2026-12-05T20:55:54.123456789Z`), as the
/// log files' timestamps: for programs that show times beside them (an OCI runtime's state).
///
/// ```
/// let t = std::time::UNIX_EPOCH + std::time::Duration::new(951_782_400, 5);
/// assert_eq!(nsbox::logs::rfc3339(t), "2000-02-29T00:00:00.000000005Z");
/// ```
pub fn rfc3339(time: SystemTime) -> String {
    let mut out = Vec::with_capacity(30);
    time::format(time, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses an RFC 3339 time (a fraction of 0 to 9 digits, `Z` or a `±HH:MM` offset), as the
/// log files' timestamps and `--since` arguments are written; `None` if it is not one.
///
/// ```
/// let t = nsbox::logs::parse_rfc3339("2000-02-29T01:00:00+01:00").unwrap();
/// assert_eq!(nsbox::logs::rfc3339(t), "2000-02-29T00:00:00.000000000Z");
/// ```
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    time::parse(text.as_bytes())
}
pub(crate) use writer::LogWriter;

use crate::config::Config;
use crate::container::Container;
use crate::error::{Error, Result};
use crate::stdio::Stdio;

/// The longest piece of a line one entry holds, as Docker's json-file driver splits lines:
/// a longer line becomes several entries, each but the last without a trailing `\n`.
pub const MAX_LINE: usize = 16 * 1024;

/// Moves the next bytes of `data` into `line`, up to and with a newline or until `line` holds
/// [`MAX_LINE`]; true when `line` is then a whole entry (a line, or a full piece of one).
pub(crate) fn take_piece(line: &mut Vec<u8>, data: &mut &[u8]) -> bool {
    let room = MAX_LINE - line.len();
    let take = match data.iter().take(room).position(|&b| b == b'\n') {
        Some(nl) => nl + 1,
        None => data.len().min(room),
    };
    line.extend_from_slice(&data[..take]);
    *data = &data[take..];
    line.ends_with(b"\n") || line.len() == MAX_LINE
}

/// Where and how much a container logs; given to
/// [`ContainerBuilder::logs`](crate::ContainerBuilder::logs).
///
/// ```
/// use nsbox::logs::LogConfig;
/// let logs = LogConfig::new("/var/log/my-fixture").max_size(10 << 20).max_files(5);
/// assert_eq!(logs.dir(), std::path::Path::new("/var/log/my-fixture"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct LogConfig {
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))]
    pub(crate) dir: PathBuf,
    pub(crate) max_size: u64,
    pub(crate) max_files: u32,
}

impl LogConfig {
    /// The default [`max_size`](Self::max_size): 10 MiB.
    pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
    /// The default [`max_files`](Self::max_files): 5.
    pub const DEFAULT_MAX_FILES: u32 = 5;
    /// The most files [`max_files`](Self::max_files) allows.
    pub const MAX_FILES: u32 = 1000;

    /// Logs into `dir` (created if missing; a relative path is taken from the caller's
    /// working directory at build time), 10 MiB per file, 5 files at most.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        LogConfig {
            dir: dir.as_ref().to_path_buf(),
            max_size: Self::DEFAULT_MAX_SIZE,
            max_files: Self::DEFAULT_MAX_FILES,
        }
    }

    /// The most bytes a log file holds before it is rotated (at least 1). An entry is never
    /// split across files: a file holds at least one entry, so one longer than this makes
    /// a file of its own.
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// How many files are kept, `container.log` included (1 to [`MAX_FILES`](Self::MAX_FILES));
    /// with 1, rotating drops the old file.
    pub fn max_files(mut self, count: u32) -> Self {
        self.max_files = count;
        self
    }

    /// The directory the log files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Which of the payload's streams an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name in the log files: `stdout` or `stderr`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn from_name(name: &[u8]) -> Option<Stream> {
        match name {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One log entry: a line (or a piece of one longer than [`MAX_LINE`]) the payload wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The stream it was written to.
    pub stream: Stream,
    /// When nsbox read it from the pipe.
    pub time: SystemTime,
    /// The bytes, with the line's `\n` when the entry ends a line; bytes that were not UTF-8
    /// read back as U+FFFD.
    pub bytes: Vec<u8>,
}

impl LogEntry {
    /// The bytes without a trailing `\n`.
    pub fn line(&self) -> &[u8] {
        self.bytes.strip_suffix(b"\n").unwrap_or(&self.bytes)
    }

    /// Whether the entry is a piece of a longer line, continued by the next entry of its
    /// stream (it has no trailing `\n`). The last piece of a stream that ended without a
    /// newline is partial too.
    pub fn is_partial(&self) -> bool {
        !self.bytes.ends_with(b"\n")
    }
}

/// Spawns `config` with both streams piped into a log writer (see [`Config::spawn`]). The
/// directory is prepared and locked first, so a bad directory fails before anything runs.
pub(crate) fn spawn(config: &Config, logs: &LogConfig) -> Result<Container> {
    let files = files::LogFiles::create(logs)?;
    let mut config = config.clone();
    config.stdout = Some(Stdio::piped());
    config.stderr = Some(Stdio::piped());
    let mut container = crate::spawn::spawn(&config)?;
    let (stdout, stderr) = (container.take_stdout(), container.take_stderr());
    match LogWriter::start(files, stdout.map(Into::into), stderr.map(Into::into), container.id()) {
        Ok(writer) => {
            container.set_log_writer(writer, logs.dir.clone());
            Ok(container)
        }
        Err(e) => {
            let cleanup = container.kill_and_reap();
            Err(Error::io("start the log writer", e).with_cleanup(cleanup))
        }
    }
}

#[cfg(all(test, feature = "serde"))]
mod tests {
    use super::LogConfig;
    use crate::{Config, Container};

    #[test]
    fn logs_round_trip_through_serde_and_are_checked_again() {
        let config = Container::builder()
            .logs(LogConfig::new("/tmp/nsbox-logs").max_size(5).max_files(2))
            .command("/bin/true")
            .build()
            .unwrap();
        let json = serde_json::to_string(&config).unwrap();
        let again: Config = serde_json::from_str(&json).unwrap();
        assert_eq!(again.logs(), config.logs());
        let bad = json.replace("\"max_files\":2", "\"max_files\":0");
        assert_ne!(bad, json);
        assert!(serde_json::from_str::<Config>(&bad).is_err());
    }
}
