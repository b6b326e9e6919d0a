//! A container created now and started later, as an OCI runtime's `create` and `start` split
//! it: the start gate ([`ContainerBuilder::start_gate`]) and the hooks run once the
//! container's namespaces exist ([`ContainerBuilder::on_created`]).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::ContainerBuilder;

type CreatedHook = dyn Fn(u32) -> io::Result<()> + Send + Sync;

/// The start gate and the created hooks, shared by each builder and config made from them.
#[derive(Clone, Default)]
pub(crate) struct StartControl {
    /// The fd the payload's launcher reads one byte from before it executes the payload.
    pub gate: Option<Arc<OwnedFd>>,
    created: Vec<Arc<CreatedHook>>,
    /// How many of the caller's fds from 3 on the payload inherits (`preserve_fds`).
    pub preserved_fds: u32,
    /// Programs run before `pivot_root` (`before_pivot_root`).
    pub before_pivot: Vec<ProcessHook>,
}

type StdinOf = dyn Fn(u32) -> Vec<u8> + Send + Sync;

/// A program the container's setup process runs in the container's namespaces, with the
/// container's root mounted but before `pivot_root` (the host's paths still resolve), as root
/// of the container: an OCI runtime's `createContainer` hook
/// ([`ContainerBuilder::before_pivot_root`]).
///
/// ```
/// use std::time::Duration;
/// let hook = nsbox::ProcessHook::new("/usr/bin/logger")
///     .args(["logger", "-t", "hook", "container made"])
///     .env(["PATH=/usr/bin:/bin"])
///     .timeout(Duration::from_secs(5))
///     .stdin(|pid| format!("{{\"pid\":{pid}}}").into_bytes());
/// ```
#[derive(Clone)]
pub struct ProcessHook {
    pub(crate) path: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) env: Vec<OsString>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) stdin: Option<Arc<StdinOf>>,
}

impl ProcessHook {
    /// The program, an absolute path as the host sees it (it runs before `pivot_root`); its
    /// argv is just this path unless [`args`](Self::args) says otherwise.
    pub fn new(path: impl AsRef<Path>) -> Self {
        ProcessHook {
            path: path.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            timeout: None,
            stdin: None,
        }
    }

    /// Its whole argv, `argv[0]` included (the OCI spec's `args`).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Its whole environment, `KEY=VALUE` strings (none by default).
    pub fn env<I, S>(mut self, env: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.env = env.into_iter().map(|a| a.as_ref().to_owned()).collect();
        self
    }

    /// Killed (SIGALRM) and the spawn failed once it ran this long; whole seconds, at least one.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// What it reads on stdin, made from the container's host pid (an OCI runtime's state
    /// JSON); at most 64 KiB. Without it, stdin is empty.
    pub fn stdin(mut self, stdin: impl Fn(u32) -> Vec<u8> + Send + Sync + 'static) -> Self {
        self.stdin = Some(Arc::new(stdin));
        self
    }
}

impl fmt::Debug for ProcessHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessHook")
            .field("path", &self.path)
            .field("args", &self.args)
            .field("env", &self.env.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The most a hook's stdin may hold: one pipe buffer, written before the container's setup
/// is released, so the write never waits for the hook.
pub(crate) const HOOK_STDIN_MAX: usize = 64 * 1024;

impl StartControl {
    /// Runs every created hook with the container's host pid, in the order they were added;
    /// stops at the first failure.
    pub fn run_created(&self, pid: u32) -> io::Result<()> {
        self.created.iter().try_for_each(|hook| hook(pid))
    }

    /// Fails unless every preserved fd is open: one that is not could be taken by one of
    /// nsbox's own fds of the spawn, which the payload would then inherit.
    pub fn check_preserved_fds(&self) -> io::Result<()> {
        for fd in 3..3 + self.preserved_fds as i32 {
            // SAFETY: F_GETFD with an integer fd; no memory.
            if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
                return Err(io::Error::other(format!("fd {fd} is to be preserved but is not open")));
            }
        }
        Ok(())
    }
}

impl fmt::Debug for StartControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartControl")
            .field("gate", &self.gate)
            .field("created", &self.created.len())
            .field("preserved_fds", &self.preserved_fds)
            .field("before_pivot", &self.before_pivot)
            .finish()
    }
}

