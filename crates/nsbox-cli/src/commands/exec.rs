//! `nsbox exec [-it] [-d] [-u] [-w] [-e] CONTAINER CMD…`: a process in a running container,
//! started by its monitor (which holds the container) with this command's stdio, or a pty
//! whose master comes back here. The exit code is the process's.

use std::os::fd::AsRawFd;

use crate::cli::ExecArgs;
use crate::error::{CliError, Result, bail};
use crate::monitor::client::Connection;
use crate::monitor::protocol::{ExecRequest, Request};
use crate::paths::Paths;
use crate::spec;
use crate::state::{Process, StateRoot};

pub fn exec(paths: &Paths, args: ExecArgs) -> Result<i32> {
    let dir = StateRoot::open(&paths.state)?.find(&args.container)?;
    let status = dir.status()?;
    let Some(init) = status.container.filter(|p| status.is_running() && p.alive()) else {
        bail!("Error: container {} is not running", dir.id);
    };
    let mut env = Vec::new();
    for e in &args.env {
        env.extend(spec::parse_env(e)?);
    }
    let request = ExecRequest {
        argv: args.command.clone(),
        env,
        user: args.user.as_deref().map(|u| resolve_user(init, u)).transpose()?,
        workdir: args.workdir.clone(),
        tty: args.tty,
        interactive: args.interactive,
        tty_size: crate::attach::terminal_size(),
    };
    let null = std::fs::File::options().read(true).write(true).open("/dev/null")?;
    let fds: Vec<i32> = match (args.tty, args.detach) {
        (true, _) => vec![],
        (false, true) => vec![null.as_raw_fd(); 3],
        (false, false) => vec![0, 1, 2],
    };
    let connection = Connection::send(&dir, &Request::Exec(request), &fds)?;
    let (started, mut pty) = connection.response()?;
    if let Some(message) = started.error {
        return Err(CliError::with_code(
            started.code.unwrap_or(crate::error::USAGE),
            message,
        ));
    }
    if args.detach {
        return Ok(0);
    }
    if let Some(pty) = pty.pop() {
        crate::attach::pump_terminal(pty, args.interactive);
    }
    let (exited, _) = connection.response()?;
    Ok(exited.code.unwrap_or(255))
}

/// `uid[:gid]`, or a user (and group) name looked up in the running container's own
/// /etc/passwd and /etc/group (through /proc/<pid>/root, the container's root as it sees it).
fn resolve_user(init: Process, user: &str) -> Result<(u32, u32)> {
    let (name, group) = match user.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (user, None),
    };
    let root = format!("/proc/{}/root", init.pid);
    let read = |file: &str| std::fs::read_to_string(format!("{root}/etc/{file}")).unwrap_or_default();
    let (passwd, groups) = (read("passwd"), read("group"));
    // Checked after reading: the pid still names the container's init.
    if !init.alive() {
        bail!("the container exited");
    }
    let field = |text: &str, name: &str, index: usize| -> Option<u32> {
        text.lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.first() == Some(&name))
            .and_then(|f| f.get(index)?.parse().ok())
    };
    let uid = match name.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => field(&passwd, name, 2).ok_or_else(|| {
            CliError::new(format!(
                "unable to find user {name}: no matching entries in passwd file"
            ))
        })?,
    };
    let primary = || {
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.get(2).and_then(|u| u.parse::<u32>().ok()) == Some(uid))
            .and_then(|f| f.get(3)?.parse().ok())
            .unwrap_or(0)
    };
    let gid = match group {
        None => primary(),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => field(&groups, g, 2)
                .ok_or_else(|| CliError::new(format!("unable to find group {g}: no matching entries in group file")))?,
        },
    };
    Ok((uid, gid))
}
