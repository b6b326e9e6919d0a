//! Host network devices moved into a container's network namespace
//! ([`ContainerBuilder::move_network_device`]): the runtime spec's `linux.netDevices`
//! (runtime-spec 1.2.1, runc 1.3).
//!
//! The caller does it, between clone and the byte that releases the container's setup: with
//! rtnetlink, it lists the device's permanent addresses of global scope, moves and renames it
//! in one `RTM_NEWLINK` (`IFLA_NET_NS_FD`, `IFLA_IFNAME`; the kernel renames it once it is in
//! the new namespace, so a `%d` template works there), brings it up and adds the addresses
//! again (a move drops them), as the runtime spec says. Its replies come from the container's
//! namespace through a netlink socket a short-lived thread opened there (namespaces are per
//! thread: the caller's own threads never change theirs).
//!
//! Never moved back: a device leaves the container's namespace when that namespace is freed
//! (its last process gone), and then the kernel moves a physical device to the *initial*
//! network namespace (not the caller's, if it has another) under its name in the container
//! (`dev%d` if that name is taken there), and destroys a virtual one (veth, dummy, macvlan…),
//! as `network_namespaces(7)` and the runtime spec say. So also when a spawn fails after some
//! devices moved: they go as the container's namespace goes.

use std::os::fd::OwnedFd;

use crate::builder::ContainerBuilder;
use crate::error::{ConfigError, Error, Result, Setting, SetupError, SetupStep};
use crate::namespaces::Namespaces;
use crate::net::Network;
use crate::net::netlink::Route;

/// The longest interface name (`IFNAMSIZ` less its NUL).
const MAX_NAME: usize = 15;

/// One device to move: its name on the host and in the container.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct NetDevice {
    pub host: String,
    pub name: String,
}

impl ContainerBuilder {
    /// Moves the network device `host_name` of the caller's network namespace into the
    /// container's own, named `container_name` there (the same name, or a template with one
    /// `%d` the kernel fills in), up, with its permanent addresses of global scope: the
    /// runtime spec's `linux.netDevices`, as runc 1.3 does it. For a device the orchestrator
    /// prepared for the container (an SR-IOV function, a macvlan, one end of a veth pair).
    ///
    /// The caller moves it after clone, before the container's setup goes on (so before
    /// [`on_created`](Self::on_created) hooks), which needs `CAP_NET_ADMIN` over both
    /// namespaces. A device that does not exist fails the spawn with a
    /// [`SetupError`](crate::SetupError) at [`SetupStep::NetworkDevice`] naming it
    /// (`ENODEV`), a name the container's namespace already has with `EEXIST`.
    ///
    /// It is never moved back: when the container's network namespace is freed, the kernel
    /// moves a physical device to the initial network namespace (under its name in the
    /// container) and **destroys a virtual one** (veth, dummy, macvlan). That also holds for
    /// devices already moved when a later one fails the spawn.
    ///
    /// Needs the container's own network namespace ([`Network::None`]); `build()` refuses it
    /// with the host's or a joined one, a name that is not an interface name (1 to 15 bytes,
    /// no `/`, `:`, whitespace, not `.` or `..`) and a device or container name given twice.
    ///
    /// ```no_run
    /// let container = nsbox::Container::builder()
    ///     .move_network_device("veth-c1", "eth0")
    ///     .command("/sbin/ip")
    ///     .args(["addr", "show", "eth0"])
    ///     .spawn()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn move_network_device(
        &mut self,
        host_name: impl Into<String>,
        container_name: impl Into<String>,
    ) -> &mut Self {
        self.settings.net_devices.push(NetDevice {
            host: host_name.into(),
            name: container_name.into(),
        });
        self
    }
}

