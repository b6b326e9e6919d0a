//! The kernel filesystems and /dev every container gets: procfs, a fresh tmpfs /dev with the
//! host's device nodes bound in, devpts, shm, mqueue, sysfs.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use libc::c_ulong;

use super::*;
use crate::child::premade_mounts::{Recipe, Superblock};

/// Device nodes bound from the host into the fresh /dev (binds work in a user namespace,
/// where mknod does not), each read-only: the inode is the host's (see `Step::BindInto`).
pub(super) const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Whether one of the caller's mounts is at `/dev/<name>`: it replaces nsbox's own there
/// (an engine's bind of its shm mount at /dev/shm, as Docker makes one).
pub(super) fn replaced(config: &Config, name: &str) -> bool {
    let path = Path::new("/dev").join(name);
    config.mounts.iter().any(|m| m.target == path)
}

/// The last component of a /dev path.
pub(super) fn dev_entry_name(path: &Path) -> Result<std::ffi::CString> {
    let name = path.file_name().map(|n| cstring(n.as_bytes())).transpose()?;
    name.ok_or_else(|| Error::io("name a /dev entry", nix::errno::Errno::EINVAL))
}

pub(super) fn mount_in_dev(
    plan: &mut Plan,
    dev: usize,
    fstype: &str,
    name: &str,
    flags: c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let step = Step::MountInto {
        dir: dev,
        name: cstring(name.as_bytes())?,
        fstype: cstring(fstype.as_bytes())?,
        flags,
        data: data.map(|d| cstring(d.as_bytes())).transpose()?,
    };
    plan.push(step, SetupStep::Mount, Some(Path::new("/dev").join(name)));
    Ok(())
}

pub(super) fn symlink_in_dev(plan: &mut Plan, dev: usize, name: &str, link: &str) -> Result<()> {
    let step = Step::SymlinkInto {
        dir: dev,
        name: cstring(name.as_bytes())?,
        link: cstring(link.as_bytes())?,
    };
    plan.push(step, SetupStep::Symlink, Some(Path::new("/dev").join(name)));
    Ok(())
}

