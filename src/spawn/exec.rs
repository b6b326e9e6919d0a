//! Starting a process in a running container (exec): the parent's side.
//!
//! The setup process is cloned as after fork (no `CLONE_VM`: it becomes the exec's
//! nsbox-init, and with the fork path no caller memory is shared while it joins the
//! container), into the container's v2 cgroup when clone3 can. It joins the container's
//! namespaces and forks the exec'd process into them, as a spawn's init forks the payload, and
//! this handle is to it as a `Container` is to its init: the pidfd, the status pipe, the
//! lifeline. See `plan::exec` and docs/architecture.md, "Exec".

use std::os::fd::AsRawFd;

use super::{clone, decode_report};
use crate::child::ChildStart;
use crate::container::Container;
use crate::errno::Errno;
use crate::error::{Error, Result, SetupError, SetupStep};
use crate::exec::{DetachedExec, Exec, ExecSettings};
use crate::pid1::protocol;
use crate::plan::Plan;
use crate::sys;

pub(crate) fn exec(container: &Container, settings: &ExecSettings) -> Result<Exec> {
    let Started {
        config,
        mut plan,
        pid,
        pidfd,
    } = start(container, settings, false)?;
    let id = format!("{}/exec", container.id());
    let mut process = Container::new(id, pid, pidfd, plan.parent.status.take(), false, None);
    process.set_output_limit(config.bounds.output_limit);
    process.set_lifeline(plan.parent.lifeline.take());
    // The setup process has its own copies now; ours would hold the pipes open.
    plan.child_fds.clear();
    let parent = plan.parent;

    let mut report = [0u8; protocol::REPORT_LEN];
    let got = sys::read_full(parent.error.as_raw_fd(), &mut report)
        .map_err(|e| Error::io("read the exec's setup report", e))?;
    if got == 0 {
        process.set_stdio(parent.stdin, parent.stdout, parent.stderr);
        if let Some(socket) = &parent.pty {
            match crate::pty::receive_master(socket) {
                Ok(pty) => process.set_pty(pty),
                Err(e) => {
                    let cleanup = process.kill_and_reap();
                    return Err(Error::io("receive the exec's pty", e).with_cleanup(cleanup));
                }
            }
        }
        process.setup_done();
        tracing::debug!(id = container.id(), pid = pid.as_raw(), "exec'd");
        return Ok(Exec::new(process));
    }
    let cleanup = process.reap_after_setup_failure();
    let (index, errno) = decode_report(&report, got);
    Err(failure(
        container,
        &config,
        (&plan.labels, &plan.steps),
        (index, errno),
        cleanup,
    ))
}

/// An exec forked away from its setup process (`ExecBuilder::spawn_detached`): the setup
/// process sends the exec'd process's pid on the status pipe and exits, which is reaped here;
/// the exec'd process closes the error pipe at its exec.
pub(crate) fn exec_detached(container: &Container, settings: &ExecSettings) -> Result<DetachedExec> {
    let Started {
        config,
        mut plan,
        pid,
        pidfd,
    } = start(container, settings, true)?;
    // The setup process: reaped here whatever happens (its handle kills and reaps on drop).
    let mut setup = Container::new(format!("{}/exec-setup", container.id()), pid, pidfd, None, false, None);
    plan.child_fds.clear();
    let parent = plan.parent;
    let mut raw_pid = [0u8; 4];
    let status = parent.status.as_ref().map(|s| s.as_raw_fd()).unwrap_or(-1);
    let got_pid = sys::read_full(status, &mut raw_pid).map_err(|e| Error::io("read the exec's pid", e))?;
    // Held at once (the exec'd process is no child of ours, and its new parent may reap it):
    // a failure reported after the fork must not leave it running unseen. It reports and exits
    // itself, but once its launcher runs it is dumpable, and a process of the container with
    // its uid can make it write a report and carry on.
    let exec_pidfd = (got_pid == raw_pid.len())
        .then(|| pidfd_of(i32::from_ne_bytes(raw_pid)))
        .flatten();
    let kill_exec = || {
        if let Some(fd) = &exec_pidfd {
            // SAFETY: pidfd_send_signal on our own pidfd with no siginfo.
            unsafe {
                libc::syscall(
                    libc::SYS_pidfd_send_signal,
                    fd.as_raw_fd(),
                    libc::SIGKILL,
                    std::ptr::null::<libc::siginfo_t>(),
                    0,
                )
            };
        }
    };
    let mut report = [0u8; protocol::REPORT_LEN];
    let got = sys::read_full(parent.error.as_raw_fd(), &mut report)
        .map_err(|e| Error::io("read the exec's setup report", e))?;
    if got == 0 && got_pid == raw_pid.len() {
        let exec_pid = i32::from_ne_bytes(raw_pid) as u32;
        let pty = match &parent.pty {
            Some(socket) => match crate::pty::receive_master(socket) {
                Ok(pty) => Some(pty),
                Err(e) => {
                    kill_exec();
                    let cleanup = setup.kill_and_reap();
                    return Err(Error::io("receive the exec's pty", e).with_cleanup(cleanup));
                }
            },
            None => None,
        };
        setup.setup_done();
        setup.wait()?;
        tracing::debug!(id = container.id(), pid = exec_pid, "exec'd, detached");
        return Ok(DetachedExec { pid: exec_pid, pty });
    }
    kill_exec();
    let cleanup = setup.reap_after_setup_failure();
    let (index, errno) = match got {
        0 => (usize::MAX, Errno::EIO),
        _ => decode_report(&report, got),
    };
    Err(failure(
        container,
        &config,
        (&plan.labels, &plan.steps),
        (index, errno),
        cleanup,
    ))
}

