//! One pair of pre-made namespaces: a user namespace with a container's id maps and a
//! network namespace it owns, its loopback up (with an IPC and a UTS namespace it owns too,
//! used by the spawns that make those), and where the template allows, the container's /dev
//! and /sys made ahead as detached trees (`child::premade_mounts`). Made by a holder process
//! born in them (`CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS`, and
//! `CLONE_NEWNS` for the trees; on the caller's memory where the shared-memory spawn is
//! supported, so the caller's page tables are not copied):
//!
//! 1. the holder closes every fd but its end of a socket pair (it got a copy of the caller's
//!    whole fd table, which must not keep other pipes open: another pool's holder, a spawn's
//!    error pipe) and waits for one byte, a parent death signal set;
//! 2. this thread writes its id maps with the same [`IdMaps::write`] a spawn uses and opens its
//!    namespaces, then writes the byte (never EOF: a fork elsewhere in the caller may hold
//!    a copy of its end);
//! 3. the holder brings `lo` up (it has `CAP_NET_ADMIN` over its own network namespace from
//!    birth, whoever the caller is), makes the trees if asked and sends them back (or the
//!    errno that stopped them), and exits with 0 or the errno of the loopback; this thread
//!    reaps it.
//!
//! On any failure, or a panic, in between, the [`Holder`] guard kills and reaps it before its
//! stack goes back to the pool. Nothing but the caller ever sees the pair: the holder runs no
//! code of anyone else and has exited before the pair is handed out, and the fds are the
//! caller's alone (`O_CLOEXEC`).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::unistd::Pid;

use crate::child::premade_mounts::{self, Recipe};
use crate::errno::Errno;
use crate::error::{Error, Result};
use crate::idmap::IdMaps;
use crate::shared_memory::BlockedSignals;
use crate::sys;

/// A container's /dev and /sys made ahead (detached), for spawns whose `DevLayout` is the one
/// they were made with.
#[derive(Debug)]
pub(crate) struct PremadeMounts {
    pub dev: OwnedFd,
    pub sys: OwnedFd,
}

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
    /// The /dev and /sys trees, where they were made (taken by the spawn that attaches them).
    pub mounts: Option<PremadeMounts>,
}

/// What the holder gets: its socket's end, and the trees to make, if any.
struct HoldArgs<'a> {
    socket: RawFd,
    recipe: Option<&'a Recipe>,
}

