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
            gate_fd,
        } => {
            if let Some((binary, launcher_argv)) = launcher {
                // The launcher reports its own failure on the error pipe, so it must inherit it;
                // it sets close-on-exec again before executing the payload. It also inherits the
                // confirmation pipe and the start gate it waits on.
                let inherit_fd = |fd: i32| if fd >= 0 { sys::set_cloexec(fd, false) } else { Ok(()) };
                let inherit = sys::set_cloexec(*error_fd, false)
                    .and_then(|()| inherit_fd(*ready_fd))
                    .and_then(|()| inherit_fd(*gate_fd));
                let errno = match inherit {
                    Ok(()) => sys::execveat_empty_path(*binary, launcher_argv, envp),
                    Err(e) => e,
                };
                if *ready_fd >= 0 || *gate_fd >= 0 {
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

/// `Step::Lookup`: the first candidate execve would run, by the rules it searches with: a
/// missing one (or one under a missing directory) is skipped, as is one this process may not
/// execute (EACCES, kept as the answer unless a later one is found), and any other error ends
/// the search. A directory or special file is not executable (EACCES, as execve says).
pub(super) fn lookup(candidates: &[std::ffi::CString]) -> SysResult<()> {
    let (mut last, mut saw_eacces) = (Errno::ENOENT as i32, false);
    for path in candidates {
        let found = sys::stat_path(path).and_then(|st| {
            if st.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Err(Errno::EACCES);
            }
            sys::access_as_effective(path, libc::X_OK)
        });
        match found {
            Ok(()) => return Ok(()),
            Err(e) => last = e as i32,
        }
        saw_eacces |= last == Errno::EACCES as i32;
        if last != Errno::EACCES as i32 && !protocol::exec_tries_next(last) {
            break;
        }
    }
    Err(Errno::from_raw(protocol::exec_search_result(last, saw_eacces)))
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
