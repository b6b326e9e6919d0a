//! One pair of pre-made namespaces: a user namespace with a container's id maps and a
//! network namespace it owns, its loopback up (with an IPC and a UTS namespace it owns too,
//! used by the spawns that make those). Made by a holder process born in them
//! (`CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS`, on the caller's memory where
//! the shared-memory spawn is supported, so the caller's page tables are not copied):
//!
//! 1. the holder closes every fd but the read end of its pipe (it got a copy of the caller's
//!    whole fd table, which must not keep other pipes open: another pool's holder, a spawn's
//!    error pipe) and waits for one byte, a parent death signal set;
//! 2. this thread writes its id maps with the same [`IdMaps::write`] a spawn uses and opens its
//!    namespaces, then writes the byte (never EOF: a fork elsewhere in the caller may hold
//!    a copy of the write end);
//! 3. the holder brings `lo` up (it has `CAP_NET_ADMIN` over its own network namespace from
//!    birth, whoever the caller is) and exits with 0 or the errno; this thread reaps it.
//!
//! On any failure, or a panic, in between, the [`Holder`] guard kills and reaps it before its
//! stack goes back to the pool. Nothing but the caller ever sees the pair: the holder runs no
//! code of anyone else and has exited before the pair is handed out, and the fds are the
//! caller's alone (`O_CLOEXEC`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

use crate::errno::Errno;
use crate::error::{Error, Result};
use crate::idmap::IdMaps;
use crate::shared_memory::BlockedSignals;
use crate::sys;

/// A user namespace and the network namespace it owns, never used by any process yet.
#[derive(Debug)]
pub(crate) struct PremadeNamespaces {
    pub user: OwnedFd,
    pub net: OwnedFd,
    /// An IPC and a UTS namespace the user namespace owns (the UTS one with the caller's
    /// host and domain names as they were when it was made, as a clone copies them).
    pub ipc: OwnedFd,
    pub uts: OwnedFd,
    /// The euid of the thread that made it: the user namespace's owner.
    pub owner: u32,
}

/// The holder: keeps only `arg` (its pipe's read end, as an integer), waits for the byte,
/// brings `lo` up, exits with the errno (0: up). Raw syscalls only, on the caller's memory
/// (or a copy of it), signals blocked.
extern "C" fn hold(arg: *mut libc::c_void) -> ! {
    let wait_r = arg as usize as RawFd;
    sys::close_all_except(&[wait_r]);
    // Dies with the thread making it, which reaps it before it goes unless the whole caller
    // dies; a caller dead before this line closed its write end: the read sees EOF once any
    // copy a fork elsewhere made is gone too.
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() {
        sys::exit(libc::ECHILD);
    }
    let mut byte = [0u8; 1];
    match sys::read_full(wait_r, &mut byte) {
        Ok(1) => sys::exit(sys::loopback_up().err().map_or(0, |e| e as i32)),
        _ => sys::exit(libc::ECANCELED),
    }
}

/// A holder process, killed (if not done) and reaped on drop; its stack, if it runs on one,
/// goes back only after that.
struct Holder {
    pid: libc::pid_t,
    reaped: bool,
    _stack: Option<crate::stack::Stack>,
}

impl Holder {
    /// Its exit status, once it exited by itself.
    fn wait(&mut self) -> sys::SysResult<libc::c_int> {
        let status = sys::wait_for(self.pid)?;
        self.reaped = true;
        Ok(status)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if !self.reaped {
            sys::kill(self.pid, libc::SIGKILL);
            // Only this thread reaps it; a failure here (ECHILD: someone reaped it with
            // waitpid(-1)) means it is gone too.
            let _ = sys::wait_for(self.pid);
        }
    }
}

/// Makes one pair with `maps`.
pub(crate) fn make(maps: &IdMaps) -> Result<PremadeNamespaces> {
    let fail = |what: &str, e: Errno| Error::io(format!("{what} for a pre-made namespace pair"), e);
    let (wait_r, wait_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("create a pipe", Errno::from_nix(e)))?;
    let owner = nix::unistd::geteuid().as_raw();
    let mut holder = clone_holder(wait_r.as_raw_fd()).map_err(|e| fail("create the namespaces", Errno::from_nix(e)))?;
    drop(wait_r);
    let pid = holder.pid;
    maps.write(Pid::from_raw(pid)).map_err(Error::Setup)?;
    let [user, net, ipc, uts] = [
        open(pid, "user")?,
        open(pid, "net")?,
        open(pid, "ipc")?,
        open(pid, "uts")?,
    ];
    sys::write_all(wait_w.as_raw_fd(), &[1]).map_err(|e| fail("release the holder process", Errno::from_nix(e)))?;
    let status = holder
        .wait()
        .map_err(|e| fail("wait for the holder process", Errno::from_nix(e)))?;
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => Ok(PremadeNamespaces {
            user,
            net,
            ipc,
            uts,
            owner,
        }),
        (true, errno) => Err(fail("bring the loopback up", Errno::from_raw(errno))),
        (false, _) => Err(fail("bring the loopback up", Errno::ECANCELED)),
    }
}

fn open(pid: libc::pid_t, kind: &str) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/{kind}");
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(format!("open {path}"), e))
}

/// The holder, born in its new namespaces: on the caller's memory (on a stack
/// of its own, kept by the guard) where the shared-memory spawn is supported, else a fork.
fn clone_holder(wait_r: RawFd) -> sys::SysResult<Holder> {
    let flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as u64;
    // None of the caller's handlers may run in the holder.
    let _blocked = BlockedSignals::new();
    let arg = wait_r as usize as *mut libc::c_void;
    #[cfg(target_arch = "x86_64")]
    if crate::shared_memory::supported() {
        let stack = crate::stack::Stack::new()?;
        let (low, size) = stack.range();
        // SAFETY: clone_args is plain data; zeroed is valid and the fields needed are set.
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.flags = flags | libc::CLONE_VM as u64;
        args.exit_signal = libc::SIGCHLD as u64;
        args.stack = low as u64;
        args.stack_size = size as u64;
        // SAFETY: the stack is the holder's alone and stays mapped until it is reaped (the
        // guard keeps it); `hold` uses no thread-locals, reads nothing of the caller's memory
        // and never returns.
        let pid = unsafe { crate::stack::clone3_on_stack(&mut args, hold, arg) }?;
        return Ok(Holder {
            pid,
            reaped: false,
            _stack: Some(stack),
        });
    }
    let forked = sys::clone3(&libc::clone_args {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        // SAFETY: clone_args is plain data; zeroed is valid.
        ..unsafe { std::mem::zeroed() }
    });
    match forked {
        Ok(0) => hold(arg),
        Ok(pid) => Ok(Holder {
            pid,
            reaped: false,
            _stack: None,
        }),
        Err(e) => Err(e),
    }
}
