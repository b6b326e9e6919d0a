//! Starting a container: clone, the parent's part of the handshake, and turning a failure
//! report from the child back into a typed error.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::unistd::Pid;

use crate::cgroup::Cgroup;
use crate::child::ChildStart;
use crate::config::Config;
use crate::container::Container;
use crate::errno::Errno;
use crate::error::{CleanupAction, CleanupError, Error, Result, SetupError, SetupStep};
use crate::net::{Connector, Forwarder, Listeners, Network};
use crate::pid1::protocol;
use crate::plan::Plan;
use crate::stack::Stack;
use crate::sys;
use crate::timing::Recorder;

mod exec;
mod netns;
mod pidns;
mod stopped;
mod userns;
pub(crate) use exec::{exec, exec_detached};
use netns::ThreadNetns;
use pidns::ThreadPidns;

/// `CLONE_INTO_CGROUP` (Linux 5.7); libc's constant is deprecated for overflowing a c_int.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

pub(crate) fn spawn(config: &Config) -> Result<Container> {
    config
        .start
        .check_preserved_fds()
        .map_err(|e| Error::io("preserve the caller's fds", e))?;
    let mut clock = Recorder::start();
    let pooled = config.cgroup_pool.as_ref().and_then(|pool| pool.take(config));
    let (id, cgroup, cgroup_return) = match pooled {
        Some((premade, back)) => (premade.id, Some(premade.cgroup), back),
        None => {
            let id = container_id();
            let cgroup = Cgroup::for_config(config, &id)?;
            (id, cgroup, None)
        }
    };
    clock.mark("cgroup create");
    // Until the container owns the cgroup, a failure removes it and reports what was left.
    let abandon = |e: Error, cgroup: Option<Cgroup>| e.with_cleanup(cgroup.map(|mut c| c.remove()).unwrap_or_default());
    let shared_memory = crate::shared_memory::allowed(config, cgroup.as_ref());
    let premade = config.namespace_pool.as_ref().and_then(|pool| pool.take(config));
    let mut plan = match Plan::new(config, &id, cgroup.as_ref(), shared_memory, premade) {
        Ok(plan) => plan,
        Err(e) => return Err(abandon(e, cgroup)),
    };
    clock.mark("plan");
    // Rendered only when trace logging is on for this crate.
    tracing::trace!(id = %id, "plan:\n{}", plan.render());
    clock.share(plan.steps.len());
    plan.clock = clock;
    let listeners = match config.ports.is_empty() {
        true => None,
        false => match Listeners::bind(&config.ports) {
            Ok(listeners) => Some(listeners),
            Err(e) => return Err(abandon(e, cgroup)),
        },
    };
    let joined = match &config.network {
        Network::Join(target) => match ThreadNetns::enter(target) {
            Ok(joined) => Some(joined),
            Err(e) => return Err(abandon(e, cgroup)),
        },
        _ => None,
    };
    // A joined PID namespace: entered the same way, for the clone only. Dropped (back) on an
    // early return; a failure to go back is an error.
    let pid_join = plan.pid_namespace.take();
    let pid_joined = match &pid_join {
        Some((fd, path)) => match ThreadPidns::enter(fd, path) {
            Ok(joined) => Some(joined),
            Err(e) => {
                let left = joined.map(ThreadNetns::leave).and_then(Result::err);
                let e = e.with_cleanup(left.map(|left| leave_failed(&left)).into_iter().collect());
                return Err(abandon(e, cgroup));
            }
        },
        None => None,
    };
    // From the clone until the child has executed or exited, it may run on this process's
    // memory (CLONE_VM): `start` and the plan it points into stay where they are, and the
    // container, made right away and dropped first on every early return or unwinding, kills
    // and reaps the child before they go.
    let start = ChildStart::new(&mut plan);
    let cloned = clone(&mut plan, &start, cgroup.as_ref().and_then(Cgroup::clone_into_fd));
    // Back to the caller's own PID namespace for children first: nothing forks before.
    let pid_left = pid_joined.map(ThreadPidns::leave).and_then(Result::err);
    let (pid, pidfd) = match cloned {
        Ok(cloned) => cloned,
        Err(e) => {
            let e = pidns::clone_failed(e, pid_join.map(|(_, path)| path));
            let left = joined.map(ThreadNetns::leave).and_then(Result::err);
            let mut cleanup: Vec<CleanupError> = left.map(|left| leave_failed(&left)).into_iter().collect();
            cleanup.extend(pid_left.map(|left| pidns::leave_failed(&left)));
            return Err(abandon(e.with_cleanup(cleanup), cgroup));
        }
    };
    let mut container = Container::new(id, pid, pidfd, plan.parent.status.take(), config.detach, cgroup);
    container.set_cgroup_return(cgroup_return);
    container.set_output_limit(config.bounds.output_limit);
    container.set_lifeline(plan.parent.lifeline.take());
    // Back to the caller's own network namespace before anything else. A failure to go back
    // to either fails the spawn (the container is killed and reaped as it drops).
    let joined_fd = match (joined.map(ThreadNetns::leave).transpose(), pid_left) {
        (Ok(fd), None) => fd,
        (Ok(_), Some(e)) => return Err(e),
        (Err(e), left) => {
            return Err(e.with_cleanup(left.map(|left| pidns::leave_failed(&left)).into_iter().collect()));
        }
    };
    let mut parent = plan.parent;
    let mut clock = plan.clock;
    clock.mark("clone");
    tracing::debug!(id = container.id(), pid = pid.as_raw(), "container cloned");

    // The child waits for one byte after the id maps (it joins its cgroups itself). Closing
    // the socket (on every path) makes a waiting child stop. Only what must precede the
    // child's setup comes before the byte; storing the configuration follows it.
    // The child has its own copies now; the parent's would hold pipes open (and keep `send`
    // below from seeing EPIPE when the child is gone).
    plan.child_fds.clear();
    // A pre-made pair is mapped already.
    let premade = plan.premade.take();
    let mut handshake = match (&plan.id_maps, &premade) {
        (Some(maps), None) => maps.write(pid).map_err(Error::from),
        _ => Ok(()),
    };
    // Born in a pair: the caller holds the new mount namespace until the reap, and the pair's
    // pool releases it (off `wait`'s path). Opened while the child waits for the byte, in its
    // mount namespace (ptrace read access: for an unprivileged caller only where the setup
    // process runs on the caller's memory; otherwise it is not held, see `NamespacePool`).
    if handshake.is_ok()
        && premade.is_some()
        && config.namespaces.contains(crate::namespaces::Namespaces::MOUNT)
        && let Some(pool) = &config.namespace_pool
    {
        let held = pool.hold_mount_namespace(container.pidfd(), pid.as_raw());
        container.hold_mount_namespace(held);
    }
    drop(premade);
    clock.mark("id maps");
    // Host network devices into the container's namespace, before anything runs in it.
    if handshake.is_ok() {
        handshake = crate::net::move_devices(&config.net_devices, pid.as_raw() as u32);
    }
    if handshake.is_ok() {
        // The namespaces exist since the clone; nothing of the container is set up yet.
        handshake = config
            .start
            .run_created(pid.as_raw() as u32)
            .map_err(|e| Error::io("run an on_created hook", e));
    }
    if handshake.is_ok() {
        handshake = feed_hooks(config, std::mem::take(&mut parent.hook_stdin), pid.as_raw() as u32);
    }
    if handshake.is_ok() {
        let sync = parent.sync.as_ref().map_or(-1, |s| s.as_raw_fd());
        // SAFETY: one byte from a live buffer; MSG_NOSIGNAL: EPIPE instead of SIGPIPE.
        let sent = unsafe { libc::send(sync, [1u8].as_ptr().cast(), 1, libc::MSG_NOSIGNAL) };
        // EPIPE: the child is gone (a setup step failed); its report on the error pipe says why.
        if sent != 1 && Errno::last() != Errno::EPIPE {
            handshake = Err(Error::io("release the container's setup process", Errno::last()));
        }
    }
    drop(parent.sync);
    clock.mark("released");
    container.set_config(config);
    if let Err(e) = handshake {
        let cleanup = container.kill_and_reap();
        return Err(e.with_cleanup(cleanup));
    }

    // Born in a joined PID namespace, the setup process can be stopped by its processes.
    if config.process.joined(crate::namespaces::Namespaces::PID).is_some()
        && let Err(e) = stopped::await_report(parent.error.as_fd(), container.pidfd())
    {
        let cleanup = container.kill_and_reap();
        return Err(e.with_cleanup(cleanup));
    }
    let mut report = [0u8; protocol::REPORT_LEN];
    let got =
        sys::read_full(parent.error.as_raw_fd(), &mut report).map_err(|e| Error::io("read the setup report", e))?;
    if got == 0 {
        tracing::debug!(id = container.id(), "container payload executed");
        container.set_stdio(parent.stdin, parent.stdout, parent.stderr);
        if let Some(socket) = &parent.pty {
            match crate::pty::receive_master(socket) {
                Ok(pty) => container.set_pty(pty),
                Err(e) => {
                    let cleanup = container.kill_and_reap();
                    return Err(Error::io("receive the container's pty", e).with_cleanup(cleanup));
                }
            }
        }
        container.set_timings(clock.finish(&plan.labels));
        if let Some(listeners) = listeners {
            let connector = match parent.connector {
                Some(socket) => Ok(Connector::Helper(socket)),
                None => container_netns(pid, joined_fd).map(Connector::Join),
            };
            let started = connector.and_then(|connector| {
                let pidfd = container
                    .pidfd()
                    .try_clone_to_owned()
                    .map_err(|e| Error::io("duplicate the pidfd", e))?;
                Forwarder::start(listeners, connector, pidfd)
            });
            match started {
                Ok(forwarder) => container.set_forwarder(forwarder),
                Err(e) => {
                    let cleanup = container.kill_and_reap();
                    return Err(e.with_cleanup(cleanup));
                }
            }
        }
        container.setup_done();
        if let Err(e) = config.on_spawn.run(&container) {
            let cleanup = container.kill_and_reap();
            return Err(Error::io("run an on_spawn hook", e).with_cleanup(cleanup));
        }
        return Ok(container);
    }
    let cleanup = container.reap_after_setup_failure();
    let (index, errno) = decode_report(&report, got);
    let (step, path) = plan.labels.get(index).cloned().unwrap_or((SetupStep::Exec, None));
    // Worked out here, in the parent, once the setup process is gone: its root as the
    // configuration made it.
    let view = crate::hint::View::Config(config);
    let hint = crate::hint::for_failure(config, &view, step, path.as_deref(), errno, plan.steps.get(index));
    let error = SetupError::new(step, path, errno).with_hint(hint);
    tracing::debug!(%error, "container setup failed");
    Err(Error::from(error).with_cleanup(cleanup))
}

