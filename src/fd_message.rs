//! One message received without waiting over a Unix socket, with the fds it carries
//! (`SCM_RIGHTS`): the caller's side of fd passing from a process nsbox started (the port
//! connector's replies, a namespace pool holder's trees). Every fd is owned before anything
//! about the message is checked, so each is closed whatever is wrong with it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Aligned room for one control message of up to 12 fds; more are dropped by the kernel
/// (`MSG_CTRUNC`, and it closes them), fewer are all received and owned here.
type Control = [u64; 8];

/// What one `recvmsg` gave.
#[derive(Debug)]
pub(crate) struct FdMessage {
    /// Bytes of data received into the caller's buffer (0: end of file, unless fds came).
    pub len: usize,
    /// The message's `msg_flags` (`MSG_TRUNC`, `MSG_CTRUNC`).
    pub flags: libc::c_int,
    /// Every fd of every `SCM_RIGHTS` control message, close-on-exec.
    pub fds: Vec<OwnedFd>,
    /// Whether it held any other kind of control message.
    pub foreign: bool,
}

/// Reads one message from `socket` into `data` without waiting (`WouldBlock`: none queued).
pub(crate) fn receive(socket: &OwnedFd, data: &mut [u8]) -> io::Result<FdMessage> {
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    let mut control: Control = [0; 8];
    // SAFETY: msghdr is plain data; zeroed is valid; the pointers are set below.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = std::mem::size_of::<Control>();
    // SAFETY: message points to live buffers of the sizes given.
    let n = unsafe {
        libc::recvmsg(
            socket.as_raw_fd(),
            &mut message,
            libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let (fds, foreign) = take_fds(&message);
    Ok(FdMessage {
        len: n as usize,
        flags: message.msg_flags,
        fds,
        foreign,
    })
}

/// Every fd of every SCM_RIGHTS message in `message`'s control data, and whether it held any
/// other kind of control message.
fn take_fds(message: &libc::msghdr) -> (Vec<OwnedFd>, bool) {
    let (mut fds, mut foreign) = (Vec::new(), false);
    // SAFETY: the kernel filled message's control buffer, which CMSG_* walk within the length
    // it reported; each fd it installed is ours alone, so taking ownership is sound.
    unsafe {
        let mut header = libc::CMSG_FIRSTHDR(message);
        while !header.is_null() {
            if (*header).cmsg_level == libc::SOL_SOCKET && (*header).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(header);
                let bytes = (*header).cmsg_len as usize - (data as usize - header as usize);
                for i in 0..bytes / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned((data as *const RawFd).add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            } else {
                foreign = true;
            }
            header = libc::CMSG_NXTHDR(message, header);
        }
    }
    (fds, foreign)
}
