//! The rest of runc's cgroup limits (issue 16): memory reservation, swappiness and the OOM
//! killer; the CFS period, burst and idle; realtime bandwidth; per-device and leaf I/O weights;
//! network class and priorities; RDMA. Their builder methods, their types and their checks.
//!
//! Each is written only where the host has its file: a v1-only knob on cgroup v2 (swappiness,
//! `oom_control`, realtime bandwidth, leaf weights, `net_cls`, `net_prio`) fails the spawn
//! naming the file, where runc would ignore it: nsbox never drops a limit silently
//! (docs/cgroups.md).

use super::limits::Resources;
use crate::builder::ContainerBuilder;
use crate::error::{ConfigError, Setting};

/// A proportional I/O weight on one block device, by its major:minor numbers (v1
/// `blkio.weight_device`/`blkio.leaf_weight_device`, v2 `io.bfq.weight` or `io.weight`).
///
/// Weights are in [`io_weight`](crate::ContainerBuilder::io_weight)'s units, 1..=10000 (v2's
/// `io.weight`); v1 and BFQ take 10..=1000 and get the value converted.
///
/// ```
/// let weight = nsbox::IoDeviceWeight::new(8, 0, 500);
/// assert_eq!(weight.weight, Some(500));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IoDeviceWeight {
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// The weight for this device.
    pub weight: Option<u64>,
    /// The weight for this device's I/O of the cgroup itself against its children (v1 CFQ
    /// only: `blkio.leaf_weight_device`).
    pub leaf_weight: Option<u64>,
}

impl IoDeviceWeight {
    /// Weight `weight` on device `major:minor`.
    pub fn new(major: u32, minor: u32, weight: u64) -> Self {
        IoDeviceWeight {
            major,
            minor,
            weight: Some(weight),
            leaf_weight: None,
        }
    }

    /// With a leaf weight too (v1 only).
    pub fn leaf_weight(mut self, weight: u64) -> Self {
        self.leaf_weight = Some(weight);
        self
    }
}

/// Limits on one RDMA device's resources (`rdma.max`, v1 and v2).
///
/// ```
/// let limit = nsbox::RdmaLimit::new("mlx5_0").hca_handles(2).hca_objects(2000);
/// assert_eq!(limit.hca_objects, Some(2000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RdmaLimit {
    /// The device, as `rdma.max` names it (`mlx5_0`).
    pub device: String,
    /// Most HCA handles.
    pub hca_handles: Option<u32>,
    /// Most HCA objects.
    pub hca_objects: Option<u32>,
}

impl RdmaLimit {
    /// No limit yet on `device`.
    pub fn new(device: impl Into<String>) -> Self {
        RdmaLimit {
            device: device.into(),
            hca_handles: None,
            hca_objects: None,
        }
    }

    /// At most `n` HCA handles.
    pub fn hca_handles(mut self, n: u32) -> Self {
        self.hca_handles = Some(n);
        self
    }

    /// At most `n` HCA objects.
    pub fn hca_objects(mut self, n: u32) -> Self {
        self.hca_objects = Some(n);
        self
    }

    /// The line for `rdma.max`: `mlx5_0 hca_handle=2 hca_object=max`.
    pub(crate) fn line(&self) -> String {
        let value = |v: Option<u32>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
        format!(
            "{} hca_handle={} hca_object={}",
            self.device,
            value(self.hca_handles),
            value(self.hca_objects)
        )
    }
}

/// The CFS period's bounds in microseconds (the kernel's: 1 ms to 1 s).
pub(crate) const CPU_PERIOD_RANGE: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;

/// An `io_weight`-unit weight (1..=10000) in v1 blkio / BFQ units (10..=1000): the exact
/// inverse of runc's blkio → io.weight conversion (`1 + (w - 10) * 9999 / 990`), rounded, so a
/// weight that came from a v1 one goes back unchanged.
pub(crate) fn weight_to_blkio(weight: u64) -> u64 {
    let w = weight.clamp(1, 10_000) - 1;
    10 + (w * 990 + 9999 / 2) / 9999
}

