//! What this host can give a container, for `build()` to compare limits with: installed memory
//! and swap (`/proc/meminfo`), online CPUs and memory nodes (sysfs).
//!
//! `build()` is on the spawn path, so each file is read once per process (`OnceLock`): a host
//! that hot-plugs memory or CPUs while a program runs is checked against what it had at the
//! first `build()`; the kernel still has the last word when the limits are written. A file
//! that cannot be read or parsed leaves its check out (`None`), never refuses a configuration.

use std::sync::OnceLock;

use super::id_list::IdList;

/// This host's capacity, as read at the first [`host`] call.
#[derive(Debug)]
pub(crate) struct Host {
    /// `MemTotal`, in bytes.
    pub memory: Option<u64>,
    /// `SwapTotal`, in bytes.
    pub swap: Option<u64>,
    /// The online CPUs, and the text they were read from.
    pub cpus: Option<(IdList, String)>,
    /// The online memory nodes, and the text (`0` on a kernel without NUMA, which has no
    /// `/sys/devices/system/node`).
    pub mems: Option<(IdList, String)>,
}

/// The host, probed once.
pub(crate) fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let list = |path: &str, absent: Option<&str>| {
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text.trim().to_owned(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => absent?.to_owned(),
                Err(_) => return None,
            };
            Some((IdList::parse(&text)?, text))
        };
        Host {
            memory: meminfo_bytes(&meminfo, "MemTotal:"),
            swap: meminfo_bytes(&meminfo, "SwapTotal:"),
            cpus: list("/sys/devices/system/cpu/online", None),
            mems: list("/sys/devices/system/node/online", Some("0")),
        }
    })
}

/// A `/proc/meminfo` line's value (`MemTotal:  24683792 kB`) in bytes.
fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find_map(|l| l.strip_prefix(key))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_values_are_bytes() {
        let text = "MemTotal:       24683792 kB\nMemFree: 1 kB\nSwapTotal:             0 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal:"), Some(24683792 * 1024));
        assert_eq!(meminfo_bytes(text, "SwapTotal:"), Some(0));
        assert_eq!(meminfo_bytes(text, "Hugepagesize:"), None);
    }

    #[test]
    fn this_host_is_read() {
        let host = host();
        assert!(host.memory.is_some_and(|m| m > 0), "{host:?}");
        assert!(host.cpus.as_ref().is_some_and(|(cpus, _)| cpus.count() > 0), "{host:?}");
        assert!(host.mems.is_some(), "{host:?}");
    }
}
