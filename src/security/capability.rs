//! nsbox's own capability type, one bit of a [`Capabilities`](crate::Capabilities) set.

use std::fmt;
use std::str::FromStr;

use crate::unknown_value::{UnknownValueError, strip_prefix_ignore_case};

/// A Linux capability (`capabilities(7)`), numbered as the kernel numbers them.
///
/// ```
/// use nsbox::Capability;
/// assert_eq!("CAP_NET_ADMIN".parse::<Capability>(), Ok(Capability::CAP_NET_ADMIN));
/// assert_eq!("net_admin".parse::<Capability>(), Ok(Capability::CAP_NET_ADMIN));
/// assert_eq!(Capability::CAP_NET_ADMIN.to_string(), "CAP_NET_ADMIN");
/// assert_eq!(Capability::CAP_KILL.index(), 5);
/// assert_eq!(Capability::CAP_KILL.bit(), 1 << 5);
/// assert_eq!(Capability::try_from(5), Ok(Capability::CAP_KILL));
/// ```
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum Capability {
    /// Change file owners and groups (0).
    CAP_CHOWN = 0,
    /// Bypass file read, write and execute permission checks (1).
    CAP_DAC_OVERRIDE = 1,
    /// Bypass file read and directory search permission checks (2).
    CAP_DAC_READ_SEARCH = 2,
    /// Bypass checks that the caller owns the file (3).
    CAP_FOWNER = 3,
    /// Keep set-user-ID and set-group-ID bits when a file changes (4).
    CAP_FSETID = 4,
    /// Signal any process (5).
    CAP_KILL = 5,
    /// Change group ids (6).
    CAP_SETGID = 6,
    /// Change user ids (7).
    CAP_SETUID = 7,
    /// Change capability sets and securebits (8).
    CAP_SETPCAP = 8,
    /// Set the immutable and append-only file attributes (9).
    CAP_LINUX_IMMUTABLE = 9,
    /// Bind ports below 1024 (10).
    CAP_NET_BIND_SERVICE = 10,
    /// Broadcast and listen to multicast (unused) (11).
    CAP_NET_BROADCAST = 11,
    /// Configure network interfaces, routes and firewalls (12).
    CAP_NET_ADMIN = 12,
    /// Use raw and packet sockets (13).
    CAP_NET_RAW = 13,
    /// Lock memory (14).
    CAP_IPC_LOCK = 14,
    /// Bypass System V IPC permission checks (15).
    CAP_IPC_OWNER = 15,
    /// Load and unload kernel modules (16).
    CAP_SYS_MODULE = 16,
    /// Raw I/O: ioperm, iopl, /dev/mem (17).
    CAP_SYS_RAWIO = 17,
    /// Use chroot (18).
    CAP_SYS_CHROOT = 18,
    /// Trace any process (19).
    CAP_SYS_PTRACE = 19,
    /// Use process accounting (acct) (20).
    CAP_SYS_PACCT = 20,
    /// Mount, and the many other administration operations (21).
    CAP_SYS_ADMIN = 21,
    /// Reboot and load a new kernel (22).
    CAP_SYS_BOOT = 22,
    /// Raise priorities and set other processes' scheduling (23).
    CAP_SYS_NICE = 23,
    /// Exceed resource limits and raise hard limits (24).
    CAP_SYS_RESOURCE = 24,
    /// Set the system clock (25).
    CAP_SYS_TIME = 25,
    /// Use vhangup and privileged terminal ioctls (26).
    CAP_SYS_TTY_CONFIG = 26,
    /// Create device files (27).
    CAP_MKNOD = 27,
    /// Take leases on files the caller does not own (28).
    CAP_LEASE = 28,
    /// Write to the kernel audit log (29).
    CAP_AUDIT_WRITE = 29,
    /// Configure kernel auditing (30).
    CAP_AUDIT_CONTROL = 30,
    /// Set file capabilities (31).
    CAP_SETFCAP = 31,
    /// Override mandatory access control (Smack) (32).
    CAP_MAC_OVERRIDE = 32,
    /// Configure mandatory access control (Smack) (33).
    CAP_MAC_ADMIN = 33,
    /// Use privileged syslog operations (34).
    CAP_SYSLOG = 34,
    /// Trigger wake-ups from suspend (35).
    CAP_WAKE_ALARM = 35,
    /// Block system suspend (36).
    CAP_BLOCK_SUSPEND = 36,
    /// Read the audit log through netlink (37).
    CAP_AUDIT_READ = 37,
    /// Use performance monitoring (Linux 5.8) (38).
    CAP_PERFMON = 38,
    /// Use privileged BPF operations (Linux 5.8) (39).
    CAP_BPF = 39,
    /// Checkpoint and restore operations (Linux 5.9) (40).
    CAP_CHECKPOINT_RESTORE = 40,
}

