//! `start`: the gate's FIFO opened and removed (its absence is what "started" means; the
//! removal claims the start), `startContainer` hooks run, then one byte through the FIFO lets
//! the parked payload exec, and `poststart` hooks run.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::Ctx;
use crate::error::{Context, Result, fail};
use crate::state::{Status, hook_json};

pub fn start(ctx: &mut Ctx, id: &str) -> Result<()> {
    let state = ctx.store.load(id)?;
    match ctx.store.status(&state) {
        Status::Created => {}
        Status::Stopped => fail!("cannot start a container that has stopped"),
        Status::Running | Status::Paused | Status::Creating => fail!("cannot start an already running container"),
    }
    let fifo = ctx.store.fifo(id);
    // Non-blocking: ENXIO if nobody holds the FIFO for reading, i.e. nothing waits at the
    // gate any more (a payload that died, or another `start` that won).
    let mut gate = match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&fifo)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {
            fail!("cannot start container {id}: nothing waits at its start gate (not in created state)")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail!("cannot start an already running container"),
        Err(e) => fail!("cannot open {}: {e}", fifo.display()),
    };
    // The start is claimed by removing the FIFO (its absence is what "started" means): of
    // two racing `start`s that both opened it, exactly one removes it, and only that one runs
    // the hooks and opens the gate through the fd it holds.
    match std::fs::remove_file(&fifo) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail!("cannot start an already running container"),
        Err(e) => fail!("cannot remove {}: {e}", fifo.display()),
    }
    if let Err(e) = start_container_hooks(&state) {
        // The spec: stop the container; `delete` finishes it.
        if let Some(pidfd) = crate::process::open(state.pid, state.pid_start) {
            let _ = crate::process::signal(&pidfd, libc::SIGKILL);
        }
        return Err(e);
    }
    if let Err(e) = gate.write_all(&[0]) {
        fail!("cannot open the start gate of {id}: {e}");
    }
    drop(gate);
    poststart(ctx, &state)
}

/// `poststart` hooks: a failure is a warning, as the spec says.
fn poststart(ctx: &mut Ctx, state: &crate::state::State) -> Result<()> {
    let hooks = crate::verbs::bundle_hooks(state);
    if let Some(hooks) = hooks.as_ref().and_then(|h| h.poststart().clone())
        && let Err(e) = crate::hooks::run("poststart", &hooks, &hook_json(state, Status::Running))
    {
        ctx.log.warn(&e.0);
    }
    Ok(())
}

/// `startContainer` hooks: run in the container (its namespaces, its root: the path is the
/// container's) once `start` is called and before the payload runs, each exec'd into the
/// parked container with the state on its stdin; a failure fails `start`.
fn start_container_hooks(state: &crate::state::State) -> Result<()> {
    let hooks = crate::verbs::bundle_hooks(state)
        .and_then(|h| h.start_container().clone())
        .unwrap_or_default();
    if hooks.is_empty() {
        return Ok(());
    }
    let container = crate::verbs::adopt(state)?;
    let input = hook_json(state, Status::Created).to_string();
    for (i, hook) in hooks.iter().enumerate() {
        let what = format!("startContainer hook #{i} ({})", hook.path().display());
        let (stdin, mut feed) = std::io::pipe().context(&what)?;
        let mut exec = container.exec();
        exec.command(hook.path())
            .args(hook.args().iter().flatten().skip(1))
            .env_clear()
            .stdin(stdin)
            .stdout(nsbox::Stdio::null())
            .stderr(nsbox::Stdio::null());
        for entry in hook.env().iter().flatten() {
            if let Some((k, v)) = entry.split_once('=') {
                exec.env(k, v);
            }
        }
        let mut running = exec.spawn().context(&what)?;
        let input = input.clone();
        // A thread: a hook that does not read its stdin must not block us.
        std::thread::spawn(move || {
            let _ = feed.write_all(input.as_bytes());
        });
        let timeout = hook.timeout().map(|t| std::time::Duration::from_secs(t.max(0) as u64));
        let status = match timeout {
            Some(t) => match running.wait_timeout(t).context(&what)? {
                Some(status) => status,
                None => {
                    let _ = running.kill(nsbox::Signal::SIGKILL);
                    let _ = running.wait();
                    fail!("{what}: timed out after {}s", t.as_secs());
                }
            },
            None => running.wait().context(&what)?,
        };
        if !status.success() {
            fail!("{what}: {status}");
        }
    }
    Ok(())
}
