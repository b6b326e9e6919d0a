//! The paths masked and made read-only after pivot_root: nsbox's lists (Docker's), or the
//! caller's (an OCI bundle's `linux.maskedPaths` and `linux.readonlyPaths`).

use std::path::{Path, PathBuf};

use crate::builder::ContainerBuilder;
use crate::config::container_path;
use crate::error::ConfigError;
use crate::setting::Setting;

/// nsbox's masked paths (Docker's list): hidden behind `/dev/null` (files) or an empty
/// read-only tmpfs (directories), each with the kind it is on the kernels we know (tried
/// first; the other kind if that is wrong).
pub(crate) const MASKED: [(&str, bool); 12] = [
    ("/proc/asound", true),
    ("/proc/acpi", true),
    ("/proc/interrupts", false),
    ("/proc/kcore", false),
    ("/proc/keys", false),
    ("/proc/latency_stats", false),
    ("/proc/timer_list", false),
    ("/proc/timer_stats", false),
    ("/proc/sched_debug", false),
    ("/proc/scsi", true),
    ("/sys/firmware", true),
    ("/sys/devices/virtual/powercap", true),
];

/// nsbox's read-only paths (Docker's and runc's list).
pub(crate) const READ_ONLY: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Masked and read-only paths (issue 16, mounts).
impl ContainerBuilder {
    /// Exactly the paths hidden in the container, instead of nsbox's list
    /// ([`DEFAULT_MASKED_PATHS`](Self::DEFAULT_MASKED_PATHS), Docker's): each, once the
    /// container's root is in place, covered by `/dev/null` if a file or an empty read-only
    /// tmpfs if a directory (as runc does); a path absent in the container is skipped. An
    /// empty list masks nothing. Absolute paths of the container; `/` is refused.
    ///
    /// ```
    /// use nsbox::Container;
    /// let mut b = Container::builder();
    /// b.masked_paths(["/proc/kcore", "/proc/keys", "/sys/firmware"]).command("/bin/true");
    /// ```
    pub fn masked_paths<I, P>(&mut self, paths: I) -> &mut Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.settings.masked_paths = Some(paths.into_iter().map(|p| p.as_ref().to_path_buf()).collect());
        self
    }

    /// Exactly the paths made read-only in the container (with every mount below them),
    /// instead of nsbox's list ([`DEFAULT_READ_ONLY_PATHS`](Self::DEFAULT_READ_ONLY_PATHS)); a
    /// path absent in the container is skipped. Absolute paths of the container; `/` is
    /// refused (see [`read_only_root`](Self::read_only_root)).
    pub fn read_only_paths<I, P>(&mut self, paths: I) -> &mut Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.settings.read_only_paths = Some(paths.into_iter().map(|p| p.as_ref().to_path_buf()).collect());
        self
    }

    /// The paths masked unless [`masked_paths`](Self::masked_paths) says otherwise: Docker's
    /// list.
    pub const DEFAULT_MASKED_PATHS: [&'static str; 12] = {
        let mut out = [""; 12];
        let mut i = 0;
        while i < MASKED.len() {
            out[i] = MASKED[i].0;
            i += 1;
        }
        out
    };

    /// The paths made read-only unless [`read_only_paths`](Self::read_only_paths) says
    /// otherwise: Docker's and runc's list.
    pub const DEFAULT_READ_ONLY_PATHS: [&'static str; 5] = READ_ONLY;
}

/// The caller's list normalised (absolute, no `..`, not `/`), duplicates dropped.
pub(crate) fn check(setting: Setting, paths: Option<Vec<PathBuf>>) -> Result<Option<Vec<PathBuf>>, ConfigError> {
    let Some(paths) = paths else {
        return Ok(None);
    };
    let mut out: Vec<PathBuf> = Vec::with_capacity(paths.len());
    for path in paths {
        let normal = container_path(setting, &path)?;
        if normal == Path::new("/") {
            return Err(ConfigError::BadContainerPath { setting, path });
        }
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(Some(out))
}

/// What to mask: each path with whether to try a directory first (nsbox's table, else what
/// the host has there: /proc and /sys are the same kernel's).
pub(crate) fn masked(config: &crate::config::Config) -> Vec<(PathBuf, bool)> {
    match &config.masked_paths {
        None => MASKED.iter().map(|(p, dir)| (PathBuf::from(p), *dir)).collect(),
        Some(paths) => paths
            .iter()
            .map(|p| {
                let known = MASKED.iter().find(|(m, _)| Path::new(m) == p).map(|(_, dir)| *dir);
                (p.clone(), known.unwrap_or_else(|| p.is_dir()))
            })
            .collect(),
    }
}

/// What to make read-only.
pub(crate) fn read_only(config: &crate::config::Config) -> Vec<PathBuf> {
    match &config.read_only_paths {
        None => READ_ONLY.iter().map(PathBuf::from).collect(),
        Some(paths) => paths.clone(),
    }
}
