//! Seccomp filters: Docker's default profile, allow and deny lists, compiled to BPF in the
//! parent (see `bpf`) and cached, so the second spawn of a profile pays nothing.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use syscalls::Sysno;

use super::bpf::{self, Action, Cond, Program};
use super::capabilities::{Capabilities, Capability};
use super::docker_profile::{AF_VSOCK, BASE, BY_CAPABILITY, NAMESPACE_FLAGS, PERSONALITIES};
use super::seccomp_rules::{SeccompRules, always_runs};
use crate::error::ConfigError;

// Warm pools (issue 17): the syscalls a pooled container's launcher adds.
mod pool;

/// A seccomp policy for the payload, loaded as the last setup step before exec.
///
/// Every filter, whatever its lists, also refuses the TIOCSTI and TIOCLINUX ioctls with EPERM:
/// they push input into a terminal, which a payload given the caller's terminal could use to
/// type commands into the caller's shell (CVE-2017-5226; bubblewrap refuses them too). And
/// every filter kills the process on a syscall of another architecture or of x32 (unless a
/// [rule policy](Self::rules) asks for i386 or x32).
///
/// ```
/// use nsbox::Seccomp;
/// let _docker = Seccomp::docker_default();
/// let _tight = Seccomp::allow(["read", "write", "exit_group"]);
/// let _loose = Seccomp::deny(["ptrace", "keyctl"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Seccomp(SeccompKind);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
enum SeccompKind {
    Unconfined,
    Docker,
    Allow(Vec<String>),
    Deny(Vec<String>),
    Rules(SeccompRules),
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
    /// fails with ENOSYS (its flags cannot be inspected) so libc falls back to clone. Unlike
    /// Docker's, TIOCSTI and TIOCLINUX are refused (see [`Seccomp`]).
    pub fn docker_default() -> Self {
        Seccomp(SeccompKind::Docker)
    }

    /// The policy of [`Profile::Sandbox`](crate::Profile). It once added the TIOCSTI and
    /// TIOCLINUX refusal to [`docker_default`](Self::docker_default); every filter has it now,
    /// so the two are the same policy (they compare equal). Kept so that code naming it goes
    /// on compiling and gets whatever the Sandbox profile's policy becomes.
    pub fn sandbox() -> Self {
        Seccomp::docker_default()
    }

    /// Only the named syscalls (plus `execve`, `execveat`, `read`, `write`, `fcntl`, `close`,
    /// `exit_group` and `landlock_restrict_self`, which the launcher needs to wait for its
    /// start, exec the payload or report failing to); EPERM for the rest. `ioctl`, if named,
    /// is allowed but for TIOCSTI and TIOCLINUX.
    pub fn allow<I, S>(syscalls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Seccomp(SeccompKind::Allow(
            syscalls.into_iter().map(|s| s.as_ref().to_string()).collect(),
        ))
    }

    /// Every syscall but the named ones, which fail with EPERM, and TIOCSTI and TIOCLINUX
    /// ioctls, which do too. A list naming a syscall the launcher needs after the filter is
    /// loaded (`read`, `write`, `execve`, `execveat`, `fcntl`, `close`, `exit_group`; and
    /// `landlock_restrict_self` with a Landlock ruleset) is refused with
    /// [`ConfigError::SeccompDeniesLauncherSyscall`]: the payload could not start.
    pub fn deny<I, S>(syscalls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Seccomp(SeccompKind::Deny(
            syscalls.into_iter().map(|s| s.as_ref().to_string()).collect(),
        ))
    }

    /// No filter at all: an explicit opt-out of everything above, the x32 kill and the
    /// TIOCSTI/TIOCLINUX refusal included. A payload given the caller's terminal can then
    /// inject input into it (as far as the kernel allows: its own controlling terminal, or any
    /// with CAP_SYS_ADMIN, and not when `dev.tty.legacy_tiocsti` is 0).
    pub fn unconfined() -> Self {
        Seccomp(SeccompKind::Unconfined)
    }

