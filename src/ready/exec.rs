//! Waiting for a command run inside the container to exit 0.

use std::ffi::OsString;
use std::time::Duration;

use super::{Waiting, exited};
use crate::container::Container;
use crate::error::{ConfigError, Error, NotReadyReason, Result, Setting};
use crate::signal::Signal;
use crate::stdio::Stdio;

pub(super) fn wait(c: &mut Container, argv: &[OsString], interval: Duration, waiting: &mut Waiting) -> Result<()> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ConfigError::Missing {
            setting: Setting::Command,
        }
        .into());
    };
    loop {
        if let Some(status) = exited(c)? {
            return Err(waiting.fail(NotReadyReason::Exited(status)));
        }
        let spawned = c
            .exec()
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(mut process) => match process.wait_timeout(waiting.left())? {
                Some(status) if status.success() => return Ok(()),
                Some(status) => waiting.saw(format!("exited with {status}")),
                None => {
                    process.kill(Signal::SIGKILL)?;
                    process.wait()?;
                    // Cut short by the timeout: an earlier try's status says more.
                    if waiting.last_seen.is_none() {
                        waiting.saw("still running at the timeout");
                    }
                }
            },
            // The container went between the check and the exec: its status says why.
            Err(e @ Error::NotRunning { .. }) => match exited(c)? {
                Some(status) => return Err(waiting.fail(NotReadyReason::Exited(status))),
                None => return Err(e),
            },
            Err(e @ Error::Config(_)) => return Err(e),
            // A program that is not there yet, say: tried again.
            Err(e) => waiting.saw(e.to_string()),
        }
        if waiting.timed_out() {
            return Err(waiting.fail(NotReadyReason::TimedOut));
        }
        waiting.pause(interval);
    }
}
