//! Rule-based seccomp policies, as libseccomp and the OCI runtime spec express them: a default
//! action, and rules giving syscalls (by name) an action when their arguments match.
//! Compiled to BPF by `bpf::rules`.

use std::collections::BTreeMap;

use super::bpf::rules::{Rule, Section, Sections, Test};
use super::bpf::{self, Program, RET_ALLOW, RET_LOG, RET_TRACE};
use super::syscall_tables;
use crate::error::{ConfigError, Setting};

/// What a seccomp filter does with a syscall (the `SECCOMP_RET_*` of seccomp(2)).
///
/// `SCMP_ACT_NOTIFY` (a supervisor answering over a listener fd) has no equivalent: nsbox has
/// no seccomp supervisor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SeccompAction {
    /// The syscall runs.
    Allow,
    /// The syscall fails with this errno without running (the kernel caps it at 4095).
    Errno(u16),
    /// The calling thread is killed (`SECCOMP_RET_KILL_THREAD`).
    KillThread,
    /// The whole process is killed with SIGSYS (`SECCOMP_RET_KILL_PROCESS`).
    KillProcess,
    /// The thread gets SIGSYS, which it may handle (`SECCOMP_RET_TRAP`).
    Trap,
    /// A ptrace tracer is notified with this value; without one the syscall fails with ENOSYS
    /// (`SECCOMP_RET_TRACE`).
    Trace(u16),
    /// The syscall runs and is logged to the audit log (`SECCOMP_RET_LOG`).
    Log,
}

impl SeccompAction {
    /// The filter's return value.
    pub(crate) fn ret(self) -> u32 {
        use super::bpf::{RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_KILL_THREAD, RET_LOG, RET_TRACE, RET_TRAP};
        match self {
            SeccompAction::Allow => RET_ALLOW,
            SeccompAction::Errno(e) => RET_ERRNO | e as u32,
            SeccompAction::KillThread => RET_KILL_THREAD,
            SeccompAction::KillProcess => RET_KILL_PROCESS,
            SeccompAction::Trap => RET_TRAP,
            SeccompAction::Trace(v) => RET_TRACE | v as u32,
            SeccompAction::Log => RET_LOG,
        }
    }
}

/// How a [`SeccompCondition`] compares an argument with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub(crate) enum Compare {
    Ne,
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
    /// `arg & mask == value`.
    MaskedEq(u64),
}

/// A test of one syscall argument (0 to 5), unsigned, as libseccomp's `SCMP_CMP_*`.
///
/// On x86_64 and aarch64 arguments are 64-bit and both halves are compared; for the 32-bit
/// compat architectures ([`SeccompArch`]) only the low 32 bits of argument and value are, as
/// libseccomp does.
///
/// ```
/// use nsbox::SeccompCondition;
/// let _per_linux = SeccompCondition::eq(0, 0); // personality(PER_LINUX)
/// let _no_namespaces = SeccompCondition::masked_eq(0, 0x7e02_0000, 0); // clone flags
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SeccompCondition {
    pub(crate) index: u8,
    pub(crate) compare: Compare,
    pub(crate) value: u64,
}

impl SeccompCondition {
    fn new(index: u8, compare: Compare, value: u64) -> Self {
        SeccompCondition { index, compare, value }
    }
    /// Argument `index` is not `value` (`SCMP_CMP_NE`).
    pub fn ne(index: u8, value: u64) -> Self {
        Self::new(index, Compare::Ne, value)
    }
    /// Argument `index` is less than `value` (`SCMP_CMP_LT`).
    pub fn lt(index: u8, value: u64) -> Self {
        Self::new(index, Compare::Lt, value)
    }
    /// Argument `index` is at most `value` (`SCMP_CMP_LE`).
    pub fn le(index: u8, value: u64) -> Self {
        Self::new(index, Compare::Le, value)
    }
    /// Argument `index` is `value` (`SCMP_CMP_EQ`).
    pub fn eq(index: u8, value: u64) -> Self {
        Self::new(index, Compare::Eq, value)
    }
    /// Argument `index` is at least `value` (`SCMP_CMP_GE`).
    pub fn ge(index: u8, value: u64) -> Self {
        Self::new(index, Compare::Ge, value)
    }
    /// Argument `index` is greater than `value` (`SCMP_CMP_GT`).
    pub fn gt(index: u8, value: u64) -> Self {
        Self::new(index, Compare::Gt, value)
    }
    /// Argument `index` masked with `mask` is `value` (`SCMP_CMP_MASKED_EQ`; a `value` with
    /// bits outside `mask` never matches).
    pub fn masked_eq(index: u8, mask: u64, value: u64) -> Self {
        Self::new(index, Compare::MaskedEq(mask), value)
    }
}