impl Capability {
    /// Every capability nsbox knows, by number (the kernel's may know fewer, or more).
    pub(crate) const ALL: [Capability; 41] = {
        use Capability::*;
        [
            CAP_CHOWN,
            CAP_DAC_OVERRIDE,
            CAP_DAC_READ_SEARCH,
            CAP_FOWNER,
            CAP_FSETID,
            CAP_KILL,
            CAP_SETGID,
            CAP_SETUID,
            CAP_SETPCAP,
            CAP_LINUX_IMMUTABLE,
            CAP_NET_BIND_SERVICE,
            CAP_NET_BROADCAST,
            CAP_NET_ADMIN,
            CAP_NET_RAW,
            CAP_IPC_LOCK,
            CAP_IPC_OWNER,
            CAP_SYS_MODULE,
            CAP_SYS_RAWIO,
            CAP_SYS_CHROOT,
            CAP_SYS_PTRACE,
            CAP_SYS_PACCT,
            CAP_SYS_ADMIN,
            CAP_SYS_BOOT,
            CAP_SYS_NICE,
            CAP_SYS_RESOURCE,
            CAP_SYS_TIME,
            CAP_SYS_TTY_CONFIG,
            CAP_MKNOD,
            CAP_LEASE,
            CAP_AUDIT_WRITE,
            CAP_AUDIT_CONTROL,
            CAP_SETFCAP,
            CAP_MAC_OVERRIDE,
            CAP_MAC_ADMIN,
            CAP_SYSLOG,
            CAP_WAKE_ALARM,
            CAP_BLOCK_SUSPEND,
            CAP_AUDIT_READ,
            CAP_PERFMON,
            CAP_BPF,
            CAP_CHECKPOINT_RESTORE,
        ]
    };

    /// The kernel's number, as `CAP_*` in `<linux/capability.h>` has it.
    pub const fn index(self) -> u8 {
        self as u8
    }

    /// The capability's bit in the kernel's 64-bit masks (`1 << index`).
    pub const fn bit(self) -> u64 {
        1 << self.index()
    }

