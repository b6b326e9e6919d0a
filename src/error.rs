//! The one public error type and its parts.
//!
//! A caller can tell three things apart: the configuration was refused before anything ran
//! ([`ConfigError`]), a setup step failed between clone and exec ([`SetupError`], naming the step,
//! the path and the errno), or the parent side failed ([`Error::Io`]). A payload that runs and
//! exits non-zero is not an error at all: it is an [`ExitStatus`](crate::ExitStatus).

use std::fmt;
use std::io;
use std::ops::RangeInclusive;
use std::path::PathBuf;

pub use crate::errno::Errno;
pub use crate::hint::Hint;
use crate::idmap::IdMap;
use crate::namespaces::Namespaces;
pub use crate::setting::Setting;
use crate::status::ExitStatus;

/// Everything that can go wrong while configuring, starting or supervising a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration was refused before any syscall was made.
    #[error("invalid container configuration: {0}")]
    Config(#[from] ConfigError),
    /// A setup step failed in the container's setup process; nothing of the payload ran.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// Creating, configuring or using the container's cgroup failed, or a limit cannot be
    /// enforced on this host.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    /// The payload ran and was reaped (its status is here, and
    /// [`Container::wait`](crate::Container::wait) returns it from then on), but cleaning up
    /// after it failed: a cgroup directory left behind, say. Also in
    /// [`Container::cleanup_errors`](crate::Container::cleanup_errors).
    #[error("the container exited ({status}) but cleaning up failed: {}", list(errors))]
    Cleanup {
        /// How the payload ended.
        status: ExitStatus,
        /// Every cleanup step that failed.
        errors: Vec<CleanupError>,
    },
    /// A spawn failed (`error`), and cleaning up after it failed too (`cleanup`). What the
    /// caller should act on is `error`: [`as_setup`](Error::as_setup) and
    /// [`errno`](Error::errno) look through to it.
    #[error("{error}; cleaning up after it failed too: {}", list(cleanup))]
    CleanupAfter {
        /// The failure.
        error: Box<Error>,
        /// Every cleanup step that failed after it.
        cleanup: Vec<CleanupError>,
    },
    /// [`Container::exec`](crate::Container::exec) into a container whose first process has
    /// exited: there are no namespaces left to join.
    #[error("container {id} is not running")]
    NotRunning {
        /// The container's id.
        id: String,
    },
    /// A readiness wait ([`Container::wait_for`](crate::Container::wait_for)) ended without
    /// what it waited for: the timeout, the container's exit, or output it cannot see.
    #[error(transparent)]
    NotReady(#[from] ReadyError),
    /// A warm pool ([`Pool`](crate::Pool)) refused its template or a run's settings.
    #[error(transparent)]
    Pool(#[from] crate::pool::PoolError),
    /// An operation of the parent (supervisor) side failed.
    #[error("{context}: {source}")]
    Io {
        /// What the parent was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: impl Into<io::Error>) -> Self {
        Error::Io {
            context: context.into(),
            source: source.into(),
        }
    }

    /// `self`, or with the cleanup failures that followed it when there are any.
    pub(crate) fn with_cleanup(self, cleanup: Vec<CleanupError>) -> Self {
        match cleanup.is_empty() {
            true => self,
            false => Error::CleanupAfter {
                error: Box::new(self),
                cleanup,
            },
        }
    }

    /// The setup failure, when this error is one (also when cleaning up after it failed).
    pub fn as_setup(&self) -> Option<&SetupError> {
        match self {
            Error::Setup(e) => Some(e),
            Error::CleanupAfter { error, .. } => error.as_setup(),
            _ => None,
        }
    }

    /// The cleanup steps that failed, beside this error or after the exit it reports.
    pub fn cleanup_errors(&self) -> &[CleanupError] {
        match self {
            Error::Cleanup { errors, .. } | Error::CleanupAfter { cleanup: errors, .. } => errors,
            _ => &[],
        }
    }

    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Setup(e) => Some(e.errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            Error::Cgroup(crate::cgroup::CgroupError::Io { source, .. }) => source.raw_os_error().map(Errno::from_raw),
            Error::CleanupAfter { error, .. } => error.errno(),
            Error::NotRunning { .. } => Some(Errno::ESRCH),
            Error::Config(_) | Error::Cgroup(_) | Error::Cleanup { .. } | Error::NotReady(_) => None,
            Error::Pool(_) => None,
        }
    }
}

/// A configuration the builder refuses, found before anything is started.
///
/// Each variant names the [`Setting`] that was refused and, where there is one, the bound it
/// broke, so a caller can match on what was wrong:
///
/// ```
/// use nsbox::{ConfigError, Container, Error, Namespaces, Setting};
/// let err = Container::builder()
///     .namespaces(Namespaces::all() - Namespaces::UTS)
///     .hostname("box")
///     .command("/bin/true")
///     .build()
///     .unwrap_err();
/// match err {
///     Error::Config(ConfigError::NeedsNamespace { setting: Setting::Hostname, namespace }) => {
///         assert_eq!(namespace, Namespaces::UTS)
///     }
///     other => panic!("{other}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting that must be given was not, or is empty: the [`command`](crate::ContainerBuilder::command).
    #[error("{setting} is missing")]
    Missing {
        /// The setting.
        setting: Setting,
    },
    /// A string handed to the kernel contains a NUL byte.
    #[error("{setting} contains a NUL byte")]
    NulByte {
        /// The setting whose value it is.
        setting: Setting,
    },
    /// A path inside the container is not absolute, or climbs with `..`.
    #[error("{setting} {path:?} must be absolute and free of '..'")]
    BadContainerPath {
        /// The setting the path belongs to.
        setting: Setting,
        /// The offending path.
        path: PathBuf,
    },
    /// A namespace-specific setting was given without that namespace.
    #[error("{setting} needs the {} namespace", namespace_name(*.namespace))]
    NeedsNamespace {
        /// The setting, e.g. [`Setting::Hostname`].
        setting: Setting,
        /// The namespace it needs, e.g. [`Namespaces::UTS`].
        namespace: Namespaces,
    },
    /// A number outside the range the setting allows. The unit is the setting's (see
    /// [`Setting`]): bytes for sizes and the hostname's length, ranges for id maps.
    #[error("{setting} must be {}, not {value}", range_text(*.setting, .allowed))]
    OutOfRange {
        /// The setting.
        setting: Setting,
        /// The value given.
        value: u64,
        /// The values allowed.
        allowed: RangeInclusive<u64>,
    },
    /// A value that does not have the form the setting needs.
    #[error("{setting} {value:?} is not {expected}")]
    Malformed {
        /// The setting.
        setting: Setting,
        /// The value given (lossily converted to UTF-8).
        value: String,
        /// What the setting needs, e.g. `a list like "0-3,5"`.
        expected: &'static str,
    },
    /// A setting that works only together with another one, given without it.
    #[error("{setting} needs {requires} as well")]
    Requires {
        /// The setting given.
        setting: Setting,
        /// The setting it needs.
        requires: Setting,
    },
    /// Two settings that cannot hold together.
    #[error("{setting} conflicts with {with}: {why}")]
    Conflict {
        /// The setting refused.
        setting: Setting,
        /// The setting it conflicts with.
        with: Setting,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A setting that weakens isolation, asked for through the safe method: the
    /// `unsafe_`-named method is the way.
    #[error("{setting} would weaken isolation: call {method}() to opt in")]
    NeedsUnsafeOptIn {
        /// The setting.
        setting: Setting,
        /// The builder method that opts in.
        method: &'static str,
    },
    /// The payload's user or group (or a supplementary group) is not mapped by the user
    /// namespace's id map.
    #[error("{setting} {id} is not mapped by the {} map", if *.setting == Setting::User { "uid" } else { "gid" })]
    Unmapped {
        /// [`Setting::User`] (the uid), or [`Setting::Groups`] (the gid or a supplementary group).
        setting: Setting,
        /// The id inside the container.
        id: u32,
    },
    /// An id map range that is empty, or whose end overflows a 32-bit id.
    #[error("{setting} range {range:?} is empty or overflows")]
    EmptyIdRange {
        /// [`Setting::UidMap`] or [`Setting::GidMap`].
        setting: Setting,
        /// The range.
        range: IdMap,
    },
    /// Two ranges of an id map that overlap inside or outside (the kernel refuses them).
    #[error("{setting} ranges {first:?} and {second:?} overlap")]
    OverlappingIdRanges {
        /// [`Setting::UidMap`] or [`Setting::GidMap`].
        setting: Setting,
        /// One range.
        first: IdMap,
        /// The other.
        second: IdMap,
    },
    /// No host id to map container root to was found: a root caller without an /etc/subuid
    /// range, under [`Profile::Sandbox`](crate::Profile::Sandbox), and every candidate id in use.
    #[error("no unused host id to map container root to: {why}")]
    NoUnprivilegedId {
        /// What the search found.
        why: String,
    },
    /// A seccomp deny list names (or a rule policy does not always allow) a syscall that the
    /// launcher (nsbox-exec), which runs after the filter is loaded, needs to start the payload.
    #[error("seccomp policy refuses {syscall:?}, which nsbox needs after the filter to start the payload")]
    SeccompDeniesLauncherSyscall {
        /// The syscall, as named in the list.
        syscall: String,
    },
    /// The seccomp lists make a filter the kernel would not load.
    #[error("seccomp filter cannot be built: {why}")]
    SeccompFilter {
        /// Why (e.g. too many instructions).
        why: String,
    },
    /// An operation that needs the container's cgroup, on a container without one.
    #[error("{operation} needs the container's cgroup: ask for one with .cgroup() or a resource limit")]
    NeedsCgroup {
        /// The operation: `stats`, `pause` or `resume`.
        operation: &'static str,
    },
    /// A limit above what this host has, which the kernel would take but could never reach (or,
    /// for `u64::MAX`, mistake for "no limit"): a [`memory_limit`](crate::ContainerBuilder::memory_limit)
    /// above the installed memory (`MemTotal`), a
    /// [`memory_swap_limit`](crate::ContainerBuilder::memory_swap_limit) above what installed
    /// memory and swap leave beside the memory limit, a
    /// [`cpu_limit`](crate::ContainerBuilder::cpu_limit) above the online CPUs. Checked by
    /// `build()` on the host it runs on (also when a `Config` is deserialized).
    ///
    /// ```
    /// use nsbox::{ConfigError, Container, Error, Setting};
    /// let err = Container::builder().memory_limit(u64::MAX).command("/bin/true").build().unwrap_err();
    /// assert!(matches!(
    ///     err,
    ///     Error::Config(ConfigError::ExceedsHost { setting: Setting::MemoryLimit, value: u64::MAX, .. })
    /// ));
    /// ```
    #[error("{setting} {value}{unit} is more than this host has: {available}{unit}", unit = setting.unit())]
    ExceedsHost {
        /// [`Setting::MemoryLimit`], [`Setting::MemorySwapLimit`] or [`Setting::CpuLimit`].
        setting: Setting,
        /// The value given, in the setting's unit (bytes; thousandths of a CPU).
        value: u64,
        /// The most this host has, in the same unit.
        available: u64,
    },
    /// A CPU or memory node in a [`cpuset_cpus`](crate::ContainerBuilder::cpuset_cpus) or
    /// [`cpuset_mems`](crate::ContainerBuilder::cpuset_mems) list that is not online on this host
    /// (`/sys/devices/system/cpu/online`, `/sys/devices/system/node/online`). A list that does
    /// not parse is [`Malformed`](ConfigError::Malformed) instead.
    #[error("{setting} {list:?} names {} {id}, which is not online (online: {online})", if *.setting == Setting::CpusetMems { "memory node" } else { "CPU" })]
    NotOnline {
        /// [`Setting::CpusetCpus`] or [`Setting::CpusetMems`].
        setting: Setting,
        /// The list given.
        list: String,
        /// The first id in it that is not online.
        id: u32,
        /// The online ones, as the kernel lists them (`0-3`).
        online: String,
    },
    /// An [`rlimit`](crate::ContainerBuilder::rlimit) whose hard limit the setup process could
    /// not set: above its own (inherited from the caller) without `CAP_SYS_RESOURCE` on the
    /// host or inside a new user namespace, or `RLIMIT_NOFILE` above `fs.nr_open`.
    #[error(
        "rlimit {resource} hard limit {hard} is above {allowed}, the most a container of this process can get: {why}"
    )]
    RlimitAboveHost {
        /// The resource.
        resource: crate::rlimit::Resource,
        /// The hard limit given.
        hard: u64,
        /// The most the setup process may set.
        allowed: u64,
        /// Which rule sets that bound.
        why: &'static str,
    },
    // Exec flags (issue 16).
    /// An exec asked for more than its container has
    /// ([`ExecBuilder::cap_add`](crate::ExecBuilder::cap_add) of a capability outside the
    /// container's bounding set): `cap_add` never gives more than the container has
    /// ([`ExecBuilder::cap_grant`](crate::ExecBuilder::cap_grant) does, when asked).
    #[error("{setting} {value} is beyond the container's {what}")]
    BeyondContainer {
        /// The setting, e.g. [`Setting::Capabilities`].
        setting: Setting,
        /// The value asked for (`CAP_SYS_ADMIN`).
        value: String,
        /// What of the container's bounds it, e.g. `bounding set`.
        what: &'static str,
    },
}

