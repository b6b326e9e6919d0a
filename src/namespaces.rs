//! The set of Linux namespaces a container gets.

use std::fmt;
use std::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, Not, Sub, SubAssign};

/// Which namespaces a container is created in.
///
/// The bits are the kernel's `CLONE_NEW*` flags, so a set converts to clone flags without a
/// table. [`Namespaces::all()`] is every namespace the kernel offers and the builder's default.
///
/// ```
/// use nsbox::Namespaces;
/// let ns = Namespaces::all() - Namespaces::NET; // share the host's network
/// assert!(ns.contains(Namespaces::PID));
/// assert_eq!(ns.iter().count(), 7);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Namespaces(u64);

impl Namespaces {
    /// Own mount table (`CLONE_NEWNS`); needed for a rootfs and for mounts.
    pub const MOUNT: Namespaces = Namespaces(libc::CLONE_NEWNS as u64);
    /// Own hostname and domain name (`CLONE_NEWUTS`).
    pub const UTS: Namespaces = Namespaces(libc::CLONE_NEWUTS as u64);
    /// Own System V IPC objects and POSIX message queues (`CLONE_NEWIPC`).
    pub const IPC: Namespaces = Namespaces(libc::CLONE_NEWIPC as u64);
    /// Own process ids: the container's first process is PID 1 (`CLONE_NEWPID`).
    pub const PID: Namespaces = Namespaces(libc::CLONE_NEWPID as u64);
    /// Own network stack with only a loopback interface (`CLONE_NEWNET`).
    pub const NET: Namespaces = Namespaces(libc::CLONE_NEWNET as u64);
    /// Own user and group ids and capabilities (`CLONE_NEWUSER`).
    pub const USER: Namespaces = Namespaces(libc::CLONE_NEWUSER as u64);
    /// Own view of the cgroup tree, rooted at the container's cgroup (`CLONE_NEWCGROUP`).
    pub const CGROUP: Namespaces = Namespaces(libc::CLONE_NEWCGROUP as u64);
    /// Own monotonic and boot-time clock offsets (`CLONE_NEWTIME`).
    pub const TIME: Namespaces = Namespaces(libc::CLONE_NEWTIME as u64);

