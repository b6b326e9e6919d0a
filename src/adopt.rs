//! A handle on a container another process started ([`ContainerBuilder::adopt`]): an OCI
//! runtime's `exec`, `pause` or `kill` runs in a new process each time, long after the
//! `create` that spawned the container exited.

use std::os::fd::{FromRawFd, OwnedFd};

use nix::unistd::Pid;

use crate::cgroup::Cgroup;
use crate::{Container, ContainerBuilder, Error, Result};

impl ContainerBuilder {
    /// A detached handle on the running container whose first process is `pid`, made of this
    /// builder's configuration (the one it was spawned with: an exec gets its namespaces,
    /// user, capabilities, rlimits and seccomp filter from it).
    ///
    /// The caller vouches that `pid` is that container's first process (an OCI runtime keeps
    /// its start time to tell a reused pid); nsbox holds it by a pidfd from here on, so a
    /// later reuse cannot redirect the handle. The handle can [`exec`](Container::exec),
    /// [`kill`](Container::kill) and tell whether the process is still running, but not
    /// wait for it (only its parent can), and dropping it leaves the container running. Where
    /// the configuration gives the container a cgroup, the handle has the cgroups at its
    /// [`cgroup_path`](Self::cgroup_path) when it has one (a container that moved its first
    /// process into a cgroup below cannot steer an exec there), else the cgroups `pid` is in
    /// (an exec joins them, [`stats`](Container::stats) and [`pause`](Container::pause) use
    /// them), and leaves them in place (unless the caller is the container's parent and reaps
    /// it through this handle, which then cleans up as the spawning handle would).
    ///
    /// ```no_run
    /// # let pid = 1234;
    /// let mut builder = nsbox::Container::builder();
    /// builder.command("/bin/sleep").arg("60");
    /// let running = builder.adopt(pid)?;
    /// let id = running.exec().command("/bin/id").output()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn adopt(&self, pid: u32) -> Result<Container> {
        let mut config = self.build()?;
        config.detach = true;
        let raw = i32::try_from(pid)
            .map_err(|_| Error::io("adopt a container", std::io::Error::from_raw_os_error(libc::ESRCH)))?;
        // SAFETY: pidfd_open takes a pid and flags.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw, 0) };
        if fd < 0 {
            return Err(Error::io(
                format!("open a pidfd for {pid}"),
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: pidfd_open returned a new fd that nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // Its cgroups, which an exec joins (else it runs outside the container's limits), where
        // the configuration made some: read once the pidfd holds the process.
        // With an exact path, that path (the container may have moved its first process into a
        // cgroup below, and frozen it: an exec joining that would hang); else where it is.
        let made_cgroup = config.wants_cgroup() || config.bounds.pids_where_available.is_some();
        let cgroup = match (&config.cgroup_path, made_cgroup) {
            (Some(path), _) => Some(crate::cgroup::CgroupHandle::open(path)?.into_cgroup()),
            (None, true) => Cgroup::of_process(pid)?,
            (None, false) => None,
        };
        let mut container = Container::new(format!("adopted-{pid}"), Pid::from_raw(raw), pidfd, None, true, cgroup);
        container.set_config(&config);
        container.setup_done();
        if container.has_exited() {
            return Err(Error::NotRunning {
                id: container.id().to_owned(),
            });
        }
        Ok(container)
    }
}