/// The holder: keeps only its socket, waits for the byte, brings `lo` up, makes and sends the
/// trees if asked (one message: the errno that stopped them as one byte, or 0 and their two
/// fds), exits with the loopback's errno (0: up, whatever became of the trees). Raw syscalls only, on the caller's memory
/// (or a copy of it), signals blocked.
extern "C" fn hold(arg: *mut libc::c_void) -> ! {
    // SAFETY: `make` passes a HoldArgs that outlives the holder (it reaps it, or its guard
    // kills and reaps it, before returning); in a forked holder, the copy of it.
    let args = unsafe { &*(arg as *const HoldArgs<'_>) };
    let socket = args.socket;
    sys::close_all_except(&[socket]);
    // Dies with the thread making it, which reaps it before it goes unless the whole caller
    // dies; a caller dead before this line closed its end: the read sees EOF once any copy
    // a fork elsewhere made is gone too.
    if sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong).is_err() {
        sys::exit(libc::ECHILD);
    }
    let mut byte = [0u8; 1];
    if !matches!(sys::read_full(socket, &mut byte), Ok(1)) {
        sys::exit(libc::ECANCELED);
    }
    if let Err(e) = sys::loopback_up() {
        sys::exit(e as i32);
    }
    if let Some(recipe) = args.recipe {
        // A failed send leaves no message: the parent takes the pair without trees (EPROTO).
        let _ = match premade_mounts::build(recipe) {
            Ok((dev, sysfs)) => sys::send_fds(socket, &[0], &[dev, sysfs]),
            Err(e) => sys::write_all(socket, &[(e as i32).clamp(1, 255) as u8]),
        };
    }
    sys::exit(0)
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

/// Makes one pair with `maps`, and with the trees of `recipe` if given; why the trees were not
/// made, if they were asked for and were not (the pair is good without them).
pub(crate) fn make(maps: &IdMaps, recipe: Option<&Recipe>) -> Result<(PremadeNamespaces, Option<Errno>)> {
    let fail = |what: &str, e: Errno| Error::io(format!("{what} for a pre-made namespace pair"), e);
    // A socket pair, not a pipe: the trees come back over it (SCM_RIGHTS).
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
        .map_err(|e| fail("create a socket pair", Errno::from_nix(e)))?;
    let owner = nix::unistd::geteuid().as_raw();
    let args = HoldArgs {
        socket: theirs.as_raw_fd(),
        recipe,
    };
    let mut holder = clone_holder(&args).map_err(|e| fail("create the namespaces", Errno::from_nix(e)))?;
    drop(theirs);
    let pid = holder.pid;
    maps.write(Pid::from_raw(pid)).map_err(Error::Setup)?;
    let [user, net, ipc, uts] = [
        open(pid, "user")?,
        open(pid, "net")?,
        open(pid, "ipc")?,
        open(pid, "uts")?,
    ];
    sys::write_all(ours.as_raw_fd(), &[1]).map_err(|e| fail("release the holder process", Errno::from_nix(e)))?;
    let status = holder
        .wait()
        .map_err(|e| fail("wait for the holder process", Errno::from_nix(e)))?;
    match (libc::WIFEXITED(status), libc::WEXITSTATUS(status)) {
        (true, 0) => {
            // Sent before the holder exited: already queued, read without waiting (a fork
            // elsewhere holding a copy of the holder's end cannot delay it).
            let (mounts, not_made) = match recipe.map(|_| receive_trees(&ours)) {
                None => (None, None),
                Some(Ok(mounts)) => (Some(mounts), None),
                Some(Err(e)) => (None, Some(e)),
            };
            let pair = PremadeNamespaces {
                user,
                net,
                ipc,
                uts,
                owner,
                mounts,
            };
            Ok((pair, not_made))
        }
        (true, errno) => Err(fail("bring the loopback up", Errno::from_raw(errno))),
        (false, _) => Err(fail("bring the loopback up", Errno::ECANCELED)),
    }
}

/// The holder's message, queued before it exited: its two trees, or the errno that stopped
/// them (`EPROTO`: no message, or not two fds). Every fd received is owned before anything
/// is checked (`fd_message`), so none is left behind.
fn receive_trees(socket: &OwnedFd) -> std::result::Result<PremadeMounts, Errno> {
    let mut byte = [0u8; 1];
    let message = match crate::fd_message::receive(socket, &mut byte) {
        Ok(message) => message,
        // Nothing queued: the holder sent nothing.
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Err(Errno::EPROTO),
        Err(e) => return Err(Errno::from(e)),
    };
    match (message.len, byte[0], <[OwnedFd; 2]>::try_from(message.fds)) {
        (1, 0, Ok([dev, sys])) => Ok(PremadeMounts { dev, sys }),
        (1, errno @ 1.., _) => Err(Errno::from_raw(i32::from(errno))),
        _ => Err(Errno::EPROTO),
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
fn clone_holder(hold_args: &HoldArgs<'_>) -> sys::SysResult<Holder> {
    let mut flags = (libc::CLONE_NEWUSER | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) as u64;
    if hold_args.recipe.is_some() {
        // fsopen needs CAP_SYS_ADMIN over the mount namespace, and the device nodes are bound
        // from a copy of the caller's mounts.
        flags |= libc::CLONE_NEWNS as u64;
    }
    // None of the caller's handlers may run in the holder.
    let _blocked = BlockedSignals::new();
    let arg = hold_args as *const HoldArgs<'_> as *mut libc::c_void;
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
        // but `args` and the recipe, which `make` keeps alive and unchanged until the reap,
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
