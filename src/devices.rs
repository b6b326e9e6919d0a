//! Devices and the exact cgroup: device nodes made in the container's `/dev`, the device
//! cgroup's rules, huge page limits, raw cgroup v2 files and an exact cgroup path — what an
//! OCI bundle's `linux.devices`, `linux.resources.{devices,hugepageLimits,unified}` and
//! `linux.cgroupsPath` ask for.

use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::builder::ContainerBuilder;
use crate::cgroup::DeviceRule;
use crate::config::Settings;
use crate::error::{ConfigError, Setting};
use crate::namespaces::Namespaces;

/// A device node made in the container's `/dev` ([`device_node`](ContainerBuilder::device_node)).
///
/// Without a user namespace the setup process makes it with `mknod(2)` (then sets its mode
/// and owner); in one, where the kernel refuses mknod of a device, the host's node at the
/// same path is bound instead (as runc does), with the host's mode and owner. Either way the
/// [device cgroup](ContainerBuilder::device_rules), when there is one, decides whether the
/// payload may open it, and must allow `m` for it where it is made with mknod: the setup
/// process is in the container's cgroups by then.
///
/// ```
/// let fuse = nsbox::DeviceNode::char("/dev/fuse", 10, 229).mode(0o666);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct DeviceNode {
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))]
    pub(crate) path: PathBuf,
    pub(crate) block: bool,
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl DeviceNode {
    /// A character device at `path` (under `/dev`), mode 0666, owned by root.
    pub fn char(path: impl AsRef<Path>, major: u32, minor: u32) -> Self {
        DeviceNode {
            path: path.as_ref().to_path_buf(),
            block: false,
            major,
            minor,
            mode: 0o666,
            uid: 0,
            gid: 0,
        }
    }

    /// A block device at `path` (under `/dev`), mode 0666, owned by root.
    pub fn block(path: impl AsRef<Path>, major: u32, minor: u32) -> Self {
        DeviceNode {
            block: true,
            ..DeviceNode::char(path, major, minor)
        }
    }

    /// Its permission bits (`0o7777` at most).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Its owner, as ids inside the container.
    pub fn owner(mut self, uid: u32, gid: u32) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    /// The path in the container.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `S_IFCHR` or `S_IFBLK` with the permission bits, as mknod takes it.
    pub(crate) fn mknod_mode(&self) -> u32 {
        (if self.block { libc::S_IFBLK } else { libc::S_IFCHR }) | self.mode
    }

    pub(crate) fn rdev(&self) -> u64 {
        libc::makedev(self.major, self.minor)
    }

    /// Whether it is the node nsbox already binds at `path` from the host (`/dev/null`…).
    pub(crate) fn is_host_node(&self, host: &Path) -> bool {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        std::fs::metadata(host).is_ok_and(|m| {
            let kind = if self.block {
                m.file_type().is_block_device()
            } else {
                m.file_type().is_char_device()
            };
            kind && m.rdev() == self.rdev()
        })
    }
}

/// Devices, huge pages, raw cgroup v2 files and the exact cgroup path.
impl ContainerBuilder {
    /// The container's cgroup is exactly `path` in every hierarchy (runc's `cgroupsPath`):
    /// absolute from each hierarchy's root (of the caller's cgroup namespace), relative from
    /// the caller's own cgroup. Created with its parents if missing, reused if it exists;
    /// removed, like nsbox's own `nsbox-<id>`, once the payload is reaped through its handle.
    /// A [`detach`](Self::detach)ed container's cgroup outlives the handle: find it again with
    /// [`CgroupHandle::open`](crate::CgroupHandle::open) (pause, update, remove). Conflicts
    /// with [`cgroup_parent`](Self::cgroup_parent).
    pub fn cgroup_path(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.settings.cgroup_path = Some(path.as_ref().to_path_buf());
        self
    }

    /// The device cgroup: `rules` in order, from "allow everything" (see [`DeviceRule`]);
    /// enforced before the payload runs, by the v1 `devices` controller where it is mounted,
    /// else by an eBPF program attached to the container's v2 cgroup. Without this call the
    /// container has no device cgroup of its own (the caller's applies): it can open the
    /// nodes nsbox puts in its `/dev`, and any device node it can make (mknod needs
    /// `CAP_MKNOD` outside a user namespace). Implies a cgroup.
    pub fn device_rules(&mut self, rules: impl IntoIterator<Item = DeviceRule>) -> &mut Self {
        self.settings.resources.devices = Some(rules.into_iter().collect());
        self
    }

