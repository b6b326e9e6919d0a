//! A joined user namespace (`join_namespace(Namespaces::USER, path)`, issue 16): a short-lived
//! intermediate process enters it and clones the setup process, which is born there, in its
//! new namespaces, as the caller's child.
//!
//! Why so: `setns(CLONE_NEWUSER)` needs a process alone in its thread group that shares no
//! `fs_struct` (`userns_install`), which the caller is not; and the namespaces a clone creates
//! belong to the creator's user namespace, so a setup process that joined after its clone would
//! have no capability over its own mount, UTS, IPC… namespaces. The intermediate:
//!
//! - is cloned without `CLONE_VM` (except into a pre-made pair, see `crate::namespace_pool`,
//!   where the join provably leaves the flag alone and nothing else is in the namespace):
//!   `setns(CLONE_NEWUSER)` commits new credentials, which may
//!   reset the memory's dumpable flag (`commit_creds` when the new capabilities are not a
//!   subset of the old), which on the caller's memory would be the caller's; older kernels
//!   also refused a join from a memory with other users (`mm_users > 1`). Without `CLONE_FS`
//!   (the join needs its own `fs_struct`), with `CLONE_FILES`: the pidfd of the setup process
//!   lands in the caller's fd table;
//! - starts with every signal blocked (the caller's handlers must never run in a copy of it:
//!   once in the joined namespace, the namespace's root may signal it), makes itself not
//!   dumpable, joins, makes itself not dumpable again, and clones the setup process with the
//!   container's `CLONE_NEW*` flags, `CLONE_PARENT` (the setup process is the caller's child:
//!   waits, pidfds and the `Container` handle work as for any spawn; it takes the
//!   intermediate's exit signal, SIGCHLD), `CLONE_PIDFD`, `CLONE_PARENT_SETTID` and
//!   `CLONE_INTO_CGROUP`, then exits;
//! - hands the pidfd over without a window: the kernel writes the pidfd number and then, once
//!   the clone can no longer fail, the pid into a page the caller shares (`MAP_SHARED`), so a
//!   nonzero pid there means the fd is the caller's, even if the intermediate is killed right
//!   after (its pid is in the intermediate's PID namespace, which may be a joined one: the
//!   caller's view comes from the pidfd's fdinfo).
//!
//! The caller reaps the intermediate before it releases the setup process: nothing of the
//! container runs while it exists. Cost: one more fork-style clone, of the caller's memory.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::ptr::addr_of_mut;

use nix::unistd::Pid;

use crate::child::ChildStart;
use crate::errno::Errno;
use crate::error::{Error, Result, SetupError, SetupStep};
use crate::shared_memory::BlockedSignals;
use crate::sys;

use super::CLONE_INTO_CGROUP;

/// What the intermediate leaves for the caller, in the page they share.
#[repr(C)]
struct Handoff {
    /// The setup process's pid in the intermediate's PID namespace, written by the kernel only
    /// once the clone succeeded (`CLONE_PARENT_SETTID`): nonzero means `pidfd` is the caller's.
    tid: libc::pid_t,
    /// The setup process's pidfd (`CLONE_PIDFD`), in the caller's fd table.
    pidfd: RawFd,
    /// What failed in the intermediate ([`FAILED_JOIN`], [`FAILED_JOIN_NET`],
    /// [`FAILED_JOIN_OTHER`], [`FAILED_CLONE`]), and its errno.
    failed: i32,
    errno: i32,
}

const FAILED_JOIN: i32 = 1;
const FAILED_CLONE: i32 = 2;
const FAILED_JOIN_NET: i32 = 3;
const FAILED_JOIN_OTHER: i32 = 4;

/// An anonymous shared page holding a [`Handoff`], unmapped on drop.
struct Page(*mut Handoff);

