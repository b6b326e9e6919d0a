//! The per-container monitor (the role conmon or a containerd shim plays): a process of its own
//! session that holds the container handle, and with it the published-port forwarder and the
//! log writer, serves the control socket, records the exit status and removes the container
//! for `--rm`. It is the container's parent: if it dies, the container dies with it (the core's
//! lifeline), and `ps` shows the container as dead.
//!
//! `run` starts it as `nsbox __monitor ID --report-fd N`; it reports the setup result on that
//! socket before the command returns (see [`report`]).

pub mod client;
pub mod launch;
pub mod protocol;
pub mod report;
mod server;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use report::Report;

use crate::configure::configure;
use crate::error::CliError;
use crate::lock::Lock;
use crate::paths::Paths;
use crate::state::{ContainerDir, Process, State, StateRoot};
use crate::time::now_unix;

/// Appends a line to the container's `monitor.log`.
pub fn log(dir: &ContainerDir, line: &str) {
    if let Ok(mut file) = OpenOptions::new().create(true).append(true).open(dir.monitor_log()) {
        let _ = writeln!(file, "{} {line}", crate::time::rfc3339(now_unix()));
    }
}

/// The monitor's life; returns its exit code.
pub fn main(paths: &Paths, id: &str, report: OwnedFd, foreground: bool, first: bool) -> i32 {
    let found = StateRoot::open(paths).and_then(|state| state.find(id).map(|dir| (state, dir)));
    let (state, dir) = match found {
        Ok(found) => found,
        Err(e) => {
            let code = e.code;
            let _ = report::send(
                &report,
                &Report::Failed {
                    code,
                    message: e.message,
                },
                &[],
            );
            return code;
        }
    };
    match start(paths, &state, &dir, &report, foreground) {
        Ok(shared) => supervise(&state, &dir, shared, report),
        Err(Start::Refused(e)) if first => {
            // Refused before anything ran (a bad image config, a limit this host cannot
            // hold): as `docker create` failing, no container is left.
            log(&dir, &format!("refused: {e}"));
            let _ = state.remove(&dir);
            let _ = report::send(
                &report,
                &Report::Failed {
                    code: e.code,
                    message: e.message,
                },
                &[],
            );
            1
        }
        Err(Start::Refused(e) | Start::Failed(e)) => {
            log(&dir, &format!("start failed: {e}"));
            if let Ok(mut status) = dir.status() {
                status.error = Some(e.message.clone());
                status.state = if status.started.is_some() {
                    State::Exited
                } else {
                    State::Created
                };
                status.container = None;
                status.monitor = None;
                let _ = dir.write_status(&status);
            }
            let _ = report::send(
                &report,
                &Report::Failed {
                    code: e.code,
                    message: e.message,
                },
                &[],
            );
            if dir.spec().is_ok_and(|s| s.rm) {
                let _ = state.remove(&dir);
            }
            1
        }
    }
}

/// Why a start failed: its configuration was refused (nothing ran), or a later step failed.
enum Start {
    Refused(CliError),
    Failed(CliError),
}

impl<E: Into<CliError>> From<E> for Start {
    fn from(e: E) -> Start {
        Start::Failed(e.into())
    }
}

