//! A container's cgroup directories, recorded when it starts: its monitor removes them when
//! the container ends, but a monitor that was killed cannot, so `rm` of a dead container
//! removes what is left (empty by then: the container died with its monitor).

use std::path::{Path, PathBuf};

/// The cgroup directories of a container: those process `pid` (its init) is in whose name is
/// `name` (the core's `nsbox-<container id>`), as paths in this mount namespace. A hierarchy
/// where nsbox made no cgroup leaves the init in its parent's, the caller's: never recorded,
/// never removed.
pub fn of_container(pid: u32, name: &str) -> Vec<PathBuf> {
    let (Ok(cgroups), Ok(mounts)) = (
        std::fs::read_to_string(format!("/proc/{pid}/cgroup")),
        std::fs::read_to_string("/proc/self/mountinfo"),
    ) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        // The v1 memory hierarchy can be named `name=systemd` and the like: skip named ones.
        if controllers.starts_with("name=") || path == "/" {
            continue;
        }
        if Path::new(path).file_name().is_none_or(|n| n != name) {
            continue;
        }
        if let Some(mount) = mount_of(&mounts, id == "0", controllers) {
            found.push(mount.join(path.trim_start_matches('/')));
        }
    }
    found
}

/// The mount point of the v2 hierarchy, or of the v1 one holding `controllers`.
fn mount_of(mountinfo: &str, v2: bool, controllers: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let (fstype, _source, options) = (right.next()?, right.next()?, right.next().unwrap_or(""));
        let point = left.split_whitespace().nth(4)?;
        let matches = match v2 {
            true => fstype == "cgroup2",
            false => fstype == "cgroup" && controllers.split(',').all(|c| options.split(',').any(|o| o == c)),
        };
        matches.then(|| PathBuf::from(point))
    })
}

/// Removes each directory and the empty cgroups below it (deepest first); what is still in use
/// stays and is returned as an error.
pub fn remove(dirs: &[PathBuf]) -> Result<(), String> {
    let mut failed = Vec::new();
    for dir in dirs {
        if let Err(e) = remove_tree(dir) {
            failed.push(format!("{}: {e}", dir.display()));
        }
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(format!("cgroups left behind: {}", failed.join(", "))),
    }
}

fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}
