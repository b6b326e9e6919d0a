//! Process hardening applied in the child: capabilities, seccomp, resource limits, and the
//! ready-made profiles that combine them with the other settings.

mod bpf;
pub(crate) mod capabilities;
mod capability;
mod docker_profile;
pub(crate) mod landlock;
mod profile;
pub(crate) mod seccomp;
pub(crate) mod seccomp_rules;
mod syscall_tables;

pub(crate) use bpf::Program;
pub use capabilities::{Capabilities, Capability};
pub use landlock::Landlock;
pub use profile::Profile;
pub use seccomp::Seccomp;
pub use seccomp_rules::{SeccompAction, SeccompArch, SeccompCondition, SeccompRule, SeccompRules};
