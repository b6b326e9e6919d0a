//! The handle to a running container: wait, signal, stdio, and cleanup on drop.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::unistd::Pid;

use crate::cgroup::{Cgroup, Stats};
use crate::error::{CleanupAction, CleanupError, Error, Result};
use crate::net::{Forwarder, PublishedPort};
use crate::signal::Signal;
pub use crate::status::{ExitStatus, Output};
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout};
use crate::sys;
use crate::timing::SpawnTimings;
use std::net::IpAddr;

/// A started container, like [`std::process::Child`] but held through a pidfd, so a recycled
/// pid can never be signalled or waited for by mistake.
///
/// Dropping the handle kills the container (SIGKILL to its PID 1, which takes the whole PID
/// namespace with it) and reaps it, unless it was built with
/// [`detach`](crate::ContainerBuilder::detach).
///
/// ```no_run
/// use nsbox::{Container, Stdio};
/// use std::io::Read;
/// let mut c = Container::builder()
///     .command("/bin/echo").arg("hello")
///     .stdout(Stdio::piped())
///     .spawn()?;
/// let mut text = String::new();
/// c.take_stdout().unwrap().read_to_string(&mut text).unwrap();
/// assert!(c.wait()?.success());
/// assert_eq!(text, "hello\n");
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug)]
pub struct Container {
    id: String,
    pid: Pid,
    pidfd: OwnedFd,
    /// The init's report of the payload's status (PID namespace with init only).
    status_pipe: Option<OwnedFd>,
    status: Option<ExitStatus>,
    detached: bool,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    cgroup: Option<Cgroup>,
    /// Where a pooled cgroup goes once the payload is reaped (`CgroupPool`): the pool's
    /// thread removes it.
    cgroup_return: Option<crate::cgroup_pool::CgroupReturn>,
    /// The container's mount namespace, held for a `NamespacePool` to release after the reap.
    mount_namespace: Option<crate::namespace_pool::HeldMountNamespace>,
    /// Whether a process was ever exec'd into the container ([`exec`](Self::exec)): its init
    /// lives outside the container's PID namespace, in its cgroup, so the cgroup is removed
    /// (its processes killed) by `wait` itself, never handed back to a pool.
    exec_started: std::sync::atomic::AtomicBool,
    /// The last stats, read just before the cgroup was removed.
    final_stats: Option<Stats>,
    /// From clone until `spawn` saw the payload's exec: the setup process may run on the
    /// caller's memory, so dropping the handle then kills and reaps it, detached or not.
    setup_running: bool,
    /// Whether anyone can still ask for `final_stats` (not when the handle is consumed by
    /// waiting, as in `wait_with_output` and `ContainerBuilder::status`).
    final_stats_wanted: bool,
    timings: SpawnTimings,
    forwarder: Option<Forwarder>,
    /// What `wait_with_output` keeps of each stream (`output_limit`).
    output_limit: Option<u64>,
    /// Cleanup steps that failed once the payload was reaped (see `cleanup_errors`).
    cleanup_errors: Vec<CleanupError>,
    /// The lifeline's write end (see `pid1::protocol::fd::LIFELINE`): while this process
    /// lives, so does the container; held until the handle drops, never passed on (CLOEXEC).
    lifeline: Option<OwnedFd>,
    /// The master side of the payload's terminal (`ContainerBuilder::tty`).
    pty: Option<crate::pty::Pty>,
    /// The container's configuration without its stdio (an fd kept here would stay open as
    /// long as the container), for [`exec`](Self::exec); `None` for an exec'd process.
    config: Option<Box<crate::config::Config>>,
    /// The thread writing the logs (`ContainerBuilder::logs`), and their directory.
    log_writer: Option<crate::logs::LogWriter>,
    log_dir: Option<std::path::PathBuf>,
    /// What output waits read from the piped streams (`ready::output`).
    seen: crate::ready::Seen,
    /// The caller's values kept alive until the payload is reaped (`ContainerBuilder::keep_alive`).
    keep_alive: crate::keep_alive::KeepAlive,
}

