//! Resource usage of a container, read from its cgroup.

use std::time::Duration;

/// A snapshot of a container's resource usage. A field is `None` where the host does not
/// account for it (its controller is not available here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Memory in use now, in bytes (page cache included, as the kernel counts it).
    pub memory_current: Option<u64>,
    /// The most memory ever in use, in bytes.
    pub memory_peak: Option<u64>,
    /// CPU time used in total.
    pub cpu_total: Option<Duration>,
    /// CPU time used in user mode.
    pub cpu_user: Option<Duration>,
    /// CPU time used in the kernel.
    pub cpu_system: Option<Duration>,
    /// Processes (v1) or tasks (v2) in the container now.
    pub pids_current: Option<u64>,
    /// Bytes read from block devices.
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
}

/// The value of `key` in a flat-keyed file (`key value` lines: cpu.stat, memory.events…).
pub(crate) fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut parts = l.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next()?.parse().ok())
            .flatten()
    })
}

/// Sums `rbytes=`/`wbytes=` over every device of a v2 `io.stat`.
pub(crate) fn v2_io(text: &str) -> (u64, u64) {
    let mut sum = (0u64, 0u64);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=").and_then(|v| v.parse::<u64>().ok()) {
            sum.0 = sum.0.saturating_add(v);
        } else if let Some(v) = field.strip_prefix("wbytes=").and_then(|v| v.parse::<u64>().ok()) {
            sum.1 = sum.1.saturating_add(v);
        }
    }
    sum
}

/// Sums the `Read`/`Write` lines of a v1 `blkio.throttle.io_service_bytes` file.
pub(crate) fn v1_io(text: &str) -> (u64, u64) {
    let mut sum = (0u64, 0u64);
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [_, op, value] = parts.as_slice() {
            let v: u64 = value.parse().unwrap_or(0);
            match *op {
                "Read" => sum.0 = sum.0.saturating_add(v),
                "Write" => sum.1 = sum.1.saturating_add(v),
                _ => {}
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_files_parse() {
        assert_eq!(keyed("usage_usec 10\nuser_usec 7\n", "user_usec"), Some(7));
        assert_eq!(keyed("oom 0\noom_kill 2\n", "oom_kill"), Some(2));
        assert_eq!(keyed("oom_kill x\n", "oom_kill"), None);
        assert_eq!(
            v2_io("8:0 rbytes=10 wbytes=20 rios=1\n8:16 rbytes=1 wbytes=2\n"),
            (11, 22)
        );
        assert_eq!(v1_io("8:0 Read 5\n8:0 Write 6\n8:0 Total 11\nTotal 11\n"), (5, 6));
    }
}
