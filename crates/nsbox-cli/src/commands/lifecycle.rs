//! `start`, `stop`, `restart`, `kill`, `rm`, `pause`, `unpause`: on one container or many; a
//! failure on one is printed and the others go on (the command then exits with its code, 125
//! for refusals).

use std::os::fd::AsFd;

use crate::cli::{ContainersArgs, KillArgs, RmArgs, StartArgs, StopArgs};
use crate::error::{CliError, Result};
use crate::monitor::client;
use crate::monitor::launch;
use crate::monitor::protocol::Request;
use crate::paths::Paths;
use crate::state::{ContainerDir, StateRoot, Status};

/// Runs `each` on every container named; prints what it returns, or the error.
fn for_each(
    paths: &Paths,
    containers: &[String],
    mut each: impl FnMut(&StateRoot, &ContainerDir, &str) -> Result<Option<String>>,
) -> Result<i32> {
    let state = StateRoot::open(paths)?;
    let mut code = 0;
    for key in containers {
        let result = state.find(key).and_then(|dir| each(&state, &dir, key));
        match result {
            Ok(Some(line)) => println!("{line}"),
            Ok(None) => {}
            Err(e) => {
                eprintln!("nsbox: {}", e.message.trim_end());
                code = e.code;
            }
        }
    }
    Ok(code)
}

pub fn start(paths: &Paths, args: StartArgs) -> Result<i32> {
    if args.attach && args.containers.len() > 1 {
        return Err(CliError::new("you cannot start and attach multiple containers at once"));
    }
    let state = StateRoot::open(paths)?;
    if args.attach {
        let dir = state.find(&args.containers[0])?;
        let spec = dir.spec()?;
        if dir.status()?.is_running() {
            return Err(CliError::new(format!(
                "container {} is already running",
                args.containers[0]
            )));
        }
        let mut launched = launch::launch(paths, &dir, true, spec.interactive, false)?;
        return Ok(super::run::attach(&dir, &mut launched, spec.tty, spec.interactive));
    }
    for_each(paths, &args.containers, |_, dir, key| {
        if !dir.status()?.is_running() {
            // The monitor runs on without us.
            launch::launch(paths, dir, false, false, false)?;
        }
        Ok(Some(key.to_owned()))
    })
}

pub fn stop(paths: &Paths, args: StopArgs, restart: bool) -> Result<i32> {
    let signal = args.signal.as_deref().map(parse_signal).transpose()?;
    for_each(paths, &args.containers, |_, dir, key| {
        let status = dir.status()?;
        if status.is_running() {
            client::call(
                dir,
                &Request::Stop {
                    timeout_secs: args.time,
                    signal: signal.map(|s| s.as_raw()),
                },
            )?;
            wait_monitor_gone(&status);
        }
        if restart {
            launch::launch(paths, dir, false, false, false)?;
        }
        Ok(Some(key.to_owned()))
    })
}

pub fn kill(paths: &Paths, args: KillArgs) -> Result<i32> {
    let signal = parse_signal(&args.signal)?;
    for_each(paths, &args.containers, |_, dir, key| {
        if !dir.status()?.is_running() {
            return Err(CliError::new(format!(
                "Cannot kill container: {key}: container {} is not running",
                dir.id
            )));
        }
        client::call(
            dir,
            &Request::Kill {
                signal: signal.as_raw(),
            },
        )?;
        Ok(Some(key.to_owned()))
    })
}

pub fn rm(paths: &Paths, args: RmArgs) -> Result<i32> {
    for_each(paths, &args.containers, |state, dir, key| {
        let status = dir.status()?;
        if status.is_running() {
            if !args.force {
                return Err(CliError::new(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    dir.id
                )));
            }
            // Gone already is fine: the monitor may have just recorded its exit.
            let _ = client::call(dir, &Request::Kill { signal: libc::SIGKILL });
            wait_monitor_gone(&status);
            if !dir.path.exists() {
                // It was an --rm container: its monitor removed it.
                return Ok(Some(key.to_owned()));
            }
        }
        // No monitor may start it while it goes (a monitor holds this lock for its life).
        let Some(_starting) = crate::lock::Lock::try_exclusive(&dir.lock_path())? else {
            return Err(CliError::new(format!("container {} is starting: try again", dir.id)));
        };
        // A monitor that was killed left its container's cgroups (empty now) behind.
        if status.state == crate::state::State::Dead {
            crate::cgroups::remove(&status.cgroups).map_err(CliError::new)?;
        }
        state.remove(dir)?;
        Ok(Some(key.to_owned()))
    })
}

pub fn pause(paths: &Paths, args: ContainersArgs, pause: bool) -> Result<i32> {
    for_each(paths, &args.containers, |_, dir, key| {
        let status = dir.status()?;
        if !status.is_running() {
            return Err(CliError::new(format!("Container {} is not running", dir.id)));
        }
        client::call(dir, if pause { &Request::Pause } else { &Request::Resume })?;
        Ok(Some(key.to_owned()))
    })
}

/// Waits (bounded by a minute, against a hung monitor) until the monitor recorded in `status`
/// is gone: it has then recorded the container's exit and released its lock.
pub fn wait_monitor_gone(status: &Status) {
    let Some(pidfd) = status.monitor.and_then(|m| m.pidfd()) else {
        return;
    };
    let mut poll = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
    let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::from(60_000u16));
}

/// `KILL`, `SIGKILL`, `9`.
pub fn parse_signal(text: &str) -> Result<nsbox::Signal> {
    let bad = || CliError::new(format!("invalid signal: {text}"));
    if let Ok(n) = text.parse::<i32>() {
        return nsbox::Signal::try_from(n).map_err(|_| bad());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nsbox::Signal>().map_err(|_| bad())
}
