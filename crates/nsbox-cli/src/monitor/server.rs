//! The monitor's control socket: each connection one request, served on its own thread; only
//! this user (or root) may connect.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::socket::{AddressFamily, Backlog, SockFlag, SockType, UnixAddr, accept4, bind, listen, socket, sockopt};

use super::log;
use super::protocol::{ExecRequest, Request, Response, StatsReport};
use crate::fdpass;
use crate::state::{ContainerDir, State};

/// Connections served at once; more are refused (a client cannot make the monitor hold more).
const MAX_CONNECTIONS: usize = 32;

pub struct Shared {
    pub container: Mutex<nsbox::Container>,
    pub dir: ContainerDir,
    pub memory_limit: Option<u64>,
    /// Paused (an exec would freeze in the container's cgroup, holding the lock).
    pub paused: std::sync::atomic::AtomicBool,
}

/// Binds the control socket (replacing a stale one) and serves it on a thread.
pub fn serve(shared: Arc<Shared>) -> std::io::Result<()> {
    let path = shared.dir.control_socket();
    let _ = std::fs::remove_file(&path);
    let sock = socket(AddressFamily::Unix, SockType::SeqPacket, SockFlag::SOCK_CLOEXEC, None)?;
    let addr = UnixAddr::new(&path)?;
    bind(sock.as_raw_fd(), &addr)?;
    listen(&sock, Backlog::new(16)?)?;
    std::thread::spawn(move || accept_loop(sock, shared));
    Ok(())
}

fn accept_loop(sock: OwnedFd, shared: Arc<Shared>) {
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let fd = match accept4(&sock, SockFlag::SOCK_CLOEXEC) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::ECONNABORTED) => continue,
            Err(e) => {
                log(&shared.dir, &format!("control socket: {e}"));
                return;
            }
        };
        if !peer_allowed(&fd) || active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue;
        }
        active.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(active.clone(), std::sync::atomic::AtomicBool::new(false));
        let shared = shared.clone();
        std::thread::spawn(move || serve_one(&fd, &shared, &slot));
    }
}

fn peer_allowed(fd: &OwnedFd) -> bool {
    let me = nix::unistd::geteuid().as_raw();
    nix::sys::socket::getsockopt(fd, sockopt::PeerCredentials).is_ok_and(|c| c.uid() == me || c.uid() == 0)
}

fn serve_one(fd: &OwnedFd, shared: &Shared, slot: &Slot) {
    // Requests carry no fds: any that came are dropped here.
    let Ok((bytes, _fds)) = fdpass::recv(fd) else { return };
    let response = match serde_json::from_slice::<Request>(&bytes) {
        Err(e) => Response::error(crate::error::USAGE, format!("bad request: {e}")),
        Ok(Request::Exec(exec)) => return serve_exec(fd, shared, exec, slot),
        Ok(request) => handle(shared, request),
    };
    reply(fd, &response, &[]);
}

fn reply(fd: &OwnedFd, response: &Response, fds: &[std::os::fd::RawFd]) {
    let _ = fdpass::send(fd, &serde_json::to_vec(response).expect("a response serializes"), fds);
}

fn handle(shared: &Shared, request: Request) -> Response {
    let result = (|| -> nsbox::Result<Response> {
        let mut container = shared.container.lock().expect("not poisoned");
        match request {
            Request::Stop { timeout_secs, signal } => {
                let timeout = Duration::from_secs(timeout_secs);
                match signal.and_then(|s| nsbox::Signal::try_from(s).ok()) {
                    Some(signal) => container.stop_with_signal(signal, timeout)?,
                    None => container.stop(timeout)?,
                };
            }
            Request::Kill { signal } => {
                let signal =
                    nsbox::Signal::try_from(signal).map_err(|_| nsbox::Error::NotRunning { id: String::new() })?;
                container.kill(signal)?;
            }
            Request::Pause => {
                container.pause()?;
                shared.paused.store(true, Ordering::SeqCst);
                set_state(&shared.dir, State::Paused);
            }
            Request::Resume => {
                container.resume()?;
                shared.paused.store(false, Ordering::SeqCst);
                set_state(&shared.dir, State::Running);
            }
            Request::Stats => {
                let s = container.stats()?;
                return Ok(Response {
                    stats: Some(StatsReport {
                        memory_current: s.memory_current,
                        memory_limit: shared.memory_limit,
                        cpu_total_ns: s.cpu_total.map(|d| d.as_nanos()),
                        pids_current: s.pids_current,
                        io_read_bytes: s.io_read_bytes,
                        io_write_bytes: s.io_write_bytes,
                    }),
                    ..Default::default()
                });
            }
            Request::Exec(_) => unreachable!("served by serve_exec"),
        }
        Ok(Response::ok())
    })();
    result.unwrap_or_else(|e| {
        let e = crate::error::CliError::from(e);
        Response::error(e.code, e.message)
    })
}

