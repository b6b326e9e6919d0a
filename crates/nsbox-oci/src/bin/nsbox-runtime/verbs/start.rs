//! `start`: one byte through the gate's FIFO lets the parked payload exec; the FIFO is then
//! removed (its absence is what "started" means), and `poststart` hooks run.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use crate::Ctx;
use crate::error::{Result, fail};
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
    if let Err(e) = gate.write_all(&[0]) {
        fail!("cannot open the start gate of {id}: {e}");
    }
    drop(gate);
    let _ = std::fs::remove_file(&fifo);
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