/// The /dev tmpfs: its options and flags.
const DEV_TMPFS: &str = "mode=755,size=65536k";
const DEV_FLAGS: c_ulong = libc::MS_NOSUID | libc::MS_STRICTATIME;
const DEVPTS_FLAGS: c_ulong = libc::MS_NOSUID | libc::MS_NOEXEC;
const NOSUID_NOEXEC_NODEV: c_ulong = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
/// The symlinks in /dev: (name, target).
const DEV_LINKS: [(&str, &str); 5] = [
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// What a container's /dev and /sys are made of where it depends on the configuration (the
/// rest is the constants above): the fresh mounts follow it, and a [`NamespacePool`]'s
/// pre-made trees are made from its template's and used only by spawns with the same.
///
/// [`NamespacePool`]: crate::NamespacePool
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DevLayout {
    /// The devpts options (`gid=5` where the container maps it).
    devpts: &'static str,
    /// The /dev/shm tmpfs options; `None` where one of the caller's mounts replaces it.
    shm: Option<String>,
    /// Whether /dev/mqueue is mounted (the container's own IPC namespace's).
    mqueue: bool,
    /// The fresh sysfs's flags; `None`: the host's /sys is bound (no network namespace).
    sysfs: Option<c_ulong>,
    /// The propagation the setup process gives its copy of the caller's mounts, and so the
    /// host's device nodes bound from it (`MS_PRIVATE`, or `MS_SLAVE` with
    /// `receive_host_mounts`).
    propagation: c_ulong,
}

impl DevLayout {
    pub(crate) fn of(config: &Config) -> DevLayout {
        let ns = config.namespaces;
        let in_userns = config.in_user_namespace();
        let tty_gid = !ns.contains(Namespaces::USER) || crate::idmap::IdMap::maps_inside(&config.gid_map, 5);
        let devpts = match tty_gid {
            true => "newinstance,ptmxmode=0666,mode=0620,gid=5",
            false => "newinstance,ptmxmode=0666,mode=0620",
        };
        let read_only = if config.writable_sys { 0 } else { libc::MS_RDONLY };
        DevLayout {
            devpts,
            shm: (!replaced(config, "shm")).then(|| crate::bounds::tmpfs_data("1777", config.bounds.shm_size)),
            mqueue: (ns.contains(Namespaces::IPC) || !in_userns) && !replaced(config, "mqueue"),
            sysfs: ns.contains(Namespaces::NET).then_some(NOSUID_NOEXEC_NODEV | read_only),
            propagation: match config.receive_host_mounts {
                true => libc::MS_SLAVE,
                false => libc::MS_PRIVATE,
            },
        }
    }

    /// Whether a sysfs mounted for `other` would be this one's: the kernel keeps one sysfs
    /// superblock per network namespace, read-only or not as its first mount made it.
    pub(crate) fn same_sysfs(&self, other: &DevLayout) -> bool {
        self.sysfs == other.sysfs
    }

    /// What a pool's holder makes for containers with this layout, and their `/dev` device
    /// sources; `None` where /sys is the host's (nothing to make ahead).
    pub(crate) fn recipe(&self) -> Result<Option<Recipe>> {
        let Some(sysfs) = self.sysfs else { return Ok(None) };
        // The source a fresh mount names is its type (`mount_fresh_on`); fsmount's is "none".
        let superblock = |fstype: &str, data: &str, flags: c_ulong| -> Result<Superblock> {
            let mut options = vec![(c"source".into(), cstring(fstype.as_bytes())?)];
            for option in data.split(',').filter(|o| !o.is_empty()) {
                let (key, value) = option.split_once('=').unwrap_or((option, ""));
                options.push((cstring(key.as_bytes())?, cstring(value.as_bytes())?));
            }
            // mount(2) with MS_RDONLY makes the new superblock read-only too.
            if flags & libc::MS_RDONLY != 0 {
                options.push((c"ro".into(), c"".into()));
            }
            Ok((options, mount_attrs(flags)))
        };
        let names =
            |a: &str, b: &str| -> Result<(CString, CString)> { Ok((cstring(a.as_bytes())?, cstring(b.as_bytes())?)) };
        let mut mounts = vec![("pts", "devpts", self.devpts, DEVPTS_FLAGS)];
        if let Some(shm) = &self.shm {
            mounts.push(("shm", "tmpfs", shm, NOSUID_NOEXEC_NODEV));
        }
        if self.mqueue {
            mounts.push(("mqueue", "mqueue", "", NOSUID_NOEXEC_NODEV));
        }
        let mounts = mounts
            .into_iter()
            .map(|(name, fstype, data, flags)| {
                let (name, fstype_c) = names(name, fstype)?;
                Ok((name, fstype_c, superblock(fstype, data, flags)?))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(Recipe {
            propagation: self.propagation,
            dev: superblock("tmpfs", DEV_TMPFS, DEV_FLAGS)?,
            devices: DEVICES
                .iter()
                .map(|d| names(&format!("/dev/{d}"), d))
                .collect::<Result<_>>()?,
            mounts,
            links: DEV_LINKS.iter().map(|(n, l)| names(n, l)).collect::<Result<_>>()?,
            sys: superblock("sysfs", "", sysfs)?,
        }))
    }
}

/// The `MOUNT_ATTR_*` of `mount(2)`'s per-mount `MS_*` flags.
fn mount_attrs(flags: c_ulong) -> u64 {
    crate::mount::MS_AND_ATTRS
        .iter()
        .filter(|(ms, _)| flags & ms != 0)
        .fold(0, |attrs, (_, attr)| attrs | attr)
}

/// Step 3: the kernel filesystems and /dev: procfs (or the host's bound), a tmpfs /dev with
/// the host's device nodes bound in and devpts, shm, mqueue and the fd symlinks made relative
/// to one fd of it, sysfs read-only (or the host's bound). With a pair's pre-made trees
/// (`trees`: /dev's slot and /sys's), those two are attached instead.
pub(super) fn plan_kernel_fs(
    plan: &mut Plan,
    config: &Config,
    devices: Vec<(usize, PathBuf)>,
    proc_slot: Option<usize>,
    sys_slot: Option<usize>,
    trees: Option<(usize, usize)>,
    top: usize,
) -> Result<()> {
    let layout = DevLayout::of(config);
    match proc_slot {
        None => mount(plan, "proc", "/proc", NOSUID_NOEXEC_NODEV, None, top)?,
        Some(slot) => bind(
            plan,
            slot,
            Path::new("/proc"),
            Leaf::Dir,
            true,
            false,
            SetupStep::Mount,
            top,
        )?,
    }
    let (dev, sys_tree) = match trees {
        Some((dev, sys)) => {
            attach(plan, dev, Path::new("/dev"), top)?;
            (None, Some(sys))
        }
        None => (Some(fill_dev(plan, &layout, devices, top)?), None),
    };
    if !config.device_nodes.is_empty() {
        let dev = match dev {
            Some(dev) => dev,
            None => open_dev(plan)?,
        };
        super::device_nodes::plan_device_nodes(plan, config, dev)?;
    }
    match (sys_slot, sys_tree, layout.sysfs) {
        (Some(slot), ..) => bind(
            plan,
            slot,
            Path::new("/sys"),
            Leaf::Dir,
            true,
            true,
            SetupStep::Mount,
            top,
        )?,
        (None, Some(tree), _) => attach(plan, tree, Path::new("/sys"), top)?,
        (None, None, flags) => mount(plan, "sysfs", "/sys", flags.unwrap_or(NOSUID_NOEXEC_NODEV), None, top)?,
    }
    Ok(())
}

/// Attaches the pre-made tree in `slot` at `target` (`create_from` as for a fresh mount).
fn attach(plan: &mut Plan, slot: usize, target: &Path, create_from: usize) -> Result<()> {
    let step = Step::AttachTree {
        slot,
        target: resolve_path_from(target, RESOLVE_STRICT, create_from)?,
        leaf: Leaf::Dir,
        propagation: 0,
    };
    plan.push(step, SetupStep::Mount, Some(target.to_path_buf()));
    Ok(())
}

/// The mounted /dev, opened into a new slot: what goes in it is made relative to one fd of it.
fn open_dev(plan: &mut Plan) -> Result<usize> {
    let dev = plan.new_slot();
    let step = Step::OpenMountDir {
        path: resolve_path(Path::new("/dev"), RESOLVE_STRICT)?,
        slot: dev,
    };
    plan.push(step, SetupStep::Mount, Some("/dev".into()));
    Ok(dev)
}

/// A fresh /dev: the tmpfs, the host's device nodes bound in, devpts, shm, mqueue, the
/// symlinks; its slot.
fn fill_dev(plan: &mut Plan, layout: &DevLayout, devices: Vec<(usize, PathBuf)>, top: usize) -> Result<usize> {
    mount(plan, "tmpfs", "/dev", DEV_FLAGS, Some(DEV_TMPFS), top)?;
    let dev = open_dev(plan)?;
    for (source, host) in devices {
        let step = Step::BindInto {
            source,
            dir: dev,
            name: dev_entry_name(&host)?,
        };
        plan.push(step, SetupStep::Mount, Some(host));
    }
    let [(ptmx, ptmx_link), fd_links @ ..] = DEV_LINKS;
    mount_in_dev(plan, dev, "devpts", "pts", DEVPTS_FLAGS, Some(layout.devpts))?;
    symlink_in_dev(plan, dev, ptmx, ptmx_link)?;
    if let Some(shm) = &layout.shm {
        mount_in_dev(plan, dev, "tmpfs", "shm", NOSUID_NOEXEC_NODEV, Some(shm))?;
    }
    if layout.mqueue {
        mount_in_dev(plan, dev, "mqueue", "mqueue", NOSUID_NOEXEC_NODEV, None)?;
    }
    for (name, link) in fd_links {
        symlink_in_dev(plan, dev, name, link)?;
    }
    Ok(dev)
}
