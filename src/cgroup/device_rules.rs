//! The device cgroup: which device nodes a container may open (read, write) and make (mknod).
//!
//! Rules apply in order with the v1 `devices` controller's semantics (see the kernel's
//! Documentation/admin-guide/cgroup-v1/devices.rst): a rule of type [`DeviceType::All`] resets
//! the default (allow or deny everything) and forgets the exceptions; any other rule that
//! agrees with the default removes access from the exception of the same device, one that
//! disagrees adds an exception. The rules start from "allow everything", what a new cgroup
//! inherits under an unrestricted parent, so `[deny_all, allow c 1:3 rwm]` — the list
//! Docker, containerd and runc give — leaves only `/dev/null`.
//!
//! The result is enforced by the v1 `devices` controller where it is mounted (`a` written
//! to `devices.deny` or `devices.allow` first, then the exceptions, as runc does), else by a
//! `BPF_PROG_TYPE_CGROUP_DEVICE` program attached to the v2 cgroup (see `bpf`).

use std::fmt;

/// The kind of device a [`DeviceRule`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum DeviceType {
    /// Every device, character and block: a rule of this type sets the default.
    All,
    /// Character devices (`c`).
    Char,
    /// Block devices (`b`).
    Block,
}

/// What a [`DeviceRule`] allows or denies: read, write, mknod (`rwm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DeviceAccess(u8);

impl DeviceAccess {
    /// `mknod(2)` of the device.
    pub const MKNOD: DeviceAccess = DeviceAccess(1);
    /// Opening it for reading.
    pub const READ: DeviceAccess = DeviceAccess(2);
    /// Opening it for writing.
    pub const WRITE: DeviceAccess = DeviceAccess(4);
    /// `rwm`.
    pub const ALL: DeviceAccess = DeviceAccess(7);

    /// Parses the cgroup notation: any of `r`, `w`, `m`, at least one; `None` otherwise.
    ///
    /// ```
    /// use nsbox::DeviceAccess;
    /// assert_eq!(DeviceAccess::parse("rwm"), Some(DeviceAccess::ALL));
    /// assert_eq!(DeviceAccess::parse("rx"), None);
    /// ```
    pub fn parse(text: &str) -> Option<DeviceAccess> {
        let mut bits = 0;
        for c in text.chars() {
            bits |= match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => return None,
            };
        }
        (bits != 0).then_some(DeviceAccess(bits))
    }

    /// The bits as the kernel's `BPF_DEVCG_ACC_*` (mknod 1, read 2, write 4).
    pub(crate) fn bits(self) -> u8 {
        self.0
    }

    fn union(self, other: DeviceAccess) -> DeviceAccess {
        DeviceAccess(self.0 | other.0)
    }

    fn without(self, other: DeviceAccess) -> DeviceAccess {
        DeviceAccess(self.0 & !other.0)
    }
}

impl fmt::Display for DeviceAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (bit, c) in [(2, 'r'), (4, 'w'), (1, 'm')] {
            if self.0 & bit != 0 {
                write!(f, "{c}")?;
            }
        }
        Ok(())
    }
}

/// One rule of the device cgroup ([`device_rules`](crate::ContainerBuilder::device_rules)).
///
/// ```
/// use nsbox::{DeviceAccess, DeviceRule, DeviceType};
/// // Only /dev/null (c 1:3), as `docker run` would leave it with no other device.
/// let rules = [DeviceRule::deny_all(), DeviceRule::allow(DeviceType::Char, Some(1), Some(3), DeviceAccess::ALL)];
/// assert_eq!(rules[1].to_string(), "allow c 1:3 rwm");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DeviceRule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// The kind of device.
    pub kind: DeviceType,
    /// The major number; `None`: any.
    pub major: Option<u32>,
    /// The minor number; `None`: any.
    pub minor: Option<u32>,
    /// What is allowed or denied.
    pub access: DeviceAccess,
}

impl DeviceRule {
    /// Allows `access` to the devices `kind major:minor` (`None`: any number).
    pub fn allow(kind: DeviceType, major: Option<u32>, minor: Option<u32>, access: DeviceAccess) -> Self {
        DeviceRule {
            allow: true,
            kind,
            major,
            minor,
            access,
        }
    }

    /// Denies `access` to the devices `kind major:minor` (`None`: any number).
    pub fn deny(kind: DeviceType, major: Option<u32>, minor: Option<u32>, access: DeviceAccess) -> Self {
        DeviceRule {
            allow: false,
            ..DeviceRule::allow(kind, major, minor, access)
        }
    }

