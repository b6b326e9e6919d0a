//! `linux.seccomp` onto nsbox's rule policy ([`Seccomp::rules`]): the default action and
//! errno, every rule with its action, errno and argument conditions, the compat architectures,
//! the LOG and SPEC_ALLOW flags. What nsbox cannot do (notify, TSYNC, WAIT_KILLABLE_RECV,
//! architectures this machine does not run) is refused by name.

use nsbox::{ContainerBuilder, Seccomp, SeccompAction, SeccompArch, SeccompCondition, SeccompRule, SeccompRules};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use crate::error::{Result, invalid, unsupported};
use crate::process::name_of;

/// runc's errno for `SCMP_ACT_ERRNO` and `SCMP_ACT_TRACE` without `errnoRet`.
const EPERM: u32 = 1;

pub(crate) fn map(b: &mut ContainerBuilder, seccomp: Option<&LinuxSeccomp>) -> Result<()> {
    let Some(s) = seccomp else {
        // No filter, as runc loads none.
        b.seccomp(Seccomp::unconfined());
        return Ok(());
    };
    let field = "linux.seccomp";
    if s.listener_path().is_some() || s.listener_metadata().is_some() {
        return Err(unsupported(
            format!("{field}.listenerPath"),
            "nsbox has no seccomp notify",
        ));
    }
    let default = action(
        s.default_action(),
        s.default_errno_ret(),
        &format!("{field}.defaultAction"),
        &format!("{field}.defaultErrnoRet"),
    )?;
    let mut rules = SeccompRules::new(default);
    for (i, arch) in s.architectures().iter().flatten().enumerate() {
        match architecture(*arch) {
            Some(None) => {}
            Some(Some(compat)) => rules = rules.architecture(compat),
            None => {
                return Err(unsupported(
                    format!("{field}.architectures[{i}]"),
                    format!(
                        "{}: nsbox filters the native architecture and, on x86_64, x86 and x32; it kills syscalls of any other",
                        name_of(arch)
                    ),
                ));
            }
        }
    }
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        rules = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => rules.log_actions(),
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => rules.allow_speculation(),
            other => {
                return Err(unsupported(
                    format!("{field}.flags[{i}]"),
                    format!(
                        "{}: nsbox loads filters with SECCOMP_FILTER_FLAG_LOG and SPEC_ALLOW only",
                        name_of(other)
                    ),
                ));
            }
        };
    }
    for (i, call) in s.syscalls().iter().flatten().enumerate() {
        let at = format!("{field}.syscalls[{i}]");
        let action = action(
            call.action(),
            call.errno_ret(),
            &format!("{at}.action"),
            &format!("{at}.errnoRet"),
        )?;
        // runc skips a rule whose action is the default (libseccomp refuses it).
        if action == default {
            continue;
        }
        let mut rule = SeccompRule::new(call.names(), action);
        for (j, arg) in call.args().iter().flatten().enumerate() {
            rule = rule.when(condition(arg, &format!("{at}.args[{j}]"))?);
        }
        rules = rules.rule(rule);
    }
    b.seccomp(Seccomp::rules(rules));
    Ok(())
}

/// The action, its errno (or trace value) from `errno_ret`.
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>, field: &str, errno_field: &str) -> Result<SeccompAction> {
    let value = || -> Result<u16> {
        let errno = errno_ret.unwrap_or(EPERM);
        u16::try_from(errno).map_err(|_| invalid(errno_field, format!("{errno} does not fit the filter's 16 bits")))
    };
    let with_errno = matches!(
        action,
        LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace
    );
    if errno_ret.is_some() && !with_errno {
        return Err(invalid(
            errno_field,
            format!("given with {}, which takes none", name_of(&action)),
        ));
    }
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(value()?),
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(value()?),
        // libseccomp's SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(unsupported(
                field,
                "SCMP_ACT_NOTIFY: nsbox has no seccomp notify (no listener to hand the fd to)",
            ));
        }
    })
}

/// An argument condition; for `SCMP_CMP_MASKED_EQ` `value` is the mask and `valueTwo` the
/// value, as libseccomp takes them.
fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<SeccompCondition> {
    let index = u8::try_from(arg.index()).ok().filter(|i| *i <= 5).ok_or_else(|| {
        invalid(
            format!("{field}.index"),
            format!("{}: syscalls have arguments 0 to 5", arg.index()),
        )
    })?;
    let value = arg.value();
    Ok(match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => SeccompCondition::ne(index, value),
        LinuxSeccompOperator::ScmpCmpLt => SeccompCondition::lt(index, value),
        LinuxSeccompOperator::ScmpCmpLe => SeccompCondition::le(index, value),
        LinuxSeccompOperator::ScmpCmpEq => SeccompCondition::eq(index, value),
        LinuxSeccompOperator::ScmpCmpGe => SeccompCondition::ge(index, value),
        LinuxSeccompOperator::ScmpCmpGt => SeccompCondition::gt(index, value),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            SeccompCondition::masked_eq(index, value, arg.value_two().unwrap_or(0))
        }
    })
}

/// `Some(None)` for the native architecture, `Some(Some(arch))` for a compat one nsbox
/// filters, `None` for the others.
fn architecture(arch: Arch) -> Option<Option<SeccompArch>> {
    match (std::env::consts::ARCH, arch) {
        ("x86_64", Arch::ScmpArchX86_64) => Some(None),
        ("x86_64", Arch::ScmpArchX86) => Some(Some(SeccompArch::X86)),
        ("x86_64", Arch::ScmpArchX32) => Some(Some(SeccompArch::X32)),
        ("aarch64", Arch::ScmpArchAarch64) => Some(None),
        _ => None,
    }
}
