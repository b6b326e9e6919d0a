//! The container's cgroup directories, found after spawn from `/proc/PID/cgroup` (the lines
//! that differ from this process's own are the ones nsbox made: `nsbox-<id>` under our
//! cgroup in each hierarchy it used), and what the runtime does with them: tell whether they
//! are frozen (and thaw them before a forced delete), list and signal processes, change
//! limits, remove. `pause` and `resume` use nsbox's own (`Container::pause` on an adopted
//! handle).
//!
//! Stopgap: nsbox's public API has no handle on a cgroup by path yet (a `cgroup_path` and a
//! cgroup handle with freeze/thaw/pids/kill_all/update/remove are being added to the core);
//! until then this module writes the few cgroupfs files itself. Every use goes through
//! [`CgroupDirs`], the one place to switch over.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One hierarchy's directory of the container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Dir {
    /// The hierarchy's controllers as `/proc/PID/cgroup` names them (`freezer`, `pids`,
    /// `cpu,cpuacct`); empty for cgroup v2.
    pub controllers: String,
    /// The directory on this host.
    pub path: PathBuf,
}

/// Every directory of the container's cgroup.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CgroupDirs(pub Vec<Dir>);

impl CgroupDirs {
    /// The directories `pid` is in that this process is not in, named `nsbox-*`.
    pub fn of(pid: u32) -> io::Result<CgroupDirs> {
        let theirs = fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
        let ours = fs::read_to_string("/proc/self/cgroup")?;
        let mounts = fs::read_to_string("/proc/self/mountinfo")?;
        let mut dirs = Vec::new();
        for line in theirs.lines() {
            if ours.lines().any(|l| l == line) {
                continue;
            }
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let made_by_nsbox = Path::new(path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("nsbox-"));
            if !made_by_nsbox {
                continue;
            }
            if let Some(dir) = host_dir(&mounts, controllers, path) {
                dirs.push(Dir {
                    controllers: controllers.to_string(),
                    path: dir,
                });
            }
        }
        Ok(CgroupDirs(dirs))
    }

    fn v1(&self, controller: &str) -> Option<&Path> {
        self.0
            .iter()
            .find(|d| d.controllers.split(',').any(|c| c == controller))
            .map(|d| d.path.as_path())
    }

    /// Whether a v1 hierarchy holds `controller`.
    pub fn has_v1(&self, controller: &str) -> bool {
        self.v1(controller).is_some()
    }

    fn v2(&self) -> Option<&Path> {
        self.0
            .iter()
            .find(|d| d.controllers.is_empty())
            .map(|d| d.path.as_path())
    }

    /// Whether the container is frozen.
    pub fn frozen(&self) -> bool {
        if let Some(dir) = self.v1("freezer") {
            return fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED");
        }
        if let Some(dir) = self.v2() {
            return fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1");
        }
        false
    }

    /// Freezes (or thaws) every process, waiting until the kernel says it is done.
    pub fn set_frozen(&self, frozen: bool) -> io::Result<()> {
        if let Some(dir) = self.v1("freezer") {
            let want = if frozen { "FROZEN" } else { "THAWED" };
            fs::write(dir.join("freezer.state"), want)?;
            return wait_for(|| Ok(fs::read_to_string(dir.join("freezer.state"))?.trim() == want));
        }
        if let Some(dir) = self.v2() {
            fs::write(dir.join("cgroup.freeze"), if frozen { "1" } else { "0" })?;
            let want = if frozen { "frozen 1" } else { "frozen 0" };
            return wait_for(|| {
                Ok(fs::read_to_string(dir.join("cgroup.events"))?
                    .lines()
                    .any(|l| l == want))
            });
        }
        Err(io::Error::other("the container has no freezer cgroup"))
    }

