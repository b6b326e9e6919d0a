//! The child's half of a spawn: executing the plan's steps between clone and exec.
//!
//! This code runs in a copy of a possibly multi-threaded parent, where only the cloning
//! thread exists and any lock another thread held stays locked forever. So: no heap
//! allocation, no locks, no logging, no panics (no indexing, no unwrap), only the wrappers in
//! [`crate::sys`] on data the parent prepared. A failing step writes `(index, errno)` to the
//! error pipe and the child `_exit`s; the parent turns that back into a typed error.

mod exec;
mod init;
mod mounts;
mod numa;
pub(crate) mod overlay;
mod populate;
pub(crate) mod premade_mounts;
mod privileges;
mod process;

use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::pid1::protocol::{self, EXIT_SETUP_FAILED};
use crate::plan::{Plan, Step};
use crate::sys::{self, SysResult};

/// What the step loop works on. The payload, forked with CLONE_VM by `ForkInit`, goes on with
/// the same context through a pointer: its parent (the init) is suspended until it execs.
pub(super) struct Context<'a> {
    steps: &'a [Step],
    slots: &'a mut [RawFd],
    error_fd: RawFd,
    clock: crate::timing::Stamper,
    /// The payload's stack (lowest address, size); null once taken.
    payload_stack: (*mut u8, usize),
    /// Where the payload, forked by `ForkInit`, goes on, and the init's fds it closes first
    /// (the status pipe, the confirmation pipe's write end, the lifeline).
    payload_resume: (usize, [RawFd; 3]),
    root: RawFd,
}

/// What the child needs of the plan, taken apart before clone: raw parts of the fields the
/// child reads (steps) and writes (slots), and copies of the rest. With CLONE_VM the child runs
/// on the caller's memory while the caller goes on using, and moving, the plan's other fields;
/// it never touches these until the child has executed or exited.
pub(crate) struct ChildStart {
    steps: (*const Step, usize),
    slots: (*mut RawFd, usize),
    error_fd: RawFd,
    clock: crate::timing::Stamper,
    payload_stack: (*mut u8, usize),
}

impl ChildStart {
    pub fn new(plan: &mut Plan) -> ChildStart {
        ChildStart {
            steps: (plan.steps.as_ptr(), plan.steps.len()),
            slots: (plan.slots.as_mut_ptr(), plan.slots.len()),
            error_fd: plan.error_fd,
            clock: plan.clock.stamper(),
            payload_stack: plan
                .payload_stack
                .as_ref()
                .map_or((std::ptr::null_mut(), 0), |s| s.range()),
        }
    }
}

/// The entry of a setup process cloned onto its own stack with CLONE_VM (see
/// [`crate::stack::clone3_on_stack`]): `arg` is the [`ChildStart`].
///
/// The steps touch no thread-local (errno included, see `sys`): this process runs on the
/// caller's.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) extern "C" fn run_shared(arg: *mut libc::c_void) -> ! {
    // SAFETY: spawn passes its live ChildStart, which (with the plan it points into) outlives
    // this process's use of it.
    let start = unsafe { &*(arg as *const ChildStart) };
    run(start)
}

/// Runs the plan; never returns. Called in the child right after clone.
pub(crate) fn run(start: &ChildStart) -> ! {
    start.clock.stamp(start.clock.child_start_slot());
    // SAFETY: the parts of the plan's steps and slots, alive and untouched by the parent until
    // this process has executed or exited (ChildStart); nothing else in this process uses them.
    let (steps, slots) = unsafe {
        (
            std::slice::from_raw_parts(start.steps.0, start.steps.1),
            std::slice::from_raw_parts_mut(start.slots.0, start.slots.1),
        )
    };
    let mut context = Context {
        steps,
        slots,
        error_fd: start.error_fd,
        clock: start.clock,
        payload_stack: start.payload_stack,
        payload_resume: (0, [-1, -1, -1]),
        root: -1,
    };
    run_from(&mut context, 0)
}

/// Runs the steps from `from` on; never returns (the last step execs or the process exits).
pub(super) fn run_from(context: &mut Context<'_>, from: usize) -> ! {
    let steps = context.steps;
    for (index, step) in steps.iter().enumerate().skip(from) {
        let result = match step {
            Step::ForkInit {
                status_fd,
                ready_read,
                ready_write,
                lifeline,
                binary,
                bounding,
                shared_memory,
            } => {
                let fds = init::InitFds {
                    status: *status_fd,
                    ready_read: *ready_read,
                    ready_write: *ready_write,
                    lifeline: *lifeline,
                    binary: *binary,
                };
                init::start(context, index, fds, *bounding, *shared_memory)
            }
            Step::StartConnector {
                socket,
                ready,
                binary,
                bounding,
            } => init::start_connector(context, *socket, *ready, *binary, *bounding),
            step => run_step(step, &mut context.root, context.slots),
        };
        if let Err(errno) = result {
            report(context.error_fd, index, errno);
            sys::exit(EXIT_SETUP_FAILED);
        }
        context.clock.stamp(index);
    }
    // The last step is Exec, which only returns on failure.
    sys::exit(EXIT_SETUP_FAILED)
}

