//! How a container's payload ended.

use std::fmt;

use crate::signal::Signal;

/// The payload's exit status, in the encoding of `waitpid(2)`.
///
/// With a PID 1 init in front of the payload, this is the payload's own status (the init
/// reports it), so a payload killed by SIGTERM shows [`signal`](Self::signal) `SIGTERM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitStatus {
    raw: i32,
    oom_killed: bool,
}

impl ExitStatus {
    /// From a raw `waitpid` status.
    pub fn from_raw(raw: i32) -> Self {
        ExitStatus { raw, oom_killed: false }
    }

    pub(crate) fn with_oom_killed(mut self, oom_killed: bool) -> Self {
        self.oom_killed = oom_killed;
        self
    }

    /// Whether the kernel's OOM killer killed a process of the container because it reached
    /// its memory limit (known for containers with a memory cgroup).
    pub fn oom_killed(&self) -> bool {
        self.oom_killed
    }

    /// The raw `waitpid` status.
    pub fn into_raw(self) -> i32 {
        self.raw
    }

    pub(crate) fn from_siginfo(code: i32, status: i32) -> Self {
        match code {
            libc::CLD_EXITED => ExitStatus::from_raw((status & 0xff) << 8),
            libc::CLD_DUMPED => ExitStatus::from_raw((status & 0x7f) | 0x80),
            _ => ExitStatus::from_raw(status & 0x7f),
        }
    }

    /// Whether the payload exited with code 0.
    pub fn success(&self) -> bool {
        self.code() == Some(0)
    }

    /// The exit code, if the payload exited rather than being killed.
    pub fn code(&self) -> Option<i32> {
        libc::WIFEXITED(self.raw).then(|| libc::WEXITSTATUS(self.raw))
    }

    /// The signal that killed the payload, if one did (real-time ones included; the two the C
    /// library reserves, 32 and 33, have no [`Signal`] and give `None`).
    pub fn signal(&self) -> Option<Signal> {
        if libc::WIFSIGNALED(self.raw) {
            Signal::try_from(libc::WTERMSIG(self.raw)).ok()
        } else {
            None
        }
    }

    /// Whether the payload dumped core.
    pub fn core_dumped(&self) -> bool {
        libc::WIFSIGNALED(self.raw) && libc::WCOREDUMP(self.raw)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code(), self.signal()) {
            (Some(code), _) => write!(f, "exit status: {code}"),
            (None, Some(signal)) => write!(f, "signal: {} ({signal})", signal.as_raw()),
            _ => write!(f, "wait status: {}", self.raw),
        }?;
        if self.oom_killed {
            f.write_str(" (out of memory)")?;
        }
        Ok(())
    }
}

/// What [`Container::wait_with_output`](crate::Container::wait_with_output) collects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// How the payload ended.
    pub status: ExitStatus,
    /// What it wrote to a piped stdout: all of it, or the first
    /// [`output_limit`](crate::ContainerBuilder::output_limit) bytes.
    pub stdout: Vec<u8>,
    /// What it wrote to a piped stderr, likewise.
    pub stderr: Vec<u8>,
    /// Whether the payload wrote more to stdout than the output limit: `stdout` holds the
    /// first bytes only, the rest was read and discarded.
    pub stdout_truncated: bool,
    /// Whether the payload wrote more to stderr than the output limit.
    pub stderr_truncated: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_decode_like_waitpid() {
        let exited = ExitStatus::from_siginfo(libc::CLD_EXITED, 3);
        assert_eq!(
            (exited.code(), exited.signal(), exited.success()),
            (Some(3), None, false)
        );
        let killed = ExitStatus::from_siginfo(libc::CLD_KILLED, libc::SIGKILL);
        assert_eq!((killed.code(), killed.signal()), (None, Some(Signal::SIGKILL)));
        assert!(ExitStatus::from_siginfo(libc::CLD_DUMPED, libc::SIGSEGV).core_dumped());
        assert_eq!(
            ExitStatus::from_siginfo(libc::CLD_EXITED, 0).to_string(),
            "exit status: 0"
        );
    }
}
