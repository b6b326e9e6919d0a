//! `nsbox exec [-it] [-d] [-u] [-w] [-e] CONTAINER CMD…`: a process in a running container,
//! started by its monitor (which holds the container) with this command's stdio, or a pty
//! whose master comes back here. The exit code is the process's.

use crate::cli::ExecArgs;
use crate::error::{CliError, Result, bail};
use crate::monitor::client::Connection;
use crate::monitor::protocol::{ExecRequest, Request};
use crate::paths::Paths;
use crate::spec;
use crate::state::{Process, StateRoot};
use crate::streams::Streams;

pub fn exec(paths: &Paths, args: ExecArgs) -> Result<i32> {
    let dir = StateRoot::open(paths)?.find(&args.container)?;
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
        detach: args.detach,
        tty_size: crate::attach::terminal_size(),
    };
    let connection = Connection::send(&dir, &Request::Exec(request), &[])?;
    let (started, fds) = connection.response()?;
    if let Some(message) = started.error {
        return Err(CliError::with_code(
            started.code.unwrap_or(crate::error::USAGE),
            message,
        ));
    }
    if args.detach {
        return Ok(0);
    }
    let relays = match started.streams {
        Some(Streams::Pty) => {
            if let Some(pty) = fds.into_iter().next() {
                crate::attach::pump_terminal(pty, args.interactive);
            }
            Vec::new()
        }
        Some(Streams::Pipes { stdin }) => crate::streams::relay_pipes(stdin, fds),
        _ => Vec::new(),
    };
    let (exited, _) = connection.response()?;
    crate::streams::finish(relays, std::time::Duration::from_secs(2));
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
    let read = |file: &str| read_in_root(&root, file);
    let (passwd, groups) = (read("etc/passwd"), read("etc/group"));
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

/// The most bytes of an account file read (the container writes it).
const MAX_ACCOUNTS: u64 = 1 << 20;

/// `name` as the container sees it, under its root `root` (`/proc/<pid>/root`): resolved with
/// `RESOLVE_IN_ROOT` (a symlink to `/x` is the container's `/x`, never the host's), no magic
/// links, non-blocking (a FIFO does not hold the command), a regular file only, at most
/// `MAX_ACCOUNTS` bytes. Anything else reads as an empty file.
fn read_in_root(root: &str, name: &str) -> String {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
    use std::io::Read;
    let read = || -> Option<String> {
        let dir = nix::fcntl::open(
            root,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .ok()?;
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = nix::fcntl::openat2(&dir, name, how).ok()?;
        let meta = nix::sys::stat::fstat(&fd).ok()?;
        if meta.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let mut text = String::new();
        std::fs::File::from(fd)
            .take(MAX_ACCOUNTS)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    };
    read().unwrap_or_default()
}
