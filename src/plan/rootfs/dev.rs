//! The kernel filesystems and /dev every container gets: procfs, a fresh tmpfs /dev with the
//! host's device nodes bound in, devpts, shm, mqueue, sysfs.

use std::path::{Path, PathBuf};

use libc::c_ulong;

use super::*;

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

/// Step 3: the kernel filesystems and /dev: procfs (or the host's bound), a tmpfs /dev with
/// the host's device nodes bound in and devpts, shm, mqueue and the fd symlinks made relative
/// to one fd of it, sysfs read-only (or the host's bound).
pub(super) fn plan_kernel_fs(
    plan: &mut Plan,
    config: &Config,
    devices: Vec<(usize, PathBuf)>,
    proc_slot: Option<usize>,
    sys_slot: Option<usize>,
    top: usize,
) -> Result<()> {
    let ns = config.namespaces;
    let in_userns = config.in_user_namespace();
    let nosuid_noexec = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    match proc_slot {
        None => mount(plan, "proc", "/proc", nosuid_noexec, None, top)?,
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
    mount(
        plan,
        "tmpfs",
        "/dev",
        libc::MS_NOSUID | libc::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
        top,
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
    if !replaced(config, "shm") {
        let shm = crate::bounds::tmpfs_data("1777", config.bounds.shm_size);
        mount_in_dev(plan, dev, "tmpfs", "shm", nosuid_noexec, Some(&shm))?;
    }
    if (ns.contains(Namespaces::IPC) || !in_userns) && !replaced(config, "mqueue") {
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
    super::device_nodes::plan_device_nodes(plan, config, dev)?;
    match sys_slot {
        None => {
            let read_only = if config.writable_sys { 0 } else { libc::MS_RDONLY };
            mount(plan, "sysfs", "/sys", nosuid_noexec | read_only, None, top)?
        }
        Some(slot) => bind(
            plan,
            slot,
            Path::new("/sys"),
            Leaf::Dir,
            true,
            true,
            SetupStep::Mount,
            top,
        )?,
    }

    Ok(())
}