    /// Every namespace, one flag each, in the order `Debug` and [`iter`](Self::iter) use.
    const EACH: [(Namespaces, &'static str); 8] = [
        (Namespaces::MOUNT, "MOUNT"),
        (Namespaces::UTS, "UTS"),
        (Namespaces::IPC, "IPC"),
        (Namespaces::PID, "PID"),
        (Namespaces::NET, "NET"),
        (Namespaces::USER, "USER"),
        (Namespaces::CGROUP, "CGROUP"),
        (Namespaces::TIME, "TIME"),
    ];

    /// No namespace: the container shares every one of the caller's.
    pub const fn empty() -> Self {
        Namespaces(0)
    }

    /// Every namespace nsbox knows.
    pub const fn all() -> Self {
        let mut bits = 0;
        let mut i = 0;
        while i < Self::EACH.len() {
            bits |= Self::EACH[i].0.0;
            i += 1;
        }
        Namespaces(bits)
    }

    /// The set's `CLONE_NEW*` bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// The set with these `CLONE_NEW*` bits; `None` if a bit is not a namespace.
    pub const fn from_bits(bits: u64) -> Option<Self> {
        if bits & !Self::all().0 == 0 {
            Some(Namespaces(bits))
        } else {
            None
        }
    }

    /// The set of the namespace bits among `bits`; other bits are dropped.
    pub const fn from_bits_truncate(bits: u64) -> Self {
        Namespaces(bits & Self::all().0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the set has every namespace.
    pub const fn is_all(self) -> bool {
        self.0 == Self::all().0
    }

    /// Whether every namespace of `other` is in the set.
    pub const fn contains(self, other: Namespaces) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether the set and `other` have a namespace in common.
    pub const fn intersects(self, other: Namespaces) -> bool {
        self.0 & other.0 != 0
    }

    /// Adds the namespaces of `other`.
    pub fn insert(&mut self, other: Namespaces) {
        self.0 |= other.0;
    }

    /// Removes the namespaces of `other`.
    pub fn remove(&mut self, other: Namespaces) {
        self.0 &= !other.0;
    }

    /// Adds (`true`) or removes (`false`) the namespaces of `other`.
    pub fn set(&mut self, other: Namespaces, value: bool) {
        if value { self.insert(other) } else { self.remove(other) }
    }

    /// The namespaces in the set, one flag each.
    pub fn iter(self) -> impl Iterator<Item = Namespaces> {
        Self::EACH
            .into_iter()
            .map(|(ns, _)| ns)
            .filter(move |ns| self.contains(*ns))
    }

    /// The name the kernel gives this namespace under `/proc/<pid>/ns/`, for a single flag.
    pub fn proc_name(self) -> Option<&'static str> {
        Some(match self {
            Namespaces::MOUNT => "mnt",
            Namespaces::UTS => "uts",
            Namespaces::IPC => "ipc",
            Namespaces::PID => "pid",
            Namespaces::NET => "net",
            Namespaces::USER => "user",
            Namespaces::CGROUP => "cgroup",
            Namespaces::TIME => "time",
            _ => return None,
        })
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::all()
    }
}

impl BitOr for Namespaces {
    type Output = Namespaces;
    /// The union.
    fn bitor(self, other: Namespaces) -> Namespaces {
        Namespaces(self.0 | other.0)
    }
}

impl BitOrAssign for Namespaces {
    fn bitor_assign(&mut self, other: Namespaces) {
        self.0 |= other.0;
    }
}

impl BitAnd for Namespaces {
    type Output = Namespaces;
    /// The intersection.
    fn bitand(self, other: Namespaces) -> Namespaces {
        Namespaces(self.0 & other.0)
    }
}

impl BitAndAssign for Namespaces {
    fn bitand_assign(&mut self, other: Namespaces) {
        self.0 &= other.0;
    }
}

impl Sub for Namespaces {
    type Output = Namespaces;
    /// The namespaces of `self` that are not in `other`.
    fn sub(self, other: Namespaces) -> Namespaces {
        Namespaces(self.0 & !other.0)
    }
}

impl SubAssign for Namespaces {
    fn sub_assign(&mut self, other: Namespaces) {
        self.0 &= !other.0;
    }
}

impl Not for Namespaces {
    type Output = Namespaces;
    /// The namespaces not in the set.
    fn not(self) -> Namespaces {
        Namespaces::all() - self
    }
}

impl FromIterator<Namespaces> for Namespaces {
    fn from_iter<I: IntoIterator<Item = Namespaces>>(iter: I) -> Self {
        iter.into_iter().fold(Namespaces::empty(), |set, ns| set | ns)
    }
}

impl Extend<Namespaces> for Namespaces {
    fn extend<I: IntoIterator<Item = Namespaces>>(&mut self, iter: I) {
        for ns in iter {
            self.insert(ns);
        }
    }
}

impl fmt::Debug for Namespaces {
    /// As bitflags printed it: `Namespaces(MOUNT | PID)`, `Namespaces(0x0)` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Namespaces(")?;
        let mut names = Self::EACH
            .iter()
            .filter(|(ns, _)| self.contains(*ns))
            .map(|(_, name)| *name);
        match names.next() {
            None => f.write_str("0x0")?,
            Some(first) => {
                f.write_str(first)?;
                for name in names {
                    write!(f, " | {name}")?;
                }
            }
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_sets_combine_like_bit_masks() {
        let ns = Namespaces::all() - Namespaces::NET;
        assert!(ns.contains(Namespaces::PID | Namespaces::USER) && !ns.contains(Namespaces::NET));
        assert_eq!(!ns, Namespaces::NET);
        assert_eq!(ns.iter().collect::<Namespaces>(), ns);
        assert_eq!(Namespaces::from_bits(ns.bits()), Some(ns));
        assert_eq!(Namespaces::from_bits(1), None);
        assert_eq!(
            format!("{:?}", Namespaces::MOUNT | Namespaces::PID),
            "Namespaces(MOUNT | PID)"
        );
        assert_eq!(format!("{:?}", Namespaces::empty()), "Namespaces(0x0)");
        assert_eq!(Namespaces::all().iter().count(), 8);
    }
}