fn namespace_name(namespace: Namespaces) -> String {
    match namespace.proc_name() {
        Some("mnt") => "MOUNT".into(),
        Some(name) => name.to_ascii_uppercase(),
        None => format!("{namespace:?}"),
    }
}

fn range_text(setting: Setting, allowed: &RangeInclusive<u64>) -> String {
    let unit = setting.unit();
    match (*allowed.start(), *allowed.end()) {
        (min, u64::MAX) => format!("at least {min}{unit}"),
        (min, max) => format!("within {min}..={max}{unit}"),
    }
}

/// A cleanup step that failed after a container ended or after a failed spawn: what nsbox
/// could not undo, kept beside the failure or the exit status it followed (see
/// [`Error::Cleanup`] and [`Error::CleanupAfter`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action}{}: {} ({errno})", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default(), errno.desc())]
pub struct CleanupError {
    /// What nsbox was undoing.
    pub action: CleanupAction,
    /// The path involved (the cgroup directory), when there is one.
    pub path: Option<PathBuf>,
    /// The errno of the failure.
    pub errno: Errno,
}

impl CleanupError {
    pub(crate) fn new(action: CleanupAction, path: Option<PathBuf>, error: &io::Error) -> Self {
        CleanupError {
            action,
            path,
            errno: error.raw_os_error().map_or(Errno::EIO, Errno::from_raw),
        }
    }
}

