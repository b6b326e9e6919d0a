//! The monitor's control socket: one request per connection, as JSON, fds attached where an
//! exec's stdio travels; responses as JSON (an exec answers twice: started, then exited).

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Request {
    /// The stop signal (the image's, else SIGTERM, or `signal`), SIGKILL after `timeout_secs`.
    Stop {
        timeout_secs: u64,
        signal: Option<i32>,
    },
    Kill {
        signal: i32,
    },
    Pause,
    Resume,
    Stats,
    /// A process in the running container; its stdio are pipes (or a pty) whose other ends
    /// come back with the `started` response, never fds of the command.
    Exec(ExecRequest),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// `uid[:gid]`, already resolved by the command.
    pub user: Option<(u32, u32)>,
    pub workdir: Option<String>,
    pub tty: bool,
    pub interactive: bool,
    /// `-d`: no streams, no wait for the exit.
    #[serde(default)]
    pub detach: bool,
    pub tty_size: Option<(u16, u16)>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Response {
    pub error: Option<String>,
    /// Docker's exit code for the error (125, 126, 127) or the exec's exit code.
    pub code: Option<i32>,
    pub stats: Option<StatsReport>,
    /// An exec started (its exit comes in a second response), with these streams.
    pub started: bool,
    pub streams: Option<crate::streams::Streams>,
    pub exited: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StatsReport {
    pub memory_current: Option<u64>,
    pub memory_limit: Option<u64>,
    pub cpu_total_ns: Option<u128>,
    pub pids_current: Option<u64>,
    pub io_read_bytes: Option<u64>,
    pub io_write_bytes: Option<u64>,
}

impl Response {
    pub fn ok() -> Self {
        Response::default()
    }

    pub fn error(code: i32, message: impl Into<String>) -> Self {
        Response {
            error: Some(message.into()),
            code: Some(code),
            ..Default::default()
        }
    }
}
