//! A container created now and started later, as an OCI runtime's `create` and `start` split
//! it: the start gate ([`ContainerBuilder::start_gate`]) and the hooks run once the
//! container's namespaces exist ([`ContainerBuilder::on_created`]).

use std::fmt;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use crate::ContainerBuilder;
pub(crate) use crate::process_hook::HOOK_STDIN_MAX;
use crate::process_hook::ProcessHook;

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

impl StartControl {
    /// Runs every created hook with the container's host pid, in the order they were added;
    /// stops at the first failure.
    pub fn run_created(&self, pid: u32) -> io::Result<()> {
        self.created.iter().try_for_each(|hook| hook(pid))
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
