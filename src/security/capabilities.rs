//! Capability sets: what the payload keeps (the bounding set, and for root the permitted and
//! effective sets), what it may hand on through exec (ambient, only on request), and the
//! always-empty inheritable set (CVE-2022-29162).

use std::fmt;

pub use super::capability::Capability;
use crate::error::ConfigError;

/// A set of capabilities, as the kernel's 64-bit mask.
///
/// ```
/// use nsbox::{Capabilities, Capability};
/// let set = Capabilities::from_iter([Capability::CAP_CHOWN, Capability::CAP_KILL]);
/// assert!(set.contains(Capability::CAP_KILL));
/// assert_eq!(Capabilities::parse("net_bind_service").unwrap(), Capability::CAP_NET_BIND_SERVICE);
/// assert!(Capabilities::parse("CAP_MAKE_COFFEE").is_err());
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(u64);

impl Capabilities {
    /// No capabilities.
    pub const fn empty() -> Self {
        Capabilities(0)
    }

    /// Podman's default set of 11 (Docker's 14 minus AUDIT_WRITE, MKNOD and NET_RAW): enough for
    /// a service that starts as root and drops to a user.
    pub fn podman_default() -> Self {
        use Capability::*;
        Capabilities::from_iter([
            CAP_CHOWN,
            CAP_DAC_OVERRIDE,
            CAP_FOWNER,
            CAP_FSETID,
            CAP_KILL,
            CAP_NET_BIND_SERVICE,
            CAP_SETFCAP,
            CAP_SETGID,
            CAP_SETPCAP,
            CAP_SETUID,
            CAP_SYS_CHROOT,
        ])
    }

    /// Every capability the kernel knows.
    pub fn all() -> Self {
        Capabilities::from_iter(Capability::ALL)
    }

    /// Parses a capability name, with or without `CAP_`, in any case, around spaces (see
    /// [`Capability`]'s `FromStr`).
    pub fn parse(name: &str) -> Result<Capability, ConfigError> {
        name.trim().parse().map_err(|_| ConfigError::Malformed {
            setting: crate::error::Setting::Capabilities,
            value: name.to_string(),
            expected: "a Linux capability",
        })
    }

    /// Whether `cap` is in the set.
    pub fn contains(self, cap: Capability) -> bool {
        self.0 & cap.bit() != 0
    }

    /// Adds `cap`.
    pub fn insert(&mut self, cap: Capability) {
        self.0 |= cap.bit();
    }

    /// Removes `cap`.
    pub fn remove(&mut self, cap: Capability) {
        self.0 &= !cap.bit();
    }

    /// Whether every capability of `other` is in `self`.
    pub fn is_superset(self, other: Capabilities) -> bool {
        other.0 & !self.0 == 0
    }

    /// The kernel's mask.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// The capabilities in the set, by number.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        let mut set = Capabilities::empty();
        for cap in iter {
            set.insert(cap);
        }
        set
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<String> = self.iter().map(|c| c.to_string()).collect();
        names.sort();
        f.debug_set().entries(names).finish()
    }
}

/// The highest capability number of the running kernel (`/proc/sys/kernel/cap_last_cap`),
/// read once per process.
pub(crate) fn last_cap() -> u8 {
    static LAST: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    *LAST.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40)
    })
}

/// Every capability the running kernel has, as a bit mask: a full bounding set.
pub(crate) fn all_bits() -> u64 {
    u64::MAX >> (63 - u32::from(last_cap().min(63)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_set_has_eleven() {
        assert_eq!(Capabilities::podman_default().iter().count(), 11);
        assert!(!Capabilities::podman_default().contains(Capability::CAP_SYS_ADMIN));
        assert!(Capabilities::all().is_superset(Capabilities::podman_default()));
    }
}
