//! The plan of an exec into a running container: the setup process joins the container's
//! cgroups and namespaces, forks once into its PID namespace, and the fork then takes the
//! payload's own privilege steps (credentials, bounding set, capabilities, no_new_privs,
//! rlimits, session, Landlock, seccomp) and executes its launcher, as a spawn's payload does.
//!
//! Nothing of the container's filesystem, hostname or loopback is set up again: they are the
//! container's, joined.

use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use super::{Plan, Step, cstring, pipe};
use crate::config::Config;
use crate::error::{Result, SetupStep};
use crate::idmap::IdMaps;
use crate::namespaces::Namespaces;
use crate::net::Network;

impl Plan {
    /// The plan for executing `config`'s command in the container whose first process is
    /// behind `target` (a pidfd), with `config` the container's own, the exec's settings
    /// (command, environment, working directory, user, stdio) put in. `joins` are the cgroup
    /// files the setup process writes itself into (`crate::exec_cgroup`: the container's
    /// cgroups or sub-cgroups of them, less the v2 one it is cloned into), and the CPUs it
    /// runs on before and after.
    ///
    /// `detached`: the setup process forks the exec'd process away instead of staying as its
    /// init (`Step::ForkAway`), and the status pipe carries its pid.
    pub fn for_exec(config: &Config, target: RawFd, joins: crate::exec_cgroup::Joins, detached: bool) -> Result<Plan> {
        let ns = config.namespaces;
        let (error_r, error_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        let mut plan = Plan::bare(0, (error_r, error_w.as_raw_fd()), None);
        if let Some(fd) = crate::pid1::memfd() {
            plan.binary = fd.as_raw_fd();
            plan.child_fds.push(fd);
        }
        let attrs = SetupStep::ProcessAttributes;
        plan.push(Step::CloseFd(plan.parent.error.as_raw_fd()), attrs, None);
        plan.push(Step::CloseFd(status_r.as_raw_fd()), attrs, None);
        plan.parent.status = Some(status_r);
        plan.push(Step::ParentDeathSignal(libc::SIGKILL), attrs, None);
        // Before anything of the container can reach this process: it is a copy of the
        // caller's memory, and in a user namespace the caller owns the payload's uid may be
        // its own.
        plan.push(Step::NotDumpable, attrs, None);
        // Cgroups first, while this process is still in the caller's cgroup namespace: a
        // migration must lie inside the writer's cgroup namespace (before Linux 5.16, the
        // writer's, not the opener's), which the container's is not.
        // Its CPUs before and after the join (`ExecBuilder::cpu_affinity`).
        let affinity = |cpus| (Step::CpuAffinity(cpus), attrs, Some("sched_setaffinity".into()));
        if let Some((step, label, path)) = joins.initial_cpus.map(affinity) {
            plan.push(step, label, path);
        }
        for (fd, path) in joins.files {
            plan.push(Step::JoinCgroup(fd.as_raw_fd()), SetupStep::JoinCgroup, Some(path));
            plan.child_fds.push(fd);
        }
        if let Some((step, label, path)) = joins.final_cpus.map(affinity) {
            plan.push(step, label, path);
        }
        let mut joined = ns;
        if matches!(config.network, Network::Join(_)) {
            joined |= Namespaces::NET;
        }
        // And those it joined by path (process_attrs), which it did not create.
        joined = config.process.joins.iter().fold(joined, |set, j| set | j.namespace);
        plan.push(
            Step::JoinNamespaces {
                pidfd: target,
                flags: joined.bits() as libc::c_int,
            },
            SetupStep::JoinNamespaces,
            None,
        );
        plan.child_fds.push(error_w);
        let stdio = plan.plan_stdio(config)?;
        plan.preserved_fds = config.start.preserved_fds;
        // Once, for both sides of the fork (see `plan_names_and_bounding`).
        plan.drop_bounding(config.capabilities.bits() | caps::Capability::CAP_KILL.bitmask());
        // A PID namespace applies to the children of whoever joined it: the exec'd process is
        // forked, and this process stays its parent, as nsbox-init (below), confined like the
        // container's init. Not a sibling in the caller's care (`CLONE_PARENT`): a dying PID 1
        // waits until every process of its namespace is reaped (zap_pid_ns_processes), and a
        // caller waiting for the container would then wait forever for itself.
        let status_fd = status_w.as_raw_fd();
        plan.child_fds.push(status_w);
        if detached {
            // No nsbox process stays: the exec'd process's parent becomes the caller's
            // subreaper, which reaps it (an OCI runtime's shim).
            plan.push(Step::ForkAway { pid_fd: status_fd }, SetupStep::Init, None);
        } else {
            plan.plan_init(config, status_fd, false)?;
        }

        // From here on, the exec'd process: the payload's credentials and privileges.
        if config.in_user_namespace() {
            // Also in a user namespace the container joined by path (its maps are its own).
            plan.id_maps = ns.contains(Namespaces::USER).then(|| IdMaps {
                uid: config.uid_map.clone(),
                gid: config.gid_map.clone(),
                allow_setgroups: IdMaps::allows_setgroups(&config.gid_map),
            });
            // As the payload, the container's root until `.user()`: setns left the caller's
            // host uid, which the container may not map.
            let root = Step::SetCredentials {
                uid: 0,
                gid: 0,
                groups: None,
            };
            plan.push(root, SetupStep::SetCredentials, None);
            plan.push(Step::NotDumpable, attrs, None);
        }
        plan.push(
            Step::Chdir(cstring(config.cwd.as_os_str().as_bytes())?),
            SetupStep::Chdir,
            Some(config.cwd.clone()),
        );
        // `true`: the parent death signal after the credentials: it dies with nsbox-init, its
        // parent, which the handle kills on drop.
        let privileges = plan.steps.len();
        let seccomp_last = plan.plan_privileges(config, true)?;
        // A credential change makes the process dumpable again where fs.suid_dumpable is 1,
        // and it still holds a copy of the caller's memory: not dumpable again at once.
        let user = plan.steps[privileges..]
            .iter()
            .position(|s| matches!(s, Step::SetCredentials { .. }));
        if let Some(at) = user.map(|i| privileges + i + 1) {
            plan.steps.insert(at, Step::NotDumpable);
            plan.labels.insert(at, (attrs, None));
        }
        // The launcher waits for nsbox-init's confirmation, as the payload's does.
        plan.plan_launch(config, stdio, seccomp_last)?;
        Ok(plan)
    }
}
