//! Passing the caller's fds `3 .. 3 + N` to the payload at the same numbers (runc's
//! `--preserve-fds`): [`ContainerBuilder::preserve_fds`], and
//! [`ExecBuilder::preserve_fds`](crate::ExecBuilder::preserve_fds) for an exec.

use std::io;

use crate::ContainerBuilder;
use crate::start_gate::StartControl;

impl StartControl {
    /// Fails unless every preserved fd is open: one that is not could be taken by one of
    /// nsbox's own fds of the spawn, which the payload would then inherit.
    pub fn check_preserved_fds(&self) -> io::Result<()> {
        check_open(self.preserved_fds)
    }
}

/// Fails unless each of the caller's fds `3 .. 3 + count` is open.
pub(crate) fn check_open(count: u32) -> io::Result<()> {
    for fd in 3..3i32.saturating_add(count.min(i32::MAX as u32) as i32) {
        // SAFETY: F_GETFD with an integer fd; no memory.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(io::Error::other(format!("fd {fd} is to be preserved but is not open")));
        }
    }
    Ok(())
}

impl ContainerBuilder {
    /// Passes the caller's fds `3 .. 3 + count` to the payload at the same numbers (runc's
    /// `--preserve-fds`; systemd socket activation's `LISTEN_FDS` convention). They must be
    /// open when the container is spawned (else `spawn` fails: nsbox's own fds of the spawn
    /// could take a free number); they are inherited whether or not they are close-on-exec
    /// here. Every other fd of the caller stays out of the container, as always.
    pub fn preserve_fds(&mut self, count: u32) -> &mut Self {
        self.settings.start.preserved_fds = count;
        self
    }
}
