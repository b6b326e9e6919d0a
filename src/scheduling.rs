//! How the payload is run: its execution domain (`personality(2)`), I/O priority
//! (`ioprio_set(2)`) and CPU scheduling (`sched_setattr(2)`); OCI's `linux.personality`,
//! `process.ioPriority` and `process.scheduler`.
//!
//! All three are set by the payload's own process right before its credentials change (the
//! capabilities a realtime class needs are still there), after an init forked: they are the
//! payload's, inherited by what it forks, never the init's or the caller's (each is a
//! per-task attribute, so a setup process on the caller's memory changes only itself).

use crate::builder::ContainerBuilder;
use crate::error::{ConfigError, Setting};

/// An execution domain for [`ContainerBuilder::personality`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Personality {
    /// `PER_LINUX`: what processes run as by default.
    Linux,
    /// `PER_LINUX32`: `uname -m` reports the 32-bit machine (`i686` on x86_64), as `linux32`
    /// (`setarch`) makes it.
    Linux32,
}

impl Personality {
    pub(crate) fn value(self) -> u64 {
        match self {
            Personality::Linux => 0x0000,
            Personality::Linux32 => 0x0008,
        }
    }
}

/// An I/O scheduling class for [`ContainerBuilder::io_priority`] (`ioprio_set(2)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum IoClass {
    /// `IOPRIO_CLASS_RT`: first access to the disk; needs `CAP_SYS_ADMIN` or `CAP_SYS_NICE`.
    RealTime,
    /// `IOPRIO_CLASS_BE`: the default class.
    BestEffort,
    /// `IOPRIO_CLASS_IDLE`: only when no one else needs the disk (the level is ignored).
    Idle,
}

/// A CPU scheduling policy for [`Scheduler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum SchedPolicy {
    /// `SCHED_OTHER`, the default; [`Scheduler::nice`] applies.
    Other,
    /// `SCHED_FIFO` (realtime, [`Scheduler::priority`] 1..=99).
    Fifo,
    /// `SCHED_RR` (realtime, [`Scheduler::priority`] 1..=99).
    RoundRobin,
    /// `SCHED_BATCH`; [`Scheduler::nice`] applies.
    Batch,
    /// `SCHED_IDLE`.
    Idle,
    /// `SCHED_DEADLINE` ([`Scheduler::deadline`] gives runtime, deadline and period). A
    /// deadline task cannot fork unless [`reset_on_fork`](Scheduler::reset_on_fork).
    Deadline,
}

/// The payload's CPU scheduling (`sched_setattr(2)`): see [`ContainerBuilder::scheduler`].
///
/// ```
/// use nsbox::{SchedPolicy, Scheduler};
/// let batch = Scheduler::new(SchedPolicy::Batch).nice(10);
/// let realtime = Scheduler::new(SchedPolicy::Fifo).priority(10).reset_on_fork();
/// # let _ = (batch, realtime);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Scheduler {
    policy: SchedPolicy,
    nice: i32,
    priority: u32,
    flags: u64,
    runtime: u64,
    deadline: u64,
    period: u64,
}

const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
const SCHED_FLAG_RECLAIM: u64 = 0x02;
const SCHED_FLAG_DL_OVERRUN: u64 = 0x04;

impl Scheduler {
    /// `policy` with nice 0, priority 0, no flag.
    pub fn new(policy: SchedPolicy) -> Self {
        Scheduler {
            policy,
            nice: 0,
            priority: 0,
            flags: 0,
            runtime: 0,
            deadline: 0,
            period: 0,
        }
    }

    /// The nice value (-20..=19) of [`SchedPolicy::Other`] and [`SchedPolicy::Batch`];
    /// lowering it below the caller's needs `CAP_SYS_NICE`.
    pub fn nice(mut self, nice: i32) -> Self {
        self.nice = nice;
        self
    }

    /// The static priority: 1..=99 for [`SchedPolicy::Fifo`] and [`SchedPolicy::RoundRobin`],
    /// 0 for the others.
    pub fn priority(mut self, priority: u32) -> Self {
        self.priority = priority;
        self
    }

    /// [`SchedPolicy::Deadline`]'s runtime, relative deadline and period, in nanoseconds
    /// (`runtime <= deadline <= period`; a period of 0 is the deadline).
    pub fn deadline(mut self, runtime: u64, deadline: u64, period: u64) -> Self {
        (self.runtime, self.deadline, self.period) = (runtime, deadline, period);
        self
    }

    /// `SCHED_FLAG_RESET_ON_FORK`: children start with the default policy.
    pub fn reset_on_fork(mut self) -> Self {
        self.flags |= SCHED_FLAG_RESET_ON_FORK;
        self
    }

    /// `SCHED_FLAG_RECLAIM` (deadline: reclaim unused bandwidth).
    pub fn reclaim(mut self) -> Self {
        self.flags |= SCHED_FLAG_RECLAIM;
        self
    }

    /// `SCHED_FLAG_DL_OVERRUN` (deadline: SIGXCPU on an overrun).
    pub fn deadline_overrun(mut self) -> Self {
        self.flags |= SCHED_FLAG_DL_OVERRUN;
        self
    }