impl Resources {
    /// The checks of the limits in this file (called by `validate`).
    pub(super) fn validate_tuning(&self) -> Result<(), ConfigError> {
        let range = super::limits::range;
        let host_memory = super::host::host().memory.unwrap_or(u64::MAX);
        range(Setting::MemoryReservation, self.memory_reservation, 1..=host_memory)?;
        range(Setting::MemorySwappiness, self.memory_swappiness, 0..=100)?;
        range(Setting::CpuPeriod, self.cpu_period, CPU_PERIOD_RANGE)?;
        // A burst beyond the quota the kernel refuses (EINVAL): say so first.
        let burst_max = self.cpu_quota_us().unwrap_or(*CPU_PERIOD_RANGE.end());
        range(Setting::CpuBurst, self.cpu_burst, 0..=burst_max)?;
        range(Setting::CpuRealtime, self.cpu_rt_period, 1..=*CPU_PERIOD_RANGE.end())?;
        let runtime_max = self.cpu_rt_period.unwrap_or(*CPU_PERIOD_RANGE.end());
        range(Setting::CpuRealtime, self.cpu_rt_runtime, 0..=runtime_max)?;
        for w in &self.io_device_weights {
            range(Setting::IoDeviceWeight, w.weight, 1..=10_000)?;
            range(Setting::IoDeviceWeight, w.leaf_weight, 1..=10_000)?;
            if w.weight.is_none() && w.leaf_weight.is_none() {
                return Err(ConfigError::Malformed {
                    setting: Setting::IoDeviceWeight,
                    value: format!("{}:{}", w.major, w.minor),
                    expected: "a device with a weight or a leaf weight",
                });
            }
        }
        range(Setting::IoWeight, self.io_leaf_weight, 1..=10_000)?;
        for (interface, _) in &self.net_priorities {
            // A network interface name: 1..=15 bytes (IFNAMSIZ - 1), no '/', no space.
            let bad = |c: char| c == '/' || c.is_whitespace() || c == '\0';
            if interface.is_empty() || interface.len() > 15 || interface.contains(bad) {
                return Err(ConfigError::Malformed {
                    setting: Setting::NetPriority,
                    value: interface.clone(),
                    expected: "a network interface name (1 to 15 bytes, no '/' or space)",
                });
            }
        }
        for limit in &self.rdma {
            let bad = |c: char| c.is_whitespace() || c == '\0' || c == '=';
            if limit.device.is_empty() || limit.device.contains(bad) {
                return Err(ConfigError::Malformed {
                    setting: Setting::Rdma,
                    value: limit.device.clone(),
                    expected: "an RDMA device name (no space or '=')",
                });
            }
        }
        Ok(())
    }
}

/// The rest of runc's cgroup limits (issue 16). Each implies a cgroup.
impl ContainerBuilder {
    /// A memory soft limit (runc's `memory.reservation`): under memory pressure the kernel
    /// reclaims from cgroups above theirs first. v1 `memory.soft_limit_in_bytes`; v2
    /// `memory.low`, as runc writes it (memory below it is protected from reclaim).
    pub fn memory_reservation(&mut self, bytes: u64) -> &mut Self {
        self.settings.resources.memory_reservation = Some(bytes);
        self
    }

    /// How eagerly the kernel swaps the container's anonymous memory, 0..=100 (v1
    /// `memory.swappiness`). cgroup v2 has no such file: the spawn fails there (runc ignores
    /// it).
    pub fn memory_swappiness(&mut self, swappiness: u64) -> &mut Self {
        self.settings.resources.memory_swappiness = Some(swappiness);
        self
    }

    /// Turns the OOM killer off for the container (v1 `memory.oom_control`): at its memory
    /// limit a process waits for memory instead of being killed. cgroup v2 has no such
    /// switch: the spawn fails there (runc ignores it).
    pub fn oom_kill_disable(&mut self) -> &mut Self {
        self.settings.resources.oom_kill_disable = true;
        self
    }

    /// The period [`cpu_limit`](Self::cpu_limit) is enforced over, in microseconds
    /// (1000..=1000000; default 100000): v1 `cpu.cfs_period_us`, v2 `cpu.max`'s second field.
    pub fn cpu_period(&mut self, micros: u64) -> &mut Self {
        self.settings.resources.cpu_period = Some(micros);
        self
    }

    /// CPU time the container may save up and spend beyond its quota in one period, in
    /// microseconds (v1 `cpu.cfs_burst_us`, v2 `cpu.max.burst`); at most the quota.
    pub fn cpu_burst(&mut self, micros: u64) -> &mut Self {
        self.settings.resources.cpu_burst = Some(micros);
        self
    }

    /// Runs the container's processes as `SCHED_IDLE` against other cgroups (`cpu.idle`).
    pub fn cpu_idle(&mut self, idle: bool) -> &mut Self {
        self.settings.resources.cpu_idle = Some(idle);
        self
    }

