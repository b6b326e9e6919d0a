//! A container's cgroup found again by its path, for a process that never had the
//! [`Container`](crate::Container): an OCI runtime's `pause`, `resume`, `update`, `ps`,
//! `kill --all` and `delete` run as separate processes after `create` exited.
//!
//! The operations are the container's own (`Cgroup`): a handle is a `Cgroup` whose
//! directories were found rather than made, and that dropping leaves in place.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::layout::Layout;
use super::update::CgroupUpdate;
use super::{Cgroup, CgroupError, Controller, Stats, V1Group, V2Group, exact_dir};
use crate::error::CleanupError;
use crate::signal::Signal;

/// A handle on an existing cgroup, by the path a container was given with
/// [`cgroup_path`](crate::ContainerBuilder::cgroup_path): the same directory in every
/// hierarchy where it exists. Dropping it changes nothing; [`remove`](Self::remove) removes
/// the cgroup.
///
/// ```no_run
/// let cgroup = nsbox::CgroupHandle::open("/testenv/t1")?;
/// cgroup.freeze()?;
/// println!("{:?} frozen: {}", cgroup.pids(), cgroup.is_frozen()?);
/// cgroup.thaw()?;
/// cgroup.remove(true).map_err(|e| e[0].clone())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CgroupHandle {
    path: PathBuf,
    cgroup: Cgroup,
}

impl CgroupHandle {
    /// Finds the cgroup `path` (absolute: from each hierarchy's root; relative: from the
    /// caller's cgroup) in every hierarchy this process sees; an error if it is in none.
    pub fn open(path: impl AsRef<Path>) -> Result<CgroupHandle, CgroupError> {
        let path = path.as_ref();
        let layout = Layout::detect().map_err(|e| CgroupError::io("read", Path::new("/proc/self/mountinfo"), e))?;
        let mut cgroup = Cgroup {
            v1: Vec::new(),
            v2: None,
            v1_moves_memory: false,
            join_ahead: Default::default(),
        };
        // A hierarchy where the path lies outside the part mounted here is not one it is in.
        let found = |mountpoint: &Path, root: &Path, own: &Path| {
            exact_dir(mountpoint, root, own, path).ok().filter(|d| d.is_dir())
        };
        for h in &layout.v1 {
            if let Some(dir) = found(&h.mountpoint, &h.root, &h.own) {
                cgroup.v1.push(V1Group {
                    dir,
                    controllers: h.controllers.clone(),
                });
            }
        }
        if let Some(h) = &layout.v2
            && let Some(dir) = found(&h.mountpoint, &h.root, &h.own)
        {
            let fd = std::fs::File::open(&dir).map_err(|e| CgroupError::io("open", &dir, e))?;
            let listed = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
            let mut controllers: BTreeSet<Controller> = Controller::ALL
                .into_iter()
                .filter(|c| c.v2_name().is_some_and(|n| listed.split_whitespace().any(|l| l == n)))
                .collect();
            // In the v2 core: cpu accounting and freezing.
            controllers.extend([Controller::Cpuacct, Controller::Freezer]);
            cgroup.v2 = Some(V2Group {
                dir,
                fd: fd.into(),
                controllers,
            });
        }
        if cgroup.v1.is_empty() && cgroup.v2.is_none() {
            return Err(CgroupError::Refused {
                path: path.to_path_buf(),
                why: "no such cgroup in any hierarchy".into(),
            });
        }
        Ok(CgroupHandle {
            path: path.to_path_buf(),
            cgroup,
        })
    }

    /// The cgroup path it was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup's directory in each hierarchy it exists in (v1 ones first, then cgroup2).
    pub fn dirs(&self) -> Vec<&Path> {
        let v1 = self.cgroup.v1.iter().map(|g| g.dir.as_path());
        v1.chain(self.cgroup.v2.as_ref().map(|g| g.dir.as_path())).collect()
    }

