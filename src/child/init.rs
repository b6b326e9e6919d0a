//! The PID 1 that stands in front of the payload in a PID namespace.
//!
//! A PID 1 must reap orphans (or they pile up as zombies) and gets no default signal
//! handling from the kernel (a SIGTERM to a payload running as PID 1 without a handler does
//! nothing). So, like tini and docker-init: block every signal, fork the payload, then wait
//! for signals; reap on SIGCHLD, forward everything else to the payload. When the payload
//! exits, report its raw wait status on the status pipe and exit, which makes the kernel
//! kill whatever is left in the namespace.
//!
//! The init side executes the embedded nsbox-init binary (see `crate::pid1`) after dropping
//! every capability but CAP_KILL; if that fails it runs the same loop here, in the fork.

use std::os::fd::RawFd;

use super::{Context, SETUP_FAILED};
use crate::sys::{self, SysResult};

/// The fds nsbox-init expects: the status pipe, and its own binary while it is executed.
const INIT_STATUS_FD: RawFd = 3;
const INIT_BINARY_FD: RawFd = 4;

/// What the payload's entry point needs: the step context and where to go on.
struct PayloadStart<'c, 'a> {
    context: &'c mut Context<'a>,
    from: usize,
    status_fd: RawFd,
}

/// Starts the payload as PID 2 and becomes the init; returns only on failure (in the init,
/// before anything was started).
///
/// The payload is cloned with CLONE_VM|CLONE_VFORK onto a stack the parent prepared, as
/// posix_spawn does: no copy of the page tables (whose size is the host program's), and the
/// init, sharing the memory, stays suspended until the payload has executed (or exited), so
/// nothing touches that memory concurrently. The payload runs the remaining steps there.
pub(super) fn start(
    context: &mut Context<'_>,
    index: usize,
    status_fd: RawFd,
    binary: RawFd,
    bounding: u64,
    shared_memory: bool,
) -> SysResult<()> {
    let error_fd = context.error_fd;
    // Out of the context: the steps after this one never fork again.
    let stack = std::mem::replace(&mut context.payload_stack, (std::ptr::null_mut(), 0));
    let mut payload = PayloadStart {
        context,
        from: index + 1,
        status_fd,
    };
    let arg = &mut payload as *mut PayloadStart as *mut libc::c_void;
    // SAFETY: the entry runs the remaining steps, which exec or exit; the stack is the plan's
    // and used by nothing else; payload outlives the suspension.
    let pid = unsafe { vfork_on(stack, payload_entry, arg)? };
    init(
        pid,
        status_fd,
        error_fd,
        binary,
        bounding,
        shared_memory.then_some(index),
    )
}

