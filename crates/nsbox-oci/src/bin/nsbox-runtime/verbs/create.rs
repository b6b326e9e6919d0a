//! `create`: the bundle mapped and spawned, the payload parked at the start gate (the FIFO
//! `<root>/<id>/exec.fifo`, as runc's), the state recorded, `createRuntime` and `prestart`
//! hooks run, the pid file written and the terminal sent. Any failure tears down what was made.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nsbox::{Container, Signal};
use nsbox_oci::{Bundle, Options};

use crate::Ctx;
use crate::error::{Context, Error, Result, fail};
use crate::state::{State, Status, hook_json, write_atomic};

/// What `create` and `run` are asked.
pub struct Request<'a> {
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: i32,
    /// `run` without `--detach`: runc then allocates and proxies a terminal itself.
    pub foreground: bool,
}

/// A created container: its handle (this process is its parent).
pub struct Created {
    pub container: Container,
}

pub fn create(ctx: &mut Ctx, req: &Request<'_>) -> Result<Created> {
    if req.no_pivot {
        fail!("--no-pivot is not supported: nsbox always enters the root with pivot_root");
    }
    if req.preserve_fds < 0 {
        fail!("--preserve-fds {}: not a count", req.preserve_fds);
    }
    let dir = ctx.store.make(req.id)?;
    let mut guard = DirGuard(Some(dir));
    let created = build_and_spawn(ctx, req)?;
    guard.0 = None;
    Ok(created)
}

fn build_and_spawn(ctx: &mut Ctx, req: &Request<'_>) -> Result<Created> {
    let bundle = Bundle::open(req.bundle)?;
    let spec = bundle.spec();
    let mut builder = bundle.builder(&Options::probe())?;
    // runc gives every container a cgroup: pause, ps and kill --all need one, found again by
    // its exact path.
    builder.cgroup();
    let cgroup_path = match spec.linux().as_ref().and_then(|l| l.cgroups_path().clone()) {
        Some(path) if !path.as_os_str().is_empty() => crate::cgroup::absolute(&path),
        _ => crate::cgroup::default_path(req.id),
    };
    builder.cgroup_path(&cgroup_path);
    if req.preserve_fds > 0 {
        // Our fds 3..3+N, as the engine passed them (ours, the log's and the gate's, were
        // opened after them and take higher numbers).
        builder.preserve_fds(req.preserve_fds as u32);
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error("process: missing".into()))?;
    let terminal = process.terminal().unwrap_or(false);
    match (terminal, req.console_socket) {
        (true, None) if !req.foreground => {
            fail!("cannot allocate tty if nsbox-runtime will detach without setting console socket")
        }
        (true, None) => fail!("a terminal without --console-socket is not supported: nsbox-runtime does not proxy one"),
        (false, Some(_)) => fail!("cannot use console socket if nsbox-runtime will not detach or allocate tty"),
        _ => {}
    }
    let command = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let hooks = bundle.hooks().cloned().unwrap_or_default();
    let annotations = spec.annotations().clone().unwrap_or_default().into_iter().collect();

    builder.start_gate(make_gate(&ctx.store.fifo(req.id))?);
    let mut state = State {
        id: req.id.to_string(),
        bundle: bundle.dir().to_path_buf(),
        rootfs: bundle.root_dir()?,
        pid: 0,
        pid_start: 0,
        created: crate::time::rfc3339(std::time::SystemTime::now()),
        annotations,
        cgroup_path,
        owner_uid: nix::unistd::getuid().as_raw(),
        hooks: bundle.hooks().cloned(),
    };

    let early_hooks: Vec<_> = [hooks.create_runtime(), hooks.prestart()]
        .into_iter()
        .flat_map(|h| h.clone().unwrap_or_default())
        .collect();
    if !early_hooks.is_empty() {
        // Once the namespaces exist, before anything is set up in them (Docker's
        // libnetwork-setkey moves the container's interface into /proc/PID/ns/net).
        let state = state.clone();
        builder.on_created(move |pid| {
            let state = State { pid, ..state.clone() };
            crate::hooks::run(
                "createRuntime/prestart",
                &early_hooks,
                &hook_json(&state, Status::Creating),
            )
            .map_err(|e| std::io::Error::other(e.0))
        });
    }

    // createContainer hooks: in the container's namespaces before its pivot_root, run by its
    // setup process (ContainerBuilder::before_pivot_root), the state on stdin.
    for hook in hooks.create_container().clone().unwrap_or_default() {
        let state = state.clone();
        let mut process = nsbox::ProcessHook::new(hook.path())
            .env(hook.env().clone().unwrap_or_default())
            .stdin(move |pid| {
                hook_json(&State { pid, ..state.clone() }, Status::Creating)
                    .to_string()
                    .into_bytes()
            });
        if let Some(args) = hook.args().as_ref().filter(|a| !a.is_empty()) {
            process = process.args(args);
        }
        if let Some(seconds) = hook.timeout().filter(|t| *t > 0) {
            process = process.timeout(std::time::Duration::from_secs(seconds as u64));
        }
        builder.before_pivot_root(process);
    }

    if !req.no_new_keyring {
        join_new_session_keyring()?;
    }
    let container = builder.spawn().map_err(|e| crate::error::spawn_error(&e, &command))?;
    ctx.log
        .debug(&format!("container {} spawned as pid {}", req.id, container.pid()));
    let mut teardown = Teardown(Some(container));
    let pid = teardown.pid();
    state.pid = pid;
    state.pid_start = crate::process::stat(pid)
        .map(|s| s.start_time)
        .ok_or_else(|| Error(format!("the container's process {pid} is gone")))?;
    ctx.store.save(&state)?;
    if let Some(socket) = req.console_socket {
        let pty = teardown
            .pty()
            .ok_or_else(|| Error("the container has no terminal to send".into()))?;
        crate::console::send(socket, &pty)?;
    }
    if let Some(path) = req.pid_file {
        write_pid_file(path, pid)?;
    }
    let container = teardown.0.take().expect("armed until here");
    Ok(Created { container })
}