impl Container {
    pub(crate) fn new(
        id: String,
        pid: Pid,
        pidfd: OwnedFd,
        status_pipe: Option<OwnedFd>,
        detached: bool,
        cgroup: Option<Cgroup>,
    ) -> Self {
        Container {
            id,
            pid,
            pidfd,
            status_pipe,
            status: None,
            detached,
            stdin: None,
            stdout: None,
            stderr: None,
            cgroup,
            cgroup_return: None,
            mount_namespace: None,
            exec_started: Default::default(),
            final_stats: None,
            setup_running: true,
            final_stats_wanted: true,
            timings: SpawnTimings::default(),
            forwarder: None,
            output_limit: None,
            cleanup_errors: Vec::new(),
            lifeline: None,
            pty: None,
            config: None,
            log_writer: None,
            log_dir: None,
            seen: crate::ready::Seen::default(),
            keep_alive: Default::default(),
        }
    }

    pub(crate) fn set_cgroup_return(&mut self, back: Option<crate::cgroup_pool::CgroupReturn>) {
        self.cgroup_return = back;
    }

    pub(crate) fn hold_mount_namespace(&mut self, held: Option<crate::namespace_pool::HeldMountNamespace>) {
        self.mount_namespace = held;
    }

    /// Notes that a process is being exec'd into the container (see `exec_started`).
    pub(crate) fn mark_exec_started(&self) {
        self.exec_started.store(true, Ordering::Relaxed);
    }

    pub(crate) fn set_pty(&mut self, pty: crate::pty::Pty) {
        self.pty = Some(pty);
    }

    /// The master side of the payload's terminal, with [`tty`](crate::ContainerBuilder::tty).
    pub fn take_pty(&mut self) -> Option<crate::pty::Pty> {
        self.pty.take()
    }

    /// Keeps what [`exec`](Self::exec) needs of the configuration the container was made of.
    pub(crate) fn set_config(&mut self, config: &crate::config::Config) {
        let mut config = config.clone();
        (config.stdin, config.stdout, config.stderr) = (None, None, None);
        // A warm pool's socket (issue 17): the launcher's EOF on it must not wait for this copy.
        config.pool_gate = None;
        // A container's copy keeps no pool (and its refill thread) alive.
        config.namespace_pool = None;
        config.cgroup_pool = None;
        // Held by the container itself, until it is reaped.
        self.keep_alive = std::mem::take(&mut config.keep_alive);
        // An exec gets a terminal only if it asks for one (ExecBuilder::tty).
        config.tty = None;
        self.config = Some(Box::new(config));
    }

    /// The configuration the container was made of (without stdio), and its cgroup.
    pub(crate) fn exec_parts(&self) -> (Option<&crate::config::Config>, Option<&Cgroup>) {
        (self.config.as_deref(), self.cgroup.as_ref())
    }

    /// Whether the first process has exited (reaped or not), without reaping it: its pidfd
    /// reads as readable then.
    pub(crate) fn has_exited(&self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Configures a command to run in this running container, as `docker exec` does: it joins
    /// the container's namespaces and cgroup and gets the payload's privileges and seccomp
    /// filter (see [`ExecBuilder`](crate::ExecBuilder)).
    ///
    /// ```no_run
    /// let container = nsbox::Container::builder().command("/bin/sleep").arg("60").spawn()?;
    /// let status = container.exec().command("/bin/true").status()?;
    /// assert!(status.success());
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn exec(&self) -> crate::exec::ExecBuilder<'_> {
        crate::exec::ExecBuilder::new(self)
    }

    pub(crate) fn set_lifeline(&mut self, lifeline: Option<OwnedFd>) {
        self.lifeline = lifeline;
    }

    /// Closes a piped stdin, so a payload reading it sees EOF (before every wait).
    pub(crate) fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// What `wait_with_output` keeps of each stream.
    #[cfg(feature = "tokio")]
    pub(crate) fn output_limit(&self) -> Option<u64> {
        self.output_limit
    }

    pub(crate) fn set_output_limit(&mut self, limit: Option<u64>) {
        self.output_limit = limit;
    }

    /// The payload executed: from now on a detached handle leaves the container alone.
    pub(crate) fn setup_done(&mut self) {
        self.setup_running = false;
    }

    pub(crate) fn set_forwarder(&mut self, forwarder: Forwarder) {
        self.forwarder = Some(forwarder);
    }

