//! `process`: the command, its environment, user, capabilities, limits and terminal.

use nsbox::{Capabilities, ContainerBuilder, IoClass, Resource, SchedPolicy, Scheduler};
use oci_spec::runtime::{IOPriorityClass, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process};
use serde::Serialize;

use crate::error::{Result, invalid, unsupported};
use crate::options::Options;

/// Maps `process`; returns the bounding set (the device rules need it).
pub(crate) fn map(b: &mut ContainerBuilder, p: &Process, options: &Options) -> Result<Capabilities> {
    if p.command_line().is_some() {
        return Err(unsupported("process.commandLine", "Windows only"));
    }
    let args = p.args().as_deref().unwrap_or_default();
    let (program, rest) = args.split_first().ok_or_else(|| invalid("process.args", "empty"))?;
    b.command(program).args(rest);
    for (i, entry) in p.env().as_deref().unwrap_or_default().iter().enumerate() {
        let (key, value) = entry
            .split_once('=')
            .ok_or_else(|| invalid(format!("process.env[{i}]"), "no `=`"))?;
        if key.is_empty() {
            return Err(invalid(format!("process.env[{i}]"), "empty name"));
        }
        b.env(key, value);
    }
    if !p.cwd().is_absolute() {
        return Err(invalid("process.cwd", "not an absolute path"));
    }
    b.current_dir(p.cwd());
    user(b, p, options)?;
    if p.terminal().unwrap_or(false) {
        b.tty(true);
        if let Some(size) = p.console_size() {
            let fit = |v: u64, what| {
                u16::try_from(v).map_err(|_| invalid(format!("process.consoleSize.{what}"), "above 65535"))
            };
            b.tty_size(fit(size.height(), "height")?, fit(size.width(), "width")?);
        }
    } else if p.console_size().is_some() {
        return Err(invalid("process.consoleSize", "given without process.terminal"));
    }
    rlimits(b, p)?;
    if !p.no_new_privileges().unwrap_or(false) {
        b.unsafe_allow_new_privileges();
    }
    // The caller's value is inherited: setting it again would only cost the shared-memory
    // spawn (see nsbox's process_attrs), and in a user namespace it may not be lowered.
    if let Some(adj) = p.oom_score_adj().filter(|adj| *adj != options.oom_score_adj) {
        b.oom_score_adj(adj);
    }
    if let Some(profile) = p.apparmor_profile().as_deref().filter(|s| !s.is_empty()) {
        return Err(unsupported(
            "process.apparmorProfile",
            options.apparmor_refusal(profile),
        ));
    }
    if let Some(label) = p.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        return Err(unsupported("process.selinuxLabel", options.selinux_refusal(label)));
    }
    if let Some(io) = p.io_priority() {
        let class = match io.class() {
            IOPriorityClass::IoprioClassRt => IoClass::RealTime,
            IOPriorityClass::IoprioClassBe => IoClass::BestEffort,
            IOPriorityClass::IoprioClassIdle => IoClass::Idle,
        };
        let level = u8::try_from(io.priority())
            .ok()
            .filter(|level| *level <= 7)
            .ok_or_else(|| {
                invalid(
                    "process.ioPriority.priority",
                    format!("{}: not within 0..=7", io.priority()),
                )
            })?;
        b.io_priority(class, level);
    }
    if let Some(scheduler) = p.scheduler() {
        b.scheduler(self::scheduler(scheduler)?);
    }
    // `process.execCPUAffinity` "is not applicable to the container's init process"
    // (runtime-spec config.md): nsbox-runtime's `exec` takes it from here (or process.json).
    capabilities(b, p)
}

fn user(b: &mut ContainerBuilder, p: &Process, options: &Options) -> Result<()> {
    let u = p.user();
    b.user(u.uid(), u.gid());
    if let Some(groups) = u.additional_gids() {
        b.groups(groups.iter().copied());
    }
    if let Some(mask) = u.umask().filter(|mask| Some(*mask) != options.umask) {
        b.umask(mask);
    }
    if u.username().is_some() {
        return Err(unsupported("process.user.username", "Windows only"));
    }
    Ok(())
}

/// `process.scheduler` as nsbox's [`Scheduler`]; what the kernel would refuse, `build()` does.
fn scheduler(s: &oci_spec::runtime::Scheduler) -> Result<Scheduler> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => SchedPolicy::Other,
        LinuxSchedulerPolicy::SchedFifo => SchedPolicy::Fifo,
        LinuxSchedulerPolicy::SchedRr => SchedPolicy::RoundRobin,
        LinuxSchedulerPolicy::SchedBatch => SchedPolicy::Batch,
        LinuxSchedulerPolicy::SchedIdle => SchedPolicy::Idle,
        LinuxSchedulerPolicy::SchedDeadline => SchedPolicy::Deadline,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(unsupported(
                "process.scheduler.policy",
                "SCHED_ISO: not a policy of Linux",
            ));
        }
    };
    let priority = s.priority().unwrap_or(0);
    let priority =
        u32::try_from(priority).map_err(|_| invalid("process.scheduler.priority", format!("{priority}: negative")))?;
    let mut out = Scheduler::new(policy).nice(s.nice().unwrap_or(0)).priority(priority);
    if s.runtime().is_some() || s.deadline().is_some() || s.period().is_some() {
        out = out.deadline(
            s.runtime().unwrap_or(0),
            s.deadline().unwrap_or(0),
            s.period().unwrap_or(0),
        );
    }
    for (i, flag) in s.flags().iter().flatten().enumerate() {
        out = match flag {
            LinuxSchedulerFlag::SchedResetOnFork => out.reset_on_fork(),
            LinuxSchedulerFlag::SchedFlagReclaim => out.reclaim(),
            LinuxSchedulerFlag::SchedFlagDLOverrun => out.deadline_overrun(),
            other => {
                return Err(unsupported(
                    format!("process.scheduler.flags[{i}]"),
                    format!("{}: nsbox sets no such flag", name_of(other)),
                ));
            }
        };
    }
    Ok(out)
}