    /// The kernel's `struct sched_attr` (`SCHED_ATTR_SIZE_VER0`).
    pub(crate) fn attr(&self) -> SchedAttr {
        let policy = match self.policy {
            SchedPolicy::Other => 0,
            SchedPolicy::Fifo => 1,
            SchedPolicy::RoundRobin => 2,
            SchedPolicy::Batch => 3,
            SchedPolicy::Idle => 5,
            SchedPolicy::Deadline => 6,
        };
        SchedAttr {
            size: std::mem::size_of::<SchedAttr>() as u32,
            policy,
            flags: self.flags,
            nice: self.nice,
            priority: self.priority,
            runtime: self.runtime,
            deadline: self.deadline,
            period: self.period,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |expected| {
            Err(ConfigError::Malformed {
                setting: Setting::Scheduler,
                value: format!("{self:?}"),
                expected,
            })
        };
        let realtime = matches!(self.policy, SchedPolicy::Fifo | SchedPolicy::RoundRobin);
        let deadline = self.policy == SchedPolicy::Deadline;
        if !(-20..=19).contains(&self.nice) {
            return bad("a nice value within -20..=19");
        }
        if realtime && !(1..=99).contains(&self.priority) {
            return bad("a realtime policy with a priority within 1..=99");
        }
        if !realtime && self.priority != 0 {
            return bad("priority 0: only SCHED_FIFO and SCHED_RR take one");
        }
        let period = if self.period == 0 { self.deadline } else { self.period };
        if deadline && !(self.runtime >= 1024 && self.runtime <= self.deadline && self.deadline <= period) {
            return bad("a deadline policy with 1024 <= runtime <= deadline <= period (nanoseconds)");
        }
        if !deadline && (self.runtime, self.deadline, self.period) != (0, 0, 0) {
            return bad("runtime, deadline and period only with SCHED_DEADLINE");
        }
        if !deadline && self.flags & (SCHED_FLAG_RECLAIM | SCHED_FLAG_DL_OVERRUN) != 0 {
            return bad("the reclaim and overrun flags only with SCHED_DEADLINE");
        }
        Ok(())
    }
}

/// `struct sched_attr` as `sched_setattr(2)` reads it (version 0, 48 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// The `ioprio_set(2)` value of `class` at `level`.
pub(crate) fn ioprio_value(class: IoClass, level: u8) -> i32 {
    let class = match class {
        IoClass::RealTime => 1,
        IoClass::BestEffort => 2,
        IoClass::Idle => 3,
    };
    (class << 13) | i32::from(level)
}

/// Scheduling (OCI `linux.personality`, `process.ioPriority`, `process.scheduler`).
impl ContainerBuilder {
    /// The payload's execution domain (default: the caller's, inherited).
    ///
    /// ```no_run
    /// # #[cfg(target_arch = "x86_64")] {
    /// let out = nsbox::Container::builder()
    ///     .personality(nsbox::Personality::Linux32)
    ///     .command("/bin/uname").arg("-m")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"i686\n");
    /// # }
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn personality(&mut self, personality: Personality) -> &mut Self {
        self.settings.process.personality = Some(personality);
        self
    }

    /// The payload's I/O class and level (0..=7, 0 the highest; default: the caller's,
    /// inherited). [`IoClass::RealTime`] needs `CAP_SYS_ADMIN` or `CAP_SYS_NICE` in the
    /// host's user namespace, else the spawn fails (EPERM, at the process attributes step
    /// naming `ioprio_set`).
    pub fn io_priority(&mut self, class: IoClass, level: u8) -> &mut Self {
        self.settings.process.io_priority = Some((class, level));
        self
    }

    /// The payload's CPU scheduling (default: the caller's, inherited, as after fork unless
    /// the caller's is reset on fork). A realtime or deadline policy needs `CAP_SYS_NICE` in
    /// the host's user namespace (or an `RLIMIT_RTPRIO` allowing it), and room in a v1 cpu
    /// cgroup's realtime budget: else the spawn fails (EPERM, at the process attributes step
    /// naming `sched_setattr`).
    pub fn scheduler(&mut self, scheduler: Scheduler) -> &mut Self {
        self.settings.process.scheduler = Some(scheduler);
        self
    }
}

/// `build()`'s checks of these settings.
pub(crate) fn validate(attrs: &crate::process_attrs::ProcessAttributes) -> Result<(), ConfigError> {
    if let Some((_, level)) = attrs.io_priority
        && level > 7
    {
        return Err(ConfigError::OutOfRange {
            setting: Setting::IoPriority,
            value: u64::from(level),
            allowed: 0..=7,
        });
    }
    if let Some(scheduler) = &attrs.scheduler {
        scheduler.check()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sched_attr_is_the_kernels_version_0() {
        assert_eq!(std::mem::size_of::<SchedAttr>(), 48);
        assert_eq!(ioprio_value(IoClass::BestEffort, 4), (2 << 13) | 4);
        let attr = Scheduler::new(SchedPolicy::RoundRobin)
            .priority(5)
            .reset_on_fork()
            .attr();
        assert_eq!((attr.policy, attr.priority, attr.flags), (2, 5, 1));
    }

    #[test]
    fn impossible_schedulers_are_refused() {
        for bad in [
            Scheduler::new(SchedPolicy::Fifo),
            Scheduler::new(SchedPolicy::Other).priority(1),
            Scheduler::new(SchedPolicy::Other).nice(20),
            Scheduler::new(SchedPolicy::Deadline),
            Scheduler::new(SchedPolicy::Deadline).deadline(2000, 1000, 0),
            Scheduler::new(SchedPolicy::Batch).deadline(2000, 3000, 0),
            Scheduler::new(SchedPolicy::Other).reclaim(),
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
        for good in [
            Scheduler::new(SchedPolicy::Fifo).priority(99),
            Scheduler::new(SchedPolicy::Batch).nice(-20),
            Scheduler::new(SchedPolicy::Deadline)
                .deadline(10_000, 30_000, 0)
                .reset_on_fork(),
        ] {
            assert!(good.check().is_ok(), "{good:?}");
        }
    }
}