    /// The ports published with [`publish`](crate::ContainerBuilder::publish), with the host port the
    /// kernel picked where 0 was asked. Empty once the container has exited.
    pub fn ports(&self) -> Vec<PublishedPort> {
        self.forwarder.as_ref().map(|f| f.ports().to_vec()).unwrap_or_default()
    }

    /// Whether the host side of `port` (one of [`ports`](Container::ports)) takes connections
    /// now. A TCP port listens only once a connect to the container port succeeded inside, and
    /// stops when one is refused again (see docs/ports.md), so `true` means something listened
    /// inside; a UDP port has no such state and is `true` while the container runs. `false` for
    /// a port this container does not publish, and once it exited.
    ///
    /// A cheap read of the forwarder's state, for polling; a client that connects is told the
    /// same by the kernel (refused until then).
    pub fn port_accepting(&self, port: &PublishedPort) -> bool {
        self.forwarder.as_ref().is_some_and(|f| f.accepting(port))
    }

    /// The host address the published ports listen on (the first port's), if any.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ports().first().map(|p| p.host.ip())
    }

    pub(crate) fn set_timings(&mut self, timings: SpawnTimings) {
        self.timings = timings;
    }

    /// Where the time of this container's spawn went, phase by phase. Empty unless nsbox was
    /// built with the `trace-timing` feature.
    pub fn setup_timings(&self) -> &SpawnTimings {
        &self.timings
    }

    pub(crate) fn set_stdio(
        &mut self,
        stdin: Option<ChildStdin>,
        stdout: Option<ChildStdout>,
        stderr: Option<ChildStderr>,
    ) {
        self.stdin = stdin;
        self.stdout = stdout;
        self.stderr = stderr;
    }

    /// The container's id: 12 random hex digits, also its default hostname.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the container outlives its handle ([`detach`](crate::ContainerBuilder::detach)).
    pub fn is_detached(&self) -> bool {
        self.detached
    }

    /// The host pid of the container's first process (its init, with a PID namespace).
    pub fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// The pidfd of the container's first process.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// Takes the caller's end of a piped stdin.
    pub fn take_stdin(&mut self) -> Option<ChildStdin> {
        self.stdin.take()
    }

    /// Takes the caller's end of a piped stdout. After an output wait
    /// ([`wait_for`](Self::wait_for)) it yields what the wait read first (a new pipe, fed by
    /// a thread until the container's stdout ends).
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        let pipe = self.stdout.take()?;
        match std::mem::take(&mut self.seen.stdout) {
            seen if seen.is_empty() => Some(pipe),
            seen => self.replayed(seen, pipe.0).map(ChildStdout::new),
        }
    }

    /// Takes the caller's end of a piped stderr; as [`take_stdout`](Self::take_stdout) after
    /// an output wait.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        let pipe = self.stderr.take()?;
        match std::mem::take(&mut self.seen.stderr) {
            seen if seen.is_empty() => Some(pipe),
            seen => self.replayed(seen, pipe.0).map(ChildStderr::new),
        }
    }

    /// A pipe replaying `seen`, then `rest`; `None` (and a warning) if no thread can be made.
    fn replayed(&self, seen: Vec<u8>, rest: std::fs::File) -> Option<OwnedFd> {
        match crate::ready::replay(seen, rest) {
            Ok(fd) => Some(fd),
            Err(e) => {
                tracing::warn!(id = self.id, error = %e, "cannot replay the output an output wait read");
                None
            }
        }
    }

    /// The caller's end of a piped stream still held by the handle.
    pub(crate) fn output_pipe(&self, stream: crate::logs::Stream) -> Option<BorrowedFd<'_>> {
        match stream {
            crate::logs::Stream::Stdout => self.stdout.as_ref().map(AsFd::as_fd),
            crate::logs::Stream::Stderr => self.stderr.as_ref().map(AsFd::as_fd),
        }
    }

    /// The same, to read from.
    pub(crate) fn output_pipe_mut(&mut self, stream: crate::logs::Stream) -> Option<&mut std::fs::File> {
        match stream {
            crate::logs::Stream::Stdout => self.stdout.as_mut().map(|p| &mut p.0),
            crate::logs::Stream::Stderr => self.stderr.as_mut().map(|p| &mut p.0),
        }
    }

    /// What output waits read of `stream`.
    pub(crate) fn seen_mut(&mut self, stream: crate::logs::Stream) -> &mut Vec<u8> {
        match stream {
            crate::logs::Stream::Stdout => &mut self.seen.stdout,
            crate::logs::Stream::Stderr => &mut self.seen.stderr,
        }
    }

    /// What `wait_with_output` keeps of each stream.
    pub(crate) fn kept_output_limit(&self) -> Option<u64> {
        self.output_limit
    }

    pub(crate) fn set_log_writer(&mut self, writer: crate::logs::LogWriter, dir: std::path::PathBuf) {
        self.log_writer = Some(writer);
        self.log_dir = Some(dir);
    }

    /// The log directory, with [`logs`](crate::ContainerBuilder::logs).
    pub(crate) fn log_dir(&self) -> Option<std::path::PathBuf> {
        self.log_dir.clone()
    }

    /// A reader of the container's logs (set [`follow`](crate::logs::LogReader::follow),
    /// [`since`](crate::logs::LogReader::since), [`tail`](crate::logs::LogReader::tail) or a
    /// stream filter on it, then read its [`entries`](crate::logs::LogReader::entries)). A
    /// container without [`logs`](crate::ContainerBuilder::logs) has none:
    /// [`ConfigError::Missing`](crate::ConfigError::Missing) for [`Setting::Logs`](crate::Setting::Logs).
    ///
    /// ```no_run
    /// # use nsbox::logs::LogConfig;
    /// let c = nsbox::Container::builder()
    ///     .logs(LogConfig::new("/tmp/ticker-logs"))
    ///     .command("/bin/sh").args(["-c", "for i in 1 2 3; do echo $i; sleep 1; done"])
    ///     .spawn()?;
    /// // Follows the running container to its end.
    /// let lines: Vec<_> = c.logs()?.follow(true).entries()?.map(|e| e.map(|e| e.bytes)).collect::<Result<_, _>>()?;
    /// assert_eq!(lines, [b"1\n", b"2\n", b"3\n"]);
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn logs(&self) -> Result<crate::logs::LogReader> {
        match &self.log_dir {
            Some(dir) => Ok(crate::logs::LogReader::open(dir)),
            None => Err(crate::error::ConfigError::Missing {
                setting: crate::Setting::Logs,
            }
            .into()),
        }
    }

    /// Sends `signal` to the container's first process. With an init, it is forwarded to the
    /// payload; SIGKILL ends the whole container. A container that has already exited is not
    /// an error.
    pub fn kill(&mut self, signal: Signal) -> Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: raw pidfd_send_signal on our own pidfd with no siginfo.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.pidfd.as_raw_fd(),
                signal.as_raw(),
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match ret {
            0 => Ok(()),
            _ if Errno::last() == Errno::ESRCH => Ok(()),
            _ => Err(Error::io(
                format!("send {signal} to container {}", self.id),
                Errno::last(),
            )),
        }
    }

    /// Stops the container as `docker stop` does: its [stop signal](crate::ContainerBuilder::stop_signal)
    /// (SIGTERM unless configured) to the payload (through the init),
    /// up to `timeout` for it to exit, then SIGKILL to the whole container (with a PID
    /// namespace, every process in it). Returns the payload's exit status.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// let mut c = nsbox::Container::builder().command("/bin/sleep").arg("60").spawn()?;
    /// let status = c.stop(Duration::from_secs(10))?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn stop(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let signal = self.config.as_ref().map_or(Signal::SIGTERM, |c| c.stop_signal);
        self.stop_with_signal(signal, timeout)
    }

    /// [`stop`](Self::stop) with another first signal (an image's `STOPSIGNAL`).
    pub fn stop_with_signal(&mut self, signal: Signal, timeout: Duration) -> Result<ExitStatus> {
        self.kill(signal)?;
        if let Some(status) = self.wait_timeout(timeout)? {
            return Ok(status);
        }
        self.kill(Signal::SIGKILL)?;
        self.wait()
    }

    /// Waits for the payload, for a caller that drops the handle right after: the last stats
    /// nobody could ask for are not read.
    pub(crate) fn wait_and_forget_stats(mut self) -> Result<ExitStatus> {
        self.final_stats_wanted = false;
        self.wait()
    }

    /// Waits for the payload to exit. Closes a piped stdin first, so a payload reading it sees
    /// EOF.
    ///
    /// Once the payload is reaped nsbox removes the container's cgroup. If that fails (a
    /// directory left behind), this call returns [`Error::Cleanup`], which carries the exit
    /// status beside every cleanup failure; from then on `wait` returns the status, and
    /// [`cleanup_errors`](Self::cleanup_errors) keeps the failures. The same holds for
    /// [`try_wait`](Self::try_wait), [`wait_timeout`](Self::wait_timeout) and
    /// [`wait_with_output`](Self::wait_with_output) (whose output is then dropped).
    ///
    /// A cgroup taken from a [`CgroupPool`](crate::CgroupPool) by a container with its own
    /// PID namespace (and no exec) is removed by the pool's thread instead, right after this
    /// returns: a failure there is logged and counted in the pool's stats, not returned here.
    pub fn wait(&mut self) -> Result<ExitStatus> {
        self.close_stdin();
        loop {
            if let Some(status) = self.reap(true)? {
                return Ok(status);
            }
        }
    }

    /// The status if the payload has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>> {
        self.reap(false)
    }

    /// Waits at most `timeout` for the payload to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        self.close_stdin();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.reap(false)? {
                return Ok(Some(status));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let ms =
                PollTimeout::try_from(left.as_millis().clamp(1, i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::io("poll the container's pidfd", e)),
            }
        }
    }

    /// Waits for the payload, collecting what it writes to piped stdout and stderr: all of it,
    /// or the first [`output_limit`](crate::ContainerBuilder::output_limit) bytes of each (the rest is
    /// read and discarded, and [`Output::stdout_truncated`] or `stderr_truncated` set).
    pub fn wait_with_output(mut self) -> Result<Output> {
        self.close_stdin();
        self.final_stats_wanted = false;
        let (mut stdout, mut stderr) =
            crate::capture::read_both(self.stdout.take(), self.stderr.take(), self.output_limit)
                .map_err(|e| Error::io("read the container's output", e))?;
        // What output waits read comes first (ready::output).
        let limit = self
            .output_limit
            .map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        for (kept, seen) in [
            (&mut stdout, &mut self.seen.stdout),
            (&mut stderr, &mut self.seen.stderr),
        ] {
            if !seen.is_empty() {
                seen.append(&mut kept.bytes);
                kept.truncated |= seen.len() > limit;
                seen.truncate(limit);
                kept.bytes = std::mem::take(seen);
            }
        }
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout: stdout.bytes,
            stderr: stderr.bytes,
            stdout_truncated: stdout.truncated,
            stderr_truncated: stderr.truncated,
        })
    }

    /// waitid on the pidfd; then, with an init, its report of the payload's own status.
    fn reap(&mut self, block: bool) -> Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        // SAFETY: siginfo_t is plain data filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
        // SAFETY: info is a valid out-pointer; P_PIDFD takes our pidfd as the id.
        let ret = unsafe { libc::waitid(libc::P_PIDFD, self.pidfd.as_raw_fd() as libc::id_t, &mut info, flags) };
        if ret < 0 {
            return match Errno::last() {
                Errno::EINTR => Ok(None),
                e => Err(Error::io(format!("wait for container {}", self.id), e)),
            };
        }
        // SAFETY: waitid filled info; si_pid/si_status are valid for SIGCHLD infos.
        let (pid, code, raw) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        let mut status = ExitStatus::from_siginfo(code, raw);
        // Reaped: its mount tree goes down on the pool's thread (`NamespacePool`).
        if let Some(held) = self.mount_namespace.take() {
            held.release();
        }
        // Reaped: nothing of the container uses the caller's values any more.
        self.keep_alive.release();
        // The listeners go with the container: the port is free again.
        if let Some(mut forwarder) = self.forwarder.take() {
            forwarder.stop();
        }
        // The log writer writes what the pipes still hold and stops (see logs/writer.rs).
        if let Some(mut writer) = self.log_writer.take() {
            writer.finish();
        }
        if let Some(pipe) = self.status_pipe.take() {
            let mut buf = [0u8; crate::pid1::protocol::STATUS_LEN];
            if sys::read_full(pipe.as_raw_fd(), &mut buf) == Ok(buf.len()) {
                status = ExitStatus::from_raw(i32::from_le_bytes(buf));
            }
        }
        if let Some(cgroup) = self.cgroup.take() {
            status = status.with_oom_killed(cgroup.oom_killed());
            if self.final_stats_wanted {
                self.final_stats = Some(cgroup.stats());
            }
            self.status = Some(status);
            // Pooled, with the container's own PID namespace (empty now that its init is
            // reaped): the pool's thread removes it, off this wait's path.
            let back = self
                .cgroup_return
                .take()
                .filter(|_| !self.exec_started.load(Ordering::Relaxed));
            let mut cgroup = match back {
                Some(back) => match back.give_back(&self.id, cgroup) {
                    None => return Ok(Some(status)),
                    Some(cgroup) => cgroup,
                },
                None => cgroup,
            };
            let errors = cgroup.remove();
            if !errors.is_empty() {
                self.cleanup_errors.extend(errors.iter().cloned());
                return Err(Error::Cleanup { status, errors });
            }
        }
        self.status = Some(status);
        Ok(Some(status))
    }

    /// The cleanup steps that failed after the payload was reaped (a cgroup directory that
    /// could not be removed, with its path and errno); empty when everything was cleaned up.
    /// The first wait that reaps the payload also reports them as [`Error::Cleanup`]. (Not
    /// those of a cgroup a [`CgroupPool`](crate::CgroupPool) removes: see [`wait`](Self::wait).)
    pub fn cleanup_errors(&self) -> &[CleanupError] {
        &self.cleanup_errors
    }

    /// Resource usage now; after the container exited, the last reading before its cgroup was
    /// removed. Needs a cgroup: a limit or [`cgroup`](crate::ContainerBuilder::cgroup).
    pub fn stats(&self) -> Result<Stats> {
        match (&self.cgroup, self.final_stats) {
            (Some(cgroup), _) => Ok(cgroup.stats()),
            (None, Some(stats)) => Ok(stats),
            (None, None) => Err(no_cgroup("stats")),
        }
    }

    /// Freezes every process of the container (cgroup freezer); they use no CPU until
    /// [`resume`](Self::resume).
    pub fn pause(&self) -> Result<()> {
        self.cgroup
            .as_ref()
            .ok_or_else(|| no_cgroup("pause"))?
            .set_frozen(true)?;
        Ok(())
    }

    /// Thaws a paused container.
    pub fn resume(&self) -> Result<()> {
        self.cgroup
            .as_ref()
            .ok_or_else(|| no_cgroup("resume"))?
            .set_frozen(false)?;
        Ok(())
    }

    /// SIGKILL and reap, for cleanup paths: returns what failed, for the caller to report
    /// beside the failure that led here.
    pub(crate) fn kill_and_reap(&mut self) -> Vec<CleanupError> {
        let errno = |e: &Error| std::io::Error::from_raw_os_error(e.errno().unwrap_or(crate::errno::Errno::EIO).raw());
        let mut failed = Vec::new();
        if let Err(e) = self.kill(Signal::SIGKILL) {
            failed.push(CleanupError::new(CleanupAction::Kill, None, &errno(&e)));
        }
        match self.wait() {
            Ok(_) => {}
            Err(Error::Cleanup { errors, .. }) => failed.extend(errors),
            Err(e) => failed.push(CleanupError::new(CleanupAction::Reap, None, &errno(&e))),
        }
        failed
    }

    /// After a failure report the setup process exits on its own; reap it.
    pub(crate) fn reap_after_setup_failure(&mut self) -> Vec<CleanupError> {
        self.status_pipe = None;
        self.kill_and_reap()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if self.detached && !self.setup_running {
            if let Some(cgroup) = self.cgroup.take() {
                cgroup.disown();
            }
        } else if self.status.is_none() {
            // Also thaws nothing: SIGKILL reaches frozen processes (Linux 5.x+ and v1 freezer).
            // Nobody is left to tell: a failure can only be logged.
            for e in self.kill_and_reap() {
                tracing::warn!(id = self.id, error = %e, "container cleanup failed");
            }
        }
    }
}

fn no_cgroup(operation: &'static str) -> Error {
    crate::error::ConfigError::NeedsCgroup { operation }.into()
}
