//! A setup process born in a joined PID namespace is visible to that namespace's processes
//! from its birth, with the caller's uid, and one of them may `SIGSTOP` it before its exec:
//! stopped, it neither reports nor closes the error pipe, and a plain read of the report would
//! wait forever. So for such a container the parent waits for the report in slices and, between
//! them, asks the kernel whether its child is stopped (`waitid(WSTOPPED | WNOHANG | WNOWAIT)`
//! on the pidfd); a stopped setup process fails the spawn (the caller kills and reaps it). The
//! setup process never stops by itself: nothing but another process's signal stops it.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::error::{Error, Result};

/// How long one slice of the wait lasts: how late a stop is seen.
const SLICE_MS: libc::c_int = 20;

/// Returns once `error` (the report pipe's read end) is readable or closed; an error if the
/// child behind `pidfd` is stopped before that.
pub(super) fn await_report(error: BorrowedFd<'_>, pidfd: BorrowedFd<'_>) -> Result<()> {
    loop {
        let mut poll = libc::pollfd {
            fd: error.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one live pollfd we own.
        let ready = unsafe { libc::poll(&mut poll, 1, SLICE_MS) };
        let e = std::io::Error::last_os_error();
        match ready {
            n if n > 0 => return Ok(()),
            n if n < 0 && e.kind() != std::io::ErrorKind::Interrupted => {
                return Err(Error::io("wait for the setup report", e));
            }
            _ => {}
        }
        // SAFETY: siginfo_t is plain data, all zero a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WSTOPPED | libc::WNOHANG | libc::WNOWAIT;
        // SAFETY: waitid on a live pidfd of our child, into a siginfo_t we own.
        let r = unsafe { libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, flags) };
        // SAFETY: waitid filled `info` (si_pid stays 0 when nothing is to report).
        if r == 0 && unsafe { info.si_pid() } != 0 && info.si_code == libc::CLD_STOPPED {
            // SAFETY: as above; for CLD_STOPPED si_status is the stopping signal.
            let signal = unsafe { info.si_status() };
            return Err(Error::io(
                "wait for the setup process in the joined PID namespace",
                std::io::Error::other(format!(
                    "stopped by signal {signal} before its exec (a process of that namespace can stop it)"
                )),
            ));
        }
    }
}
