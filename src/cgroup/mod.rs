//! One cgroup per container, on whatever layout the host has: v1 hierarchies, cgroup2, or
//! both (hybrid). Each controller is used where it is mounted.
//!
//! The container's cgroup is `nsbox-<id>`, nested under the caller's own cgroup (or the
//! configured parent) in every hierarchy it needs, never the hierarchy root itself; or an
//! exact path (`cgroup_path`, runc's `cgroupsPath`), created or reused, which a later process
//! finds again with [`CgroupHandle`]. Where a cgroup2 is mounted, the child is born in its v2
//! cgroup (`CLONE_INTO_CGROUP`, no migration); v1 cgroups (and v2 ones without clone3) the
//! child joins itself, writing `0` to files the parent opened (`Cgroup::join_files`), first
//! thing after the id maps. Removal kills every process first (`cgroup.kill`, or freeze +
//! kill + thaw) and happens on wait, on setup failure and on drop. Why not cgroups-rs: see
//! docs/cgroups.md.

mod adopted;
mod bpf;
mod device_rules;
mod handle;
pub(crate) mod host;
pub(crate) mod id_list;
mod layout;
pub(crate) mod limits;
pub(crate) mod stats;
pub(crate) mod tuning;
mod update;
mod v1;
mod v2;
mod walk;

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{CleanupAction, CleanupError};

pub use device_rules::{DeviceAccess, DeviceRule, DeviceType};
pub use handle::CgroupHandle;
pub use layout::{CgroupMode, Controller};
pub(crate) use layout::{Layout, dir_of};
pub(crate) use limits::Resources;
pub use limits::{IoDeviceLimit, IoLimitKind};
pub use stats::Stats;
pub use tuning::{IoDeviceWeight, RdmaLimit};
pub use update::CgroupUpdate;

