//! The process attribute steps (see `crate::process_attrs`): a file write (oom_score_adj,
//! sysctls), the domain name, the umask.

use nix::errno::Errno;
use syscalls::{Sysno, syscall};

use crate::plan::Step;
use crate::sys::{self, SysResult};

pub(super) fn run(step: &Step) -> SysResult<()> {
    match step {
        Step::WriteFile { path, value } => {
            let fd = sys::openat(libc::AT_FDCWD, path, libc::O_WRONLY | libc::O_CLOEXEC, 0)?;
            let written = sys::write_all(fd, value.as_bytes());
            sys::close(fd);
            written
        }
        Step::SetDomainname(name) => {
            let bytes = name.as_bytes();
            // SAFETY: a valid slice; the kernel reads bytes.len() bytes.
            let ret = unsafe { syscall!(Sysno::setdomainname, bytes.as_ptr(), bytes.len()) };
            ret.map(drop).map_err(|e| Errno::from_raw(e.into_raw()))
        }
        Step::Umask(mask) => {
            // SAFETY: no memory is passed; umask cannot fail.
            let _ = unsafe { syscall!(Sysno::umask, *mask) };
            Ok(())
        }
        _ => Err(Errno::EINVAL),
    }
}
