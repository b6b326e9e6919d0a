//! NUMA memory policy and CPU affinity: [`MemoryPolicy`] for a container's processes
//! ([`ContainerBuilder::memory_policy`], the runtime spec's `linux.memoryPolicy`), and the
//! CPU masks an exec runs on before and after it joins the container's cgroups
//! ([`ExecBuilder::cpu_affinity`](crate::ExecBuilder::cpu_affinity), `process.execCPUAffinity`).
//!
//! Both are set by the setup process with one raw syscall on a mask the parent made:
//! `set_mempolicy(2)` right before the credentials change (the policy is inherited across
//! fork and execve), `sched_setaffinity(2)` around the exec's cgroup join.

use crate::ContainerBuilder;
use crate::error::{ConfigError, Setting};

/// The most CPUs or memory nodes a mask holds (glibc's `CPU_SETSIZE`, the kernel's usual
/// `MAX_NUMNODES` bound).
pub(crate) const MASK_BITS: usize = 1024;

/// A CPU or node mask in the kernel's layout: bit N of word N / 64.
pub(crate) type Mask = [u64; MASK_BITS / 64];

/// `list` (`0-3,5`) as a mask; `None` if it does not parse or names an id of
/// [`MASK_BITS`] or more.
pub(crate) fn mask_of(list: &str) -> Option<Mask> {
    let mut mask = [0u64; MASK_BITS / 64];
    if list.is_empty() {
        return Some(mask);
    }
    let number = |s: &str| match !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        true => s.parse::<usize>().ok().filter(|n| *n < MASK_BITS),
        false => None,
    };
    for part in list.split(',') {
        let (first, last) = match part.split_once('-') {
            None => (number(part)?, number(part)?),
            Some((a, b)) => (number(a)?, number(b)?),
        };
        if first > last {
            return None;
        }
        for id in first..=last {
            mask[id / 64] |= 1 << (id % 64);
        }
    }
    Some(mask)
}

/// The policy modes of `set_mempolicy(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum MemoryPolicyMode {
    /// `MPOL_DEFAULT`: the system default (allocate on the local node); no nodes.
    Default,
    /// `MPOL_PREFERRED`: the one node given first (none: the local node), others when it is full.
    Preferred,
    /// `MPOL_BIND`: only the nodes given.
    Bind,
    /// `MPOL_INTERLEAVE`: round-robin over the nodes given.
    Interleave,
    /// `MPOL_LOCAL` (Linux 3.8): the node of the CPU allocating; no nodes.
    Local,
    /// `MPOL_PREFERRED_MANY` (Linux 5.15): the nodes given first, others when they are full.
    PreferredMany,
    /// `MPOL_WEIGHTED_INTERLEAVE` (Linux 6.9): interleave by the nodes' weights.
    WeightedInterleave,
}

impl MemoryPolicyMode {
    fn value(self) -> i32 {
        match self {
            MemoryPolicyMode::Default => 0,
            MemoryPolicyMode::Preferred => 1,
            MemoryPolicyMode::Bind => 2,
            MemoryPolicyMode::Interleave => 3,
            MemoryPolicyMode::Local => 4,
            MemoryPolicyMode::PreferredMany => 5,
            MemoryPolicyMode::WeightedInterleave => 6,
        }
    }
}

/// A NUMA memory policy for every process of a container (`set_mempolicy(2)`), as the
/// runtime spec's `linux.memoryPolicy` gives it: a mode, the memory nodes (a list like
/// `"0-1"`) and mode flags.
///
/// ```
/// use nsbox::{MemoryPolicy, MemoryPolicyMode};
/// let policy = MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("0");
/// let mut builder = nsbox::Container::builder();
/// builder.command("/bin/true").memory_policy(policy);
/// assert!(builder.build().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemoryPolicy {
    mode: MemoryPolicyMode,
    nodes: String,
    flags: u32,
}

/// `MPOL_F_STATIC_NODES`, `MPOL_F_RELATIVE_NODES`, `MPOL_F_NUMA_BALANCING` (uapi mempolicy.h).
const MPOL_F_STATIC_NODES: u32 = 1 << 15;
const MPOL_F_RELATIVE_NODES: u32 = 1 << 14;
const MPOL_F_NUMA_BALANCING: u32 = 1 << 13;

impl MemoryPolicy {
    /// A policy of `mode`, no nodes, no flags.
    pub fn new(mode: MemoryPolicyMode) -> Self {
        MemoryPolicy {
            mode,
            nodes: String::new(),
            flags: 0,
        }
    }

    /// The memory nodes, a list like `"0-3,5"` (required by `Bind`, `Interleave`,
    /// `PreferredMany` and `WeightedInterleave`; refused with `Default` and `Local`).
    pub fn nodes(mut self, list: impl Into<String>) -> Self {
        self.nodes = list.into();
        self
    }

