//! `delete [--force]`: a created container is killed (as runc does), a running one only with
//! `--force`; then its cgroup and state go and `poststop` hooks run.

use crate::Ctx;
use crate::error::{Context, Result, fail};
use crate::state::{Status, hook_json};

pub fn delete(ctx: &mut Ctx, id: &str, force: bool) -> Result<()> {
    let state = match ctx.store.load(id) {
        Ok(state) => state,
        // A directory without a readable state (a create that died half-way): removed with
        // --force.
        Err(_) if force && crate::state::check_id(id).is_ok() && ctx.store.dir(id).is_dir() => {
            return std::fs::remove_dir_all(ctx.store.dir(id)).context("cannot remove the state");
        }
        Err(e) => return Err(e),
    };
    match ctx.store.status(&state) {
        Status::Stopped => {}
        Status::Created => kill_and_wait(&state)?,
        status if force => {
            if status == Status::Paused
                && let Ok(cgroup) = crate::cgroup::open(&state.cgroup_path)
            {
                // SIGKILL reaches frozen tasks, but thawed they die at once.
                let _ = cgroup.thaw();
            }
            kill_and_wait(&state)?
        }
        status => fail!("cannot delete container {id} that is not stopped: {}", status.as_str()),
    }
    // Without a PID namespace, processes may outlive the payload: none outlives the cgroup
    // (`remove(true)` kills them, also in cgroups the container nested at any depth or froze
    // itself, and removes those). Already gone when `run` reaped the payload.
    if let Ok(cgroup) = crate::cgroup::open(&state.cgroup_path)
        && let Err(errors) = cgroup.remove(true)
    {
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        fail!("cannot remove the container's cgroup: {}", errors.join("; "));
    }
    if let Some(hooks) = crate::verbs::bundle_hooks(&state).and_then(|h| h.poststop().clone())
        && let Err(e) = crate::hooks::run("poststop", &hooks, &hook_json(&state, Status::Stopped))
    {
        ctx.log.warn(&e.0);
    }
    std::fs::remove_dir_all(ctx.store.dir(id)).context("cannot remove the state")
}

/// SIGKILL to every process of the container, then wait until the payload is gone: reaped,
/// a zombie, or a PID namespace's init finishing its exit (which lasts until every zombie of
/// its namespace is reaped by its parent, the engine's shim).
fn kill_and_wait(state: &crate::state::State) -> Result<()> {
    if let Some(pidfd) = crate::process::open(state.pid, state.pid_start) {
        let _ = crate::process::signal(&pidfd, libc::SIGKILL);
    }
    if let Ok(cgroup) = crate::cgroup::open(&state.cgroup_path) {
        // Also what the container froze itself in cgroups it nested.
        let _ = cgroup.kill_all(nsbox::Signal::SIGKILL);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while crate::process::alive(state.pid, state.pid_start) {
        if std::time::Instant::now() > deadline {
            fail!("container {} did not die after SIGKILL", state.id);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    Ok(())
}