    /// The host pids of every process in the container's cgroup.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        let dir = self
            .0
            .first()
            .ok_or_else(|| io::Error::other("the container has no cgroup"))?;
        let mut pids: Vec<u32> = fs::read_to_string(dir.path.join("cgroup.procs"))?
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        pids.sort_unstable();
        Ok(pids)
    }

    /// Sends `signal` to every process of the cgroup (runc's `kill --all`). Each pid is
    /// pinned by a pidfd and checked to still be in the cgroup before it is signalled.
    pub fn signal_all(&self, signal: i32) -> io::Result<()> {
        for pid in self.pids()? {
            let Some(stat) = crate::process::stat(pid) else {
                continue;
            };
            let Some(fd) = crate::process::open(pid, stat.start_time) else {
                continue;
            };
            if !self.pids()?.contains(&pid) {
                continue;
            }
            match crate::process::signal(&fd, signal) {
                Err(e) if e.raw_os_error() != Some(libc::ESRCH) => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Writes `value` to `file` in the hierarchy holding `controller` (v1) or to `v2_file`.
    pub fn write(&self, controller: &str, file: &str, v2_file: &str, value: &str) -> io::Result<()> {
        if let Some(dir) = self.v1(controller) {
            return fs::write(dir.join(file), value);
        }
        if let Some(dir) = self.v2()
            && dir.join(v2_file).exists()
        {
            return fs::write(dir.join(v2_file), value);
        }
        Err(io::Error::other(format!("the container has no {controller} cgroup")))
    }

    /// Removes every directory (the processes must be gone: a zombie still counts until its
    /// parent reaps it, so EBUSY is retried for a while).
    pub fn remove(&self) -> io::Result<()> {
        for dir in &self.0 {
            let removed = wait_for(|| match fs::remove_dir(&dir.path) {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => Ok(false),
                Err(e) => Err(e),
            });
            removed.map_err(|e| io::Error::new(e.kind(), format!("cannot remove {}: {e}", dir.path.display())))?;
        }
        Ok(())
    }
}

/// Polls `done` every few milliseconds for up to 5 s (the kernel finishes freezing, and
/// reaping by the engine, asynchronously; neither has an event to wait on for a v1 cgroup).
fn wait_for(mut done: impl FnMut() -> io::Result<bool>) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if done()? {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(io::Error::from(io::ErrorKind::TimedOut));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The directory of cgroup `path` of the hierarchy with `controllers` (empty: cgroup2), from
/// `/proc/self/mountinfo`.
fn host_dir(mountinfo: &str, controllers: &str, path: &str) -> Option<PathBuf> {
    for line in mountinfo.lines() {
        let Some((head, tail)) = line.split_once(" - ") else {
            continue;
        };
        let head: Vec<&str> = head.split(' ').collect();
        let tail: Vec<&str> = tail.split(' ').collect();
        let (Some(root), Some(point), Some(fstype), Some(options)) =
            (head.get(3), head.get(4), tail.first(), tail.get(2))
        else {
            continue;
        };
        let matches = match controllers {
            "" => *fstype == "cgroup2",
            _ => *fstype == "cgroup" && controllers.split(',').all(|c| options.split(',').any(|o| o == c)),
        };
        if !matches {
            continue;
        }
        let relative = Path::new(path).strip_prefix(root).ok()?;
        return Some(Path::new(point).join(relative));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchies_are_found_by_their_controllers() {
        let mountinfo = "30 25 0:26 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n\
                         31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n\
                         32 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            host_dir(mountinfo, "freezer", "/a/nsbox-x"),
            Some(PathBuf::from("/sys/fs/cgroup/freezer/a/nsbox-x"))
        );
        assert_eq!(
            host_dir(mountinfo, "cpu,cpuacct", "/nsbox-x"),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/nsbox-x"))
        );
        assert_eq!(
            host_dir(mountinfo, "", "/nsbox-x"),
            Some(PathBuf::from("/sys/fs/cgroup/unified/nsbox-x"))
        );
        assert_eq!(host_dir(mountinfo, "memory", "/nsbox-x"), None);
    }
}