fn set_state(dir: &ContainerDir, state: State) {
    if let Ok(mut status) = dir.status() {
        status.state = state;
        let _ = dir.write_status(&status);
    }
}

/// Starts the exec (refused while the container is paused: it would freeze with the lock
/// held), answers `started` with its streams (pipes, or the pty's master; nothing for `-d`),
/// releases its connection slot (a long exec must not keep stop and kill out), waits for it,
/// answers its exit code.
fn serve_exec(fd: &OwnedFd, shared: &Shared, request: ExecRequest, slot: &Slot) {
    if shared.paused.load(Ordering::SeqCst) {
        let message = format!(
            "container {} is paused, unpause the container before exec",
            shared.dir.id
        );
        return reply(fd, &Response::error(crate::error::USAGE, message), &[]);
    }
    let Some((program, args)) = request.argv.split_first() else {
        return reply(fd, &Response::error(crate::error::USAGE, "exec needs a command"), &[]);
    };
    let spawned = {
        let container = shared.container.lock().expect("not poisoned");
        let mut exec = container.exec();
        exec.command(program).args(args);
        for (k, v) in &request.env {
            exec.env(k, v);
        }
        if let Some(dir) = &request.workdir {
            exec.current_dir(dir);
        }
        if let Some((uid, gid)) = request.user {
            exec.user(uid, gid);
        }
        if request.tty {
            exec.tty(true);
            if let Some((rows, cols)) = request.tty_size {
                exec.tty_size(rows, cols);
            }
        } else if request.detach {
            exec.stdin(nsbox::Stdio::null())
                .stdout(nsbox::Stdio::null())
                .stderr(nsbox::Stdio::null());
        } else {
            exec.stdout(nsbox::Stdio::piped()).stderr(nsbox::Stdio::piped());
            exec.stdin(if request.interactive {
                nsbox::Stdio::piped()
            } else {
                nsbox::Stdio::null()
            });
        }
        exec.spawn()
    };
    let mut process = match spawned {
        Ok(process) => process,
        Err(e) => {
            let e = crate::error::CliError::from(e);
            return reply(fd, &Response::error(e.code, e.message), &[]);
        }
    };
    let ends = crate::streams::Ends {
        pty: process.take_pty().map(OwnedFd::from),
        stdin: process.take_stdin().map(OwnedFd::from),
        stdout: process.take_stdout().map(OwnedFd::from),
        stderr: process.take_stderr().map(OwnedFd::from),
    };
    let started = Response {
        started: true,
        streams: Some(ends.streams()),
        ..Default::default()
    };
    reply(fd, &started, &ends.raw());
    drop(ends);
    slot.release();
    let code = match process.wait() {
        Ok(status) => super::report::exit_code(status),
        Err(e) => {
            log(&shared.dir, &format!("exec wait: {e}"));
            255
        }
    };
    reply(
        fd,
        &Response {
            exited: true,
            code: Some(code),
            ..Default::default()
        },
        &[],
    );
}

/// A connection's place among the `MAX_CONNECTIONS`; given back once (on release or drop).
struct Slot(Arc<AtomicUsize>, std::sync::atomic::AtomicBool);

impl Slot {
    fn release(&self) {
        if !self.1.swap(true, Ordering::SeqCst) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.release();
    }
}