    /// Freezes every process in it (v1 freezer, else `cgroup.freeze`), waiting until the
    /// kernel reports it frozen.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.cgroup.set_frozen(true)
    }

    /// Thaws what [`freeze`](Self::freeze) froze.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.cgroup.set_frozen(false)
    }

    /// Whether it is frozen.
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        self.cgroup.is_frozen()
    }

    /// Every process in it and in the cgroups below it (as `runc ps` lists them).
    pub fn pids(&self) -> Vec<i32> {
        self.cgroup.procs()
    }

    /// Sends `signal` to every process in it and in the cgroups nested in it, at any depth
    /// (`runc kill --all`): frozen while the list is read and signalled, where a freezer is
    /// available, so nothing forks out of it meanwhile (a paused one stays paused). SIGKILL
    /// first clears the freezes the container set on cgroups it nested (a task the v1 freezer
    /// froze would not die), then goes through `cgroup.kill` where the kernel has it.
    pub fn kill_all(&self, signal: Signal) -> Result<(), CgroupError> {
        if signal == Signal::SIGKILL {
            self.cgroup.kill_all();
            return Ok(());
        }
        // A paused container stays paused.
        let paused = self.cgroup.is_frozen().unwrap_or(false);
        let frozen = self.cgroup.set_frozen(true).is_ok();
        // Each process once: it is listed in every hierarchy.
        let pids: std::collections::BTreeSet<i32> = self.cgroup.procs().into_iter().collect();
        for pid in pids {
            // SAFETY: kill takes no memory; a pid gone meanwhile fails with ESRCH, ignored.
            unsafe { libc::kill(pid, signal.as_raw()) };
        }
        if frozen && !paused {
            self.cgroup.set_frozen(false)?;
        }
        Ok(())
    }

    /// Changes the limits in `update` (the others stay as they are), checked first as
    /// `build()` checks them.
    pub fn update(&self, update: &CgroupUpdate) -> crate::Result<()> {
        update.validate()?;
        self.cgroup.update(update)?;
        Ok(())
    }

    /// Resource usage now.
    pub fn stats(&self) -> Stats {
        self.cgroup.stats()
    }

    /// Whether the kernel OOM-killed a process in it.
    pub fn oom_killed(&self) -> bool {
        self.cgroup.oom_killed()
    }

    /// Removes the cgroup in every hierarchy, nested cgroups first. With `kill`, what is left
    /// in it is killed first (and waited for); without, a cgroup that still has processes
    /// fails with EBUSY. Every directory is tried; the failures are returned.
    pub fn remove(mut self, kill: bool) -> Result<(), Vec<CleanupError>> {
        if !kill && !self.cgroup.procs().is_empty() {
            let dir = self.dirs().first().map(|d| d.to_path_buf());
            let busy = std::io::Error::from_raw_os_error(libc::EBUSY);
            return Err(vec![CleanupError::new(
                crate::error::CleanupAction::RemoveCgroup,
                dir,
                &busy,
            )]);
        }
        let errors = self.cgroup.remove_with(true);
        if errors.is_empty() { Ok(()) } else { Err(errors) }
    }
}

impl CgroupHandle {
    /// The cgroup itself, for a handle that owns it like the container's own (an adopted
    /// container's: detached, so its drop leaves it in place too).
    pub(crate) fn into_cgroup(mut self) -> Cgroup {
        Cgroup {
            v1: std::mem::take(&mut self.cgroup.v1),
            v2: self.cgroup.v2.take(),
            v1_moves_memory: self.cgroup.v1_moves_memory,
            join_ahead: Default::default(),
        }
    }
}

impl Drop for CgroupHandle {
    fn drop(&mut self) {
        // Whatever `remove` did not take is left in place (see `Cgroup::disown`).
        self.cgroup.v1.clear();
        self.cgroup.v2 = None;
    }
}

impl Cgroup {
    pub(super) fn is_frozen(&self) -> Result<bool, CgroupError> {
        match (
            self.v1.iter().find(|g| g.controllers.contains(&Controller::Freezer)),
            &self.v2,
        ) {
            (Some(g), _) => Ok(super::read(&g.dir, "freezer.state", Some(Controller::Freezer))?.trim() == "FROZEN"),
            (None, Some(g)) => {
                Ok(super::stats::keyed(&super::read(&g.dir, "cgroup.events", None)?, "frozen") == Some(1))
            }
            (None, None) => Err(CgroupError::Unavailable {
                controller: Controller::Freezer,
                why: "no v1 freezer hierarchy and no cgroup2 mount".into(),
            }),
        }
    }
}