impl Page {
    fn new() -> Result<Page> {
        // SAFETY: a new anonymous mapping; nothing else refers to its address.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                page_size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(Error::io("map the user namespace join's handoff page", Errno::last()));
        }
        let handoff = addr.cast::<Handoff>();
        // SAFETY: the page is ours, writable and large enough for a Handoff.
        unsafe {
            handoff.write(Handoff {
                tid: 0,
                pidfd: -1,
                failed: 0,
                errno: 0,
            })
        };
        Ok(Page(handoff))
    }

    /// The handoff as the intermediate left it (read once it is gone).
    fn read(&self) -> (libc::pid_t, RawFd, i32, i32) {
        // SAFETY: the page is mapped while self lives; volatile: the kernel and another
        // process wrote it.
        unsafe {
            (
                std::ptr::read_volatile(addr_of_mut!((*self.0).tid)),
                std::ptr::read_volatile(addr_of_mut!((*self.0).pidfd)),
                std::ptr::read_volatile(addr_of_mut!((*self.0).failed)),
                std::ptr::read_volatile(addr_of_mut!((*self.0).errno)),
            )
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, of that size, used by nothing after this.
        unsafe { libc::munmap(self.0.cast(), page_size()) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no memory effects.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as usize } else { 4096 }
}

/// The namespaces the intermediate enters before it clones the setup process.
pub(super) struct Join<'a> {
    pub user: RawFd,
    /// The path the user namespace was opened from (for errors).
    pub path: &'a Path,
    /// A network namespace to enter too: a pre-made pair's, owned by `user`.
    pub net: Option<RawFd>,
    /// More namespaces of a pair to enter after those (fd, `CLONE_NEW*` type; fd -1: none).
    pub others: [(RawFd, libc::c_int); 2],
    /// A pre-made pair (`crate::namespace_pool`): a child of the caller's user namespace,
    /// owned by its euid, so joining it leaves the memory's dumpable flag alone and the
    /// intermediate may share the caller's memory; `setup_stack`: the setup process's, when
    /// it shares it too.
    pub premade: Option<Option<(*mut u8, usize)>>,
}

/// Clones the setup process (`flags`: its `CLONE_NEW*` bits; into `cgroup_fd` when given)
/// through an intermediate that joins `join`'s namespaces.
pub(super) fn clone(
    join: &Join<'_>,
    flags: u64,
    cgroup_fd: Option<RawFd>,
    start: &ChildStart,
) -> Result<(Pid, OwnedFd)> {
    let path = join.path;
    if !crate::kernel::clone3_available() {
        // clone(2) has no CLONE_PIDFD beside CLONE_PARENT_SETTID (both use parent_tid).
        return Err(SetupError::new(SetupStep::Clone, None, Errno::ENOSYS).into());
    }
    let page = Page::new()?;
    let handoff = page.0;
    // SAFETY: clone_args is plain data; zeroed is valid and the fields needed are set.
    let mut setup: libc::clone_args = unsafe { std::mem::zeroed() };
    setup.flags = flags | (libc::CLONE_PIDFD | libc::CLONE_PARENT | libc::CLONE_PARENT_SETTID) as u64;
    if let Some(fd) = cgroup_fd {
        setup.flags |= CLONE_INTO_CGROUP;
        setup.cgroup = fd as u64;
    }
    // SAFETY: field addresses in the live page, which the intermediate inherits (shared).
    unsafe {
        setup.pidfd = addr_of_mut!((*handoff).pidfd) as u64;
        setup.parent_tid = addr_of_mut!((*handoff).tid) as u64;
    }
    // exit_signal stays 0: with CLONE_PARENT the kernel gives the intermediate's (SIGCHLD).
    let mut intermediate_pidfd: RawFd = -1;
    // SAFETY: as above.
    let mut intermediate: libc::clone_args = unsafe { std::mem::zeroed() };
    intermediate.flags = (libc::CLONE_FILES | libc::CLONE_PIDFD) as u64;
    intermediate.pidfd = &mut intermediate_pidfd as *mut RawFd as u64;
    intermediate.exit_signal = libc::SIGCHLD as u64;

    let blocked = BlockedSignals::new();
    #[cfg(target_arch = "x86_64")]
    let shared = match join.premade {
        Some(setup_stack) if crate::shared_memory::supported() => Some((
            crate::stack::Stack::new().map_err(|e| Error::io("map the intermediate's stack", e))?,
            setup_stack,
        )),
        _ => None,
    };
    #[cfg(not(target_arch = "x86_64"))]
    let shared: Option<((), Option<(*mut u8, usize)>)> = None;
    if let Some((_, Some((low, size)))) = &shared {
        setup.flags |= libc::CLONE_VM as u64;
        setup.stack = *low as u64;
        setup.stack_size = *size as u64;
    }
    // Kept where the intermediate on the caller's memory reads it until it is reaped.
    let vm = shared.as_ref().map(|_| VmIntermediate {
        user: join.user,
        net: join.net.unwrap_or(-1),
        others: join.others,
        setup: &setup,
        handoff,
        start,
    });
    let cloned = match (&shared, &vm) {
        #[cfg(target_arch = "x86_64")]
        (Some((stack, _)), Some(vm)) => {
            let (low, size) = stack.range();
            intermediate.flags |= libc::CLONE_VM as u64;
            intermediate.stack = low as u64;
            intermediate.stack_size = size as u64;
            let arg = vm as *const VmIntermediate as *mut libc::c_void;
            // SAFETY: the stack is the intermediate's alone and outlives it (reaped below,
            // before `shared` drops); `run_vm_intermediate` uses no thread-locals and never
            // returns; `vm`, `setup`, the page and `start` outlive it.
            unsafe { crate::stack::clone3_on_stack(&mut intermediate, run_vm_intermediate, arg) }
        }
        _ => {
            let cloned = sys::clone3(&intermediate);
            if cloned == Ok(0) {
                // The intermediate, signals still blocked (the guard is never dropped here).
                run_intermediate(join, &setup, handoff, start);
            }
            cloned
        }
    };
    drop(blocked);
    let _intermediate_pid =
        cloned.map_err(|errno| Error::from(SetupError::new(SetupStep::Clone, None, Errno::from_nix(errno))))?;
    // SAFETY: the kernel stored a new pidfd that nothing else owns.
    let intermediate_pidfd = unsafe { OwnedFd::from_raw_fd(intermediate_pidfd) };
    let reaped = reap(&intermediate_pidfd);
    if reaped.is_err() {
        // It may still run on its stack: never unmapped or reused then.
        std::mem::forget(shared);
    } else {
        drop(shared);
    }
    let (tid, pidfd, failed, errno) = page.read();
    if tid != 0 {
        // SAFETY: a nonzero pid means the clone succeeded and installed this pidfd in this
        // process's fd table (CLONE_FILES); nothing else owns it.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        if join.premade.is_some() {
            // No PID namespace is joined beside a new user namespace (the configuration
            // refuses it): the intermediate, and so `tid`, is in the caller's.
            return Ok((Pid::from_raw(tid), pidfd));
        }
        return match pid_of(&pidfd) {
            Ok(pid) => Ok((pid, pidfd)),
            Err(e) => {
                kill_and_reap(&pidfd);
                Err(e)
            }
        };
    }
    reaped?;
    let errno = Errno::from_raw(errno);
    Err(match failed {
        FAILED_JOIN => SetupError::new(SetupStep::JoinNamespaces, Some(path.to_path_buf()), errno),
        FAILED_JOIN_NET => SetupError::new(SetupStep::JoinNetwork, None, errno),
        FAILED_JOIN_OTHER => SetupError::new(
            SetupStep::JoinNamespaces,
            Some("(a pre-made IPC or UTS namespace)".into()),
            errno,
        ),
        FAILED_CLONE => SetupError::new(SetupStep::Clone, None, errno),
        // Killed before it could say (the joined namespace's root may signal it).
        _ => SetupError::new(SetupStep::Clone, None, Errno::ECANCELED),
    }
    .into())
}

