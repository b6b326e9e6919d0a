//! Container networking: which network namespace a container gets and which of its ports are
//! published on the host.
//!
//! Published ports need neither iptables nor a bridge: nsbox listens on the host address and,
//! per connection, connects to the port inside the container's network namespace from a
//! forwarder thread that joined that namespace (network namespaces are per thread). One thread
//! per container with published ports, one poll loop over all its connections.

mod devices;
mod forward;
mod netlink;
mod port;

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use devices::NetDevice;
pub(crate) use devices::{check as check_devices, move_into as move_devices};
pub(crate) use forward::{Connector, Forwarder, Listeners};
pub use port::{Port, Protocol, PublishedPort};

/// Which network a container gets.
///
/// ```
/// use nsbox::{Container, Network, Port};
/// let mut b = Container::builder();
/// b.network(Network::None).publish(Port::tcp(0, 80)); // own netns, lo up; host port picked
/// ```
#[derive(Debug, Clone, Default)]
pub enum Network {
    /// Its own network namespace with only the loopback interface, up (the default).
    #[default]
    None,
    /// The host's network namespace (no isolation).
    Host,
    /// An existing network namespace: a path such as `/proc/<pid>/ns/net` or
    /// `/run/netns/<name>`, or an open fd of one.
    Join(NetnsRef),
}

/// A network namespace to join.
#[derive(Debug, Clone)]
pub enum NetnsRef {
    /// A path to the namespace file.
    Path(PathBuf),
    /// An open fd of the namespace file.
    Fd(Arc<OwnedFd>),
}

impl Network {
    /// Joins the network namespace at `path` (e.g. another container's `/proc/<pid>/ns/net`).
    pub fn join_path(path: impl Into<PathBuf>) -> Self {
        Network::Join(NetnsRef::Path(path.into()))
    }

    /// Joins the network namespace behind an open fd.
    pub fn join_fd(fd: impl Into<OwnedFd>) -> Self {
        Network::Join(NetnsRef::Fd(Arc::new(fd.into())))
    }
}