fn rlimits(b: &mut ContainerBuilder, p: &Process) -> Result<()> {
    let mut seen = Vec::new();
    for (i, limit) in p.rlimits().as_deref().unwrap_or_default().iter().enumerate() {
        let field = format!("process.rlimits[{i}]");
        let name = name_of(&limit.typ());
        let resource: Resource = name
            .parse()
            .map_err(|_| unsupported(&field, format!("{name}: not a Linux resource nsbox knows")))?;
        if seen.contains(&resource) {
            return Err(invalid(field, format!("{name} given twice")));
        }
        if limit.soft() > limit.hard() {
            return Err(invalid(field, "soft limit above the hard limit"));
        }
        seen.push(resource);
        b.rlimit(resource, limit.soft(), limit.hard());
    }
    Ok(())
}

/// nsbox gives the payload one set: the bounding set, which is also a root payload's
/// permitted and effective set, and ambient (= inheritable) on request.
fn capabilities(b: &mut ContainerBuilder, p: &Process) -> Result<Capabilities> {
    let sets = ProcessCapabilities::of(p)?;
    b.capabilities(sets.bounding.iter())
        .ambient_capabilities(sets.ambient.iter());
    Ok(sets.bounding)
}

/// A process's capabilities as nsbox sets them: the bounding set (for a root process also its
/// permitted and effective sets) and the ambient set (also its inheritable set). The
/// container's process maps to these, and so does an exec's `process.json`
/// (`nsbox-runtime exec`: [`ExecBuilder::cap_drop`](nsbox::ExecBuilder::cap_drop) and
/// [`cap_grant`](nsbox::ExecBuilder::cap_grant) to the bounding set,
/// [`ambient_capabilities`](nsbox::ExecBuilder::ambient_capabilities)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessCapabilities {
    /// `process.capabilities.bounding`.
    pub bounding: Capabilities,
    /// `process.capabilities.ambient` (= `inheritable`).
    pub ambient: Capabilities,
}

impl ProcessCapabilities {
    /// `p`'s five sets, checked: what the sets ask for must fit nsbox's shape, and a set that
    /// does not is refused by its field name ([`BundleError`](crate::BundleError)); see
    /// docs/oci.md for why each rule is what the kernel does anyway. Absent sets are empty.
    pub fn of(p: &Process) -> std::result::Result<ProcessCapabilities, crate::BundleError> {
        let caps = p.capabilities().as_ref();
        let set = |field: &str, given: Option<&oci_spec::runtime::Capabilities>| -> Result<Capabilities> {
            let mut out = Capabilities::empty();
            for cap in given.into_iter().flatten() {
                let name = name_of(cap);
                let cap = Capabilities::parse(&name).map_err(|_| {
                    unsupported(
                        format!("process.capabilities.{field}"),
                        format!("{name}: unknown to nsbox"),
                    )
                })?;
                out.insert(cap);
            }
            Ok(out)
        };
        let bounding = set("bounding", caps.and_then(|c| c.bounding().as_ref()))?;
        let effective = set("effective", caps.and_then(|c| c.effective().as_ref()))?;
        let permitted = set("permitted", caps.and_then(|c| c.permitted().as_ref()))?;
        let inheritable = set("inheritable", caps.and_then(|c| c.inheritable().as_ref()))?;
        let ambient = set("ambient", caps.and_then(|c| c.ambient().as_ref()))?;
        let root = p.user().uid() == 0;
        let nnp = p.no_new_privileges().unwrap_or(false);
        for (field, given) in [("permitted", permitted), ("effective", effective), ("ambient", ambient)] {
            if !bounding.is_superset(given) {
                return Err(invalid(
                    format!("process.capabilities.{field}"),
                    "holds a capability the bounding set lacks",
                ));
            }
        }
        if root {
            // A root payload's exec makes permitted = effective = the bounding set (with
            // no_new_privs, bounded by the permitted set it had): nsbox sets all three alike.
            if permitted != bounding {
                return Err(unsupported(
                    "process.capabilities.permitted",
                    "for a root process nsbox makes the permitted set the bounding set",
                ));
            }
            if effective != permitted {
                return Err(unsupported(
                    "process.capabilities.effective",
                    "for a root process nsbox makes the effective set the permitted set",
                ));
            }
        } else if nnp && permitted != ambient {
            // After exec a non-root payload holds its ambient set (plus file capabilities, which
            // no_new_privs bounds by the permitted set it had, which nsbox makes the ambient set).
            return Err(unsupported(
                "process.capabilities.permitted",
                "for a non-root process with noNewPrivileges nsbox makes the permitted set the ambient set",
            ));
        }
        if inheritable != ambient {
            return Err(unsupported(
                "process.capabilities.inheritable",
                "nsbox makes the inheritable set the ambient set (empty without ambient capabilities, CVE-2022-29162)",
            ));
        }
        Ok(ProcessCapabilities { bounding, ambient })
    }
}

/// An oci-spec enum's name as the spec spells it (`CAP_CHOWN`, `RLIMIT_NOFILE`).
pub(crate) fn name_of(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}
