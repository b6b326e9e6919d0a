//! The PID 1 that stands in front of the payload in a PID namespace.
//!
//! A PID 1 must reap orphans (or they pile up as zombies) and gets no default signal
//! handling from the kernel (a SIGTERM to a payload running as PID 1 without a handler does
//! nothing). So, like tini and docker-init: block every signal, fork the payload, then wait
//! for signals; reap on SIGCHLD, forward everything else to the payload. When the payload
//! exits, report its raw wait status on the status pipe and exit, which makes the kernel
//! kill whatever is left in the namespace.
//!
//! The init side leaves the caller's session, drops every capability but CAP_KILL and
//! executes the embedded nsbox-init binary (see `crate::pid1`), which confines itself before
//! the payload's launcher lets the payload run; if that fails it runs the same loop here, in
//! the fork, confined the same way.

use std::os::fd::RawFd;

use super::Context;
use crate::pid1::confinement;
use crate::pid1::protocol::{self, EXIT_SETUP_FAILED, fd};
use crate::sys::{self, SysResult};

/// The fds the init works with.
#[derive(Clone, Copy)]
pub(super) struct InitFds {
    pub status: RawFd,
    /// The confirmation pipe (see `crate::pid1::confinement`): the launcher's read end, and
    /// the write end the init confirms on once it is confined; -1 without the init binary.
    pub ready_read: RawFd,
    pub ready_write: RawFd,
    /// The lifeline's read end (-1: none): EOF once the caller's process is gone.
    pub lifeline: RawFd,
    /// The init binary's memfd (-1: run the loop in process).
    pub binary: RawFd,
}

/// Starts the payload as PID 2 and becomes the init; returns only on failure (in the init,
/// before anything was started).
///
/// The payload is cloned with CLONE_VM onto a stack the parent prepared, as posix_spawn does:
/// no copy of the page tables (whose size is the host program's). It runs the remaining steps
/// there while the init, at the same time, executes nsbox-init, which confines itself; the
/// payload's launcher waits for that before it executes the payload. Both run on the same
/// memory meanwhile, so each keeps to its own: the init to its stack and the values it copied
/// before the clone, the payload to its stack and the context (in `child::run`'s frame, which
/// the init never returns to).
pub(super) fn start(
    context: &mut Context<'_>,
    index: usize,
    fds: InitFds,
    bounding: u64,
    shared_memory: bool,
) -> SysResult<()> {
    let error_fd = context.error_fd;
    // Out of the context: the steps after this one never fork again.
    let stack = std::mem::replace(&mut context.payload_stack, (std::ptr::null_mut(), 0));
    context.payload_resume = (index + 1, [fds.status, fds.ready_write, fds.lifeline]);
    let arg = context as *mut Context as *mut libc::c_void;
    // SAFETY: the entry runs the remaining steps, which exec or exit; the stack is the plan's
    // and used by nothing else; from here on only the payload uses the context, which lives
    // as long as this process (the init never returns).
    let pid = unsafe { clone_on(stack, payload_entry, arg, false)? };
    if fds.ready_read >= 0 {
        sys::close(fds.ready_read);
    }
    init(pid, fds, error_fd, bounding, index, shared_memory)
}

