//! What this kernel offers, probed once per process: the calls nsbox uses where present and
//! replaces where not. Every "does the kernel have X" question is answered here, so the
//! modules that need an answer import this one and nothing more.

use std::sync::OnceLock;

use nix::errno::Errno;

/// Whether the kernel (and any seccomp filter we run under) has clone3; probed with arguments
/// it rejects before doing anything.
pub(crate) fn clone3_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        // SAFETY: a NULL clone_args of size 0 is rejected (EINVAL) without creating anything.
        let ret = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<libc::clone_args>(), 0usize) };
        !(ret < 0 && Errno::last() == Errno::ENOSYS)
    })
}

/// Whether the running kernel's release is `major.minor` or later.
pub(crate) fn version_at_least(major: u32, minor: u32) -> bool {
    static VERSION: OnceLock<(u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(release) >= (major, minor)
}

/// `uname -r` as (major, minor); (0, 0) if unreadable.
fn release() -> (u32, u32) {
    // SAFETY: utsname is plain data, filled by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uts is a valid out-pointer.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return (0, 0);
    }
    // SAFETY: the kernel NUL-terminates release.
    let release = unsafe { std::ffi::CStr::from_ptr(uts.release.as_ptr()) }.to_string_lossy();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_version_comparison() {
        assert!(version_at_least(2, 6));
        assert!(!version_at_least(999, 0));
    }
}
