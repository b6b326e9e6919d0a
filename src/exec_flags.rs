//! What an exec can be given beyond its command, as runc's `exec` flags give it: capabilities
//! back ([`ExecBuilder::cap_add`]) or beyond the container's ([`ExecBuilder::cap_grant`],
//! `--cap`; [`ExecBuilder::ambient_capabilities`]), the caller's fds ([`ExecBuilder::preserve_fds`],
//! `--preserve-fds`), a sub-cgroup of the container's ([`ExecBuilder::cgroup`], `--cgroup`)
//! and its CPUs around the cgroup join ([`ExecBuilder::cpu_affinity`],
//! `process.execCPUAffinity`).

use std::path::Path;

use crate::cgroup::Controller;
use crate::exec::ExecBuilder;
use crate::security::Capability;

impl ExecBuilder<'_> {
    /// Runs the process with `cap` in its bounding set and, as root, in its permitted and
    /// effective sets, as runc's `exec --cap` adds it; undoes a [`cap_drop`](Self::cap_drop)
    /// of it. A process that is not root keeps it across its `execve` only where the
    /// container gives it as an ambient capability (or, without no_new_privs, through a file
    /// capability or setuid program), as under runc.
    ///
    /// Bounded by the container's bounding set: a capability the container's payload could
    /// never have fails [`spawn`](Self::spawn) with
    /// [`ConfigError::BeyondContainer`](crate::ConfigError::BeyondContainer). To give one
    /// beyond it, as runc's `--cap` does, say so with [`cap_grant`](Self::cap_grant).
    ///
    /// ```no_run
    /// use nsbox::Capability;
    /// let container = nsbox::Container::builder().command("/bin/sleep").arg("60").spawn()?;
    /// let status = container
    ///     .exec()
    ///     .command("/bin/true")
    ///     .cap_drop(Capability::CAP_KILL)
    ///     .cap_add(Capability::CAP_KILL) // given back: the container's set again
    ///     .status()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn cap_add(&mut self, cap: Capability) -> &mut Self {
        self.settings.cap_drop.remove(cap);
        self.settings.cap_add.insert(cap);
        self
    }

    /// Grants `cap` to the process **whether or not the container has it**: in its bounding
    /// set and, as root, its permitted and effective sets, as runc's `exec --cap` does
    /// (`runc exec --cap CAP_SYS_PTRACE` to debug; `docker exec --privileged` sends every
    /// capability). This widens the process beyond its container: the caller means it.
    ///
    /// What still confines the process is the container's: its seccomp filter (compiled for
    /// the container's capabilities, not the exec's: a profile that allows syscalls by
    /// capability, as Docker's does, allows no more for a granted one), its no_new_privs, its
    /// user namespace (a capability there is over what that namespace owns, never over the
    /// host's: `CAP_SYS_ADMIN` in a container with a user namespace does not mount the host's
    /// disks), its Landlock rules and the LSM labels it runs under. A capability missing from
    /// the caller's own bounding set cannot be granted (the exec fails at the capability step,
    /// `EPERM`).
    ///
    /// Like [`cap_add`](Self::cap_add), it reaches a process that is not root only through
    /// its ambient set ([`ambient_capabilities`](Self::ambient_capabilities)), file
    /// capabilities or a setuid program; runc 1.2 adds `--cap` to the ambient set too, where
    /// the kernel raises it only if the process's inheritable set has it, which nsbox makes
    /// the ambient set: so nothing more. Undoes a [`cap_drop`](Self::cap_drop) of `cap`;
    /// `cap_drop` after it removes it again.
    ///
    /// ```no_run
    /// use nsbox::Capability;
    /// let container = nsbox::Container::builder().command("/bin/sleep").arg("60").spawn()?;
    /// // Podman's default set has no CAP_SYS_PTRACE: strace needs it.
    /// let status = container
    ///     .exec()
    ///     .command("/usr/bin/strace")
    ///     .args(["-p", "1"])
    ///     .cap_grant(Capability::CAP_SYS_PTRACE)
    ///     .status()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn cap_grant(&mut self, cap: Capability) -> &mut Self {
        self.settings.cap_drop.remove(cap);
        self.settings.cap_grant.insert(cap);
        self
    }

    /// The process's ambient set instead of the container's (which is the default, less what
    /// [`cap_drop`](Self::cap_drop) drops): capabilities a process that is not root keeps
    /// across its `execve`, as
    /// [`ContainerBuilder::ambient_capabilities`](crate::ContainerBuilder::ambient_capabilities)
    /// gives them to a payload. Its inheritable set is the same set (never more: CVE-2022-29162).
    /// Each must be in the exec's bounding set (the container's, with
    /// [`cap_add`](Self::cap_add) and [`cap_grant`](Self::cap_grant), less
    /// [`cap_drop`](Self::cap_drop)), else [`spawn`](Self::spawn) fails with
    /// [`ConfigError::Conflict`](crate::ConfigError::Conflict).
    pub fn ambient_capabilities(&mut self, caps: impl IntoIterator<Item = Capability>) -> &mut Self {
        self.settings.ambient = Some(caps.into_iter().collect());
        self
    }

    /// Passes the caller's fds `3 .. 3 + count` to the process at the same numbers, as
    /// [`ContainerBuilder::preserve_fds`](crate::ContainerBuilder::preserve_fds) does for a
    /// payload (runc's `exec --preserve-fds`). They must be open when the exec is spawned,
    /// else `spawn` fails; every other fd of the caller stays out of the container.
    pub fn preserve_fds(&mut self, count: u32) -> &mut Self {
        self.settings.preserved_fds = count;
        self
    }

    /// Runs the process in `path`, a cgroup below the container's own, instead of in the
    /// container's cgroup, in every hierarchy the container has a cgroup in (runc's
    /// `exec --cgroup PATH`): the v2 one and each v1 one. The cgroup must exist (the container
    /// makes it, through a writable cgroup mount, or the caller does).
    ///
    /// `path` is relative to the container's cgroup (a leading `/` is that cgroup's root);
    /// `..` is refused, and it is opened beneath the container's cgroup directory without
    /// following symlinks (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`),
    /// since the container may own the tree below its cgroup. A path that is missing, leaves
    /// the container's cgroup, or a container without a cgroup fails
    /// [`spawn`](Self::spawn) with [`Error::Cgroup`](crate::Error::Cgroup).
    pub fn cgroup(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.settings.cgroups.retain(|(controller, _)| controller.is_some());
        self.settings.cgroups.push((None, path.as_ref().to_owned()));
        self
    }

    /// As [`cgroup`](Self::cgroup) for the v1 hierarchy holding `controller` only (runc's
    /// `--cgroup CONTROLLER:PATH`); the other hierarchies stay the container's cgroups unless
    /// [`cgroup`](Self::cgroup) names one for them. A controller in no v1 hierarchy the
    /// container has a cgroup in (on a cgroup v2 host, any) fails `spawn`, as runc's
    /// "unknown controller".
    pub fn cgroup_of(&mut self, controller: Controller, path: impl AsRef<Path>) -> &mut Self {
        self.settings.cgroups.retain(|(c, _)| *c != Some(controller));
        self.settings.cgroups.push((Some(controller), path.as_ref().to_owned()));
        self
    }

    /// The CPUs the process runs on once it joined the container's cgroups, a list like
    /// `"0-1,4"` (`sched_setaffinity(2)` by its setup process right after the join, inherited
    /// by the process it forks): the runtime spec's `process.execCPUAffinity.final`. CPUs
    /// outside the container's cpuset fail `spawn` at that step (`EINVAL`); a list that does
    /// not parse is [`ConfigError::Malformed`](crate::ConfigError::Malformed).
    pub fn cpu_affinity(&mut self, cpus: impl Into<String>) -> &mut Self {
        self.settings.final_cpus = Some(cpus.into());
        self
    }

    /// The CPUs the setup process runs on before it joins the container's cgroups
    /// (`process.execCPUAffinity.initial`), so that joining a container whose CPUs are busy
    /// (real-time threads pinned there) does not wait for them. It is then not cloned into
    /// the v2 cgroup but writes itself into it, as runc's does. Without
    /// [`cpu_affinity`](Self::cpu_affinity) nothing is set after the join: the kernel decides
    /// (the runtime spec's rule; since Linux 6.2 it keeps the CPUs asked for, within the
    /// container's cpuset).
    pub fn initial_cpu_affinity(&mut self, cpus: impl Into<String>) -> &mut Self {
        self.settings.initial_cpus = Some(cpus.into());
        self
    }

    /// Sets no_new_privs for the process where the container's payload runs without it
    /// (runc's `exec --no-new-privs`): setuid programs and file capabilities then give it
    /// nothing. A container with no_new_privs gives it to every exec anyway.
    pub fn no_new_privileges(&mut self) -> &mut Self {
        self.settings.no_new_privileges = true;
        self
    }
}
