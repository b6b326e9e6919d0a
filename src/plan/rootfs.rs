//! Planning the container's filesystem: the root, the default mounts every container gets,
//! the caller's mounts, pivot_root, and the masked and read-only paths.
//!
//! The layout follows runc and Docker (default mounts, masked and read-only paths) and
//! bubblewrap (the host root as read-only binds into a fresh tmpfs, so mount points can be
//! created without touching the host).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_ulong;

use super::{ContainerPath, Leaf, Plan, Step, cstring};
use crate::config::Config;
use crate::error::{Error, Result, SetupStep};
use crate::mount::MountKind;
use crate::namespaces::Namespaces;
use crate::rootfs::RootfsKind;

/// Host directories where the child may mount its staging root. The mount is private to the
/// child's mount namespace, so any real directory serves; these exist almost everywhere.
const STAGE_CANDIDATES: [&str; 4] = ["/tmp", "/mnt", "/var/tmp", "/run"];

/// Top-level host entries a host-root container gets fresh instead of bound.
const FRESH_ON_HOST_ROOT: [&str; 5] = ["proc", "sys", "dev", "tmp", "run"];

/// Device nodes bound from the host into the fresh /dev (binds work in a user namespace,
/// where mknod does not).
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

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

enum HostEntry {
    Dir(PathBuf),
    File(PathBuf),
    Symlink(PathBuf, PathBuf),
}

/// A host path hidden on the host root, as it is on the host (a symlink's target).
struct Hidden {
    path: PathBuf,
    dir: bool,
}

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
    let ns = config.namespaces;
    let in_userns = ns.contains(Namespaces::USER);
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

    // 3. Kernel filesystems and /dev.
    let nosuid_noexec = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    match proc_slot {
        None => mount(plan, "proc", "/proc", nosuid_noexec, None)?,
        Some(slot) => bind(plan, slot, Path::new("/proc"), Leaf::Dir, true, false, SetupStep::Mount)?,
    }
    mount(
        plan,
        "tmpfs",
        "/dev",
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    // /dev is the tmpfs just mounted: what goes in it is made relative to one fd of it.
    let dev = plan.new_slot();
    let step = Step::OpenMountDir {
        path: resolve_path(Path::new("/dev"), RESOLVE_STRICT)?,
        slot: dev,
    };
    plan.push(step, SetupStep::Mount, Some("/dev".into()));
    for (source, host) in devices {
        let step = Step::BindInto {
            source,
            dir: dev,
            name: dev_entry_name(&host)?,
        };
        plan.push(step, SetupStep::Mount, Some(host));
    }
    let tty_gid = plan
        .id_maps
        .as_ref()
        .is_none_or(|m| crate::idmap::IdMap::maps_inside(&m.gid, 5));
    let devpts = if tty_gid {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    } else {
        "newinstance,ptmxmode=0666,mode=0620"
    };
    mount_in_dev(
        plan,
        dev,
        "devpts",
        "pts",
        libc::MS_NOSUID | libc::MS_NOEXEC,
        Some(devpts),
    )?;
    symlink_in_dev(plan, dev, "ptmx", "pts/ptmx")?;
    let shm = crate::bounds::tmpfs_data("1777", config.bounds.shm_size);
    mount_in_dev(plan, dev, "tmpfs", "shm", nosuid_noexec, Some(&shm))?;
    if ns.contains(Namespaces::IPC) || !in_userns {
        mount_in_dev(plan, dev, "mqueue", "mqueue", nosuid_noexec, None)?;
    }
    for (name, link) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink_in_dev(plan, dev, name, link)?;
    }
    match sys_slot {
        None => mount(plan, "sysfs", "/sys", nosuid_noexec | libc::MS_RDONLY, None)?,
        Some(slot) => bind(plan, slot, Path::new("/sys"), Leaf::Dir, true, true, SetupStep::Mount)?,
    }

    // 4. The caller's mounts, in order.
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

    for slot in seal {
        plan.push(Step::ReadOnlyMount(slot), SetupStep::Mount, None);
    }

    // 5. Enter it.
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

/// Covers each hidden path: a directory with an empty tmpfs, read-only at once unless one of
/// the caller's mounts lies under it (its mount point is created in the tmpfs first; the
/// returned slots hold the tmpfs mounts to make read-only once the caller's mounts are in); a
/// file or socket with the null device. A top-level directory left out of an entry-by-entry
/// layout needs nothing. An empty mount on top hides only from a payload that cannot unmount
/// it: without CAP_SYS_ADMIN (Sandbox), or the root would not be one bind of `/` either.
fn hide(
    plan: &mut Plan,
    hidden: &[Hidden],
    whole_host: bool,
    config: &Config,
    null_slot: Option<usize>,
) -> Result<Vec<usize>> {
    let mut seal = Vec::new();
    // The first read-only cover, bound onto the others: a bind costs less than a superblock.
    let mut empty_cover = None;
    for Hidden { path, dir } in hidden {
        let top_level = path.parent() == Some(Path::new("/"));
        if !whole_host && top_level {
            continue;
        }
        if !dir {
            let slot = null_slot.ok_or_else(|| Error::io("hide a host file", nix::errno::Errno::EBADF))?;
            bind(plan, slot, path, Leaf::File, false, true, SetupStep::Mount)?;
            continue;
        }
        let mounts_under = config
            .mounts
            .iter()
            .any(|m| m.target.starts_with(path) && m.target != *path);
        if let (false, Some(cover)) = (mounts_under, empty_cover) {
            bind(plan, cover, path, Leaf::Dir, false, true, SetupStep::Mount)?;
            continue;
        }
        let read_only = if mounts_under { 0 } else { libc::MS_RDONLY };
        let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | read_only;
        mount_with(plan, "tmpfs", path, flags, Some("mode=755"), RESOLVE_STRICT)?;
        // An fd of the tmpfs' root: sealing it later reaches this mount, not the caller's
        // mounts that will lie on top of it or under it; a read-only one covers the others.
        let slot = plan.new_slot();
        let step = Step::OpenMountDir {
            path: resolve_path(path, RESOLVE_STRICT)?,
            slot,
        };
        plan.push(step, SetupStep::Mount, Some(path.clone()));
        if mounts_under {
            seal.push(slot);
        } else {
            empty_cover = Some(slot);
        }
    }
    Ok(seal)
}

