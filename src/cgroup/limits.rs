//! Resource limits as the caller states them, checked before any cgroup is touched.

use std::path::Path;

use super::id_list::IdList;
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
    // Devices, huge pages and raw v2 files (issue 16, the OCI mapping).
    /// The device cgroup's rules; `None`: no device cgroup (the caller's applies).
    pub devices: Option<Vec<super::DeviceRule>>,
    /// Huge page limits: (page size as the kernel names it, `2MB`; bytes).
    pub hugepages: Vec<(String, u64)>,
    /// Raw cgroup v2 files and the values written to them.
    pub unified: Vec<(String, String)>,
    // The rest of runc's limits (issue 16, cgroup resources): see `tuning`.
    /// Memory soft limit in bytes (v1 `memory.soft_limit_in_bytes`, v2 `memory.low`).
    pub memory_reservation: Option<u64>,
    /// v1 `memory.swappiness` (0..=100).
    pub memory_swappiness: Option<u64>,
    /// v1 `memory.oom_control` = 1.
    pub oom_kill_disable: bool,
    /// The CFS period in microseconds; `None`: [`CPU_PERIOD_US`].
    pub cpu_period: Option<u64>,
    /// CFS burst in microseconds (v1 `cpu.cfs_burst_us`, v2 `cpu.max.burst`).
    pub cpu_burst: Option<u64>,
    /// `cpu.idle`.
    pub cpu_idle: Option<bool>,
    /// v1 `cpu.rt_period_us` and `cpu.rt_runtime_us`.
    pub cpu_rt_period: Option<u64>,
    pub cpu_rt_runtime: Option<u64>,
    /// Per-device I/O weights.
    pub io_device_weights: Vec<super::tuning::IoDeviceWeight>,
    /// v1 `blkio.leaf_weight`, in `io_weight`'s units.
    pub io_leaf_weight: Option<u64>,
    /// v1 `net_cls.classid`.
    pub net_class_id: Option<u32>,
    /// v1 `net_prio.ifpriomap`: (interface, priority).
    pub net_priorities: Vec<(String, u32)>,
    /// `rdma.max`, per device.
    pub rdma: Vec<super::tuning::RdmaLimit>,
}

/// The CFS period nsbox uses for CPU limits: 100 ms, the kernel's and Docker's default.
pub(crate) const CPU_PERIOD_US: u64 = 100_000;
/// The smallest memory limit: 6 MiB, Docker's floor (`linuxMinMemory`). Below it the kernel's
/// own charges for a new process (page tables, kernel stack, the pages of the binaries it maps)
/// leave a shell next to nothing, and a smaller value is surely a unit mistake.
pub(crate) const MIN_MEMORY: u64 = 6 << 20;
/// The most a `pids.max` takes: the kernel's `PID_MAX_LIMIT` on 64-bit (4 Mi); a larger write
/// fails with `EINVAL`.
pub(crate) const PID_MAX_LIMIT: u64 = 4 << 20;

