//! The cgroups of a running container nsbox did not spawn in this process
//! ([`ContainerBuilder::adopt`](crate::ContainerBuilder::adopt)): an exec into it must join
//! them, as an exec through the spawning handle does, or it runs outside the container's
//! limits.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::{Cgroup, CgroupError, Layout, V1Group, V2Group, dir_of, v1};

impl Cgroup {
    /// The cgroups `pid` is in, where they differ from the caller's own (those nsbox made for
    /// the container; a hierarchy where both share a cgroup is left alone, as a spawn leaves
    /// it); `None` when it shares all of them. Left in place by an adopted handle's drop (it is detached).
    ///
    /// The paths are the kernel's, relative to the caller's cgroup namespace; a container can
    /// at most have moved its process into a cgroup below its own, which is still inside its
    /// limits (cgroup names cannot hold a newline, so the lines cannot be forged).
    pub fn of_process(pid: u32) -> Result<Option<Cgroup>, CgroupError> {
        let read = |path: &Path| std::fs::read_to_string(path).map_err(|e| CgroupError::io("read", path, e));
        let mountinfo = read(Path::new("/proc/self/mountinfo"))?;
        let own = Layout::parse(&mountinfo, &read(Path::new("/proc/self/cgroup"))?);
        let theirs = Layout::parse(&mountinfo, &read(&PathBuf::from(format!("/proc/{pid}/cgroup")))?);
        // Everything fallible first: a `Cgroup` dropped on an error path would kill and remove.
        let v2 = match theirs
            .v2
            .as_ref()
            .filter(|h| own.v2.as_ref().is_none_or(|o| o.own != h.own))
        {
            Some(h) => {
                let dir = dir_of(&h.mountpoint, &h.root, &h.own);
                let fd = nix::fcntl::open(
                    &dir,
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| CgroupError::io("open", &dir, e.into()))?;
                Some(V2Group {
                    dir,
                    fd,
                    controllers: BTreeSet::new(),
                })
            }
            None => None,
        };
        let mut cgroup = Cgroup {
            v1: Vec::new(),
            v2,
            v1_moves_memory: false,
            join_ahead: Default::default(),
        };
        for h in &theirs.v1 {
            let mine = own.v1.iter().find(|o| o.mountpoint == h.mountpoint);
            if mine.is_some_and(|o| o.own == h.own) {
                continue;
            }
            let dir = dir_of(&h.mountpoint, &h.root, &h.own);
            cgroup.v1_moves_memory |= v1::attach_moves_memory(&dir, &h.controllers);
            cgroup.v1.push(V1Group {
                dir,
                controllers: h.controllers.clone(),
            });
        }
        if cgroup.v1.is_empty() && cgroup.v2.is_none() {
            return Ok(None);
        }
        Ok(Some(cgroup))
    }
}