    /// Realtime bandwidth: `runtime` microseconds of realtime scheduling per `period` (v1
    /// `cpu.rt_period_us`, `cpu.rt_runtime_us`; needs a kernel with `CONFIG_RT_GROUP_SCHED`).
    /// cgroup v2 has none: the spawn fails there, as runc refuses it.
    pub fn cpu_realtime(&mut self, runtime: u64, period: u64) -> &mut Self {
        self.settings.resources.cpu_rt_runtime = Some(runtime);
        self.settings.resources.cpu_rt_period = Some(period);
        self
    }

    /// A proportional I/O weight on one device (see [`IoDeviceWeight`]).
    pub fn io_device_weight(&mut self, weight: IoDeviceWeight) -> &mut Self {
        self.settings.resources.io_device_weights.push(weight);
        self
    }

    /// The weight of the cgroup's own I/O against its children's (v1 `blkio.leaf_weight`,
    /// CFQ; in [`io_weight`](Self::io_weight)'s units). cgroup v2 has none: the spawn fails
    /// there.
    pub fn io_leaf_weight(&mut self, weight: u64) -> &mut Self {
        self.settings.resources.io_leaf_weight = Some(weight);
        self
    }

    /// Tags the container's network packets with class id `class_id` (v1 `net_cls.classid`,
    /// for `tc` and iptables). cgroup v2 has no `net_cls`: the spawn fails there.
    pub fn net_class_id(&mut self, class_id: u32) -> &mut Self {
        self.settings.resources.net_class_id = Some(class_id);
        self
    }

    /// The priority of the container's traffic on `interface` (v1 `net_prio.ifpriomap`).
    /// cgroup v2 has no `net_prio`: the spawn fails there.
    pub fn net_priority(&mut self, interface: impl Into<String>, priority: u32) -> &mut Self {
        self.settings
            .resources
            .net_priorities
            .push((interface.into(), priority));
        self
    }

    /// Limits on an RDMA device's resources (`rdma.max`).
    pub fn rdma_limit(&mut self, limit: RdmaLimit) -> &mut Self {
        self.settings.resources.rdma.push(limit);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blkio_weights_go_back_to_what_runc_converted() {
        for blkio in 10..=1000u64 {
            let weight = 1 + (blkio - 10) * 9999 / 990;
            assert_eq!(weight_to_blkio(weight), blkio);
        }
        assert_eq!(weight_to_blkio(1), 10);
        assert_eq!(weight_to_blkio(10_000), 1000);
    }

    #[test]
    fn absurd_tuning_is_refused() {
        let r = |f: fn(&mut Resources)| {
            let mut r = Resources::default();
            f(&mut r);
            r.validate(0)
        };
        assert!(r(|r| r.memory_swappiness = Some(101)).is_err());
        assert!(r(|r| r.memory_swappiness = Some(0)).is_ok());
        assert!(r(|r| r.memory_reservation = Some(0)).is_err());
        assert!(r(|r| r.memory_reservation = Some(u64::MAX)).is_err());
        assert!(r(|r| r.cpu_period = Some(999)).is_err());
        assert!(r(|r| r.cpu_period = Some(1_000_001)).is_err());
        assert!(r(|r| r.cpu_period = Some(250_000)).is_ok());
        assert!(
            r(|r| {
                r.cpus = Some(0.5);
                r.cpu_burst = Some(60_000);
            })
            .is_err(),
            "a burst above the quota"
        );
        assert!(
            r(|r| {
                r.cpus = Some(0.5);
                r.cpu_burst = Some(50_000);
            })
            .is_ok()
        );
        assert!(
            r(|r| {
                r.cpu_rt_period = Some(100_000);
                r.cpu_rt_runtime = Some(100_001);
            })
            .is_err()
        );
        assert!(r(|r| r.cpu_rt_period = Some(0)).is_err());
        assert!(r(|r| r.io_device_weights = vec![IoDeviceWeight::new(8, 0, 0)]).is_err());
        assert!(
            r(|r| r.io_device_weights = vec![IoDeviceWeight {
                major: 8,
                minor: 0,
                weight: None,
                leaf_weight: None
            }])
            .is_err()
        );
        assert!(r(|r| r.net_priorities = vec![("a/b".into(), 1)]).is_err());
        assert!(r(|r| r.net_priorities = vec![("0123456789abcdef".into(), 1)]).is_err());
        assert!(r(|r| r.net_priorities = vec![("lo".into(), 1)]).is_ok());
        assert!(r(|r| r.rdma = vec![RdmaLimit::new("mlx 0")]).is_err());
        assert_eq!(
            RdmaLimit::new("mlx5_0").hca_handles(2).line(),
            "mlx5_0 hca_handle=2 hca_object=max"
        );
    }
}
