//! The log writer: one thread per container that drains the payload's stdout and stderr
//! pipes, cuts what it reads into lines of at most [`MAX_LINE`] bytes, stamps them and
//! appends them to the log files.
//!
//! It reads whatever the payload writes, whether or not anyone reads the logs, so the
//! payload never blocks on a full pipe; what it holds is bounded (a line buffer per stream,
//! one read buffer, one encoded entry). A file it cannot write (disk full) loses entries, not
//! the draining. It ends when both pipes reach EOF, i.e. when every process holding their
//! other ends has exited; its handle can also ask it to drain what is left and stop, which
//! `Container` does once it reaped the container (processes outside a PID namespace may keep
//! the pipes open beyond that). Dropping the handle without asking, as a detached container's
//! handle does, leaves it running until EOF.

use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::thread::JoinHandle;
use std::time::SystemTime;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::files::LogFiles;
use super::{MAX_LINE, Stream};

/// The handle to a writer thread.
#[derive(Debug)]
pub(crate) struct LogWriter {
    thread: Option<JoinHandle<()>>,
    /// One byte written here asks the thread to drain and stop; closing it without one lets
    /// the thread run until EOF.
    stop: Option<OwnedFd>,
}

impl LogWriter {
    /// Starts the thread; `stdout` and `stderr` are the caller's ends of the pipes.
    pub(crate) fn start(
        files: LogFiles,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
        id: &str,
    ) -> io::Result<LogWriter> {
        let (stop_read, stop_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let mut streams = Vec::with_capacity(2);
        for (stream, fd) in [(Stream::Stdout, stdout), (Stream::Stderr, stderr)] {
            if let Some(fd) = fd {
                set_nonblocking(&fd)?;
                streams.push(Source {
                    stream,
                    file: std::fs::File::from(fd),
                    line: Vec::with_capacity(MAX_LINE),
                });
            }
        }
        let thread = std::thread::Builder::new()
            .name(format!("nsbox-logs-{id}"))
            .spawn(move || run(files, streams, stop_read))?;
        Ok(LogWriter {
            thread: Some(thread),
            stop: Some(stop_write),
        })
    }

    /// Asks the thread to write what the pipes hold now and stop, and waits for it.
    pub(crate) fn finish(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = nix::unistd::write(&stop, &[1]);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One stream: its pipe and the line read so far.
struct Source {
    stream: Stream,
    file: std::fs::File,
    line: Vec<u8>,
}

/// What the thread owns while it runs.
struct Sink {
    files: LogFiles,
    /// Entries encoded and not written yet: written together once a read is handled (one
    /// `write` for many short lines), before a rotation, or past [`BATCH`].
    batch: Vec<u8>,
    /// Writes (batches of entries) lost to errors; the first is reported.
    lost: u64,
}

/// Bytes of entries written at once at most.
const BATCH: usize = 256 * 1024;

impl Sink {
    fn emit(&mut self, stream: Stream, bytes: &[u8]) {
        let start = self.batch.len();
        super::json::encode(stream, SystemTime::now(), bytes, &mut self.batch);
        if start > 0 && !self.files.fits(self.batch.len()) {
            // The new entry would go to the next file: the batch before it goes to this one.
            let entry = self.batch.split_off(start);
            self.write_batch();
            self.batch = entry;
        }
        if self.batch.len() >= BATCH {
            self.write_batch();
        }
    }

    /// Writes the batch (whole entries), keeping its buffer.
    fn write_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        if let Err(e) = self.files.write(&self.batch) {
            if self.lost == 0 {
                tracing::warn!(error = %e, "container log entries lost: cannot write the log file");
            }
            self.lost += 1;
        }
        self.batch.clear();
    }
}

impl Source {
    /// Adds `data` to the line, emitting every complete line and every [`MAX_LINE`] piece.
    fn feed(&mut self, mut data: &[u8], sink: &mut Sink) {
        while !data.is_empty() {
            if super::take_piece(&mut self.line, &mut data) {
                sink.emit(self.stream, &self.line);
                self.line.clear();
            }
        }
    }

    /// At EOF: the last line, without a newline.
    fn flush(&mut self, sink: &mut Sink) {
        if !self.line.is_empty() {
            sink.emit(self.stream, &self.line);
            self.line.clear();
        }
        sink.write_batch();
    }

    /// Reads what is there; false at EOF (or a read error, which ends the stream too).
    fn read_some(&mut self, buf: &mut [u8], sink: &mut Sink) -> Readable {
        loop {
            match self.file.read(buf) {
                Ok(0) => return Readable::Eof,
                Ok(n) => {
                    self.feed(&buf[..n], sink);
                    sink.write_batch();
                    return Readable::More;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Readable::Empty,
                Err(_) => return Readable::Eof,
            }
        }
    }
}

enum Readable {
    More,
    Empty,
    Eof,
}

fn run(files: LogFiles, mut streams: Vec<Source>, stop: OwnedFd) {
    let mut sink = Sink {
        files,
        batch: Vec::with_capacity(BATCH + MAX_LINE * 6 + 128),
        lost: 0,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut stop = Some(stop);
    let mut draining = false;
    while !streams.is_empty() {
        if draining {
            // What the pipes hold now, then stop; bounded (4 MiB a stream), in case a
            // process outside a PID namespace keeps writing.
            for source in &mut streams {
                for _ in 0..64 {
                    if !matches!(source.read_some(&mut buf, &mut sink), Readable::More) {
                        break;
                    }
                }
                source.flush(&mut sink);
            }
            break;
        }
        let mut fds: Vec<PollFd> = streams
            .iter()
            .map(|s| PollFd::new(s.file.as_fd(), PollFlags::POLLIN))
            .collect();
        if let Some(stop) = &stop {
            fds.push(PollFd::new(stop.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        if stop.is_some() && ready.get(streams.len()) == Some(&true) {
            let mut byte = [0u8; 1];
            let asked = stop.as_ref().is_some_and(|s| nix::unistd::read(s, &mut byte) == Ok(1));
            // A byte: drain and stop. EOF: the handle is gone (detached); run until EOF.
            draining = asked;
            stop = None;
        }
        let mut i = 0;
        streams.retain_mut(|source| {
            let readable = ready[i];
            i += 1;
            if !readable {
                return true;
            }
            match source.read_some(&mut buf, &mut sink) {
                Readable::More | Readable::Empty => true,
                Readable::Eof => {
                    source.flush(&mut sink);
                    false
                }
            }
        });
    }
    // The files and the directory lock go with `sink`: readers following see the end.
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_retain(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogConfig;

    #[test]
    fn lines_split_at_newlines_and_max_line() {
        let dir = tempfile::tempdir().unwrap();
        let files = LogFiles::create(&LogConfig::new(dir.path())).unwrap();
        let mut sink = Sink {
            files,
            batch: Vec::new(),
            lost: 0,
        };
        let mut source = Source {
            stream: Stream::Stdout,
            file: std::fs::File::open("/dev/null").unwrap(),
            line: Vec::new(),
        };
        let long = vec![b'x'; MAX_LINE * 2 + 5];
        source.feed(b"a\nb", &mut sink);
        source.feed(b"c\n", &mut sink);
        source.feed(&long, &mut sink);
        source.feed(b"\nend", &mut sink);
        source.flush(&mut sink);
        drop(sink);
        let text = std::fs::read(dir.path().join("container.log")).unwrap();
        let entries: Vec<_> = text
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| crate::logs::json::decode(l).unwrap().bytes)
            .collect();
        let x = |n| vec![b'x'; n];
        let mut last = x(5);
        last.push(b'\n');
        assert_eq!(
            entries,
            vec![
                b"a\n".to_vec(),
                b"bc\n".to_vec(),
                x(MAX_LINE),
                x(MAX_LINE),
                last,
                b"end".to_vec()
            ]
        );
    }

    /// Many lines in one read are one batch, yet split across files at the size limit: no
    /// file beyond it, no entry cut, none lost but what rotation drops.
    #[test]
    fn a_batch_of_many_lines_rotates_at_the_size_limit() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig::new(dir.path()).max_size(1000).max_files(3);
        let mut sink = Sink {
            files: LogFiles::create(&config).unwrap(),
            batch: Vec::new(),
            lost: 0,
        };
        let mut source = Source {
            stream: Stream::Stdout,
            file: std::fs::File::open("/dev/null").unwrap(),
            line: Vec::new(),
        };
        let text: String = (0..200).map(|i| format!("line-{i}\n")).collect();
        source.feed(text.as_bytes(), &mut sink);
        source.flush(&mut sink);
        drop(sink);
        let mut kept = Vec::new();
        for name in ["container.log.2", "container.log.1", "container.log"] {
            let bytes = std::fs::read(dir.path().join(name)).unwrap();
            assert!(
                bytes.len() <= 1000 && !bytes.is_empty(),
                "{name}: {} bytes",
                bytes.len()
            );
            for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                kept.push(String::from_utf8(crate::logs::json::decode(line).unwrap().bytes).unwrap());
            }
        }
        let first: usize = kept[0].trim_end().strip_prefix("line-").unwrap().parse().unwrap();
        let expected: Vec<String> = (first..200).map(|i| format!("line-{i}\n")).collect();
        assert_eq!(kept, expected);
    }
}
