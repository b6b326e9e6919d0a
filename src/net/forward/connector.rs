//! The forwarder's side of the nsbox-connect protocol (see src/pid1/nsbox_init.rs): a request
//! is `[b't' | b'u', 0, port as little-endian u16]`, a reply is a 4-byte errno with, on
//! success, the connected socket attached (`SCM_RIGHTS`). SOCK_SEQPACKET keeps messages whole
//! and in order, and the connector answers in order, so replies match requests first in, first
//! out. Everything received is hostile until checked: see [`Reply::into_socket`].

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::super::port::Protocol;
use crate::pid1::protocol as wire;

/// Where container-side sockets come from.
#[derive(Debug)]
pub(crate) enum Connector {
    /// The connector process in the container's network namespace, over this socket.
    Helper(OwnedFd),
    /// The forwarder thread joins this namespace and makes them itself (root only).
    Join(OwnedFd),
}

/// Sends one request without waiting: `WouldBlock` if the connector is not reading.
pub(super) fn request(socket: &OwnedFd, protocol: Protocol, port: u16) -> io::Result<()> {
    let kind = if protocol == Protocol::Udp {
        wire::REQUEST_UDP
    } else {
        wire::REQUEST_TCP
    };
    let request = wire::encode_request(kind, port);
    // SAFETY: request is a live buffer of its length.
    let sent = unsafe {
        libc::send(
            socket.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    match sent {
        n if n == request.len() as isize => Ok(()),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::other("short send to the port connector")),
    }
}

/// One message from the connector, its fds already owned so that dropping it closes them.
#[derive(Debug)]
pub(super) struct Reply {
    errno: i32,
    fds: Vec<OwnedFd>,
    /// Why the message is not a well-formed reply, if it is not.
    malformed: Option<&'static str>,
}

/// What reading the connector socket gave.
#[derive(Debug)]
pub(super) enum Received {
    /// Nothing to read now.
    Nothing,
    /// One message (well-formed or not).
    Reply(Reply),
    /// End of file or an error: the connector is gone.
    Gone(io::Error),
}

/// Aligned room for one control message of up to 12 fds; more are dropped by the kernel
/// (`MSG_CTRUNC`, and it closes them), fewer are all received and owned here.
type Control = [u64; 8];

/// Reads one message without waiting.
pub(super) fn receive(socket: &OwnedFd) -> Received {
    // One byte more than a reply, so a longer message shows (SOCK_SEQPACKET sets MSG_TRUNC too).
    let mut data = [0u8; wire::REPLY_LEN + 1];
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
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Received::Nothing,
            _ => Received::Gone(e),
        };
    }
    // Own every fd first, so that each is closed whatever is wrong with the message.
    let (fds, foreign) = take_fds(&message);
    if n == 0 && fds.is_empty() {
        return Received::Gone(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the container's port connector is gone",
        ));
    }
    let malformed = if n != wire::REPLY_LEN as isize || message.msg_flags & libc::MSG_TRUNC != 0 {
        Some("a reply that is not 4 bytes")
    } else if message.msg_flags & libc::MSG_CTRUNC != 0 {
        Some("more fds than a reply has room for")
    } else if foreign {
        Some("a control message other than SCM_RIGHTS")
    } else {
        None
    };
    Received::Reply(Reply {
        errno: i32::from_le_bytes([data[0], data[1], data[2], data[3]]),
        fds,
        malformed,
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

impl Reply {
    /// The socket this reply hands over, if it is exactly one connected-or-connecting IPv4
    /// socket of `protocol`'s type; otherwise an error, and every fd it carried is closed.
    pub fn into_socket(mut self, protocol: Protocol) -> io::Result<OwnedFd> {
        if let Some(why) = self.malformed {
            return Err(hostile(why));
        }
        if self.errno != 0 {
            return Err(io::Error::from_raw_os_error(self.errno));
        }
        if self.fds.len() != 1 {
            return Err(hostile("a reply without exactly one fd"));
        }
        let fd = self.fds.pop().expect("one fd");
        check_socket(&fd, protocol)?;
        Ok(fd)
    }
}

fn hostile(why: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("port connector sent {why}"))
}

/// Whether `fd` is an AF_INET socket of `protocol`'s type: anything else would reach the
/// relay, which reads and writes it as one.
fn check_socket(fd: &OwnedFd, protocol: Protocol) -> io::Result<()> {
    let stat = nix::sys::stat::fstat(fd)?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(hostile("an fd that is not a socket"));
    }
    if socket_option(fd, libc::SO_DOMAIN)? != libc::AF_INET {
        return Err(hostile("a socket that is not AF_INET"));
    }
    let wanted = match protocol {
        Protocol::Tcp => libc::SOCK_STREAM,
        Protocol::Udp => libc::SOCK_DGRAM,
    };
    if socket_option(fd, libc::SO_TYPE)? != wanted {
        return Err(hostile("a socket of another type than requested"));
    }
    Ok(())
}

/// An integer SOL_SOCKET option.
pub(super) fn socket_option(fd: &OwnedFd, name: libc::c_int) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: value and size are live out-parameters of the sizes given.
    let ret = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&raw mut value).cast(),
            &mut size,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value)
}
