//! Seccomp filters: Docker's default profile, allow and deny lists, compiled to BPF in the
//! parent with seccompiler and cached, so the second spawn of a profile pays nothing.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};
use syscalls::Sysno;

use super::capabilities::{Capabilities, Capability};
use super::docker_profile::{AF_VSOCK, BASE, BY_CAPABILITY, NAMESPACE_FLAGS, PERSONALITIES};
use crate::error::ConfigError;

/// A seccomp policy for the payload, loaded as the last setup step before exec.
///
/// ```
/// use nsbox::Seccomp;
/// let _docker = Seccomp::docker_default();
/// let _tight = Seccomp::allow(["read", "write", "exit_group"]);
/// let _loose = Seccomp::deny(["ptrace", "keyctl"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Seccomp(SeccompKind);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SeccompKind {
    Unconfined,
    Docker { deny_terminal_injection: bool },
    Allow(Vec<String>),
    Deny(Vec<String>),
}

impl Default for Seccomp {
    fn default() -> Self {
        Seccomp::docker_default()
    }
}

impl Seccomp {
    /// Docker's default profile: an allow-list of about 350 syscalls, EPERM for the rest;
    /// syscalls that need a capability (mount, unshare, setns, bpf, reboot…) are allowed only
    /// when the container has it; clone with namespace flags only with CAP_SYS_ADMIN; clone3
    /// fails with ENOSYS (its flags cannot be inspected) so libc falls back to clone.
    pub fn docker_default() -> Self {
        Seccomp(SeccompKind::Docker {
            deny_terminal_injection: false,
        })
    }

    /// [`docker_default`](Self::docker_default) that also refuses the TIOCSTI and TIOCLINUX
    /// ioctls, which push input into a terminal (CVE-2017-5226). [`Profile::Sandbox`](crate::Profile)
    /// uses it.
    pub fn sandbox() -> Self {
        Seccomp(SeccompKind::Docker {
            deny_terminal_injection: true,
        })
    }

    /// Only the named syscalls (plus `execve`, `execveat`, `write` and `exit_group`, which the
    /// setup needs to exec the payload or report failing to); EPERM for the rest.
    pub fn allow<I, S>(syscalls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Seccomp(SeccompKind::Allow(
            syscalls.into_iter().map(|s| s.as_ref().to_string()).collect(),
        ))
    }

    /// Every syscall but the named ones, which fail with EPERM.
    pub fn deny<I, S>(syscalls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Seccomp(SeccompKind::Deny(
            syscalls.into_iter().map(|s| s.as_ref().to_string()).collect(),
        ))
    }

    /// No filter at all.
    pub fn unconfined() -> Self {
        Seccomp(SeccompKind::Unconfined)
    }

    /// Checks the names before anything runs.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let SeccompKind::Allow(names) | SeccompKind::Deny(names) = &self.0 {
            for name in names {
                sysno(name)?;
            }
        }
        Ok(())
    }

    /// The BPF programs to load, in order (none when unconfined), from the cache when this
    /// policy was compiled before for the same capabilities.
    pub(crate) fn compile(&self, caps: Capabilities) -> Result<Vec<Arc<BpfProgram>>, ConfigError> {
        type Cache = Mutex<HashMap<(Seccomp, u64), Vec<Arc<BpfProgram>>>>;
        static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
        if self.0 == SeccompKind::Unconfined {
            return Ok(Vec::new());
        }
        let key = (self.clone(), caps.bits());
        let cache = CACHE.get_or_init(Default::default);
        if let Some(programs) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(programs.clone());
        }
        let programs: Vec<Arc<BpfProgram>> = self.build(caps)?.into_iter().map(Arc::new).collect();
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, programs.clone());
        Ok(programs)
    }

    fn build(&self, caps: Capabilities) -> Result<Vec<BpfProgram>, ConfigError> {
        let eperm = SeccompAction::Errno(libc::EPERM as u32);
        match &self.0 {
            SeccompKind::Unconfined => Ok(Vec::new()),
            SeccompKind::Deny(names) => {
                let rules = names
                    .iter()
                    .map(|n| Ok((sysno(n)?, Vec::new())))
                    .collect::<Result<_, _>>()?;
                Ok(vec![program(rules, SeccompAction::Allow, eperm)?])
            }
            SeccompKind::Allow(names) => {
                let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
                for name in names
                    .iter()
                    .map(String::as_str)
                    .chain(["execve", "execveat", "write", "exit_group"])
                {
                    rules.insert(sysno(name)?, Vec::new());
                }
                Ok(vec![program(rules, eperm, SeccompAction::Allow)?])
            }
            SeccompKind::Docker {
                deny_terminal_injection,
            } => docker(caps, *deny_terminal_injection),
        }
    }
}

