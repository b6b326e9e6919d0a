//! What an output wait read from a piped stream is not lost: the container keeps it
//! ([`Seen`]), [`wait_with_output`](crate::Container::wait_with_output) puts it first, and
//! [`take_stdout`](crate::Container::take_stdout) hands out a new pipe that yields it before
//! the rest of the stream ([`replay`]).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

/// The bytes output waits read from the piped stdout and stderr, from the start.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A pipe that yields `prefix`, then everything `rest` yields, copied by a thread that ends
/// at `rest`'s EOF or when the returned end is closed (then `rest` is closed too, so the
/// payload sees EPIPE as it would have). Its memory is `prefix` and one 64 KiB buffer.
pub(crate) fn replay(prefix: Vec<u8>, rest: File) -> io::Result<OwnedFd> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    std::thread::Builder::new()
        .name("nsbox-replay".into())
        .spawn(move || copy(prefix, rest, File::from(write)))?;
    Ok(read)
}

fn copy(prefix: Vec<u8>, mut rest: File, mut out: File) {
    // A write to a pipe nobody reads raises SIGPIPE; blocked in this thread (and dropped
    // with it), the write fails with EPIPE instead, whatever the caller does with SIGPIPE.
    let mut set = nix::sys::signal::SigSet::empty();
    set.add(nix::sys::signal::Signal::SIGPIPE);
    if nix::sys::signal::pthread_sigmask(nix::sys::signal::SigmaskHow::SIG_BLOCK, Some(&set), None).is_err() {
        return;
    }
    if out.write_all(&prefix).is_err() {
        return;
    }
    drop(prefix);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        // Data to copy, or the reader gone (POLLERR on our end).
        let mut fds = [
            PollFd::new(rest.as_fd(), PollFlags::POLLIN),
            PollFd::new(out.as_fd(), PollFlags::empty()),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return,
        }
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            return;
        }
        let n = match rest.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        if out.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}
