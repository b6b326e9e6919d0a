//! Running another command in a running container, as `docker exec` does: [`ExecBuilder`]
//! (from [`Container::exec`]) configures it like [`ContainerBuilder`](crate::ContainerBuilder)
//! configures a payload, [`Exec`] is the handle to the process.
//!
//! The process joins every namespace and cgroup of the container and takes the payload's
//! privileges: its user (or a narrower one given here), bounding set, capabilities,
//! no_new_privs, rlimits, a session of its own, its Landlock rules and its seccomp filter. It
//! is executed through the same launcher as the payload, so that `/proc/self/exe` is never the
//! caller's program. See docs/architecture.md, "Exec".

use std::ffi::{OsStr, OsString};
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::container::{Container, ExitStatus, Output};
use crate::error::Result;
use crate::security::{Capabilities, Capability};
use crate::signal::Signal;
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout, Stdio};

/// What an exec was given, as given; `None` for "as the container".
#[derive(Debug, Clone, Default)]
pub(crate) struct ExecSettings {
    pub program: Option<OsString>,
    pub args: Vec<OsString>,
    pub env_clear: bool,
    pub env: Vec<(OsString, Option<OsString>)>,
    pub cwd: Option<PathBuf>,
    pub user: Option<(u32, u32)>,
    pub stdin: Option<Stdio>,
    pub stdout: Option<Stdio>,
    pub stderr: Option<Stdio>,
    /// A terminal of its own (rows, columns).
    pub tty: Option<(u16, u16)>,
    /// Capabilities taken away from the payload's.
    pub cap_drop: Capabilities,
    /// Supplementary groups instead of the payload's (`None`: as the user gives them).
    pub groups: Option<Vec<u32>>,
    /// Forked away, not kept by an nsbox-init ([`ExecBuilder::spawn_detached`]).
    pub detach: bool,
    // Exec flags (issue 16, `crate::exec_flags`).
    /// Capabilities of the container's bounding set given back after `cap_drop`.
    pub cap_add: Capabilities,
    /// How many of the caller's fds from 3 on the process inherits.
    pub preserved_fds: u32,
    /// Sub-cgroups of the container's joined instead of its own: `None` for every hierarchy,
    /// else the v1 hierarchy holding that controller.
    pub cgroups: Vec<(Option<crate::cgroup::Controller>, PathBuf)>,
    /// CPU lists before and after the cgroup join (`process.execCPUAffinity`).
    pub initial_cpus: Option<String>,
    pub final_cpus: Option<String>,
    /// no_new_privs for an exec of a container without it.
    pub no_new_privileges: bool,
    // Exec capability grants (issue 16, `crate::exec_flags`).
    /// Capabilities granted whether or not the container's bounding set has them.
    pub cap_grant: Capabilities,
    /// The ambient set instead of the container's (less what `cap_drop` drops).
    pub ambient: Option<Capabilities>,
}

/// Configures a command to run in a running container; made by [`Container::exec`].
///
/// Defaults are the container's: its environment, working directory and user. As with
/// [`std::process::Command`], stdio is inherited unless set, except by
/// [`output`](Self::output), which captures stdout and stderr.
///
/// ```no_run
/// let container = nsbox::Container::builder().command("/bin/sleep").arg("60").spawn()?;
/// let out = container.exec().command("/bin/hostname").output()?;
/// assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), container.id());
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug)]
pub struct ExecBuilder<'a> {
    container: &'a Container,
    pub(crate) settings: ExecSettings,
}

impl<'a> ExecBuilder<'a> {
    pub(crate) fn new(container: &'a Container) -> Self {
        ExecBuilder {
            container,
            settings: ExecSettings::default(),
        }
    }

    /// The program to run: a path in the container, or a name looked up in the `PATH` of the
    /// exec's environment (a default one without), never the caller's.
    pub fn command(&mut self, program: impl AsRef<OsStr>) -> &mut Self {
        self.settings.program = Some(program.as_ref().to_owned());
        self
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.settings.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.settings
            .args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable, over the container's.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        let value = Some(value.as_ref().to_owned());
        self.settings.env.push((key.as_ref().to_owned(), value));
        self
    }

    /// Removes an environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.settings.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts from an empty environment instead of the container's.
    pub fn env_clear(&mut self) -> &mut Self {
        self.settings.env_clear = true;
        self.settings.env.clear();
        self
    }

