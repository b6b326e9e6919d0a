//! Planning the container's filesystem: the root, the default mounts every container gets,
//! the caller's mounts, pivot_root, and the masked and read-only paths.
//!
//! The layout follows runc and Docker (default mounts, masked and read-only paths) and
//! bubblewrap (the host root as read-only binds into a fresh tmpfs, so mount points can be
//! created without touching the host).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_ulong;

mod cgroupfs;
mod dev;
mod device_nodes;
mod hidden;
mod host;
mod idmapped;
mod idmapped_bind;
mod overlay;
mod tree;

use super::{BindAttrs, ContainerPath, Leaf, Plan, Step, cstring};
use crate::config::Config;
use crate::error::{Error, Result, SetupStep};
use crate::mount::MountKind;
use crate::namespaces::Namespaces;
use crate::rootfs::RootfsKind;
pub(crate) use dev::DevLayout;
use dev::{DEVICES, plan_kernel_fs};
use hidden::{Hidden, hidden_on_host, hide};
use host::{FRESH_ON_HOST_ROOT, HostEntry, choose_stage, entry_path, host_top_level};
use tree::{Anchor, PlaceError, Placement, RootLayout, Tree};

const RESOLVE_IN_ROOT: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// For the kernel filesystems' mount points: a symlinked /proc, /sys or /dev in a rootfs is
/// refused (CVE-2019-16884, CVE-2023-27561).
const RESOLVE_STRICT: u64 = RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS;

/// The slots [`open_sources`] filled and what the rest of the plan needs to know about them.
pub(super) struct Sources {
    whole_host: bool,
    /// The root is a tmpfs with the rootfs directory's entries bound in (a mount point was
    /// missing at its top).
    dir_shadow: bool,
    tree: Tree,
    placements: Vec<Placement>,
    root_slot: Option<usize>,
    host_entries: Vec<(HostEntry, Option<usize>)>,
    devices: Vec<(usize, PathBuf)>,
    proc_slot: Option<usize>,
    sys_slot: Option<usize>,
    user_sources: Vec<Option<usize>>,
    hidden: Vec<Hidden>,
    overlay: Option<overlay::OverlaySources>,
    cgroupfs: Option<cgroupfs::CgroupSources>,
}

