//! The shared-memory spawn: the setup process runs on the caller's memory (`CLONE_VM`), as
//! `posix_spawn`'s child does, so the kernel copies no page tables, the caller takes no
//! copy-on-write faults afterwards and the setup process's exec tears down no copy of the
//! caller (~0.2 ms per spawn here, more for a bigger caller). This module is its one switch
//! ([`allowed`]) and its clone ([`clone_on_stack`]); everywhere else a plan either has a setup
//! stack or it does not.
//!
//! What the sharing asks, and where each is kept:
//!
//! - **No thread-local in the child**: it runs on the calling thread's TLS, so every syscall in
//!   `sys` is a raw one that returns its error instead of setting `errno` (a unit test there
//!   checks).
//! - **No handler of the caller runs in the child**: the caller blocks all 64 signals on its
//!   thread around the clone ([`BlockedSignals`]; glibc's sigfillset would leave out the two it
//!   reserves), and the child keeps them blocked until its `ResetSignals` step.
//! - **The caller's data stays put**: the caller keeps `child::ChildStart` (raw parts of the
//!   steps and slots) and the plan unmoved until EOF on the error pipe or a reap; the
//!   `Container`, made right after the clone, kills and reaps the setup process on every early
//!   return or unwinding. The init keeps its copy of the error pipe until its own exec, and so
//!   does the connector, so EOF means no process runs on the caller's memory any more; an init
//!   whose exec fails then reports it and exits instead of running its loop in process.
//! - **The payload never runs beside it**: the payload's launcher waits for the confirmation
//!   of nsbox-init and nsbox-connect (see `pid1::confinement`), which come after their execs.
//! - **Nothing reaches the caller through the memory's own attributes**: `PR_SET_DUMPABLE` is
//!   one (the plan leaves that step out: whoever could ptrace the setup process could ptrace
//!   the caller anyway), and the kernel resets it when a sharer changes its euid, egid, fsuid
//!   or fsgid (`commit_creds`), so sharing needs every credential change to keep the host ids
//!   ([`keeps_host_ids`]). Joining a v1 cpuset rebinds the joiner's memory policy, and a v1
//!   memory cgroup with `move_charge_at_immigrate` moves its charges: those containers fork.
//! - **The kernel**: x86_64 (where `stack::clone3_on_stack` is written), clone3, Linux 5.18 or
//!   later: before 5.16 a core dump killed every process sharing the memory, and before 5.18 a
//!   `CLONE_VM` child entered its new time namespace only at exec.
//!
//! The `fork-spawn` cargo feature turns sharing off everywhere, so the suite can run on both
//! paths.

use std::sync::OnceLock;

use nix::errno::Errno;

use crate::cgroup::Cgroup;
use crate::child::ChildStart;
use crate::config::Config;
use crate::idmap::IdMap;
use crate::namespaces::Namespaces;
use crate::sys;

/// Whether this build, architecture and kernel can share the caller's memory at all.
pub(crate) fn supported() -> bool {
    static SUPPORTED: OnceLock<bool> = OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        !cfg!(feature = "fork-spawn")
            && cfg!(target_arch = "x86_64")
            && crate::kernel::clone3_available()
            && crate::kernel::version_at_least(5, 18)
    })
}

/// The switch: whether a container of `config` (joining `cgroup`) may have its setup process
/// share the caller's memory. The plan adds the last condition it alone knows: an init must be
/// able to execute its binary (its loop in process would run on the caller's memory forever).
pub(crate) fn allowed(config: &Config, cgroup: Option<&Cgroup>) -> bool {
    supported() && keeps_host_ids(config) && cgroup.is_none_or(Cgroup::join_leaves_memory_alone)
}

/// Whether every credential change the steps make keeps the caller's host uid and gid.
fn keeps_host_ids(config: &Config) -> bool {
    let (euid, egid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    let (uid, gid) = config.user.unwrap_or((0, 0));
    if !config.namespaces.contains(Namespaces::USER) {
        return config.user.is_none_or(|_| uid == euid && gid == egid);
    }
    let (uid_map, gid_map) = (&config.uid_map, &config.gid_map);
    [0, uid].iter().all(|u| IdMap::to_host(uid_map, *u) == Some(euid))
        && [0, gid].iter().all(|g| IdMap::to_host(gid_map, *g) == Some(egid))
}

/// clone3 with `CLONE_VM` on the setup stack, the child starting in `child::run_shared` with
/// `start` (x86_64: see `stack::clone3_on_stack`).
#[cfg(target_arch = "x86_64")]
pub(crate) fn clone_on_stack(
    args: &mut libc::clone_args,
    stack: (*mut u8, usize),
    start: &ChildStart,
) -> Result<libc::pid_t, Errno> {
    args.flags |= libc::CLONE_VM as u64;
    args.stack = stack.0 as u64;
    args.stack_size = stack.1 as u64;
    let _blocked = BlockedSignals::new();
    let arg = start as *const ChildStart as *mut libc::c_void;
    // SAFETY: the stack is the plan's, used by this child alone; `start` and the plan outlive
    // the child's use of them (see the module docs); the child's steps use no thread-locals.
    unsafe { crate::stack::clone3_on_stack(args, crate::child::run_shared, arg) }
}

/// Plans have no setup stack where the trampoline is not written.
#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn clone_on_stack(
    _: &mut libc::clone_args,
    _: (*mut u8, usize),
    _: &ChildStart,
) -> Result<libc::pid_t, Errno> {
    Err(Errno::ENOSYS)
}

/// Every signal blocked on this thread while it lives, all 64; the previous mask comes back
/// on drop.
pub(crate) struct BlockedSignals(Option<u64>);

impl BlockedSignals {
    pub(crate) fn new() -> BlockedSignals {
        BlockedSignals(sys::swap_signal_mask(!0).ok())
    }
}

impl Drop for BlockedSignals {
    fn drop(&mut self) {
        if let Some(previous) = self.0 {
            let _ = sys::swap_signal_mask(previous);
        }
    }
}
