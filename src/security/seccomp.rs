//! Seccomp filters: Docker's default profile, allow and deny lists, compiled to BPF in the
//! parent (see `bpf`) and cached, so the second spawn of a profile pays nothing.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use syscalls::Sysno;

use super::bpf::{self, Action, Cond, Program};
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

    /// Only the named syscalls (plus `execve`, `execveat`, `fcntl`, `write`, `exit_group`,
    /// `close` and `landlock_restrict_self`, which the launcher needs to exec the payload or
    /// report failing to); EPERM for the rest.
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
    pub(crate) fn compile(&self, caps: Capabilities) -> Result<Vec<Arc<Program>>, ConfigError> {
        type Cache = Mutex<HashMap<(Seccomp, u64), Vec<Arc<Program>>>>;
        static CACHE: std::sync::OnceLock<Cache> = std::sync::OnceLock::new();
        if self.0 == SeccompKind::Unconfined {
            return Ok(Vec::new());
        }
        let key = (self.clone(), caps.bits());
        let cache = CACHE.get_or_init(Default::default);
        if let Some(programs) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(programs.clone());
        }
        let programs = self.build(caps)?;
        cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, programs.clone());
        Ok(programs)
    }

    fn build(&self, caps: Capabilities) -> Result<Vec<Arc<Program>>, ConfigError> {
        let eperm = bpf::errno(libc::EPERM as u32);
        let numbers = |names: &[String]| names.iter().map(|n| sysno(n)).collect::<Result<BTreeSet<u32>, _>>();
        let program = match &self.0 {
            SeccompKind::Unconfined => return Ok(Vec::new()),
            SeccompKind::Deny(names) => bpf::program(&numbers(names)?, eperm, &[], bpf::RET_ALLOW),
            SeccompKind::Allow(names) => {
                let mut allowed = numbers(names)?;
                for name in LAUNCHER_SYSCALLS {
                    allowed.insert(sysno(name)?);
                }
                bpf::program(&allowed, bpf::RET_ALLOW, &[], eperm)
            }
            SeccompKind::Docker {
                deny_terminal_injection,
            } => docker(caps, *deny_terminal_injection),
        };
        program.map(|p| vec![Arc::new(p)]).map_err(compile_error)
    }
}

/// What nsbox-exec (the launcher) calls after the filter is loaded; always allowed.
const LAUNCHER_SYSCALLS: [&str; 7] = [
    "execve",
    "execveat",
    "write",
    "exit_group",
    "fcntl",
    "close",
    "landlock_restrict_self",
];

/// Docker's default profile for a container with `caps`.
fn docker(caps: Capabilities, deny_terminal_injection: bool) -> Result<Program, String> {
    // Names this architecture does not have are skipped, as libseccomp does.
    let known = |names: &'static [&'static str]| {
        names
            .iter()
            .filter_map(|n| Sysno::from_str(n).ok())
            .map(|s| s.id() as u32)
    };
    let mut allowed: BTreeSet<u32> = known(BASE).collect();
    for (cap, names) in BY_CAPABILITY {
        if caps.contains(*cap) {
            allowed.extend(known(names));
        }
    }
    let nr = |s: Sysno| s.id() as u32;
    let mut special = vec![
        (nr(Sysno::socket), Action::AllowIf(vec![vec![Cond::Ne(0, AF_VSOCK)]])),
        (
            nr(Sysno::personality),
            Action::AllowIf(PERSONALITIES.iter().map(|p| vec![Cond::Eq(0, *p)]).collect()),
        ),
    ];
    if caps.contains(Capability::CAP_SYS_ADMIN) {
        allowed.insert(nr(Sysno::clone));
    } else {
        special.push((
            nr(Sysno::clone),
            Action::AllowIf(vec![vec![Cond::MaskedEq(0, NAMESPACE_FLAGS, 0)]]),
        ));
        // clone3's flags are in memory a filter cannot read: ENOSYS makes libc fall back to
        // clone, whose flags the rule above checks.
        special.push((nr(Sysno::clone3), Action::Return(bpf::errno(libc::ENOSYS as u32))));
    }
    if deny_terminal_injection {
        let (tiocsti, tioclinux) = (libc::TIOCSTI as u32, libc::TIOCLINUX as u32);
        special.push((
            nr(Sysno::ioctl),
            Action::AllowIf(vec![vec![Cond::Ne(1, tiocsti), Cond::Ne(1, tioclinux)]]),
        ));
    }
    bpf::program(&allowed, bpf::RET_ALLOW, &special, bpf::errno(libc::EPERM as u32))
}

