//! A program the container's setup process runs before `pivot_root`: [`ProcessHook`], for
//! [`ContainerBuilder::before_pivot_root`](crate::ContainerBuilder::before_pivot_root) (an OCI
//! runtime's `createContainer` hooks).

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

type StdinOf = dyn Fn(u32) -> Vec<u8> + Send + Sync;

/// A program the container's setup process runs in the container's namespaces, with the
/// container's root mounted but before `pivot_root` (the host's paths still resolve), as root
/// of the container: an OCI runtime's `createContainer` hook
/// ([`ContainerBuilder::before_pivot_root`](crate::ContainerBuilder::before_pivot_root)).
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
