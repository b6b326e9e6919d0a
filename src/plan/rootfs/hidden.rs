//! Host paths hidden on the host root (`hide_host_paths`, Sandbox's defaults): what lies
//! there (writable trees, sockets, homes) is covered by an empty read-only mount.

use std::path::{Path, PathBuf};

use super::*;

/// A host path hidden on the host root, as it is on the host (a symlink's target).
pub(super) struct Hidden {
    pub(super) path: PathBuf,
    pub(super) dir: bool,
}

/// Covers each hidden path: a directory with an empty tmpfs, read-only at once unless one of
/// the caller's mounts (`targets`, placed) lies under it (its mount point is created in the tmpfs first; the
/// returned slots hold the tmpfs mounts to make read-only once the caller's mounts are in); a
/// file or socket with the null device. A top-level directory left out of an entry-by-entry
/// layout needs nothing. An empty mount on top hides only from a payload that cannot unmount
/// it: without CAP_SYS_ADMIN (Sandbox), or the root would not be one bind of `/` either.
pub(super) fn hide(
    plan: &mut Plan,
    hidden: &[Hidden],
    whole_host: bool,
    targets: &[&Path],
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
            bind(plan, slot, path, Leaf::File, false, true, SetupStep::Mount, 0)?;
            continue;
        }
        // Where the caller's mounts were placed (their symlinks followed), not as written.
        let mounts_under = targets.iter().any(|t| t.starts_with(path) && t != path);
        if let (false, Some(cover)) = (mounts_under, empty_cover) {
            bind(plan, cover, path, Leaf::Dir, false, true, SetupStep::Mount, 0)?;
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
pub(super) fn hidden_on_host(paths: &[PathBuf]) -> Vec<Hidden> {
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