/// Writes each `before_pivot_root` hook's stdin into its pipe and closes it: at most one
/// pipe buffer each, so no write waits for the hook, which runs only once the child is
/// released.
fn feed_hooks(config: &Config, pipes: Vec<OwnedFd>, pid: u32) -> Result<()> {
    for (hook, pipe) in config.start.before_pivot.iter().zip(pipes) {
        let Some(stdin) = &hook.stdin else { continue };
        let bytes = stdin(pid);
        if bytes.len() > crate::start_gate::HOOK_STDIN_MAX {
            let e = std::io::Error::other(format!("{} bytes of stdin for a hook, more than 64 KiB", bytes.len()));
            return Err(Error::io("feed a before_pivot_root hook", e));
        }
        sys::write_all(pipe.as_raw_fd(), &bytes).map_err(|e| {
            Error::io(
                "feed a before_pivot_root hook",
                std::io::Error::from_raw_os_error(e as i32),
            )
        })?;
    }
    Ok(())
}

/// The failure to return the spawning thread to the caller's network namespace.
fn leave_failed(e: &Error) -> CleanupError {
    let errno = e.errno().unwrap_or(Errno::EIO).raw();
    CleanupError::new(
        CleanupAction::LeaveNetworkNamespace,
        None,
        &std::io::Error::from_raw_os_error(errno),
    )
}

