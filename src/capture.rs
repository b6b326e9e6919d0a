//! Reading a container's stdout and stderr to the end without threads and without deadlock
//! (a payload blocked writing one pipe while we block reading the other), keeping at most a
//! limit of each: past it, the rest is read and discarded, so the payload never blocks and
//! the caller's memory stays bounded.

use std::io::{self, Read};
use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::stdio::{ChildStderr, ChildStdout};

/// What was kept of one stream, and whether more came.
#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

/// Reads both streams (either may be absent) until EOF on each, keeping at most `limit`
/// bytes of each (`None`: everything).
pub(crate) fn read_both(
    mut out: Option<ChildStdout>,
    mut err: Option<ChildStderr>,
    limit: Option<u64>,
) -> io::Result<(Captured, Captured)> {
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let (mut out_buf, mut err_buf) = (Captured::default(), Captured::default());
    while out.is_some() || err.is_some() {
        let mut fds = Vec::with_capacity(2);
        if let Some(o) = &out {
            fds.push(PollFd::new(o.as_fd(), PollFlags::POLLIN));
        }
        if let Some(e) = &err {
            fds.push(PollFd::new(e.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        let ready: Vec<bool> = fds.iter().map(|f| f.revents().is_some_and(|r| !r.is_empty())).collect();
        drop(fds);
        let mut ready = ready.into_iter();
        if out.is_some() && ready.next() == Some(true) && drain(out.as_mut().map(|o| &mut o.0), &mut out_buf, limit)? {
            out = None;
        }
        if err.is_some() && ready.next() == Some(true) && drain(err.as_mut().map(|e| &mut e.0), &mut err_buf, limit)? {
            err = None;
        }
    }
    Ok((out_buf, err_buf))
}

/// One read; keeps what fits under `limit`, drops the rest. True at EOF.
fn drain(file: Option<&mut std::fs::File>, buf: &mut Captured, limit: usize) -> io::Result<bool> {
    let Some(file) = file else { return Ok(true) };
    // 64 KiB: a whole default pipe buffer per read, so discarding costs few syscalls.
    let mut chunk = [0u8; 64 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                let room = limit.saturating_sub(buf.bytes.len());
                let keep = n.min(room);
                buf.bytes.extend_from_slice(chunk.get(..keep).unwrap_or_default());
                buf.truncated |= keep < n;
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
