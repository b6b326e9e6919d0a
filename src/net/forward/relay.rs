//! The forwarder thread's poll loop: listeners, the connector socket, every connection and UDP
//! client, the container's pidfd and the handle's stop pipe, in one `poll` with a timeout set
//! by the nearest deadline. Nothing in it blocks: see the trust note in `mod.rs`.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::connector::{self, Connector, Received};
use super::tcp::{self, Connection, would_block};
use super::{Bound, Limits, Protocol, PublishedPort};

/// UDP clients remembered at once; the least recently active is forgotten beyond this.
const UDP_CLIENTS: usize = 256;
/// Datagrams kept for a UDP client while its socket is being made; later ones are dropped.
const UDP_QUEUED: usize = 8;
/// Accepts, datagrams or replies handled per wake-up for one fd, so that a flood on one does
/// not keep the loop from the others, the stop pipe and the pidfd.
const BATCH: usize = 64;

type UdpKey = (usize, SocketAddr);

/// Where container-side sockets come from, as the loop sees it.
enum Source {
    /// The connector process, with the requests sent to it and not yet answered, oldest first.
    Helper {
        socket: OwnedFd,
        pending: VecDeque<Pending>,
    },
    /// This thread, in the container's network namespace.
    Join,
    /// The connector closed its socket or broke the protocol: new clients are reset.
    Gone,
}

/// A request waiting for its reply.
struct Pending {
    waiter: Waiter,
    deadline: Instant,
}

enum Waiter {
    Tcp(TcpStream),
    Udp(UdpKey),
    /// Timed out: the client was reset; the late reply is read and discarded (its fds closed).
    Abandoned,
}

struct UdpClient {
    /// None while the connector has not answered.
    inner: Option<UdpSocket>,
    queued: Vec<Vec<u8>>,
    last: Instant,
}

pub(super) struct Relay {
    listeners: Vec<(Bound, PublishedPort)>,
    source: Source,
    limits: Limits,
    stop: OwnedFd,
    pidfd: OwnedFd,
    connections: Vec<Connection>,
    udp: HashMap<UdpKey, UdpClient>,
}

/// What each polled fd is.
#[derive(Clone, Copy)]
enum Slot {
    Stop,
    Pidfd,
    Connector,
    Listener(usize),
    Client(usize),
    Inner(usize),
    Udp(UdpKey),
}

impl Relay {
    pub fn new(
        listeners: Vec<(Bound, PublishedPort)>,
        connector: Connector,
        stop: OwnedFd,
        pidfd: OwnedFd,
        limits: Limits,
    ) -> Self {
        let source = match connector {
            Connector::Helper(socket) => Source::Helper {
                socket,
                pending: VecDeque::new(),
            },
            // The thread has joined the namespace; the fd is no longer needed.
            Connector::Join(_) => Source::Join,
        };
        Relay {
            listeners,
            source,
            limits,
            stop,
            pidfd,
            connections: Vec::new(),
            udp: HashMap::new(),
        }
    }