    /// Adds a device node to the container's `/dev` (see [`DeviceNode`]). Needs a mount
    /// namespace; a path nsbox already fills (`/dev/pts`, `/dev/shm`…) is refused, except
    /// the same device nsbox binds there (`/dev/null` as 1:3), which is left as it is.
    pub fn device_node(&mut self, node: DeviceNode) -> &mut Self {
        self.settings.device_nodes.push(node);
        self
    }

    /// Limits the container's huge pages of size `page_size` (as the kernel names it:
    /// `"2MB"`, `"1GB"`) to `bytes`, through the `hugetlb` controller.
    pub fn hugepage_limit(&mut self, page_size: impl Into<String>, bytes: u64) -> &mut Self {
        self.settings.resources.hugepages.push((page_size.into(), bytes));
        self
    }

    /// Writes `value` to the file `file` of the container's cgroup v2 directory after the
    /// limits (OCI's `linux.resources.unified`). Needs a cgroup2 mount; a file of a
    /// controller the v2 cgroup lacks fails the spawn.
    pub fn cgroup_unified(&mut self, file: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.settings.resources.unified.push((file.into(), value.into()));
        self
    }
}

/// The paths nsbox fills in its `/dev` (besides the nodes bound from the host).
const NSBOX_DEV_ENTRIES: [&str; 8] = ["pts", "ptmx", "shm", "mqueue", "fd", "stdin", "stdout", "stderr"];

/// The nodes nsbox binds into every `/dev` from the host (`plan::rootfs::dev::DEVICES`).
pub(crate) const HOST_DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The host node nsbox binds at the container path `path`, if it binds one there.
pub(crate) fn host_dev_node(path: &Path) -> Option<PathBuf> {
    let name = path.strip_prefix("/dev").ok()?.to_str()?;
    HOST_DEV_NODES.contains(&name).then(|| Path::new("/dev").join(name))
}

/// `build()`'s checks of this file's settings; normalises the device paths.
pub(crate) fn validate(s: &Settings) -> Result<(), ConfigError> {
    if let Some(path) = &s.cgroup_path {
        if s.cgroup_parent.is_some() {
            return Err(ConfigError::Conflict {
                setting: Setting::CgroupPath,
                with: Setting::CgroupParent,
                why: "an exact cgroup path has no parent to choose",
            });
        }
        let bad = path.as_os_str().as_bytes().contains(&0)
            || path.components().any(|c| c == Component::ParentDir)
            || !path.components().any(|c| matches!(c, Component::Normal(_)));
        if bad {
            return Err(ConfigError::Malformed {
                setting: Setting::CgroupPath,
                value: path.to_string_lossy().into_owned(),
                expected: "a cgroup path below a hierarchy's root, free of '..'",
            });
        }
    }
    if !s.device_nodes.is_empty() && !s.namespaces.contains(Namespaces::MOUNT) {
        return Err(ConfigError::NeedsNamespace {
            setting: Setting::DeviceNode,
            namespace: Namespaces::MOUNT,
        });
    }
    for node in &s.device_nodes {
        let path = crate::config::container_path(Setting::DeviceNode, &node.path)?;
        let bad = |expected| ConfigError::Malformed {
            setting: Setting::DeviceNode,
            value: node.path.to_string_lossy().into_owned(),
            expected,
        };
        let Ok(below) = path.strip_prefix("/dev") else {
            return Err(bad("a path below /dev"));
        };
        let first = below
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned());
        match first {
            None => return Err(bad("a path below /dev")),
            Some(first) if NSBOX_DEV_ENTRIES.contains(&first.as_str()) => {
                return Err(bad(
                    "a path nsbox does not fill itself (pts, ptmx, shm, mqueue, fd, std*)",
                ));
            }
            _ => {}
        }
        if node.mode & !0o7777 != 0 {
            return Err(bad("permission bits only (mode & 0o7777)"));
        }
        if let Some(host) = host_dev_node(&path)
            && !node.is_host_node(&host)
        {
            return Err(bad(
                "the device nsbox binds at this path from the host, or another path",
            ));
        }
    }
    Ok(())
}