/// The cleanup steps nsbox takes, as named by a [`CleanupError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CleanupAction {
    /// Removing one of the container's cgroup directories (the path is the directory).
    RemoveCgroup,
    /// Sending SIGKILL to a container whose spawn failed.
    Kill,
    /// Reaping a container whose spawn failed.
    Reap,
    /// Returning the spawning thread to the caller's network namespace.
    LeaveNetworkNamespace,
    /// Returning the spawning thread to the PID namespace its children were born in
    /// (`ContainerBuilder::join_namespace` with `Namespaces::PID`).
    LeavePidNamespace,
}

impl fmt::Display for CleanupAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CleanupAction::RemoveCgroup => "remove cgroup",
            CleanupAction::Kill => "kill the container",
            CleanupAction::Reap => "reap the container",
            CleanupAction::LeaveNetworkNamespace => "return to the caller's network namespace",
            CleanupAction::LeavePidNamespace => "return to the caller's PID namespace for children",
        })
    }
}

fn list(errors: &[CleanupError]) -> String {
    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A setup step of the container that failed, with the path involved and the kernel's errno.
///
/// ```no_run
/// # use nsbox::{Container, Mount, Error, SetupStep, Errno};
/// let err = Container::builder()
///     .mount(Mount::bind("/no/such/dir", "/data"))
///     .command("/bin/true")
///     .spawn()
///     .unwrap_err();
/// let setup = err.as_setup().unwrap();
/// assert_eq!(setup.step, SetupStep::BindMount);
/// assert_eq!(setup.errno, Errno::ENOENT);
/// assert!(err.to_string().contains("/no/such/dir"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupError {
    /// The step that failed.
    pub step: SetupStep,
    /// The path (or value) the step worked on, when it has one.
    pub path: Option<PathBuf>,
    /// The errno the kernel returned.
    pub errno: Errno,
    /// What the failure means where the errno alone misleads.
    hint: Option<Hint>,
}

