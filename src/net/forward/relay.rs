//! The forwarder thread's poll loop: listeners, the connector socket, every connection and UDP
//! client, the container's pidfd and the handle's stop pipe, in one `poll` with a timeout set
//! by the nearest deadline. Nothing in it blocks: see the trust note in `mod.rs`. A TCP
//! listener is polled only while its gate is open; until then the loop probes the container
//! port (see `gate.rs`).

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::connector::{self, Connector, Received};
use super::gate::Change;
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
    /// A client accepted on listener number `.1`.
    Tcp(TcpStream, usize),
    Udp(UdpKey),
    /// A probe of listener number `.0`'s container port.
    Probe(usize),
    /// Timed out: the client was reset; the late reply is read and discarded (its fds closed).
    Abandoned,
}

/// A probe's container-side connect, in progress.
struct Probe {
    listener: usize,
    socket: TcpStream,
    deadline: Instant,
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
    probes: Vec<Probe>,
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
    Probe(usize),
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
            probes: Vec::new(),
            udp: HashMap::new(),
        }
    }

    /// Relays until the container exits or the handle stops; everything closes on return.
    pub fn run(mut self) {
        loop {
            let now = Instant::now();
            self.expire(now);
            self.probe(now);
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
            let mut probes = vec![PollFlags::empty(); self.probes.len()];
            let mut listeners = Vec::new();
            let mut udp = Vec::new();
            let mut connector = PollFlags::empty();
            for (slot, ready) in slots.iter().zip(ready) {
                match *slot {
                    Slot::Stop | Slot::Pidfd if !ready.is_empty() => return self.flush(), // the rest closes on drop
                    Slot::Stop | Slot::Pidfd => {}
                    Slot::Connector => connector = ready,
                    Slot::Listener(i) if ready.contains(PollFlags::POLLIN) => listeners.push(i),
                    Slot::Listener(_) => {}
                    Slot::Client(i) => flags[i][0] = ready,
                    Slot::Inner(i) => flags[i][1] = ready,
                    Slot::Probe(i) => probes[i] = ready,
                    Slot::Udp(key) if ready.contains(PollFlags::POLLIN) => udp.push(key),
                    Slot::Udp(_) => {}
                }
            }
            // Connections first (their poll results are in `flags`), then new ones.
            let mut keep = Vec::with_capacity(self.connections.len());
            let mut refused = Vec::new();
            for (mut c, [client, inner]) in std::mem::take(&mut self.connections).into_iter().zip(flags) {
                if c.step(client, inner, now) {
                    keep.push(c);
                } else {
                    refused.extend(c.refused_on());
                }
            }
            self.connections = keep;
            for index in refused {
                self.refused(index, now);
            }
            self.probes_done(probes, now);
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
            let polled = match socket {
                Bound::Tcp(listener) => listener.gate().is_open() && self.may_accept_tcp(),
                Bound::Udp(_) => true,
            };
            if polled {
                slots.push(Slot::Listener(index));
                interest.push((raw(socket), PollFlags::POLLIN));
            }
        }
        for (i, probe) in self.probes.iter().enumerate() {
            slots.push(Slot::Probe(i));
            interest.push((probe.socket.as_raw_fd(), PollFlags::POLLOUT));
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
                let waiting = pending.iter().filter(|p| matches!(p.waiter, Waiter::Tcp(..))).count();
                pending.len() < self.limits.pending && self.connections.len() + waiting < self.limits.connections
            }
            Source::Join => self.connections.len() < self.limits.connections,
            Source::Gone => true,
        }
    }

    /// The nearest reply, connect or probe deadline.
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
        let probes = self.probes.iter().map(|p| p.deadline).min();
        let gates = self.listeners.iter().filter_map(|(socket, _)| match socket {
            Bound::Tcp(listener) => listener.gate().deadline(),
            Bound::Udp(_) => None,
        });
        gates.chain(replies).chain(connects).chain(probes).min()
    }

    /// Fails the requests whose reply is late; they stay queued to absorb it.
    fn expire(&mut self, now: Instant) {
        let Source::Helper { pending, .. } = &mut self.source else {
            return;
        };
        let mut failed_probes = Vec::new();
        for p in pending.iter_mut().filter(|p| p.deadline <= now) {
            match std::mem::replace(&mut p.waiter, Waiter::Abandoned) {
                Waiter::Tcp(client, _) => tcp::reset(client),
                Waiter::Udp(key) => drop(self.udp.remove(&key)),
                Waiter::Probe(index) => failed_probes.push(index),
                Waiter::Abandoned => {}
            }
        }
        for index in failed_probes {
            self.probe_done(index, false, now);
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
                Waiter::Tcp(client, index) => match reply.into_socket(Protocol::Tcp) {
                    Ok(inner) => {
                        let deadline = now + self.limits.connect_timeout;
                        self.connections.push(Connection::new(client, inner, deadline, index));
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "no container-side socket for a published port");
                        tcp::reset(client);
                        if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                            self.refused(index, now);
                        }
                    }
                },
                Waiter::Probe(index) => match reply.into_socket(Protocol::Tcp) {
                    Ok(socket) => self.probes.push(Probe {
                        listener: index,
                        socket: TcpStream::from(socket),
                        deadline: now + self.limits.connect_timeout,
                    }),
                    Err(_) => self.probe_done(index, false, now),
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

    /// Stops using the connector: its socket closes, every waiting client is failed and no
    /// TCP port listens any more.
    fn connector_gone(&mut self) {
        if let Source::Helper { pending, .. } = std::mem::replace(&mut self.source, Source::Gone) {
            for request in pending {
                match request.waiter {
                    Waiter::Tcp(client, _) => tcp::reset(client),
                    Waiter::Udp(key) => drop(self.udp.remove(&key)),
                    Waiter::Probe(_) | Waiter::Abandoned => {}
                }
            }
        }
        let now = Instant::now();
        for (socket, _) in &mut self.listeners {
            if let Bound::Tcp(listener) = socket {
                let change = listener.gate_mut().shut();
                listener.apply(change, now);
            }
        }
    }

    /// Sends the probes that are due (see `gate.rs`).
    fn probe(&mut self, now: Instant) {
        let mut gone = false;
        for index in 0..self.listeners.len() {
            let (Bound::Tcp(listener), published) = &mut self.listeners[index] else {
                continue;
            };
            if !listener.gate().probe_due(now) {
                continue;
            }
            listener.gate_mut().probe_sent();
            let port = published.container_port;
            let sent = match &mut self.source {
                Source::Helper { pending, .. } if pending.len() >= self.limits.pending => false,
                Source::Helper { socket, pending } => match connector::request(socket, Protocol::Tcp, port) {
                    Ok(()) => {
                        pending.push_back(Pending {
                            waiter: Waiter::Probe(index),
                            deadline: now + self.limits.reply_timeout,
                        });
                        true
                    }
                    Err(e) => {
                        gone |= !would_block(&e);
                        false
                    }
                },
                Source::Join => match tcp::connect_nonblocking(tcp::loopback(port)) {
                    Ok(socket) => {
                        self.probes.push(Probe {
                            listener: index,
                            socket: TcpStream::from(socket),
                            deadline: now + self.limits.connect_timeout,
                        });
                        true
                    }
                    Err(_) => false,
                },
                Source::Gone => false,
            };
            if !sent {
                self.probe_done(index, false, now);
            }
        }
        if gone {
            self.connector_gone();
        }
    }

    /// Finishes the probes whose connect completed, failed or timed out; `flags` are their
    /// poll results.
    fn probes_done(&mut self, flags: Vec<PollFlags>, now: Instant) {
        let finished = PollFlags::POLLOUT | PollFlags::POLLERR | PollFlags::POLLHUP | PollFlags::POLLNVAL;
        for (probe, ready) in std::mem::take(&mut self.probes).into_iter().zip(flags) {
            let connected = if ready.intersects(finished) {
                // Connected: no pending error and a peer (a socket handed over unconnected
                // also polls writable).
                matches!(probe.socket.take_error(), Ok(None)) && probe.socket.peer_addr().is_ok()
            } else if now >= probe.deadline {
                false
            } else {
                self.probes.push(probe);
                continue;
            };
            let index = probe.listener;
            self.probe_done(index, connected, now);
            match &mut self.listeners[index].0 {
                // Kept for the first client (see `listener.rs`).
                Bound::Tcp(listener) if connected && listener.gate().is_open() => listener.park(probe.socket),
                _ => tcp::close_inner(probe.socket),
            }
        }
    }

    fn probe_done(&mut self, index: usize, connected: bool, now: Instant) {
        if let Bound::Tcp(listener) = &mut self.listeners[index].0 {
            let change = listener.gate_mut().probe_done(connected, now);
            listener.apply(change, now);
        }
    }

    /// A client's container-side connect on listener `index` was refused.
    fn refused(&mut self, index: usize, now: Instant) {
        let (Bound::Tcp(listener), published) = &mut self.listeners[index] else {
            return;
        };
        let change = listener.gate_mut().refused(now);
        if change != Change::Nothing {
            tracing::debug!(port = published.container_port, "nothing listens inside any more");
        }
        listener.apply(change, now);
    }

    /// Delivers, without waiting, what the inside already sent (see [`Connection::flush`]).
    fn flush(&mut self) {
        for c in &mut self.connections {
            c.flush();
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
            if !listener.gate().is_open() {
                return; // it stopped listening in this round
            }
            let client = match listener.accept() {
                Ok(client) => client,
                Err(e) if would_block(&e) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "accept on a published port");
                    return;
                }
            };
            if client.set_nonblocking(true).is_err() {
                tcp::reset(client);
                continue;
            }
            self.open_tcp(client, index, container_port, now);
        }
    }

    /// Starts the container side of a new TCP client.
    fn open_tcp(&mut self, client: TcpStream, index: usize, port: u16, now: Instant) {
        if let Bound::Tcp(listener) = &mut self.listeners[index].0
            && let Some(inner) = listener.take_parked()
        {
            let deadline = now + self.limits.connect_timeout;
            self.connections
                .push(Connection::new(client, OwnedFd::from(inner), deadline, index));
            return;
        }
        match &mut self.source {
            Source::Helper { socket, pending } => match connector::request(socket, Protocol::Tcp, port) {
                Ok(()) => pending.push_back(Pending {
                    waiter: Waiter::Tcp(client, index),
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
                    self.connections.push(Connection::new(client, inner, deadline, index));
                }
                Err(e) => {
                    tcp::reset(client);
                    if e.raw_os_error() == Some(libc::ECONNREFUSED) {
                        self.refused(index, now);
                    }
                }
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

impl Drop for Relay {
    /// Clients still waiting for the connector are reset, not closed: nothing answered them.
    fn drop(&mut self) {
        if let Source::Helper { pending, .. } = &mut self.source {
            for request in pending.drain(..) {
                if let Waiter::Tcp(client, _) = request.waiter {
                    tcp::reset(client);
                }
            }
        }
    }
}

fn raw(bound: &Bound) -> RawFd {
    match bound {
        Bound::Tcp(l) => l.as_fd().as_raw_fd(),
        Bound::Udp(u) => u.as_raw_fd(),
    }
}
