//! `linux.netDevices` (runtime-spec 1.2.1, runc 1.3): host network devices moved into the
//! container's network namespace (`ContainerBuilder::move_network_device`), renamed to
//! `name` when given, up, with their permanent addresses of global scope.

use nsbox::{ContainerBuilder, Namespaces};
use oci_spec::runtime::Linux;

use crate::error::{Result, invalid};

/// Each device, by its host name (sorted: the bundle's object has no order); `namespaces` are
/// the ones the bundle creates, which must hold a network namespace (not one joined by path:
/// the runtime spec moves devices into the container's own).
pub(crate) fn map(b: &mut ContainerBuilder, linux: &Linux, namespaces: Namespaces) -> Result<()> {
    let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) else {
        return Ok(());
    };
    if !namespaces.contains(Namespaces::NET) {
        return Err(invalid(
            "linux.netDevices",
            "needs a network namespace of the container's own (a `network` entry without a path in linux.namespaces)",
        ));
    }
    let mut sorted: Vec<_> = devices.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (host, device) in sorted {
        let name = device.name().as_deref().filter(|n| !n.is_empty()).unwrap_or(host);
        b.move_network_device(host.as_str(), name);
    }
    Ok(())
}
