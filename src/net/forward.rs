//! The port forwarder: listeners bound in the caller's network namespace before the clone, and
//! one thread per container that relays every connection (TCP) or client (UDP) in a single poll
//! loop. The container side of each is a socket made in the container's network namespace by
//! its connector process (`nsbox-connect`, see src/pid1/nsbox_init.rs), or, for a container
//! without an init, by the thread itself after joining the namespace (which needs root).

use std::collections::HashMap;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::port::{Port, Protocol, PublishedPort};
use crate::error::{Error, Result};

/// Bytes buffered per direction of a TCP connection.
const BUFFER: usize = 64 * 1024;
/// UDP clients remembered at once; the least recently active is forgotten beyond this.
const UDP_CLIENTS: usize = 256;

/// The host-side sockets, bound before the container starts so that a taken port fails the
/// spawn and port 0 is known.
#[derive(Debug)]
pub(crate) struct Listeners {
    bound: Vec<(Bound, PublishedPort)>,
}

#[derive(Debug)]
enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
}

impl Listeners {
    pub fn bind(ports: &[Port]) -> Result<Listeners> {
        let mut bound = Vec::new();
        for port in ports {
            let fail = |e: io::Error| Error::io(format!("publish {:?} port {}", port.protocol, port.host), e);
            let socket = match port.protocol {
                Protocol::Tcp => Bound::Tcp(TcpListener::bind(port.host).map_err(fail)?),
                Protocol::Udp => Bound::Udp(UdpSocket::bind(port.host).map_err(fail)?),
            };
            let host = match &socket {
                Bound::Tcp(l) => l.local_addr(),
                Bound::Udp(u) => u.local_addr(),
            }
            .map_err(fail)?;
            match &socket {
                Bound::Tcp(l) => l.set_nonblocking(true),
                Bound::Udp(u) => u.set_nonblocking(true),
            }
            .map_err(fail)?;
            bound.push((
                socket,
                PublishedPort {
                    protocol: port.protocol,
                    host,
                    container_port: port.container_port,
                },
            ));
        }
        Ok(Listeners { bound })
    }

    pub fn published(&self) -> Vec<PublishedPort> {
        self.bound.iter().map(|(_, p)| *p).collect()
    }
}

/// A running forwarder; stopping (or dropping) it closes every socket and joins the thread.
#[derive(Debug)]
pub(crate) struct Forwarder {
    ports: Vec<PublishedPort>,
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Starts relaying through `connector`; the loop also ends when the process behind `pidfd`
    /// exits.
    pub fn start(listeners: Listeners, connector: Connector, pidfd: OwnedFd) -> Result<Forwarder> {
        let ports = listeners.published();
        let (stop_r, stop_w) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| Error::io("create pipe", e))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("nsbox-ports".into())
            .spawn(move || {
                if let Connector::Join(netns) = &connector {
                    // Only this thread changes its network namespace: sockets it creates live there.
                    if let Err(e) = nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET) {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                }
                let _ = ready_tx.send(Ok(()));
                Relay::new(listeners, connector, stop_r, pidfd).run();
            })
            .map_err(|e| Error::io("start the port forwarder thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Forwarder {
                ports,
                stop: Some(stop_w),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(Error::io(
                    "join the container's network namespace for its published ports",
                    e,
                ))
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::io("start the port forwarder", io::Error::other("thread ended")))
            }
        }
    }

    pub fn ports(&self) -> &[PublishedPort] {
        &self.ports
    }

    /// Closes every listener and connection and waits for the thread.
    pub fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        self.stop();
    }
}

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
    fn fill(&mut self, from: &mut TcpStream) -> io::Result<bool> {
        match from.read(&mut self.data[self.end..]) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.end += n;
                Ok(true)
            }
            Err(e) if would_block(&e) => Ok(true),
            Err(e) => Err(e),
        }
    }
    fn drain(&mut self, to: &mut TcpStream) -> io::Result<()> {
        match to.write(&self.data[self.start..self.end]) {
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

fn would_block(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

/// One relayed TCP connection.
struct Connection {
    client: TcpStream,
    inner: TcpStream,
    connected: bool,
    up: Buffer,
    down: Buffer,
    client_eof: bool,
    inner_eof: bool,
    up_shut: bool,
    down_shut: bool,
}

struct UdpClient {
    inner: UdpSocket,
    listener: usize,
    last: Instant,
}

/// Where container-side sockets come from.
#[derive(Debug)]
pub(crate) enum Connector {
    /// The connector process in the container's network namespace, over this socket.
    Helper(OwnedFd),
    /// The forwarder thread joins this namespace and makes them itself (root only).
    Join(OwnedFd),
}

impl Connector {
    /// A socket connected (or connecting, non-blocking) to 127.0.0.1:`port` in the container.
    fn connect(&self, protocol: Protocol, port: u16) -> io::Result<OwnedFd> {
        match self {
            Connector::Join(_) => match protocol {
                Protocol::Tcp => connect_nonblocking(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).map(OwnedFd::from),
                Protocol::Udp => {
                    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
                    socket.connect((Ipv4Addr::LOCALHOST, port))?;
                    Ok(OwnedFd::from(socket))
                }
            },
            Connector::Helper(socket) => ask(socket, protocol, port),
        }
    }
}

/// One request to nsbox-connect: `[kind, 0, port]`; the reply is an errno and, on success, the
/// socket (SCM_RIGHTS).
fn ask(socket: &OwnedFd, protocol: Protocol, port: u16) -> io::Result<OwnedFd> {
    let [lo, hi] = port.to_le_bytes();
    let request = [if protocol == Protocol::Udp { b'u' } else { b't' }, 0, lo, hi];
    // SAFETY: request is a live 4-byte buffer.
    if unsafe { libc::send(socket.as_raw_fd(), request.as_ptr().cast(), 4, libc::MSG_NOSIGNAL) } != 4 {
        return Err(io::Error::last_os_error());
    }
    let mut errno = [0u8; 4];
    let mut iov = libc::iovec {
        iov_base: errno.as_mut_ptr().cast(),
        iov_len: 4,
    };
    let mut control = [0u64; 8]; // aligned room for one SCM_RIGHTS fd
    // SAFETY: msghdr is plain data; zeroed is valid; the pointers are set below.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = std::mem::size_of_val(&control);
    // SAFETY: message points to live buffers of the sizes given.
    let n = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut message, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n != 4 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "the container's port connector is gone",
        ));
    }
    let errno = i32::from_le_bytes(errno);
    if errno != 0 {
        return Err(io::Error::from_raw_os_error(errno));
    }
    // SAFETY: the kernel filled message; CMSG_* walk the control buffer it describes.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        if header.is_null() || (*header).cmsg_level != libc::SOL_SOCKET || (*header).cmsg_type != libc::SCM_RIGHTS {
            return Err(io::Error::other("no socket in the connector's reply"));
        }
        let fd = std::ptr::read_unaligned(libc::CMSG_DATA(header) as *const RawFd);
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