fn docker(caps: Capabilities, deny_terminal_injection: bool) -> Result<Vec<BpfProgram>, ConfigError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let mut allow = |name: &str, conditions: Vec<Vec<SeccompCondition>>| -> Result<(), ConfigError> {
        // Names this architecture does not have are skipped, as libseccomp does.
        if let Ok(nr) = Sysno::from_str(name) {
            let list = rules.entry(nr.id() as i64).or_default();
            for c in conditions {
                list.push(SeccompRule::new(c).map_err(compile_error)?);
            }
        }
        Ok(())
    };
    let admin = caps.contains(Capability::CAP_SYS_ADMIN);
    for name in BASE {
        if *name == "ioctl" && deny_terminal_injection {
            let not = |cmd: u64| condition(1, SeccompCmpOp::Ne, cmd);
            allow(name, vec![vec![not(libc::TIOCSTI), not(libc::TIOCLINUX)]])?;
        } else {
            allow(name, Vec::new())?;
        }
    }
    for (cap, names) in BY_CAPABILITY {
        if caps.contains(*cap) {
            for name in names.iter() {
                allow(name, Vec::new())?;
            }
        }
    }
    allow("socket", vec![vec![condition(0, SeccompCmpOp::Ne, AF_VSOCK)]])?;
    allow(
        "personality",
        PERSONALITIES
            .iter()
            .map(|p| vec![condition(0, SeccompCmpOp::Eq, *p)])
            .collect(),
    )?;
    if admin {
        allow("clone", Vec::new())?;
    } else {
        allow(
            "clone",
            vec![vec![condition(0, SeccompCmpOp::MaskedEq(NAMESPACE_FLAGS), 0)]],
        )?;
    }
    let eperm = SeccompAction::Errno(libc::EPERM as u32);
    let mut programs = vec![program(rules, eperm, SeccompAction::Allow)?];
    if !admin {
        // A second filter, evaluated first: clone3 gets ENOSYS rather than the first filter's
        // EPERM (for equal actions the most recently loaded filter's data wins), so glibc
        // falls back to clone, whose flags the first filter can check.
        let clone3 = BTreeMap::from([(Sysno::clone3.id() as i64, Vec::new())]);
        programs.push(program(
            clone3,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
        )?);
    }
    Ok(programs)
}

/// A comparison of the low 32 bits of argument `index`: ioctl commands and clone flags are
/// ints, and the kernel ignores the high bits (a 64-bit compare could be bypassed with them).
fn condition(index: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value).expect("argument index below 6")
}

fn program(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram, ConfigError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(compile_error)?;
    let filter = SeccompFilter::new(rules, mismatch, matched, arch).map_err(compile_error)?;
    filter.try_into().map_err(compile_error)
}

fn sysno(name: &str) -> Result<i64, ConfigError> {
    Sysno::from_str(name)
        .map(|s| s.id() as i64)
        .map_err(|_| ConfigError::Invalid {
            what: format!("seccomp syscall {name:?}"),
            why: format!("is not a syscall on {}", std::env::consts::ARCH),
        })
}

fn compile_error(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        what: "seccomp filter".into(),
        why: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_profile_compiles_and_is_cached() {
        let first = Seccomp::docker_default()
            .compile(Capabilities::podman_default())
            .unwrap();
        assert_eq!(first.len(), 2, "allow-list plus the clone3 ENOSYS filter");
        let second = Seccomp::docker_default()
            .compile(Capabilities::podman_default())
            .unwrap();
        assert!(Arc::ptr_eq(&first[0], &second[0]));
        let admin = Seccomp::docker_default().compile(Capabilities::all()).unwrap();
        assert_eq!(admin.len(), 1);
    }

    #[test]
    fn unknown_syscall_names_are_refused() {
        assert!(Seccomp::allow(["read", "no_such_call"]).validate().is_err());
        assert!(Seccomp::deny(["ptrace"]).validate().is_ok());
        assert!(Seccomp::unconfined().compile(Capabilities::empty()).unwrap().is_empty());
    }
}
