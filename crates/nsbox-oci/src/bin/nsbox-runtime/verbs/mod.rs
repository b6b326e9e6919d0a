//! One module per group of runc's verbs.

pub mod create;
pub mod delete;
pub mod exec;
mod exec_flags;
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
/// (`cgroup()` included, so that execs join the container's cgroups and pause has them).
///
/// The pid's start time is checked again once the handle holds the process by its pidfd: a
/// check made before (the caller's `status`) goes stale if the payload dies and a host process
/// takes its pid meanwhile, and the handle would then exec into that process's namespaces
/// and root, the host's. The start time still matching after the pidfd exists means the
/// pidfd is the container's process (it had the pid all along).
pub fn adopt(state: &State) -> crate::error::Result<nsbox::Container> {
    let bundle = nsbox_oci::Bundle::open(&state.bundle)?;
    let mut builder = bundle.builder(&nsbox_oci::Options::probe())?;
    // The cgroup recorded at create: an exec joins it, whatever cgroup below it the container
    // moved its first process into.
    builder.cgroup().cgroup_path(&state.cgroup_path);
    let container = builder
        .adopt(state.pid)
        .map_err(|e| crate::error::Error(format!("cannot attach to container {}: {e}", state.id)))?;
    if !crate::process::alive(state.pid, state.pid_start) {
        crate::error::fail!("container not running");
    }
    Ok(container)
}
