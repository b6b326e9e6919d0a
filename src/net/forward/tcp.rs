//! One relayed TCP connection: two sockets, a buffer each way, half-close passed on.
//!
//! A host client never sees a clean close that the server inside did not make: the client's
//! socket closes with a reset (`SO_LINGER` 0) unless the inside's EOF was passed on to it, so
//! a failed inside connect, an error, a deadline or the forwarder stopping shows as a reset,
//! never as an empty reply.
//!
//! Every read and write is `MSG_DONTWAIT`: the container-side socket came from the container,
//! which may keep a duplicate and clear `O_NONBLOCK` on the shared file description.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use nix::poll::PollFlags;

/// Bytes buffered per direction of a TCP connection.
const BUFFER: usize = 64 * 1024;

/// One direction's bytes in flight.
struct Buffer {
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buffer {
    fn new() -> Self {
        Buffer {
            data: vec![0; BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
    fn has_room(&self) -> bool {
        self.end < self.data.len()
    }
    /// Reads what fits; Ok(false) at EOF.
    fn fill(&mut self, from: &TcpStream) -> io::Result<bool> {
        match recv_nowait(from, &mut self.data[self.end..]) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(e) if would_block(&e) => Ok(true),
            Err(e) => Err(e),
        }
    }
    fn drain(&mut self, to: &TcpStream) -> io::Result<()> {
        match send_nowait(to, &self.data[self.start..self.end]) {
            Ok(n) => {
                self.start += n;
                if self.start == self.end {
                    // All delivered: the whole buffer is free again.
                    (self.start, self.end) = (0, 0);
                }
                Ok(())
            }
            Err(e) if would_block(&e) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

pub(super) fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

/// `recv(2)` that never waits, whatever the fd's flags.
pub(super) fn recv_nowait(socket: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is a live buffer of the length passed.
    let n = unsafe {
        libc::recv(
            socket.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// `send(2)` that never waits (nor raises SIGPIPE), whatever the fd's flags.
pub(super) fn send_nowait(socket: &impl AsRawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: buf is a live buffer of the length passed.
    let n = unsafe {
        libc::send(
            socket.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Sets `SO_LINGER`: `Some(0)` makes close send a reset, `None` makes close return at once.
fn linger(socket: &impl AsRawFd, seconds: Option<i32>) {
    let value = libc::linger {
        l_onoff: seconds.is_some().into(),
        l_linger: seconds.unwrap_or(0),
    };
    // SAFETY: value is a live struct linger of the size passed.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const value).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// Closes a host client with a reset, so it sees at once that the container side failed.
pub(super) fn reset(client: TcpStream) {
    linger(&client, Some(0));
}

/// Closes a container-side socket without ever waiting (see [`Connection`]'s `Drop`).
pub(super) fn close_inner(inner: TcpStream) {
    linger(&inner, None);
}

/// One relayed TCP connection.
pub(super) struct Connection {
    client: TcpStream,
    inner: TcpStream,
    /// Which listener accepted the client.
    listener: usize,
    /// The container-side connect was refused: nothing listens inside.
    refused: bool,
    /// Until the container-side connect completes, when it must have.
    connecting: Option<Instant>,
    up: Buffer,
    down: Buffer,
    client_eof: bool,
    inner_eof: bool,
    up_shut: bool,
    down_shut: bool,
}

impl Connection {
    /// `inner` is connecting (non-blocking) and must be connected by `deadline`; `client`
    /// came from listener number `listener`.
    pub fn new(client: TcpStream, inner: OwnedFd, deadline: Instant, listener: usize) -> Self {
        Connection {
            client,
            inner: TcpStream::from(inner),
            listener,
            refused: false,
            connecting: Some(deadline),
            up: Buffer::new(),
            down: Buffer::new(),
            client_eof: false,
            inner_eof: false,
            up_shut: false,
            down_shut: false,
        }
    }

    /// When the container-side connect must have completed, while it has not.
    pub fn deadline(&self) -> Option<Instant> {
        self.connecting
    }

    /// The listener whose client this is, if its container-side connect was refused.
    pub fn refused_on(&self) -> Option<usize> {
        self.refused.then_some(self.listener)
    }

    /// The fds and events to poll for: client, inner. A side that is done both ways is left
    /// out: poll reports POLLHUP whatever the events, and a container that stops reading
    /// while the client is gone would otherwise keep the loop spinning.
    pub fn interest(&self) -> [Option<(&TcpStream, PollFlags)>; 2] {
        let mut client = PollFlags::empty();
        let mut inner = PollFlags::empty();
        if !self.client_eof && self.up.has_room() {
            client |= PollFlags::POLLIN;
        }
        if !self.down.is_empty() {
            client |= PollFlags::POLLOUT;
        }
        if self.connecting.is_some() || !self.up.is_empty() {
            inner |= PollFlags::POLLOUT;
        }
        if self.connecting.is_none() && !self.inner_eof && self.down.has_room() {
            inner |= PollFlags::POLLIN;
        }
        [
            (!(self.client_eof && self.down_shut)).then_some((&self.client, client)),
            (!(self.inner_eof && self.up_shut)).then_some((&self.inner, inner)),
        ]
    }

    /// Advances the connection; false when it is finished (both sides closed, an error, or a
    /// connect that did not complete in time). Dropping it then closes both sides: the client
    /// with a reset unless the inside's EOF reached it.
    pub fn step(&mut self, client: PollFlags, inner: PollFlags, now: Instant) -> bool {
        match self.advance(client, inner, now) {
            Ok(going) => going,
            Err(e) => {
                self.refused = self.connecting.is_some() && e.raw_os_error() == Some(libc::ECONNREFUSED);
                false
            }
        }
    }

    /// Before the forwarder stops: delivers what the inside already sent and, if that was all
    /// of it, its EOF (the container exited after answering), without waiting for anything.
    pub fn flush(&mut self) {
        if self.connecting.is_some() {
            return;
        }
        for _ in 0..4 {
            if !self.inner_eof && self.down.has_room() {
                match self.down.fill(&self.inner) {
                    Ok(open) => self.inner_eof = !open,
                    Err(_) => return,
                }
            }
            if !self.down.is_empty() && self.down.drain(&self.client).is_err() {
                return;
            }
            if self.inner_eof && self.down.is_empty() {
                break;
            }
        }
        if self.inner_eof && self.down.is_empty() && !self.down_shut {
            let _ = self.client.shutdown(std::net::Shutdown::Write);
            self.down_shut = true;
        }
    }

    fn advance(&mut self, client: PollFlags, inner: PollFlags, now: Instant) -> io::Result<bool> {
        let hangup = PollFlags::POLLERR | PollFlags::POLLNVAL;
        if let Some(deadline) = self.connecting {
            if inner.intersects(PollFlags::POLLOUT | hangup | PollFlags::POLLHUP) {
                if let Some(e) = self.inner.take_error()? {
                    return Err(e);
                }
                self.connecting = None;
            } else if now >= deadline {
                return Err(ErrorKind::TimedOut.into());
            } else {
                // Keep what the client sends meanwhile.
                if client.contains(PollFlags::POLLIN) && !self.client_eof {
                    self.client_eof = !self.up.fill(&self.client)?;
                }
                return Ok(true);
            }
        }
        if client.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) && !self.client_eof && self.up.has_room() {
            self.client_eof = !self.up.fill(&self.client)?;
        }
        if inner.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) && !self.inner_eof && self.down.has_room() {
            self.inner_eof = !self.down.fill(&self.inner)?;
        }
        if !self.up.is_empty() {
            self.up.drain(&self.inner)?;
        }
        if !self.down.is_empty() {
            self.down.drain(&self.client)?;
        }
        // Half-close: pass an EOF on once everything before it was delivered.
        if self.client_eof && self.up.is_empty() && !self.up_shut {
            let _ = self.inner.shutdown(std::net::Shutdown::Write);
            self.up_shut = true;
        }
        if self.inner_eof && self.down.is_empty() && !self.down_shut {
            let _ = self.client.shutdown(std::net::Shutdown::Write);
            self.down_shut = true;
        }
        if (client | inner).intersects(hangup) && !(client | inner).contains(PollFlags::POLLIN) {
            return Ok(false);
        }
        Ok(!(self.up_shut && self.down_shut))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The container may have set SO_LINGER on its socket, which would make our close, if
        // it is the last, wait for unsent data to be acknowledged: never wait.
        linger(&self.inner, None);
        // A close the inside did not make is not passed off as one.
        if !self.down_shut {
            linger(&self.client, Some(0));
        }
    }
}

/// A non-blocking TCP connect in this thread's network namespace.
pub(super) fn connect_nonblocking(target: SocketAddrV4) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no memory.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new fd that nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: target.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*target.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: addr is a live sockaddr_in of the size passed.
    let ret = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            &addr as *const libc::sockaddr_in as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if ret < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINPROGRESS) {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

/// 127.0.0.1:`port`.
pub(super) fn loopback(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)
}