    /// The C name, e.g. `"CAP_CHOWN"`.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::CAP_CHOWN => "CAP_CHOWN",
            Capability::CAP_DAC_OVERRIDE => "CAP_DAC_OVERRIDE",
            Capability::CAP_DAC_READ_SEARCH => "CAP_DAC_READ_SEARCH",
            Capability::CAP_FOWNER => "CAP_FOWNER",
            Capability::CAP_FSETID => "CAP_FSETID",
            Capability::CAP_KILL => "CAP_KILL",
            Capability::CAP_SETGID => "CAP_SETGID",
            Capability::CAP_SETUID => "CAP_SETUID",
            Capability::CAP_SETPCAP => "CAP_SETPCAP",
            Capability::CAP_LINUX_IMMUTABLE => "CAP_LINUX_IMMUTABLE",
            Capability::CAP_NET_BIND_SERVICE => "CAP_NET_BIND_SERVICE",
            Capability::CAP_NET_BROADCAST => "CAP_NET_BROADCAST",
            Capability::CAP_NET_ADMIN => "CAP_NET_ADMIN",
            Capability::CAP_NET_RAW => "CAP_NET_RAW",
            Capability::CAP_IPC_LOCK => "CAP_IPC_LOCK",
            Capability::CAP_IPC_OWNER => "CAP_IPC_OWNER",
            Capability::CAP_SYS_MODULE => "CAP_SYS_MODULE",
            Capability::CAP_SYS_RAWIO => "CAP_SYS_RAWIO",
            Capability::CAP_SYS_CHROOT => "CAP_SYS_CHROOT",
            Capability::CAP_SYS_PTRACE => "CAP_SYS_PTRACE",
            Capability::CAP_SYS_PACCT => "CAP_SYS_PACCT",
            Capability::CAP_SYS_ADMIN => "CAP_SYS_ADMIN",
            Capability::CAP_SYS_BOOT => "CAP_SYS_BOOT",
            Capability::CAP_SYS_NICE => "CAP_SYS_NICE",
            Capability::CAP_SYS_RESOURCE => "CAP_SYS_RESOURCE",
            Capability::CAP_SYS_TIME => "CAP_SYS_TIME",
            Capability::CAP_SYS_TTY_CONFIG => "CAP_SYS_TTY_CONFIG",
            Capability::CAP_MKNOD => "CAP_MKNOD",
            Capability::CAP_LEASE => "CAP_LEASE",
            Capability::CAP_AUDIT_WRITE => "CAP_AUDIT_WRITE",
            Capability::CAP_AUDIT_CONTROL => "CAP_AUDIT_CONTROL",
            Capability::CAP_SETFCAP => "CAP_SETFCAP",
            Capability::CAP_MAC_OVERRIDE => "CAP_MAC_OVERRIDE",
            Capability::CAP_MAC_ADMIN => "CAP_MAC_ADMIN",
            Capability::CAP_SYSLOG => "CAP_SYSLOG",
            Capability::CAP_WAKE_ALARM => "CAP_WAKE_ALARM",
            Capability::CAP_BLOCK_SUSPEND => "CAP_BLOCK_SUSPEND",
            Capability::CAP_AUDIT_READ => "CAP_AUDIT_READ",
            Capability::CAP_PERFMON => "CAP_PERFMON",
            Capability::CAP_BPF => "CAP_BPF",
            Capability::CAP_CHECKPOINT_RESTORE => "CAP_CHECKPOINT_RESTORE",
        }
    }
}

impl TryFrom<u8> for Capability {
    type Error = UnknownValueError;

    /// The capability with this number.
    fn try_from(index: u8) -> Result<Self, Self::Error> {
        Capability::ALL
            .get(usize::from(index))
            .copied()
            .ok_or_else(|| UnknownValueError::new("capability", index))
    }
}

impl fmt::Display for Capability {
    /// The C name, e.g. `"CAP_CHOWN"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Capability {
    type Err = UnknownValueError;

    /// The C name, with or without `CAP_`, in any case: `"CAP_NET_ADMIN"`, `"net_admin"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let short = strip_prefix_ignore_case(s, "CAP_");
        Capability::ALL
            .into_iter()
            .find(|c| c.name()["CAP_".len()..].eq_ignore_ascii_case(short))
            .ok_or_else(|| UnknownValueError::new("capability", s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_numbered_like_the_kernel() {
        for (i, cap) in Capability::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(cap.index()), i);
            assert_eq!(cap.name().parse::<Capability>(), Ok(cap));
        }
        // The numbering and names of caps, which nsbox's init still uses inside.
        for cap in caps::all() {
            let ours: Capability = cap.to_string().parse().unwrap();
            assert_eq!((ours.index(), ours.bit()), (cap.index(), cap.bitmask()));
        }
        assert_eq!(caps::all().len(), Capability::ALL.len());
        assert!(Capability::try_from(41).is_err());
    }

    #[test]
    fn capability_names_parse_without_prefix_in_any_case() {
        assert_eq!("Sys_Admin".parse::<Capability>(), Ok(Capability::CAP_SYS_ADMIN));
        assert!("CAP_MAKE_COFFEE".parse::<Capability>().is_err());
        assert!("CAP_".parse::<Capability>().is_err());
    }
}