    /// Denies every device: the usual first rule.
    pub fn deny_all() -> Self {
        DeviceRule::deny(DeviceType::All, None, None, DeviceAccess::ALL)
    }
}

impl fmt::Display for DeviceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.allow { "allow" } else { "deny" };
        write!(f, "{verb} {}", Exception::from(*self).v1_line())
    }
}

/// A device (or range) whose access differs from the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exception {
    /// `b'c'` or `b'b'` (or `b'a'` only in a rule's display).
    pub kind: u8,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: DeviceAccess,
}

impl From<DeviceRule> for Exception {
    fn from(r: DeviceRule) -> Self {
        let kind = match r.kind {
            DeviceType::All => b'a',
            DeviceType::Char => b'c',
            DeviceType::Block => b'b',
        };
        Exception {
            kind,
            major: r.major,
            minor: r.minor,
            access: r.access,
        }
    }
}

impl Exception {
    /// The line v1's `devices.allow`/`devices.deny` take: `c 1:3 rwm`, `b 8:* r`.
    pub fn v1_line(&self) -> String {
        let number = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind as char,
            number(self.major),
            number(self.minor),
            self.access
        )
    }
}

/// The device cgroup a rule list leaves: a default and its exceptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeviceCgroup {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

impl DeviceCgroup {
    /// The rules applied in order as the v1 controller would (its `dev_exception_add` and
    /// `dev_exception_rm`), from "allow everything".
    pub fn from_rules(rules: &[DeviceRule]) -> DeviceCgroup {
        let mut cg = DeviceCgroup {
            default_allow: true,
            exceptions: Vec::new(),
        };
        for rule in rules {
            let e = Exception::from(*rule);
            let same = |x: &Exception| x.kind == e.kind && x.major == e.major && x.minor == e.minor;
            if rule.kind == DeviceType::All {
                cg.default_allow = rule.allow;
                cg.exceptions.clear();
            } else if rule.allow == cg.default_allow {
                for x in cg.exceptions.iter_mut().filter(|x| same(x)) {
                    x.access = x.access.without(e.access);
                }
                cg.exceptions.retain(|x| x.access.bits() != 0);
            } else if let Some(x) = cg.exceptions.iter_mut().find(|x| same(x)) {
                x.access = x.access.union(e.access);
            } else {
                cg.exceptions.push(e);
            }
        }
        cg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(major: u32, minor: Option<u32>, access: &str) -> Exception {
        Exception {
            kind: b'c',
            major: Some(major),
            minor,
            access: DeviceAccess::parse(access).unwrap(),
        }
    }

    #[test]
    fn rules_apply_like_the_v1_controller() {
        let rwm = DeviceAccess::ALL;
        let docker = [
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceType::Char, Some(1), Some(3), rwm),
            DeviceRule::allow(DeviceType::Char, Some(136), None, DeviceAccess::parse("rw").unwrap()),
            DeviceRule::allow(DeviceType::Char, Some(1), Some(3), DeviceAccess::MKNOD),
        ];
        let cg = DeviceCgroup::from_rules(&docker);
        assert!(!cg.default_allow);
        assert_eq!(cg.exceptions, [c(1, Some(3), "rwm"), c(136, None, "rw")]);
        assert_eq!(cg.exceptions[1].v1_line(), "c 136:* rw");

        let narrowed = [
            DeviceRule::deny_all(),
            DeviceRule::allow(DeviceType::Char, Some(1), Some(3), rwm),
            DeviceRule::deny(DeviceType::Char, Some(1), Some(3), DeviceAccess::WRITE),
        ];
        assert_eq!(DeviceCgroup::from_rules(&narrowed).exceptions, [c(1, Some(3), "rm")]);

        let blacklist = [DeviceRule::deny(DeviceType::Block, None, None, rwm)];
        let cg = DeviceCgroup::from_rules(&blacklist);
        assert!(cg.default_allow);
        assert_eq!(cg.exceptions[0].v1_line(), "b *:* rwm");

        let reset = [
            DeviceRule::deny(DeviceType::Block, None, None, rwm),
            DeviceRule::allow(DeviceType::All, None, None, rwm),
        ];
        assert_eq!(
            DeviceCgroup::from_rules(&reset),
            DeviceCgroup {
                default_allow: true,
                exceptions: vec![]
            }
        );
        assert_eq!(DeviceAccess::parse(""), None);
        assert_eq!(DeviceAccess::parse("mwr").unwrap().to_string(), "rwm");
    }
}
