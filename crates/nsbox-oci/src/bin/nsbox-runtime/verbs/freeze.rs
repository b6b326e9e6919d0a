//! `pause` and `resume`: the container's freezer cgroup.

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
    crate::verbs::adopt(&state)?
        .pause()
        .context("cannot pause the container")
}

pub fn resume(ctx: &mut Ctx, id: &str) -> Result<()> {
    let state = ctx.store.load(id)?;
    match ctx.store.status(&state) {
        Status::Paused => {}
        Status::Stopped => fail!("container not running"),
        _ => fail!("container {id} is not paused"),
    }
    crate::verbs::adopt(&state)?
        .resume()
        .context("cannot resume the container")
}
