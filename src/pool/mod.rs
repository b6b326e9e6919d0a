//! Warm pools (issue 17): containers set up ahead of time, up to just before their payload's
//! exec, handed out one per run. See docs/pool.md.
//!
//! A parked container is a normal spawn whose launcher (nsbox-exec, see
//! `src/pid1/pool_launcher.rs`) waits on a socket instead of knowing its payload: at handout
//! the pool writes the run's limits into its cgroup and sends it the run's argv, environment,
//! working directory and stdio, and the launcher executes them. Each container runs one
//! payload; a used one is never parked again.

mod error;
mod handout;
mod run;
mod spawner;
mod stats;
mod template;
#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use error::PoolError;
pub use run::PoolRun;
pub use stats::PoolStats;

use crate::ContainerBuilder;
use crate::container::Container;
use crate::error::Result;
use crate::stock::Stock;
use crate::timing::StartKind;
use stats::Counters;
use template::{Parked, Template};

/// Containers of one template, set up ahead of time and handed out one per run: a spawn from
/// a pool is left with only the payload's exec (no namespaces, mounts, cgroup or seccomp
/// filter to make).
///
/// A background thread keeps `size` containers parked, never more; each is used by one
/// [`spawn`](Self::spawn) and never again. When none is parked (the thread could not keep
/// up, or could not set one up) a spawn starts a container cold, as
/// [`ContainerBuilder::spawn`] would, and its
/// [`setup_timings().start()`](crate::SpawnTimings::start) says
/// [`StartKind::PoolFallback`]; [`stats`](Self::stats) counts both kinds.
///
/// Per run, only the payload's command, arguments, environment, working directory, stdio
/// and limits that tighten the template's may change ([`PoolRun`]): everything else was set
/// up before the run was known. Dropping the pool stops the thread and kills, reaps and
/// removes the cgroup of every container still parked.
///
/// ```no_run
/// use nsbox::{Container, Pool, Stdio};
/// let mut template = Container::builder();
/// template.pids_limit(64).stdout(Stdio::piped());
/// let pool = Pool::new(template, 4)?;
/// let out = pool.spawn(|run| run.command("/bin/echo").arg("warm"))?.wait_with_output()?;
/// assert_eq!(out.stdout, b"warm\n");
/// # Ok::<(), nsbox::Error>(())
/// ```
pub struct Pool {
    template: Arc<Template>,
    /// Parked containers, kept by the stock's thread ("nsbox-pool").
    stock: Stock<Parked, ()>,
    counters: Counters,
}

impl Pool {
    /// A pool keeping `size` containers of `template` parked (see [`Pool`]). The template is
    /// checked as [`build`](ContainerBuilder::build) checks it; it needs no command (each run
    /// names one), and may not have a [`tty`](ContainerBuilder::tty),
    /// [`logs`](ContainerBuilder::logs), [`detach`](ContainerBuilder::detach) or a
    /// [`start_gate`](ContainerBuilder::start_gate) ([`PoolError::Template`]). Its seccomp
    /// policy must let the pooled launcher run (`recvmsg`, `mmap`, `dup3`, `chdir`, `prctl`
    /// besides what every launcher needs), and its payloads inherit that policy, so nothing is
    /// added to it: an allow list must name all five, and one that does not, or a deny list naming
    /// one, is refused with [`ConfigError::SeccompDeniesLauncherSyscall`](crate::ConfigError::SeccompDeniesLauncherSyscall).
    ///
    /// Returns at once; the thread parks the containers in the background.
    pub fn new(template: ContainerBuilder, size: usize) -> Result<Pool> {
        if size == 0 {
            return Err(PoolError::Empty.into());
        }
        let template = Arc::new(Template::new(template)?);
        let maker = Arc::clone(&template);
        // Nothing is given back: a used container is its caller's.
        let stock = Stock::start("nsbox-pool", size, move || park(&maker), |()| true)?;
        Ok(Pool {
            template,
            stock,
            counters: Counters::default(),
        })
    }

    /// Starts one run: `configure` sets what differs from the template ([`PoolRun`]); the
    /// container is a parked one if there is one, else a cold start. Returns, as
    /// [`ContainerBuilder::spawn`] does, once the payload's `execve` succeeded, or with the
    /// error a cold spawn gives (a missing command: [`SetupStep::Exec`](crate::SetupStep)
    /// with `ENOENT`).
    pub fn spawn(&self, configure: impl FnOnce(&mut PoolRun) -> &mut PoolRun) -> Result<Container> {
        let mut run = PoolRun::default();
        configure(&mut run);
        let template = &self.template;
        loop {
            let prepared = template.prepare(&run)?;
            let Some(parked) = self.stock.take(|_| true) else { break };
            // A parked container is used up whether or not its run could be executed: a failed
            // handout is a hit, as a failed cold start is a cold start.
            let hit = || Counters::add(&self.counters.hits);
            match handout::hand_out(parked, prepared, &template.config) {
                Ok(Some(container)) => {
                    hit();
                    return Ok(container);
                }
                Ok(None) => Counters::add(&self.counters.discarded),
                Err(e) => {
                    hit();
                    return Err(e);
                }
            }
        }
        let mut container = template.cold(template.prepare(&run)?)?;
        let timings = container.setup_timings().clone();
        container.set_timings(timings.started(StartKind::PoolFallback, None));
        Ok(container)
    }

    /// The pool's counters now.
    pub fn stats(&self) -> PoolStats {
        self.counters.snapshot(&self.stock.counts())
    }

    /// How many containers the pool keeps parked.
    pub fn size(&self) -> usize {
        self.stock.size()
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("template", &self.template)
            .field("stats", &self.stats())
            .finish()
    }
}

/// Sets up one container: on the stock's thread if the template has an init, else on the
/// spawner thread, whose death alone (the process's) kills it (see `spawner`).
fn park(template: &Arc<Template>) -> Result<Parked> {
    if template.config.has_init() {
        return template.park();
    }
    let template = Arc::clone(template);
    spawner::on_lasting_thread(move || template.park())
        .map_err(|e| crate::Error::io("park a container on the pool's spawner thread", e))?
}
