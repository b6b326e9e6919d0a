//! `run`: `create`, `start`, and (without `--detach`) wait for the payload and exit with its
//! status, deleting the container afterwards unless `--keep`.

use crate::Ctx;
use crate::error::{Context, Result};
use crate::verbs::create::{Request, create};

/// The exit code `run` ends with (0 with `--detach`).
pub fn run(ctx: &mut Ctx, a: &liboci_cli::Run) -> Result<i32> {
    let req = Request {
        id: &a.container_id,
        bundle: &a.bundle,
        pid_file: a.pid_file.as_deref(),
        console_socket: a.console_socket.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        foreground: !a.detach,
    };
    let mut created = create(ctx, &req)?;
    if let Err(e) = crate::verbs::start::start(ctx, &a.container_id) {
        let _ = crate::verbs::delete::delete(ctx, &a.container_id, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    forward_signals(&mut created.container)?;
    let status = created.container.wait().context("cannot wait for the container")?;
    if !a.keep {
        crate::verbs::delete::delete(ctx, &a.container_id, true)?;
    }
    // A signal's death is 128 + N, as a shell (and runc) reports it.
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().map_or(0, |s| s.as_raw())))
}

/// Signals runc's `run` passes on to the container while it waits (SIGCHLD, SIGPIPE and the
/// stop signals stay ours).
const FORWARDED: [nix::sys::signal::Signal; 7] = {
    use nix::sys::signal::Signal::*;
    [SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGWINCH]
};

/// Until the container exits, every signal of [`FORWARDED`] this process gets goes to the
/// container's process. Blocked only now: the payload was spawned with them unblocked.
fn forward_signals(container: &mut nsbox::Container) -> Result<()> {
    use nix::sys::signal::SigSet;
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use std::os::fd::AsFd;

    let mut set = SigSet::empty();
    for s in FORWARDED {
        set.add(s);
    }
    set.thread_block().context("cannot block signals")?;
    let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).context("signalfd")?;
    loop {
        let mut fds = [
            nix::poll::PollFd::new(container.pidfd(), nix::poll::PollFlags::POLLIN),
            nix::poll::PollFd::new(signals.as_fd(), nix::poll::PollFlags::POLLIN),
        ];
        match nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE) {
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(crate::error::Error(format!("poll: {e}"))),
            Ok(_) => {}
        }
        let exited = fds[0].revents().is_some_and(|r| !r.is_empty());
        let signalled = fds[1].revents().is_some_and(|r| !r.is_empty());
        if signalled
            && let Ok(Some(info)) = signals.read_signal()
            && let Ok(signal) = nsbox::Signal::try_from(info.ssi_signo as i32)
        {
            let _ = container.kill(signal);
        }
        if exited {
            return Ok(());
        }
    }
}