struct Relay {
    connector: Connector,
    listeners: Vec<(Bound, PublishedPort)>,
    stop: OwnedFd,
    pidfd: OwnedFd,
    connections: Vec<Connection>,
    udp: HashMap<(usize, SocketAddr), UdpClient>,
}

impl Relay {
    fn new(listeners: Listeners, connector: Connector, stop: OwnedFd, pidfd: OwnedFd) -> Self {
        Relay {
            connector,
            listeners: listeners.bound,
            stop,
            pidfd,
            connections: Vec::new(),
            udp: HashMap::new(),
        }
    }

    fn run(mut self) {
        loop {
            let mut interest: Vec<(RawFd, PollFlags)> = vec![
                (self.stop.as_raw_fd(), PollFlags::POLLIN),
                (self.pidfd.as_raw_fd(), PollFlags::POLLIN),
            ];
            for (socket, _) in &self.listeners {
                interest.push((raw(socket), PollFlags::POLLIN));
            }
            for c in &self.connections {
                let mut client = PollFlags::empty();
                let mut inner = PollFlags::empty();
                if !c.client_eof && c.up.has_room() {
                    client |= PollFlags::POLLIN;
                }
                if !c.down.is_empty() {
                    client |= PollFlags::POLLOUT;
                }
                if !c.connected || !c.up.is_empty() {
                    inner |= PollFlags::POLLOUT;
                }
                if c.connected && !c.inner_eof && c.down.has_room() {
                    inner |= PollFlags::POLLIN;
                }
                interest.push((c.client.as_raw_fd(), client));
                interest.push((c.inner.as_raw_fd(), inner));
            }
            let udp_keys: Vec<(usize, SocketAddr)> = self.udp.keys().copied().collect();
            for key in &udp_keys {
                interest.push((self.udp[key].inner.as_raw_fd(), PollFlags::POLLIN));
            }
            let ready: Vec<PollFlags> = {
                // SAFETY: every fd in `interest` is owned by `self` and open for this call.
                let mut fds: Vec<PollFd> = interest
                    .iter()
                    .map(|(fd, events)| PollFd::new(unsafe { BorrowedFd::borrow_raw(*fd) }, *events))
                    .collect();
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => fds.iter().map(|f| f.revents().unwrap_or(PollFlags::POLLNVAL)).collect(),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "port forwarder poll failed; stopping");
                        return;
                    }
                }
            };
            if !ready[0].is_empty() || !ready[1].is_empty() {
                return; // stopped, or the container exited: everything closes on drop
            }
            // Connections first (their poll results are in `ready`), then new ones.
            let listeners = self.listeners.len();
            let count = self.connections.len();
            let mut keep = Vec::with_capacity(count);
            for (i, mut c) in std::mem::take(&mut self.connections).into_iter().enumerate() {
                let (client, inner) = (ready[2 + listeners + 2 * i], ready[2 + listeners + 2 * i + 1]);
                if step(&mut c, client, inner).unwrap_or(false) {
                    keep.push(c);
                }
            }
            self.connections = keep;
            for index in 0..listeners {
                if ready[2 + index].contains(PollFlags::POLLIN) {
                    self.accept(index);
                }
            }
            let at = 2 + listeners + 2 * count;
            for (key, flags) in udp_keys.iter().zip(&ready[at..]) {
                if flags.contains(PollFlags::POLLIN) {
                    self.udp_reply(*key);
                }
            }
        }
    }

    fn accept(&mut self, index: usize) {
        let (socket, port) = &self.listeners[index];
        let container_port = port.container_port;
        match socket {
            Bound::Tcp(listener) => loop {
                match listener.accept() {
                    Ok((client, _)) => match self.connector.connect(Protocol::Tcp, container_port) {
                        Ok(inner) if client.set_nonblocking(true).is_ok() => self.connections.push(Connection {
                            client,
                            inner: TcpStream::from(inner),
                            connected: false,
                            up: Buffer::new(),
                            down: Buffer::new(),
                            client_eof: false,
                            inner_eof: false,
                            up_shut: false,
                            down_shut: false,
                        }),
                        // Dropping the client closes it: the container side refused.
                        _ => {}
                    },
                    Err(e) if would_block(&e) => return,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept on a published port");
                        return;
                    }
                }
            },
            Bound::Udp(socket) => {
                let mut buf = [0u8; 65536];
                while let Ok((n, from)) = socket.recv_from(&mut buf) {
                    if !self.udp.contains_key(&(index, from)) {
                        if self.udp.len() >= UDP_CLIENTS
                            && let Some(oldest) = self.udp.iter().min_by_key(|(_, c)| c.last).map(|(k, _)| *k)
                        {
                            self.udp.remove(&oldest);
                        }
                        let Ok(inner) = self.connector.connect(Protocol::Udp, container_port) else {
                            continue;
                        };
                        let inner = UdpSocket::from(inner);
                        if inner.set_nonblocking(true).is_err() {
                            continue;
                        }
                        self.udp.insert(
                            (index, from),
                            UdpClient {
                                inner,
                                listener: index,
                                last: Instant::now(),
                            },
                        );
                    }
                    if let Some(client) = self.udp.get_mut(&(index, from)) {
                        client.last = Instant::now();
                        let _ = client.inner.send(&buf[..n]);
                    }
                }
            }
        }
    }

    fn udp_reply(&mut self, key: (usize, SocketAddr)) {
        let Some(client) = self.udp.get_mut(&key) else { return };
        let Bound::Udp(host) = &self.listeners[client.listener].0 else {
            return;
        };
        let mut buf = [0u8; 65536];
        while let Ok(n) = client.inner.recv(&mut buf) {
            client.last = Instant::now();
            let _ = host.send_to(&buf[..n], key.1);
        }
    }
}

