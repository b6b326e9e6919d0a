//! Where the cgroup hierarchies are mounted and where the calling process sits in each.
//!
//! Read from `/proc/self/mountinfo` and `/proc/self/cgroup`, so a host with any mix of v1
//! hierarchies and a cgroup2 mount (pure v1, pure v2, hybrid) is described as it is.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// A resource controller nsbox can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Controller {
    /// Memory limits and usage (`memory`).
    Memory,
    /// CPU bandwidth and weight (`cpu`).
    Cpu,
    /// CPU usage accounting (v1 `cpuacct`; part of the core in v2).
    Cpuacct,
    /// CPU and memory-node pinning (`cpuset`).
    Cpuset,
    /// Process count limit (`pids`).
    Pids,
    /// Block I/O weight and throttling (v1 `blkio`, v2 `io`).
    Io,
    /// Freezing for pause/resume (v1 `freezer`; `cgroup.freeze` in v2).
    Freezer,
    /// Device access rules (v1 `devices`; an eBPF program attached to the cgroup in v2).
    Devices,
    /// Huge page limits (`hugetlb`).
    Hugetlb,
    /// Network class ids (`net_cls`, v1 only).
    NetCls,
    /// Network priorities (`net_prio`, v1 only).
    NetPrio,
    /// RDMA resource limits (`rdma`).
    Rdma,
}

impl Controller {
    /// Every controller, in a fixed order.
    pub const ALL: [Controller; 12] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Pids,
        Controller::Io,
        Controller::Freezer,
        Controller::Devices,
        Controller::Hugetlb,
        Controller::NetCls,
        Controller::NetPrio,
        Controller::Rdma,
    ];

    /// The name of the v1 hierarchy's subsystem.
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Pids => "pids",
            Controller::Io => "blkio",
            Controller::Freezer => "freezer",
            Controller::Devices => "devices",
            Controller::Hugetlb => "hugetlb",
            Controller::NetCls => "net_cls",
            Controller::NetPrio => "net_prio",
            Controller::Rdma => "rdma",
        }
    }

    /// The name in v2's `cgroup.controllers`; `None` where v2 has it in the core.
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Memory => Some("memory"),
            Controller::Cpu => Some("cpu"),
            Controller::Cpuset => Some("cpuset"),
            Controller::Pids => Some("pids"),
            Controller::Io => Some("io"),
            Controller::Hugetlb => Some("hugetlb"),
            Controller::Rdma => Some("rdma"),
            Controller::Cpuacct | Controller::Freezer | Controller::Devices => None,
            // Not in v2 at all (see `v1_only`).
            Controller::NetCls | Controller::NetPrio => None,
        }
    }

    /// Whether cgroup v2 has no counterpart at all (`net_cls`, `net_prio`: v2 leaves packet
    /// tagging to eBPF and the socket's cgroup path).
    pub(crate) fn v1_only(self) -> bool {
        matches!(self, Controller::NetCls | Controller::NetPrio)
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.v1_name())
    }
}

/// How the host's cgroups are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CgroupMode {
    /// Only v1 hierarchies.
    Legacy,
    /// Only a cgroup2 hierarchy (at /sys/fs/cgroup).
    Unified,
    /// v1 hierarchies and a cgroup2 beside them (usually /sys/fs/cgroup/unified).
    Hybrid,
}

/// A mounted v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Hierarchy {
    pub controllers: BTreeSet<Controller>,
    pub mountpoint: PathBuf,
    /// The cgroup path of the mount's root (not `/` when a sub-tree is mounted).
    pub root: PathBuf,
    /// The calling process's cgroup path in this hierarchy.
    pub own: PathBuf,
}

/// The mounted cgroup2 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V2Hierarchy {
    pub mountpoint: PathBuf,
    pub root: PathBuf,
    pub own: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Layout {
    pub v1: Vec<V1Hierarchy>,
    pub v2: Option<V2Hierarchy>,
}

impl Layout {
    pub fn detect() -> std::io::Result<Layout> {
        let mountinfo = read_proc_file("/proc/self/mountinfo")?;
        let cgroups = read_proc_file("/proc/self/cgroup")?;
        Ok(Layout::parse(&mountinfo, &cgroups))
    }

    pub fn mode(&self) -> Option<CgroupMode> {
        match (self.v1.is_empty(), self.v2.is_some()) {
            (false, false) => Some(CgroupMode::Legacy),
            (true, true) => Some(CgroupMode::Unified),
            (false, true) => Some(CgroupMode::Hybrid),
            (true, false) => None,
        }
    }

    pub fn v1_for(&self, controller: Controller) -> Option<&V1Hierarchy> {
        self.v1.iter().find(|h| h.controllers.contains(&controller))
    }