fn sysno(name: &str) -> Result<u32, ConfigError> {
    Sysno::from_str(name)
        .map(|s| s.id() as u32)
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
    use crate::security::bpf::RET_KILL_PROCESS;
    use crate::security::bpf::interpreter::{SeccompData, run};

    /// One policy of each kind the builder can compile.
    fn every_policy() -> [Seccomp; 4] {
        [
            Seccomp::deny(["ptrace", "keyctl"]),
            Seccomp::docker_default(),
            Seccomp::sandbox(),
            Seccomp::allow(["ptrace", "keyctl", "ioctl", "getpid"]),
        ]
    }

    /// What `seccomp`'s compiled program answers for `data`, per the interpreter.
    fn verdict(seccomp: &Seccomp, data: SeccompData) -> u32 {
        let programs = seccomp.compile(Capabilities::podman_default()).unwrap();
        assert_eq!(programs.len(), 1, "{seccomp:?}");
        run(&programs[0], &data)
    }

    fn native(name: Sysno, args: &[u64]) -> SeccompData {
        SeccompData::native(name.id() as u32, args)
    }

    #[test]
    fn compiled_policies_answer_native_syscalls_as_listed() {
        let eperm = bpf::errno(libc::EPERM as u32);
        let enosys = bpf::errno(libc::ENOSYS as u32);
        let deny = Seccomp::deny(["ptrace", "keyctl"]);
        assert_eq!(verdict(&deny, native(Sysno::ptrace, &[])), eperm);
        assert_eq!(verdict(&deny, native(Sysno::keyctl, &[])), eperm);
        assert_eq!(verdict(&deny, native(Sysno::getpid, &[])), bpf::RET_ALLOW);
        assert_eq!(verdict(&deny, native(Sysno::mount, &[])), bpf::RET_ALLOW);
        let allow = Seccomp::allow(["getpid"]);
        assert_eq!(verdict(&allow, native(Sysno::getpid, &[])), bpf::RET_ALLOW);
        assert_eq!(verdict(&allow, native(Sysno::execve, &[])), bpf::RET_ALLOW);
        assert_eq!(verdict(&allow, native(Sysno::getppid, &[])), eperm);
        let docker = Seccomp::docker_default();
        assert_eq!(verdict(&docker, native(Sysno::getpid, &[])), bpf::RET_ALLOW);
        assert_eq!(verdict(&docker, native(Sysno::keyctl, &[])), eperm);
        assert_eq!(verdict(&docker, native(Sysno::clone3, &[])), enosys);
        let (inet, vsock) = (libc::AF_INET as u64, AF_VSOCK as u64);
        assert_eq!(verdict(&docker, native(Sysno::socket, &[inet])), bpf::RET_ALLOW);
        assert_eq!(verdict(&docker, native(Sysno::socket, &[vsock])), eperm);
        let newns = libc::CLONE_NEWNS as u64;
        assert_eq!(verdict(&docker, native(Sysno::clone, &[newns])), eperm);
        assert_eq!(verdict(&docker, native(Sysno::clone, &[0])), bpf::RET_ALLOW);
    }

    #[test]
    fn other_architectures_are_killed_under_every_policy() {
        const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
        for policy in every_policy() {
            let data = SeccompData {
                arch: AUDIT_ARCH_I386,
                ..native(Sysno::getpid, &[])
            };
            assert_eq!(verdict(&policy, data), RET_KILL_PROCESS, "{policy:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_syscalls_are_killed_under_every_policy() {
        // x32 calls report the x86_64 arch with this bit in nr; a deny list must not let them
        // reach its default (allow). ptrace is x32's own 521, keyctl the shared 250.
        const X32_BIT: u32 = 0x4000_0000;
        for policy in every_policy() {
            for nr in [521, 250, Sysno::getpid.id() as u32] {
                let data = SeccompData::native(X32_BIT | nr, &[]);
                assert_eq!(verdict(&policy, data), RET_KILL_PROCESS, "{policy:?} x32 {nr}");
            }
        }
    }

    #[test]
    fn docker_profile_compiles_and_is_cached() {
        let first = Seccomp::docker_default()
            .compile(Capabilities::podman_default())
            .unwrap();
        let second = Seccomp::docker_default()
            .compile(Capabilities::podman_default())
            .unwrap();
        assert!(Arc::ptr_eq(&first[0], &second[0]));
        assert!(first[0].len() < 300, "{} instructions", first[0].len());
        for caps in [Capabilities::all(), Capabilities::empty()] {
            assert_eq!(Seccomp::sandbox().compile(caps).unwrap().len(), 1);
        }
    }

    #[test]
    fn unknown_syscall_names_are_refused() {
        assert!(Seccomp::allow(["read", "no_such_call"]).validate().is_err());
        assert!(Seccomp::deny(["ptrace"]).validate().is_ok());
        assert!(Seccomp::unconfined().compile(Capabilities::empty()).unwrap().is_empty());
    }
}
