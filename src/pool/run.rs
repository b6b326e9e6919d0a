//! What one run of a pooled container may set (see docs/pool.md for why only these).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::stdio::Stdio;

/// The per-run settings of [`Pool::spawn`](crate::Pool::spawn): the command, its arguments,
/// environment and working directory, its stdio, and limits that only tighten the template's.
/// Anything not set here is the template's.
///
/// Everything else (namespaces, root filesystem, mounts, user and ids, capabilities, seccomp,
/// Landlock, rlimits, network) was set up before the run was known: changing it would mean a
/// different container, so it is the template's for every run.
///
/// ```
/// # fn f(pool: &nsbox::Pool) -> nsbox::Result<()> {
/// let output = pool
///     .spawn(|run| {
///         run.command("/bin/echo")
///             .arg("hi")
///             .env("GREETING", "hello")
///             .current_dir("/tmp")
///             .stdout(nsbox::Stdio::piped())
///             .pids_limit(16)
///     })?
///     .wait_with_output()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default, Clone)]
pub struct PoolRun {
    pub(crate) program: Option<OsString>,
    pub(crate) args: Option<Vec<OsString>>,
    pub(crate) env: Vec<(OsString, Option<OsString>)>,
    pub(crate) env_clear: bool,
    pub(crate) cwd: Option<PathBuf>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    pub(crate) memory: Option<u64>,
    pub(crate) pids: Option<u64>,
    pub(crate) cpus: Option<f64>,
}

impl PoolRun {
    /// The program, searched in the run's `PATH` as a cold spawn searches it (default: the
    /// template's command). Setting it drops the template's arguments.
    pub fn command(&mut self, program: impl AsRef<OsStr>) -> &mut Self {
        self.program = Some(program.as_ref().to_owned());
        self.args.get_or_insert_with(Vec::new);
        self
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.get_or_insert_with(Vec::new).push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let list = self.args.get_or_insert_with(Vec::new);
        list.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets a variable on top of the template's environment.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Removes a variable from the template's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts from an empty environment instead of the template's.
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The working directory, a path in the container (default: the template's).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// The payload's stdin (default: the template's; a piped one is a new pipe per run).
    pub fn stdin(&mut self, stdio: Stdio) -> &mut Self {
        self.stdin = Some(stdio);
        self
    }

    /// The payload's stdout (as [`stdin`](Self::stdin)).
    pub fn stdout(&mut self, stdio: Stdio) -> &mut Self {
        self.stdout = Some(stdio);
        self
    }

    /// The payload's stderr (as [`stdin`](Self::stdin)).
    pub fn stderr(&mut self, stdio: Stdio) -> &mut Self {
        self.stderr = Some(stdio);
        self
    }

    /// A memory limit at most the template's
    /// ([`memory_limit`](crate::ContainerBuilder::memory_limit)).
    pub fn memory_limit(&mut self, bytes: u64) -> &mut Self {
        self.memory = Some(bytes);
        self
    }

    /// A process limit at most the template's
    /// ([`pids_limit`](crate::ContainerBuilder::pids_limit)).
    pub fn pids_limit(&mut self, max: u64) -> &mut Self {
        self.pids = Some(max);
        self
    }

    /// A CPU limit at most the template's ([`cpu_limit`](crate::ContainerBuilder::cpu_limit)).
    pub fn cpu_limit(&mut self, cpus: f64) -> &mut Self {
        self.cpus = Some(cpus);
        self
    }
}
