//! `linux.seccomp` onto nsbox's [`Seccomp`] policies, where they express the bundle's filter
//! exactly; everything else is refused by name (docs/oci.md lists what nsbox's public seccomp
//! API would need).

use nsbox::{ContainerBuilder, Seccomp};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction};

use crate::error::{Result, unsupported};
use crate::process::name_of;

const EPERM: u32 = 1;

/// What nsbox-exec calls after the filter is loaded; an allow list that lacks one would be
/// widened by nsbox (`Seccomp::allow` adds them), so it is refused.
const LAUNCHER_SYSCALLS: [&str; 8] = [
    "execve",
    "execveat",
    "read",
    "write",
    "exit_group",
    "fcntl",
    "close",
    "landlock_restrict_self",
];

pub(crate) fn map(b: &mut ContainerBuilder, seccomp: Option<&LinuxSeccomp>) -> Result<()> {
    let Some(s) = seccomp else {
        // No filter, as runc loads none.
        b.seccomp(Seccomp::unconfined());
        return Ok(());
    };
    let field = "linux.seccomp";
    let native = native_arch();
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        if Some(*arch) != native {
            return Err(unsupported(
                format!("{field}.architectures[{i}]"),
                format!(
                    "{}: nsbox filters only the native architecture and kills syscalls of any other",
                    name_of(arch)
                ),
            ));
        }
    }
    if s.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(unsupported(
            format!("{field}.flags"),
            "nsbox loads filters without flags",
        ));
    }
    if s.listener_path().is_some() || s.listener_metadata().is_some() {
        return Err(unsupported(
            format!("{field}.listenerPath"),
            "nsbox has no seccomp notify",
        ));
    }
    let errno = |action: LinuxSeccompAction, errno: Option<u32>| {
        action == LinuxSeccompAction::ScmpActErrno && errno.unwrap_or(EPERM) == EPERM
    };
    let default_allows = match s.default_action() {
        LinuxSeccompAction::ScmpActAllow => true,
        action if errno(action, s.default_errno_ret()) => false,
        action => {
            return Err(unsupported(
                format!("{field}.defaultAction"),
                format!(
                    "{} (errno {:?}): nsbox's default is allow, or EPERM",
                    name_of(&action),
                    s.default_errno_ret()
                ),
            ));
        }
    };
    let mut names = Vec::new();
    for (i, rule) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("{field}.syscalls[{i}]");
        if rule.args().as_ref().is_some_and(|a| !a.is_empty()) {
            return Err(unsupported(
                format!("{at}.args"),
                "nsbox's seccomp policies take no argument conditions",
            ));
        }
        let fits = if default_allows {
            errno(rule.action(), rule.errno_ret())
        } else {
            rule.action() == LinuxSeccompAction::ScmpActAllow
        };
        if !fits {
            let want = if default_allows {
                "SCMP_ACT_ERRNO with EPERM"
            } else {
                "SCMP_ACT_ALLOW"
            };
            return Err(unsupported(
                format!("{at}.action"),
                format!(
                    "{} (errno {:?}): under default {} nsbox's policies take only {want}",
                    name_of(&rule.action()),
                    rule.errno_ret(),
                    name_of(&s.default_action())
                ),
            ));
        }
        names.extend(rule.names().iter().cloned());
    }
    let policy = if default_allows {
        Seccomp::deny(names)
    } else {
        if let Some(missing) = LAUNCHER_SYSCALLS.iter().find(|l| !names.iter().any(|n| n == *l)) {
            return Err(unsupported(
                format!("{field}.syscalls"),
                format!(
                    "the allow list lacks {missing}, which nsbox's allow policies always add (its launcher needs it)"
                ),
            ));
        }
        Seccomp::allow(names)
    };
    b.seccomp(policy);
    Ok(())
}

fn native_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::ScmpArchX86_64),
        "aarch64" => Some(Arch::ScmpArchAarch64),
        "x86" => Some(Arch::ScmpArchX86),
        "arm" => Some(Arch::ScmpArchArm),
        "riscv64" => Some(Arch::ScmpArchRiscv64),
        "s390x" => Some(Arch::ScmpArchS390x),
        "powerpc64" => Some(Arch::ScmpArchPpc64le),
        _ => None,
    }
}
