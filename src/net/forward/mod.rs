//! The port forwarder: listeners bound in the caller's network namespace before the clone, and
//! one thread per container that relays every connection (TCP) or client (UDP) in a single poll
//! loop. The container side of each is a socket made in the container's network namespace by
//! its connector process (`nsbox-connect`, see src/pid1/nsbox_init.rs), or, for a container
//! without an init, by the thread itself after joining the namespace (which needs root).
//!
//! Trust: the thread runs in the caller's process, but everything it reads from the connector
//! socket and from container-side sockets is the payload's to choose (it may have taken over
//! the connector). So nothing it does waits on the container: the connector socket is one more
//! fd in the poll set, replies are matched to requests in order and each has a deadline, every
//! received fd is checked before use and closed on every path, every read and write is
//! `MSG_DONTWAIT` (a container holding a duplicate could clear `O_NONBLOCK`), and what one
//! container may make the caller hold is capped by [`Limits`]. The loop ends when the container
//! exits (its pidfd) or the handle stops, and dropping it closes everything it holds.

mod connector;
mod gate;
mod listener;
mod relay;
mod tcp;
#[cfg(test)]
mod tests;

use std::io;
use std::net::UdpSocket;
use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

pub(crate) use connector::Connector;

use super::port::{Port, Protocol, PublishedPort};
use crate::error::{Error, Result};
use listener::HostListener;
use relay::Relay;

/// Relayed TCP connections per container at once, counting those still waiting for the
/// connector. Each holds two fds and up to 2 x 64 KiB of buffers: at most 2048 fds and 128 MiB.
pub(crate) const MAX_CONNECTIONS: usize = 1024;
/// Requests sent to the connector and not yet answered. The honest connector answers at once
/// (a socket and a non-blocking connect), so this is only reached when it stalls: a paused
/// container or a hostile one. Requests that timed out still count until their late reply is
/// read and discarded, which keeps the in-order matching of replies to requests.
pub(crate) const MAX_PENDING: usize = 64;
/// How long a request may wait for its reply before its host client is reset.
pub(crate) const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a container-side TCP connect may stay in progress before its client is reset.
/// Connects on the container's loopback complete or are refused at once unless the payload
/// drops packets.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The bounds of one container's forwarder (the constants above; tests shorten the timeouts).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// See [`MAX_CONNECTIONS`].
    pub connections: usize,
    /// See [`MAX_PENDING`].
    pub pending: usize,
    /// See [`REPLY_TIMEOUT`].
    pub reply_timeout: Duration,
    /// See [`CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        connections: MAX_CONNECTIONS,
        pending: MAX_PENDING,
        reply_timeout: REPLY_TIMEOUT,
        connect_timeout: CONNECT_TIMEOUT,
    };
}

/// The host-side sockets, bound before the container starts so that a taken port fails the
/// spawn and port 0 is known. TCP ones listen only while something listens inside (see
/// `gate.rs`).
#[derive(Debug)]
pub(crate) struct Listeners {
    bound: Vec<(Bound, PublishedPort)>,
}

#[derive(Debug)]
enum Bound {
    Tcp(HostListener),
    Udp(UdpSocket),
}

impl Listeners {
    pub fn bind(ports: &[Port]) -> Result<Listeners> {
        let mut bound = Vec::new();
        for port in ports {
            let fail = |e: io::Error| Error::io(format!("publish {:?} port {}", port.protocol, port.host), e);
            let socket = match port.protocol {
                Protocol::Tcp => Bound::Tcp(HostListener::bind(port.host).map_err(fail)?),
                Protocol::Udp => {
                    let socket = UdpSocket::bind(port.host).map_err(fail)?;
                    socket.set_nonblocking(true).map_err(fail)?;
                    Bound::Udp(socket)
                }
            };
            let host = match &socket {
                Bound::Tcp(l) => l.local_addr(),
                Bound::Udp(u) => u.local_addr(),
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

    /// Per port, the flag the forwarder keeps true while the host side listens (TCP only).
    fn open_flags(&self) -> Vec<Option<Arc<AtomicBool>>> {
        self.bound
            .iter()
            .map(|(socket, _)| match socket {
                Bound::Tcp(l) => Some(l.open_flag()),
                Bound::Udp(_) => None,
            })
            .collect()
    }
}

/// A running forwarder; stopping (or dropping) it closes every socket and joins the thread.
#[derive(Debug)]
pub(crate) struct Forwarder {
    ports: Vec<PublishedPort>,
    open: Vec<Option<Arc<AtomicBool>>>,
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl Forwarder {
    /// Starts relaying through `connector`; the loop also ends when the process behind `pidfd`
    /// exits.
    pub fn start(listeners: Listeners, connector: Connector, pidfd: OwnedFd) -> Result<Forwarder> {
        Forwarder::start_with(listeners, connector, pidfd, Limits::DEFAULT)
    }

    /// [`start`](Forwarder::start) with other bounds.
    pub(crate) fn start_with(
        listeners: Listeners,
        connector: Connector,
        pidfd: OwnedFd,
        limits: Limits,
    ) -> Result<Forwarder> {
        let ports = listeners.published();
        let open = listeners.open_flags();
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
                Relay::new(listeners.bound, connector, stop_r, pidfd, limits).run();
            })
            .map_err(|e| Error::io("start the port forwarder thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Forwarder {
                ports,
                open,
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

    /// Whether the host side of `port` takes connections now: a TCP port while it listens, a
    /// UDP port always (it has no listening state); false for a port not published here.
    pub fn accepting(&self, port: &PublishedPort) -> bool {
        let running = self.thread.as_ref().is_some_and(|t| !t.is_finished());
        self.ports
            .iter()
            .zip(&self.open)
            .find(|(p, _)| *p == port)
            .is_some_and(|(_, open)| running && open.as_ref().is_none_or(|o| o.load(Ordering::Acquire)))
    }

    /// Closes every listener and connection and waits for the thread, which never blocks on
    /// the container, so this returns promptly.
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
