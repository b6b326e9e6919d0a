//! The process attribute steps (see `crate::process_attrs`): a file write (oom_score_adj,
//! sysctls), the domain name, the umask, and the scheduling steps (`crate::scheduling`).

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
        Step::JoinNamespaceFile { path, flags } => {
            let fd = sys::openat(libc::AT_FDCWD, path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
            let joined = sys::setns(fd, *flags);
            sys::close(fd);
            joined
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
        Step::Personality(value) => {
            // SAFETY: no memory is passed.
            let ret = unsafe { syscall!(Sysno::personality, *value) };
            ret.map(drop).map_err(|e| Errno::from_raw(e.into_raw()))
        }
        Step::IoPriority(value) => {
            const IOPRIO_WHO_PROCESS: usize = 1;
            // SAFETY: no memory is passed; who 0 is this process.
            let ret = unsafe { syscall!(Sysno::ioprio_set, IOPRIO_WHO_PROCESS, 0, *value) };
            ret.map(drop).map_err(|e| Errno::from_raw(e.into_raw()))
        }
        Step::Scheduler(attr) => {
            let attr: *const crate::scheduling::SchedAttr = attr;
            // SAFETY: attr points to a live sched_attr of the size its `size` field says.
            let ret = unsafe { syscall!(Sysno::sched_setattr, 0, attr, 0) };
            ret.map(drop).map_err(|e| Errno::from_raw(e.into_raw()))
        }
        _ => Err(Errno::EINVAL),
    }
}
