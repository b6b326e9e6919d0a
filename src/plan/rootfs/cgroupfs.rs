//! A cgroup filesystem in the container ([`Mount::cgroup`](crate::Mount::cgroup)), as runc
//! mounts one: the container's own cgroup directories, never the host's tree. On cgroup v2
//! the container's directory bound at the target; on v1 or hybrid a tmpfs there with each v1
//! directory bound at `<controllers>` (symlinks for co-mounted controllers, runc's
//! `cpu -> cpu,cpuacct`) and the v2 one at `unified`. Binds, not fresh mounts: they show the
//! same directory with or without a cgroup namespace, and a fresh v1 mount must repeat the
//! hierarchy's options exactly.

use std::path::Path;

use super::*;
use crate::cgroup::Cgroup;
use crate::mount::Mount;

/// The container's cgroup directories, opened (`O_PATH`) with the other host sources.
pub(super) struct CgroupSources {
    /// Each v1 directory: its name in the tmpfs, the controllers to link to it, its slot.
    v1: Vec<(String, Vec<&'static str>, usize)>,
    v2: Option<usize>,
}

/// Opens the container's cgroup directories if one of the caller's mounts is a cgroup
/// filesystem.
pub(super) fn open(plan: &mut Plan, config: &Config, cgroup: Option<&Cgroup>) -> Result<Option<CgroupSources>> {
    if !config.mounts.iter().any(|m| matches!(m.kind, MountKind::Cgroup)) {
        return Ok(None);
    }
    let cgroup = cgroup.ok_or_else(|| {
        Error::io(
            "mount a cgroup filesystem",
            std::io::Error::other("the container has no cgroup"),
        )
    })?;
    let (v1_dirs, v2_dir) = cgroup.own_dirs();
    let mut v1 = Vec::new();
    for (dir, controllers) in v1_dirs {
        let names: Vec<&'static str> = controllers.iter().map(|c| c.v1_name()).collect();
        let slot = plan.open_source(dir, SetupStep::Mount)?;
        v1.push((names.join(","), names, slot));
    }
    let v2 = match v2_dir {
        Some(dir) => Some(plan.open_source(dir, SetupStep::Mount)?),
        None => None,
    };
    Ok(Some(CgroupSources { v1, v2 }))
}

/// The cgroup filesystem of `m` at `placed` (symlink-free, components from `create_from` on
/// may be made).
pub(super) fn plan_mount(
    plan: &mut Plan,
    config: &Config,
    m: &Mount,
    placed: &Path,
    create_from: usize,
    sources: &CgroupSources,
) -> Result<()> {
    let (set, clear) = m.flags.attrs(true);
    let attrs = BindAttrs {
        set,
        clear,
        propagation: 0,
    };
    let bind_at = |plan: &mut Plan, slot: usize, path: &Path, create_from: usize| -> Result<()> {
        let step = Step::Bind {
            slot,
            target: resolve_path_from(path, RESOLVE_STRICT, create_from)?,
            leaf: Leaf::Dir,
            recursive: false,
            read_only: m.read_only,
            attrs,
        };
        plan.push(step, SetupStep::Mount, Some(path.to_path_buf()));
        Ok(())
    };
    if sources.v1.is_empty() {
        let Some(slot) = sources.v2 else {
            return Err(Error::io(
                "mount a cgroup filesystem",
                std::io::Error::other("the container has no cgroup directory"),
            ));
        };
        return bind_at(plan, slot, placed, create_from);
    }
    let data = crate::bounds::tmpfs_data("755", config.bounds.tmp_size);
    let target = resolve_path_from(placed, RESOLVE_STRICT, create_from)?;
    mount_on(plan, "tmpfs", target, placed, m.flags.ms_flags(true), Some(&data))?;
    let tmpfs = plan.new_slot();
    let step = Step::OpenMountDir {
        path: resolve_path(placed, RESOLVE_STRICT)?,
        slot: tmpfs,
    };
    plan.push(step, SetupStep::Mount, Some(placed.to_path_buf()));
    // Only the names in the fresh tmpfs are made.
    let inside = placed.components().count();
    for (name, controllers, slot) in &sources.v1 {
        bind_at(plan, *slot, &placed.join(name), inside - 1)?;
        for controller in controllers.iter().filter(|c| *c != name) {
            symlink(plan, Path::new(name), &placed.join(controller))?;
        }
    }
    if let Some(slot) = sources.v2 {
        bind_at(plan, slot, &placed.join("unified"), inside - 1)?;
    }
    if m.read_only {
        plan.push(Step::ReadOnlyMount(tmpfs), SetupStep::Mount, Some(placed.to_path_buf()));
    }
    Ok(())
}
