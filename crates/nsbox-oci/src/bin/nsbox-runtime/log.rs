//! `--log` and `--log-format`: the file is opened first thing, so that every later failure
//! reaches it. containerd's shim reads the last `{"level":"error","msg":…}` line of a json log
//! to tell the user why a verb failed; runc's text format is logrus's.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// The log: a file (appended to, as runc does) or nothing; errors always go to stderr too.
#[derive(Debug)]
pub struct Log {
    file: Option<File>,
    format: Format,
    debug: bool,
}

impl Log {
    /// Opens `path` (created 0644 if missing). An unknown format is reported after the file
    /// is open, in text, so the engine sees it.
    pub fn open(path: Option<&Path>, format: &str, debug: bool) -> (Log, Option<String>) {
        let (format, bad) = match format {
            "json" => (Format::Json, None),
            "text" => (Format::Text, None),
            other => (
                Format::Text,
                Some(format!("unknown log format {other:?}: text or json")),
            ),
        };
        let mut opened = None;
        let mut failure = bad;
        if let Some(path) = path {
            match OpenOptions::new()
                .append(true)
                .create(true)
                .mode(0o644)
                .custom_flags(libc::O_CLOEXEC)
                .open(path)
            {
                Ok(f) => opened = Some(f),
                Err(e) => failure = Some(format!("cannot open the log file {}: {e}", path.display())),
            }
        }
        (
            Log {
                file: opened,
                format,
                debug,
            },
            failure,
        )
    }

    /// An error line in the log, and the message on stderr.
    pub fn error(&mut self, msg: &str) {
        self.line("error", msg);
        eprintln!("nsbox-runtime: {msg}");
    }

    /// A warning (a failed poststart or poststop hook, which the spec says must not fail).
    pub fn warn(&mut self, msg: &str) {
        self.line("warning", msg);
        if self.file.is_none() {
            eprintln!("nsbox-runtime: warning: {msg}");
        }
    }

    /// A debug line, with `--debug`.
    pub fn debug(&mut self, msg: &str) {
        if self.debug {
            self.line("debug", msg);
        }
    }

    /// A line in the log file only (clap prints usage errors itself).
    pub fn line_only(&mut self, level: &str, msg: &str) {
        self.line(level, msg);
    }

    fn line(&mut self, level: &str, msg: &str) {
        let Some(file) = &mut self.file else { return };
        let time = crate::time::rfc3339(std::time::SystemTime::now());
        let line = match self.format {
            Format::Json => {
                // The key order containerd's and Docker's readers expect (they decode by key
                // anyway); one line per entry.
                format!(
                    "{{\"level\":{},\"msg\":{},\"time\":{}}}\n",
                    json_string(level),
                    json_string(msg),
                    json_string(&time)
                )
            }
            Format::Text => format!("time={:?} level={level} msg={:?}\n", time, msg),
        };
        // One write per line: lines of concurrent invocations stay whole (O_APPEND).
        let _ = file.write_all(line.as_bytes());
    }
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