/// A started exec's setup process, its plan and the exec's configuration.
struct Started {
    config: crate::config::Config,
    plan: Plan,
    pid: nix::unistd::Pid,
    pidfd: std::os::fd::OwnedFd,
}

/// The exec's configuration and plan, its setup process cloned (into the container's v2
/// cgroup when clone3 can); `Error::NotRunning` for a container that is gone.
fn start(container: &Container, settings: &ExecSettings, detached: bool) -> Result<Started> {
    let not_running = || Error::NotRunning {
        id: container.id().to_owned(),
    };
    let (Some(config), cgroup) = container.exec_parts() else {
        return Err(not_running());
    };
    let config = crate::config::exec_config(config, settings)?;
    if container.has_exited() {
        return Err(not_running());
    }
    // From here a process of nsbox's may be placed in the container's cgroup.
    container.mark_exec_started();
    crate::preserve_fds::check_open(settings.preserved_fds).map_err(|e| Error::io("preserve the caller's fds", e))?;
    // The container's cgroups, or the sub-cgroups asked for (`crate::exec_cgroup`).
    let cgroups = crate::exec_cgroup::resolve(cgroup, settings, crate::kernel::clone3_available())?;
    let mut plan = Plan::for_exec(&config, container.pidfd().as_raw_fd(), cgroups.joins, detached)?;
    tracing::trace!(id = container.id(), detached, "exec plan:\n{}", plan.render());
    let start = ChildStart::new(&mut plan);
    let (pid, pidfd) = clone(&mut plan, &start, cgroups.clone_into).map_err(|e| with_pids_hint(e, &config))?;
    Ok(Started {
        config,
        plan,
        pid,
        pidfd,
    })
}

/// The typed error of a failed exec setup (its setup process reaped, `cleanup` what that
/// left): `NotRunning` when the container's first process exited meanwhile (no namespaces to
/// join, ESRCH, or a PID namespace that takes no new process, ENOMEM at the fork), else the
/// step, path and errno with a hint worked out in the running container's own root where it
/// can be opened (it has the container's mounts), else as the configuration made it.
fn failure(
    container: &Container,
    config: &crate::config::Config,
    (labels, steps): (&[(SetupStep, Option<std::path::PathBuf>)], &[crate::plan::Step]),
    (index, errno): (usize, Errno),
    cleanup: Vec<crate::error::CleanupError>,
) -> Error {
    let (step, path) = labels.get(index).cloned().unwrap_or((SetupStep::Exec, None));
    let gone = matches!(
        (step, errno),
        (SetupStep::JoinNamespaces, Errno::ESRCH) | (SetupStep::Init, Errno::ENOMEM)
    );
    if gone && container.has_exited() {
        return Error::NotRunning {
            id: container.id().to_owned(),
        }
        .with_cleanup(cleanup);
    }
    let view = crate::hint::View::of_process(container.pid() as i32).unwrap_or(crate::hint::View::Config(config));
    let hint = crate::hint::for_failure(config, &view, step, path.as_deref(), errno, steps.get(index));
    let error = SetupError::new(step, path, errno).with_hint(hint);
    tracing::debug!(%error, "exec setup failed");
    Error::from(error).with_cleanup(cleanup)
}

/// A pidfd for `pid`, or `None` if it is gone already.
fn pidfd_of(pid: i32) -> Option<std::os::fd::OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: pidfd_open returned a new fd that nothing else owns.
    (fd >= 0).then(|| unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) })
}

/// A clone refused with `EAGAIN` in a container with a pids limit: the hint says the limit is
/// reached.
fn with_pids_hint(e: Error, config: &crate::config::Config) -> Error {
    match e {
        Error::Setup(setup) if setup.errno == Errno::EAGAIN => {
            let view = crate::hint::View::Config(config);
            let hint = crate::hint::for_failure(config, &view, setup.step, None, setup.errno, None);
            Error::Setup(setup.with_hint(hint))
        }
        other => other,
    }
}
