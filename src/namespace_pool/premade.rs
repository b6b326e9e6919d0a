//! One pair of pre-made namespaces: a user namespace with a container's id maps and a
//! network namespace it owns, its loopback up. Made by a holder process born in both
//! (`CLONE_NEWUSER | CLONE_NEWNET`, on the caller's memory where the shared-memory spawn is
//! supported, so the caller's page tables are not copied), mapped by the same
//! [`IdMaps::write`] a container's spawn uses, both namespaces opened, and the holder let go
//! and reaped on every path. The loopback is brought up by this thread, which enters the new
//! network namespace for one `ioctl` and comes back.
//!
//! Nothing but the caller ever sees the pair: the holder runs no code of anyone else, exits
//! before the pair is handed out, and the fds are the caller's alone (`O_CLOEXEC`).

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
}

/// The holder's two pipe ends, read by the holder from the caller's memory.
#[repr(C)]
struct HolderFds {
    wait_r: RawFd,
    wait_w: RawFd,
}

/// The holder: closes its copy of the write end, waits for EOF, exits. Raw syscalls only, on
/// the caller's memory (or a copy of it), signals blocked.
extern "C" fn hold(arg: *mut libc::c_void) -> ! {
    // SAFETY: `arg` points to the caller's HolderFds, which outlives the holder (`make` reaps
    // it before returning).
    let fds = unsafe { &*(arg as *const HolderFds) };
    let (wait_r, wait_w) = (fds.wait_r, fds.wait_w);
    sys::close(wait_w);
    let mut byte = [0u8; 1];
    let _ = sys::read_full(wait_r, &mut byte);
    sys::exit(0)
}

/// Makes one pair with `maps`.
pub(crate) fn make(maps: &IdMaps) -> Result<PremadeNamespaces> {
    let fail = |what: &str, e: Errno| Error::io(format!("{what} for a pre-made namespace pair"), e);
    let (wait_r, wait_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail("create a pipe", Errno::from_nix(e)))?;
    let fds = HolderFds {
        wait_r: wait_r.as_raw_fd(),
        wait_w: wait_w.as_raw_fd(),
    };
    let (pid, stack) =
        clone_holder(&fds).map_err(|e| fail("create a user and a network namespace", Errno::from_nix(e)))?;
    drop(wait_r);
    let made = maps
        .write(Pid::from_raw(pid))
        .map_err(Error::Setup)
        .and_then(|()| open(pid, "user"))
        .and_then(|user| Ok((user, open(pid, "net")?)))
        .and_then(|(user, net)| {
            loopback_up(&net).map_err(|e| fail("bring the loopback up", Errno::from_nix(e)))?;
            Ok(PremadeNamespaces { user, net })
        });
    // EOF: the holder exits; its namespaces live on in the fds.
    drop(wait_w);
    let _ = sys::wait_for(pid);
    drop(stack);
    made
}

fn open(pid: libc::pid_t, kind: &str) -> Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/{kind}");
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(format!("open {path}"), e))
}

/// The holder, born in a new user and network namespace: on the caller's memory (on its own
/// stack, returned to be kept until the holder is reaped) where the shared-memory spawn is
/// supported, else a fork.
fn clone_holder(fds: &HolderFds) -> sys::SysResult<(libc::pid_t, Option<crate::stack::Stack>)> {
    let flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNET) as u64;
    // None of the caller's handlers may run in the holder.
    let _blocked = BlockedSignals::new();
    let arg = fds as *const HolderFds as *mut libc::c_void;
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
        // SAFETY: the stack is the holder's alone and stays mapped until it is reaped (`make`
        // keeps it); `hold` uses no thread-locals and never returns; `fds` outlives the holder.
        let pid = unsafe { crate::stack::clone3_on_stack(&mut args, hold, arg) }?;
        return Ok((pid, Some(stack)));
    }
    let forked = sys::clone3(&libc::clone_args {
        flags,
        exit_signal: libc::SIGCHLD as u64,
        // SAFETY: clone_args is plain data; zeroed is valid.
        ..unsafe { std::mem::zeroed() }
    });
    match forked {
        Ok(0) => hold(arg),
        Ok(pid) => Ok((pid, None)),
        Err(e) => Err(e),
    }
}

/// `lo` up in `net`: this thread enters it for the `ioctl` and comes back. A thread that
/// cannot come back fails loudly (it is the pool's own refill thread, which then stops).
fn loopback_up(net: &OwnedFd) -> sys::SysResult<()> {
    let own = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?;
    sys::setns(net.as_raw_fd(), libc::CLONE_NEWNET)?;
    let up = sys::loopback_up();
    if let Err(e) = sys::setns(own.as_raw_fd(), libc::CLONE_NEWNET) {
        tracing::error!(errno = %e, "a namespace pool's thread could not return to its own network namespace");
        return Err(e);
    }
    up
}