    /// The working directory in the container (absolute); default the container's.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.settings.cwd = Some(dir.as_ref().to_owned());
        self
    }

    /// Runs as `uid`:`gid` of the container, without supplementary groups, instead of the
    /// container's user. With a user namespace both must be ids it maps
    /// ([`ConfigError::Unmapped`](crate::ConfigError::Unmapped) otherwise): an exec gets no
    /// more than the container has.
    pub fn user(&mut self, uid: u32, gid: u32) -> &mut Self {
        self.settings.user = Some((uid, gid));
        self
    }

    /// Where the process's stdin comes from (default: inherited).
    pub fn stdin(&mut self, stdio: impl Into<Stdio>) -> &mut Self {
        self.settings.stdin = Some(stdio.into());
        self
    }

    /// Where the process's stdout goes (default: inherited).
    pub fn stdout(&mut self, stdio: impl Into<Stdio>) -> &mut Self {
        self.settings.stdout = Some(stdio.into());
        self
    }

    /// Where the process's stderr goes (default: inherited).
    pub fn stderr(&mut self, stdio: impl Into<Stdio>) -> &mut Self {
        self.settings.stderr = Some(stdio.into());
        self
    }

    /// Gives the process a terminal of its own in the container's devpts, as
    /// [`ContainerBuilder::tty`](crate::ContainerBuilder::tty) does for a payload; its master
    /// is [`Exec::take_pty`]. Stdio settings are then ignored.
    pub fn tty(&mut self, tty: bool) -> &mut Self {
        self.settings.tty = tty.then(|| self.settings.tty.unwrap_or(crate::pty::DEFAULT_SIZE));
        self
    }

    /// The terminal's size in rows and columns (implies [`tty`](Self::tty)).
    pub fn tty_size(&mut self, rows: u16, cols: u16) -> &mut Self {
        self.settings.tty = Some((rows, cols));
        self
    }

    /// Runs the process without `cap`, which the payload may have: an exec can narrow the
    /// payload's privileges; only [`cap_grant`](Self::cap_grant) widens them.
    pub fn cap_drop(&mut self, cap: Capability) -> &mut Self {
        self.settings.cap_add.remove(cap);
        self.settings.cap_grant.remove(cap);
        self.settings.cap_drop.insert(cap);
        self
    }

    /// The supplementary groups of the process, instead of the container's (with
    /// [`user`](Self::user), none unless given here).
    pub fn groups(&mut self, groups: impl IntoIterator<Item = u32>) -> &mut Self {
        self.settings.groups = Some(groups.into_iter().collect());
        self
    }

    /// Starts the process with no nsbox process kept beside it, as an OCI runtime's
    /// `exec --detach` does: the setup process forks it into the container and exits, so its
    /// parent becomes the caller's nearest subreaper (`PR_SET_CHILD_SUBREAPER`; else the
    /// host's init), which reaps it. Returns once it executed its program, with its host pid
    /// and, with [`tty`](Self::tty), its terminal's master.
    ///
    /// No handle watches it: it is not killed with the caller, and its status goes to its new
    /// parent. Its stdio should be files, a tty or [`Stdio::null`]: pipes would be held by
    /// the caller alone.
    pub fn spawn_detached(&mut self) -> Result<DetachedExec> {
        let mut settings = self.settings.clone();
        settings.detach = true;
        crate::spawn::exec_detached(self.container, &settings)
    }

    /// Starts the process. Returns once it has executed its program; a setup failure is a
    /// [`SetupError`](crate::SetupError) naming the step, and a container that is no longer
    /// running is [`Error::NotRunning`](crate::Error::NotRunning).
    pub fn spawn(&mut self) -> Result<Exec> {
        crate::spawn::exec(self.container, &self.settings)
    }

    /// Runs the process to its end and collects its output: stdin is null and stdout and
    /// stderr are captured unless they were set.
    pub fn output(&mut self) -> Result<Output> {
        let mut settings = self.settings.clone();
        settings.stdin.get_or_insert_with(Stdio::null);
        settings.stdout.get_or_insert_with(Stdio::piped);
        settings.stderr.get_or_insert_with(Stdio::piped);
        crate::spawn::exec(self.container, &settings)?.wait_with_output()
    }

    /// Runs the process to its end and returns its status.
    pub fn status(&mut self) -> Result<ExitStatus> {
        self.spawn()?.wait()
    }
}

/// A process started by [`ExecBuilder::spawn_detached`]: its host pid, and its terminal's
/// master when it has one.
#[derive(Debug)]
pub struct DetachedExec {
    /// The process's pid in the caller's PID namespace.
    pub pid: u32,
    /// The master of its terminal ([`ExecBuilder::tty`]).
    pub pty: Option<crate::pty::Pty>,
}

/// A process started in a running container by [`ExecBuilder::spawn`], held through a pidfd
/// like [`Container`].
///
/// It lives in the container's PID namespace (when it has one), so it ends when the
/// container does. Its parent is an nsbox-init of its own, outside the container's PID
/// namespace, which reaps it, forwards signals and reports its status, as the container's init
/// does for the payload. Dropping the handle kills both (SIGKILL) and reaps the init; the
/// container goes on. So does the death of the caller's process.
#[derive(Debug)]
pub struct Exec {
    /// The same waits, signals and stdio as a container's first process; no cgroup and no
    /// status pipe of its own.
    process: Container,
}

impl Exec {
    pub(crate) fn new(process: Container) -> Self {
        Exec { process }
    }

    /// A pidfd of the process's parent, its nsbox-init (which forwards signals and reports the
    /// exit status): readable once the process has exited.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.process.pidfd()
    }

    /// Takes the caller's end of a piped stdin.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.process.take_stdin()
    }

    /// The master side of the process's terminal, with [`ExecBuilder::tty`].
    pub fn take_pty(&mut self) -> Option<crate::pty::Pty> {
        self.process.take_pty()
    }

    /// Takes the caller's end of a piped stdout.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.process.take_stdout()
    }

    /// Takes the caller's end of a piped stderr.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.process.take_stderr()
    }

    /// Sends `signal` to the process (not to the container), through its nsbox-init, which
    /// forwards it; SIGKILL ends that init, and the process with it (its parent death
    /// signal). One that has already exited is not an error.
    pub fn kill(&mut self, signal: Signal) -> Result<()> {
        self.process.kill(signal)
    }

    /// Waits for the process to exit. Closes a piped stdin first.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.process.wait()
    }

    /// The status if the process has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.process.try_wait()
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.process.wait_timeout(timeout)
    }

    /// Waits for the process, collecting what it writes to piped stdout and stderr (bounded by
    /// the container's [`output_limit`](crate::ContainerBuilder::output_limit)).
    pub fn wait_with_output(self) -> Result<Output> {
        self.process.wait_with_output()
    }
}
