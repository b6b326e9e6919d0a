//! The PID 1 that stands in front of the payload in a PID namespace.
//!
//! A PID 1 must reap orphans (or they pile up as zombies) and gets no default signal
//! handling from the kernel (a SIGTERM to a payload running as PID 1 without a handler does
//! nothing). So, like tini and docker-init: block every signal, fork the payload, then wait
//! for signals; reap on SIGCHLD, forward everything else to the payload. When the payload
//! exits, report its raw wait status on the status pipe and exit, which makes the kernel
//! kill whatever is left in the namespace.
//!
//! The init side executes the embedded nsbox-init binary (see `crate::pid1`) after dropping
//! every capability but CAP_KILL; if that fails it runs the same loop here, in the fork.

use std::os::fd::RawFd;

use crate::sys::{self, SysResult};

/// The fds nsbox-init expects: the status pipe, and its own binary while it is executed.
const INIT_STATUS_FD: RawFd = 3;
const INIT_BINARY_FD: RawFd = 4;

/// Forks: returns `Ok` in the payload; the init side never returns.
pub(super) fn fork_init(status_fd: RawFd, error_fd: RawFd, binary: RawFd, last_cap: u8) -> SysResult<()> {
    let payload = sys::fork()?;
    if payload == 0 {
        sys::close(status_fd);
        return Ok(());
    }
    // The error pipe now belongs to the payload alone: its exec (CLOEXEC) or its failure
    // report is what the parent waits for. Init keeps nothing but the status pipe, so it never
    // holds the container's stdio open.
    let _ = error_fd;
    let mut status_fd = status_fd;
    // nsbox-init knows the payload as PID 2, the first process forked in the namespace.
    if binary >= 0 && payload == 2 && exec_init_binary(status_fd, binary, last_cap) {
        // exec failed after the fds were rearranged: the status pipe is now at fd 3.
        status_fd = INIT_STATUS_FD;
    }
    sys::close_all_except(status_fd);
    loop {
        match sys::wait_any_signal() {
            Ok(libc::SIGCHLD) | Err(_) => reap(payload, status_fd),
            Ok(signal) => sys::kill(payload, signal),
        }
    }
}

/// Executes nsbox-init with the status pipe at fd 3 and capabilities down to CAP_KILL (what
/// forwarding a signal to a payload running as another user needs). Returns only if that
/// fails: true if the fds were already moved.
fn exec_init_binary(status_fd: RawFd, binary: RawFd, last_cap: u8) -> bool {
    // Both above the target numbers first, so neither dup3 can clobber the other.
    let (Ok(status), Ok(bin)) = (sys::dup_above(status_fd, 10, false), sys::dup_above(binary, 10, true)) else {
        return false;
    };
    if sys::dup3(status, INIT_STATUS_FD, false).is_err() || sys::dup3(bin, INIT_BINARY_FD, true).is_err() {
        return false;
    }
    sys::close_from(INIT_BINARY_FD + 1);
    for fd in 0..INIT_STATUS_FD {
        sys::close(fd);
    }
    let kill = caps::Capability::CAP_KILL.bitmask();
    for cap in 0..=last_cap {
        if kill & (1u64 << cap) == 0 {
            let _ = sys::prctl2(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0);
        }
    }
    let _ = sys::capset(kill, kill, 0);
    let _ = sys::prctl2(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0);
    let _ = sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1);
    let argv: [*const libc::c_char; 2] = [c"nsbox-init".as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let _ = sys::execveat_empty_path(INIT_BINARY_FD, &argv, &envp);
    true
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
