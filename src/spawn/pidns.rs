//! A joined PID namespace (`ContainerBuilder::join_namespace` with `Namespaces::PID`): the
//! spawning thread enters it for the clone only, so the setup process is born in it.
//!
//! `setns(CLONE_NEWPID)` changes only the calling thread's `pid_ns_for_children`, never the
//! namespace it is in (`pidns_install`), so the caller's other threads, and this one's own
//! pid, never change; it needs no single-threaded caller, and the target must be the caller's
//! active PID namespace or one below it (else `EINVAL`). Going back to the namespace the
//! thread's children were born in before is therefore always allowed. The thread is back
//! before `spawn` goes on, on every path; if it cannot be, the spawn fails loudly, since
//! every process this thread forked next would be born in the container's namespace.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use crate::error::{CleanupAction, CleanupError, Error, Result, SetupError, SetupStep};

/// The spawning thread, its children born in a joined PID namespace until
/// [`leave`](Self::leave) or drop.
pub(super) struct ThreadPidns {
    /// The namespace the thread's children were born in before; `None` once back.
    own: Option<OwnedFd>,
}

impl ThreadPidns {
    /// Enters `target` (a checked PID namespace file, opened from `path`).
    pub(super) fn enter(target: impl AsFd, path: &Path) -> Result<ThreadPidns> {
        let own = std::fs::File::open("/proc/thread-self/ns/pid_for_children")
            .map(OwnedFd::from)
            .map_err(|e| Error::io("open this thread's PID namespace for children", e))?;
        nix::sched::setns(target, CloneFlags::CLONE_NEWPID).map_err(|e| {
            SetupError::new(
                SetupStep::JoinNamespaces,
                Some(path.to_path_buf()),
                crate::errno::Errno::from_nix(e),
            )
        })?;
        Ok(ThreadPidns { own: Some(own) })
    }

    /// Returns the thread's children to its own namespace.
    pub(super) fn leave(mut self) -> Result<()> {
        self.back()
    }

    fn back(&mut self) -> Result<()> {
        match self.own.take() {
            Some(own) => nix::sched::setns(&own, CloneFlags::CLONE_NEWPID)
                .map_err(|e| Error::io("return to the caller's PID namespace for children", e)),
            None => Ok(()),
        }
    }
}

impl Drop for ThreadPidns {
    /// An early return or a panic between `enter` and `leave` must not leave the caller's
    /// thread forking into the container's namespace.
    fn drop(&mut self) {
        if let Err(e) = self.back() {
            tracing::error!(error = %e, "the spawning thread could not return to its own PID namespace for children");
        }
    }
}

/// The failure to return the spawning thread, as a cleanup failure beside another error.
pub(super) fn leave_failed(e: &Error) -> CleanupError {
    let errno = e.errno().unwrap_or(crate::errno::Errno::EIO).raw();
    CleanupError::new(
        CleanupAction::LeavePidNamespace,
        None,
        &std::io::Error::from_raw_os_error(errno),
    )
}

/// A clone that failed in a joined PID namespace names it: `ENOMEM` there means its init
/// has exited (`alloc_pid`: the namespace takes no new process).
pub(super) fn clone_failed(e: Error, path: Option<PathBuf>) -> Error {
    match (e, path) {
        (Error::Setup(setup), Some(path)) if setup.step == SetupStep::Clone && setup.path.is_none() => {
            SetupError::new(SetupStep::Clone, Some(path), setup.errno).into()
        }
        (e, _) => e,
    }
}