/// The hidden paths as they are on the host: a symlink's target instead of the symlink (so
/// `/var/run -> /run` is the container's own /run, and `/home -> var/home` hides `/var/home`),
/// sorted, without those that do not exist, lie under the container's own /tmp, /run, /dev,
/// /proc or /sys, or under another hidden path.
fn hidden_on_host(paths: &[PathBuf]) -> Vec<Hidden> {
    let mut found = Vec::new();
    for path in paths {
        let Ok(real) = std::fs::canonicalize(path) else {
            continue;
        };
        let top = real.components().nth(1).map(|c| c.as_os_str().as_bytes().to_vec());
        let fresh = top.is_some_and(|t| FRESH_ON_HOST_ROOT.iter().any(|f| f.as_bytes() == t));
        if fresh || real == Path::new("/") {
            continue;
        }
        let dir = real.is_dir();
        found.push(Hidden { path: real, dir });
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|later, earlier| later.path.starts_with(&earlier.path));
    found
}

fn bind(
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

fn mount(plan: &mut Plan, fstype: &str, target: &str, flags: c_ulong, data: Option<&str>) -> Result<()> {
    mount_with(plan, fstype, Path::new(target), flags, data, RESOLVE_STRICT)
}

fn mount_user(plan: &mut Plan, fstype: &str, target: &Path, flags: c_ulong, data: Option<&str>) -> Result<()> {
    mount_with(plan, fstype, target, flags, data, RESOLVE_IN_ROOT)
}

fn mount_with(
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

/// The last component of a /dev path.
fn dev_entry_name(path: &Path) -> Result<std::ffi::CString> {
    let name = path.file_name().map(|n| cstring(n.as_bytes())).transpose()?;
    name.ok_or_else(|| Error::io("name a /dev entry", nix::errno::Errno::EINVAL))
}

fn mount_in_dev(
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

fn symlink_in_dev(plan: &mut Plan, dev: usize, name: &str, link: &str) -> Result<()> {
    let step = Step::SymlinkInto {
        dir: dev,
        name: cstring(name.as_bytes())?,
        link: cstring(link.as_bytes())?,
    };
    plan.push(step, SetupStep::Symlink, Some(Path::new("/dev").join(name)));
    Ok(())
}

fn symlink(plan: &mut Plan, link: &Path, path: &Path) -> Result<()> {
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

/// Whether `target` can be a mount point in the whole-host root (read-only, so nothing can be
/// created in it): it exists on the host, or it lies in the container's own /tmp or /run, or
/// in the tmpfs over a hidden directory.
fn mount_point_exists_on_host(target: &Path, hidden: &[Hidden]) -> bool {
    if hidden
        .iter()
        .any(|h| h.dir && target.starts_with(&h.path) && target != h.path)
    {
        return true;
    }
    let fresh = FRESH_ON_HOST_ROOT.iter().filter(|d| matches!(**d, "tmp" | "run"));
    fresh.into_iter().any(|d| {
        target
            .strip_prefix("/")
            .is_ok_and(|t| t.starts_with(d) && t != Path::new(d))
    }) || std::fs::symlink_metadata(target).is_ok_and(|m| !m.file_type().is_symlink())
}

fn choose_stage() -> Result<&'static str> {
    STAGE_CANDIDATES
        .into_iter()
        .find(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
        .ok_or_else(|| {
            Error::io(
                "find a directory to stage the root on",
                std::io::Error::from_raw_os_error(libc::ENOENT),
            )
        })
}

/// The host's top-level entries, minus the ones a container gets fresh.
fn host_top_level() -> Result<Vec<HostEntry>> {
    let read = std::fs::read_dir("/").map_err(|e| Error::io("list the host root", e))?;
    let mut entries = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| Error::io("list the host root", e))?;
        let name = entry.file_name();
        if FRESH_ON_HOST_ROOT.iter().any(|f| name.as_bytes() == f.as_bytes()) {
            continue;
        }
        let path = Path::new("/").join(&name);
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
        entries.push(if kind.is_symlink() {
            let link = std::fs::read_link(&path).map_err(|e| Error::io(format!("read link {}", path.display()), e))?;
            HostEntry::Symlink(path, link)
        } else if kind.is_dir() {
            HostEntry::Dir(path)
        } else if kind.is_file() {
            HostEntry::File(path)
        } else {
            continue;
        });
    }
    entries.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
    Ok(entries)
}

fn entry_path(e: &HostEntry) -> &Path {
    match e {
        HostEntry::Dir(p) | HostEntry::File(p) | HostEntry::Symlink(p, _) => p,
    }
}
