//! The container init binary (built from `nsbox_init.rs` by build.rs) and the sealed memfd
//! the init process executes it from.
//!
//! Executing a separate ~2 KB program keeps the init from holding a copy-on-write image of the
//! host program (whose every later write would then cost a page per running container), and
//! makes the init's `/proc/<pid>/exe` a sealed memfd rather than the host binary (the target of
//! CVE-2019-5736). Where the binary is unavailable or cannot be executed (a
//! `vm.memfd_noexec=2` host), the forked init in `child::init` runs the same loop in process.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// Shared with the binary, which uses what the crate does not (the connector's filter).
#[allow(dead_code)]
pub(crate) mod confinement;
#[allow(dead_code)]
pub(crate) mod protocol;
#[allow(dead_code)]
mod syscall_numbers;

#[cfg(not(nsbox_no_init_binary))]
static BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/nsbox-init"));
#[cfg(nsbox_no_init_binary)]
static BINARY: &[u8] = &[];

/// `MFD_EXEC` (Linux 6.3): say the memfd is meant to be executed, for hosts that default
/// memfds to non-executable.
const MFD_EXEC: libc::c_uint = 0x10;

/// A new sealed, close-on-exec memfd holding the init binary, or `None` (logged) if it cannot
/// be made. One per spawn, closed by the parent after clone: a cached fd could be closed or
/// reused by the host program behind our back.
pub(crate) fn memfd() -> Option<OwnedFd> {
    create()
        .map_err(|e| tracing::debug!(error = %e, "no init binary memfd; the init runs forked"))
        .ok()
}

/// Whether the init binary is built in (not on architectures build.rs does not build it for).
pub(crate) fn binary_built() -> bool {
    !BINARY.is_empty()
}

fn create() -> std::io::Result<OwnedFd> {
    if BINARY.is_empty() {
        return Err(std::io::Error::other("built without the init binary"));
    }
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: the name is a NUL-terminated literal.
    let mut raw = unsafe { libc::memfd_create(c"nsbox-init".as_ptr(), flags | MFD_EXEC) };
    if raw < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // SAFETY: as above; kernels before 6.3 do not know MFD_EXEC.
        raw = unsafe { libc::memfd_create(c"nsbox-init".as_ptr(), flags) };
    }
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: memfd_create returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // Never at 0-2, where the child's stdio dup2s would land on it.
    let fd = if raw < 3 {
        let high = crate::sys::dup_above(raw, 3, true)?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
        unsafe { OwnedFd::from_raw_fd(high) }
    } else {
        fd
    };
    crate::sys::write_all(fd.as_raw_fd(), BINARY)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl with integer arguments on our fd.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    /// The init is a container's one resident helper: it stays under 4 KB (issue 11).
    #[test]
    #[cfg(not(nsbox_no_init_binary))]
    fn init_binary_stays_under_4_kib() {
        assert!(
            super::BINARY.len() < 4096,
            "nsbox-init is {} bytes",
            super::BINARY.len()
        );
    }
}
