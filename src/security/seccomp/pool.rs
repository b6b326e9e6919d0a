//! A warm pool's policy (issue 17, `crate::pool`): a pooled container's launcher waits for its
//! payload under the payload's filter, so it needs a few syscalls more than a cold one's.
//!
//! The payload inherits that filter, so nothing is added for the launcher: a policy must already
//! let those syscalls run. Adding them to an allow list (as this did first) let every pooled
//! payload call `chdir`, `dup3`, `recvmsg` and `mmap` where a cold spawn of the same template
//! was refused them (`tests/review_pool.rs`). Loading the template's exact filter in the
//! launcher just before `execve` would lift the requirement, at the cost of a second filter
//! and of code in the init binary, which has no room left under its 4 KiB.

use super::{Seccomp, SeccompKind, always_runs, sysno};
use crate::error::ConfigError;

/// What a pooled launcher calls after the filter besides the launcher's own (`LAUNCHER_SYSCALLS`): `recvmsg`
/// for its message and fds, `mmap` for the buffer it reads the message into, `dup3` to make
/// the fds its stdio, `chdir` to the run's working directory, `prctl` to be undumpable while
/// it waits.
pub(crate) const POOL_LAUNCHER_SYSCALLS: [&str; 5] = ["recvmsg", "mmap", "dup3", "chdir", "prctl"];

impl Seccomp {
    /// This policy for a warm pool's containers, unchanged: an allow list that does not name
    /// each of the pooled launcher's syscalls, a deny list naming one, or rules that do not
    /// always let one run are refused with [`ConfigError::SeccompDeniesLauncherSyscall`] (the
    /// payload runs under the same filter: nothing may be added for the launcher alone). The
    /// cold launcher's own needs are checked by `validate`, as for every container.
    pub(crate) fn for_pool(&self) -> Result<Seccomp, ConfigError> {
        let refused = |name: &str| ConfigError::SeccompDeniesLauncherSyscall { syscall: name.into() };
        match &self.0 {
            SeccompKind::Allow(names) => {
                let allowed = names.iter().map(|n| sysno(n)).collect::<Result<Vec<_>, _>>()?;
                for name in POOL_LAUNCHER_SYSCALLS {
                    if !allowed.contains(&sysno(name)?) {
                        return Err(refused(name));
                    }
                }
                Ok(self.clone())
            }
            SeccompKind::Deny(names) => {
                for name in names {
                    let nr = sysno(name)?;
                    if POOL_LAUNCHER_SYSCALLS.iter().any(|p| sysno(p).ok() == Some(nr)) {
                        return Err(refused(name));
                    }
                }
                Ok(self.clone())
            }
            SeccompKind::Rules(rules) => {
                let section = rules.native_section();
                for name in POOL_LAUNCHER_SYSCALLS {
                    if !always_runs(&section, sysno(name)?) {
                        return Err(refused(name));
                    }
                }
                Ok(self.clone())
            }
            // Docker's profile allows all four whatever the capabilities.
            SeccompKind::Docker | SeccompKind::Unconfined => Ok(self.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::seccomp::LAUNCHER_SYSCALLS;

    #[test]
    fn a_pool_refuses_allow_lists_lacking_its_syscalls_and_deny_lists_naming_one() {
        assert_eq!(
            Seccomp::allow(["getpid", "mmap", "dup3", "chdir", "prctl"]).for_pool(),
            Err(ConfigError::SeccompDeniesLauncherSyscall {
                syscall: "recvmsg".into()
            }),
            "the payload would inherit an added syscall"
        );
        let complete = Seccomp::allow(["getpid", "chdir", "dup3", "mmap", "recvmsg", "prctl"]);
        assert_eq!(complete.for_pool(), Ok(complete.clone()), "the template's own list");
        for name in POOL_LAUNCHER_SYSCALLS {
            assert_eq!(
                Seccomp::deny([name]).for_pool(),
                Err(ConfigError::SeccompDeniesLauncherSyscall { syscall: name.into() })
            );
        }
        assert!(Seccomp::deny(["ptrace"]).for_pool().is_ok());
        assert!(Seccomp::docker_default().for_pool().is_ok());
        // The cold launcher's list stays what `validate` checks.
        assert!(LAUNCHER_SYSCALLS.contains(&"read"));
    }
}
