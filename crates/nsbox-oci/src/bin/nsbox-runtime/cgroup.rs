//! The container's cgroup: an exact path (the bundle's `linux.cgroupsPath`, else
//! `/nsbox-runtime/<id>`), given to nsbox at `create` (`ContainerBuilder::cgroup_path`) and
//! found again by every later invocation with `nsbox::CgroupHandle::open` for `ps`, `kill
//! --all`, `update`, `delete` and the `paused` status. The walk over the cgroups a container
//! nests in its own, at any depth, is the core's (`CgroupHandle::kill_all`, `remove`).

use std::path::{Path, PathBuf};

use nsbox::CgroupHandle;

use crate::error::{Error, Result};

/// Where the runtime puts a container whose bundle names no cgroup (runc uses `/<id>`; a
/// parent of our own keeps ids from meeting the host's cgroups).
pub fn default_path(id: &str) -> PathBuf {
    Path::new("/nsbox-runtime").join(id)
}

/// `path` absolute: a relative `cgroupsPath` is relative to this process's cgroup (cgroup2's,
/// else the first v1 hierarchy's), which later invocations need not share.
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let base = own
        .lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| own.lines().next())
        .and_then(|l| l.splitn(3, ':').nth(2))
        .unwrap_or("/");
    Path::new(base).join(path)
}

/// The container's cgroup, recorded at `create`.
pub fn open(path: &Path) -> Result<CgroupHandle> {
    CgroupHandle::open(path).map_err(|e| Error(format!("the container's cgroup {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(default_path("c1"), Path::new("/nsbox-runtime/c1"));
        assert_eq!(absolute(Path::new("/docker/abc")), Path::new("/docker/abc"));
        assert!(absolute(Path::new("x/y")).is_absolute());
    }
}
