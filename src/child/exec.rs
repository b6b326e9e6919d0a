//! The last step: executing the launcher (nsbox-exec from the init binary's memfd), or
//! without it the payload's candidates directly.

use nix::errno::Errno;

use crate::pid1::protocol;
use crate::plan::Step;
use crate::sys::{self, SysResult};

pub(super) fn run(step: &Step) -> SysResult<()> {
    match step {
        Step::Exec {
            candidates,
            argv,
            envp,
            launcher,
            error_fd,
            landlock_fd,
            ready_fd,
        } => {
            if let Some((binary, launcher_argv)) = launcher {
                // The launcher reports its own failure on the error pipe, so it must inherit it;
                // it sets close-on-exec again before executing the payload. It also inherits the
                // confirmation pipe it waits on.
                let inherit = sys::set_cloexec(*error_fd, false).and_then(|()| {
                    if *ready_fd >= 0 {
                        sys::set_cloexec(*ready_fd, false)
                    } else {
                        Ok(())
                    }
                });
                let errno = match inherit {
                    Ok(()) => sys::execveat_empty_path(*binary, launcher_argv, envp),
                    Err(e) => e,
                };
                if *ready_fd >= 0 {
                    return Err(errno);
                }
                let _ = sys::set_cloexec(*error_fd, true);
            }
            if *landlock_fd >= 0 {
                sys::landlock_restrict_self(*landlock_fd)?;
            }
            Err(exec(candidates, argv, envp))
        }

        _ => Err(Errno::EINVAL),
    }
}

/// Tries each candidate; returns the most telling errno, as execvp does (the policy of
/// `protocol::exec_search_result`, which the launcher follows too).
fn exec(candidates: &[std::ffi::CString], argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> Errno {
    let (mut last, mut saw_eacces) = (Errno::ENOENT as i32, false);
    for path in candidates {
        last = sys::execve(path, argv, envp) as i32;
        saw_eacces |= last == Errno::EACCES as i32;
        if last != Errno::EACCES as i32 && !protocol::exec_tries_next(last) {
            break;
        }
    }
    Errno::from_raw(protocol::exec_search_result(last, saw_eacces))
}