/// The gate: a FIFO the payload holds open for reading (O_RDWR, so opening does not block)
/// until `start` writes a byte to it. 0622 as runc's, so a non-root container user can read it.
fn make_gate(fifo: &Path) -> Result<OwnedFd> {
    nix::unistd::mkfifo(fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context(format_args!("cannot create {}", fifo.display()))?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)
        .context(format_args!("cannot open {}", fifo.display()))?;
    Ok(file.into())
}

/// runc's pid file: the payload's host pid, no newline, written atomically.
pub fn write_pid_file(path: &Path, pid: u32) -> Result<()> {
    let path = std::path::absolute(path).context("pid file")?;
    write_atomic(&path, pid.to_string().as_bytes(), 0o644)
}

/// A new anonymous session keyring for the container (runc makes one unless
/// `--no-new-keyring`): keys are not namespaced, so a container sharing the caller's
/// session keyring could read its keys. Joined by this short-lived process, inherited by
/// the payload.
fn join_new_session_keyring() -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING, NULL) makes and joins an anonymous keyring; no
    // pointer is read.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    match r {
        r if r >= 0 => Ok(()),
        // No keyrings in this kernel, or keyctl blocked by our own seccomp: nothing to share.
        _ if matches!(nix::errno::Errno::last_raw(), libc::ENOSYS | libc::EPERM | libc::EACCES) => Ok(()),
        _ => fail!("cannot make a session keyring: {}", std::io::Error::last_os_error()),
    }
}

/// Removes the state directory unless disarmed.
struct DirGuard(Option<PathBuf>);

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Kills and reaps the spawned container unless disarmed (nsbox then removes its cgroup).
struct Teardown(Option<Container>);

impl Teardown {
    fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, |c| c.pid())
    }

    fn pty(&mut self) -> Option<nsbox::Pty> {
        self.0.as_mut()?.take_pty()
    }
}

impl Drop for Teardown {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill(Signal::SIGKILL);
            let _ = c.wait();
        }
    }
}