    /// Relays until the container exits or the handle stops; everything closes on return.
    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            self.expire(now);
            let (slots, interest) = self.interest();
            let timeout = self.next_deadline().map_or(PollTimeout::NONE, |at| {
                let ms = at.saturating_duration_since(now).as_nanos().div_ceil(1_000_000);
                PollTimeout::from(ms.min(60_000) as u16)
            });
            let ready: Vec<PollFlags> = {
                // SAFETY: every fd in `interest` is owned by `self` and open for this call.
                let mut fds: Vec<PollFd> = interest
                    .iter()
                    .map(|(fd, events)| PollFd::new(unsafe { BorrowedFd::borrow_raw(*fd) }, *events))
                    .collect();
                match poll(&mut fds, timeout) {
                    Ok(_) => fds.iter().map(|f| f.revents().unwrap_or(PollFlags::POLLNVAL)).collect(),
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "port forwarder poll failed; stopping");
                        return;
                    }
                }
            };
            let now = Instant::now();
            let mut flags = vec![[PollFlags::empty(); 2]; self.connections.len()];
            let mut listeners = Vec::new();
            let mut udp = Vec::new();
            let mut connector = PollFlags::empty();
            for (slot, ready) in slots.iter().zip(ready) {
                match *slot {
                    Slot::Stop | Slot::Pidfd if !ready.is_empty() => return, // everything closes on drop
                    Slot::Stop | Slot::Pidfd => {}
                    Slot::Connector => connector = ready,
                    Slot::Listener(i) if ready.contains(PollFlags::POLLIN) => listeners.push(i),
                    Slot::Listener(_) => {}
                    Slot::Client(i) => flags[i][0] = ready,
                    Slot::Inner(i) => flags[i][1] = ready,
                    Slot::Udp(key) if ready.contains(PollFlags::POLLIN) => udp.push(key),
                    Slot::Udp(_) => {}
                }
            }
            // Connections first (their poll results are in `flags`), then new ones.
            let mut keep = Vec::with_capacity(self.connections.len());
            for (mut c, [client, inner]) in std::mem::take(&mut self.connections).into_iter().zip(flags) {
                if c.step(client, inner, now) {
                    keep.push(c);
                }
            }
            self.connections = keep;
            if !connector.is_empty() {
                self.replies(now);
            }
            for index in listeners {
                self.accept(index, now);
            }
            for key in udp {
                self.udp_reply(key);
            }
        }
    }

    fn interest(&self) -> (Vec<Slot>, Vec<(RawFd, PollFlags)>) {
        let mut slots = vec![Slot::Stop, Slot::Pidfd];
        let mut interest = vec![
            (self.stop.as_raw_fd(), PollFlags::POLLIN),
            (self.pidfd.as_raw_fd(), PollFlags::POLLIN),
        ];
        if let Source::Helper { socket, .. } = &self.source {
            slots.push(Slot::Connector);
            interest.push((socket.as_raw_fd(), PollFlags::POLLIN));
        }
        for (index, (socket, _)) in self.listeners.iter().enumerate() {
            // A TCP listener beyond the caps is not polled: its clients wait in the backlog.
            if matches!(socket, Bound::Udp(_)) || self.may_accept_tcp() {
                slots.push(Slot::Listener(index));
                interest.push((raw(socket), PollFlags::POLLIN));
            }
        }
        for (i, c) in self.connections.iter().enumerate() {
            let [client, inner] = c.interest();
            for (slot, side) in [(Slot::Client(i), client), (Slot::Inner(i), inner)] {
                if let Some((socket, events)) = side {
                    slots.push(slot);
                    interest.push((socket.as_raw_fd(), events));
                }
            }
        }
        for (key, client) in &self.udp {
            if let Some(inner) = &client.inner {
                slots.push(Slot::Udp(*key));
                interest.push((inner.as_raw_fd(), PollFlags::POLLIN));
            }
        }
        (slots, interest)
    }

    /// Whether one more TCP client fits the caps (always, once the connector is gone: it is
    /// accepted and reset at once).
    fn may_accept_tcp(&self) -> bool {
        match &self.source {
            Source::Helper { pending, .. } => {
                let waiting = pending.iter().filter(|p| matches!(p.waiter, Waiter::Tcp(_))).count();
                pending.len() < self.limits.pending && self.connections.len() + waiting < self.limits.connections
            }
            Source::Join => self.connections.len() < self.limits.connections,
            Source::Gone => true,
        }
    }

    /// The nearest reply or connect deadline.
    fn next_deadline(&self) -> Option<Instant> {
        let replies = match &self.source {
            Source::Helper { pending, .. } => pending
                .iter()
                .filter(|p| !matches!(p.waiter, Waiter::Abandoned))
                .map(|p| p.deadline)
                .min(),
            _ => None,
        };
        let connects = self.connections.iter().filter_map(Connection::deadline).min();
        replies.into_iter().chain(connects).min()
    }

    /// Fails the requests whose reply is late; they stay queued to absorb it.
    fn expire(&mut self, now: Instant) {
        let Source::Helper { pending, .. } = &mut self.source else {
            return;
        };
        for p in pending.iter_mut().filter(|p| p.deadline <= now) {
            match std::mem::replace(&mut p.waiter, Waiter::Abandoned) {
                Waiter::Tcp(client) => tcp::reset(client),
                Waiter::Udp(key) => drop(self.udp.remove(&key)),
                Waiter::Abandoned => {}
            }
        }
    }

    /// Reads the connector's replies and hands each socket to the oldest request.
    fn replies(&mut self, now: Instant) {
        for _ in 0..BATCH {
            let Source::Helper { socket, pending } = &mut self.source else {
                return;
            };
            let reply = match connector::receive(socket) {
                Received::Nothing => return,
                Received::Gone(e) => {
                    tracing::debug!(error = %e, "the port connector is gone");
                    self.connector_gone();
                    return;
                }
                Received::Reply(reply) => reply,
            };
            // A reply nobody asked for is dropped, which closes its fds.
            let Some(request) = pending.pop_front() else { continue };
            match request.waiter {
                Waiter::Tcp(client) => match reply.into_socket(Protocol::Tcp) {
                    Ok(inner) => {
                        let deadline = now + self.limits.connect_timeout;
                        self.connections.push(Connection::new(client, inner, deadline));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no container-side socket for a published port");
                        tcp::reset(client);
                    }
                },
                Waiter::Udp(key) => {
                    let inner = reply.into_socket(Protocol::Udp).map(UdpSocket::from);
                    match (self.udp.get_mut(&key), inner) {
                        (Some(client), Ok(inner)) if client.inner.is_none() => {
                            for datagram in client.queued.drain(..) {
                                let _ = tcp::send_nowait(&inner, &datagram);
                            }
                            client.inner = Some(inner);
                        }
                        (Some(client), Err(_)) if client.inner.is_none() => drop(self.udp.remove(&key)),
                        // Forgotten meanwhile, or answered twice: the socket closes here.
                        _ => {}
                    }
                }
                Waiter::Abandoned => drop(reply),
            }
        }
    }

    /// Stops using the connector: its socket closes and every waiting client is failed.
    fn connector_gone(&mut self) {
        if let Source::Helper { pending, .. } = std::mem::replace(&mut self.source, Source::Gone) {
            for request in pending {
                match request.waiter {
                    Waiter::Tcp(client) => tcp::reset(client),
                    Waiter::Udp(key) => drop(self.udp.remove(&key)),
                    Waiter::Abandoned => {}
                }
            }
        }
    }

    fn accept(&mut self, index: usize, now: Instant) {
        let container_port = self.listeners[index].1.container_port;
        if matches!(self.listeners[index].0, Bound::Udp(_)) {
            return self.udp_datagrams(index, now);
        }
        for _ in 0..BATCH {
            if !self.may_accept_tcp() {
                return;
            }
            let Bound::Tcp(listener) = &self.listeners[index].0 else {
                return;
            };
            let client = match listener.accept() {
                Ok((client, _)) => client,
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "accept on a published port");
                    return;
                }
            };
            if client.set_nonblocking(true).is_err() {
                continue;
            }
            self.open_tcp(client, container_port, now);
        }
    }

    /// Starts the container side of a new TCP client.
    fn open_tcp(&mut self, client: TcpStream, port: u16, now: Instant) {
        match &mut self.source {
            Source::Helper { socket, pending } => match connector::request(socket, Protocol::Tcp, port) {
                Ok(()) => pending.push_back(Pending {
                    waiter: Waiter::Tcp(client),
                    deadline: now + self.limits.reply_timeout,
                }),
                Err(e) => {
                    tcp::reset(client);
                    if !would_block(&e) {
                        self.connector_gone();
                    }
                }
            },
            Source::Join => match tcp::connect_nonblocking(tcp::loopback(port)) {
                Ok(inner) => {
                    let deadline = now + self.limits.connect_timeout;
                    self.connections.push(Connection::new(client, inner, deadline));
                }
                Err(_) => tcp::reset(client),
            },
            Source::Gone => tcp::reset(client),
        }
    }

    fn udp_datagrams(&mut self, index: usize, now: Instant) {
        let port = self.listeners[index].1.container_port;
        let mut buf = [0u8; 65536];
        for _ in 0..BATCH {
            let Bound::Udp(socket) = &self.listeners[index].0 else {
                return;
            };
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                return;
            };
            let key = (index, from);
            if !self.udp.contains_key(&key) && !self.open_udp(key, port, now) {
                continue; // dropped, as UDP may
            }
            let Some(client) = self.udp.get_mut(&key) else { continue };
            client.last = now;
            match &client.inner {
                Some(inner) => drop(tcp::send_nowait(inner, &buf[..n])),
                None if client.queued.len() < UDP_QUEUED => client.queued.push(buf[..n].to_vec()),
                None => {}
            }
        }
    }

    /// Remembers a new UDP client and starts its container side; false if that cannot be now.
    fn open_udp(&mut self, key: UdpKey, port: u16, now: Instant) -> bool {
        let inner = match &mut self.source {
            Source::Helper { socket, pending } => {
                if pending.len() >= self.limits.pending || connector::request(socket, Protocol::Udp, port).is_err() {
                    return false;
                }
                pending.push_back(Pending {
                    waiter: Waiter::Udp(key),
                    deadline: now + self.limits.reply_timeout,
                });
                None
            }
            Source::Join => match udp_connected(port) {
                Ok(inner) => Some(inner),
                Err(_) => return false,
            },
            Source::Gone => return false,
        };
        if self.udp.len() >= UDP_CLIENTS
            && let Some(oldest) = self.udp.iter().min_by_key(|(_, c)| c.last).map(|(k, _)| *k)
        {
            self.udp.remove(&oldest);
        }
        self.udp.insert(
            key,
            UdpClient {
                inner,
                queued: Vec::new(),
                last: now,
            },
        );
        true
    }

    fn udp_reply(&mut self, key: UdpKey) {
        let Some(client) = self.udp.get_mut(&key) else { return };
        let (Some(inner), Bound::Udp(host)) = (&client.inner, &self.listeners[key.0].0) else {
            return;
        };
        let mut buf = [0u8; 65536];
        for _ in 0..BATCH {
            let Ok(n) = tcp::recv_nowait(inner, &mut buf) else {
                return;
            };
            client.last = Instant::now();
            let _ = host.send_to(&buf[..n], key.1);
        }
    }
}

/// A UDP socket connected to 127.0.0.1:`port` in this thread's network namespace.
fn udp_connected(port: u16) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    socket.connect((Ipv4Addr::LOCALHOST, port))?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

fn raw(bound: &Bound) -> RawFd {
    match bound {
        Bound::Tcp(l) => l.as_raw_fd(),
        Bound::Udp(u) => u.as_raw_fd(),
    }
}