/// The intermediate: raw syscalls only (a copy of a possibly multi-threaded caller), signals
/// blocked, never returns. Its failures go to the shared page.
fn run_intermediate(join: &Join<'_>, setup: &libc::clone_args, handoff: *mut Handoff, start: &ChildStart) -> ! {
    let joined = sys::prctl(libc::PR_SET_DUMPABLE, 0)
        .and_then(|()| sys::setns(join.user, libc::CLONE_NEWUSER))
        // The join committed new credentials, which may have made the memory dumpable again.
        .and_then(|()| sys::prctl(libc::PR_SET_DUMPABLE, 0));
    let (failed, errno) = match joined {
        Err(errno) => (FAILED_JOIN, errno),
        Ok(()) => match enter_pair(join.net.unwrap_or(-1), &join.others) {
            Err(failed) => failed,
            Ok(()) => match sys::clone3(setup) {
                Ok(0) => crate::child::run(start),
                Ok(_) => sys::exit(0),
                Err(errno) => (FAILED_CLONE, errno),
            },
        },
    };
    fail_intermediate(handoff, failed, errno)
}

/// What the intermediate on the caller's memory reads, prepared by the caller.
struct VmIntermediate<'a> {
    user: RawFd,
    /// -1: none.
    net: RawFd,
    others: [(RawFd, libc::c_int); 2],
    setup: &'a libc::clone_args,
    handoff: *mut Handoff,
    start: &'a ChildStart,
}

