//! `linux`: namespaces, id maps, hostname, masked and read-only paths, and the
//! fields nsbox has no setting for.

use std::collections::BTreeMap;

use nsbox::{ClockOffset, ContainerBuilder, IdMap, Namespaces, Network, Personality};
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, LinuxPersonalityDomain, Spec};

use crate::error::{Result, invalid, unsupported};
use crate::options::Options;

/// `linux.namespaces`: the set to create; a user, network, IPC, UTS, cgroup, PID or time
/// namespace may be joined by path. Returns the namespaces created (the joined ones are not).
pub(crate) fn namespaces(b: &mut ContainerBuilder, linux: &Linux) -> Result<Namespaces> {
    let mut set = Namespaces::empty();
    let mut joined = Namespaces::empty();
    let mut network = Network::Host;
    for (i, ns) in linux.namespaces().as_deref().unwrap_or_default().iter().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        let bit = match ns.typ() {
            LinuxNamespaceType::Mount => Namespaces::MOUNT,
            LinuxNamespaceType::Cgroup => Namespaces::CGROUP,
            LinuxNamespaceType::Uts => Namespaces::UTS,
            LinuxNamespaceType::Ipc => Namespaces::IPC,
            LinuxNamespaceType::User => Namespaces::USER,
            LinuxNamespaceType::Pid => Namespaces::PID,
            LinuxNamespaceType::Network => Namespaces::NET,
            LinuxNamespaceType::Time => Namespaces::TIME,
        };
        if set.contains(bit) || joined.contains(bit) {
            return Err(invalid(field, format!("{bit:?} namespace given twice")));
        }
        match (ns.path(), bit) {
            (Some(path), Namespaces::NET) => {
                network = Network::join_path(path);
                joined.insert(bit);
            }
            (Some(path), bit) if nsbox::JOINABLE_NAMESPACES.contains(bit) => {
                b.join_namespace(bit, path);
                joined.insert(bit);
            }
            (Some(_), _) => {
                return Err(unsupported(
                    format!("{field}.path"),
                    "nsbox does not join a mount namespace: it builds the container's root in a fresh one, and \
                     in a joined one its mounts and pivot_root would change a mount table other processes use",
                ));
            }
            (None, Namespaces::NET) => {
                network = Network::None;
                set.insert(bit);
            }
            (None, bit) => set.insert(bit),
        }
    }
    if !set.contains(Namespaces::MOUNT) {
        return Err(unsupported(
            "linux.namespaces",
            "no mount namespace: nsbox needs one for the bundle's root",
        ));
    }
    b.namespaces(set).network(network);
    Ok(set)
}

/// The path of the user namespace `linux.namespaces` joins, if it joins one.
fn joined_user_namespace(linux: &Linux) -> Option<&std::path::Path> {
    linux
        .namespaces()
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|ns| ns.typ() == LinuxNamespaceType::User)
        .and_then(|ns| ns.path().as_deref())
}