/// Advances one connection; false when it is finished (both sides closed or an error).
fn step(c: &mut Connection, client: PollFlags, inner: PollFlags) -> io::Result<bool> {
    let hangup = PollFlags::POLLERR | PollFlags::POLLNVAL;
    if !c.connected {
        if inner.intersects(PollFlags::POLLOUT | hangup | PollFlags::POLLHUP) {
            if let Some(e) = c.inner.take_error()? {
                return Err(e);
            }
            c.connected = true;
        } else {
            // Keep what the client sends meanwhile.
            if client.contains(PollFlags::POLLIN) && !c.client_eof {
                c.client_eof = !c.up.fill(&mut c.client)?;
            }
            return Ok(true);
        }
    }
    if client.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) && !c.client_eof && c.up.has_room() {
        c.client_eof = !c.up.fill(&mut c.client)?;
    }
    if inner.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) && !c.inner_eof && c.down.has_room() {
        c.inner_eof = !c.down.fill(&mut c.inner)?;
    }
    if !c.up.is_empty() {
        c.up.drain(&mut c.inner)?;
    }
    if !c.down.is_empty() {
        c.down.drain(&mut c.client)?;
    }
    // Half-close: pass an EOF on once everything before it was delivered.
    if c.client_eof && c.up.is_empty() && !c.up_shut {
        let _ = c.inner.shutdown(std::net::Shutdown::Write);
        c.up_shut = true;
    }
    if c.inner_eof && c.down.is_empty() && !c.down_shut {
        let _ = c.client.shutdown(std::net::Shutdown::Write);
        c.down_shut = true;
    }
    if (client | inner).intersects(hangup) && !(client | inner).contains(PollFlags::POLLIN) {
        return Ok(false);
    }
    Ok(!(c.up_shut && c.down_shut))
}

/// A non-blocking TCP connect in this thread's network namespace.
fn connect_nonblocking(target: SocketAddrV4) -> io::Result<TcpStream> {
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
    Ok(TcpStream::from(socket))
}

fn raw(bound: &Bound) -> RawFd {
    match bound {
        Bound::Tcp(l) => l.as_fd().as_raw_fd(),
        Bound::Udp(u) => u.as_fd().as_raw_fd(),
    }
}
