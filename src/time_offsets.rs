//! A new time namespace's clock offsets (`linux.timeOffsets`, `time_namespaces(7)`): how far
//! the container's `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` (and `/proc/uptime`) are ahead of
//! the host's, or behind it.
//!
//! The offsets are written to `/proc/self/timens_offsets` of a process whose
//! `time_for_children` namespace is the new one, and only while no process has entered it
//! (after that the kernel freezes them, `EACCES`). A clone with `CLONE_NEWTIME` enters it at
//! once, so with offsets the setup process is cloned without it and, once it is in its other
//! namespaces with the container's root credentials (the offsets need `CAP_SYS_TIME` over the
//! namespace, which a new user namespace then owns), it `unshare`s `CLONE_NEWTIME`, writes
//! the offsets and enters the namespace with `setns` on its own
//! `/proc/self/ns/time_for_children` (which needs a single-threaded process: the setup
//! process is then never on the caller's memory). Entering at the payload's exec instead
//! (Linux 6.0's `exec_task_namespaces`) would leave the setup process and an init outside it,
//! and a `CLONE_VM` fork refused (`EINVAL`) while the two differ.

use crate::builder::ContainerBuilder;
use crate::error::{ConfigError, Setting};
use crate::namespaces::Namespaces;

/// One clock's offset in a new time namespace: `secs` seconds (negative: behind the host)
/// plus `nanos` nanoseconds (below 10⁹), as `linux.timeOffsets` gives it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClockOffset {
    /// Whole seconds; may be negative.
    pub secs: i64,
    /// Nanoseconds added to `secs`, `0..1_000_000_000`.
    pub nanos: u32,
}

impl ClockOffset {
    /// An offset of whole seconds.
    pub const fn seconds(secs: i64) -> ClockOffset {
        ClockOffset { secs, nanos: 0 }
    }
}

/// The offsets of both clocks a time namespace has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub(crate) struct TimeOffsets {
    pub monotonic: ClockOffset,
    pub boottime: ClockOffset,
}

impl TimeOffsets {
    /// What `/proc/self/timens_offsets` takes, one write per clock: `<clock id> <secs>
    /// <nanos>` (numeric ids: the names came after Linux 5.6).
    pub(crate) fn proc_lines(&self) -> [String; 2] {
        let line = |clock: libc::clockid_t, offset: ClockOffset| format!("{clock} {} {}", offset.secs, offset.nanos);
        [
            line(libc::CLOCK_MONOTONIC, self.monotonic),
            line(libc::CLOCK_BOOTTIME, self.boottime),
        ]
    }
}

/// Time namespace clock offsets (OCI `linux.timeOffsets`).
impl ContainerBuilder {
    /// Offsets of the container's `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` (and so of
    /// `/proc/uptime`) from the host's, in its new time namespace ([`Namespaces::TIME`],
    /// which `build()` requires, [`ConfigError::NeedsNamespace`]; a joined one keeps its own,
    /// [`ConfigError::Conflict`]). `build()` refuses nanoseconds of 10⁹ or more; the kernel
    /// refuses an offset that would take a clock below zero or past its range (a setup error
    /// naming `/proc/self/timens_offsets`, `ERANGE`). Needs Linux 5.6.
    ///
    /// ```no_run
    /// # use nsbox::{ClockOffset, Container};
    /// // A container that looks as if the machine had booted ten days earlier.
    /// let out = Container::builder()
    ///     .time_offsets(ClockOffset::seconds(864_000), ClockOffset::seconds(864_000))
    ///     .command("/bin/cat").arg("/proc/uptime")
    ///     .output()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn time_offsets(&mut self, monotonic: ClockOffset, boottime: ClockOffset) -> &mut Self {
        self.settings.process.time_offsets = Some(TimeOffsets { monotonic, boottime });
        self
    }
}

/// `build()`'s checks of the offsets, given the namespaces the container creates.
pub(crate) fn validate(offsets: Option<&TimeOffsets>, created: Namespaces) -> Result<(), ConfigError> {
    let Some(offsets) = offsets else {
        return Ok(());
    };
    if !created.contains(Namespaces::TIME) {
        return Err(ConfigError::NeedsNamespace {
            setting: Setting::TimeOffsets,
            namespace: Namespaces::TIME,
        });
    }
    for clock in [offsets.monotonic, offsets.boottime] {
        if clock.nanos >= 1_000_000_000 {
            return Err(ConfigError::OutOfRange {
                setting: Setting::TimeOffsets,
                value: u64::from(clock.nanos),
                allowed: 0..=999_999_999,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_one_line_per_clock() {
        let offsets = TimeOffsets {
            monotonic: ClockOffset { secs: -5, nanos: 7 },
            boottime: ClockOffset::seconds(86_400),
        };
        assert_eq!(offsets.proc_lines(), ["1 -5 7", "7 86400 0"]);
    }
}
