//! `exec`'s flags beyond the process: `--cap` (granted as runc grants it, beyond the
//! container's capabilities), `--preserve-fds`, `--cgroup` and
//! `process.execCPUAffinity` (onto nsbox's `ExecBuilder`), and `--apparmor`/`--process-label`,
//! refused as config.json's fields are.

use nsbox::{Capabilities, Controller, ExecBuilder};
use oci_spec::runtime::ExecCPUAffinity;

use crate::error::{Error, Result, fail};

/// What is refused before anything else: `--apparmor` and `--process-label`, in the
/// mapping's words ("this host has no AppArmor" where it has none), and `--cap` with
/// `--process` (runc reads `--cap` only into the command line's process and drops it).
pub fn refuse(a: &liboci_cli::Exec) -> Result<()> {
    if !a.cap.is_empty() && a.process.is_some() {
        fail!("--cap is not supported with --process: give the capabilities in process.json");
    }
    if a.no_new_privs && a.process.is_some() {
        fail!("--no-new-privs is not supported with --process: give noNewPrivileges in process.json");
    }
    let options = nsbox_oci::Options::probe();
    if let Some(profile) = a.apparmor.as_deref() {
        fail!("--apparmor is not supported: {}", options.apparmor_refusal(profile));
    }
    if let Some(label) = a.process_label.as_deref() {
        fail!("--process-label is not supported: {}", options.selinux_refusal(label));
    }
    Ok(())
}

/// `--cap`, `--preserve-fds` and `--cgroup` onto `exec`.
pub fn apply(exec: &mut ExecBuilder<'_>, a: &liboci_cli::Exec) -> Result<()> {
    if a.no_new_privs {
        exec.no_new_privileges();
    }
    for name in &a.cap {
        let cap = Capabilities::parse(name).map_err(|e| Error(format!("--cap: {e}")))?;
        // runc 1.2 adds it to the bounding, effective, permitted and ambient sets, whatever
        // the container's: granted (ambient needs it in the inheritable set, which nsbox
        // makes the ambient one, so the kernel would raise nothing more there).
        exec.cap_grant(cap);
    }
    let Ok(count) = u32::try_from(a.preserve_fds) else {
        fail!("--preserve-fds {}: not a count", a.preserve_fds);
    };
    exec.preserve_fds(count);
    if let Some(arg) = &a.cgroup {
        for (controller, path) in sub_cgroups(arg)? {
            match controller {
                Some(controller) => exec.cgroup_of(controller, path),
                None => exec.cgroup(path),
            };
        }
    }
    Ok(())
}

/// `process.execCPUAffinity`: `initial` before the cgroup join, `final` after; an empty or
/// absent list changes nothing (the runtime spec).
pub fn cpu_affinity(exec: &mut ExecBuilder<'_>, affinity: Option<&ExecCPUAffinity>) {
    let given = |list: &Option<String>| list.clone().filter(|l| !l.is_empty());
    if let Some(cpus) = affinity.and_then(|a| given(a.initial())) {
        exec.initial_cpu_affinity(cpus);
    }
    if let Some(cpus) = affinity.and_then(|a| given(a.cpu_affinity_final())) {
        exec.cpu_affinity(cpus);
    }
}

/// runc's `--cgroup [CONTROLLER[,CONTROLLER…]:]PATH`.
fn sub_cgroups(arg: &str) -> Result<Vec<(Option<Controller>, &str)>> {
    let Some((controllers, path)) = arg.split_once(':') else {
        return Ok(vec![(None, arg)]);
    };
    if path.contains(':') {
        fail!("invalid --cgroup argument: {arg}");
    }
    controllers
        .split(',')
        .map(|name| {
            let controller = Controller::ALL
                .into_iter()
                .find(|c| c.v1_name() == name)
                .ok_or_else(|| Error(format!("invalid --cgroup argument: {arg}: unknown controller {name:?}")))?;
            Ok((Some(controller), path))
        })
        .collect()
}
