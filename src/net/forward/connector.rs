//! The forwarder's side of the nsbox-connect protocol (see src/pid1/nsbox_init.rs): a request
//! is `[b't' | b'u', 0, port as little-endian u16]`, a reply is a 4-byte errno with, on
//! success, the connected socket attached (`SCM_RIGHTS`). SOCK_SEQPACKET keeps messages whole
//! and in order, and the connector answers in order, so replies match requests first in, first
//! out. Everything received is hostile until checked: see [`Reply::into_socket`].

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

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

/// Reads one message without waiting.
pub(super) fn receive(socket: &OwnedFd) -> Received {
    // One byte more than a reply, so a longer message shows (SOCK_SEQPACKET sets MSG_TRUNC too).
    let mut data = [0u8; wire::REPLY_LEN + 1];
    let message = match crate::fd_message::receive(socket, &mut data) {
        Ok(message) => message,
        Err(e) => {
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Received::Nothing,
                _ => Received::Gone(e),
            };
        }
    };
    if message.len == 0 && message.fds.is_empty() {
        return Received::Gone(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the container's port connector is gone",
        ));
    }
    let malformed = if message.len != wire::REPLY_LEN || message.flags & libc::MSG_TRUNC != 0 {
        Some("a reply that is not 4 bytes")
    } else if message.flags & libc::MSG_CTRUNC != 0 {
        Some("more fds than a reply has room for")
    } else if message.foreign {
        Some("a control message other than SCM_RIGHTS")
    } else {
        None
    };
    Received::Reply(Reply {
        errno: i32::from_le_bytes([data[0], data[1], data[2], data[3]]),
        fds: message.fds,
        malformed,
    })
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
