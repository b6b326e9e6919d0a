//! Planning the container's filesystem: the root, the default mounts every container gets,
//! the caller's mounts, pivot_root, and the masked and read-only paths.
//!
//! The layout follows runc and Docker (default mounts, masked and read-only paths) and
//! bubblewrap (the host root as read-only binds into a fresh tmpfs, so mount points can be
//! created without touching the host).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_ulong;

mod dev;
mod hidden;
mod host;

use super::{ContainerPath, Leaf, Plan, Step, cstring};
use crate::config::Config;
use crate::error::{Error, Result, SetupStep};
use crate::mount::MountKind;
use crate::namespaces::Namespaces;
use crate::rootfs::RootfsKind;
use dev::{DEVICES, plan_kernel_fs};
use hidden::{Hidden, hidden_on_host, hide};
use host::{FRESH_ON_HOST_ROOT, HostEntry, choose_stage, entry_path, host_top_level, mount_point_exists_on_host};

/// Docker's masked paths: hidden behind /dev/null (files) or an empty tmpfs (directories),
/// with what each is on the kernels we know (tried first; the other kind if that is wrong).
const MASKED: [(&str, bool); 12] = [
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

/// Docker's read-only paths.
const READ_ONLY: [&str; 5] = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

const RESOLVE_IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// For the kernel filesystems' mount points: a symlinked /proc, /sys or /dev in a rootfs is
/// refused (CVE-2019-16884, CVE-2023-27561).
const RESOLVE_STRICT: u64 = RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS;

/// The slots [`open_sources`] filled and what the rest of the plan needs to know about them.
pub(super) struct Sources {
    whole_host: bool,
    root_slot: Option<usize>,
    host_entries: Vec<(HostEntry, Option<usize>)>,
    devices: Vec<(usize, PathBuf)>,
    proc_slot: Option<usize>,
    sys_slot: Option<usize>,
    user_sources: Vec<Option<usize>>,
    hidden: Vec<Hidden>,
}

/// The first steps of the filesystem sequence: private propagation, then every host source
/// opened (`O_PATH`), before the staging mount can hide any of them. They run before the
/// setup process switches to the container's root (see `Plan::new` for why).
pub(super) fn open_sources(plan: &mut Plan, config: &Config) -> Result<Sources> {
    let ns = config.namespaces;
    // A fresh procfs or sysfs needs its own PID or network namespace: the host's would be the
    // same superblock, which cannot be mounted over itself (EBUSY) and, in a user namespace,
    // not at all. Without one, the host's is bound (sysfs read-only).
    let fresh_proc = ns.contains(Namespaces::PID);
    let fresh_sys = ns.contains(Namespaces::NET);
    let rootfs = config.rootfs.clone();
    let hidden = if rootfs.is_host() {
        hidden_on_host(&config.hidden_host_paths)
    } else {
        Vec::new()
    };

    plan.push(Step::PrivatePropagation, SetupStep::PrivatePropagation, None);

    // The host root in one recursive read-only bind when every mount point already exists;
    // otherwise (a mount needs a new directory) each top-level entry bound into a fresh tmpfs.
    // The one bind keeps the host's /tmp, /run, /proc... under the container's fresh mounts, so
    // it is only for payloads that cannot unmount those (no CAP_SYS_ADMIN).
    let may_unmount = config.capabilities.contains(crate::security::Capability::CAP_SYS_ADMIN);
    let whole_host = rootfs.is_host()
        && !may_unmount
        && config
            .mounts
            .iter()
            .all(|m| mount_point_exists_on_host(&m.target, &hidden));
    let root_slot = match &rootfs.0 {
        RootfsKind::Dir(dir) => Some(plan.open_source(dir, SetupStep::PrepareRoot)?),
        RootfsKind::Host if whole_host => Some(plan.open_source(Path::new("/"), SetupStep::PrepareRoot)?),
        RootfsKind::Host => None,
    };
    let mut host_entries = Vec::new();
    if rootfs.is_host() && !whole_host {
        for entry in host_top_level()? {
            // A hidden top-level entry is left out of the layout: nothing of it is mounted.
            if hidden.iter().any(|h| h.path == entry_path(&entry)) {
                continue;
            }
            let slot = match &entry {
                HostEntry::Dir(p) | HostEntry::File(p) => Some(plan.open_source(p, SetupStep::PrepareRoot)?),
                HostEntry::Symlink(..) => None,
            };
            host_entries.push((entry, slot));
        }
    }
    let mut devices = Vec::new();
    for name in DEVICES {
        let host = Path::new("/dev").join(name);
        devices.push((plan.open_source(&host, SetupStep::Mount)?, host));
    }
    let proc_slot = if fresh_proc {
        None
    } else {
        Some(plan.open_source(Path::new("/proc"), SetupStep::Mount)?)
    };
    let sys_slot = if fresh_sys {
        None
    } else {
        Some(plan.open_source(Path::new("/sys"), SetupStep::Mount)?)
    };
    let mut user_sources = Vec::new();
    for mount in &config.mounts {
        user_sources.push(match &mount.kind {
            MountKind::Bind { source, follow, .. } => {
                let no_follow = !follow.unwrap_or(!config.bind_no_follow);
                Some(plan.open_source_with(source, SetupStep::BindMount, no_follow)?)
            }
            _ => None,
        });
    }
    Ok(Sources {
        whole_host,
        root_slot,
        host_entries,
        devices,
        proc_slot,
        sys_slot,
        user_sources,
        hidden,
    })
}

/// The rest of the filesystem sequence, on the sources [`open_sources`] opened.
pub(super) fn plan_rootfs(plan: &mut Plan, config: &Config, sources: Sources) -> Result<()> {
    let rootfs = config.rootfs.clone();
    let Sources {
        whole_host,
        root_slot,
        host_entries,
        devices,
        proc_slot,
        sys_slot,
        user_sources,
        hidden,
    } = sources;

    // 2. The new root.
    let stage = choose_stage()?;
    let stage_label = match &rootfs.0 {
        RootfsKind::Dir(dir) => dir.clone(),
        RootfsKind::Host => PathBuf::from(stage),
    };
    plan.push(
        Step::Stage {
            stage: cstring(stage.as_bytes())?,
            bind_slot: root_slot,
            read_only_submounts: root_slot.is_some() && config.is_read_only_root(),
        },
        SetupStep::PrepareRoot,
        Some(stage_label),
    );
    for (entry, slot) in host_entries {
        match (entry, slot) {
            (HostEntry::Symlink(path, link), _) => symlink(plan, &link, &path)?,
            (HostEntry::Dir(path), Some(slot)) => {
                bind(plan, slot, &path, Leaf::Dir, true, true, SetupStep::PrepareRoot)?
            }
            (HostEntry::File(path), Some(slot)) => {
                bind(plan, slot, &path, Leaf::File, false, true, SetupStep::PrepareRoot)?
            }
            _ => {}
        }
    }
    if rootfs.is_host() {
        // Sized by the profile (crate::bounds): without size= a tmpfs may fill half of RAM.
        let bounds = &config.bounds;
        let tmp = crate::bounds::tmpfs_data("1777", bounds.tmp_size);
        let run = crate::bounds::tmpfs_data("755", bounds.run_size);
        mount(plan, "tmpfs", "/tmp", libc::MS_NOSUID | libc::MS_NODEV, Some(&tmp))?;
        mount(plan, "tmpfs", "/run", libc::MS_NOSUID | libc::MS_NODEV, Some(&run))?;
    }
    let null_slot = devices.first().map(|(slot, _)| *slot);
    let seal = hide(plan, &hidden, whole_host, config, null_slot)?;

    plan_kernel_fs(plan, config, devices, proc_slot, sys_slot)?;
    plan_user_mounts(plan, config, user_sources)?;
    for slot in seal {
        plan.push(Step::ReadOnlyMount(slot), SetupStep::Mount, None);
    }

    plan_enter(plan, config)
}

/// Step 4: the caller's mounts, in order, on the sources opened for them.
fn plan_user_mounts(plan: &mut Plan, config: &Config, user_sources: Vec<Option<usize>>) -> Result<()> {
    let nosuid_noexec = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    for (m, slot) in config.mounts.iter().zip(user_sources) {
        let target = &m.target;
        match (&m.kind, slot) {
            (MountKind::Bind { source, recursive, .. }, Some(slot)) => {
                let leaf = if source.is_dir() || !source.exists() {
                    Leaf::Dir
                } else {
                    Leaf::File
                };
                let path = resolve_path(target, RESOLVE_IN_ROOT)?;
                plan.push(
                    Step::Bind {
                        slot,
                        target: path,
                        leaf,
                        recursive: *recursive,
                        read_only: m.read_only,
                    },
                    SetupStep::BindMount,
                    Some(source.clone()),
                );
            }
            (MountKind::Tmpfs { size, mode }, _) => {
                let mut data = format!("mode={mode:o}");
                if let Some(size) = size {
                    data.push_str(&format!(",size={size}"));
                }
                let flags = libc::MS_NOSUID | libc::MS_NODEV | if m.read_only { libc::MS_RDONLY } else { 0 };
                mount_user(plan, "tmpfs", target, flags, Some(&data))?;
            }
            (MountKind::Proc, _) => {
                let flags = nosuid_noexec | if m.read_only { libc::MS_RDONLY } else { 0 };
                mount_user(plan, "proc", target, flags, None)?;
            }
            (MountKind::Bind { .. }, None) => unreachable!("every bind mount has a source slot"),
        }
    }

    Ok(())
}

/// Step 5: enter it: the root read-only, pivot_root, then the masked and read-only paths.
fn plan_enter(plan: &mut Plan, config: &Config) -> Result<()> {
    if config.is_read_only_root() {
        plan.push(Step::ReadOnlyRoot, SetupStep::ReadOnlyRoot, None);
    }
    plan.push(Step::PivotRoot, SetupStep::PivotRoot, None);
    plan.push(Step::CheckDevNull, SetupStep::MaskPath, Some("/dev/null".into()));
    for (path, dir) in MASKED {
        plan.push(
            Step::MaskPath {
                path: cstring(path.as_bytes())?,
                dir,
            },
            SetupStep::MaskPath,
            Some(path.into()),
        );
    }
    for path in READ_ONLY {
        plan.push(
            Step::ReadOnlyPath(cstring(path.as_bytes())?),
            SetupStep::ReadOnlyPath,
            Some(path.into()),
        );
    }
    Ok(())
}

pub(super) fn bind(
    plan: &mut Plan,
    slot: usize,
    target: &Path,
    leaf: Leaf,
    recursive: bool,
    read_only: bool,
    label: SetupStep,
) -> Result<()> {
    let path = resolve_path(target, RESOLVE_STRICT)?;
    plan.push(
        Step::Bind {
            slot,
            target: path,
            leaf,
            recursive,
            read_only,
        },
        label,
        Some(target.to_path_buf()),
    );
    Ok(())
}

pub(super) fn mount(plan: &mut Plan, fstype: &str, target: &str, flags: c_ulong, data: Option<&str>) -> Result<()> {
    mount_with(plan, fstype, Path::new(target), flags, data, RESOLVE_STRICT)
}

pub(super) fn mount_user(
    plan: &mut Plan,
    fstype: &str,
    target: &Path,
    flags: c_ulong,
    data: Option<&str>,
) -> Result<()> {
    mount_with(plan, fstype, target, flags, data, RESOLVE_IN_ROOT)
}

pub(super) fn mount_with(
    plan: &mut Plan,
    fstype: &str,
    target: &Path,
    flags: c_ulong,
    data: Option<&str>,
    resolve: u64,
) -> Result<()> {
    let step = Step::Mount {
        fstype: cstring(fstype.as_bytes())?,
        target: resolve_path(target, resolve)?,
        flags,
        data: data.map(|d| cstring(d.as_bytes())).transpose()?,
    };
    plan.push(step, SetupStep::Mount, Some(target.to_path_buf()));
    Ok(())
}

pub(super) fn symlink(plan: &mut Plan, link: &Path, path: &Path) -> Result<()> {
    let step = Step::Symlink {
        link: cstring(link.as_os_str().as_bytes())?,
        path: resolve_path(path, RESOLVE_STRICT)?,
    };
    plan.push(step, SetupStep::Symlink, Some(path.to_path_buf()));
    Ok(())
}

/// Splits an absolute, normalised container path into the prefixes and names the child walks.
pub(super) fn resolve_path(path: &Path, resolve: u64) -> Result<ContainerPath> {
    let mut prefixes = Vec::new();
    let mut names = Vec::new();
    let mut prefix = PathBuf::from("/");
    for component in path.components().skip(1) {
        prefix.push(component);
        prefixes.push(cstring(prefix.as_os_str().as_bytes())?);
        names.push(cstring(component.as_os_str().as_bytes())?);
    }
    Ok(ContainerPath {
        prefixes,
        names,
        resolve,
    })
}
