//! The NUMA steps (see `crate::numa`): an exec's CPU affinity and a container's memory
//! policy, one raw syscall each on a mask the parent made.

use nix::errno::Errno;
use syscalls::{Sysno, syscall};

use crate::numa::{MASK_BITS, Mask};
use crate::plan::Step;
use crate::sys::SysResult;

pub(super) fn run(step: &Step) -> SysResult<()> {
    match step {
        Step::MemoryPolicy { mode, nodes } => {
            let nodes: *const Mask = &**nodes;
            // SAFETY: nodes points to a live mask of MASK_BITS bits, the maxnode passed.
            let ret = unsafe { syscall!(Sysno::set_mempolicy, *mode, nodes, MASK_BITS) };
            ret.map(drop).map_err(|e| Errno::from_raw(e.into_raw()))
        }
        Step::CpuAffinity(cpus) => {
            let cpus: *const Mask = &**cpus;
            // SAFETY: cpus points to a live mask of the size passed; pid 0 is this thread.
            let ret = unsafe { syscall!(Sysno::sched_setaffinity, 0, std::mem::size_of::<Mask>(), cpus) };
            ret.map(drop).map_err(|e| Errno::from_raw(e.into_raw()))
        }
        _ => Err(Errno::EINVAL),
    }
}
