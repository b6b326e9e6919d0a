//! Resource limits as the caller states them, checked before any cgroup is touched.

use std::path::Path;

use crate::error::{ConfigError, Setting};

/// Which per-device I/O throttle a [`IoDeviceLimit`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum IoLimitKind {
    /// Bytes per second read.
    ReadBps,
    /// Bytes per second written.
    WriteBps,
    /// Read operations per second.
    ReadIops,
    /// Write operations per second.
    WriteIops,
}

/// A throttle on one block device, by its major:minor numbers.
///
/// ```no_run
/// use nsbox::{IoDeviceLimit, IoLimitKind};
/// let limit = IoDeviceLimit::for_device("/dev/vda", IoLimitKind::WriteBps, 10 << 20)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IoDeviceLimit {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// What is limited.
    pub kind: IoLimitKind,
    /// The limit (bytes or operations per second).
    pub value: u64,
}

impl IoDeviceLimit {
    /// A limit on device `major:minor`.
    pub fn new(major: u32, minor: u32, kind: IoLimitKind, value: u64) -> Self {
        IoDeviceLimit {
            major,
            minor,
            kind,
            value,
        }
    }

    /// A limit on the block device at `path` (e.g. `/dev/vda`).
    pub fn for_device(path: impl AsRef<Path>, kind: IoLimitKind, value: u64) -> std::io::Result<Self> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::metadata(path.as_ref())?;
        if !meta.file_type().is_block_device() {
            return Err(std::io::Error::other(format!(
                "{} is not a block device",
                path.as_ref().display()
            )));
        }
        let rdev = meta.rdev();
        Ok(IoDeviceLimit::new(libc::major(rdev), libc::minor(rdev), kind, value))
    }
}

/// The limits of one container. Every `None` leaves the kernel's default.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub(crate) struct Resources {
    pub memory: Option<u64>,
    pub swap: Option<u64>,
    pub cpus: Option<f64>,
    pub cpu_weight: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    pub pids: Option<u64>,
    pub io_weight: Option<u64>,
    pub io_devices: Vec<IoDeviceLimit>,
}

/// The CFS period nsbox uses for CPU limits: 100 ms, the kernel's and Docker's default.
pub(crate) const CPU_PERIOD_US: u64 = 100_000;
/// Below this a container cannot even start a shell; smaller values are surely a unit mistake.
const MIN_MEMORY: u64 = 1 << 20;

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The CFS quota in microseconds per [`CPU_PERIOD_US`].
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpus.map(|c| ((c * CPU_PERIOD_US as f64).round() as u64).max(1000))
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let range = |setting, value: Option<u64>, allowed: std::ops::RangeInclusive<u64>| match value {
            Some(value) if !allowed.contains(&value) => Err(ConfigError::OutOfRange {
                setting,
                value,
                allowed,
            }),
            _ => Ok(()),
        };
        range(Setting::MemoryLimit, self.memory, MIN_MEMORY..=u64::MAX)?;
        if self.swap.is_some() && self.memory.is_none() {
            return Err(ConfigError::Requires {
                setting: Setting::MemorySwapLimit,
                requires: Setting::MemoryLimit,
            });
        }
        if let Some(c) = self.cpus {
            // SAFETY: sysconf takes no memory.
            let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64;
            // In thousandths of a CPU (a NaN is 0, an infinity u64::MAX: both refused).
            // Rounded away from the range, so the value shown is outside it too.
            let milli = if c < 0.01 {
                (c * 1000.0).floor()
            } else {
                (c * 1000.0).ceil()
            } as u64;
            let allowed = 10..=online * 1000;
            if !c.is_finite() || c < 0.01 || c > online as f64 {
                return range(Setting::CpuLimit, Some(milli), allowed);
            }
        }
        range(Setting::CpuWeight, self.cpu_weight, 1..=10_000)?;
        range(Setting::IoWeight, self.io_weight, 1..=10_000)?;
        // 0 would not even let the container's first process start.
        range(Setting::PidsLimit, self.pids, 1..=u64::MAX)?;
        for (setting, list) in [
            (Setting::CpusetCpus, &self.cpuset_cpus),
            (Setting::CpusetMems, &self.cpuset_mems),
        ] {
            if let Some(list) = list
                && !is_cpu_list(list)
            {
                return Err(ConfigError::Malformed {
                    setting,
                    value: list.clone(),
                    expected: "a list like \"0-3,5\"",
                });
            }
        }
        // A limit of 0 would stop all I/O on the device.
        if let Some(l) = self.io_devices.iter().find(|l| l.value == 0) {
            range(Setting::IoDeviceLimit, Some(l.value), 1..=u64::MAX)?;
        }
        Ok(())
    }
}

/// `0-3,5,7-8`: ranges and numbers, separated by commas.
fn is_cpu_list(list: &str) -> bool {
    !list.is_empty()
        && list.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            let num = |s: Option<&str>| s.is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()));
            let first = ends.next();
            match ends.next() {
                None => num(first),
                Some(last) => {
                    num(first)
                        && num(Some(last))
                        && first.and_then(|f| f.parse::<u32>().ok()) <= last.parse::<u32>().ok()
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_are_checked() {
        for ok in ["0", "0-3", "0,2,4-7"] {
            assert!(is_cpu_list(ok), "{ok}");
        }
        for bad in ["", "a", "3-1", "1,", "-1", "1-"] {
            assert!(!is_cpu_list(bad), "{bad}");
        }
    }

    #[test]
    fn absurd_limits_are_refused() {
        let r = |f: fn(&mut Resources)| {
            let mut r = Resources::default();
            f(&mut r);
            r.validate()
        };
        assert_eq!(
            r(|r| r.memory = Some(4096)),
            Err(ConfigError::OutOfRange {
                setting: Setting::MemoryLimit,
                value: 4096,
                allowed: MIN_MEMORY..=u64::MAX
            })
        );
        assert!(matches!(
            r(|r| r.cpus = Some(f64::INFINITY)),
            Err(ConfigError::OutOfRange {
                setting: Setting::CpuLimit,
                ..
            })
        ));
        assert!(r(|r| r.swap = Some(0)).is_err());
        assert!(r(|r| r.cpus = Some(0.0)).is_err());
        assert!(r(|r| r.cpus = Some(f64::NAN)).is_err());
        assert!(r(|r| r.cpus = Some(100_000.0)).is_err());
        assert!(r(|r| r.pids = Some(0)).is_err());
        assert!(r(|r| r.cpu_weight = Some(0)).is_err());
        assert!(r(|r| r.memory = Some(64 << 20)).is_ok());
        assert_eq!(
            Resources {
                cpus: Some(0.5),
                ..Default::default()
            }
            .cpu_quota_us(),
            Some(50_000)
        );
    }
}