impl SetupError {
    /// Step `step` failed on `path` with `errno`; no hint.
    pub(crate) fn new(step: SetupStep, path: Option<PathBuf>, errno: Errno) -> Self {
        SetupError {
            step,
            path,
            errno,
            hint: None,
        }
    }

    /// `self` with `hint`, which the parent worked out after the failure.
    pub(crate) fn with_hint(mut self, hint: Option<Hint>) -> Self {
        self.hint = hint;
        self
    }

    /// What the failure means where the step and errno alone would mislead: the missing ELF
    /// interpreter of a program that is there, the `PATH` a bare command was looked up in, a
    /// program without execute permission, a symlink met in a mount target (see [`Hint`]).
    /// Also printed by `Display`, after the errno.
    ///
    /// ```no_run
    /// # use nsbox::{Container, Hint, InterpreterKind, Rootfs};
    /// // A rootfs with a copy of a dynamic /bin/true but no loader.
    /// let err = Container::builder().rootfs(Rootfs::dir("/srv/tiny")).command("/bin/true").spawn().unwrap_err();
    /// match err.as_setup().and_then(|e| e.hint()) {
    ///     Some(Hint::MissingInterpreter { interpreter, kind: InterpreterKind::Elf, .. }) => {
    ///         println!("copy {} into the rootfs", interpreter.display())
    ///     }
    ///     other => println!("{other:?}"),
    /// }
    /// ```
    pub fn hint(&self) -> Option<&Hint> {
        self.hint.as_ref()
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container setup failed at step '{}'", self.step)?;
        if let Some(path) = &self.path {
            write!(f, " on {}", path.display())?;
        }
        write!(f, ": {} ({})", self.errno.desc(), self.errno)?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SetupError {}

/// The setup steps a container goes through between clone and exec, in their usual order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SetupStep {
    /// Creating the process and its namespaces (clone3 / clone).
    Clone,
    /// Writing the user namespace's uid/gid maps (parent side).
    IdMap,
    /// Waiting for the parent to finish its part.
    WaitForParent,
    /// Joining a running container's namespaces (exec).
    JoinNamespaces,
    /// Setting uid, gid and supplementary groups.
    SetCredentials,
    /// Setting process attributes (parent-death signal, dumpable, no_new_privs).
    ProcessAttributes,
    /// Joining the container's cgroup (the path is the file written).
    JoinCgroup,
    /// Entering a new cgroup namespace after joining the cgroups.
    CgroupNamespace,
    /// Joining an existing network namespace (done by the spawning thread around clone).
    JoinNetwork,
    /// Making every mount private so nothing propagates to the host.
    PrivatePropagation,
    /// Preparing the new root filesystem.
    PrepareRoot,
    /// A bind mount (the path is the source).
    BindMount,
    /// Creating a mount point or mounting a fresh filesystem (the path is the target).
    Mount,
    /// Creating a symlink inside the rootfs.
    Symlink,
    /// Making the root filesystem read-only.
    ReadOnlyRoot,
    /// Entering the new root with pivot_root and detaching the old one.
    PivotRoot,
    /// A program run before `pivot_root` ([`ContainerBuilder::before_pivot_root`](crate::ContainerBuilder::before_pivot_root)):
    /// `ECANCELED` when it exited with another status than 0 or was killed, `ETIMEDOUT` when
    /// its timeout killed it, else the errno of starting it.
    Hook,
    /// Masking a path with /dev/null or an empty tmpfs.
    MaskPath,
    /// Making a path read-only.
    ReadOnlyPath,
    /// Setting the hostname.
    SetHostname,
    /// Bringing the loopback interface up.
    Loopback,
    /// Changing to the working directory.
    Chdir,
    /// Setting a resource limit (the path names the resource).
    Rlimit,
    /// Dropping or setting capabilities.
    Capabilities,
    /// Loading the seccomp filter.
    Seccomp,
    /// Building or enforcing the Landlock ruleset (the path is the rule's).
    Landlock,
    /// Connecting stdin, stdout and stderr.
    Stdio,
    /// Closing every file descriptor not passed to the payload.
    CloseFds,
    /// Resetting the signal mask and handlers.
    Signals,
    /// Starting the PID 1 init that reaps and forwards signals.
    Init,
    /// Executing the payload.
    Exec,
    /// Writing a sysctl in the container's namespaces (the path is its `/proc/sys` file).
    Sysctl,
    /// Setting the NIS domain name.
    SetDomainname,
    /// Making a device node in /dev (`ContainerBuilder::device_node`).
    DeviceNode,
    /// Making an idmapped bind mount ([`Mount::idmap`](crate::Mount::idmap)), in the caller
    /// before the container starts: opening and cloning the source, setting its maps and
    /// flags (the path is the source; `EINVAL` for a filesystem that cannot be idmapped).
    IdmapMount,
    /// Entering a new time namespace with its clock offsets (the path is the file written or
    /// opened: `/proc/self/timens_offsets`, `/proc/self/ns/time_for_children`).
    TimeNamespace,
    // Network devices (issue 16).
    /// Moving a host network device into the container's network namespace, by the caller
    /// before the container is released (the path is the device's name on the host;
    /// `ENODEV` for one that does not exist there, `EEXIST` for a name the container's
    /// namespace already has).
    NetworkDevice,
}

impl fmt::Display for SetupStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            SetupStep::Clone => "clone",
            SetupStep::DeviceNode => "make device node",
            SetupStep::IdmapMount => "make idmapped bind mount",
            SetupStep::TimeNamespace => "enter time namespace",
            SetupStep::NetworkDevice => "move network device",
            SetupStep::IdMap => "write id maps",
            SetupStep::WaitForParent => "wait for parent",
            SetupStep::JoinNamespaces => "join namespaces",
            SetupStep::SetCredentials => "set credentials",
            SetupStep::ProcessAttributes => "set process attributes",
            SetupStep::JoinCgroup => "join cgroup",
            SetupStep::CgroupNamespace => "unshare cgroup namespace",
            SetupStep::JoinNetwork => "join network namespace",
            SetupStep::PrivatePropagation => "make mounts private",
            SetupStep::PrepareRoot => "prepare root",
            SetupStep::BindMount => "bind mount",
            SetupStep::Mount => "mount",
            SetupStep::Symlink => "symlink",
            SetupStep::ReadOnlyRoot => "read-only root",
            SetupStep::PivotRoot => "pivot_root",
            SetupStep::Hook => "run a hook before pivot_root",
            SetupStep::MaskPath => "mask path",
            SetupStep::ReadOnlyPath => "read-only path",
            SetupStep::SetHostname => "set hostname",
            SetupStep::Loopback => "loopback up",
            SetupStep::Chdir => "chdir",
            SetupStep::Rlimit => "set rlimit",
            SetupStep::Capabilities => "set capabilities",
            SetupStep::Seccomp => "load seccomp filter",
            SetupStep::Landlock => "landlock",
            SetupStep::Stdio => "stdio",
            SetupStep::CloseFds => "close fds",
            SetupStep::Signals => "reset signals",
            SetupStep::Init => "start init",
            SetupStep::Exec => "exec",
            SetupStep::Sysctl => "write sysctl",
            SetupStep::SetDomainname => "set domainname",
        };
        f.write_str(name)
    }
}

