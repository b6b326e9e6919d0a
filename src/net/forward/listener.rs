//! The host side of a published TCP port: a socket bound before the clone and kept bound (the
//! port stays reserved) for the container's whole life, listening only while its [`Gate`] is
//! open.
//!
//! Reserving without listening needs care, because Linux lets two `SO_REUSEADDR` sockets share
//! a port while neither listens, and a listener of a port bound to 0 gives the port back when it
//! stops listening. So:
//! - the socket is always bound to an explicit port (for port 0: to the one a first socket was
//!   given), which keeps it bound through `shutdown` (`SOCK_BINDPORT_LOCK`; see `tcp_disconnect`
//!   and `tcp_set_state` in net/ipv4/tcp.c);
//! - it has `SO_REUSEADDR` only while it listens: then the connections it accepts inherit the
//!   flag and their TIME_WAIT does not keep it from listening again, and while it does not
//!   listen, no other socket can bind the port (a bind conflicts with a bound socket without the
//!   flag).
//!
//! `shutdown(SHUT_RD)` on a listening socket returns it to CLOSE (`inet_shutdown` →
//! `tcp_disconnect` → `inet_csk_listen_stop`), resetting the connections still in its accept
//! queue; `listen` works on it again. The tests check all of this on the running kernel.
//!
//! The connection of the probe that opened the port is kept ("parked") for the first client
//! instead of being closed, so that a server that accepts only one connection serves that
//! client, not the probe (see `gate.rs`).

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use nix::sys::socket::{
    AddressFamily, Backlog, Shutdown, SockFlag, SockType, listen, setsockopt, shutdown, socket, sockopt,
};

use super::gate::{Change, Gate};
use super::tcp::close_inner;

/// A bound host socket for one published TCP port and whether it listens.
#[derive(Debug)]
pub(crate) struct HostListener {
    socket: TcpListener,
    gate: Gate,
    /// Mirrors `gate.is_open()` for the caller's thread ([`Container::port_accepting`]).
    ///
    /// [`Container::port_accepting`]: crate::Container::port_accepting
    open: Arc<AtomicBool>,
    /// The connected probe that opened the gate, for the first client.
    parked: Option<TcpStream>,
}

impl HostListener {
    /// Binds `address` (port 0: a free port) without listening.
    pub fn bind(address: SocketAddr) -> io::Result<HostListener> {
        let socket = if address.port() == 0 {
            // The first socket only picks the port; the second binds it explicitly.
            let picker = bound_socket(address)?;
            let picked = local_address(&picker)?;
            bound_socket(picked)?
        } else {
            bound_socket(address)?
        };
        setsockopt(&socket, sockopt::ReuseAddr, &false)?;
        Ok(HostListener {
            socket: TcpListener::from(socket),
            gate: Gate::new(Instant::now()),
            open: Arc::new(AtomicBool::new(false)),
            parked: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// The flag that tells other threads whether this port listens.
    pub fn open_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.open)
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    pub fn gate_mut(&mut self) -> &mut Gate {
        &mut self.gate
    }

    /// Carries out what the gate decided. A failed listen (another socket took the port
    /// meanwhile, which only a race at bind time allows) counts as a failed probe.
    pub fn apply(&mut self, change: Change, now: Instant) {
        // The flag is false before the socket stops listening and true only after it listens,
        // so that a reader who was refused never sees it true.
        let result = match change {
            Change::Nothing => return,
            Change::Listen => self.listen(),
            Change::Unlisten => {
                self.open.store(false, Ordering::Release);
                self.unlisten()
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, ?change, "a published port could not change its listening state");
            if change == Change::Listen {
                self.gate.listen_failed(now);
            }
        }
        self.open.store(self.gate.is_open(), Ordering::Release);
    }

    /// Keeps a probe's connection for the first client.
    pub fn park(&mut self, inner: TcpStream) {
        if let Some(old) = self.parked.replace(inner) {
            close_inner(old);
        }
    }

    /// The parked connection, if the server has not closed or reset it without a word (an idle
    /// timeout): the client then gets what a connection made now would give. One the server
    /// sent something on (a greeting) is handed over even if the server closed it since.
    pub fn take_parked(&mut self) -> Option<TcpStream> {
        let inner = self.parked.take()?;
        if usable(&inner) {
            Some(inner)
        } else {
            close_inner(inner);
            None
        }
    }

    fn listen(&self) -> io::Result<()> {
        setsockopt(&self.socket, sockopt::ReuseAddr, &true)?;
        Ok(listen(&self.socket, Backlog::MAXCONN)?)
    }

    /// Back to bound-only: the connections in the accept queue are reset.
    fn unlisten(&mut self) -> io::Result<()> {
        if let Some(old) = self.parked.take() {
            close_inner(old);
        }
        setsockopt(&self.socket, sockopt::ReuseAddr, &false)?;
        Ok(shutdown(self.socket.as_raw_fd(), Shutdown::Read)?)
    }

    pub fn accept(&self) -> io::Result<TcpStream> {
        self.socket.accept().map(|(client, _)| client)
    }
}

impl AsFd for HostListener {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// A non-blocking TCP socket with `SO_REUSEADDR`, bound to `address`.
fn bound_socket(address: SocketAddr) -> io::Result<OwnedFd> {
    let family = match address {
        SocketAddr::V4(_) => AddressFamily::Inet,
        SocketAddr::V6(_) => AddressFamily::Inet6,
    };
    let socket = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&socket, sockopt::ReuseAddr, &true)?;
    // SAFETY: zeroed sockaddr_storage is valid; the variant written matches the family, and
    // bind reads `len` bytes of the live storage.
    let ret = unsafe {
        let mut storage: libc::sockaddr_storage = std::mem::zeroed();
        let len = match address {
            SocketAddr::V4(a) => {
                let sin = &mut *(&raw mut storage).cast::<libc::sockaddr_in>();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = a.port().to_be();
                sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                std::mem::size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = &mut *(&raw mut storage).cast::<libc::sockaddr_in6>();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = a.port().to_be();
                sin6.sin6_addr.s6_addr = a.ip().octets();
                sin6.sin6_flowinfo = a.flowinfo();
                sin6.sin6_scope_id = a.scope_id();
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        libc::bind(socket.as_raw_fd(), (&raw const storage).cast(), len as libc::socklen_t)
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(socket)
}

fn local_address(socket: &OwnedFd) -> io::Result<SocketAddr> {
    TcpListener::from(socket.try_clone()?).local_addr()
}

impl Drop for HostListener {
    fn drop(&mut self) {
        self.open.store(false, Ordering::Release);
        if let Some(old) = self.parked.take() {
            close_inner(old);
        }
    }
}

/// Whether a parked connection is still worth handing to a client: connected, not reset, and
/// either still open for reading or with bytes waiting before its EOF.
fn usable(inner: &TcpStream) -> bool {
    if !matches!(inner.take_error(), Ok(None)) {
        return false;
    }
    let mut fd = libc::pollfd {
        fd: inner.as_raw_fd(),
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one live pollfd; no waiting.
    let n = unsafe { libc::poll(&mut fd, 1, 0) };
    if n == 0 {
        return true; // open, nothing happened
    }
    if n < 0 || fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
        return false;
    }
    let mut byte = 0u8;
    // SAFETY: byte is a live 1-byte buffer.
    let peeked = unsafe {
        libc::recv(
            inner.as_raw_fd(),
            (&raw mut byte).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    peeked == 1
}