/// clone(CLONE_VM) running `entry(arg)` on `stack` (lowest address, size), as posix_spawn
/// does: no copy of the page tables. With `suspend` (CLONE_VFORK), this process waits until
/// the child has executed or exited.
///
/// # Safety
/// `entry` must exec or exit, never return; `stack` must be used by nothing else meanwhile;
/// `arg` must stay valid until the child has executed or exited; without `suspend`, nothing
/// the child uses may be touched by this process meanwhile.
unsafe fn clone_on(
    stack: (*mut u8, usize),
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
    suspend: bool,
) -> SysResult<libc::pid_t> {
    let vfork = if suspend { libc::CLONE_VFORK } else { 0 };
    let (low, size) = stack;
    if low.is_null() || size < 16 * 1024 {
        return Err(nix::errno::Errno::ENOMEM);
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: clone_args is plain data; zeroed is valid and the fields we need are set.
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.flags = (libc::CLONE_VM | vfork) as u64;
        args.exit_signal = libc::SIGCHLD as u64;
        args.stack = low as u64;
        args.stack_size = size as u64;
        // SAFETY: as the caller promises.
        unsafe { crate::stack::clone3_on_stack(&mut args, entry, arg) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // The stack grows down from its 16-byte aligned top. glibc's clone sets errno on
        // failure: fine here, where the setup process never shares the caller's memory.
        // SAFETY: as the caller promises; low + size is the end of the stack mapping.
        let top = ((unsafe { low.add(size) } as usize) & !15) as *mut libc::c_void;
        // SAFETY: as the caller promises.
        let pid = unsafe {
            libc::clone(
                std::mem::transmute(entry),
                top,
                libc::CLONE_VM | vfork | libc::SIGCHLD,
                arg,
            )
        };
        if pid < 0 {
            Err(nix::errno::Errno::last())
        } else {
            Ok(pid)
        }
    }
}

extern "C" fn payload_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: `start` passed the context, which lives, unmoved, as long as the init (which
    // no longer touches it), i.e. as long as this process may use it.
    let context = unsafe { &mut *(arg as *mut Context) };
    let (from, init_only) = context.payload_resume;
    for fd in init_only.into_iter().filter(|fd| *fd >= 0) {
        sys::close(fd);
    }
    super::run_from(context, from)
}

/// The init side: leaves the caller's session, drops to CAP_KILL and no_new_privs, executes
/// nsbox-init (which confines itself and confirms), or runs its loop here if that fails.
///
/// Failing to confine itself is reported as the `ForkInit` step's failure (`step`) and the
/// init exits, taking the payload with it; so is a failed exec when this process shares the
/// caller's memory (`shared_memory`), which the caller frees once it saw the exec. The init
/// keeps a copy of the error pipe (close-on-exec, above the fds it rearranges) until its own
/// exec: the parent's EOF must mean that no process of the container runs on the caller's
/// memory any more.
fn init(payload: libc::pid_t, fds: InitFds, error_fd: RawFd, bounding: u64, step: usize, shared_memory: bool) -> ! {
    let error_copy = sys::dup_above(error_fd, 10, true);
    let fail = |errno| -> ! {
        if let Ok(fd) = error_copy {
            super::report(fd, step, errno);
        }
        sys::exit(EXIT_SETUP_FAILED)
    };
    if let Err(e) = sys::setsid().and_then(|()| drop_to_kill(bounding)) {
        fail(e);
    }
    // From here the lifeline, not the spawning thread, decides how long the container lives:
    // PR_SET_PDEATHSIG follows the thread, which may end while its process goes on.
    if fds.lifeline >= 0
        && let Err(e) = sys::prctl(libc::PR_SET_PDEATHSIG, 0)
    {
        fail(e);
    }
    let (mut status, mut ready, mut lifeline) = (fds.status, fds.ready_write, fds.lifeline);
    if fds.binary >= 0 && error_copy.is_ok() {
        let (moved, errno) = exec_init_binary(fds, payload);
        if shared_memory {
            fail(errno);
        }
        if moved {
            // exec failed after the fds were rearranged.
            status = fd::INIT_STATUS;
            ready = if ready >= 0 { fd::READY } else { -1 };
            lifeline = if lifeline >= 0 { fd::LIFELINE } else { -1 };
        }
    } else if shared_memory {
        fail(nix::errno::Errno::ENOEXEC);
    }
    // The loop in process, on a copy of the caller's memory that the NotDumpable step made
    // unreachable; under nsbox-init's filter, and confirmed, like nsbox-init.
    let mut keep = [status, ready, lifeline];
    keep.sort_unstable();
    sys::close_all_except(&keep);
    let watched = lifeline >= 0 && sys::watch_for_eof(lifeline).is_ok();
    if sys::seccomp_load_fixed(&confinement::INIT_FILTER).is_err() {
        sys::exit(EXIT_SETUP_FAILED);
    }
    if fds.ready_write >= 0 {
        let _ = sys::write_all(ready, &[protocol::READY_BYTE]);
        sys::close(ready);
    }
    let caller_gone = || watched && sys::at_eof(lifeline);
    if caller_gone() {
        sys::exit(EXIT_SETUP_FAILED);
    }
    loop {
        match sys::wait_any_signal() {
            Ok(libc::SIGCHLD) | Err(_) => reap(payload, status),
            Ok(libc::SIGIO) if caller_gone() => sys::exit(EXIT_SETUP_FAILED),
            Ok(signal) => sys::kill(payload, signal),
        }
    }
}

/// Capabilities down to CAP_KILL (what forwarding a signal to a payload running as another
/// user needs), no ambient ones, no_new_privs (which the seccomp filter needs).
fn drop_to_kill(bounding: u64) -> SysResult<()> {
    let kill = caps::Capability::CAP_KILL.bitmask();
    sys::drop_bounding(bounding & !kill)?;
    sys::capset(kill, kill, 0)?;
    sys::prctl2(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)?;
    sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// Executes nsbox-init with the status pipe at fd 3, its binary at fd 4, the confirmation
/// pipe at fd 5 and the lifeline at fd 6 (see `protocol::fd`). Returns only if that fails:
/// whether the fds were already moved, and why.
fn exec_init_binary(fds: InitFds, payload: libc::pid_t) -> (bool, nix::errno::Errno) {
    // All above the target numbers first, so no dup3 can clobber another.
    let above = |fd: RawFd, cloexec| {
        if fd >= 0 {
            sys::dup_above(fd, 10, cloexec)
        } else {
            Ok(-1)
        }
    };
    let (status, bin, ready, lifeline) = match (
        above(fds.status, false),
        above(fds.binary, true),
        above(fds.ready_write, false),
        above(fds.lifeline, false),
    ) {
        (Ok(status), Ok(bin), Ok(ready), Ok(lifeline)) => (status, bin, ready, lifeline),
        (Err(e), _, _, _) | (_, Err(e), _, _) | (_, _, Err(e), _) | (_, _, _, Err(e)) => return (false, e),
    };
    let onto = |from: RawFd, to, cloexec| {
        if from >= 0 {
            sys::dup3(from, to, cloexec)
        } else {
            Ok(())
        }
    };
    let moved = onto(status, fd::INIT_STATUS, false)
        .and_then(|()| onto(bin, fd::BINARY, true))
        .and_then(|()| onto(ready, fd::READY, false))
        .and_then(|()| onto(lifeline, fd::LIFELINE, false));
    if let Err(e) = moved {
        return (false, e);
    }
    // Everything else closes at the exec (the error pipe's copy must stay open until then).
    if let Err(e) = sys::cloexec_from((fd::LIFELINE + 1) as libc::c_uint) {
        return (true, e);
    }
    for stdio in 0..fd::INIT_STATUS {
        sys::close(stdio);
    }
    let mut digits = [0u8; 16];
    let pid = sys::decimal(payload as u64, &mut digits);
    let argv: [*const libc::c_char; 3] = [protocol::INIT_NAME.as_ptr(), pid.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    (true, sys::execveat_empty_path(fd::BINARY, &argv, &envp))
}

/// Starts the connector for published ports (`nsbox-connect`, see src/pid1/nsbox_init.rs) in
/// this process's network namespace, with `socket` as its fd 3, the confirmation pipe's write
/// end `ready` as its fd 5, a session of its own and no capabilities. Forked with
/// CLONE_VM|CLONE_VFORK like the payload, on the same (still unused) stack.
pub(super) fn start_connector(
    context: &mut Context<'_>,
    socket: RawFd,
    ready: RawFd,
    binary: RawFd,
    bounding: u64,
) -> SysResult<()> {
    let mut args = ConnectorStart {
        socket,
        ready,
        binary,
        bounding,
    };
    let arg = &mut args as *mut ConnectorStart as *mut libc::c_void;
    // SAFETY: the entry execs or exits; the stack is unused until the payload's fork; args
    // outlives the suspension.
    unsafe { clone_on(context.payload_stack, connector_entry, arg, true) }.map(drop)
}

#[derive(Clone, Copy)]
struct ConnectorStart {
    socket: RawFd,
    ready: RawFd,
    binary: RawFd,
    bounding: u64,
}

extern "C" fn connector_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: `start_connector` passed these, alive while it is suspended by CLONE_VFORK.
    let start = unsafe { *(arg as *const ConnectorStart) };
    // Out of the caller's session: no controlling terminal to inject input into (TIOCSTI).
    if sys::setsid().is_err() {
        sys::exit(EXIT_SETUP_FAILED);
    }
    let (Ok(socket), Ok(bin), Ok(ready)) = (
        sys::dup_above(start.socket, 10, false),
        sys::dup_above(start.binary, 10, true),
        sys::dup_above(start.ready, 10, false),
    ) else {
        sys::exit(EXIT_SETUP_FAILED)
    };
    let moved = sys::dup3(socket, fd::CONNECTOR_SOCKET, false)
        .and_then(|()| sys::dup3(bin, fd::BINARY, true))
        .and_then(|()| sys::dup3(ready, fd::READY, false));
    // Close-on-exec, not closed: its copy of the error pipe must outlive its use of the
    // caller's memory (the init's copy alone could go first if the init were killed meanwhile).
    if moved.is_err() || sys::cloexec_from((fd::READY + 1) as libc::c_uint).is_err() {
        sys::exit(EXIT_SETUP_FAILED);
    }
    for stdio in 0..3 {
        sys::close(stdio);
    }
    let dropped = sys::drop_bounding(start.bounding)
        .and_then(|()| sys::capset(0, 0, 0))
        .and_then(|()| sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1));
    if dropped.is_err() {
        sys::exit(EXIT_SETUP_FAILED);
    }
    let argv: [*const libc::c_char; 2] = [protocol::CONNECT_NAME.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let _ = sys::execveat_empty_path(fd::BINARY, &argv, &envp);
    sys::exit(EXIT_SETUP_FAILED)
}

/// Reaps every exited child; on the payload's exit, reports and exits.
fn reap(payload: libc::pid_t, status_fd: RawFd) {
    while let Ok(Some((pid, status))) = sys::waitpid_any_nohang() {
        if pid == payload {
            let bytes: [u8; protocol::STATUS_LEN] = status.to_le_bytes();
            let _ = sys::write_all(status_fd, &bytes);
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            sys::exit(code);
        }
    }
}