/// `build()`'s checks: the container's own network namespace, interface names, each device
/// and each name once.
pub(crate) fn check(devices: &[NetDevice], namespaces: Namespaces, network: &Network) -> Result<(), ConfigError> {
    if devices.is_empty() {
        return Ok(());
    }
    if !matches!(network, Network::None) || !namespaces.contains(Namespaces::NET) {
        return Err(ConfigError::NeedsNamespace {
            setting: Setting::NetworkDevice,
            namespace: Namespaces::NET,
        });
    }
    let malformed = |value: &str, expected| ConfigError::Malformed {
        setting: Setting::NetworkDevice,
        value: value.to_owned(),
        expected,
    };
    for (i, device) in devices.iter().enumerate() {
        if !is_interface_name(&device.host) || device.host.contains('%') {
            return Err(malformed(
                &device.host,
                "a host interface name: 1 to 15 bytes, no '/', ':', '%' or whitespace",
            ));
        }
        let templates = device.name.matches('%').count();
        if !is_interface_name(&device.name) || templates > 1 || (templates == 1 && !device.name.contains("%d")) {
            return Err(malformed(
                &device.name,
                "an interface name: 1 to 15 bytes, no '/', ':' or whitespace, at most one '%d'",
            ));
        }
        let earlier = &devices[..i];
        let twice = earlier.iter().any(|d| d.host == device.host)
            || (templates == 0 && earlier.iter().any(|d| d.name == device.name));
        if twice {
            return Err(ConfigError::Conflict {
                setting: Setting::NetworkDevice,
                with: Setting::NetworkDevice,
                why: "each host device moves once, and two devices cannot take one name",
            });
        }
    }
    Ok(())
}

/// What the kernel takes as a device name (`dev_valid_name`).
fn is_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
}

/// Moves `devices` from the calling thread's network namespace into that of process `pid`
/// (the container's first process, parked before its setup), in order; the first failure is
/// a [`SetupError`] naming the device.
pub(crate) fn move_into(devices: &[NetDevice], pid: u32) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let path = format!("/proc/{pid}/ns/net");
    let netns: OwnedFd = std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(format!("open {path}"), e))?;
    let mut host = Route::open().map_err(|e| Error::io("open a netlink socket", e))?;
    let mut inside = route_in(&netns)?;
    for device in devices {
        move_one(&mut host, &mut inside, &netns, device).map_err(|e| {
            let errno = crate::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
            Error::from(SetupError::new(
                SetupStep::NetworkDevice,
                Some(device.host.clone().into()),
                errno,
            ))
        })?;
    }
    Ok(())
}

fn move_one(host: &mut Route, inside: &mut Route, netns: &OwnedFd, device: &NetDevice) -> std::io::Result<()> {
    let index = host.link_index(&device.host)?;
    let addresses = host.permanent_addresses(index)?;
    let before = inside.links()?;
    // The runtime spec: a name the container's namespace has is an error (the kernel would
    // move the device and then fail to rename it).
    if !device.name.contains('%') && before.iter().any(|(_, name)| name == device.name.as_bytes()) {
        return Err(std::io::Error::from_raw_os_error(libc::EEXIST));
    }
    host.move_link(index, &device.name, netns)?;
    // Its index there: the kernel keeps the host's unless the namespace has it, and a
    // template's name is the kernel's choice; the one link that is new.
    let after = inside.links()?;
    let moved = after
        .iter()
        .find(|(i, _)| !before.iter().any(|(b, _)| b == i))
        .map(|(i, _)| *i)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ENODEV))?;
    inside.link_up(moved)?;
    for address in &addresses {
        inside.add_address(moved, address)?;
    }
    Ok(())
}

/// A netlink socket in the network namespace behind `netns`, opened by a thread that joins
/// it and ends: the caller's threads stay in their own namespaces.
fn route_in(netns: &OwnedFd) -> Result<Route> {
    let context = "open a netlink socket in the container's network namespace";
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("nsbox-netdev".into())
            .spawn_scoped(scope, || {
                nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::io("join the container's network namespace", e))?;
                Route::open().map_err(|e| Error::io(context, e))
            })
            .map_err(|e| Error::io(context, e))?;
        thread
            .join()
            .unwrap_or_else(|_| Err(Error::io(context, std::io::Error::other("the thread panicked"))))
    })
}
