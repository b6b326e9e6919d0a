//! `linux.devices` (nodes made in the container's /dev) and `linux.resources.devices` (the
//! device cgroup).
//!
//! As runc does: the rules start from "deny everything", the bundle's apply in order, then
//! runc's `AllowedDevices` (mknod of any node; `/dev/null`, `zero`, `full`, `random`,
//! `urandom`, `tty`, `ptmx` and the ptys), so the nodes nsbox makes itself always work. The
//! nodes `linux.devices` asks for get no allow of their own: the bundle's rules say.
//!
//! Where the caller cannot set a device cgroup (not root: no v1 delegation, no bpf(2)) the
//! rules are checked instead, as before nsbox had a device cgroup: accepted when they cannot
//! let the container reach more than nsbox's own /dev nodes.

use nsbox::{Capabilities, Capability, ContainerBuilder, DeviceAccess, DeviceNode, DeviceRule, DeviceType, Namespaces};
use oci_spec::runtime::{Linux, LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Result, invalid, unsupported};
use crate::options::Options;

/// runc's `AllowedDevices` (libcontainer/specconv), appended after the bundle's rules.
const RUNC_ALLOWED: [(DeviceType, Option<u32>, Option<u32>, DeviceAccess); 10] = [
    (DeviceType::Char, None, None, DeviceAccess::MKNOD),
    (DeviceType::Block, None, None, DeviceAccess::MKNOD),
    (DeviceType::Char, Some(1), Some(3), DeviceAccess::ALL),
    (DeviceType::Char, Some(1), Some(8), DeviceAccess::ALL),
    (DeviceType::Char, Some(1), Some(7), DeviceAccess::ALL),
    (DeviceType::Char, Some(5), Some(0), DeviceAccess::ALL),
    (DeviceType::Char, Some(1), Some(5), DeviceAccess::ALL),
    (DeviceType::Char, Some(1), Some(9), DeviceAccess::ALL),
    (DeviceType::Char, Some(5), Some(2), DeviceAccess::ALL),
    (DeviceType::Char, Some(136), None, DeviceAccess::ALL),
];

pub(crate) fn map(
    b: &mut ContainerBuilder,
    linux: &Linux,
    bounding: Capabilities,
    ns: Namespaces,
    options: &Options,
) -> Result<()> {
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        let field = format!("linux.devices[{i}]");
        let number = |n: i64, what: &str| u32::try_from(n).map_err(|_| invalid(&field, format!("{what} {n}")));
        let (major, minor) = (number(d.major(), "major")?, number(d.minor(), "minor")?);
        let node = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceNode::char(d.path(), major, minor),
            LinuxDeviceType::B => DeviceNode::block(d.path(), major, minor),
            LinuxDeviceType::P => return Err(unsupported(field, "nsbox makes device nodes, not FIFOs")),
            LinuxDeviceType::A => return Err(invalid(field, "type \"a\" is not a kind of node")),
        };
        let mode = d.file_mode().unwrap_or(0o666);
        if mode & !0o7777 != 0 {
            return Err(invalid(field, format!("fileMode {mode:#o}: permission bits only")));
        }
        b.device_node(node.mode(mode).owner(d.uid().unwrap_or(0), d.gid().unwrap_or(0)));
    }
    let rules = linux.resources().as_ref().and_then(|r| r.devices().as_ref());
    let rules = rules.filter(|r| !r.is_empty());
    match rules {
        Some(rules) if options.device_cgroup => {
            let mut list = vec![DeviceRule::deny_all()];
            for (i, rule) in rules.iter().enumerate() {
                list.push(rule_of(&format!("linux.resources.devices[{i}]"), rule)?);
            }
            list.extend(RUNC_ALLOWED.map(|(t, ma, mi, a)| DeviceRule::allow(t, ma, mi, a)));
            b.device_rules(list);
            Ok(())
        }
        rules => check_without_cgroup(rules.map(Vec::as_slice).unwrap_or_default(), bounding, ns),
    }
}

fn rule_of(field: &str, rule: &LinuxDeviceCgroup) -> Result<DeviceRule> {
    let kind = match rule.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => DeviceType::Char,
        Some(LinuxDeviceType::B) => DeviceType::Block,
        Some(LinuxDeviceType::A) | None => DeviceType::All,
        Some(LinuxDeviceType::P) => return Err(invalid(field, "type \"p\": a FIFO is no device")),
    };
    let access = rule.access().as_deref().unwrap_or("rwm");
    let access = DeviceAccess::parse(access).ok_or_else(|| invalid(field, format!("access {access:?}")))?;
    // -1 is runc's wildcard too.
    let number = |n: Option<i64>, what: &str| match n {
        None | Some(-1) => Ok(None),
        Some(n) => u32::try_from(n)
            .map(Some)
            .map_err(|_| invalid(field, format!("{what} {n}"))),
    };
    let (major, minor) = (number(rule.major(), "major")?, number(rule.minor(), "minor")?);
    Ok(match rule.allow() {
        true => DeviceRule::allow(kind, major, minor, access),
        false => DeviceRule::deny(kind, major, minor, access),
    })
}

/// The device nodes nsbox puts in its fresh `/dev` (and `/dev/pts/*`, major 136): what a
/// device cgroup of runc's defaults lets a container open.
const NSBOX_DEVICES: [(char, i64, Option<i64>); 8] = [
    ('c', 1, Some(3)),
    ('c', 1, Some(5)),
    ('c', 1, Some(7)),
    ('c', 1, Some(8)),
    ('c', 1, Some(9)),
    ('c', 5, Some(0)),
    ('c', 5, Some(2)),
    ('c', 136, None),
];

/// Without a device cgroup: a rule list is accepted when it cannot let the container reach
/// more than nsbox's own nodes: denials, allows of nsbox's own nodes (and `/dev/console`),
/// and `m` (mknod) allows while the container cannot mknod (no CAP_MKNOD, or a user
/// namespace, where mknod of a device is always refused).
fn check_without_cgroup(rules: &[LinuxDeviceCgroup], bounding: Capabilities, ns: Namespaces) -> Result<()> {
    let can_mknod = bounding.contains(Capability::CAP_MKNOD) && !ns.contains(Namespaces::USER);
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("linux.resources.devices[{i}]");
        let parsed = rule_of(&field, rule)?;
        if !rule.allow() {
            continue;
        }
        let access = parsed.access.to_string();
        if access == "m" && !can_mknod {
            continue;
        }
        let kind = match parsed.kind {
            DeviceType::Char => 'c',
            DeviceType::Block => 'b',
            _ => 'a',
        };
        let (major, minor) = (rule.major(), rule.minor());
        let console = kind == 'c' && major == Some(5) && minor == Some(1);
        let nsbox_node = NSBOX_DEVICES
            .iter()
            .any(|(k, ma, mi)| *k == kind && Some(*ma) == major && (mi.is_none() || *mi == minor));
        if !(console || nsbox_node) || (access.contains('m') && can_mknod) {
            return Err(unsupported(
                field,
                "nsbox sets no device cgroup for a caller other than root: only rules that allow no more than \
                 its own /dev nodes are honoured (and mknod only where the container cannot make devices)",
            ));
        }
    }
    if can_mknod {
        return Err(unsupported(
            "linux.resources.devices",
            "with CAP_MKNOD and no user namespace the container could make and open any device node, and \
             without rules (or as a caller other than root) nsbox sets no device cgroup to stop it",
        ));
    }
    Ok(())
}
