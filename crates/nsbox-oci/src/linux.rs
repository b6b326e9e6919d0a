//! `linux`: namespaces, id maps, hostname, masked and read-only paths, and the
//! fields nsbox has no setting for.

use std::collections::BTreeSet;

use nsbox::{ContainerBuilder, IdMap, Namespaces, Network};
use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, LinuxPersonalityDomain, Spec};

use crate::error::{Result, invalid, unsupported};
use crate::options::Options;

/// `linux.namespaces`: the set to create; a network namespace may be joined by path.
pub(crate) fn namespaces(b: &mut ContainerBuilder, linux: &Linux) -> Result<Namespaces> {
    let mut set = Namespaces::empty();
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
        if set.contains(bit) {
            return Err(invalid(field, format!("{bit:?} namespace given twice")));
        }
        set.insert(bit);
        match (ns.path(), bit == Namespaces::NET) {
            (Some(path), true) => network = Network::join_path(path),
            (Some(_), false) => {
                return Err(unsupported(
                    format!("{field}.path"),
                    format!("nsbox joins only a network namespace by path, not a {bit:?} one"),
                ));
            }
            (None, true) => network = Network::None,
            (None, false) => {}
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

/// Id maps, hostname and domain name.
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
    if ns.contains(Namespaces::USER) {
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
    if ns.contains(Namespaces::UTS) {
        // runc leaves the name the new namespace starts with (the host's) when none is given;
        // nsbox would use the container id.
        b.hostname(if hostname.is_empty() {
            &options.hostname
        } else {
            hostname
        });
    } else if !hostname.is_empty() {
        return Err(invalid("hostname", "needs a UTS namespace"));
    }
    if spec.domainname().as_deref().is_some_and(|d| !d.is_empty()) {
        return Err(unsupported("domainname", "nsbox cannot set the NIS domain name"));
    }
    Ok(())
}

/// The paths nsbox masks after pivot_root (Docker's list; `MASKED` in nsbox's
/// src/plan/rootfs/mod.rs): a bundle's `linux.maskedPaths` must be this set.
pub const NSBOX_MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The paths nsbox makes read-only (`READ_ONLY` in nsbox's src/plan/rootfs/mod.rs): a bundle's
/// `linux.readonlyPaths` must be this set.
pub const NSBOX_READONLY_PATHS: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// `linux.maskedPaths` and `linux.readonlyPaths`: nsbox has fixed lists, so the bundle's must
/// be those lists (in any order).
pub(crate) fn paths(linux: &Linux) -> Result<()> {
    let check = |field: &str, given: &Option<Vec<String>>, fixed: &[&str]| -> Result<()> {
        let given: BTreeSet<&str> = given.iter().flatten().map(String::as_str).collect();
        let fixed: BTreeSet<&str> = fixed.iter().copied().collect();
        if given == fixed {
            return Ok(());
        }
        let extra: Vec<_> = given.difference(&fixed).collect();
        let missing: Vec<_> = fixed.difference(&given).collect();
        Err(unsupported(
            field,
            format!("nsbox applies a fixed list; the bundle adds {extra:?} and leaves out {missing:?}"),
        ))
    };
    check("linux.maskedPaths", linux.masked_paths(), &NSBOX_MASKED_PATHS)?;
    check("linux.readonlyPaths", linux.readonly_paths(), &NSBOX_READONLY_PATHS)
}

/// Fields nsbox has no setting for: refused whenever given.
pub(crate) fn rest(linux: &Linux) -> Result<()> {
    let given = [
        (
            "linux.netDevices",
            linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()),
        ),
        ("linux.sysctl", linux.sysctl().as_ref().is_some_and(|s| !s.is_empty())),
        (
            "linux.mountLabel",
            linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()),
        ),
        ("linux.intelRdt", linux.intel_rdt().is_some()),
        ("linux.memoryPolicy", linux.memory_policy().is_some()),
        (
            "linux.timeOffsets",
            linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()),
        ),
    ];
    for (field, given) in given {
        if given {
            return Err(unsupported(field, "nsbox has no such setting"));
        }
    }
    match linux.rootfs_propagation().as_deref() {
        None | Some("") | Some("private") | Some("rprivate") => {}
        Some(other) => {
            return Err(unsupported(
                "linux.rootfsPropagation",
                format!("{other:?}: nsbox makes every mount of the container private"),
            ));
        }
    }
    if let Some(persona) = linux.personality() {
        let flags = persona.flags().as_ref().is_some_and(|f| !f.is_empty());
        if persona.domain() != LinuxPersonalityDomain::PerLinux || flags {
            return Err(unsupported(
                "linux.personality",
                "nsbox cannot set a personality: the container runs as LINUX (the caller's)",
            ));
        }
    }
    Ok(())
}
