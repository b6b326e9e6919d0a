//! The minimal PID 1 that stands in front of the payload in a PID namespace.
//!
//! A PID 1 must reap orphans (or they pile up as zombies) and gets no default signal
//! handling from the kernel (a SIGTERM to a payload running as PID 1 without a handler does
//! nothing). So, like tini and docker-init: block every signal, fork the payload, then wait
//! for signals; reap on SIGCHLD, forward everything else to the payload. When the payload
//! exits, report its raw wait status on the status pipe and exit, which makes the kernel
//! kill whatever is left in the namespace.

use std::os::fd::RawFd;

use crate::sys::{self, SysResult};

/// Forks: returns `Ok` in the payload; the init side never returns.
pub(super) fn fork_init(status_fd: RawFd, error_fd: RawFd) -> SysResult<()> {
    let payload = sys::fork()?;
    if payload == 0 {
        sys::close(status_fd);
        return Ok(());
    }
    // The error pipe now belongs to the payload alone: its exec (CLOEXEC) or its failure
    // report is what the parent waits for. Init keeps nothing but the status pipe, so it never
    // holds the container's stdio open.
    let _ = error_fd;
    sys::close_all_except(status_fd);
    loop {
        match sys::wait_any_signal() {
            Ok(libc::SIGCHLD) | Err(_) => reap(payload, status_fd),
            Ok(signal) => sys::kill(payload, signal),
        }
    }
}

/// Reaps every exited child; on the payload's exit, reports and exits.
fn reap(payload: libc::pid_t, status_fd: RawFd) {
    while let Ok(Some((pid, status))) = sys::waitpid_any_nohang() {
        if pid == payload {
            let _ = sys::write_all(status_fd, &status.to_le_bytes());
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            sys::exit(code);
        }
    }
}
