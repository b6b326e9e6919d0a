//! What the monitor tells the command that started it, over a socket pair: the setup result
//! (the container runs, or the typed setup error and Docker's exit code), then, for a
//! foreground run, the container's exit code.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use serde::{Deserialize, Serialize};

use crate::fdpass;

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Report {
    /// The payload executed; the message carries its `streams` (a foreground run's).
    Started {
        id: String,
        streams: crate::streams::Streams,
    },
    /// Setup failed; nothing runs.
    Failed { code: i32, message: String },
    /// The container exited with this code (Docker's: 128 + n for a signal).
    Exited { code: i32 },
}

pub fn send(socket: &impl AsRawFd, report: &Report, fds: &[RawFd]) -> std::io::Result<()> {
    fdpass::send(socket, &serde_json::to_vec(report).expect("a report serializes"), fds)
}

/// The next report, or `None` when the monitor closed its end (it died, or it is done).
pub fn recv(socket: &impl AsRawFd) -> std::io::Result<Option<(Report, Vec<OwnedFd>)>> {
    let (bytes, fds) = fdpass::recv(socket)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let report = serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
    Ok(Some((report, fds)))
}

/// Docker's exit code for a status: the code, or 128 + the signal.
pub fn exit_code(status: nsbox::ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal.as_raw(),
        (None, None) => 255,
    }
}