/// The processes nsbox itself keeps in a container's cgroup beside the payload's, which
/// [`pids_limit`](crate::ContainerBuilder::pids_limit) does not count (`pids.max` is the
/// caller's limit plus these): nsbox-init when the container has one (`init(true)` with a PID
/// namespace), and nsbox-connect when it also publishes ports (and the init binary is built
/// in, which the connector runs as). The setup process becomes the init (or the payload), and
/// the launcher becomes the payload: neither is one more.
pub(crate) fn nsbox_processes(has_init: bool, publishes_ports: bool) -> u64 {
    u64::from(has_init) + u64::from(has_init && publishes_ports && crate::pid1::binary_built())
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The CFS quota in microseconds per [`cpu_period_us`](Self::cpu_period_us).
    pub fn cpu_quota_us(&self) -> Option<u64> {
        let period = self.cpu_period_us() as f64;
        self.cpus.map(|c| ((c * period).round() as u64).max(1000))
    }

    /// The CFS period: the one given, else [`CPU_PERIOD_US`].
    pub fn cpu_period_us(&self) -> u64 {
        self.cpu_period.unwrap_or(CPU_PERIOD_US)
    }

    /// Checks every limit, also against what this host has (see [`host`](super::host)):
    /// `nsbox_processes` is what [`nsbox_processes`] says the container's own are.
    pub fn validate(&self, nsbox_processes: u64) -> Result<(), ConfigError> {
        let host = super::host::host();
        let at_most = |setting, value: Option<u64>, available: Option<u64>| match (value, available) {
            (Some(value), Some(available)) if value > available => Err(ConfigError::ExceedsHost {
                setting,
                value,
                available,
            }),
            _ => Ok(()),
        };
        range(Setting::MemoryLimit, self.memory, MIN_MEMORY..=u64::MAX)?;
        at_most(Setting::MemoryLimit, self.memory, host.memory)?;
        if self.swap.is_some() && self.memory.is_none() {
            return Err(ConfigError::Requires {
                setting: Setting::MemorySwapLimit,
                requires: Setting::MemoryLimit,
            });
        }
        // Memory and swap together within installed memory and swap: what is left of both
        // once the memory limit is taken.
        let swap_left = match (host.memory, host.swap, self.memory) {
            (Some(memory), Some(swap), Some(limit)) => Some(memory.saturating_add(swap).saturating_sub(limit)),
            _ => None,
        };
        at_most(Setting::MemorySwapLimit, self.swap, swap_left)?;
        if let Some(c) = self.cpus {
            let online = host
                .cpus
                .as_ref()
                .map_or_else(sysconf_online_cpus, |(cpus, _)| cpus.count());
            // In thousandths of a CPU (a NaN is 0, an infinity u64::MAX: both refused).
            // Rounded away from the range, so the value shown is outside it too.
            let milli = if c < 0.01 {
                (c * 1000.0).floor()
            } else {
                (c * 1000.0).ceil()
            } as u64;
            if c.is_nan() || c < 0.01 {
                return range(Setting::CpuLimit, Some(milli), 10..=online * 1000);
            }
            // An infinity too.
            at_most(Setting::CpuLimit, Some(milli), Some(online * 1000))?;
        }
        range(Setting::CpuWeight, self.cpu_weight, 1..=10_000)?;
        range(Setting::IoWeight, self.io_weight, 1..=10_000)?;
        // 0 would not let the payload start; above PID_MAX_LIMIT (with nsbox's own processes
        // added) the kernel refuses the write.
        range(
            Setting::PidsLimit,
            self.pids,
            1..=PID_MAX_LIMIT.saturating_sub(nsbox_processes),
        )?;
        for (setting, list, online) in [
            (Setting::CpusetCpus, &self.cpuset_cpus, &host.cpus),
            (Setting::CpusetMems, &self.cpuset_mems, &host.mems),
        ] {
            let Some(list) = list else { continue };
            let Some(ids) = IdList::parse(list) else {
                return Err(ConfigError::Malformed {
                    setting,
                    value: list.clone(),
                    expected: "a list like \"0-3,5\"",
                });
            };
            if let Some((online, text)) = online
                && let Some(id) = ids.first_not_in(online)
            {
                return Err(ConfigError::NotOnline {
                    setting,
                    list: list.clone(),
                    id,
                    online: text.clone(),
                });
            }
        }
        for (size, _) in &self.hugepages {
            if !valid_hugepage_size(size) {
                return Err(ConfigError::Malformed {
                    setting: Setting::HugepageLimit,
                    value: size.clone(),
                    expected: "a page size as the kernel names it, like \"2MB\" or \"1GB\"",
                });
            }
        }
        for (file, value) in &self.unified {
            // One file of the container's own cgroup; of the core's only its two bounds (not
            // cgroup.procs, .kill, .subtree_control...: nsbox's own bookkeeping).
            let core =
                file.starts_with("cgroup.") && !matches!(file.as_str(), "cgroup.max.depth" | "cgroup.max.descendants");
            let bad = file.is_empty() || file.contains('/') || file.starts_with('.') || core;
            if bad || file.contains('\0') || value.contains('\0') {
                return Err(ConfigError::Malformed {
                    setting: Setting::CgroupUnified,
                    value: file.clone(),
                    expected: "a controller's file name (no '/'; of cgroup.* only max.depth and max.descendants)",
                });
            }
        }
        // A limit of 0 would stop all I/O on the device.
        if let Some(l) = self.io_devices.iter().find(|l| l.value == 0) {
            range(Setting::IoDeviceLimit, Some(l.value), 1..=u64::MAX)?;
        }
        self.validate_tuning()
    }

    /// The limits as written to the cgroup: the pids limit with nsbox's own processes added.
    pub fn for_cgroup(&self, nsbox_processes: u64) -> std::borrow::Cow<'_, Resources> {
        match self.pids {
            Some(pids) if nsbox_processes > 0 => std::borrow::Cow::Owned(Resources {
                pids: Some(pids.saturating_add(nsbox_processes)),
                ..self.clone()
            }),
            _ => std::borrow::Cow::Borrowed(self),
        }
    }
}

/// `value`, if set, must be in `allowed`.
pub(super) fn range(
    setting: Setting,
    value: Option<u64>,
    allowed: std::ops::RangeInclusive<u64>,
) -> Result<(), ConfigError> {
    match value {
        Some(value) if !allowed.contains(&value) => Err(ConfigError::OutOfRange {
            setting,
            value,
            allowed,
        }),
        _ => Ok(()),
    }
}

/// `2MB`, `1GB`, `64KB`: digits and a unit, as in `/sys/fs/cgroup/hugetlb.<size>.max`.
fn valid_hugepage_size(size: &str) -> bool {
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && matches!(unit, "KB" | "MB" | "GB")
}

/// The online CPUs as libc counts them, where sysfs could not be read.
fn sysconf_online_cpus() -> u64 {
    // SAFETY: sysconf takes no memory.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_limits_are_refused() {
        let r = |f: fn(&mut Resources)| {
            let mut r = Resources::default();
            f(&mut r);
            r.validate(0)
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
            Err(ConfigError::ExceedsHost {
                setting: Setting::CpuLimit,
                value: u64::MAX,
                ..
            })
        ));
        assert!(matches!(
            r(|r| r.memory = Some(u64::MAX)),
            Err(ConfigError::ExceedsHost {
                setting: Setting::MemoryLimit,
                value: u64::MAX,
                ..
            })
        ));
        assert!(matches!(
            r(|r| r.cpuset_cpus = Some("1-0".into())),
            Err(ConfigError::Malformed {
                setting: Setting::CpusetCpus,
                ..
            })
        ));
        assert!(matches!(
            r(|r| r.cpuset_mems = Some("4095".into())),
            Err(ConfigError::NotOnline {
                setting: Setting::CpusetMems,
                id: 4095,
                ..
            })
        ));
        assert!(matches!(
            r(|r| r.pids = Some(PID_MAX_LIMIT + 1)),
            Err(ConfigError::OutOfRange {
                setting: Setting::PidsLimit,
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
        assert!(r(|r| r.pids = Some(PID_MAX_LIMIT)).is_ok());
        let pids = Resources {
            pids: Some(PID_MAX_LIMIT),
            ..Default::default()
        };
        assert!(
            pids.validate(1).is_err(),
            "nsbox's own processes count toward the kernel's bound"
        );
        assert_eq!(pids.for_cgroup(2).pids, Some(PID_MAX_LIMIT + 2));
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
