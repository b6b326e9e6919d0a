//! The credential steps: ids, capabilities, no_new_privs, rlimits, seccomp and Landlock.

use nix::errno::Errno;

use crate::plan::Step;
use crate::sys::{self, SysResult};

pub(super) fn run(step: &Step) -> SysResult<()> {
    match step {
        Step::SetCredentials { uid, gid, groups } => {
            if let Some(groups) = groups {
                sys::setgroups(groups)?;
            }
            sys::setresgid(*gid)?;
            sys::setresuid(*uid)
        }
        Step::NotDumpable => sys::prctl(libc::PR_SET_DUMPABLE, 0),
        Step::NoNewPrivileges => sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1),
        Step::SetRlimit { resource, soft, hard } => sys::prlimit(*resource, *soft, *hard),
        Step::DropBoundingSet { drop } => sys::drop_bounding(*drop),
        Step::KeepCapabilities => sys::prctl(libc::PR_SET_KEEPCAPS, 1),
        Step::SetCapabilities { set, ambient } => {
            sys::capset(*set, *set, *ambient)?;
            sys::prctl2(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)?;
            for cap in 0..64u32 {
                if ambient & (1u64 << cap) != 0 {
                    sys::prctl2(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        cap as libc::c_ulong,
                    )?;
                }
            }
            Ok(())
        }
        Step::Seccomp(programs) => {
            for program in programs {
                sys::seccomp_load(program)?;
            }
            Ok(())
        }
        Step::LandlockRuleset { handled, at } => {
            let ruleset = sys::landlock_create_ruleset(*handled)?;
            let moved = sys::dup3(ruleset, *at, false);
            sys::close(ruleset);
            moved
        }
        Step::LandlockRule { path, access, ruleset } => {
            let fd = sys::openat(libc::AT_FDCWD, path, libc::O_PATH, 0)?;
            let is_dir = sys::fstat_mode(fd).map(|m| m & libc::S_IFMT == libc::S_IFDIR);
            let result = is_dir.and_then(|dir| {
                let rights = if dir {
                    *access
                } else {
                    access & crate::security::landlock::access::FILE
                };
                sys::landlock_add_path_rule(*ruleset, fd, rights)
            });
            sys::close(fd);
            result
        }
        _ => Err(Errno::EINVAL),
    }
}
