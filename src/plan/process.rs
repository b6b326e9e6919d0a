//! Planning the process attributes and namespace settings of `crate::process_attrs`: the
//! namespaces joined by path (opened and checked here), the oom_score_adj, the sysctls and
//! the domain name. The umask is planned with the privileges.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use super::{Plan, Step, cstring};
use crate::config::Config;
use crate::error::{ConfigError, Error, Result, Setting, SetupStep};
use crate::namespaces::Namespaces;
use crate::process_attrs::{NamespaceJoin, sysctl_path};
use crate::time_offsets::TimeOffsets;

/// `NS_GET_NSTYPE` (`_IO(0xb7, 0x3)`, Linux 4.11): the `CLONE_NEW*` type of an nsfs file.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

impl Plan {
    /// One `setns` per namespace joined by path, first thing: what follows happens in it. A
    /// PID namespace is opened and checked here, and entered by the spawning thread around
    /// the clone (`spawn::pidns`): a setns of the setup process would only reach its children.
    /// A user namespace likewise, entered by the intermediate process (`spawn::userns`).
    pub(super) fn plan_namespace_joins(&mut self, config: &Config) -> Result<()> {
        for join in &config.process.joins {
            let fd = open_namespace(join)?;
            if join.namespace == Namespaces::PID {
                self.pid_namespace = Some((fd, join.path.clone()));
                continue;
            }
            // Entered by the intermediate process that clones the setup process
            // (`spawn::userns`), so the setup process is born in it.
            if join.namespace == Namespaces::USER {
                self.user_namespace = Some((fd, join.path.clone()));
                continue;
            }
            let step = Step::JoinNamespaces {
                pidfd: fd.as_raw_fd(),
                flags: join.namespace.bits() as libc::c_int,
            };
            self.push(step, SetupStep::JoinNamespaces, Some(join.path.clone()));
            self.child_fds.push(fd);
        }
        Ok(())
    }

    /// The oom_score_adj, the sysctls and the domain name: written once the setup process is
    /// in its namespaces with its container credentials, through the `/proc` it still sees
    /// (the caller's; see `process_attrs` for why that writes the container's values).
    pub(super) fn plan_process_attributes(&mut self, config: &Config) -> Result<()> {
        let process = &config.process;
        if let Some(offsets) = &process.time_offsets {
            self.plan_time_offsets(offsets)?;
        }
        if let Some(score) = process.oom_score_adj {
            let path = "/proc/self/oom_score_adj";
            let step = Step::WriteFile {
                path: cstring(path.as_bytes())?,
                value: cstring(score.to_string().as_bytes())?,
            };
            self.push(step, SetupStep::ProcessAttributes, Some(path.into()));
        }
        for (name, value) in &process.sysctls {
            let path = sysctl_path(name);
            let step = Step::WriteFile {
                path: cstring(path.as_os_str().as_bytes())?,
                value: cstring(value.as_bytes())?,
            };
            self.push(step, SetupStep::Sysctl, Some(path));
        }
        if let Some(name) = &process.domainname {
            let step = Step::SetDomainname(cstring(name.as_bytes())?);
            self.push(step, SetupStep::SetDomainname, Some(name.into()));
        }
        Ok(())
    }
}

impl Plan {
    /// A new time namespace with `offsets` (see `crate::time_offsets`): made for the
    /// children, its offsets written while nothing is in it, then entered. Before anything
    /// forks (a hook, the init), which would otherwise stay in the caller's.
    fn plan_time_offsets(&mut self, offsets: &TimeOffsets) -> Result<()> {
        let step = SetupStep::TimeNamespace;
        self.push(Step::Unshare(libc::CLONE_NEWTIME), step, None);
        let path = "/proc/self/timens_offsets";
        for line in offsets.proc_lines() {
            let write = Step::WriteFile {
                path: cstring(path.as_bytes())?,
                value: cstring(line.as_bytes())?,
            };
            self.push(write, step, Some(path.into()));
        }
        let path = "/proc/self/ns/time_for_children";
        let enter = Step::JoinNamespaceFile {
            path: cstring(path.as_bytes())?,
            flags: libc::CLONE_NEWTIME,
        };
        self.push(enter, step, Some(path.into()));
        Ok(())
    }
}

/// The namespace file of `join`, opened and checked to be a namespace of its type.
fn open_namespace(join: &NamespaceJoin) -> Result<OwnedFd> {
    let path = &join.path;
    let file = std::fs::File::open(path).map_err(|e| Error::io(format!("open namespace {}", path.display()), e))?;
    // SAFETY: an ioctl without argument on an fd this function owns.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind < 0 || kind as u64 != join.namespace.bits() {
        return Err(ConfigError::Malformed {
            setting: Setting::JoinNamespace,
            value: format!("{:?} {}", join.namespace, path.display()),
            expected: "a namespace file of that type (such as /proc/PID/ns/ipc)",
        }
        .into());
    }
    Ok(OwnedFd::from(file))
}
