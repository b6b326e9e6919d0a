//! A container's terminal (`ContainerBuilder::tty`): the master side of a pty that the
//! container's setup process made in the container's own devpts and sent back before the
//! payload ran. Reading it gives what the payload writes to its terminal; writing it types.

use std::fs::File;
use std::io::{self, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};

/// The size of a terminal asked for without one (rows, columns), a VT100's.
pub(crate) const DEFAULT_SIZE: (u16, u16) = (24, 80);

/// The master side of a container's terminal. Reads fail with `EIO` once every process of the
/// container has closed its side (a pty's end of file).
#[derive(Debug)]
pub struct Pty(File);

impl Pty {
    /// Sets the terminal's size; the payload gets SIGWINCH.
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        let size = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a live winsize.
        match unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCSWINSZ, &size) } {
            0 => Ok(()),
            _ => Err(io::Error::last_os_error()),
        }
    }

    /// The terminal's size as (rows, columns).
    pub fn size(&self) -> io::Result<(u16, u16)> {
        // SAFETY: winsize is plain data, filled by TIOCGWINSZ.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes a winsize into a live one.
        match unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCGWINSZ, &mut size) } {
            0 => Ok((size.ws_row, size.ws_col)),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

impl Read for Pty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Pty {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Pty {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl From<Pty> for OwnedFd {
    fn from(pty: Pty) -> OwnedFd {
        pty.0.into()
    }
}

/// The master the setup process sent on `socket` (before the payload's exec, so it is there
/// once `spawn` saw the exec): exactly one fd, a character device; anything else is closed.
pub(crate) fn receive_master(socket: &OwnedFd) -> io::Result<Pty> {
    let mut byte = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let message = recvmsg::<()>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut fds: Vec<OwnedFd> = Vec::new();
    for cmsg in message.cmsgs()? {
        if let ControlMessageOwned::ScmRights(received) = cmsg {
            // SAFETY: the kernel installed these fds for us alone.
            fds.extend(received.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
        }
    }
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "the container's setup sent no pty master");
    if fds.len() != 1 || message.flags.contains(MsgFlags::MSG_CTRUNC) {
        return Err(invalid());
    }
    let master = fds.pop().ok_or_else(invalid)?;
    let kind = nix::sys::stat::fstat(&master)?.st_mode & libc::S_IFMT;
    if kind != libc::S_IFCHR {
        return Err(invalid());
    }
    Ok(Pty(File::from(master)))
}
