//! `kill [--all] ID [SIGNAL]`: the payload (pinned by a pidfd, its start time checked), or
//! every process of the container's cgroup.

use crate::Ctx;
use crate::error::{Context, Result, fail};
use crate::state::Status;

pub fn kill(ctx: &mut Ctx, id: &str, signal: &str, all: bool) -> Result<()> {
    let state = ctx.store.load(id)?;
    let Some(signal) = crate::process::parse_signal(signal) else {
        fail!("unknown signal {signal:?}");
    };
    if all {
        // runc signals what is left even of a stopped container with --all: every process
        // of its cgroups once, at any depth (the core's walk), SIGKILL through cgroup.kill
        // where the kernel has it.
        let cgroup = crate::cgroup::open(&state.cgroup_path)?;
        let Ok(signal) = nsbox::Signal::try_from(signal) else {
            fail!("signal {signal} cannot be sent to a cgroup");
        };
        return cgroup
            .kill_all(signal)
            .context("cannot signal the container's processes");
    }
    if ctx.store.status(&state) == Status::Stopped {
        fail!("container not running");
    }
    let Some(pidfd) = crate::process::open(state.pid, state.pid_start) else {
        fail!("container not running");
    };
    match crate::process::signal(&pidfd, signal) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => fail!("container not running"),
        Err(e) => fail!("cannot signal container {id}: {e}"),
    }
}