/// clone(CLONE_VM|CLONE_VFORK) running `entry(arg)` on `stack` (lowest address, size), as
/// posix_spawn does: no copy of the page tables, and this process suspended until the child
/// has executed or exited.
///
/// # Safety
/// `entry` must exec or exit, never return; `stack` must be used by nothing else meanwhile;
/// `arg` must stay valid until the child has executed or exited.
unsafe fn vfork_on(
    stack: (*mut u8, usize),
    entry: extern "C" fn(*mut libc::c_void) -> !,
    arg: *mut libc::c_void,
) -> SysResult<libc::pid_t> {
    let (low, size) = stack;
    if low.is_null() || size < 16 * 1024 {
        return Err(nix::errno::Errno::ENOMEM);
    }
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: clone_args is plain data; zeroed is valid and the fields we need are set.
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.flags = (libc::CLONE_VM | libc::CLONE_VFORK) as u64;
        args.exit_signal = libc::SIGCHLD as u64;
        args.stack = low as u64;
        args.stack_size = size as u64;
        // SAFETY: as the caller promises; CLONE_VFORK keeps this process from running meanwhile.
        unsafe { crate::stack::clone3_on_stack(&mut args, entry, arg) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // The stack grows down from its 16-byte aligned top. glibc's clone sets errno on
        // failure: fine here, where the setup process never shares the caller's memory.
        // SAFETY: as the caller promises; low + size is the end of the stack mapping.
        let top = ((unsafe { low.add(size) } as usize) & !15) as *mut libc::c_void;
        // SAFETY: as the caller promises; CLONE_VFORK keeps this process from running meanwhile.
        let pid = unsafe {
            libc::clone(
                std::mem::transmute(entry),
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
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
    // SAFETY: `start` passed a PayloadStart that lives, unmoved, while its process is
    // suspended by CLONE_VFORK, i.e. as long as this process may use it.
    let start = unsafe { &mut *(arg as *mut PayloadStart) };
    sys::close(start.status_fd);
    super::run_from(start.context, start.from)
}

/// The init side: executes nsbox-init, or runs its loop here if that fails. When this
/// process shares the caller's memory (`shared_step`: the `ForkInit` step's index), which the
/// caller frees once it saw the exec, a failed exec is reported as that step's failure instead,
/// and the init exits (taking the payload with it).
fn init(
    payload: libc::pid_t,
    status_fd: RawFd,
    error_fd: RawFd,
    binary: RawFd,
    bounding: u64,
    shared_step: Option<usize>,
) -> ! {
    // Init keeps nothing but the status pipe, so it never holds the container's stdio open.
    // It keeps a copy of the error pipe (close-on-exec, above the fds it rearranges) until its
    // own exec: the parent's EOF must mean that no process of the container runs on the
    // caller's memory any more.
    let error_copy = sys::dup_above(error_fd, 10, true);
    let mut status_fd = status_fd;
    let mut errno = nix::errno::Errno::ENOEXEC;
    if binary >= 0 && error_copy.is_ok() {
        let (moved, failure) = exec_init_binary(status_fd, binary, bounding, payload);
        errno = failure;
        if moved {
            // exec failed after the fds were rearranged: the status pipe is now at fd 3.
            status_fd = INIT_STATUS_FD;
        }
    }
    if let Some(index) = shared_step {
        if let Ok(fd) = error_copy {
            super::report(fd, index, errno);
        }
        sys::exit(SETUP_FAILED);
    }
    sys::close_all_except(status_fd);
    loop {
        match sys::wait_any_signal() {
            Ok(libc::SIGCHLD) | Err(_) => reap(payload, status_fd),
            Ok(signal) => sys::kill(payload, signal),
        }
    }
}

/// Executes nsbox-init with the status pipe at fd 3 and capabilities down to CAP_KILL (what
/// forwarding a signal to a payload running as another user needs). Returns only if that
/// fails: whether the fds were already moved, and why.
fn exec_init_binary(status_fd: RawFd, binary: RawFd, bounding: u64, payload: libc::pid_t) -> (bool, nix::errno::Errno) {
    // Both above the target numbers first, so neither dup3 can clobber the other.
    let (status, bin) = match (sys::dup_above(status_fd, 10, false), sys::dup_above(binary, 10, true)) {
        (Ok(status), Ok(bin)) => (status, bin),
        (Err(e), _) | (_, Err(e)) => return (false, e),
    };
    if let Err(e) = sys::dup3(status, INIT_STATUS_FD, false).and_then(|()| sys::dup3(bin, INIT_BINARY_FD, true)) {
        return (false, e);
    }
    // Everything else closes at the exec (the error pipe's copy must stay open until then).
    if let Err(e) = sys::cloexec_from((INIT_BINARY_FD + 1) as libc::c_uint) {
        return (false, e);
    }
    for fd in 0..INIT_STATUS_FD {
        sys::close(fd);
    }
    let kill = caps::Capability::CAP_KILL.bitmask();
    let _ = sys::drop_bounding(bounding & !kill);
    let _ = sys::capset(kill, kill, 0);
    let _ = sys::prctl2(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0);
    let _ = sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1);
    let mut digits = [0u8; 16];
    let pid = sys::decimal(payload as u64, &mut digits);
    let argv: [*const libc::c_char; 3] = [c"nsbox-init".as_ptr(), pid.as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    (true, sys::execveat_empty_path(INIT_BINARY_FD, &argv, &envp))
}

/// Starts the connector for published ports (`nsbox-connect`, see src/pid1/nsbox_init.rs) in
/// this process's network namespace, with `socket` as its fd 3 and no capabilities. Forked
/// with CLONE_VM|CLONE_VFORK like the payload, on the same (still unused) stack.
pub(super) fn start_connector(context: &mut Context<'_>, socket: RawFd, binary: RawFd, bounding: u64) -> SysResult<()> {
    let mut args = (socket, binary, bounding);
    let arg = &mut args as *mut (RawFd, RawFd, u64) as *mut libc::c_void;
    // SAFETY: the entry execs or exits; the stack is unused until the payload's fork; args
    // outlives the suspension.
    unsafe { vfork_on(context.payload_stack, connector_entry, arg) }.map(drop)
}

extern "C" fn connector_entry(arg: *mut libc::c_void) -> ! {
    // SAFETY: `start_connector` passed these, alive while it is suspended by CLONE_VFORK.
    let (socket, binary, bounding) = unsafe { *(arg as *const (RawFd, RawFd, u64)) };
    let (Ok(socket), Ok(bin)) = (sys::dup_above(socket, 10, false), sys::dup_above(binary, 10, true)) else {
        sys::exit(127)
    };
    if sys::dup3(socket, 3, false).is_err() || sys::dup3(bin, 4, true).is_err() {
        sys::exit(127);
    }
    // Close-on-exec, not closed: its copy of the error pipe must outlive its use of the
    // caller's memory (the init's copy alone could go first if the init were killed meanwhile).
    if sys::cloexec_from(5).is_err() {
        sys::exit(127);
    }
    for fd in 0..3 {
        sys::close(fd);
    }
    let _ = sys::drop_bounding(bounding);
    let _ = sys::capset(0, 0, 0);
    let _ = sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1);
    let argv: [*const libc::c_char; 2] = [c"nsbox-connect".as_ptr(), std::ptr::null()];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let _ = sys::execveat_empty_path(4, &argv, &envp);
    sys::exit(127)
}

/// Reaps every exited child; on the payload's exit, reports and exits.
fn reap(payload: libc::pid_t, status_fd: RawFd) {
    while let Ok(Some((pid, status))) = sys::waitpid_any_nohang() {
        if pid == payload {
            let _ = sys::write_all(status_fd, &status.to_le_bytes());
            let code = if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            };
            sys::exit(code);
        }
    }
}