/// Id maps, hostname, domain name and sysctls (what belongs to the namespaces created), and
/// the personality.
pub(crate) fn identity(
    b: &mut ContainerBuilder,
    spec: &Spec,
    linux: &Linux,
    ns: Namespaces,
    options: &Options,
) -> Result<()> {
    let maps = |list: &Option<Vec<LinuxIdMapping>>| -> Vec<IdMap> {
        list.iter()
            .flatten()
            .map(|m| IdMap::new(m.container_id(), m.host_id(), m.size()))
            .collect()
    };
    let (uid, gid) = (maps(linux.uid_mappings()), maps(linux.gid_mappings()));
    if let Some(path) = joined_user_namespace(linux) {
        // containerd's CRI and CRI-O give a pod's containers the sandbox's user namespace by
        // path and its mappings too; runc accepts both when the mappings are the namespace's
        // (with a warning) and fails otherwise. nsbox does the same, without the warning: the
        // namespace's own maps are used, none are written.
        if !uid.is_empty() || !gid.is_empty() {
            let (own_uid, own_gid) = nsbox::user_namespace_maps(path).map_err(|e| {
                invalid(
                    "linux.uidMappings",
                    format!("cannot compare with the joined user namespace's: {e}"),
                )
            })?;
            if own_uid != uid || own_gid != gid {
                return Err(invalid(
                    "linux.uidMappings",
                    format!(
                        "the mappings differ from those of the joined user namespace {} (give none, or its own)",
                        path.display()
                    ),
                ));
            }
        }
    } else if ns.contains(Namespaces::USER) {
        if uid.is_empty() || gid.is_empty() {
            return Err(invalid(
                "linux.uidMappings",
                "a user namespace needs both uidMappings and gidMappings",
            ));
        }
        b.uid_map(uid).gid_map(gid);
    } else if !uid.is_empty() || !gid.is_empty() {
        return Err(invalid("linux.uidMappings", "id mappings without a user namespace"));
    }
    let hostname = spec.hostname().as_deref().unwrap_or_default();
    // A `kernel.hostname` sysctl names the host itself (nsbox's build() makes it the hostname).
    let by_sysctl = linux
        .sysctl()
        .as_ref()
        .is_some_and(|s| s.contains_key("kernel.hostname"));
    if ns.contains(Namespaces::UTS) {
        // runc leaves the name the new namespace starts with (the host's) when none is given;
        // nsbox would use the container id.
        if !hostname.is_empty() {
            b.hostname(hostname);
        } else if !by_sysctl {
            b.hostname(&options.hostname);
        }
    } else if !hostname.is_empty() {
        return Err(invalid("hostname", "needs a UTS namespace of the container's own"));
    }
    if let Some(domainname) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        if !ns.contains(Namespaces::UTS) {
            return Err(invalid("domainname", "needs a UTS namespace of the container's own"));
        }
        b.domainname(domainname);
    }
    // Sorted: the file's order is lost in oci-spec's map, and a plan should not depend on it.
    // What is not namespaced, or not in a namespace of the container's, build() refuses.
    let sysctls: BTreeMap<&String, &String> = linux.sysctl().iter().flatten().collect();
    for (name, value) in sysctls {
        b.sysctl(name, value);
    }
    if let Some(persona) = linux.personality() {
        if persona.flags().as_ref().is_some_and(|f| !f.is_empty()) {
            return Err(unsupported(
                "linux.personality.flags",
                "nsbox sets no personality flags",
            ));
        }
        b.personality(match persona.domain() {
            LinuxPersonalityDomain::PerLinux => Personality::Linux,
            LinuxPersonalityDomain::PerLinux32 => Personality::Linux32,
        });
    }
    Ok(())
}

/// `linux.timeOffsets`: the clock offsets of the container's new time namespace (`ns`, the
/// namespaces created, must have one: runc refuses them otherwise too).
pub(crate) fn time_offsets(b: &mut ContainerBuilder, linux: &Linux, ns: Namespaces) -> Result<()> {
    let Some(offsets) = linux.time_offsets().as_ref().filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    if !ns.contains(Namespaces::TIME) {
        return Err(invalid(
            "linux.timeOffsets",
            "needs a new time namespace (linux.namespaces type time, without a path)",
        ));
    }
    let (mut monotonic, mut boottime) = (ClockOffset::default(), ClockOffset::default());
    // Sorted, so an error names the same clock whatever the map's order.
    let sorted: BTreeMap<&String, _> = offsets.iter().collect();
    for (clock, offset) in sorted {
        let slot = match clock.as_str() {
            "monotonic" => &mut monotonic,
            "boottime" => &mut boottime,
            _ => {
                return Err(invalid(
                    format!("linux.timeOffsets.{clock}"),
                    "a clock of a time namespace: monotonic or boottime",
                ));
            }
        };
        *slot = ClockOffset {
            secs: offset.secs().unwrap_or(0),
            nanos: offset.nanosecs().unwrap_or(0),
        };
    }
    b.time_offsets(monotonic, boottime);
    Ok(())
}

/// The paths nsbox masks by default (Docker's list, `nsbox::ContainerBuilder::DEFAULT_MASKED_PATHS`).
/// A bundle's `linux.maskedPaths` is taken exactly; this list is for engines writing bundles.
pub const NSBOX_MASKED_PATHS: [&str; 12] = ContainerBuilder::DEFAULT_MASKED_PATHS;

/// The paths nsbox makes read-only by default (`nsbox::ContainerBuilder::DEFAULT_READ_ONLY_PATHS`).
/// A bundle's `linux.readonlyPaths` is taken exactly.
pub const NSBOX_READONLY_PATHS: [&str; 5] = ContainerBuilder::DEFAULT_READ_ONLY_PATHS;

/// Fields nsbox has no setting for: refused whenever given.
pub(crate) fn rest(linux: &Linux) -> Result<()> {
    let given = [(
        "linux.mountLabel",
        linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()),
    )];
    for (field, given) in given {
        if given {
            return Err(unsupported(field, "nsbox has no such setting"));
        }
    }
    Ok(())
}