/// Sends `(step index, errno)` to the parent: 8 bytes, one atomic pipe write.
pub(super) fn report(error_fd: RawFd, index: usize, errno: Errno) {
    let _ = sys::write_all(error_fd, &protocol::encode_report(index as u32, errno as i32));
}

/// The `OpenPty` step: master to the caller, slave as stdio and controlling terminal (and
/// `/dev/console`, given to `console`'s uid).
fn open_pty(socket: RawFd, rows: u16, cols: u16, console: Option<libc::uid_t>) -> SysResult<()> {
    let opened = sys::open_pty(rows, cols);
    let result = opened.and_then(|(master, slave)| {
        let sent = sys::send_fd(socket, master);
        sys::close(master);
        let consoled = match console {
            Some(uid) => sent.and_then(|()| bind_console(slave, uid)),
            None => sent,
        };
        let result = consoled
            .and_then(|()| (0..3).try_for_each(|stdio| sys::dup2(slave, stdio)))
            .and_then(|()| sys::set_controlling_terminal(0));
        sys::close(slave);
        result
    });
    sys::close(socket);
    result
}

/// The pty's slave, owned by the payload's uid (devpts gave it to root, who opened it), bound
/// onto `/dev/console`: a file made in nsbox's own /dev (or one there already), opened without
/// following a symlink and mounted onto by fd, never by a path that could be swapped
/// (CVE-2025-52565).
fn bind_console(slave: RawFd, uid: libc::uid_t) -> SysResult<()> {
    sys::fchown(slave, uid, u32::MAX)?;
    match sys::openat(
        libc::AT_FDCWD,
        c"/dev/console",
        libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_RDONLY,
        0,
    ) {
        Ok(made) => sys::close(made),
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let target = sys::openat(libc::AT_FDCWD, c"/dev/console", libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    let bound = sys::fstat(target)
        .and_then(|st| match st.st_mode & libc::S_IFMT {
            libc::S_IFREG | libc::S_IFCHR => Ok(()),
            _ => Err(Errno::ELOOP),
        })
        .and_then(|()| sys::open_tree(slave, c"", libc::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as libc::c_uint))
        .and_then(|tree| {
            let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
            let moved = sys::move_mount(tree, c"", target, c"", flags);
            sys::close(tree);
            moved
        });
    sys::close(target);
    bound
}

fn slot(slots: &[RawFd], index: usize) -> SysResult<RawFd> {
    slots.get(index).copied().filter(|fd| *fd >= 0).ok_or(Errno::EBADF)
}

/// `Step::RunHook`: the hook forked with `stdin` as its fd 0, waited for. Its execve's errno
/// comes back on a close-on-exec pipe (nothing arrives when it executed).
fn run_hook(
    path: &std::ffi::CStr,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    stdin: RawFd,
    timeout: u32,
) -> SysResult<()> {
    let (errors_r, errors_w) = sys::pipe_cloexec()?;
    let pid = match sys::fork() {
        Ok(pid) => pid,
        Err(e) => {
            sys::close(errors_r);
            sys::close(errors_w);
            return Err(e);
        }
    };
    if pid == 0 {
        sys::close(errors_r);
        let errno = match sys::dup2(stdin, 0).and_then(|()| sys::reset_signals()) {
            Ok(()) => {
                if timeout > 0 {
                    sys::alarm(timeout);
                }
                sys::execve(path, argv, envp)
            }
            Err(e) => e,
        };
        let _ = sys::write_all(errors_w, &(errno as i32).to_ne_bytes());
        sys::exit(EXIT_SETUP_FAILED);
    }
    sys::close(errors_w);
    sys::close(stdin);
    let mut raw = [0u8; 4];
    let got = sys::read_full(errors_r, &mut raw);
    sys::close(errors_r);
    let status = sys::wait_for(pid)?;
    if got == Ok(raw.len()) {
        return Err(Errno::from_raw(i32::from_ne_bytes(raw)));
    }
    match (libc::WIFEXITED(status), libc::WIFSIGNALED(status)) {
        (true, _) if libc::WEXITSTATUS(status) == 0 => Ok(()),
        (_, true) if libc::WTERMSIG(status) == libc::SIGALRM && timeout > 0 => Err(Errno::ETIMEDOUT),
        _ => Err(Errno::ECANCELED),
    }
}

/// `Step::ForkAway`: only the child returns.
fn fork_away(pid_fd: RawFd) -> SysResult<()> {
    let pid = sys::fork()?;
    if pid == 0 {
        sys::close(pid_fd);
        return Ok(());
    }
    let sent = sys::write_all(pid_fd, &pid.to_ne_bytes());
    // The child carries on alone; without its pid the caller cannot find it, so it must not
    // run: killed, and this process fails the step.
    if let Err(e) = sent {
        sys::kill(pid, libc::SIGKILL);
        return Err(e);
    }
    sys::exit(0)
}

/// Runs one step: the process's own attributes here, the rest by concern (mounts,
/// privileges, exec).
fn run_step(step: &Step, root: &mut RawFd, slots: &mut [RawFd]) -> SysResult<()> {
    match step {
        Step::CloseFd(fd) => {
            sys::close(*fd);
            Ok(())
        }
        Step::ParentDeathSignal(signal) => sys::prctl(libc::PR_SET_PDEATHSIG, *signal as libc::c_ulong),
        Step::WaitForParent(fd) => {
            let mut byte = [0u8; 1];
            let got = sys::read_full(*fd, &mut byte)?;
            sys::close(*fd);
            // EOF: the parent died or gave up; nothing may run.
            if got == 1 { Ok(()) } else { Err(Errno::ECANCELED) }
        }
        Step::JoinCgroup(fd) => {
            let joined = sys::write_all(*fd, b"0");
            sys::close(*fd);
            joined
        }
        Step::Unshare(flags) => sys::unshare(*flags),
        // With a pidfd, every namespace of that process at once, the user namespace first.
        Step::JoinNamespaces { pidfd, flags } => sys::setns(*pidfd, *flags),
        Step::NewSession => sys::setsid(),
        Step::SetHostname(name) => sys::sethostname(name.as_bytes()),
        Step::LoopbackUp => sys::loopback_up(),
        Step::Chdir(dir) => {
            sys::chdir(dir)?;
            if sys::cwd_is_inside_root()? {
                Ok(())
            } else {
                Err(Errno::EPERM)
            }
        }
        Step::Dup { from, to } => sys::dup2(*from, *to),
        Step::CloseOtherFds { preserved } => {
            (3..3 + *preserved as RawFd).try_for_each(|fd| sys::set_cloexec(fd, false))?;
            sys::cloexec_from(3 + preserved)
        }
        Step::OpenPty {
            socket,
            rows,
            cols,
            console,
        } => open_pty(*socket, *rows, *cols, *console),
        Step::BlockSignals => sys::block_all_signals(),
        // Handled by `run_from`, which has the context they need.
        Step::ForkInit { .. } | Step::StartConnector { .. } => Err(Errno::EINVAL),
        Step::ResetSignals => sys::reset_signals(),
        Step::PrivatePropagation
        | Step::SlavePropagation
        | Step::OpenSource { .. }
        | Step::Stage { .. }
        | Step::StageOverlay { .. }
        | Step::Bind { .. }
        | Step::AttachTree { .. }
        | Step::Shadow { .. }
        | Step::Populate { .. }
        | Step::MountPoint { .. }
        | Step::OpenMountDir { .. }
        | Step::BindInto { .. }
        | Step::MountInto { .. }
        | Step::SymlinkInto { .. }
        | Step::DevDir { .. }
        | Step::MakeDevice { .. }
        | Step::Mount { .. }
        | Step::Symlink { .. }
        | Step::ReadOnlyMount(..)
        | Step::ReadOnlyRoot
        | Step::PivotRoot
        | Step::CheckDevNull
        | Step::MaskPath { .. }
        | Step::ReadOnlyPath(..) => mounts::run(step, root, slots),
        Step::SetCredentials { .. }
        | Step::NotDumpable
        | Step::NoNewPrivileges
        | Step::SetRlimit { .. }
        | Step::DropBoundingSet { .. }
        | Step::KeepCapabilities
        | Step::SetCapabilities { .. }
        | Step::Seccomp(..)
        | Step::LandlockRuleset { .. }
        | Step::LandlockRule { .. } => privileges::run(step),
        Step::Lookup(candidates) => exec::lookup(candidates),
        Step::ForkAway { pid_fd } => fork_away(*pid_fd),
        Step::RunHook {
            path,
            argv,
            envp,
            stdin,
            timeout,
            ..
        } => run_hook(path, argv, envp, *stdin, *timeout),
        Step::Exec { .. } => exec::run(step),
        Step::WriteFile { .. }
        | Step::SetDomainname(..)
        | Step::Umask(..)
        | Step::Personality(..)
        | Step::IoPriority(..)
        | Step::Scheduler(..)
        | Step::JoinNamespaceFile { .. } => process::run(step),
        Step::MemoryPolicy { .. } | Step::CpuAffinity(..) => numa::run(step),
    }
}