/// Syscalls, by name, that get an action when all the rule's conditions hold.
///
/// ```
/// use nsbox::{SeccompAction, SeccompCondition, SeccompRule};
/// let _ = SeccompRule::new(["personality"], SeccompAction::Allow).when(SeccompCondition::eq(0, 8));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SeccompRule {
    pub(crate) names: Vec<String>,
    pub(crate) action: SeccompAction,
    pub(crate) conditions: Vec<SeccompCondition>,
}

impl SeccompRule {
    /// The named syscalls get `action` (unconditionally, until [`when`](Self::when) adds a
    /// condition).
    pub fn new<I, S>(names: I, action: SeccompAction) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        SeccompRule {
            names: names.into_iter().map(|s| s.as_ref().to_string()).collect(),
            action,
            conditions: Vec::new(),
        }
    }

    /// Adds a condition; all of a rule's conditions must hold (AND).
    pub fn when(mut self, condition: SeccompCondition) -> Self {
        self.conditions.push(condition);
        self
    }
}

/// A 32-bit architecture the filter handles as well as the native one. Syscalls of any
/// architecture not asked for kill the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[non_exhaustive]
pub enum SeccompArch {
    /// i386 programs on x86_64 (`AUDIT_ARCH_I386`, `SCMP_ARCH_X86`).
    X86,
    /// x32 programs on x86_64: the x86_64 `AUDIT_ARCH` with `__X32_SYSCALL_BIT` in the number
    /// (`SCMP_ARCH_X32`).
    X32,
}

/// A seccomp policy of rules, for [`Seccomp::rules`](crate::Seccomp::rules): libseccomp's
/// model, and the OCI runtime spec's `linux.seccomp`.
///
/// A syscall's rules are tried in the order given; the first whose conditions all hold gives
/// its action; without one, the default action applies. Names a given architecture does not
/// have are skipped for it, as libseccomp (and runc) skip them: profiles such as Docker's list
/// the syscalls of every architecture; a misspelt name is skipped too.
///
/// ```
/// use nsbox::{Seccomp, SeccompAction, SeccompCondition, SeccompRule, SeccompRules};
/// let policy = Seccomp::rules(
///     SeccompRules::new(SeccompAction::Errno(1))
///         .rule(SeccompRule::new(["read", "write", "close", "exit_group", "execve"], SeccompAction::Allow))
///         .rule(SeccompRule::new(["execveat", "fcntl"], SeccompAction::Allow))
///         .rule(SeccompRule::new(["personality"], SeccompAction::Allow).when(SeccompCondition::eq(0, 0)))
///         .rule(SeccompRule::new(["ptrace"], SeccompAction::KillProcess)),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SeccompRules {
    pub(crate) default: SeccompAction,
    pub(crate) rules: Vec<SeccompRule>,
    pub(crate) architectures: Vec<SeccompArch>,
    pub(crate) log: bool,
    pub(crate) spec_allow: bool,
}

impl SeccompRules {
    /// No rule yet: every syscall gets `default`.
    pub fn new(default: SeccompAction) -> Self {
        SeccompRules {
            default,
            rules: Vec::new(),
            architectures: Vec::new(),
            log: false,
            spec_allow: false,
        }
    }

    /// Adds a rule, tried after those added before it.
    pub fn rule(mut self, rule: SeccompRule) -> Self {
        self.rules.push(rule);
        self
    }

    /// Filters the syscalls of a 32-bit compat architecture with the same rules (names mapped
    /// to its numbers) instead of killing them.
    pub fn architecture(mut self, arch: SeccompArch) -> Self {
        if !self.architectures.contains(&arch) {
            self.architectures.push(arch);
            self.architectures.sort();
        }
        self
    }

    /// Logs every action but [`SeccompAction::Allow`] (`SECCOMP_FILTER_FLAG_LOG`).
    pub fn log_actions(mut self) -> Self {
        self.log = true;
        self
    }

