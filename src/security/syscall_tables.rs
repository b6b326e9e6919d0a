//! Syscall names to numbers, per architecture a filter handles: the native one and, on
//! x86_64, its compat ones (i386 from the `syscalls` crate's table; x32 derived from x86_64's
//! as the kernel's syscall_64.tbl defines it).

use std::str::FromStr;

use syscalls::Sysno;

use super::seccomp_rules::SeccompArch;

/// `__X32_SYSCALL_BIT`.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// x32's own entries, 512 to 547 (syscall_64.tbl's `x32` lines), in order: the syscalls whose
/// x86_64 entry is 64-bit only because x32 needs a compat version of them.
#[cfg(target_arch = "x86_64")]
const X32_OWN: [&str; 36] = [
    "rt_sigaction",
    "rt_sigreturn",
    "ioctl",
    "readv",
    "writev",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "execve",
    "ptrace",
    "rt_sigpending",
    "rt_sigtimedwait",
    "rt_sigqueueinfo",
    "sigaltstack",
    "timer_create",
    "mq_notify",
    "kexec_load",
    "waitid",
    "set_robust_list",
    "get_robust_list",
    "vmsplice",
    "move_pages",
    "preadv",
    "pwritev",
    "rt_tgsigqueueinfo",
    "recvmmsg",
    "sendmmsg",
    "process_vm_readv",
    "process_vm_writev",
    "setsockopt",
    "getsockopt",
    "io_setup",
    "io_submit",
    "execveat",
    "preadv2",
    "pwritev2",
];

/// The native number of `name`, if this architecture has it.
pub(crate) fn native(name: &str) -> Option<u32> {
    Sysno::from_str(name).ok().map(|s| s.id() as u32)
}

/// The number `arch`'s programs pass for `name` (x32's with its bit set), if it has it.
#[cfg(target_arch = "x86_64")]
pub(crate) fn compat(arch: SeccompArch, name: &str) -> Option<u32> {
    match arch {
        SeccompArch::X86 => syscalls::x86::Sysno::from_str(name).ok().map(|s| s.id() as u32),
        SeccompArch::X32 => {
            if let Some(i) = X32_OWN.iter().position(|n| *n == name) {
                return Some(X32_SYSCALL_BIT | (512 + i as u32));
            }
            // Below 512, x32 shares x86_64's numbers but for the 64-bit-only entries above.
            native(name).filter(|nr| *nr < 512).map(|nr| X32_SYSCALL_BIT | nr)
        }
    }
}

/// No compat architecture elsewhere ([`SeccompRules::validate`](super::SeccompRules) refuses
/// them first).
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn compat(_arch: SeccompArch, _name: &str) -> Option<u32> {
    None
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn compat_numbers_follow_the_kernel_tables() {
        assert_eq!(compat(SeccompArch::X86, "personality"), Some(136));
        assert_eq!(compat(SeccompArch::X86, "ioctl"), Some(54));
        assert_eq!(compat(SeccompArch::X86, "arch_prctl"), Some(384));
        assert_eq!(compat(SeccompArch::X32, "ioctl"), Some(X32_SYSCALL_BIT | 514));
        assert_eq!(compat(SeccompArch::X32, "pwritev2"), Some(X32_SYSCALL_BIT | 547));
        assert_eq!(compat(SeccompArch::X32, "read"), Some(X32_SYSCALL_BIT));
        assert_eq!(compat(SeccompArch::X32, "personality"), Some(X32_SYSCALL_BIT | 135));
        assert_eq!(compat(SeccompArch::X32, "clone3"), Some(X32_SYSCALL_BIT | 435));
        assert_eq!(compat(SeccompArch::X32, "socketcall"), None);
        // The x86_64 entries that x32 replaces with its own are every 64-bit-only one x32 has.
        for name in X32_OWN {
            assert!(native(name).is_some_and(|nr| nr < 512), "{name}");
        }
    }
}
