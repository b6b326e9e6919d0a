//! Reading a container's stdout and stderr to the end without threads and without deadlock
//! (a payload blocked writing one pipe while we block reading the other).

use std::io::{self, Read};
use std::os::fd::AsFd;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::stdio::{ChildStderr, ChildStdout};

/// Reads both streams (either may be absent) until EOF on each.
pub(crate) fn read_both(mut out: Option<ChildStdout>, mut err: Option<ChildStderr>) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut out_buf, mut err_buf) = (Vec::new(), Vec::new());
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
        if out.is_some() && ready.next() == Some(true) && drain(out.as_mut().map(|o| &mut o.0), &mut out_buf)? {
            out = None;
        }
        if err.is_some() && ready.next() == Some(true) && drain(err.as_mut().map(|e| &mut e.0), &mut err_buf)? {
            err = None;
        }
    }
    Ok((out_buf, err_buf))
}

/// One read; true at EOF.
fn drain(file: Option<&mut std::fs::File>, buf: &mut Vec<u8>) -> io::Result<bool> {
    let Some(file) = file else { return Ok(true) };
    let mut chunk = [0u8; 16 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(false);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