    /// A policy of rules with argument conditions and any action (see [`SeccompRules`]), as
    /// libseccomp and OCI bundles express them.
    ///
    /// nsbox adds to it only what it adds to every filter (TIOCSTI and TIOCLINUX refused with
    /// EPERM where ioctl may otherwise run; syscalls of architectures not asked for kill the
    /// process). It adds no allow rule: the launcher runs under the filter and needs `execve`,
    /// `execveat`, `read`, `write`, `fcntl`, `close` and `exit_group` (and
    /// `landlock_restrict_self` with a Landlock ruleset), so a policy that does not let them
    /// run whatever their arguments is refused at spawn with
    /// [`ConfigError::SeccompDeniesLauncherSyscall`] (runc likewise needs the profile to allow
    /// what it calls after loading it).
    ///
    /// ```
    /// use nsbox::{Seccomp, SeccompAction, SeccompRule, SeccompRules};
    /// let _ = Seccomp::rules(
    ///     SeccompRules::new(SeccompAction::Allow)
    ///         .rule(SeccompRule::new(["ptrace", "keyctl"], SeccompAction::Errno(38))),
    /// );
    /// ```
    pub fn rules(rules: SeccompRules) -> Self {
        Seccomp(SeccompKind::Rules(rules))
    }

    /// Checks the names before anything runs, and that a deny list leaves the launcher what it
    /// needs (`landlock_restrict_self` only when a Landlock ruleset is to be enforced).
    pub(crate) fn validate(&self, landlock: bool) -> Result<(), ConfigError> {
        if let SeccompKind::Allow(names) | SeccompKind::Deny(names) = &self.0 {
            for name in names {
                sysno(name)?;
            }
        }
        if let SeccompKind::Rules(rules) = &self.0 {
            rules.validate()?;
            let section = rules.native_section();
            for name in LAUNCHER_SYSCALLS {
                if name == "landlock_restrict_self" && !landlock {
                    continue;
                }
                if !always_runs(&section, sysno(name)?) {
                    let syscall = name.to_string();
                    return Err(ConfigError::SeccompDeniesLauncherSyscall { syscall });
                }
            }
        }
        if let SeccompKind::Deny(names) = &self.0 {
            let landlock_restrict_self = sysno("landlock_restrict_self")?;
            for name in names {
                let nr = sysno(name)?;
                let needed = LAUNCHER_SYSCALLS.iter().any(|l| sysno(l).ok() == Some(nr));
                if needed && (landlock || nr != landlock_restrict_self) {
                    let syscall = name.clone();
                    return Err(ConfigError::SeccompDeniesLauncherSyscall { syscall });
                }
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
            SeccompKind::Deny(names) => {
                let denied = numbers(names)?;
                let special = terminal_injection_rule(!denied.contains(&IOCTL));
                bpf::program(&denied, eperm, &special, bpf::RET_ALLOW)
            }
            SeccompKind::Allow(names) => {
                let mut allowed = numbers(names)?;
                for name in LAUNCHER_SYSCALLS {
                    allowed.insert(sysno(name)?);
                }
                let special = terminal_injection_rule(allowed.contains(&IOCTL));
                bpf::program(&allowed, bpf::RET_ALLOW, &special, eperm)
            }
            SeccompKind::Docker => docker(caps),
            SeccompKind::Rules(rules) => rules.compile(),
        };
        program.map(|p| vec![Arc::new(p)]).map_err(compile_error)
    }
}

/// What nsbox-exec (the launcher) calls after the filter is loaded: allowed by every allow
/// list; a deny list naming one is refused. `read` waits on a pipe until PID 1 is confined.
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

const IOCTL: u32 = Sysno::ioctl.id() as u32;

/// The ioctl rule every filter has when it lets `ioctl` through: EPERM for TIOCSTI and
/// TIOCLINUX, which push input into a terminal (CVE-2017-5226; bubblewrap refuses them too).
/// The command's low 32 bits are compared, as the kernel truncates it to an unsigned int: a
/// 64-bit compare would miss TIOCSTI with high bits set.
fn terminal_injection_rule(ioctl_allowed: bool) -> Vec<(u32, Action)> {
    let refused = [libc::TIOCSTI as u32, libc::TIOCLINUX as u32];
    let rules = refused.iter().map(|cmd| vec![Cond::Eq(1, *cmd)]).collect();
    let eperm = bpf::errno(libc::EPERM as u32);
    ioctl_allowed
        .then_some((IOCTL, Action::ReturnIf(rules, eperm)))
        .into_iter()
        .collect()
}

/// Docker's default profile for a container with `caps`, TIOCSTI and TIOCLINUX refused.
fn docker(caps: Capabilities) -> Result<Program, String> {
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
    special.extend(terminal_injection_rule(allowed.contains(&IOCTL)));
    bpf::program(&allowed, bpf::RET_ALLOW, &special, bpf::errno(libc::EPERM as u32))
}

fn sysno(name: &str) -> Result<u32, ConfigError> {
    Sysno::from_str(name)
        .map(|s| s.id() as u32)
        .map_err(|_| ConfigError::Malformed {
            setting: crate::error::Setting::Seccomp,
            value: name.to_string(),
            expected: "a syscall of this architecture",
        })
}

fn compile_error(e: impl std::fmt::Display) -> ConfigError {
    ConfigError::SeccompFilter { why: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::bpf::RET_KILL_PROCESS;
    use crate::security::bpf::interpreter::{SeccompData, run};

    /// One policy of each kind the builder can compile.
    fn every_policy() -> [Seccomp; 6] {
        use crate::security::seccomp_rules::{SeccompAction, SeccompRule};
        [
            Seccomp::deny(["ptrace", "keyctl"]),
            Seccomp::docker_default(),
            Seccomp::sandbox(),
            Seccomp::allow(["ptrace", "keyctl", "ioctl", "getpid"]),
            Seccomp::rules(SeccompRules::new(SeccompAction::Allow)),
            Seccomp::rules(
                SeccompRules::new(SeccompAction::Errno(1))
                    .rule(SeccompRule::new(["ioctl", "getpid"], SeccompAction::Allow)),
            ),
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
    fn terminal_injection_ioctls_are_refused_under_every_policy() {
        let eperm = bpf::errno(libc::EPERM as u32);
        let (tiocsti, tioclinux) = (libc::TIOCSTI, libc::TIOCLINUX);
        for policy in every_policy() {
            // The kernel compares the command's low 32 bits; so must the filter.
            for cmd in [tiocsti, tioclinux, tiocsti | 1 << 32, tioclinux | 0xffff_0000_0000] {
                let data = native(Sysno::ioctl, &[0, cmd]);
                assert_eq!(verdict(&policy, data), eperm, "{policy:?} ioctl {cmd:#x}");
            }
            let tcgets = native(Sysno::ioctl, &[0, libc::TCGETS]);
            assert_eq!(verdict(&policy, tcgets), bpf::RET_ALLOW, "{policy:?} TCGETS");
        }
        // Lists that refuse ioctl altogether keep refusing every command.
        let tcgets = native(Sysno::ioctl, &[0, libc::TCGETS]);
        assert_eq!(verdict(&Seccomp::deny(["ioctl"]), tcgets), eperm);
        assert_eq!(verdict(&Seccomp::allow(["getpid"]), tcgets), eperm);
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
    fn launcher_syscalls_are_allowed_by_allow_lists_and_docker() {
        let launcher = [
            Sysno::execve,
            Sysno::execveat,
            Sysno::read,
            Sysno::write,
            Sysno::fcntl,
            Sysno::close,
            Sysno::exit_group,
            Sysno::landlock_restrict_self,
        ];
        for policy in [Seccomp::allow(["getpid"]), Seccomp::docker_default()] {
            for caps in [Capabilities::empty(), Capabilities::podman_default()] {
                let program = &policy.compile(caps).unwrap()[0];
                for syscall in launcher {
                    let answer = run(program, &native(syscall, &[]));
                    assert_eq!(answer, bpf::RET_ALLOW, "{policy:?} {syscall}");
                }
            }
        }
    }

    #[test]
    fn deny_lists_naming_a_launcher_syscall_are_refused() {
        for name in ["read", "execve", "execveat", "write", "exit_group", "fcntl", "close"] {
            let err = Seccomp::deny(["ptrace", name]).validate(false).unwrap_err();
            assert_eq!(
                err,
                ConfigError::SeccompDeniesLauncherSyscall { syscall: name.into() },
                "{name}"
            );
            assert!(err.to_string().contains(name), "{err}");
        }
        // landlock_restrict_self only matters when there is a ruleset to enforce.
        assert!(Seccomp::deny(["landlock_restrict_self"]).validate(false).is_ok());
        assert!(Seccomp::deny(["landlock_restrict_self"]).validate(true).is_err());
        assert!(Seccomp::allow(["read", "close"]).validate(true).is_ok());
    }

    #[test]
    fn unknown_syscall_names_are_refused() {
        assert!(Seccomp::allow(["read", "no_such_call"]).validate(false).is_err());
        assert!(Seccomp::deny(["ptrace"]).validate(false).is_ok());
        assert!(Seccomp::unconfined().compile(Capabilities::empty()).unwrap().is_empty());
    }
}

#[cfg(test)]
mod rules_tests {
    use super::*;
    use crate::security::bpf::interpreter::{SeccompData, run};
    use crate::security::bpf::{AUDIT_ARCH_I386, RET_KILL_PROCESS};
    use crate::security::seccomp_rules::{SeccompAction, SeccompArch, SeccompCondition, SeccompRule};

    const LAUNCHER: [&str; 7] = ["execve", "execveat", "read", "write", "exit_group", "fcntl", "close"];

    fn docker_like() -> SeccompRules {
        let personality = |p| SeccompRule::new(["personality"], SeccompAction::Allow).when(SeccompCondition::eq(0, p));
        SeccompRules::new(SeccompAction::Errno(1))
            .rule(SeccompRule::new(LAUNCHER, SeccompAction::Allow))
            .rule(SeccompRule::new(
                ["ioctl", "getpid", "no_such_call", "arm_fadvise64_64"],
                SeccompAction::Allow,
            ))
            .rule(personality(0))
            .rule(personality(0xffff_ffff))
            .rule(
                SeccompRule::new(["clone"], SeccompAction::Allow).when(SeccompCondition::masked_eq(
                    0,
                    NAMESPACE_FLAGS as u64,
                    0,
                )),
            )
            .rule(SeccompRule::new(["clone3"], SeccompAction::Errno(38)))
            .rule(SeccompRule::new(["ptrace"], SeccompAction::KillProcess))
            .architecture(SeccompArch::X86)
            .architecture(SeccompArch::X32)
    }

    fn program(rules: SeccompRules) -> Arc<Program> {
        let policy = Seccomp::rules(rules);
        policy.validate(false).unwrap();
        policy.compile(Capabilities::empty()).unwrap().remove(0)
    }

    fn native(name: Sysno, args: &[u64]) -> SeccompData {
        SeccompData::native(name.id() as u32, args)
    }

    #[test]
    fn rule_policies_answer_by_argument_and_skip_unknown_names() {
        let p = program(docker_like());
        let eperm = bpf::errno(1);
        assert_eq!(run(&p, &native(Sysno::personality, &[0])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &native(Sysno::personality, &[0xffff_ffff])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &native(Sysno::personality, &[8])), eperm);
        // 64-bit: the high half counts.
        assert_eq!(run(&p, &native(Sysno::personality, &[0x1_0000_0000])), eperm);
        let newns = libc::CLONE_NEWNS as u64;
        assert_eq!(run(&p, &native(Sysno::clone, &[newns | 17])), eperm);
        assert_eq!(run(&p, &native(Sysno::clone, &[17])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &native(Sysno::clone3, &[])), bpf::errno(38));
        assert_eq!(run(&p, &native(Sysno::ptrace, &[])), RET_KILL_PROCESS);
        assert_eq!(run(&p, &native(Sysno::mount, &[])), eperm);
        for cmd in [libc::TIOCSTI, libc::TIOCLINUX, libc::TIOCSTI | 1 << 32] {
            assert_eq!(run(&p, &native(Sysno::ioctl, &[0, cmd])), eperm, "{cmd:#x}");
        }
        assert_eq!(run(&p, &native(Sysno::ioctl, &[0, libc::TCGETS])), bpf::RET_ALLOW);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn compat_architectures_get_the_rules_under_their_own_numbers() {
        let p = program(docker_like());
        let i386 = |nr: u32, args: &[u64]| SeccompData {
            arch: AUDIT_ARCH_I386,
            ..SeccompData::native(nr, args)
        };
        let x32 = |nr: u32, args: &[u64]| SeccompData::native(0x4000_0000 | nr, args);
        let eperm = bpf::errno(1);
        // i386: personality 136, getpid 20, ioctl 54, mount 21; x32: getpid 39, ioctl 514.
        assert_eq!(run(&p, &i386(136, &[0])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &i386(136, &[8])), eperm);
        assert_eq!(run(&p, &i386(20, &[])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &i386(21, &[])), eperm);
        assert_eq!(run(&p, &i386(54, &[0, libc::TIOCSTI])), eperm);
        assert_eq!(run(&p, &i386(54, &[0, libc::TCGETS])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &x32(39, &[])), bpf::RET_ALLOW);
        assert_eq!(run(&p, &x32(514, &[0, libc::TIOCSTI])), eperm);
        assert_eq!(run(&p, &x32(514, &[0, libc::TCGETS])), bpf::RET_ALLOW);
        // x32's own ioctl number only: x86_64's 16 with the bit is not ioctl there.
        assert_eq!(run(&p, &x32(16, &[0, libc::TCGETS])), eperm);
        // Without the compat architectures, their syscalls are killed as before.
        let native_only = program(SeccompRules::new(SeccompAction::Allow));
        assert_eq!(run(&native_only, &i386(20, &[])), RET_KILL_PROCESS);
        assert_eq!(run(&native_only, &x32(39, &[])), RET_KILL_PROCESS);
        // Another architecture still is, with them.
        let arm = SeccompData {
            arch: 40 | 0x4000_0000,
            ..SeccompData::native(20, &[])
        };
        assert_eq!(run(&p, &arm), RET_KILL_PROCESS);
    }

    #[test]
    fn every_action_has_its_return_value() {
        let cases = [
            (SeccompAction::Allow, 0x7fff_0000),
            (SeccompAction::Errno(5), 0x0005_0005),
            (SeccompAction::KillThread, 0),
            (SeccompAction::KillProcess, 0x8000_0000),
            (SeccompAction::Trap, 0x0003_0000),
            (SeccompAction::Trace(7), 0x7ff0_0007),
            (SeccompAction::Log, 0x7ffc_0000),
        ];
        for (action, ret) in cases {
            let p = program(SeccompRules::new(SeccompAction::Allow).rule(SeccompRule::new(["getppid"], action)));
            assert_eq!(run(&p, &native(Sysno::getppid, &[])), ret, "{action:?}");
            assert_eq!(run(&p, &native(Sysno::getpid, &[])), bpf::RET_ALLOW, "{action:?}");
        }
    }

    #[test]
    fn rule_policies_that_stop_the_launcher_are_refused() {
        let allow_all_but = |name: &str, action| {
            Seccomp::rules(SeccompRules::new(SeccompAction::Allow).rule(SeccompRule::new([name], action)))
        };
        for name in LAUNCHER {
            let err = allow_all_but(name, SeccompAction::Errno(1))
                .validate(false)
                .unwrap_err();
            assert_eq!(err, ConfigError::SeccompDeniesLauncherSyscall { syscall: name.into() });
            // A conditional refusal is refused too: the launcher's arguments are not the policy's.
            let conditional = SeccompRules::new(SeccompAction::Allow)
                .rule(SeccompRule::new([name], SeccompAction::Errno(1)).when(SeccompCondition::eq(0, 3)));
            assert!(Seccomp::rules(conditional).validate(false).is_err(), "{name}");
            assert!(
                allow_all_but(name, SeccompAction::Log).validate(false).is_ok(),
                "{name}"
            );
        }
        let ruleset = allow_all_but("landlock_restrict_self", SeccompAction::KillThread);
        assert!(ruleset.validate(false).is_ok());
        assert!(ruleset.validate(true).is_err());
        // Deny by default with the launcher's syscalls allowed is fine; without, refused.
        assert!(Seccomp::rules(docker_like()).validate(false).is_ok());
        let bare = Seccomp::rules(SeccompRules::new(SeccompAction::Errno(1)));
        assert_eq!(
            bare.validate(false).unwrap_err(),
            ConfigError::SeccompDeniesLauncherSyscall {
                syscall: "execve".into()
            }
        );
        let bad_index = SeccompRules::new(SeccompAction::Allow)
            .rule(SeccompRule::new(["getpid"], SeccompAction::Errno(1)).when(SeccompCondition::eq(6, 0)));
        assert!(matches!(
            Seccomp::rules(bad_index).validate(false),
            Err(ConfigError::Malformed { .. })
        ));
    }

    #[test]
    fn filter_flags_travel_with_the_program() {
        let rules = SeccompRules::new(SeccompAction::Allow);
        assert_eq!(program(rules.clone()).flags(), 0);
        assert_eq!(program(rules.clone().log_actions()).flags(), 2);
        assert_eq!(program(rules.log_actions().allow_speculation()).flags(), 6);
    }

    #[test]
    fn a_large_rule_policy_compiles_within_the_kernel_bounds() {
        // Every native syscall its own rule with a 64-bit condition: ~370 blocks behind a
        // search tree, most of them too far for a conditional jump.
        let mut rules =
            SeccompRules::new(SeccompAction::Errno(1)).rule(SeccompRule::new(LAUNCHER, SeccompAction::Allow));
        for nr in 0..450u32 {
            if let Some(sysno) = Sysno::new(nr as usize) {
                rules = rules.rule(
                    SeccompRule::new([sysno.name()], SeccompAction::Errno(nr as u16 + 1))
                        .when(SeccompCondition::gt(0, 1 << 33)),
                );
            }
        }
        let p = program(rules);
        assert!(p.len() > 2000 && p.len() <= 4096, "{} instructions", p.len());
        let getppid = Sysno::getppid.id() as u64;
        let answer = |args: &[u64]| run(&p, &SeccompData::native(getppid as u32, args));
        assert_eq!(answer(&[1 << 34, 0]), bpf::errno(getppid as u32 + 1));
        assert_eq!(answer(&[1 << 33, 0]), bpf::errno(1));
    }
}