    /// Leaves the speculative store bypass mitigation off, which loading a filter otherwise
    /// turns on (`SECCOMP_FILTER_FLAG_SPEC_ALLOW`).
    pub fn allow_speculation(mut self) -> Self {
        self.spec_allow = true;
        self
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits.
    pub(crate) fn flags(&self) -> u32 {
        const LOG: u32 = 2;
        const SPEC_ALLOW: u32 = 4;
        (self.log as u32 * LOG) | (self.spec_allow as u32 * SPEC_ALLOW)
    }

    /// Argument indexes within 0..=5, and compat architectures only where the machine has them.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for rule in &self.rules {
            for condition in &rule.conditions {
                if condition.index > 5 {
                    return Err(ConfigError::Malformed {
                        setting: Setting::Seccomp,
                        value: format!("argument {} of {:?}", condition.index, rule.names),
                        expected: "a syscall argument index from 0 to 5",
                    });
                }
            }
        }
        if !cfg!(target_arch = "x86_64")
            && let Some(arch) = self.architectures.first()
        {
            return Err(ConfigError::Malformed {
                setting: Setting::Seccomp,
                value: format!("{arch:?}"),
                expected: "a compat architecture of this machine (x86 and x32 are x86_64's)",
            });
        }
        Ok(())
    }
}

impl SeccompRules {
    /// The program: the native section, and those of the compat architectures asked for.
    pub(crate) fn compile(&self) -> Result<Program, String> {
        let compat = |arch: SeccompArch| {
            let wanted = self.architectures.contains(&arch);
            wanted.then(|| self.section(|name| syscall_tables::compat(arch, name), false))
        };
        let sections = Sections {
            native: self.native_section(),
            i386: compat(SeccompArch::X86),
            x32: compat(SeccompArch::X32),
        };
        bpf::rules::program(&sections, self.flags())
    }

    pub(crate) fn native_section(&self) -> Section {
        self.section(syscall_tables::native, true)
    }

    /// The rules by syscall number (names `number` does not know skipped), nsbox's terminal
    /// rule first for ioctl.
    fn section(&self, number: impl Fn(&str) -> Option<u32>, wide: bool) -> Section {
        let mut syscalls: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
        for rule in &self.rules {
            let tests: Vec<Test> = rule
                .conditions
                .iter()
                .map(|c| Test {
                    index: c.index,
                    compare: c.compare,
                    value: c.value,
                    wide,
                })
                .collect();
            let mut numbers: Vec<u32> = rule.names.iter().filter_map(|n| number(n)).collect();
            numbers.sort_unstable();
            numbers.dedup();
            for nr in numbers {
                let ret = rule.action.ret();
                syscalls.entry(nr).or_default().push(Rule {
                    tests: tests.clone(),
                    ret,
                });
            }
        }
        let default = self.default.ret();
        if let Some(ioctl) = number("ioctl") {
            let rules = syscalls.entry(ioctl).or_default();
            let may_run = match rules.first() {
                Some(first) if first.tests.is_empty() => may_run(first.ret),
                Some(_) => true,
                None => may_run(default),
            };
            if may_run {
                // As every nsbox filter (see `Seccomp`): the command's low 32 bits, which is
                // what the kernel looks at.
                let terminal = [libc::TIOCSTI, libc::TIOCLINUX].map(|cmd| Rule {
                    tests: vec![Test {
                        index: 1,
                        compare: Compare::Eq,
                        value: cmd as u32 as u64,
                        wide: false,
                    }],
                    ret: bpf::errno(libc::EPERM as u32),
                });
                rules.splice(0..0, terminal);
            }
        }
        Section { syscalls, default }
    }
}

/// Whether a filter returning `ret` may let the syscall run (a tracer may let it, too).
fn may_run(ret: u32) -> bool {
    ret == RET_ALLOW || ret == RET_LOG || ret & 0xffff_0000 == RET_TRACE
}

/// Whether the native syscall `nr` runs whatever its arguments under `section`.
pub(crate) fn always_runs(section: &Section, nr: u32) -> bool {
    let runs = |ret: u32| ret == RET_ALLOW || ret == RET_LOG;
    for rule in section.syscalls.get(&nr).into_iter().flatten() {
        if rule.tests.is_empty() {
            return runs(rule.ret);
        }
        if !runs(rule.ret) {
            return false;
        }
    }
    runs(section.default)
}
