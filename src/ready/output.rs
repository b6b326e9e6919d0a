//! Waiting for a line of output: in the log files when the container has logs, else on its
//! piped stdout and stderr, whose bytes are kept for the caller (see `replay.rs`).

use std::io::Read;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::{Waiting, exited};
use crate::container::Container;
use crate::error::{Error, NotReadyReason, Result};
use crate::logs::{Cursor, Next, Stream};

/// What a wait keeps of a piped stream without an
/// [`output_limit`](crate::ContainerBuilder::output_limit): 16 MiB.
const PIPE_KEEP_LIMIT: u64 = 16 << 20;
/// How often the log files are looked at.
const LOG_INTERVAL: Duration = Duration::from_millis(20);

type Matcher<'a> = &'a (dyn Fn(&[u8]) -> bool + Send + Sync);

pub(super) fn wait(c: &mut Container, matches: Matcher, stream: Option<Stream>, waiting: &mut Waiting) -> Result<()> {
    match c.log_dir() {
        Some(dir) => from_logs(c, &dir, matches, stream, waiting),
        None => from_pipes(c, matches, stream, waiting),
    }
}

fn from_logs(
    c: &mut Container,
    dir: &std::path::Path,
    matches: Matcher,
    stream: Option<Stream>,
    waiting: &mut Waiting,
) -> Result<()> {
    let io = |e| Error::io(format!("read the logs in {}", dir.display()), e);
    let mut cursor = Cursor::open(dir, true).map_err(io)?;
    let mut status = None;
    loop {
        match cursor.next().map_err(io)? {
            Next::Entry(entry) => {
                if stream.is_none_or(|s| s == entry.stream) {
                    waiting.saw(entry.line());
                    if matches(entry.line()) {
                        return Ok(());
                    }
                }
                continue;
            }
            Next::End if let Some(status) = status => return Err(waiting.fail(NotReadyReason::Exited(status))),
            Next::End | Next::Pending => {}
        }
        if status.is_none() {
            // Reaping lets the writer drain the pipes and stop; the files are then read to
            // their end before the wait gives up.
            status = exited(c)?;
            if status.is_some() {
                continue;
            }
        }
        if waiting.timed_out() {
            return Err(waiting.fail(status.map_or(NotReadyReason::TimedOut, NotReadyReason::Exited)));
        }
        waiting.pause(LOG_INTERVAL);
    }
}

/// A piped stream being watched: the line read so far (bounded by [`MAX_LINE`](crate::logs::MAX_LINE)).
struct Watch {
    stream: Stream,
    line: Vec<u8>,
    open: bool,
}

impl Watch {
    /// Feeds `data`; true once a line (or a [`MAX_LINE`](crate::logs::MAX_LINE) piece of one) matches.
    fn feed(&mut self, mut data: &[u8], matches: Matcher, waiting: &mut Waiting) -> bool {
        while !data.is_empty() {
            if crate::logs::take_piece(&mut self.line, &mut data) && self.line_matches(matches, waiting) {
                return true;
            }
        }
        false
    }

    /// Offers the line read so far (at a newline, a full piece, or EOF) and starts a new one.
    fn line_matches(&mut self, matches: Matcher, waiting: &mut Waiting) -> bool {
        let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        waiting.saw(line);
        let hit = matches(line);
        self.line.clear();
        hit
    }
}

fn from_pipes(c: &mut Container, matches: Matcher, stream: Option<Stream>, waiting: &mut Waiting) -> Result<()> {
    let limit = c.kept_output_limit().unwrap_or(PIPE_KEEP_LIMIT);
    let mut watches: Vec<Watch> = [Stream::Stdout, Stream::Stderr]
        .into_iter()
        .filter(|s| stream.is_none_or(|wanted| wanted == *s) && c.output_pipe(*s).is_some())
        .map(|stream| Watch {
            stream,
            line: Vec::new(),
            open: true,
        })
        .collect();
    if watches.is_empty() {
        let which = stream.map_or("stdout and stderr", Stream::name);
        return Err(waiting.fail(NotReadyReason::Unobservable(format!(
            "{which} not piped to the caller (inherited, null, a file, or taken): use Stdio::piped() or logs()"
        ))));
    }
    // What earlier waits read counts too: output is matched from its start.
    for watch in &mut watches {
        let earlier = std::mem::take(c.seen_mut(watch.stream));
        let hit = watch.feed(&earlier, matches, waiting);
        *c.seen_mut(watch.stream) = earlier;
        if hit {
            return Ok(());
        }
    }
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let left = waiting.left();
        let (readable, exited_now) = {
            let mut fds: Vec<PollFd> = watches
                .iter()
                .filter(|w| w.open)
                .filter_map(|w| c.output_pipe(w.stream).map(|p| PollFd::new(p, PollFlags::POLLIN)))
                .collect();
            fds.push(PollFd::new(c.pidfd(), PollFlags::POLLIN));
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            match poll(&mut fds, PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Error::io("poll the container's output", e)),
            }
            let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
            let exited_now = ready.last() == Some(&true);
            (ready, exited_now)
        };
        for (i, watch) in watches.iter_mut().filter(|w| w.open).enumerate() {
            if readable[i] && read_once(c, watch, &mut chunk, limit, matches, waiting)? {
                return Ok(());
            }
        }
        if exited_now {
            // What the pipes still hold (bounded: a process outside a PID namespace may
            // still write), then the status.
            for watch in watches.iter_mut() {
                for _ in 0..64 {
                    let has_data = watch.open
                        && c.output_pipe(watch.stream).is_some_and(|p| {
                            let mut fds = [PollFd::new(p, PollFlags::POLLIN)];
                            matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
                        });
                    if !has_data {
                        break;
                    }
                    if read_once(c, watch, &mut chunk, limit, matches, waiting)? {
                        return Ok(());
                    }
                }
            }
            if let Some(status) = exited(c)? {
                return Err(waiting.fail(NotReadyReason::Exited(status)));
            }
        }
        if waiting.timed_out() {
            return Err(waiting.fail(NotReadyReason::TimedOut));
        }
        if watches.iter().all(|w| !w.open) {
            // Nothing more can come: only the exit or the timeout can end the wait.
            waiting.pause(Duration::from_millis(20));
        }
    }
}

/// One read of `watch`'s pipe: its bytes kept in the container, then matched. True on a match;
/// an error once more than `limit` bytes were kept without one (nothing read is dropped).
fn read_once(
    c: &mut Container,
    watch: &mut Watch,
    chunk: &mut [u8],
    limit: u64,
    matches: Matcher,
    waiting: &mut Waiting,
) -> Result<bool> {
    let Some(pipe) = c.output_pipe_mut(watch.stream) else {
        watch.open = false;
        return Ok(false);
    };
    let n = loop {
        match pipe.read(chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("read the container's {}", watch.stream), e)),
            Ok(n) => break n,
        }
    };
    if n == 0 {
        watch.open = false;
        return Ok(!watch.line.is_empty() && watch.line_matches(matches, waiting));
    }
    let seen = c.seen_mut(watch.stream);
    seen.extend_from_slice(&chunk[..n]);
    let kept = seen.len() as u64;
    if watch.feed(&chunk[..n], matches, waiting) {
        return Ok(true);
    }
    if kept > limit {
        return Err(waiting.fail(NotReadyReason::OutputLimit(limit)));
    }
    Ok(false)
}