/// A readiness wait that ended without what it waited for: what was awaited, why it ended,
/// what was seen last and how long it waited.
///
/// ```no_run
/// use std::time::Duration;
/// use nsbox::{Container, Error, NotReadyReason, Ready, Stdio};
/// let mut c = Container::builder()
///     .command("/bin/sh").args(["-c", "echo starting; exit 3"])
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let Err(Error::NotReady(e)) = c.wait_for(Ready::output_contains("ready").timeout(Duration::from_secs(10))) else {
///     panic!()
/// };
/// assert!(matches!(e.reason, NotReadyReason::Exited(status) if status.code() == Some(3)));
/// assert_eq!(e.last_seen.as_deref(), Some("starting"));
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "container not ready: waited {waited:.1?} for {awaited}; {reason}{}",
    last_seen.as_ref().map(|s| format!("; last seen: {s}")).unwrap_or_default()
)]
pub struct ReadyError {
    /// What was awaited, e.g. `tcp port 80 to accept a connection`.
    pub awaited: String,
    /// Why the wait ended.
    pub reason: NotReadyReason,
    /// The last thing the wait saw: the last line of output, the last connect error (e.g.
    /// `127.0.0.1:8080: connection refused`), the last exit status of the command; `None` if
    /// it saw nothing.
    pub last_seen: Option<String>,
    /// How long it waited.
    pub waited: std::time::Duration,
}

/// Why a readiness wait ended without what it waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotReadyReason {
    /// The timeout passed.
    TimedOut,
    /// The container exited first, with this status.
    Exited(ExitStatus),
    /// What was awaited cannot be observed (why): output that is neither piped nor logged, a
    /// network namespace the caller may not join.
    Unobservable(String),
    /// An output wait on pipes kept this many bytes of a stream (the
    /// [`output_limit`](crate::ContainerBuilder::output_limit), or 16 MiB without one)
    /// without a match; everything read is still kept. Logs have no such bound.
    OutputLimit(u64),
}

impl fmt::Display for NotReadyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReadyReason::TimedOut => f.write_str("timed out"),
            NotReadyReason::Exited(status) => write!(f, "the container exited first ({status})"),
            NotReadyReason::Unobservable(why) => write!(f, "cannot be observed: {why}"),
            NotReadyReason::OutputLimit(limit) => write!(f, "kept {limit} bytes of output without a match"),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
