//! What the mapping needs to know about the host and the caller.

use std::fs;

/// Facts about the host and the calling process that decide whether a field can be honoured
/// exactly. [`Options::probe`] reads them; tests set them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// AppArmor is enabled (`/sys/module/apparmor/parameters/enabled` says `Y`).
    pub apparmor: bool,
    /// SELinux is mounted (`/sys/fs/selinux/enforce` exists).
    pub selinux: bool,
    /// The huge page sizes the host has, as the spec names them (`2MB`, `1GB`).
    pub hugepage_sizes: Vec<String>,
    /// The caller's `oom_score_adj`, which the container inherits: a `process.oomScoreAdj`
    /// equal to it is left to inheritance, any other is set (`ContainerBuilder::oom_score_adj`).
    pub oom_score_adj: i32,
    /// The caller's umask, which the container inherits (`None`: unknown): a
    /// `process.user.umask` equal to it is left to inheritance, any other is set.
    pub umask: Option<u32>,
    /// The host's hostname: a new UTS namespace starts with it, so a bundle without
    /// `hostname` keeps it, as under runc.
    pub hostname: String,
    /// The caller may set a device cgroup (it is root): `linux.resources.devices` is then
    /// enforced; otherwise only rules no wider than nsbox's own /dev are accepted.
    pub device_cgroup: bool,
    /// Intel RDT's `resctrl` filesystem is mounted (`/sys/fs/resctrl/info` exists): without it
    /// `linux.intelRdt` is refused as "this host has no resctrl".
    pub resctrl: bool,
}

impl Options {
    /// Reads the facts from this host and process.
    pub fn probe() -> Self {
        let read = |path: &str| fs::read_to_string(path).unwrap_or_default();
        let hugepage_sizes = fs::read_dir("/sys/kernel/mm/hugepages")
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().and_then(hugepage_name))
                    .collect()
            })
            .unwrap_or_default();
        Options {
            apparmor: read("/sys/module/apparmor/parameters/enabled").trim() == "Y",
            selinux: fs::metadata("/sys/fs/selinux/enforce").is_ok(),
            hugepage_sizes,
            oom_score_adj: read("/proc/self/oom_score_adj").trim().parse().unwrap_or(0),
            umask: read("/proc/self/status")
                .lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|m| u32::from_str_radix(m.trim(), 8).ok()),
            hostname: read("/proc/sys/kernel/hostname").trim_end().to_string(),
            device_cgroup: read("/proc/self/status")
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                == Some("0"),
            resctrl: fs::metadata("/sys/fs/resctrl/info").is_ok(),
        }
    }

    /// Facts for tests: no AppArmor, no SELinux, 2MB huge pages, `oom_score_adj` 0, umask
    /// 022, hostname `host`, a device cgroup, no resctrl.
    pub fn fixed() -> Self {
        Options {
            apparmor: false,
            selinux: false,
            hugepage_sizes: vec!["2MB".into()],
            oom_score_adj: 0,
            umask: Some(0o022),
            hostname: "host".into(),
            device_cgroup: true,
            resctrl: false,
        }
    }
}

/// `hugepages-2048kB` → `2MB`, as runc names sizes in `hugepageLimits`.
fn hugepage_name(dir: &str) -> Option<String> {
    let kb: u64 = dir.strip_prefix("hugepages-")?.strip_suffix("kB")?.parse().ok()?;
    Some(match kb {
        kb if kb >= 1 << 20 && kb % (1 << 20) == 0 => format!("{}GB", kb >> 20),
        kb if kb >= 1 << 10 && kb % (1 << 10) == 0 => format!("{}MB", kb >> 10),
        kb => format!("{kb}KB"),
    })
}
