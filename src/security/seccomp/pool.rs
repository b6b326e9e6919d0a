//! A warm pool's policy (issue 17, `crate::pool`): a pooled container's launcher waits for its
//! payload under the payload's filter, so it needs a few syscalls more than a cold one's.

use super::{Seccomp, SeccompKind, always_runs, sysno};
use crate::error::ConfigError;

/// What a pooled launcher calls after the filter besides the launcher's own (`LAUNCHER_SYSCALLS`): `recvmsg`
/// for its message and fds, `mmap` for the buffer it reads the message into, `dup3` to make
/// the fds its stdio, `chdir` to the run's working directory.
pub(crate) const POOL_LAUNCHER_SYSCALLS: [&str; 4] = ["recvmsg", "mmap", "dup3", "chdir"];

impl Seccomp {
    /// This policy for a warm pool's containers: an allow list gets the pooled launcher's
    /// syscalls added (as it gets the launcher's); a deny list naming one, or rules that do not
    /// always let one run, are refused with [`ConfigError::SeccompDeniesLauncherSyscall`]. The
    /// cold launcher's own needs are checked by `validate`, as for every container.
    pub(crate) fn for_pool(&self) -> Result<Seccomp, ConfigError> {
        let refused = |name: &str| ConfigError::SeccompDeniesLauncherSyscall { syscall: name.into() };
        match &self.0 {
            SeccompKind::Allow(names) => {
                let mut names = names.clone();
                for extra in POOL_LAUNCHER_SYSCALLS {
                    if !names.iter().any(|n| n == extra) {
                        names.push(extra.into());
                    }
                }
                Ok(Seccomp(SeccompKind::Allow(names)))
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
    fn a_pool_adds_its_syscalls_to_allow_lists_and_refuses_deny_lists_naming_one() {
        let allowed = Seccomp::allow(["getpid"]).for_pool().unwrap();
        assert_eq!(
            allowed,
            Seccomp::allow(["getpid", "recvmsg", "mmap", "dup3", "chdir"]),
            "the pooled launcher's syscalls are added once"
        );
        assert_eq!(
            Seccomp::allow(["mmap"]).for_pool().unwrap().for_pool().unwrap(),
            Seccomp::allow(["mmap", "recvmsg", "dup3", "chdir"]),
        );
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
