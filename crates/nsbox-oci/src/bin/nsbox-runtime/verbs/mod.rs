//! One module per group of runc's verbs.

pub mod create;
pub mod delete;
pub mod exec;
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
