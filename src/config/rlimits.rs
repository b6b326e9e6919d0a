//! `build()`'s check of rlimits against what the setup process will be allowed to set.
//!
//! `prlimit(2)` raises a hard limit only with `CAP_SYS_RESOURCE` in the initial user namespace
//! (rlimits are not namespaced), which a process in a new user namespace never has, and
//! `RLIMIT_NOFILE` never above `fs.nr_open`. The setup process has the caller's limits and,
//! without a user namespace, its capabilities: what it could not set is refused here, naming
//! the bound, rather than at the `set rlimit` step after clone.

use std::sync::OnceLock;

use crate::error::ConfigError;
use crate::rlimit::Resource;

/// Refuses a hard limit above what the setup process may set; `user_namespace`: the container
/// has one (no raising at all then).
pub(super) fn check(rlimits: &[(Resource, u64, u64)], user_namespace: bool) -> Result<(), ConfigError> {
    if rlimits.is_empty() {
        return Ok(());
    }
    let may_raise = !user_namespace
        && caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).unwrap_or(false);
    for &(resource, _, hard) in rlimits {
        let (allowed, why) = if resource == Resource::RLIMIT_NOFILE && nr_open().is_some_and(|max| hard > max) {
            (nr_open().unwrap_or(hard), "RLIMIT_NOFILE is never above fs.nr_open")
        } else if may_raise {
            continue;
        } else {
            let why = match user_namespace {
                true => "a process in a new user namespace cannot raise a hard limit",
                false => "raising a hard limit needs CAP_SYS_RESOURCE, which this process lacks",
            };
            (current_hard(resource), why)
        };
        if hard > allowed {
            return Err(ConfigError::RlimitAboveHost {
                resource,
                hard,
                allowed,
                why,
            });
        }
    }
    Ok(())
}

/// This process's hard limit on `resource` (unlimited if it cannot be read).
fn current_hard(resource: Resource) -> u64 {
    let mut limit = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: libc::RLIM64_INFINITY,
    };
    // SAFETY: prlimit64 on this process, reading only, into a live rlimit64.
    let ret = unsafe { libc::prlimit64(0, resource.as_raw() as _, std::ptr::null(), &mut limit) };
    match ret {
        0 => limit.rlim_max,
        _ => libc::RLIM64_INFINITY,
    }
}

/// `fs.nr_open`, read once per process.
fn nr_open() -> Option<u64> {
    static NR_OPEN: OnceLock<Option<u64>> = OnceLock::new();
    *NR_OPEN.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()?
            .trim()
            .parse()
            .ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hard_limits_above_the_callers_are_refused_in_a_user_namespace() {
        let hard = current_hard(Resource::RLIMIT_NOFILE);
        assert!(check(&[(Resource::RLIMIT_NOFILE, 1, hard.min(1024))], true).is_ok());
        if hard < libc::RLIM64_INFINITY {
            assert_eq!(
                check(
                    &[(Resource::RLIMIT_CORE, 0, 0), (Resource::RLIMIT_NOFILE, 1, hard + 1)],
                    true
                ),
                Err(ConfigError::RlimitAboveHost {
                    resource: Resource::RLIMIT_NOFILE,
                    hard: hard + 1,
                    allowed: if nr_open().is_some_and(|max| hard + 1 > max) {
                        nr_open().unwrap()
                    } else {
                        hard
                    },
                    why: if nr_open().is_some_and(|max| hard + 1 > max) {
                        "RLIMIT_NOFILE is never above fs.nr_open"
                    } else {
                        "a process in a new user namespace cannot raise a hard limit"
                    },
                })
            );
        }
    }
}
