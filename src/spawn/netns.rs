//! `Network::Join`: the spawning thread enters the target network namespace for the clone
//! only, so the child is born in it; network namespaces are per thread, so the caller's other
//! threads never see it, and the thread is back in its own before `spawn` goes on.

use std::os::fd::OwnedFd;

use nix::sched::CloneFlags;

use crate::error::{Error, Result, SetupError, SetupStep};
use crate::net::NetnsRef;

/// The spawning thread, moved into a network namespace until [`leave`](Self::leave) or drop.
pub(super) struct ThreadNetns {
    /// The thread's own namespace; `None` once it is back in it.
    own: Option<OwnedFd>,
    target: Option<OwnedFd>,
}

impl ThreadNetns {
    pub(super) fn enter(target: &NetnsRef) -> Result<ThreadNetns> {
        let target: OwnedFd = match target {
            NetnsRef::Path(path) => std::fs::File::open(path)
                .map(OwnedFd::from)
                .map_err(|e| Error::io(format!("open network namespace {}", path.display()), e))?,
            NetnsRef::Fd(fd) => fd
                .try_clone()
                .map_err(|e| Error::io("duplicate the network namespace fd", e))?,
        };
        let own = std::fs::File::open("/proc/thread-self/ns/net")
            .map(OwnedFd::from)
            .map_err(|e| Error::io("open this thread's network namespace", e))?;
        nix::sched::setns(&target, CloneFlags::CLONE_NEWNET)
            .map_err(|e| SetupError::new(SetupStep::JoinNetwork, None, crate::errno::Errno::from_nix(e)))?;
        Ok(ThreadNetns {
            own: Some(own),
            target: Some(target),
        })
    }

    /// Returns the thread to its own namespace; gives back the joined one's fd.
    pub(super) fn leave(mut self) -> Result<OwnedFd> {
        self.back()?;
        self.target
            .take()
            .ok_or_else(|| Error::io("leave a joined network namespace", nix::errno::Errno::EBADF))
    }

    fn back(&mut self) -> Result<()> {
        match self.own.take() {
            Some(own) => nix::sched::setns(&own, CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::io("return to the caller's network namespace", e)),
            None => Ok(()),
        }
    }
}

impl Drop for ThreadNetns {
    /// An early return or a panic between `enter` and `leave` must not leave the caller's
    /// thread in the container's namespace: every socket it made next would be in there.
    fn drop(&mut self) {
        if let Err(e) = self.back() {
            // Nothing to return it to; the thread stays where it is, which the caller must know.
            tracing::error!(error = %e, "the spawning thread could not return to its own network namespace");
        }
    }
}