/// The intermediate of a pre-made pair, on the caller's memory and its own stack: joins the
/// pair (no dumpable flag to set: it is the caller's memory's, and the join leaves it alone,
/// see `crate::namespace_pool`), clones the setup process (on its stack, sharing the memory
/// too, when `setup` says so), exits. Raw syscalls only, signals blocked, never returns.
#[cfg(target_arch = "x86_64")]
extern "C" fn run_vm_intermediate(arg: *mut libc::c_void) -> ! {
    // SAFETY: the caller's VmIntermediate, alive until this process is reaped.
    let vm = unsafe { &*(arg as *const VmIntermediate<'_>) };
    let (failed, errno) = match sys::setns(vm.user, libc::CLONE_NEWUSER) {
        Err(errno) => (FAILED_JOIN, errno),
        Ok(()) => match enter_pair(vm.net, &vm.others) {
            Err(failed) => failed,
            Ok(()) => {
                let cloned = match vm.setup.flags & libc::CLONE_VM as u64 {
                    0 => match sys::clone3(vm.setup) {
                        Ok(0) => crate::child::run(vm.start),
                        other => other,
                    },
                    _ => {
                        let mut setup = *vm.setup;
                        let start = vm.start as *const ChildStart as *mut libc::c_void;
                        // SAFETY: the setup stack is the plan's, used by this child alone; the
                        // start and the plan outlive it (see crate::shared_memory).
                        unsafe { crate::stack::clone3_on_stack(&mut setup, crate::child::run_shared, start) }
                    }
                };
                match cloned {
                    Ok(_) => sys::exit(0),
                    Err(errno) => (FAILED_CLONE, errno),
                }
            }
        },
    };
    fail_intermediate(vm.handoff, failed, errno)
}

/// After the user namespace, a pair's network namespace (`net`, -1: none) and `others`
/// (fd -1: skipped); what failed and its errno.
fn enter_pair(net: RawFd, others: &[(RawFd, libc::c_int); 2]) -> std::result::Result<(), (i32, nix::errno::Errno)> {
    if net >= 0 {
        sys::setns(net, libc::CLONE_NEWNET).map_err(|e| (FAILED_JOIN_NET, e))?;
    }
    for &(fd, kind) in others.iter().filter(|(fd, _)| *fd >= 0) {
        sys::setns(fd, kind).map_err(|e| (FAILED_JOIN_OTHER, e))?;
    }
    Ok(())
}

/// The intermediate's failure, into the shared page; then its exit.
fn fail_intermediate(handoff: *mut Handoff, failed: i32, errno: nix::errno::Errno) -> ! {
    // SAFETY: the shared page, mapped in this copy of the caller's memory until it exits.
    unsafe {
        std::ptr::write_volatile(addr_of_mut!((*handoff).errno), errno as i32);
        std::ptr::write_volatile(addr_of_mut!((*handoff).failed), failed);
    }
    sys::exit(crate::pid1::protocol::EXIT_SETUP_FAILED)
}

/// Waits for the intermediate to exit (it does at once, or is killed).
fn reap(pidfd: &OwnedFd) -> Result<()> {
    loop {
        // SAFETY: siginfo_t is plain data filled by the kernel.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid out-pointer; P_PIDFD takes the pidfd as the id.
        let ret = unsafe { libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED) };
        match ret {
            0 => return Ok(()),
            _ if Errno::last() == Errno::EINTR => continue,
            // Reaped by someone else (a `waitpid(-1)` of the caller's, SIGCHLD ignored): gone.
            _ if Errno::last() == Errno::ECHILD => return Ok(()),
            _ => {
                return Err(Error::io(
                    "wait for the user namespace join's intermediate process",
                    Errno::last(),
                ));
            }
        }
    }
}

/// The pid of the process behind `pidfd` in this process's PID namespace (fdinfo's `Pid:`).
fn pid_of(pidfd: &OwnedFd) -> Result<Pid> {
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let info = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
    info.lines()
        .find_map(|line| line.strip_prefix("Pid:"))
        .and_then(|pid| pid.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 0)
        .map(Pid::from_raw)
        .ok_or_else(|| Error::io(format!("read the setup process's pid in {path}"), Errno::ESRCH))
}

/// SIGKILL through `pidfd`, then a reap.
fn kill_and_reap(pidfd: &OwnedFd) {
    // SAFETY: no memory is passed but a null siginfo.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    let _ = reap(pidfd);
}
