//! Handing a parked container its run: the tightened limits into its cgroup, then one message
//! with the payload's strings and stdio to its launcher, then the exec's result.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Instant;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use super::template::{Parked, Prepared};
use crate::config::Config;
use crate::container::Container;
use crate::errno::Errno;
use crate::error::{Error, Result, SetupError, SetupStep};
use crate::pid1::protocol::{self, pool as wire};
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout, Stdio, StdioKind};
use crate::timing::StartKind;

/// Runs `prepared` in `parked`; `None` if the parked container was gone before it took its
/// run (killed from outside): the caller takes another.
pub(crate) fn hand_out(parked: Parked, prepared: Prepared, template: &Config) -> Result<Option<Container>> {
    let started = Instant::now();
    let Parked { mut container, socket } = parked;
    if container.has_exited() {
        return Ok(None);
    }
    if !prepared.limits.is_empty() {
        let nsbox = crate::cgroup::limits::nsbox_processes(template.has_init(), !template.ports.is_empty());
        let Some(cgroup) = container.exec_parts().1 else {
            return Err(Error::io(
                "tighten a pooled container's limits",
                std::io::Error::other("it has no cgroup"),
            ));
        };
        cgroup.update(&crate::CgroupUpdate::setting(
            prepared.limits.for_cgroup(nsbox).into_owned(),
        ))?;
    }
    let (theirs, ours) = stdio(&prepared.stdio)?;
    let sent = send(&socket, &prepared.message, &theirs);
    drop(theirs);
    let cut_short = match sent {
        Ok(()) => None,
        // Gone before it took anything: the caller takes another.
        Err((Errno::EPIPE | Errno::ECONNRESET, false)) => return Ok(None),
        // It stopped reading midway: its report says why (a refused message), if it sent one.
        Err((e, true)) => Some(e),
        Err((e, false)) => return Err(Error::io("hand a pooled container its run", e)),
    };
    let mut report = [0u8; protocol::REPORT_LEN];
    let got = crate::sys::read_full(socket.as_raw_fd(), &mut report)
        .map_err(|e| Error::io("read a pooled container's report", e))?;
    if let (0, Some(e)) = (got, cut_short) {
        // Neither the whole message nor a report: nothing was executed.
        let cleanup = container.reap_after_setup_failure();
        return Err(Error::io("hand a pooled container its run", e).with_cleanup(cleanup));
    }
    if got != 0 {
        let cleanup = container.reap_after_setup_failure();
        let (step, errno) = match got {
            protocol::REPORT_LEN => protocol::decode_report(&report),
            _ => (wire::STEP_MESSAGE, Errno::EIO.raw()),
        };
        let (step, path) = match step {
            wire::STEP_EXEC => (SetupStep::Exec, Some(prepared.program.clone().into())),
            wire::STEP_CHDIR => (SetupStep::Chdir, Some(prepared.cwd.clone())),
            _ => {
                let e = std::io::Error::from_raw_os_error(errno);
                return Err(Error::io("hand a pooled container its run", e).with_cleanup(cleanup));
            }
        };
        let errno = Errno::from_raw(errno);
        let hint = (step == SetupStep::Exec)
            .then(|| exec_hint(template, &prepared, errno))
            .flatten();
        let error = SetupError::new(step, path, errno).with_hint(hint);
        return Err(Error::from(error).with_cleanup(cleanup));
    }
    let [stdin, stdout, stderr] = ours;
    container.set_stdio(
        stdin.map(ChildStdin::new),
        stdout.map(ChildStdout::new),
        stderr.map(ChildStderr::new),
    );
    let timings = container.setup_timings().clone();
    container.set_timings(timings.started(StartKind::Pooled, Some(started.elapsed())));
    if let Err(e) = template.on_spawn.run(&container) {
        let cleanup = container.kill_and_reap();
        return Err(Error::io("run an on_spawn hook", e).with_cleanup(cleanup));
    }
    Ok(Some(container))
}