/// The first steps of the filesystem sequence: private propagation, then every host source
/// opened (`O_PATH`), before the staging mount can hide any of them. They run before the
/// setup process switches to the container's root (see `Plan::new` for why).
pub(super) fn open_sources(
    plan: &mut Plan,
    config: &Config,
    cgroup: Option<&crate::cgroup::Cgroup>,
) -> Result<Sources> {
    let ns = config.namespaces;
    // A fresh procfs or sysfs needs its own PID or network namespace: the host's would be the
    // same superblock, which cannot be mounted over itself (EBUSY) and, in a user namespace,
    // not at all. Without one, the host's is bound (sysfs read-only).
    // A joined PID namespace's too: procfs shows the mounter's (the setup process's) active
    // one, the joined namespace it was born in (issue 16, namespace joins).
    let fresh_proc = ns.contains(Namespaces::PID) || config.process.joined(Namespaces::PID).is_some();
    let fresh_sys = ns.contains(Namespaces::NET);
    let rootfs = config.rootfs.clone();
    let hidden = if rootfs.is_host() {
        hidden_on_host(&config.hidden_host_paths)
    } else {
        Vec::new()
    };

    let propagation = match config.receive_host_mounts {
        true => Step::SlavePropagation,
        false => Step::PrivatePropagation,
    };
    plan.push(propagation, SetupStep::PrivatePropagation, None);

    // The host root in one recursive read-only bind when every mount point already exists
    // or can be made in a shadow below the top; otherwise (a new top-level name) each
    // top-level entry bound into a fresh tmpfs. The one bind keeps the host's /tmp, /run,
    // /proc... under the container's fresh mounts, so it is only for payloads that cannot
    // unmount those (no CAP_SYS_ADMIN). A rootfs directory likewise: one bind, or its entries
    // in a tmpfs when a name is missing at its top (nothing is ever made in the directory).
    let may_unmount = config.capabilities.contains(crate::security::Capability::CAP_SYS_ADMIN);
    let entries_skip = || {
        let mut skip: Vec<std::ffi::OsString> = FRESH_ON_HOST_ROOT.iter().map(Into::into).collect();
        let top: Vec<_> = hidden
            .iter()
            .filter(|h| h.path.parent() == Some(Path::new("/")))
            .collect();
        skip.extend(top.iter().filter_map(|h| h.path.file_name().map(ToOwned::to_owned)));
        skip
    };
    let (dir_shadow, whole_host, (tree, placements)) = match &rootfs.0 {
        RootfsKind::Host if may_unmount => (
            false,
            false,
            lay_out(config, &hidden, RootLayout::Shadow(Path::new("/"), entries_skip()))?,
        ),
        RootfsKind::Host => match lay_out(config, &hidden, RootLayout::Bind(Path::new("/"))) {
            Err(PlaceError::NeedsRootShadow) => (
                false,
                false,
                lay_out(config, &hidden, RootLayout::Shadow(Path::new("/"), entries_skip()))?,
            ),
            other => (false, true, other?),
        },
        RootfsKind::Dir(dir) => match lay_out(config, &hidden, RootLayout::Bind(dir)) {
            Err(PlaceError::NeedsRootShadow) => (
                true,
                false,
                lay_out(config, &hidden, RootLayout::Shadow(dir, Vec::new()))?,
            ),
            other => (false, false, other?),
        },
        RootfsKind::Overlay(o) => (false, false, lay_out(config, &hidden, RootLayout::Overlay(&o.lower))?),
    };
    let root_slot = match &rootfs.0 {
        RootfsKind::Dir(dir) => Some(plan.open_source(dir, SetupStep::PrepareRoot)?),
        RootfsKind::Host if whole_host => Some(plan.open_source(Path::new("/"), SetupStep::PrepareRoot)?),
        RootfsKind::Host | RootfsKind::Overlay(_) => None,
    };
    let overlay = match &rootfs.0 {
        RootfsKind::Overlay(o) => Some(overlay::open_layers(plan, config, o)?),
        _ => None,
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
    // With a pair's pre-made /dev, only the null device is opened (to hide host files).
    let premade_dev = plan.premade.as_ref().is_some_and(|p| p.mounts.is_some());
    let mut devices = Vec::new();
    let names: &[&str] = match premade_dev {
        true => &["null"],
        false => &DEVICES,
    };
    // The first is the null device (`hide` takes it).
    for name in names {
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
    // Idmapped binds are made here, by the caller (see `idmapped_bind`).
    let mut namespaces = idmapped_bind::UserNamespaces::default();
    for mount in &config.mounts {
        user_sources.push(match (&mount.kind, &mount.idmap) {
            (
                MountKind::Bind {
                    source,
                    follow,
                    recursive,
                },
                idmap,
            ) => {
                let no_follow = !follow.unwrap_or(!config.bind_no_follow);
                Some(match idmap {
                    Some(idmap) => {
                        idmapped_bind::open(plan, mount, idmap, source, *recursive, no_follow, &mut namespaces)?
                    }
                    None => plan.open_source_with(source, SetupStep::BindMount, no_follow)?,
                })
            }
            _ => None,
        });
    }
    drop(namespaces);
    let cgroupfs = cgroupfs::open(plan, config, cgroup)?;
    Ok(Sources {
        whole_host,
        dir_shadow,
        tree,
        placements,
        root_slot,
        host_entries,
        devices,
        proc_slot,
        sys_slot,
        user_sources,
        hidden,
        overlay,
        cgroupfs,
    })
}

/// The rest of the filesystem sequence, on the sources [`open_sources`] opened.
pub(super) fn plan_rootfs(plan: &mut Plan, config: &Config, sources: Sources) -> Result<()> {
    let rootfs = config.rootfs.clone();
    let Sources {
        whole_host,
        dir_shadow,
        tree,
        placements,
        root_slot,
        host_entries,
        devices,
        proc_slot,
        sys_slot,
        user_sources,
        hidden,
        overlay,
        cgroupfs,
    } = sources;

    // 2. The new root.
    let stage = choose_stage()?;
    let stage_label = match &rootfs.0 {
        RootfsKind::Dir(dir) => dir.clone(),
        RootfsKind::Host | RootfsKind::Overlay(_) => PathBuf::from(stage),
    };
    let read_only = config.is_read_only_root();
    // A writable root's stage takes the payload's new top-level files: sized like /tmp.
    let size = if read_only { None } else { config.bounds.tmp_size };
    if let (RootfsKind::Overlay(o), Some(sources)) = (&rootfs.0, overlay) {
        overlay::plan_stage(plan, config, o, stage, sources)?;
    } else {
        plan.push(
            Step::Stage {
                stage: cstring(stage.as_bytes())?,
                bind_slot: root_slot.filter(|_| !dir_shadow),
                read_only: root_slot.is_some() && read_only,
                tmpfs: cstring(crate::bounds::tmpfs_data("755", size).as_bytes())?,
            },
            SetupStep::PrepareRoot,
            Some(stage_label.clone()),
        );
    }
    if let (true, Some(source)) = (dir_shadow, root_slot) {
        let step = Step::Populate { source, read_only };
        plan.push(step, SetupStep::PrepareRoot, Some(stage_label));
    }
    for (entry, slot) in host_entries {
        match (entry, slot) {
            (HostEntry::Symlink(path, link), _) => symlink(plan, &link, &path)?,
            (HostEntry::Dir(path), Some(slot)) => {
                bind(plan, slot, &path, Leaf::Dir, true, true, SetupStep::PrepareRoot, 0)?
            }
            (HostEntry::File(path), Some(slot)) => {
                bind(plan, slot, &path, Leaf::File, false, true, SetupStep::PrepareRoot, 0)?
            }
            _ => {}
        }
    }
    plan_shadows(plan, config, &tree, Anchor::Root)?;
    if rootfs.is_host() {
        // Sized by the profile (crate::bounds): without size= a tmpfs may fill half of RAM.
        let bounds = &config.bounds;
        let tmp = crate::bounds::tmpfs_data("1777", bounds.tmp_size);
        let run = crate::bounds::tmpfs_data("755", bounds.run_size);
        mount(plan, "tmpfs", "/tmp", libc::MS_NOSUID | libc::MS_NODEV, Some(&tmp), 0)?;
        mount(plan, "tmpfs", "/run", libc::MS_NOSUID | libc::MS_NODEV, Some(&run), 0)?;
    }
    let null_slot = devices.first().map(|(slot, _)| *slot);
    let targets: Vec<&Path> = placements.iter().map(|p| p.path.as_path()).collect();
    let seal = hide(plan, &hidden, whole_host, &targets, null_slot)?;

    // In one bind of a tree, /proc, /dev and /sys must be there (nothing is made in it).
    let top_exists = usize::from(whole_host || (root_slot.is_some() && !dir_shadow && read_only));
    let trees = plan.premade.as_mut().and_then(|p| p.mounts.take());
    let trees = trees.map(|t| (plan.adopt_fd(t.dev), plan.adopt_fd(t.sys)));
    plan_kernel_fs(plan, config, devices, proc_slot, sys_slot, trees, top_exists)?;
    plan_user_mounts(plan, config, user_sources, &tree, placements, cgroupfs.as_ref())?;
    for slot in seal {
        plan.push(Step::ReadOnlyMount(slot), SetupStep::Mount, None);
    }

    plan_enter(plan, config)
}

/// Lays out the container's tree on `root` (see [`tree`]): where each of the caller's mounts
/// goes and the shadows their mount points need.
fn lay_out(config: &Config, hidden: &[Hidden], root: RootLayout<'_>) -> Result<(Tree, Vec<Placement>), PlaceError> {
    let host = matches!(root, RootLayout::Bind(p) | RootLayout::Shadow(p, _) if p == Path::new("/"))
        && config.rootfs.is_host();
    let mut tree = Tree::new(root, config.is_read_only_root());
    if host {
        tree.fresh(Path::new("/tmp"));
        tree.fresh(Path::new("/run"));
        for h in hidden.iter().filter(|h| h.dir) {
            tree.fresh(&h.path);
        }
    }
    for top in ["proc", "dev", "sys"] {
        tree.check_top_level(top)?;
    }
    // In the order they are mounted: /dev before what is mounted in it.
    tree.kernel(Path::new("/proc"));
    tree.fresh(Path::new("/dev"));
    tree.kernel(Path::new("/dev/pts"));
    if !dev::replaced(config, "shm") {
        tree.fresh(Path::new("/dev/shm"));
    }
    if !dev::replaced(config, "mqueue") {
        tree.kernel(Path::new("/dev/mqueue"));
    }
    tree.kernel(Path::new("/sys"));
    let mut placements = Vec::new();
    for (index, m) in config.mounts.iter().enumerate() {
        let (leaf, step) = match &m.kind {
            MountKind::Bind { source, .. } => (bind_leaf(source), SetupStep::BindMount),
            _ => (Leaf::Dir, SetupStep::Mount),
        };
        let placed = tree.place(&m.target, leaf, step)?;
        match &m.kind {
            MountKind::Bind { source, .. } => tree.bind(&placed.path, source, !m.read_only, index),
            MountKind::Tmpfs { .. } => tree.own(&placed.path, true, m.read_only, index),
            MountKind::Proc | MountKind::Cgroup => tree.own(&placed.path, false, m.read_only, index),
        }
        placements.push(placed);
    }
    Ok((tree, placements))
}

impl From<PlaceError> for Error {
    fn from(e: PlaceError) -> Self {
        match e {
            PlaceError::Refused(e) => e,
            PlaceError::NeedsRootShadow => Error::io(
                "lay out the root",
                std::io::Error::other("a mount point is missing at the top of a root laid out as a shadow"),
            ),
        }
    }
}

/// What a bind's missing mount point is made as: a file for a file source.
fn bind_leaf(source: &Path) -> Leaf {
    if source.is_dir() || !source.exists() {
        Leaf::Dir
    } else {
        Leaf::File
    }
}

/// The shadows planned to follow `anchor`, each followed by those planned inside it: a tmpfs
/// over the directory with its entries bound back (see `Step::Shadow`), the new mount points
/// made in it, and the tmpfs sealed read-only.
fn plan_shadows(plan: &mut Plan, config: &Config, tree: &Tree, anchor: Anchor) -> Result<()> {
    for (index, shadow) in tree
        .shadows
        .iter()
        .enumerate()
        .filter(|(_, s)| s.after == anchor && s.fill)
    {
        let size = if shadow.seal { None } else { config.bounds.tmp_size };
        let mut options = vec![("mode", "755".to_string())];
        options.extend(size.map(|s| ("size", s.to_string())));
        let attrs = libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
        let depth = shadow.path.components().count() - 1;
        plan_tmpfs_with_mount_points(plan, shadow, depth, &options, attrs, Some(shadow.seal))?;
        plan_shadows(plan, config, tree, Anchor::Shadow(index))?;
    }
    Ok(())
}

/// A tmpfs at `shadow.path` (`Step::Shadow`, filled with the directory's entries when `fill`),
/// the mount points planned in it, then sealed read-only if planned so.
/// `create_from`: the components of `shadow.path` that must exist (all for a shadow).
fn plan_tmpfs_with_mount_points(
    plan: &mut Plan,
    shadow: &tree::ShadowPlan,
    create_from: usize,
    options: &[(&str, String)],
    attrs: u64,
    fill: Option<bool>,
) -> Result<()> {
    let path = &shadow.path;
    let slot = plan.new_slot();
    let step = Step::Shadow {
        path: resolve_path_from(path, RESOLVE_IN_ROOT, create_from)?,
        options: options
            .iter()
            .map(|(k, v)| Ok((cstring(k.as_bytes())?, cstring(v.as_bytes())?)))
            .collect::<Result<_>>()?,
        attrs,
        fill,
        slot,
    };
    plan.push(step, SetupStep::Mount, Some(path.clone()));
    for (point, leaf) in &shadow.mount_points {
        let step = Step::MountPoint {
            dir: slot,
            path: relative_path(point.strip_prefix(path).unwrap_or(point))?,
            leaf: *leaf,
        };
        plan.push(step, SetupStep::Mount, Some(point.clone()));
    }
    if shadow.seal {
        plan.push(Step::ReadOnlyMount(slot), SetupStep::Mount, Some(path.clone()));
    }
    Ok(())
}

/// Step 4: the caller's mounts, in order, where [`lay_out`] placed them, on the sources
/// opened for them; each followed by the shadows planned inside it.
fn plan_user_mounts(
    plan: &mut Plan,
    config: &Config,
    user_sources: Vec<Option<usize>>,
    tree: &Tree,
    placements: Vec<Placement>,
    cgroupfs: Option<&cgroupfs::CgroupSources>,
) -> Result<()> {
    let nosuid_noexec = libc::MS_NOSUID | libc::MS_NOEXEC | libc::MS_NODEV;
    for (index, ((m, slot), placed)) in config.mounts.iter().zip(user_sources).zip(placements).enumerate() {
        let target = resolve_path_from(&placed.path, RESOLVE_IN_ROOT, placed.create_from)?;
        let (fstype, flags, data) = match (&m.kind, slot) {
            (MountKind::Bind { .. }, Some(slot)) if m.idmap.is_some() => {
                let step = Step::AttachTree {
                    slot,
                    target,
                    leaf: placed.leaf,
                    propagation: m.flags.propagation_flags(),
                };
                plan.push(step, SetupStep::BindMount, Some(m.target.clone()));
                plan_shadows(plan, config, tree, Anchor::Mount(index))?;
                continue;
            }
            (MountKind::Bind { recursive, .. }, Some(slot)) => {
                let (set, clear) = m.flags.attrs(false);
                let step = Step::Bind {
                    slot,
                    target,
                    leaf: placed.leaf,
                    recursive: *recursive,
                    read_only: m.read_only,
                    attrs: BindAttrs {
                        set,
                        clear,
                        propagation: m.flags.propagation_flags(),
                    },
                };
                plan.push(step, SetupStep::BindMount, Some(m.target.clone()));
                plan_shadows(plan, config, tree, Anchor::Mount(index))?;
                continue;
            }
            (MountKind::Tmpfs { size, mode }, _) => {
                if let Some(sealed) = tree.sealed_tmpfs(index) {
                    // Read-only with mount points in it: writable until they are made.
                    let mut options = vec![("mode", format!("{mode:o}"))];
                    options.extend(size.map(|s| ("size", s.to_string())));
                    let (attrs, _) = m.flags.attrs(true);
                    plan_tmpfs_with_mount_points(plan, sealed, placed.create_from, &options, attrs, None)?;
                    continue;
                }
                let mut data = format!("mode={mode:o}");
                if let Some(size) = size {
                    data.push_str(&format!(",size={size}"));
                }
                let flags = m.flags.ms_flags(true) | if m.read_only { libc::MS_RDONLY } else { 0 };
                ("tmpfs", flags, Some(data))
            }
            (MountKind::Proc, _) => {
                let flags = nosuid_noexec | if m.read_only { libc::MS_RDONLY } else { 0 };
                ("proc", flags, None)
            }
            (MountKind::Cgroup, _) => {
                let sources =
                    cgroupfs.ok_or_else(|| Error::io("mount a cgroup filesystem", nix::errno::Errno::EBADF))?;
                cgroupfs::plan_mount(plan, config, m, &placed.path, placed.create_from, sources)?;
                continue;
            }
            (MountKind::Bind { .. }, None) => unreachable!("every bind mount has a source slot"),
        };
        mount_on(plan, fstype, target, &m.target, flags, data.as_deref())?;
    }

    Ok(())
}

/// Step 5: enter it: the root read-only, pivot_root, then the masked and read-only paths.
fn plan_enter(plan: &mut Plan, config: &Config) -> Result<()> {
    plan.plan_hooks(config)?;
    if config.is_read_only_root() {
        plan.push(Step::ReadOnlyRoot, SetupStep::ReadOnlyRoot, None);
    }
    plan.push(Step::PivotRoot, SetupStep::PivotRoot, None);
    plan.push(Step::CheckDevNull, SetupStep::MaskPath, Some("/dev/null".into()));
    for (path, dir) in crate::mount_paths::masked(config) {
        plan.push(
            Step::MaskPath {
                path: cstring(path.as_os_str().as_bytes())?,
                dir,
            },
            SetupStep::MaskPath,
            Some(path),
        );
    }
    for path in crate::mount_paths::read_only(config) {
        plan.push(
            Step::ReadOnlyPath(cstring(path.as_os_str().as_bytes())?),
            SetupStep::ReadOnlyPath,
            Some(path),
        );
    }
    Ok(())
}

/// Binds the source in `slot` at `target`, a path without symlinks; components from index
/// `create_from` on may be created.
#[allow(clippy::too_many_arguments)]
pub(super) fn bind(
    plan: &mut Plan,
    slot: usize,
    target: &Path,
    leaf: Leaf,
    recursive: bool,
    read_only: bool,
    label: SetupStep,
    create_from: usize,
) -> Result<()> {
    let path = resolve_path_from(target, RESOLVE_STRICT, create_from)?;
    plan.push(
        Step::Bind {
            slot,
            target: path,
            leaf,
            recursive,
            read_only,
            attrs: BindAttrs::default(),
        },
        label,
        Some(target.to_path_buf()),
    );
    Ok(())
}

/// Mounts a fresh `fstype` at `target`, a path without symlinks; components from index
/// `create_from` on may be created.
pub(super) fn mount(
    plan: &mut Plan,
    fstype: &str,
    target: &str,
    flags: c_ulong,
    data: Option<&str>,
    create_from: usize,
) -> Result<()> {
    let path = resolve_path_from(Path::new(target), RESOLVE_STRICT, create_from)?;
    mount_on(plan, fstype, path, Path::new(target), flags, data)
}

pub(super) fn mount_with(
    plan: &mut Plan,
    fstype: &str,
    target: &Path,
    flags: c_ulong,
    data: Option<&str>,
    resolve: u64,
) -> Result<()> {
    mount_on(plan, fstype, resolve_path(target, resolve)?, target, flags, data)
}

/// Mounts a fresh `fstype` at the resolved `target`; a failure names `label`.
fn mount_on(
    plan: &mut Plan,
    fstype: &str,
    target: ContainerPath,
    label: &Path,
    flags: c_ulong,
    data: Option<&str>,
) -> Result<()> {
    let step = Step::Mount {
        fstype: cstring(fstype.as_bytes())?,
        target,
        flags,
        data: data.map(|d| cstring(d.as_bytes())).transpose()?,
    };
    plan.push(step, SetupStep::Mount, Some(label.to_path_buf()));
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

/// Splits an absolute, normalised container path into the prefixes and names the child walks;
/// any missing component may be created.
pub(super) fn resolve_path(path: &Path, resolve: u64) -> Result<ContainerPath> {
    resolve_path_from(path, resolve, 0)
}

/// A relative path (below a shadow's tmpfs) for `MountPoint`: no symlinks, no leaving the
/// tmpfs.
fn relative_path(path: &Path) -> Result<ContainerPath> {
    let resolve =
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV | libc::RESOLVE_NO_MAGICLINKS;
    split(PathBuf::new(), path.components(), resolve, 0)
}

/// Like [`resolve_path`]; only components from index `create_from` on may be created.
pub(super) fn resolve_path_from(path: &Path, resolve: u64, create_from: usize) -> Result<ContainerPath> {
    split(PathBuf::from("/"), path.components().skip(1), resolve, create_from)
}

/// The prefixes (`prefix` and each component added) and names the child walks.
fn split<'a>(
    mut prefix: PathBuf,
    components: impl Iterator<Item = std::path::Component<'a>>,
    resolve: u64,
    create_from: usize,
) -> Result<ContainerPath> {
    let mut prefixes = Vec::new();
    let mut names = Vec::new();
    for component in components {
        prefix.push(component);
        prefixes.push(cstring(prefix.as_os_str().as_bytes())?);
        names.push(cstring(component.as_os_str().as_bytes())?);
    }
    Ok(ContainerPath {
        prefixes,
        names,
        resolve,
        create_from,
    })
}
