//! `linux.memoryPolicy`: nsbox's `MemoryPolicy` (`set_mempolicy(2)` before the payload's
//! credentials change, as runc 1.3 sets it).

use nsbox::{ContainerBuilder, MemoryPolicy, MemoryPolicyMode};
use oci_spec::runtime::{Linux, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::error::Result;

/// Maps `linux.memoryPolicy`; the node list and what the mode needs are `build()`'s to check.
pub(crate) fn memory_policy(b: &mut ContainerBuilder, linux: &Linux) -> Result<()> {
    let Some(p) = linux.memory_policy() else {
        return Ok(());
    };
    let mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => MemoryPolicyMode::Default,
        MemoryPolicyModeType::MpolBind => MemoryPolicyMode::Bind,
        MemoryPolicyModeType::MpolInterleave => MemoryPolicyMode::Interleave,
        MemoryPolicyModeType::MpolWeightedInterleave => MemoryPolicyMode::WeightedInterleave,
        MemoryPolicyModeType::MpolPreferred => MemoryPolicyMode::Preferred,
        MemoryPolicyModeType::MpolPreferredMany => MemoryPolicyMode::PreferredMany,
        MemoryPolicyModeType::MpolLocal => MemoryPolicyMode::Local,
    };
    let mut policy = MemoryPolicy::new(mode).nodes(p.nodes().clone().unwrap_or_default());
    for flag in p.flags().iter().flatten() {
        policy = match flag {
            MemoryPolicyFlagType::MpolFNumaBalancing => policy.numa_balancing(),
            MemoryPolicyFlagType::MpolFRelativeNodes => policy.relative_nodes(),
            MemoryPolicyFlagType::MpolFStaticNodes => policy.static_nodes(),
        };
    }
    b.memory_policy(policy);
    Ok(())
}
