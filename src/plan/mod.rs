//! The parent's half of a spawn: turning a [`Config`] into a [`Plan`], the list of
//! [`Step`]s the child runs between clone and exec, over data the parent owns.
//!
//! Everything that allocates, formats or reads files happens here, before clone. The child
//! gets only C strings, fd numbers and pre-sized buffers.

mod exec;
#[cfg(test)]
mod golden;
mod privileges;
mod process;
mod render;
mod rootfs;
pub(crate) mod step;

use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;

use crate::cgroup::Cgroup;
use crate::config::Config;
use crate::error::{Error, Result, SetupStep};
use crate::idmap::IdMaps;
use crate::namespaces::Namespaces;
use crate::pid1::protocol;
use crate::stack::Stack;
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout, StdioKind};
pub(crate) use rootfs::DevLayout;
pub(crate) use step::{BindAttrs, ContainerPath, Leaf, Step};

pub(crate) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything a spawn needs, prepared before clone.
/// The `CLONE_NEW*` flags a pre-made pair replaces in a spawn of `ns` (which has new user and
/// network namespaces): those two, and the IPC and UTS ones where the spawn makes them.
pub(crate) fn premade_flags(ns: Namespaces) -> u64 {
    let optional = ns.bits() & (libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as u64;
    (libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as u64 | optional
}

#[derive(Debug)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    /// For each step, what the parent reports if it fails: the step and its path.
    pub labels: Vec<(SetupStep, Option<PathBuf>)>,
    /// Fd slots the child fills with `OpenSource` and reads in `Bind`/`Stage`.
    pub slots: Vec<RawFd>,
    pub clone_flags: u64,
    pub id_maps: Option<IdMaps>,
    /// A joined PID namespace (its checked file and path), which the spawning thread enters
    /// around the clone (`spawn::pidns`).
    pub pid_namespace: Option<(OwnedFd, PathBuf)>,
    /// A joined user namespace (its checked file and path), which an intermediate process
    /// enters before it clones the setup process (`spawn::userns`).
    pub user_namespace: Option<(OwnedFd, PathBuf)>,
    /// A pre-made user and network namespace pair (`crate::namespace_pool`) the setup process
    /// is born in: no `CLONE_NEWUSER | CLONE_NEWNET`, no id maps to write, the loopback up.
    pub premade: Option<crate::namespace_pool::PremadeNamespaces>,
    /// The `CLONE_NEW*` flags the pair replaces ([`premade_flags`]); 0 without one.
    pub premade_flags: u64,
    /// The child writes `(step index, errno)` here on failure; CLOEXEC, so EOF means exec.
    pub error_fd: RawFd,
    pub parent: ParentEnds,
    /// The child's ends and copies the parent closes right after clone.
    pub child_fds: Vec<OwnedFd>,
    /// The stack the setup process runs on when it shares the caller's memory (`CLONE_VM`,
    /// see [`crate::stack`]); `None`: it runs on a copy of the caller's, as after fork.
    pub setup_stack: Option<Stack>,
    /// The stack the payload runs its last steps on, when an init forks it (see child::init).
    pub payload_stack: Option<Stack>,
    /// The fd number the Landlock ruleset is kept at for the exec step (-1: none).
    pub landlock_fd: RawFd,
    /// The memfd of the init/launcher binary (-1 if it could not be made).
    pub binary: RawFd,
    /// The confirmation pipe's read end the launcher waits on (-1: none) and the bytes it
    /// waits for (one per process that confirms: nsbox-init, nsbox-connect).
    pub ready: (RawFd, usize),
    /// The start gate the launcher waits on before the payload's exec (-1: none).
    pub gate_fd: RawFd,
    /// Whether `gate_fd` is a warm pool's socket (`crate::pool`): the launcher waits there for
    /// its payload, which it looks up itself.
    pub pool_gate: bool,
    /// Whether the `OpenPty` step is planned already (early, with `/dev/console`).
    pub pty_planned: bool,
    /// Whether the pty is opened before the credentials change, for `/dev/console`: a
    /// container's first process in its own mount namespace.
    pub console: bool,
    /// The caller's fds from 3 on the payload inherits (a spawn's; never an exec's).
    pub preserved_fds: u32,
    /// The bounding set as the steps planned so far leave it.
    pub bounding: u64,
    /// Per-step timestamps (feature `trace-timing`).
    pub clock: crate::timing::Recorder,
    /// Strings the `argv`/`envp` pointers of the exec step point into.
    _strings: Vec<CString>,
    _launcher_strings: Vec<CString>,
}

/// The ends of the pipes the parent keeps.
#[derive(Debug)]
pub(crate) struct ParentEnds {
    pub error: OwnedFd,
    /// The sync socket (spawn; none for exec, whose setup process waits for nothing).
    pub sync: Option<OwnedFd>,
    pub status: Option<OwnedFd>,
    pub stdin: Option<ChildStdin>,
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
    /// The forwarder's end of the published ports' connector socket.
    pub connector: Option<OwnedFd>,
    /// The lifeline's write end (see `protocol::fd::LIFELINE`), held by the `Container`.
    pub lifeline: Option<OwnedFd>,
    /// With a tty: the socket the pty's master comes back on (`Step::OpenPty`).
    pub pty: Option<OwnedFd>,
    /// The write ends of the `before_pivot_root` hooks' stdin pipes, in order.
    pub hook_stdin: Vec<OwnedFd>,
}

impl Plan {
    /// The plan for one container of `config`, joining `cgroup`; its setup process shares the
    /// caller's memory if `shared_memory` (see [`crate::shared_memory::allowed`]) and an init,
    /// if any, can execute its binary.
    pub fn new(
        config: &Config,
        id: &str,
        cgroup: Option<&Cgroup>,
        shared_memory: bool,
        premade: Option<crate::namespace_pool::PremadeNamespaces>,
    ) -> Result<Plan> {
        let ns = config.namespaces;
        let (error_r, error_w) = pipe()?;
        // A socket pair, not a pipe: the parent writes with MSG_NOSIGNAL, so a child that died
        // early costs an EPIPE, never a SIGPIPE in the caller.
        let (sync_r, sync_w) = nix::sys::socket::socketpair(
            nix::sys::socket::AddressFamily::Unix,
            nix::sys::socket::SockType::Stream,
            None,
            nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| Error::io("create the sync socket pair", e))?;
        let status = if config.has_init() { Some(pipe()?) } else { None };
        let sync_w_raw = sync_w.as_raw_fd();
        let mut plan = Plan::bare(ns.bits(), (error_r, error_w.as_raw_fd()), Some(sync_w));
        if premade.is_some() {
            plan.premade_flags = premade_flags(ns);
            plan.clone_flags &= !plan.premade_flags;
            plan.premade = premade;
        }
        if let Some(fd) = crate::pid1::memfd() {
            plan.binary = fd.as_raw_fd();
            plan.child_fds.push(fd);
        }
        let attrs = SetupStep::ProcessAttributes;
        if config.process.joined(Namespaces::PID).is_some() || config.process.joined(Namespaces::USER).is_some() {
            // Born in a PID or user namespace other processes share, a copy of the caller's
            // memory: out of their reach (ptrace, /proc/PID/mem) before anything else (in a
            // joined user namespace it is born so, from its non-dumpable intermediate).
            plan.push(Step::NotDumpable, attrs, None);
        }
        if config.process.time_offsets.is_some() {
            // Entered later, once its offsets are written (`plan_time_offsets`).
            plan.clone_flags &= !(libc::CLONE_NEWTIME as u64);
        }
        plan.push(Step::CloseFd(plan.parent.error.as_raw_fd()), attrs, None);
        plan.push(Step::CloseFd(sync_w_raw), attrs, None);
        plan.push(Step::ParentDeathSignal(libc::SIGKILL), attrs, None);
        plan.plan_namespace_joins(config)?;
        let joins = match cgroup {
            Some(cgroup) => cgroup.join_files(crate::kernel::clone3_available())?,
            None => Vec::new(),
        };
        // What needs neither the id maps nor the cgroups runs while the parent writes the maps:
        // the bounding set (all that neither the payload nor an init keeps), the hostname and
        // the loopback. Not before joining cgroups, whose accounting it belongs to.
        let early = joins.is_empty();
        if early {
            plan.plan_names_and_bounding(config, id)?;
        }
        plan.push(Step::WaitForParent(sync_r.as_raw_fd()), SetupStep::WaitForParent, None);
        plan.child_fds.extend([error_w, sync_r]);
        plan.plan_cgroup_join(joins, ns);

        let stdio = plan.plan_stdio(config)?;
        let status_w = status.map(|(r, w)| {
            plan.push(Step::CloseFd(r.as_raw_fd()), attrs, None);
            plan.parent.status = Some(r);
            let raw = w.as_raw_fd();
            plan.child_fds.push(w);
            raw
        });

        if ns.contains(Namespaces::USER) {
            plan.id_maps = Some(IdMaps {
                uid: config.uid_map.clone(),
                gid: config.gid_map.clone(),
                allow_setgroups: IdMaps::allows_setgroups(&config.gid_map),
            });
        }
        // The host sources are opened before the switch to the container's root. Until then
        // the setup process has the caller's host uid: when root is mapped to an unprivileged
        // host id (Sandbox), a root-only source (a 0700 directory) is reachable only before,
        // by the owner's permission bits (its capabilities in the new namespace count only
        // for inodes whose owner is mapped). Everything it creates (mount points, mkdirat)
        // comes after: the kernel refuses to create an inode for an unmapped fsuid (EOVERFLOW).
        let sources = match ns.contains(Namespaces::MOUNT) {
            true => Some(rootfs::open_sources(&mut plan, config, cgroup)?),
            false => None,
        };
        if config.in_user_namespace() {
            plan.push(
                Step::SetCredentials {
                    uid: 0,
                    gid: 0,
                    groups: None,
                },
                SetupStep::SetCredentials,
                None,
            );
            plan.push(Step::ParentDeathSignal(libc::SIGKILL), attrs, None);
        }
        // oom_score_adj, sysctls, domainname (see crate::process_attrs); an oom_score_adj
        // written on the caller's memory would be the caller's too.
        plan.plan_process_attributes(config)?;
        let shared_memory = shared_memory && config.process.oom_score_adj.is_none();
        // Time namespaces and a joined PID namespace (see ProcessAttributes::needs_own_memory).
        let shared_memory = shared_memory && !config.process.needs_own_memory();
        // Shared memory (see crate::shared_memory) also needs an init able to execute its
        // binary: its in-process loop would run on the caller's memory forever.
        let shared_memory = shared_memory && (status_w.is_none() || plan.binary >= 0);
        if shared_memory {
            plan.setup_stack = Some(Stack::new().map_err(|e| Error::io("map the setup process's stack", e))?);
        } else {
            // Dumpability is a property of the memory (mm): with CLONE_VM this would make the
            // caller non-dumpable; whoever could ptrace the setup process then could ptrace the
            // caller anyway.
            plan.push(Step::NotDumpable, attrs, None);
        }

        if let Some(sources) = sources {
            rootfs::plan_rootfs(&mut plan, config, sources)?;
        }
        if !early {
            plan.plan_names_and_bounding(config, id)?;
        }
        plan.push(
            Step::Chdir(cstring(config.cwd.as_os_str().as_bytes())?),
            SetupStep::Chdir,
            Some(config.cwd.clone()),
        );
        if let Some(status_fd) = status_w {
            plan.plan_init(config, status_fd, shared_memory)?;
        }
        plan.console = ns.contains(Namespaces::MOUNT);
        plan.preserved_fds = config.start.preserved_fds;
        let seccomp_last = plan.plan_privileges(config, status_w.is_none())?;
        plan.plan_gate(config)?;
        plan.plan_launch(config, stdio, seccomp_last)?;
        Ok(plan)
    }

    /// The `before_pivot_root` hooks, each with a pipe for its stdin whose write end the
    /// parent fills before it releases the child.
    pub(super) fn plan_hooks(&mut self, config: &Config) -> Result<()> {
        for hook in &config.start.before_pivot {
            let (r, w) = pipe()?;
            self.push(Step::CloseFd(w.as_raw_fd()), SetupStep::Hook, None);
            let mut strings = vec![cstring(hook.path.as_os_str().as_bytes())?];
            let args: Vec<&OsStr> = match hook.args.is_empty() {
                true => vec![hook.path.as_os_str()],
                false => hook.args.iter().map(OsString::as_os_str).collect(),
            };
            for arg in &args {
                strings.push(cstring(arg.as_bytes())?);
            }
            for var in &hook.env {
                strings.push(cstring(var.as_bytes())?);
            }
            let path = strings.remove(0);
            let mut argv: Vec<_> = strings[..args.len()].iter().map(|s| s.as_ptr()).collect();
            argv.push(std::ptr::null());
            let mut envp: Vec<_> = strings[args.len()..].iter().map(|s| s.as_ptr()).collect();
            envp.push(std::ptr::null());
            let timeout = hook.timeout.map_or(0, |t| t.as_secs().clamp(1, u32::MAX as u64) as u32);
            let step = Step::RunHook {
                path,
                argv,
                envp,
                _strings: strings,
                stdin: r.as_raw_fd(),
                timeout,
            };
            self.push(step, SetupStep::Hook, Some(hook.path.clone()));
            self.child_fds.push(r);
            self.parent.hook_stdin.push(w);
        }
        Ok(())
    }

    /// With a start gate: a copy of its fd (never at 0-2, where stdio lands) for the
    /// launcher, which must then run.
    fn plan_gate(&mut self, config: &Config) -> Result<()> {
        // A warm pool's socket (issue 17) takes the start gate's place.
        self.pool_gate = config.pool_gate.is_some();
        let Some(gate) = config.pool_gate.as_ref().or(config.start.gate.as_ref()) else {
            return Ok(());
        };
        if self.binary < 0 {
            return Err(Error::io(
                "wait at the start gate",
                std::io::Error::other("the launcher binary cannot be executed on this host (vm.memfd_noexec?)"),
            ));
        }
        let raw = crate::sys::dup_above(gate.as_raw_fd(), 3, true)
            .map_err(|e| Error::io("duplicate the start gate", std::io::Error::from_raw_os_error(e as i32)))?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
        let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        self.gate_fd = raw;
        self.child_fds.push(fd);
        Ok(())
    }

    /// The last steps before the payload (or an exec'd process) runs, after its privileges:
    /// its terminal or stdio, every other fd close-on-exec, signals reset, Landlock, the
    /// seccomp filter (last, so it need allow nothing of the setup but the launcher), the exec.
    pub(super) fn plan_launch(
        &mut self,
        config: &Config,
        stdio: Vec<(RawFd, RawFd)>,
        seccomp_last: Option<Vec<std::sync::Arc<crate::security::Program>>>,
    ) -> Result<()> {
        if self.gate_fd >= 0 && !self.pool_gate {
            // As the payload (its credentials and working directory), before the filter and
            // Landlock: the start gate is after the lookup, so a missing command fails the spawn.
            let candidates = exec_candidates(&config.program, &search_path(config))?;
            self.push(
                Step::Lookup(candidates),
                SetupStep::Exec,
                Some(PathBuf::from(&config.program)),
            );
        }
        self.plan_pty(config, false)?;
        for (from, to) in stdio {
            self.push(Step::Dup { from, to }, SetupStep::Stdio, None);
        }
        let preserved = self.preserved_fds;
        self.push(Step::CloseOtherFds { preserved }, SetupStep::CloseFds, None);
        self.push(Step::ResetSignals, SetupStep::Signals, None);
        if let Some(landlock) = &config.landlock {
            self.plan_landlock(landlock)?;
        }
        if let Some(programs) = seccomp_last {
            self.push(Step::Seccomp(programs), SetupStep::Seccomp, None);
        }
        self.plan_exec(config)
    }

    /// A plan with no step yet: the error pipe (the parent's read end, the child's write end's
    /// number) and the parent's end of the sync socket, if any.
    fn bare(clone_flags: u64, error: (OwnedFd, RawFd), sync: Option<OwnedFd>) -> Plan {
        Plan {
            steps: Vec::with_capacity(64),
            labels: Vec::with_capacity(64),
            slots: Vec::new(),
            clone_flags,
            id_maps: None,
            pid_namespace: None,
            user_namespace: None,
            premade: None,
            premade_flags: 0,
            error_fd: error.1,
            parent: ParentEnds {
                error: error.0,
                sync,
                status: None,
                stdin: None,
                stdout: None,
                stderr: None,
                connector: None,
                lifeline: None,
                pty: None,
                hook_stdin: Vec::new(),
            },
            child_fds: Vec::new(),
            setup_stack: None,
            payload_stack: None,
            landlock_fd: -1,
            binary: -1,
            ready: (-1, 0),
            gate_fd: -1,
            pool_gate: false,
            pty_planned: false,
            console: false,
            preserved_fds: 0,
            bounding: crate::security::capabilities::all_bits(),
            clock: crate::timing::Recorder::start(),
            _strings: Vec::new(),
            _launcher_strings: Vec::new(),
        }
    }

    /// With a tty: the `OpenPty` step (after the new session, whose controlling terminal the
    /// pty becomes) and the socket its master comes back on. `console`: the container's first
    /// process, before its credentials change (see `Step::OpenPty`); once per plan.
    pub(super) fn plan_pty(&mut self, config: &Config, console: bool) -> Result<()> {
        if self.pty_planned {
            return Ok(());
        }
        if let Some((rows, cols)) = config.tty {
            self.pty_planned = true;
            let console = console.then(|| config.user.map_or(0, |(uid, _)| uid));
            let (ours, theirs) = seqpacket_pair("the pty")?;
            self.push(Step::CloseFd(ours.as_raw_fd()), SetupStep::ProcessAttributes, None);
            let step = Step::OpenPty {
                socket: theirs.as_raw_fd(),
                rows,
                cols,
                console,
            };
            self.push(step, SetupStep::Stdio, Some("/dev/ptmx".into()));
            self.child_fds.push(theirs);
            self.parent.pty = Some(ours);
        }
        Ok(())
    }

    pub fn push(&mut self, step: Step, label: SetupStep, path: Option<PathBuf>) {
        self.steps.push(step);
        self.labels.push((label, path));
    }

    /// The init's steps (see `child::init`): the confirmation pipe, the lifeline, the
    /// connector for published ports, then `ForkInit`, after which the payload's process goes
    /// on with the next step. `status_fd` is the status pipe's write end.
    fn plan_init(&mut self, config: &Config, status_fd: RawFd, shared_memory: bool) -> Result<()> {
        let attrs = SetupStep::ProcessAttributes;
        let init_binary = self.binary;
        self.payload_stack = Some(Stack::new().map_err(|e| Error::io("map the payload's stack", e))?);
        // The confirmation pipe (see pid1::confinement): the payload's launcher runs the
        // payload only once nsbox-init and nsbox-connect have confined themselves.
        let (ready_read, ready_write) = if init_binary >= 0 {
            let (r, w) = pipe()?;
            let raw = (r.as_raw_fd(), w.as_raw_fd());
            self.child_fds.extend([r, w]);
            raw
        } else {
            (-1, -1)
        };
        self.ready = (ready_read, 1);
        // The lifeline (see protocol::fd::LIFELINE): the container lives as long as the
        // caller's process, not its spawning thread (PR_SET_PDEATHSIG's), unless detached.
        let lifeline = if init_binary >= 0 && !config.detach {
            let (r, w) = pipe()?;
            self.push(Step::CloseFd(w.as_raw_fd()), attrs, None);
            let raw = r.as_raw_fd();
            self.child_fds.push(r);
            self.parent.lifeline = Some(w);
            raw
        } else {
            -1
        };
        if !config.ports.is_empty() && init_binary >= 0 {
            // Published ports' connector, in the container's network namespace.
            let (ours, theirs) = seqpacket_pair("the port connector")?;
            self.push(Step::CloseFd(ours.as_raw_fd()), attrs, None);
            let step = Step::StartConnector {
                socket: theirs.as_raw_fd(),
                ready: ready_write,
                binary: init_binary,
                bounding: self.bounding,
            };
            self.push(step, SetupStep::Init, None);
            self.child_fds.push(theirs);
            self.parent.connector = Some(ours);
            self.ready.1 += 1;
        }
        if config.detach {
            self.push(Step::ParentDeathSignal(0), attrs, None);
        }
        self.push(Step::BlockSignals, SetupStep::Init, None);
        self.push(
            Step::ForkInit {
                status_fd,
                ready_read,
                ready_write,
                lifeline,
                binary: init_binary,
                bounding: self.bounding,
                shared_memory,
            },
            SetupStep::Init,
            None,
        );
        Ok(())
    }

    /// The child joins the cgroups it was not born in itself, first thing after the id maps:
    /// v1 has no clone-into, and a v1 `cgroup.procs` write by the parent takes the kernel's
    /// threadgroup lock for writing, which waits for an RCU grace period (~10 ms after idle);
    /// a process moving its one thread through `tasks` skips that lock. The cgroup namespace is
    /// then unshared, so that it is rooted at the container's cgroups.
    fn plan_cgroup_join(&mut self, files: Vec<(OwnedFd, PathBuf)>, ns: Namespaces) {
        if files.is_empty() {
            return;
        }
        for (fd, path) in files {
            self.push(Step::JoinCgroup(fd.as_raw_fd()), SetupStep::JoinCgroup, Some(path));
            self.child_fds.push(fd);
        }
        if ns.contains(Namespaces::CGROUP) {
            self.clone_flags &= !(libc::CLONE_NEWCGROUP as u64);
            self.push(Step::Unshare(libc::CLONE_NEWCGROUP), SetupStep::CgroupNamespace, None);
        }
    }

    /// The hostname, the loopback and the bounding set: all that neither the payload nor an
    /// init keeps goes, before an init forks (each drop is a syscall and a credentials copy,
    /// so neither drops it again).
    fn plan_names_and_bounding(&mut self, config: &Config, id: &str) -> Result<()> {
        let init_keeps = if config.has_init() {
            caps::Capability::CAP_KILL.bitmask()
        } else {
            0
        };
        self.drop_bounding(config.capabilities.bits() | init_keeps);
        let ns = config.namespaces;
        if ns.contains(Namespaces::UTS) {
            let name = config.hostname.clone().unwrap_or_else(|| id.into());
            self.push(
                Step::SetHostname(cstring(name.as_bytes())?),
                SetupStep::SetHostname,
                Some(name.into()),
            );
        }
        if ns.contains(Namespaces::NET) && self.premade.is_none() {
            self.push(Step::LoopbackUp, SetupStep::Loopback, Some("lo".into()));
        }
        Ok(())
    }

    /// A new, empty fd slot for a step to fill.
    pub fn new_slot(&mut self) -> usize {
        self.slots.push(-1);
        self.slots.len() - 1
    }

    /// A new slot holding `fd`, which the child inherits (the parent's copy is closed once the
    /// child is cloned).
    pub fn adopt_fd(&mut self, fd: OwnedFd) -> usize {
        let slot = self.new_slot();
        self.slots[slot] = fd.as_raw_fd();
        self.child_fds.push(fd);
        slot
    }

    /// A new fd slot the child opens `path` into, early, in its own mount namespace.
    pub fn open_source(&mut self, path: &Path, label: SetupStep) -> Result<usize> {
        self.open_source_with(path, label, false)
    }

    /// Like [`open_source`](Self::open_source); with `no_follow`, any symlink in the path
    /// fails the step with ELOOP. The names are split here, for the child's walk without
    /// openat2.
    pub fn open_source_with(&mut self, path: &Path, label: SetupStep, no_follow: bool) -> Result<usize> {
        let slot = self.new_slot();
        let no_follow = match no_follow {
            true => Some(
                path.components()
                    .filter_map(|c| match c {
                        std::path::Component::RootDir => None,
                        other => Some(cstring(other.as_os_str().as_bytes())),
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
            false => None,
        };
        let step = Step::OpenSource {
            path: cstring(path.as_os_str().as_bytes())?,
            slot,
            no_follow,
        };
        self.push(step, label, Some(path.to_path_buf()));
        Ok(slot)
    }

    /// Stdio fds: parent ends are kept, child ends duplicated to 3 or above (so the dup2s
    /// into 0, 1, 2 cannot clobber each other) and returned as `(from, to)` pairs.
    fn plan_stdio(&mut self, config: &Config) -> Result<Vec<(RawFd, RawFd)>> {
        let mut dups = Vec::new();
        if config.tty.is_some() {
            // The pty is all three (Step::OpenPty).
            return Ok(dups);
        }
        for (to, stdio) in [(0, &config.stdin), (1, &config.stdout), (2, &config.stderr)] {
            let child_end = match stdio.as_ref().map(|s| &s.0) {
                None | Some(StdioKind::Inherit) => continue,
                Some(StdioKind::Null) => {
                    crate::null_device::open().map_err(|e| Error::io("open /dev/null for stdio", e))?
                }
                Some(StdioKind::Fd(fd)) => fd.try_clone().map_err(|e| Error::io("duplicate stdio fd", e))?,
                Some(StdioKind::Piped) => {
                    let (r, w) = pipe()?;
                    let (child, parent) = if to == 0 { (r, w) } else { (w, r) };
                    self.steps.push(Step::CloseFd(parent.as_raw_fd()));
                    self.labels.push((SetupStep::Stdio, None));
                    match to {
                        0 => self.parent.stdin = Some(ChildStdin::new(parent)),
                        1 => self.parent.stdout = Some(ChildStdout::new(parent)),
                        _ => self.parent.stderr = Some(ChildStderr::new(parent)),
                    }
                    child
                }
            };
            let high = nix::fcntl::fcntl(&child_end, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3))
                .map_err(|e| Error::io("duplicate stdio fd", e))?;
            // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
            let high = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(high) };
            dups.push((high.as_raw_fd(), to));
            self.child_fds.push(high);
        }
        Ok(dups)
    }

    fn plan_exec(&mut self, config: &Config) -> Result<()> {
        let program = config.program.clone();
        let mut env: Vec<(OsString, OsString)> = if config.env_clear {
            Vec::new()
        } else {
            std::env::vars_os().collect()
        };
        for (key, value) in &config.env {
            env.retain(|(k, _)| k != key);
            if let Some(value) = value {
                env.push((key.clone(), value.clone()));
            }
        }
        let candidates = exec_candidates(&program, &search_path(config))?;

        let mut strings = Vec::new();
        strings.push(cstring(program.as_bytes())?);
        for arg in &config.args {
            strings.push(cstring(arg.as_bytes())?);
        }
        let argc = strings.len();
        for (k, v) in env {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            strings.push(cstring(&kv)?);
        }
        let mut argv: Vec<_> = strings[..argc].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<_> = strings[argc..].iter().map(|s| s.as_ptr()).collect();
        envp.push(std::ptr::null());
        // The launcher's argv: see protocol::exec_arg.
        let landlock_fd = self.landlock_fd;
        let (ready_fd, ready_bytes) = self.ready;
        let launcher = (self.binary >= 0).then(|| {
            let number = |n: usize| CString::new(n.to_string()).unwrap_or_default();
            let fd = |fd: RawFd| {
                if fd >= 0 {
                    number(fd as usize)
                } else {
                    protocol::NONE.to_owned()
                }
            };
            let header = vec![
                protocol::EXEC_NAME.to_owned(),
                fd(self.error_fd),
                number(self.steps.len()),
                fd(landlock_fd),
                fd(ready_fd),
                number(ready_bytes),
                match self.pool_gate {
                    true => CString::new(format!("{}{}", protocol::POOL_GATE_PREFIX as char, self.gate_fd))
                        .unwrap_or_default(),
                    false => fd(self.gate_fd),
                },
                number(candidates.len()),
            ];
            debug_assert_eq!(header.len(), protocol::exec_arg::HEADER);
            let mut pointers: Vec<_> = header.iter().chain(&candidates).map(|s| s.as_ptr()).collect();
            pointers.extend_from_slice(&argv);
            self._launcher_strings = header;
            (self.binary, pointers)
        });
        self._strings = strings;
        let step = Step::Exec {
            candidates,
            argv,
            envp,
            launcher,
            error_fd: self.error_fd,
            landlock_fd,
            ready_fd,
            gate_fd: self.gate_fd,
        };
        self.push(step, SetupStep::Exec, Some(PathBuf::from(program)));
        Ok(())
    }
}

/// The `PATH` the payload's environment has (nsbox's default where it has none), which the
/// program is searched in.
fn search_path(config: &Config) -> OsString {
    let set = config
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone());
    let path = match set {
        Some(value) => value,
        None if config.env_clear => None,
        None => std::env::var_os("PATH"),
    };
    path.unwrap_or_else(|| OsString::from(DEFAULT_PATH))
}

/// The paths execve tries, in order: the program itself if it has a `/`, else each `PATH`
/// directory joined with it (empty entries mean the working directory, as in execvp).
pub(crate) fn exec_candidates(program: &OsStr, search: &OsStr) -> Result<Vec<CString>> {
    if program.as_bytes().contains(&b'/') {
        return Ok(vec![cstring(program.as_bytes())?]);
    }
    search
        .as_bytes()
        .split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { b".".as_slice() } else { dir };
            cstring(Path::new(OsStr::from_bytes(dir)).join(program).as_os_str().as_bytes())
        })
        .collect()
}

/// A C string; a validated config has no NUL byte in anything the plan passes here.
pub(crate) fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| {
        Error::io(
            format!("{:?} contains a NUL byte", String::from_utf8_lossy(bytes)),
            std::io::ErrorKind::InvalidInput,
        )
    })
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| Error::io("create pipe", e))
}

/// A close-on-exec SOCK_SEQPACKET pair (messages kept whole, fds passed with them) for `what`.
fn seqpacket_pair(what: &str) -> Result<(OwnedFd, OwnedFd)> {
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
    socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| Error::io(format!("create the socket pair of {what}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_candidates_search_path_only_for_bare_names() {
        let c = exec_candidates(OsStr::new("sh"), OsStr::new("/usr/bin::/bin")).unwrap();
        assert_eq!(
            c,
            [c"/usr/bin/sh".to_owned(), c"./sh".to_owned(), c"/bin/sh".to_owned()]
        );
        let c = exec_candidates(OsStr::new("./run"), OsStr::new("/bin")).unwrap();
        assert_eq!(c, [c"./run".to_owned()]);
    }
}
