//! A container's recorded status, and the processes it names, identified by pid and start time
//! (a pid reused by another process is not the one recorded).

use std::os::fd::{FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::time::now_unix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Paused,
    Exited,
    /// Recorded as running, but its monitor is gone (and the container with it).
    Dead,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Paused => "paused",
            State::Exited => "exited",
            State::Dead => "dead",
        }
    }
}

/// A process as recorded: its pid and its start time (`/proc/<pid>/stat` field 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub start_time: u64,
}

impl Process {
    pub fn current() -> Process {
        Process::of(std::process::id()).expect("this process exists")
    }

    /// `pid` as it is now, if it exists and has not exited.
    pub fn of(pid: u32) -> Option<Process> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
        if matches!(fields.next()?, "Z" | "X" | "x") {
            return None;
        }
        let start_time = fields.nth(18)?.parse().ok()?;
        Some(Process { pid, start_time })
    }

    pub fn alive(&self) -> bool {
        Process::of(self.pid) == Some(*self)
    }

    /// A pidfd of the process, checked after opening (so it names the recorded process, not a
    /// later one with the same pid).
    pub fn pidfd(&self) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags; returns a new fd or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, self.pid as libc::pid_t, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: a new fd we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        self.alive().then_some(fd)
    }
}

/// `status.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub state: State,
    /// Unix times, seconds.
    pub created: f64,
    pub started: Option<f64>,
    pub finished: Option<f64>,
    pub exit_code: Option<i32>,
    /// The container's first process (its init), while it runs.
    pub container: Option<Process>,
    /// The monitor that holds it.
    pub monitor: Option<Process>,
    /// Why the last start failed.
    pub error: Option<String>,
    /// Published ports as `host_ip:host_port->container_port/proto`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// What runs: the image's entrypoint and cmd with the overrides applied.
    #[serde(default)]
    pub command: Vec<String>,
    /// The kernel's OOM killer ended the container (its memory limit).
    #[serde(default)]
    pub oom_killed: bool,
    /// The container's cgroup directories (for `rm` after its monitor was killed).
    #[serde(default)]
    pub cgroups: Vec<std::path::PathBuf>,
}

impl Status {
    pub fn created() -> Status {
        Status {
            state: State::Created,
            created: now_unix(),
            started: None,
            finished: None,
            exit_code: None,
            container: None,
            monitor: None,
            error: None,
            ports: Vec::new(),
            command: Vec::new(),
            cgroups: Vec::new(),
            oom_killed: false,
        }
    }

    /// A running or paused container whose monitor is gone is dead.
    pub fn check_alive(&mut self) {
        if matches!(self.state, State::Running | State::Paused) && !self.monitor.is_some_and(|m| m.alive()) {
            self.state = State::Dead;
        }
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running | State::Paused)
    }
}