impl ContainerBuilder {
    /// Parks the payload at a start gate: once every setup step is done (mounts, credentials,
    /// capabilities, seccomp, Landlock) and the command was found and is executable,
    /// nsbox's launcher, the process that then executes the payload in place, waits until
    /// it reads one byte from `fd` (a pipe's or FIFO's read end; a FIFO opened read-write
    /// keeps a writer of its own, so nothing but a written byte releases it).
    ///
    /// [`spawn`](Self::spawn) then returns once the container waits, and fails as usual
    /// if a setup step failed; a command that is missing or not executable fails it with
    /// the `Exec` step and `ENOENT` or `EACCES`, so the caller learns it before the start.
    /// What fails after the start (the payload's `execve` itself, if the root changed in
    /// between) cannot be reported: the launcher exits with status 127 (not found) or 126.
    /// If every writer of `fd` is gone before a byte came, the launcher exits with 125
    /// without executing anything.
    ///
    /// The waiting launcher has its own memory (it is a separate, 4 KB program, not a copy
    /// of the caller) and exactly the payload's credentials, capabilities, filters and fds:
    /// whatever could reach it could reach the payload a moment later. This is how an OCI
    /// runtime's `create` returns with the container made and its `start` runs it (runc's
    /// exec FIFO).
    ///
    /// Needs the launcher binary (not on a `vm.memfd_noexec=2` host): `spawn` fails
    /// otherwise.
    ///
    /// ```no_run
    /// use std::io::Write;
    /// let (gate_r, gate_w) = std::io::pipe()?;
    /// let mut container = nsbox::Container::builder()
    ///     .command("/bin/true")
    ///     .start_gate(gate_r.into())
    ///     .spawn()?; // set up, found /bin/true, waiting
    /// (&gate_w).write_all(b"s")?; // now it runs
    /// assert!(container.wait()?.success());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_gate(&mut self, fd: OwnedFd) -> &mut Self {
        self.settings.start.gate = Some(Arc::new(fd));
        self
    }

    /// Runs `hook` in the container's namespaces once its root and mounts are in place and
    /// before `pivot_root` (the host's filesystem still visible, the container's at its
    /// staging place), as the container's root with every capability, waiting for it: an
    /// OCI runtime's `createContainer` hooks. A status other than 0, a signal or its timeout
    /// fails the spawn (`SetupStep::Hook`). Its stdout and stderr are the caller's; its stdin
    /// what [`ProcessHook::stdin`] made of the container's pid. Hooks run in the order added.
    ///
    /// The program runs with the container's privileges before any of the payload's
    /// restrictions: it must be the caller's own, trusted program (a path on the host, not
    /// under `/tmp`: the setup process stages the container's root there, over the host's).
    pub fn before_pivot_root(&mut self, hook: ProcessHook) -> &mut Self {
        self.settings.start.before_pivot.push(hook);
        self
    }

    /// Passes the caller's fds `3 .. 3 + count` to the payload at the same numbers (runc's
    /// `--preserve-fds`; systemd socket activation's `LISTEN_FDS` convention). They must be
    /// open when the container is spawned (else `spawn` fails: nsbox's own fds of the spawn
    /// could take a free number); they are inherited whether or not they are close-on-exec
    /// here. Every other fd of the caller stays out of the container, as always.
    pub fn preserve_fds(&mut self, count: u32) -> &mut Self {
        self.settings.start.preserved_fds = count;
        self
    }

    /// Runs `hook` in the caller with the container's host pid once its namespaces exist
    /// (`/proc/PID/ns/*` are the container's), before anything of the container is set up
    /// inside them: no mount, no pivot to its root, no id change yet. An OCI runtime's
    /// `prestart` and `createRuntime` hooks run here (Docker's network setup moves an
    /// interface into `/proc/PID/ns/net`). A hook that fails kills and reaps the container
    /// and fails the spawn with its error.
    ///
    /// The container's setup waits for the hooks: a hook that never returns blocks the
    /// spawn (the caller's own code, so its own timeouts apply).
    pub fn on_created(&mut self, hook: impl Fn(u32) -> io::Result<()> + Send + Sync + 'static) -> &mut Self {
        self.settings.start.created.push(Arc::new(hook));
        self
    }
}
