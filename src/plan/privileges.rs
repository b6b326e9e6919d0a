//! Planning what the payload may do: session, rlimits, capabilities, credentials,
//! no_new_privs and seccomp, in the order the kernel needs them.
//!
//! The bounding set is dropped while the child still has CAP_SETPCAP; credentials switch next
//! (with PR_SET_KEEPCAPS only when a non-root payload keeps ambient capabilities); capset then
//! leaves the inheritable set empty unless ambient capabilities were asked for. Seccomp loads
//! last with no_new_privs; without it, before the credentials change, while CAP_SYS_ADMIN
//! still allows loading a filter (as runc does).

use std::sync::Arc;

use super::{Plan, Step};
use crate::config::Config;
use crate::error::{ConfigError, Result, SetupStep};

impl Plan {
    /// Pushes the privilege steps; returns the seccomp programs to load as the last step.
    pub(super) fn plan_privileges(
        &mut self,
        config: &Config,
        no_init: bool,
    ) -> Result<Option<Vec<Arc<crate::security::Program>>>> {
        let attrs = SetupStep::ProcessAttributes;
        // After the root is set up (whose mount points it would change), before the
        // credentials (process_attrs).
        if let Some(mask) = config.process.umask {
            self.push(Step::Umask(mask), attrs, None);
        }
        // While the capabilities a realtime class needs are there (crate::scheduling).
        if let Some(personality) = config.process.personality {
            self.push(
                Step::Personality(personality.value()),
                attrs,
                Some("personality".into()),
            );
        }
        if let Some((class, level)) = config.process.io_priority {
            let value = crate::scheduling::ioprio_value(class, level);
            self.push(Step::IoPriority(value), attrs, Some("ioprio_set".into()));
        }
        if let Some(scheduler) = &config.process.scheduler {
            self.push(Step::Scheduler(scheduler.attr()), attrs, Some("sched_setattr".into()));
        }
        // NUMA memory policy (issue 16): inherited by the payload across fork and execve.
        if let Some(policy) = &config.memory_policy {
            let (mode, nodes) = policy.syscall_args();
            let step = Step::MemoryPolicy { mode, nodes };
            self.push(step, attrs, Some("set_mempolicy".into()));
        }
        if config.new_session {
            self.push(Step::NewSession, attrs, None);
        }
        if self.console {
            // As root with every capability still: it mounts onto /dev/console.
            self.plan_pty(config, true)?;
        }
        for (resource, soft, hard) in &config.rlimits {
            let step = Step::SetRlimit {
                resource: *resource as libc::c_int,
                soft: *soft,
                hard: *hard,
            };
            self.push(step, SetupStep::Rlimit, Some(format!("{resource:?}").into()));
        }
        let caps = config.capabilities;
        self.drop_bounding(caps.bits());
        let non_root = config.user.is_some_and(|(uid, _)| uid != 0);
        if non_root && config.ambient.bits() != 0 {
            self.push(Step::KeepCapabilities, SetupStep::Capabilities, None);
        }
        // An exec's filter is the container's: never compiled for a granted capability.
        let filtered = config
            .seccomp_capabilities
            .map_or(caps, |bound| caps.iter().filter(|c| bound.contains(*c)).collect());
        let seccomp = config.seccomp.compile(filtered)?;
        if !config.no_new_privileges && !seccomp.is_empty() {
            self.push(Step::Seccomp(seccomp.clone()), SetupStep::Seccomp, None);
        }
        if let Some((uid, gid)) = config.user {
            let allow = self.id_maps.as_ref().is_none_or(|m| m.allow_setgroups);
            if !allow && !config.groups.is_empty() {
                return Err(ConfigError::Conflict {
                    setting: crate::error::Setting::Groups,
                    with: crate::error::Setting::GidMap,
                    why: "setgroups is denied in a user namespace whose maps an unprivileged caller wrote",
                }
                .into());
            }
            let groups = allow.then(|| config.groups.clone());
            let label = Some(format!("{uid}:{gid}").into());
            self.push(
                Step::SetCredentials { uid, gid, groups },
                SetupStep::SetCredentials,
                label,
            );
        }
        if no_init {
            // After the last credential change, which clears it.
            let signal = if config.detach { 0 } else { libc::SIGKILL };
            self.push(Step::ParentDeathSignal(signal), attrs, None);
        }
        // A non-root payload lost its permitted set at setresuid (unless it keeps ambient
        // capabilities): raising nothing then is what the kernel allows.
        let set = if non_root && config.ambient.bits() == 0 {
            0
        } else {
            caps.bits()
        };
        self.push(
            Step::SetCapabilities {
                set,
                ambient: config.ambient.bits(),
            },
            SetupStep::Capabilities,
            None,
        );
        if config.no_new_privileges {
            self.push(Step::NoNewPrivileges, attrs, None);
            return Ok((!seccomp.is_empty()).then_some(seccomp));
        }
        Ok(None)
    }
}

impl Plan {
    /// Drops what the bounding set still has beyond `keep`. Before an init forks, the setup
    /// process drops all that neither the init nor the payload keeps, so neither drops it again
    /// (each drop is a syscall and a credentials copy).
    pub(super) fn drop_bounding(&mut self, keep: u64) {
        let drop = self.bounding & !keep;
        if drop != 0 {
            self.push(Step::DropBoundingSet { drop }, SetupStep::Capabilities, None);
            self.bounding &= keep;
        }
    }

    /// The Landlock steps: the ruleset, kept at an fd number reserved here (so the launcher's
    /// argv can name it), then one rule per path, each step naming its path.
    pub(super) fn plan_landlock(&mut self, landlock: &crate::security::Landlock) -> Result<()> {
        use crate::security::landlock::{access, handled_access};
        let handled =
            handled_access().map_err(|errno| crate::error::SetupError::new(SetupStep::Landlock, None, errno))?;
        let reserved = nix::fcntl::open(
            "/dev/null",
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .and_then(|fd| nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)))
        .map_err(|e| crate::error::Error::io("reserve an fd for the Landlock ruleset", e))?;
        // SAFETY: F_DUPFD_CLOEXEC returned a new fd that nothing else owns.
        let reserved = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(reserved) };
        self.landlock_fd = std::os::fd::AsRawFd::as_raw_fd(&reserved);
        self.child_fds.push(reserved);
        self.push(
            Step::LandlockRuleset {
                handled,
                at: self.landlock_fd,
            },
            SetupStep::Landlock,
            None,
        );
        for (path, writable) in &landlock.rules {
            let rights = if *writable {
                handled
            } else {
                access::READ_ONLY & handled
            };
            let step = Step::LandlockRule {
                path: super::cstring(path.as_os_str().as_encoded_bytes())?,
                access: rights,
                ruleset: self.landlock_fd,
            };
            self.push(step, SetupStep::Landlock, Some(path.clone()));
        }
        Ok(())
    }
}
