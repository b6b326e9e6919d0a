//! Starting a container's monitor from the command: a process of its own session (a terminal
//! hang-up or the command's death does not reach it), given one end of a socket pair on which
//! it reports the setup result before the command goes on.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use super::report::{self, Report};
use crate::error::{CliError, Result};
use crate::paths::Paths;
use crate::state::ContainerDir;

/// A monitor that reported its container running.
pub struct Launched {
    pub child: Child,
    /// The report socket: a foreground run reads the exit code from it.
    pub report: OwnedFd,
    /// The container's streams (a foreground run's) and their fds.
    pub streams: crate::streams::Streams,
    pub fds: Vec<OwnedFd>,
}

/// Starts the monitor of `dir` and waits for its setup report. `foreground`: the container's
/// stdio are this command's (`-i` adds stdin), else its output goes to its logs.
pub fn launch(paths: &Paths, dir: &ContainerDir, foreground: bool, interactive: bool, first: bool) -> Result<Launched> {
    let (ours, theirs) = crate::fdpass::pair()?;
    let theirs_raw = theirs.as_raw_fd();
    let exe = std::env::current_exe().map_err(|e| CliError::new(format!("finding this program: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("--state-dir")
        .arg(&paths.state)
        .arg("--store")
        .arg(&paths.store)
        .args(["__monitor", &dir.id, "--report-fd", &theirs_raw.to_string()]);
    if first {
        command.arg("--first");
    }
    if foreground {
        command.arg("--foreground");
        command.stdin(if interactive { Stdio::inherit() } else { Stdio::null() });
    } else {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    }
    // SAFETY: setsid and fcntl are async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The monitor's end of the pair survives the exec; nothing else of ours does.
            if libc::fcntl(theirs_raw, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| CliError::new(format!("starting the container's monitor: {e}")))?;
    drop(theirs);
    match report::recv(&ours) {
        Ok(Some((Report::Started { streams, .. }, fds))) => Ok(Launched {
            child,
            report: ours,
            streams,
            fds,
        }),
        Ok(Some((Report::Failed { code, message }, _))) => {
            let _ = child.wait();
            Err(CliError::with_code(code, message))
        }
        Ok(Some((Report::Exited { .. }, _))) | Ok(None) | Err(_) => {
            let _ = child.wait();
            Err(CliError::new(format!(
                "the container's monitor died before it reported (see {})",
                dir.monitor_log().display()
            )))
        }
    }
}

/// A foreground run's exit code: the monitor's last report (it comes once the container
/// exited), or 255 if the monitor died without one.
pub fn wait_exit(launched: &mut Launched) -> i32 {
    let code = loop {
        match report::recv(&launched.report) {
            Ok(Some((Report::Exited { code }, _))) => break code,
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => break 255,
        }
    };
    let _ = launched.child.wait();
    code
}