/// What a cold spawn says about a command that could not be executed: the same lookup in the
/// template's root, with the run's command, `PATH` and working directory.
fn exec_hint(template: &Config, prepared: &Prepared, errno: Errno) -> Option<crate::hint::Hint> {
    use std::os::unix::ffi::OsStrExt;
    let mut config = template.clone();
    config.cwd = prepared.cwd.clone();
    config.program = prepared.program.clone();
    config.env_clear = true;
    config.env = prepared.env.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
    let paths: Vec<&std::path::Path> = prepared
        .candidates
        .iter()
        .map(|c| std::path::Path::new(std::ffi::OsStr::from_bytes(c.to_bytes())))
        .collect();
    crate::hint::exec_hint(&config, &crate::hint::View::Config(&config), &paths, errno)
}

/// The payload's three stdio fds (close-on-exec copies, sent to the launcher) and the caller's
/// ends of the piped ones.
fn stdio(stdio: &[Stdio; 3]) -> Result<([OwnedFd; 3], [Option<OwnedFd>; 3])> {
    let mut theirs = Vec::with_capacity(3);
    let mut ours: [Option<OwnedFd>; 3] = [None, None, None];
    for (i, s) in stdio.iter().enumerate() {
        let fd = match &s.0 {
            StdioKind::Inherit => {
                // SAFETY: fd 0-2 of the caller, borrowed only to duplicate it.
                let caller = unsafe { std::os::fd::BorrowedFd::borrow_raw(i as i32) };
                match caller.try_clone_to_owned() {
                    Ok(fd) => fd,
                    // The caller's stream is closed: the payload's reads EOF, its writes vanish.
                    Err(_) => crate::null_device::open().map_err(|e| Error::io("open /dev/null for stdio", e))?,
                }
            }
            StdioKind::Null => crate::null_device::open().map_err(|e| Error::io("open /dev/null for stdio", e))?,
            StdioKind::Fd(fd) => fd.try_clone().map_err(|e| Error::io("duplicate stdio fd", e))?,
            StdioKind::Piped => {
                let (r, w) =
                    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::io("create pipe", e))?;
                let (child, parent) = if i == 0 { (r, w) } else { (w, r) };
                ours[i] = Some(parent);
                child
            }
        };
        theirs.push(fd);
    }
    let theirs: [OwnedFd; 3] = theirs.try_into().map_err(|_| Error::io("stdio", Errno::EINVAL))?;
    Ok((theirs, ours))
}

/// The message with the fds attached to its first bytes, then the rest of it. On failure, the
/// errno and whether the launcher took the first part (and with it the fds).
fn send(socket: &OwnedFd, message: &[u8], fds: &[OwnedFd; 3]) -> std::result::Result<(), (Errno, bool)> {
    let raw = fds.each_ref().map(AsRawFd::as_raw_fd);
    let rights = [ControlMessage::ScmRights(&raw)];
    let mut sent = loop {
        let iov = [IoSlice::new(message)];
        match sendmsg::<()>(socket.as_raw_fd(), &iov, &rights, MsgFlags::MSG_NOSIGNAL, None) {
            Err(nix::errno::Errno::EINTR) => continue,
            other => break other.map_err(|e| (Errno::from_nix(e), false))?,
        }
    };
    while sent < message.len() {
        let rest = &message[sent..];
        // SAFETY: rest is a valid readable slice of its length; MSG_NOSIGNAL: EPIPE, no SIGPIPE.
        let n = unsafe { libc::send(socket.as_raw_fd(), rest.as_ptr().cast(), rest.len(), libc::MSG_NOSIGNAL) };
        match n {
            n if n > 0 => sent += n as usize,
            _ if Errno::last() == Errno::EINTR => {}
            _ => return Err((Errno::last(), true)),
        }
    }
    Ok(())
}
