//! `--console-socket`: the pty master goes to the engine over a unix socket, one fd in one
//! message with `SCM_RIGHTS`, as runc's `utils.SendFile` sends it (the message's bytes are
//! the terminal's name; containerd's `console.NewPtyFromFile` does not look at them).

use std::io::IoSlice;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::sys::socket::{ControlMessage, MsgFlags, sendmsg};

use crate::error::{Context, Result};

/// Sends `pty` to the socket at `socket`.
pub fn send(socket: &Path, pty: &impl AsFd) -> Result<()> {
    let stream = UnixStream::connect(socket).context(format_args!(
        "cannot connect to the console socket {}",
        socket.display()
    ))?;
    let fd = pty.as_fd().as_raw_fd();
    let name = std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "/dev/ptmx".into());
    let fds = [fd];
    sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(name.as_bytes())],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .context("cannot send the terminal over the console socket")?;
    Ok(())
}
