//! `pause` and `resume`: the container's freezer cgroup, the one recorded at `create` (not
//! the cgroup its first process is in now, which a container with a writable cgroup mount
//! can move into a cgroup nested in its own, leaving the rest of it running).

use crate::Ctx;
use crate::error::{Context, Result, fail};
use crate::state::Status;

pub fn pause(ctx: &mut Ctx, id: &str) -> Result<()> {
    let state = ctx.store.load(id)?;
    match ctx.store.status(&state) {
        Status::Running | Status::Created => {}
        Status::Paused => fail!("container {id} is already paused"),
        _ => fail!("container not running"),
    }
    crate::cgroup::open(&state.cgroup_path)?
        .freeze()
        .context("cannot pause the container")
}

pub fn resume(ctx: &mut Ctx, id: &str) -> Result<()> {
    let state = ctx.store.load(id)?;
    match ctx.store.status(&state) {
        Status::Paused => {}
        Status::Stopped => fail!("container not running"),
        _ => fail!("container {id} is not paused"),
    }
    crate::cgroup::open(&state.cgroup_path)?
        .thaw()
        .context("cannot resume the container")
}