/// Spawns the container; records it running and reports `Started`.
fn start(
    paths: &Paths,
    state: &StateRoot,
    dir: &ContainerDir,
    report: &OwnedFd,
    foreground: bool,
) -> std::result::Result<Arc<Shared>, Start> {
    // Held for the monitor's whole life (the fd is close-on-exec: the container never has it).
    let Some(lock) = Lock::try_exclusive(&dir.lock_path())? else {
        return Err(Start::Failed(CliError::new(format!(
            "container {} is already running",
            dir.id
        ))));
    };
    std::mem::forget(lock);
    // A monitor that was killed left its container's cgroups behind: gone before a new start.
    let previous = dir.status()?;
    if previous.state == State::Dead {
        crate::cgroups::remove(&previous.cgroups).map_err(|e| Start::Failed(CliError::new(e)))?;
    }
    let spec = dir.spec()?;
    let store = paths.open_store()?;
    let mut builder = nsbox::Container::builder();
    let run = configure(&mut builder, &spec, dir, &store, state).map_err(Start::Refused)?;
    if spec.tty {
        builder.tty(true);
    } else if foreground {
        // Pipes the command relays, never its own fds (see streams.rs).
        builder.stdout(nsbox::Stdio::piped()).stderr(nsbox::Stdio::piped());
        builder.stdin(if spec.interactive {
            nsbox::Stdio::piped()
        } else {
            nsbox::Stdio::null()
        });
    } else {
        builder.stdin(nsbox::Stdio::null());
        builder.logs(nsbox::logs::LogConfig::new(dir.logs()));
    }
    let config = builder.build().map_err(|e| Start::Refused(e.into()))?;
    let mut container = config.spawn()?;
    let ports = container
        .ports()
        .iter()
        .map(|p| format!("{}->{}/{}", p.host, p.container_port, protocol_name(p.protocol)))
        .collect();
    let mut status = dir.status()?;
    status.state = State::Running;
    status.started = Some(now_unix());
    status.finished = None;
    status.exit_code = None;
    status.error = None;
    status.container = Process::of(container.pid());
    status.monitor = Some(Process::current());
    status.ports = ports;
    status.command = run.argv.clone();
    status.cgroups = crate::cgroups::of_container(container.pid(), &format!("nsbox-{}", container.id()));
    dir.write_status(&status)?;
    let ends = crate::streams::Ends {
        pty: container.take_pty().map(OwnedFd::from),
        stdin: container.take_stdin().map(OwnedFd::from),
        stdout: container.take_stdout().map(OwnedFd::from),
        stderr: container.take_stderr().map(OwnedFd::from),
    };
    let shared = Arc::new(Shared {
        container: Mutex::new(container),
        dir: dir.clone(),
        memory_limit: spec.memory,
        paused: std::sync::atomic::AtomicBool::new(false),
    });
    server::serve(shared.clone()).map_err(|e| Start::Failed(CliError::new(format!("control socket: {e}"))))?;
    // The command may be gone already (killed right after `run -d`): the container runs on.
    let started = Report::Started {
        id: dir.id.clone(),
        streams: ends.streams(),
    };
    let _ = report::send(report, &started, &ends.raw());
    // Our copies go: the command holds the only other ends.
    drop(ends);
    Ok(shared)
}

use server::Shared;

fn protocol_name(protocol: nsbox::Protocol) -> &'static str {
    match protocol {
        nsbox::Protocol::Udp => "udp",
        _ => "tcp",
    }
}

/// Waits for the container; records its exit, reports it, removes it for `--rm`.
fn supervise(state: &StateRoot, dir: &ContainerDir, shared: Arc<Shared>, report: OwnedFd) -> i32 {
    let pidfd = shared
        .container
        .lock()
        .expect("not poisoned")
        .pidfd()
        .try_clone_to_owned()
        .expect("dup the pidfd");
    let status = loop {
        let mut poll = [nix::poll::PollFd::new(pidfd.as_fd(), nix::poll::PollFlags::POLLIN)];
        let _ = nix::poll::poll(&mut poll, nix::poll::PollTimeout::NONE);
        match shared.container.lock().expect("not poisoned").try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) => continue,
            Err(nsbox::Error::Cleanup { status, errors }) => {
                log(dir, &format!("cleanup after the container failed: {errors:?}"));
                break Ok(status);
            }
            Err(e) => break Err(e),
        }
    };
    let oom_killed = status.as_ref().is_ok_and(|s| s.oom_killed());
    let code = match status {
        Ok(status) => report::exit_code(status),
        Err(e) => {
            log(dir, &format!("wait failed: {e}"));
            255
        }
    };
    let _ = std::fs::remove_file(dir.control_socket());
    if let Ok(mut status) = dir.status() {
        status.state = State::Exited;
        status.finished = Some(now_unix());
        status.exit_code = Some(code);
        status.oom_killed = oom_killed;
        status.container = None;
        status.monitor = None;
        status.ports.clear();
        let _ = dir.write_status(&status);
    }
    let _ = report::send(&report, &Report::Exited { code }, &[]);
    if dir.spec().is_ok_and(|s| s.rm)
        && let Err(e) = state.remove(dir)
    {
        log(dir, &format!("--rm: {e}"));
    }
    code
}