/// The network namespace whose ports are published: the joined one, else the container's own.
fn container_netns(pid: Pid, joined: Option<OwnedFd>) -> Result<OwnedFd> {
    if let Some(fd) = joined {
        return Ok(fd);
    }
    let path = format!("/proc/{pid}/ns/net");
    std::fs::File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| Error::io(format!("open {path}"), e))
}

/// The step index and errno of a report; a short one (a process killed mid-write) is EIO.
fn decode_report(report: &[u8; protocol::REPORT_LEN], got: usize) -> (usize, Errno) {
    if got < report.len() {
        return (usize::MAX, Errno::EIO);
    }
    let (index, errno) = protocol::decode_report(report);
    (index as usize, Errno::from_raw(errno))
}

/// clone3 with `CLONE_PIDFD`, and `CLONE_INTO_CGROUP` when there is a v2 cgroup (clone on
/// kernels without clone3); runs the plan in the child.
fn clone(plan: &mut Plan, start: &ChildStart, cgroup_fd: Option<RawFd>) -> Result<(Pid, OwnedFd)> {
    let mut pidfd: RawFd = -1;
    let flags = plan.clone_flags | libc::CLONE_PIDFD as u64;
    if let Some(premade) = &plan.premade {
        // The pair's IPC and UTS namespaces where the spawn would have made them.
        let optional = |fd: &OwnedFd, flag: libc::c_int| match plan.premade_flags & flag as u64 {
            0 => (-1, flag),
            _ => (fd.as_raw_fd(), flag),
        };
        let join = userns::Join {
            user: premade.user.as_raw_fd(),
            path: std::path::Path::new("(a pre-made user namespace)"),
            net: Some(premade.net.as_raw_fd()),
            others: [
                optional(&premade.ipc, libc::CLONE_NEWIPC),
                optional(&premade.uts, libc::CLONE_NEWUTS),
            ],
            premade: Some(plan.setup_stack.as_ref().map(Stack::range)),
        };
        return userns::clone(&join, flags, cgroup_fd, start);
    }
    if let Some((userns, path)) = &plan.user_namespace {
        let join = userns::Join {
            user: userns.as_raw_fd(),
            path,
            net: None,
            others: [(-1, 0); 2],
            premade: None,
        };
        return userns::clone(&join, flags, cgroup_fd, start);
    }
    let use_clone3 = crate::kernel::clone3_available();
    let ret = if use_clone3 {
        // SAFETY: clone_args is plain data; zeroed is valid and the fields we need are set.
        let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
        args.flags = flags;
        if let Some(fd) = cgroup_fd {
            args.flags |= CLONE_INTO_CGROUP;
            args.cgroup = fd as u64;
        }
        args.pidfd = &mut pidfd as *mut RawFd as u64;
        args.exit_signal = libc::SIGCHLD as u64;
        match plan.setup_stack.as_ref().map(Stack::range) {
            Some((low, size)) => match crate::shared_memory::clone_on_stack(&mut args, (low, size), start) {
                Ok(pid) => pid as libc::c_long,
                Err(errno) => {
                    return Err(SetupError::new(SetupStep::Clone, None, Errno::from_nix(errno)).into());
                }
            },
            // SAFETY: without CLONE_VM and with no stack the child runs on a copy of this
            // stack, as after fork; it only runs `child::run`, which never returns.
            None => unsafe {
                libc::syscall(
                    libc::SYS_clone3,
                    &args as *const libc::clone_args,
                    std::mem::size_of::<libc::clone_args>(),
                )
            },
        }
    } else {
        if flags & libc::CLONE_NEWTIME as u64 != 0 {
            // clone(2) reads the low byte as the exit signal, where CLONE_NEWTIME lives.
            return Err(SetupError::new(SetupStep::Clone, None, Errno::ENOSYS).into());
        }
        // SAFETY: as above; clone(2) stores the pidfd through the parent_tid argument.
        unsafe {
            libc::syscall(
                libc::SYS_clone,
                flags | libc::SIGCHLD as u64,
                0usize,
                &mut pidfd as *mut RawFd,
                0usize,
                0usize,
            )
        }
    };
    match ret {
        0 => crate::child::run(start),
        pid if pid > 0 => {
            // SAFETY: the kernel stored a new pidfd that nothing else owns.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            Ok((Pid::from_raw(pid as i32), pidfd))
        }
        _ => Err(SetupError::new(SetupStep::Clone, None, Errno::last()).into()),
    }
}

/// A fresh random id: 12 hex digits, like a short Docker id.
pub(crate) fn container_id() -> String {
    let mut bytes = [0u8; 6];
    // SAFETY: bytes is a valid writable buffer of its length.
    let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if n != bytes.len() as isize {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&(nanos as u64 ^ std::process::id() as u64).to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
