//! Waiting for a TCP port to accept a connection end to end.
//!
//! A published port is the forwarder's to tell: its host socket listens only once a connect to
//! the container port succeeded inside, through the same connector a client's connection takes
//! (docs/ports.md), so the wait polls that state and makes no connection of its own (a server
//! that serves one connection serves the fixture's client, not the wait). A port that is not
//! published is tried from a thread that joins the container's network namespace for the try
//! (network namespaces are per thread), a connect that is neither refused, nor reset, nor
//! closed within a short grace; with the host's network, on the host's loopback.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use super::{Waiting, exited};
use crate::container::Container;
use crate::error::{Error, NotReadyReason, Result};
use crate::net::{NetnsRef, Network, Protocol, PublishedPort};

/// How long a fresh connection must stay open, silent or answering, to count.
const GRACE: Duration = Duration::from_millis(100);
/// The longest single connect attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where to connect from.
enum Route {
    /// The forwarder of this published port: its state, no connection.
    Forwarder(PublishedPort),
    /// From this thread (a published port, or the host's network).
    Here(Vec<SocketAddr>),
    /// From a thread in this network namespace.
    Netns(OwnedFd, Vec<SocketAddr>),
}

pub(super) fn wait(c: &mut Container, port: u16, interval: Duration, waiting: &mut Waiting) -> Result<()> {
    let route = route(c, port)?;
    loop {
        if let Some(status) = exited(c)? {
            return Err(waiting.fail(NotReadyReason::Exited(status)));
        }
        let limit = waiting.left().min(CONNECT_TIMEOUT).max(Duration::from_millis(1));
        let tried = match &route {
            Route::Forwarder(published) if c.port_accepting(published) => Ok(()),
            Route::Forwarder(published) => Err(Try::NotYet(format!(
                "{}: refused (the forwarder's connect to container port {} has not succeeded: nothing listens inside yet)",
                published.host, published.container_port
            ))),
            Route::Here(addrs) => try_all(addrs, limit),
            Route::Netns(netns, addrs) => std::thread::scope(|s| {
                s.spawn(|| {
                    nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| Try::Unusable(e.into()))?;
                    try_all(addrs, limit)
                })
                .join()
                .unwrap_or_else(|_| Err(Try::NotYet("the probe thread panicked".into())))
            }),
        };
        match tried {
            Ok(()) => return Ok(()),
            Err(Try::NotYet(seen)) => waiting.saw(seen),
            Err(Try::Unusable(e)) => {
                let why = match e.raw_os_error() {
                    Some(libc::EPERM) => {
                        "joining the container's network namespace needs CAP_SYS_ADMIN: publish the port, or wait with Ready::exec".to_string()
                    }
                    _ => format!("cannot join the container's network namespace: {e}"),
                };
                return Err(waiting.fail(NotReadyReason::Unobservable(why)));
            }
        }
        if waiting.timed_out() {
            return Err(waiting.fail(NotReadyReason::TimedOut));
        }
        waiting.pause(interval);
    }
}

/// The addresses to try for the container's `port`, and from where.
fn route(c: &Container, port: u16) -> Result<Route> {
    if let Some(published) = c
        .ports()
        .into_iter()
        .find(|p| p.protocol == Protocol::Tcp && p.container_port == port)
    {
        return Ok(Route::Forwarder(published));
    }
    let loopback = vec![
        SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
    ];
    let network = c.exec_parts().0.map(|config| config.network().clone());
    let open = |path: &std::path::Path| {
        std::fs::File::open(path)
            .map(OwnedFd::from)
            .map_err(|e| Error::io(format!("open {}", path.display()), e))
    };
    let netns = match network {
        Some(Network::Host) => return Ok(Route::Here(loopback)),
        Some(Network::Join(NetnsRef::Path(path))) => open(&path)?,
        Some(Network::Join(NetnsRef::Fd(fd))) => fd
            .try_clone()
            .map_err(|e| Error::io("duplicate the network namespace fd", e))?,
        Some(Network::None) | None => open(format!("/proc/{}/ns/net", c.pid()).as_ref())?,
    };
    // The pid could have been reused if the container had exited before the open.
    if c.has_exited() {
        return Err(Error::NotRunning { id: c.id().to_string() });
    }
    Ok(Route::Netns(netns, loopback))
}

enum Try {
    /// Not ready; what was seen.
    NotYet(String),
    /// The try itself cannot be made.
    Unusable(io::Error),
}

fn try_all(addrs: &[SocketAddr], limit: Duration) -> Result<(), Try> {
    let mut seen = Vec::new();
    for addr in addrs {
        match try_one(addr, limit) {
            Ok(()) => return Ok(()),
            Err(why) => seen.push(format!("{addr}: {why}")),
        }
    }
    Err(Try::NotYet(seen.join("; ")))
}

fn try_one(addr: &SocketAddr, limit: Duration) -> Result<(), String> {
    let stream = TcpStream::connect_timeout(addr, limit).map_err(|e| describe(&e))?;
    stream.set_read_timeout(Some(GRACE)).map_err(|e| describe(&e))?;
    let mut byte = [0u8; 1];
    match stream.peek(&mut byte) {
        Ok(0) => Err("connection closed at once".into()),
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => Ok(()),
        Err(e) => Err(describe(&e)),
    }
}

fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "connect timed out".into(),
        _ => e.to_string(),
    }
}