    /// Parses the two proc files. Unknown lines and fields are ignored; the first mount of a
    /// hierarchy wins.
    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Layout {
        let mut own_v1: Vec<(BTreeSet<Controller>, PathBuf)> = Vec::new();
        let mut own_v2 = None;
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(list), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if list.is_empty() {
                own_v2 = Some(PathBuf::from(path));
            } else {
                own_v1.push((controllers_in(list.split(',')), PathBuf::from(path)));
            }
        }
        let mut layout = Layout::default();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let left: Vec<&str> = left.split(' ').collect();
            let right: Vec<&str> = right.split(' ').collect();
            let (Some(root), Some(mountpoint), Some(fstype), Some(options)) =
                (left.get(3), left.get(4), right.first(), right.get(2))
            else {
                continue;
            };
            let (root, mountpoint) = (PathBuf::from(unescape(root)), PathBuf::from(unescape(mountpoint)));
            match *fstype {
                "cgroup2" if layout.v2.is_none() => {
                    let own = own_v2.clone().unwrap_or_else(|| PathBuf::from("/"));
                    layout.v2 = Some(V2Hierarchy { mountpoint, root, own });
                }
                "cgroup" => {
                    let controllers = controllers_in(options.split(','));
                    if controllers.is_empty() || layout.v1.iter().any(|h| !h.controllers.is_disjoint(&controllers)) {
                        continue;
                    }
                    let own = own_v1
                        .iter()
                        .find(|(set, _)| set.is_superset(&controllers))
                        .map_or_else(|| PathBuf::from("/"), |(_, p)| p.clone());
                    layout.v1.push(V1Hierarchy {
                        controllers,
                        mountpoint,
                        root,
                        own,
                    });
                }
                _ => {}
            }
        }
        layout
    }
}

fn controllers_in<'a>(names: impl Iterator<Item = &'a str>) -> BTreeSet<Controller> {
    names
        .filter_map(|n| Controller::ALL.into_iter().find(|c| c.v1_name() == n))
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The directory of cgroup `path` in a hierarchy mounted at `mountpoint` whose mount root is
/// the cgroup `root`: a path outside the mounted sub-tree maps to the mount point itself.
pub(crate) fn dir_of(mountpoint: &Path, root: &Path, path: &Path) -> PathBuf {
    let relative = path.strip_prefix(root).unwrap_or(Path::new(""));
    let relative = relative.strip_prefix("/").unwrap_or(relative);
    if relative.as_os_str().is_empty() {
        mountpoint.to_path_buf()
    } else {
        mountpoint.join(relative)
    }
}

/// A proc file read whole: proc reports size 0, so `fs::read_to_string` would grow its buffer
/// from a few bytes, one read each (7 reads for this host's mountinfo); one 16 KiB buffer
/// takes it in one read and a read that returns 0.
fn read_proc_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(16 * 1024);
    std::fs::File::open(path)?.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
25 1 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
28 25 0:26 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
29 25 0:27 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 /sub /mnt/my\\040pids rw - cgroup cgroup rw,pids
";
    const HYBRID_CGROUP: &str = "5:name=systemd:/user.slice\n4:pids:/a/b\n3:cpu,cpuacct:/c\n0::/u\n";

    #[test]
    fn hybrid_layout_is_read_per_controller() {
        let layout = Layout::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        assert_eq!(layout.mode(), Some(CgroupMode::Hybrid));
        let cpu = layout.v1_for(Controller::Cpuacct).unwrap();
        assert_eq!(cpu.mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert_eq!(cpu.own, Path::new("/c"));
        assert_eq!(layout.v1_for(Controller::Pids).unwrap().own, Path::new("/a/b"));
        assert!(layout.v1_for(Controller::Memory).is_none());
        assert_eq!(layout.v2.as_ref().unwrap().own, Path::new("/u"));
        assert_eq!(layout.v1.len(), 2, "the second pids mount is ignored");
    }

    #[test]
    fn pure_v2_and_escapes() {
        let layout = Layout::parse("1 0 0:1 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", "0::/\n");
        assert_eq!(layout.mode(), Some(CgroupMode::Unified));
        assert_eq!(unescape("/a\\040b\\\\"), "/a b\\\\");
        assert_eq!(unescape("/x\\134y"), "/x\\y");
    }

    #[test]
    fn dir_of_strips_the_mount_root() {
        let m = Path::new("/sys/fs/cgroup/pids");
        assert_eq!(dir_of(m, Path::new("/"), Path::new("/a/b")), m.join("a/b"));
        assert_eq!(dir_of(m, Path::new("/a"), Path::new("/a/b")), m.join("b"));
        assert_eq!(dir_of(m, Path::new("/x"), Path::new("/a/b")), m);
    }
}