/// A cgroup operation that failed, or a limit this host cannot enforce.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// A controller a limit needs is not usable here.
    #[error("{controller} controller not available: {why}")]
    Unavailable {
        /// The controller.
        controller: Controller,
        /// Why, with the path that says so.
        why: String,
    },
    /// Reading or writing a cgroup file failed.
    #[error("cgroup: {action} {}: {source}", path.display())]
    Io {
        /// What nsbox was doing.
        action: String,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A cgroup path or file nsbox will not use, and why.
    #[error("cgroup {}: {why}", path.display())]
    Refused {
        /// The cgroup path or file.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

impl CgroupError {
    fn io(action: impl Into<String>, path: &Path, source: io::Error) -> Self {
        CgroupError::Io {
            action: action.into(),
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `value` to `dir/file`. For a controller's file, a missing file means the controller
/// is not there; core files (`cgroup.*`, `None`) fail as plain I/O errors.
fn write(dir: &Path, file: &str, value: impl Display, controller: Option<Controller>) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value.to_string()).map_err(|e| missing_or(e, controller, &path, &format!("write {value} to")))
}

fn read(dir: &Path, file: &str, controller: Option<Controller>) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| missing_or(e, controller, &path, "read"))
}

fn missing_or(e: io::Error, controller: Option<Controller>, path: &Path, action: &str) -> CgroupError {
    match (e.kind(), controller) {
        (io::ErrorKind::NotFound, Some(controller)) => CgroupError::Unavailable {
            controller,
            why: format!("{} does not exist", path.display()),
        },
        _ => CgroupError::io(action, path, e),
    }
}

/// Polls `done` (1 ms apart) for up to 5 s: state changes like freezing are asynchronous.
fn wait_until(mut done: impl FnMut() -> Result<bool, CgroupError>, dir: &Path, file: &str) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done()? {
        if Instant::now() > deadline {
            return Err(CgroupError::io(
                "wait for",
                &dir.join(file),
                io::Error::from(io::ErrorKind::TimedOut),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Controllers read for [`Stats`] and used for pause, created when available even without a
/// limit for them.
const ACCOUNTING: [Controller; 5] = [
    Controller::Memory,
    Controller::Cpuacct,
    Controller::Pids,
    Controller::Io,
    Controller::Freezer,
];

#[derive(Debug)]
struct V1Group {
    dir: PathBuf,
    controllers: BTreeSet<Controller>,
}

#[derive(Debug)]
struct V2Group {
    dir: PathBuf,
    fd: OwnedFd,
    controllers: BTreeSet<Controller>,
}

/// A container's cgroups, removed (after killing what is left in them) when dropped.
#[derive(Debug)]
pub(crate) struct Cgroup {
    v1: Vec<V1Group>,
    v2: Option<V2Group>,
    /// A v1 cgroup whose attach touches the joining process's memory (see
    /// `join_leaves_memory_alone`).
    v1_moves_memory: bool,
    /// The join files opened ahead of time (a pooled cgroup: `CgroupPool`).
    join_ahead: std::sync::Mutex<Option<JoinAhead>>,
}

/// Join files opened ahead of time, with what they were opened for.
#[derive(Debug)]
struct JoinAhead {
    /// The euid that opened them: the kernel checks the opener's credentials at the write.
    euid: u32,
    born_in_v2: bool,
    files: Vec<(OwnedFd, PathBuf)>,
}

/// Where a container's cgroup goes in each hierarchy.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Placement<'a> {
    /// `nsbox-<id>` (the name given) under the configured parent, else the caller's cgroup;
    /// created, and an error if it exists.
    Under(Option<&'a Path>, &'a str),
    /// Exactly this cgroup path (runc's `cgroupsPath`): absolute from each hierarchy's root
    /// (of the caller's cgroup namespace), relative from the caller's cgroup; created with its
    /// parents if missing, reused if present.
    Exact(&'a Path),
}

impl Placement<'_> {
    /// The parent directory and the cgroup's directory in a hierarchy mounted at
    /// `mountpoint` whose mount root is `root`, the caller being at `own`.
    fn dirs(&self, mountpoint: &Path, root: &Path, own: &Path) -> Result<(PathBuf, PathBuf), CgroupError> {
        match *self {
            Placement::Under(parent, name) => {
                let parent_dir = layout::dir_of(mountpoint, root, &parent_path(own, parent));
                let dir = parent_dir.join(name);
                Ok((parent_dir, dir))
            }
            Placement::Exact(path) => {
                let dir = exact_dir(mountpoint, root, own, path)?;
                let parent_dir = dir.parent().unwrap_or(mountpoint).to_path_buf();
                Ok((parent_dir, dir))
            }
        }
    }

    fn parent(&self) -> Option<&Path> {
        match *self {
            Placement::Under(parent, _) => parent,
            Placement::Exact(path) => path.parent(),
        }
    }
}

/// The directory of the exact cgroup `path` in a hierarchy: refused where it would be the
/// mount's root (the hierarchy's root, or a path outside the part mounted here, which
/// `dir_of` maps there).
pub(crate) fn exact_dir(mountpoint: &Path, root: &Path, own: &Path, path: &Path) -> Result<PathBuf, CgroupError> {
    let absolute = parent_path(own, Some(path));
    let dir = layout::dir_of(mountpoint, root, &absolute);
    if dir == mountpoint {
        return Err(CgroupError::Refused {
            path: path.to_path_buf(),
            why: format!(
                "names the root of the hierarchy mounted at {} (or lies outside it)",
                mountpoint.display()
            ),
        });
    }
    Ok(dir)
}

/// What a container's cgroup is made of, its place aside: two equal requests under the same
/// parent make equal cgroups (a [`CgroupPool`](crate::CgroupPool) makes them ahead of time).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    resources: Resources,
    /// nsbox's own processes in the cgroup ([`limits::nsbox_processes`]), added to either
    /// pids limit: the limit is the payload's.
    own: u64,
    /// [`pids_limit_where_available`](crate::ContainerBuilder::pids_limit_where_available),
    /// when no pids limit is set.
    pids_default: Option<u64>,
    /// Whether the configuration wants a cgroup in any case (a limit, a parent, `cgroup`).
    wanted: bool,
}

impl Request {
    pub fn of(config: &crate::config::Config) -> Request {
        Request {
            resources: config.resources.clone(),
            own: Request::own_of(config),
            pids_default: Request::pids_default_of(config),
            wanted: config.wants_cgroup(),
        }
    }

    /// Whether `config` makes the same request (without copying its resources).
    pub fn matches(&self, config: &crate::config::Config) -> bool {
        self.resources == config.resources
            && self.own == Request::own_of(config)
            && self.pids_default == Request::pids_default_of(config)
            && self.wanted == config.wants_cgroup()
    }

    fn own_of(config: &crate::config::Config) -> u64 {
        limits::nsbox_processes(config.has_init(), !config.ports.is_empty())
    }

    fn pids_default_of(config: &crate::config::Config) -> Option<u64> {
        config
            .bounds
            .pids_where_available
            .filter(|_| config.resources.pids.is_none())
    }

    /// Whether it makes a cgroup wherever cgroups can be made (not only where the pids
    /// controller is usable).
    pub fn always_makes_one(&self) -> bool {
        self.wanted
    }

    /// The cgroup, and the pids limit of `pids_limit_where_available` where the controller is
    /// usable: tried first, and if that cgroup cannot be made, the container gets what it
    /// would have had without it (a limit the caller set is never dropped: it is in
    /// `resources` already and fails the spawn as before).
    pub fn create(&self, placement: Placement<'_>) -> Result<Option<Cgroup>, CgroupError> {
        if let Some(max) = self.pids_default.filter(|_| pids_usable(placement.parent())) {
            let resources = Resources {
                pids: Some(max.saturating_add(self.own)),
                ..self.resources.clone()
            };
            match Cgroup::create(&resources, placement) {
                Ok(cgroup) => return Ok(Some(cgroup)),
                Err(e) => tracing::debug!(error = %e, "no pids limit: the controller is not usable here"),
            }
        }
        match self.wanted {
            true => Cgroup::create(&self.resources.for_cgroup(self.own), placement).map(Some),
            false => Ok(None),
        }
    }
}

impl Cgroup {
    /// Creates the container's cgroup in every hierarchy needed, with the limits written.
    pub fn create(resources: &Resources, placement: Placement<'_>) -> Result<Cgroup, CgroupError> {
        let layout = Layout::detect().map_err(|e| CgroupError::io("read", Path::new("/proc/self/mountinfo"), e))?;
        let needed = needed_controllers(resources);
        let exact = matches!(placement, Placement::Exact(_));
        if !resources.unified.is_empty() && layout.v2.is_none() {
            return Err(CgroupError::Refused {
                path: PathBuf::from(&resources.unified[0].0),
                why: "a raw cgroup v2 file, and this host has no cgroup2 mount".into(),
            });
        }
        let mut cgroup = Cgroup {
            v1: Vec::new(),
            v2: None,
            v1_moves_memory: false,
            join_ahead: Default::default(),
        };

        let mut v1_sets: Vec<(usize, BTreeSet<Controller>)> = Vec::new();
        let (mut v2_needed, mut v2_wanted) = (BTreeSet::new(), BTreeSet::new());
        for controller in needed.iter().chain(ACCOUNTING.iter()) {
            let is_needed = needed.contains(controller);
            match layout.v1.iter().position(|h| h.controllers.contains(controller)) {
                Some(index) => match v1_sets.iter_mut().find(|(i, _)| *i == index) {
                    Some((_, set)) => {
                        set.insert(*controller);
                    }
                    None => v1_sets.push((index, BTreeSet::from([*controller]))),
                },
                // net_cls and net_prio have no v2 counterpart (runc ignores them there).
                None if controller.v1_only() && is_needed => {
                    return Err(CgroupError::Unavailable {
                        controller: *controller,
                        why: format!(
                            "no v1 {controller} hierarchy is mounted, and cgroup v2 has no {controller} \
                             ({controller}.* files)"
                        ),
                    });
                }
                None if layout.v2.is_some() && !controller.v1_only() => {
                    if is_needed { &mut v2_needed } else { &mut v2_wanted }.insert(*controller);
                }
                None if is_needed => {
                    return Err(CgroupError::Unavailable {
                        controller: *controller,
                        why: "no v1 hierarchy has it mounted and there is no cgroup2 mount".into(),
                    });
                }
                None => {}
            }
        }
        // Hierarchies with a limit first, so an unusable one is reported as what it is.
        v1_sets.sort_by_key(|(_, set)| set.is_disjoint(&needed));
        for (index, controllers) in v1_sets {
            let h = &layout.v1[index];
            let made = placement
                .dirs(&h.mountpoint, &h.root, &h.own)
                .and_then(|(parent_dir, dir)| {
                    let dir = match exact {
                        true => make_exact(&dir)?,
                        false => make_dir(&dir, placement.parent().is_some())?,
                    };
                    Ok((parent_dir, dir))
                });
            let (parent_dir, dir) = match made {
                Ok(dirs) => dirs,
                // Accounting only (no limit here): best effort, its stats stay None.
                Err(e) if controllers.is_disjoint(&needed) => {
                    tracing::debug!(error = %e, "accounting cgroup skipped");
                    continue;
                }
                Err(e) => return Err(e),
            };
            cgroup.v1.push(V1Group {
                dir: dir.clone(),
                controllers: h.controllers.clone(),
            });
            let mut controllers = controllers;
            if h.controllers.contains(&Controller::Cpuset) {
                // Co-mounted with something we use: its cpus and mems must still be filled in.
                controllers.insert(Controller::Cpuset);
            }
            v1::apply(&dir, &parent_dir, &controllers, resources)?;
            cgroup.v1_moves_memory |= v1::attach_moves_memory(&dir, &h.controllers);
        }
        if let Some(h) = &layout.v2 {
            let (parent_dir, dir) = placement.dirs(&h.mountpoint, &h.root, &h.own)?;
            if placement.parent().is_some() {
                std::fs::create_dir_all(&parent_dir).map_err(|e| CgroupError::io("create", &parent_dir, e))?;
            }
            let controllers = v2::enable(&parent_dir, &v2_needed, &v2_wanted)?;
            match exact {
                true => make_exact(&dir)?,
                false => make_dir(&dir, false)?,
            };
            let opened = nix::fcntl::open(
                &dir,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| CgroupError::io("open", &dir, e.into()));
            let fd = match opened {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = std::fs::remove_dir(&dir);
                    return Err(e);
                }
            };
            cgroup.v2 = Some(V2Group {
                dir: dir.clone(),
                fd,
                controllers: controllers.clone(),
            });
            v2::apply(&dir, &controllers, resources)?;
            if let (Some(rules), Some(group)) = (&resources.devices, &cgroup.v2)
                && controllers.contains(&Controller::Devices)
            {
                let program = bpf::program(&device_rules::DeviceCgroup::from_rules(rules));
                let attached = bpf::load(&program).and_then(|prog| bpf::attach(&group.fd, &prog));
                attached.map_err(|e| CgroupError::Unavailable {
                    controller: Controller::Devices,
                    why: format!("cannot attach the device program to {}: {e}", dir.display()),
                })?;
            }
        }
        tracing::debug!(?cgroup, "cgroup created");
        Ok(cgroup)
    }

    /// The container's cgroup when the configuration wants one (see [`Request::create`]).
    pub fn for_config(config: &crate::config::Config, id: &str) -> Result<Option<Cgroup>, CgroupError> {
        let name = format!("nsbox-{id}");
        let placement = match &config.cgroup_path {
            Some(path) => Placement::Exact(path),
            None => Placement::Under(config.cgroup_parent.as_deref(), &name),
        };
        Request::of(config).create(placement)
    }

    /// The v2 cgroup's directory fd, for `CLONE_INTO_CGROUP`.
    pub fn clone_into_fd(&self) -> Option<RawFd> {
        self.v2.as_ref().map(|g| g.fd.as_raw_fd())
    }

    /// Whether a setup process sharing the caller's memory may join these cgroups: not a v1
    /// cpuset (its attach rebinds the memory policy of the joining process's memory, and with
    /// `memory_migrate` moves its pages) nor a v1 memory cgroup that moves charges on attach.
    pub fn join_leaves_memory_alone(&self) -> bool {
        !self.v1_moves_memory
    }

    /// The files a child writes `0` to, to join the cgroups it was not born in, each opened
    /// for writing here (the kernel checks the opener's credentials): v1 `tasks` (one thread:
    /// no threadgroup lock, see `Plan`), and v2 `cgroup.procs` unless the child is cloned into
    /// it.
    ///
    /// Those opened ahead ([`open_join_files_ahead`](Self::open_join_files_ahead)) are
    /// handed out once, if this thread's euid opened them for the same `born_in_v2`.
    pub fn join_files(&self, born_in_v2: bool) -> Result<Vec<(OwnedFd, PathBuf)>, CgroupError> {
        let ahead = self.join_ahead.lock().unwrap_or_else(|p| p.into_inner()).take();
        match ahead {
            Some(a) if a.born_in_v2 == born_in_v2 && a.euid == nix::unistd::geteuid().as_raw() => Ok(a.files),
            _ => self.open_join_files(born_in_v2),
        }
    }

    /// Opens the join files of a spawn now (on a pool's thread), for the spawn that takes
    /// this cgroup: ~5-10 µs per hierarchy off its path. Only v1 `tasks` files, whose write
    /// the kernel checks against the opener's euid alone (a v2 `cgroup.procs` write is checked
    /// against more of the opener's credentials, which may differ per thread): where the
    /// setup process would join a v2 cgroup by its `cgroup.procs` (no clone3), nothing is
    /// opened ahead.
    pub fn open_join_files_ahead(&self) -> Result<(), CgroupError> {
        let born_in_v2 = crate::kernel::clone3_available();
        if self.v2.is_some() && !born_in_v2 {
            return Ok(());
        }
        let files = self.open_join_files(born_in_v2)?;
        let euid = nix::unistd::geteuid().as_raw();
        *self.join_ahead.lock().unwrap_or_else(|p| p.into_inner()) = Some(JoinAhead {
            euid,
            born_in_v2,
            files,
        });
        Ok(())
    }

    fn open_join_files(&self, born_in_v2: bool) -> Result<Vec<(OwnedFd, PathBuf)>, CgroupError> {
        let v1 = self.v1.iter().map(|g| g.dir.join("tasks"));
        let v2 = self
            .v2
            .as_ref()
            .filter(|_| !born_in_v2)
            .map(|g| g.dir.join("cgroup.procs"));
        v1.chain(v2)
            .map(|path| {
                let file = std::fs::OpenOptions::new().write(true).open(&path);
                file.map(|f| (OwnedFd::from(f), path.clone()))
                    .map_err(|e| CgroupError::io("open", &path, e))
            })
            .collect()
    }

    pub fn stats(&self) -> Stats {
        let mut stats = Stats::default();
        for g in &self.v1 {
            v1::stats(&g.dir, &g.controllers, &mut stats);
        }
        if let Some(g) = &self.v2 {
            v2::stats(&g.dir, &mut stats);
        }
        stats
    }

    pub fn oom_killed(&self) -> bool {
        self.v1
            .iter()
            .any(|g| g.controllers.contains(&Controller::Memory) && v1::oom_killed(&g.dir))
            || self
                .v2
                .as_ref()
                .is_some_and(|g| g.controllers.contains(&Controller::Memory) && v2::oom_killed(&g.dir))
    }

    pub fn set_frozen(&self, frozen: bool) -> Result<(), CgroupError> {
        match (
            self.v1.iter().find(|g| g.controllers.contains(&Controller::Freezer)),
            &self.v2,
        ) {
            (Some(g), _) => v1::set_frozen(&g.dir, frozen),
            (None, Some(g)) => v2::set_frozen(&g.dir, frozen),
            (None, None) => Err(CgroupError::Unavailable {
                controller: Controller::Freezer,
                why: "no v1 freezer hierarchy and no cgroup2 mount".into(),
            }),
        }
    }

    /// The processes left in the container's cgroups, nested cgroups included.
    fn procs(&self) -> Vec<i32> {
        let dir = self.v2.as_ref().map(|g| &g.dir).or(self.v1.first().map(|g| &g.dir));
        let mut pids = Vec::new();
        if let Some(dir) = dir {
            procs_below(dir, &mut pids);
        }
        pids
    }

    /// SIGKILL to everything in the cgroups: `cgroup.kill` where the kernel has it, else
    /// freeze (so nothing forks or exits under us), kill each listed process, thaw; repeated
    /// until the cgroup is empty.
    fn kill_all(&self) {
        self.kill_nested_frozen();
        if let Some(g) = &self.v2
            && v2::kill(&g.dir)
        {
            let _ = wait_until(|| Ok(self.procs().is_empty()), &g.dir, "cgroup.procs");
            return;
        }
        for _ in 0..100 {
            let pids = self.procs();
            if pids.is_empty() {
                return;
            }
            let frozen = self.set_frozen(true).is_ok();
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            if frozen {
                let _ = self.set_frozen(false);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// SIGKILL to every process of cgroups nested in the container's, after clearing every
    /// nested freeze: a container with a writable cgroup mount can freeze a cgroup of its own,
    /// and a task the v1 freezer froze does not die of SIGKILL until thawed (`cgroup.kill`
    /// would wait for it in vain). Done with the container's cgroup frozen, so that nothing in
    /// it runs to freeze again; thawed, they die. Nothing to do (one directory listing) where
    /// nothing is nested.
    fn kill_nested_frozen(&self) {
        let dirs: Vec<&Path> = self
            .v1
            .iter()
            .map(|g| g.dir.as_path())
            .chain(self.v2.as_ref().map(|g| g.dir.as_path()))
            .collect();
        if !dirs.iter().any(|d| walk::has_subdirs(d)) {
            return;
        }
        let _ = self.set_frozen(true);
        for dir in dirs {
            let _ = walk::walk(
                dir,
                &mut |fd, depth| {
                    if depth > 0 {
                        let _ = walk::write_at(fd, c"freezer.state", b"THAWED");
                        let _ = walk::write_at(fd, c"cgroup.freeze", b"0");
                    }
                },
                &mut |_, _| {},
            );
        }
        for pid in self.procs() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.set_frozen(false);
    }

    /// Leaves the cgroups in place (a detached container still runs in them).
    pub fn disown(mut self) {
        self.v1.clear();
        self.v2 = None;
    }

    /// Kills what is left and removes every cgroup directory; returns a failure for each
    /// directory left behind (each is tried). A cgroup nested in the container's is not
    /// nsbox's to remove: it makes the removal fail (EBUSY), reported.
    pub fn remove(&mut self) -> Vec<CleanupError> {
        self.remove_with(false)
    }

    /// [`remove`](Self::remove), the cgroups nested in each directory (a container's own, or
    /// an exec's sub-cgroup) removed first: for a pool's thread, which owns the cgroup of a
    /// container that is gone.
    pub fn remove_nested(&mut self) -> Vec<CleanupError> {
        self.remove_with(true)
    }

    /// [`remove`](Self::remove); with `nested`, the cgroups below each directory are removed
    /// first, deepest first ([`CgroupHandle::remove`]: a runtime's `delete`).
    fn remove_with(&mut self, nested: bool) -> Vec<CleanupError> {
        if self.v1.is_empty() && self.v2.is_none() {
            return Vec::new();
        }
        self.kill_all();
        let dirs = self.v1.drain(..).map(|g| g.dir).chain(self.v2.take().map(|g| g.dir));
        dirs.filter_map(|dir| {
            let (failed, e) = remove_tree(&dir, nested).err()?;
            Some(CleanupError::new(CleanupAction::RemoveCgroup, Some(failed), &e))
        })
        .collect()
    }
}

impl Drop for Cgroup {
    /// Only reached when no one removed the cgroup and could be told (a panic, an early
    /// return): the failure can only be logged.
    fn drop(&mut self) {
        for e in self.remove() {
            tracing::warn!(error = %e, "cgroup not removed");
        }
    }
}

/// rmdir, retried while the kernel still counts exiting processes (EBUSY).
fn remove_dir(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::remove_dir(dir) {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            other => return other,
        }
    }
}

/// The pids in `dir/cgroup.procs` and in every cgroup below it, at any depth (see `walk`).
fn procs_below(dir: &Path, pids: &mut Vec<i32>) {
    let _ = walk::walk(
        dir,
        &mut |fd, _| {
            let listed = walk::read_at(fd, c"cgroup.procs");
            pids.extend(listed.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        },
        &mut |_, _| {},
    );
}

/// Removes the cgroup `dir` and, with `nested`, every cgroup below it first, deepest first;
/// on failure, the directory that could not be removed (a nested one that could not be
/// removed makes `dir`'s removal fail: that is the one reported).
fn remove_tree(dir: &Path, nested: bool) -> Result<(), (PathBuf, io::Error)> {
    if nested {
        let _ = walk::walk(dir, &mut |_, _| {}, &mut |parent, name| {
            let _ = walk::remove_at(parent, name);
        });
    }
    remove_dir(dir).map_err(|e| (dir.to_path_buf(), e))
}

fn make_dir(dir: &Path, create_parent: bool) -> Result<PathBuf, CgroupError> {
    if create_parent && let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).map_err(|e| CgroupError::io("create", parent, e))?;
    }
    std::fs::create_dir(dir).map_err(|e| CgroupError::io("create", dir, e))?;
    Ok(dir.to_path_buf())
}

/// An exact path's directory, with its parents: reused if it exists.
fn make_exact(dir: &Path) -> Result<PathBuf, CgroupError> {
    std::fs::create_dir_all(dir).map_err(|e| CgroupError::io("create", dir, e))?;
    Ok(dir.to_path_buf())
}

/// The parent cgroup path: the configured one (absolute, or relative to the caller's own),
/// else the caller's own.
fn parent_path(own: &Path, configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => own.join(p),
        None => own.to_path_buf(),
    }
}

/// Whether a cgroup with a pids limit can likely be made under `parent` (see `parent_path`):
/// a v1 pids hierarchy, or cgroup2 listing `pids`, where this process may create directories
/// (in the nearest existing ancestor of a parent still to be made). `Cgroup::create` has the
/// last word; this only spares a doomed attempt per spawn on hosts without one.
fn pids_usable(parent: Option<&Path>) -> bool {
    let Ok(layout) = Layout::detect() else { return false };
    let dir = match (layout.v1_for(Controller::Pids), &layout.v2) {
        (Some(h), _) => layout::dir_of(&h.mountpoint, &h.root, &parent_path(&h.own, parent)),
        (None, Some(h)) => {
            let dir = layout::dir_of(&h.mountpoint, &h.root, &parent_path(&h.own, parent));
            let existing = dir.ancestors().find(|d| d.is_dir()).unwrap_or(&dir);
            let listed = std::fs::read_to_string(existing.join("cgroup.controllers")).unwrap_or_default();
            if !listed.split_whitespace().any(|c| c == "pids") {
                return false;
            }
            dir
        }
        (None, None) => return false,
    };
    let existing = dir.ancestors().find(|d| d.is_dir()).unwrap_or(&dir);
    nix::unistd::access(existing, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn needed_controllers(r: &Resources) -> BTreeSet<Controller> {
    let mut set = BTreeSet::new();
    let memory_tuning = r.memory_reservation.is_some() || r.memory_swappiness.is_some() || r.oom_kill_disable;
    if r.memory.is_some() || memory_tuning {
        set.insert(Controller::Memory);
    }
    let cpu_tuning =
        r.cpu_period.is_some() || r.cpu_burst.is_some() || r.cpu_idle.is_some() || r.cpu_rt_period.is_some();
    if r.cpus.is_some() || r.cpu_weight.is_some() || cpu_tuning || r.cpu_rt_runtime.is_some() {
        set.insert(Controller::Cpu);
    }
    if !r.io_device_weights.is_empty() || r.io_leaf_weight.is_some() {
        set.insert(Controller::Io);
    }
    if r.net_class_id.is_some() {
        set.insert(Controller::NetCls);
    }
    if !r.net_priorities.is_empty() {
        set.insert(Controller::NetPrio);
    }
    if !r.rdma.is_empty() {
        set.insert(Controller::Rdma);
    }
    if r.cpuset_cpus.is_some() || r.cpuset_mems.is_some() {
        set.insert(Controller::Cpuset);
    }
    if r.pids.is_some() {
        set.insert(Controller::Pids);
    }
    if r.io_weight.is_some() || !r.io_devices.is_empty() {
        set.insert(Controller::Io);
    }
    if r.devices.is_some() {
        set.insert(Controller::Devices);
    }
    if !r.hugepages.is_empty() {
        set.insert(Controller::Hugetlb);
    }
    set
}

/// For a cgroup filesystem in the container (issue 16, mounts; read-only use).
impl Cgroup {
    /// The container's own cgroup directories: each v1 one with its hierarchy's controllers,
    /// and the v2 one.
    pub(crate) fn own_dirs(&self) -> (Vec<(&Path, &BTreeSet<Controller>)>, Option<&Path>) {
        let v1 = self.v1.iter().map(|g| (g.dir.as_path(), &g.controllers)).collect();
        (v1, self.v2.as_ref().map(|g| g.dir.as_path()))
    }
}