    /// `MPOL_F_STATIC_NODES`: the nodes are not remapped when the cpuset's change.
    pub fn static_nodes(mut self) -> Self {
        self.flags |= MPOL_F_STATIC_NODES;
        self
    }

    /// `MPOL_F_RELATIVE_NODES`: the nodes are relative to the cpuset's.
    pub fn relative_nodes(mut self) -> Self {
        self.flags |= MPOL_F_RELATIVE_NODES;
        self
    }

    /// `MPOL_F_NUMA_BALANCING` (Linux 5.12, with `Bind`; 6.? with `PreferredMany`): NUMA
    /// balancing may migrate pages within the nodes.
    pub fn numa_balancing(mut self) -> Self {
        self.flags |= MPOL_F_NUMA_BALANCING;
        self
    }

    /// `build()`'s check: a node list that parses, nodes where the mode needs them and none
    /// where it takes none, not both of the static and relative flags.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let malformed = |expected| ConfigError::Malformed {
            setting: Setting::MemoryPolicy,
            value: format!("{:?} nodes {:?}", self.mode, self.nodes),
            expected,
        };
        let mask = mask_of(&self.nodes).ok_or(malformed("a node list like \"0-1\" (nodes below 1024)"))?;
        let empty = mask.iter().all(|w| *w == 0);
        match self.mode {
            MemoryPolicyMode::Default | MemoryPolicyMode::Local if !empty => {
                return Err(malformed("without nodes for this mode"));
            }
            MemoryPolicyMode::Bind
            | MemoryPolicyMode::Interleave
            | MemoryPolicyMode::PreferredMany
            | MemoryPolicyMode::WeightedInterleave
                if empty =>
            {
                return Err(malformed("a non-empty node list for this mode"));
            }
            _ => {}
        }
        let both = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES;
        if self.flags & both == both {
            return Err(malformed("given only one of static_nodes and relative_nodes"));
        }
        Ok(())
    }

    /// `set_mempolicy`'s mode argument (flags in) and node mask.
    pub(crate) fn syscall_args(&self) -> (i32, Box<Mask>) {
        let mask = mask_of(&self.nodes).unwrap_or([0; MASK_BITS / 64]);
        (self.mode.value() | self.flags as i32, Box::new(mask))
    }
}

// NUMA memory policy (issue 16).
impl ContainerBuilder {
    /// Sets the NUMA memory policy of the container's processes (`set_mempolicy(2)` by the
    /// payload's process before its credentials change; inherited by everything it starts,
    /// and given to execs too): the runtime spec's `linux.memoryPolicy`. `build()` checks the
    /// list and the mode's needs ([`ConfigError::Malformed`]); nodes the kernel refuses (not
    /// online, outside the container's cpuset) fail the spawn at that step (`EINVAL`).
    pub fn memory_policy(&mut self, policy: MemoryPolicy) -> &mut Self {
        self.settings.memory_policy = Some(policy);
        self
    }
}

/// A mask as the list it names (`0-3,5`), for plans.
pub(crate) fn render(mask: &Mask) -> String {
    let mut out = Vec::new();
    let mut id = 0;
    while id < MASK_BITS {
        if mask[id / 64] & (1 << (id % 64)) == 0 {
            id += 1;
            continue;
        }
        let first = id;
        while id + 1 < MASK_BITS && mask[(id + 1) / 64] & (1 << ((id + 1) % 64)) != 0 {
            id += 1;
        }
        out.push(match first == id {
            true => first.to_string(),
            false => format!("{first}-{id}"),
        });
        id += 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_become_masks() {
        let mask = mask_of("0-2,64,1023").unwrap();
        assert_eq!(mask[0], 0b111);
        assert_eq!(mask[1], 1);
        assert_eq!(mask[15], 1 << 63);
        assert!(mask_of("1024").is_none());
        assert!(mask_of("3-1").is_none());
        assert!(mask_of("a").is_none());
        assert!(mask_of("1,").is_none());
        assert_eq!(mask_of(""), Some([0; 16]));
    }

    #[test]
    fn modes_need_their_nodes() {
        let check = |p: MemoryPolicy| p.check().is_ok();
        assert!(check(MemoryPolicy::new(MemoryPolicyMode::Bind).nodes("0")));
        assert!(!check(MemoryPolicy::new(MemoryPolicyMode::Bind)));
        assert!(!check(MemoryPolicy::new(MemoryPolicyMode::Default).nodes("0")));
        assert!(check(MemoryPolicy::new(MemoryPolicyMode::Preferred)));
        assert!(!check(
            MemoryPolicy::new(MemoryPolicyMode::Interleave)
                .nodes("0")
                .static_nodes()
                .relative_nodes()
        ));
    }
}
