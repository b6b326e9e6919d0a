//! One module per group of runc's verbs.

pub mod create;
pub mod delete;
pub mod exec;
mod exec_process;
pub mod features;
pub mod freeze;
pub mod kill;
pub mod query;
pub mod run;
pub mod spec;
pub mod start;
pub mod update;

use oci_spec::runtime::Hooks;

use crate::state::State;

/// The hooks of the config the container was created from.
pub fn bundle_hooks(state: &State) -> Option<Hooks> {
    state.hooks.clone()
}

/// nsbox's handle on the container of `state`, from its bundle's config as `create` built it
/// (`cgroup()` included, so that execs join the container's cgroups and pause has them). The
/// caller has checked the pid's start time.
pub fn adopt(state: &State) -> crate::error::Result<nsbox::Container> {
    let bundle = nsbox_oci::Bundle::open(&state.bundle)?;
    let mut builder = bundle.builder(&nsbox_oci::Options::probe())?;
    builder.cgroup();
    builder
        .adopt(state.pid)
        .map_err(|e| crate::error::Error(format!("cannot attach to container {}: {e}", state.id)))
}
