//! A port published from a container on the host.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// A stream forwarded connection by connection.
    Tcp,
    /// Datagrams forwarded per client address.
    Udp,
}

/// A container port to publish on the host: host `host_ip:host_port` forwards to the
/// container's `127.0.0.1:container_port`.
///
/// ```
/// use nsbox::Port;
/// let web = Port::tcp(8080, 80);                      // 127.0.0.1:8080 -> :80
/// let any = Port::tcp(0, 80).host_ip([0, 0, 0, 0]);    // a free port on every address
/// # let _ = (web, any);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Port {
    pub(crate) protocol: Protocol,
    pub(crate) host: SocketAddr,
    pub(crate) container_port: u16,
}

impl Port {
    /// TCP `host_port` (0: a free one, see [`Container::ports`](crate::Container::ports)) to
    /// `container_port`, on 127.0.0.1.
    pub fn tcp(host_port: u16, container_port: u16) -> Self {
        Port {
            protocol: Protocol::Tcp,
            host: (Ipv4Addr::LOCALHOST, host_port).into(),
            container_port,
        }
    }

    /// UDP `host_port` to `container_port`, on 127.0.0.1.
    pub fn udp(host_port: u16, container_port: u16) -> Self {
        Port {
            protocol: Protocol::Udp,
            host: (Ipv4Addr::LOCALHOST, host_port).into(),
            container_port,
        }
    }

    /// The port inside the container.
    pub fn container_port(&self) -> u16 {
        self.container_port
    }

    /// Listens on `ip` instead of 127.0.0.1.
    pub fn host_ip(mut self, ip: impl Into<IpAddr>) -> Self {
        self.host.set_ip(ip.into());
        self
    }
}

/// A port as published: the host address actually bound (the port filled in when 0 was asked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublishedPort {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Where the host side listens.
    pub host: SocketAddr,
    /// The port inside the container.
    pub container_port: u16,
}
