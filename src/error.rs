//! The one public error type and its parts.
//!
//! A caller can tell three things apart: the configuration was refused before anything ran
//! ([`ConfigError`]), a setup step failed between clone and exec ([`SetupError`], naming the step,
//! the path and the errno), or the parent side failed ([`Error::Io`]). A payload that runs and
//! exits non-zero is not an error at all: it is an [`ExitStatus`](crate::ExitStatus).

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use crate::errno::Errno;

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

    /// The setup failure, when this error is one.
    pub fn as_setup(&self) -> Option<&SetupError> {
        match self {
            Error::Setup(e) => Some(e),
            _ => None,
        }
    }

    /// The errno behind this error, when there is one.
    pub fn errno(&self) -> Option<Errno> {
        match self {
            Error::Setup(e) => Some(e.errno),
            Error::Io { source, .. } => source.raw_os_error().map(Errno::from_raw),
            Error::Cgroup(crate::cgroup::CgroupError::Io { source, .. }) => source.raw_os_error().map(Errno::from_raw),
            Error::Config(_) | Error::Cgroup(_) => None,
        }
    }
}

/// A configuration the builder refuses, found before anything is started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No command was given.
    #[error("no command given")]
    EmptyCommand,
    /// A string handed to the kernel contains a NUL byte.
    #[error("{what} contains a NUL byte")]
    NulByte {
        /// Which value.
        what: String,
    },
    /// A path inside the container is not absolute, or climbs with `..`.
    #[error("container path {path:?} must be absolute and free of '..'")]
    BadContainerPath {
        /// The offending path.
        path: PathBuf,
    },
    /// A namespace-specific setting was given without that namespace.
    #[error("{setting} needs the {namespace} namespace")]
    MissingNamespace {
        /// The setting, e.g. `hostname`.
        setting: &'static str,
        /// The namespace it needs, e.g. `UTS`.
        namespace: &'static str,
    },
    /// A seccomp deny list names a syscall that the launcher (nsbox-exec), which runs after the
    /// filter is loaded, needs to start the payload.
    #[error("seccomp deny list names {syscall:?}, which nsbox needs after the filter to start the payload")]
    SeccompDeniesLauncherSyscall {
        /// The syscall, as named in the list.
        syscall: String,
    },
    /// A value is out of its valid range.
    #[error("{what}: {why}")]
    Invalid {
        /// Which value.
        what: String,
        /// Why it is refused.
        why: String,
    },
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
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container setup failed at step '{}'", self.step)?;
        if let Some(path) = &self.path {
            write!(f, " on {}", path.display())?;
        }
        write!(f, ": {} ({})", self.errno.desc(), self.errno)
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
}

impl fmt::Display for SetupStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            SetupStep::Clone => "clone",
            SetupStep::IdMap => "write id maps",
            SetupStep::WaitForParent => "wait for parent",
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
        };
        f.write_str(name)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
