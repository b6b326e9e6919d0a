//! What of an exec's `process.json` may differ from the container's own `process`: an exec
//! joins the running container and takes its privileges (nsbox's `Container::exec`), so it
//! can narrow the capabilities and choose its args, env, cwd, user, groups and terminal;
//! every other field must be the container's (or absent), and one that is not is refused by
//! name, never ignored.

use std::collections::HashSet;

use oci_spec::runtime::{Capability, Process};

use crate::error::{Error, Result};

/// The capabilities the exec drops from the container's, once every other field checked.
pub fn check(process: &Process, container: &Process) -> Result<Vec<nsbox::Capability>> {
    let refuse = |field: &str, why: &str| Err(Error(format!("{field} is not supported for exec: {why}")));
    if process.no_new_privileges().unwrap_or(false) != container.no_new_privileges().unwrap_or(false) {
        return refuse("process.noNewPrivileges", "an exec has the container's no_new_privs");
    }
    if process.rlimits().is_some() && sorted_rlimits(process) != sorted_rlimits(container) {
        return refuse("process.rlimits", "an exec has the container's rlimits");
    }
    if process.oom_score_adj().is_some() && process.oom_score_adj() != container.oom_score_adj() {
        return refuse("process.oomScoreAdj", "an exec has the container's oom_score_adj");
    }
    if process.user().umask().is_some() && process.user().umask() != container.user().umask() {
        return refuse("process.user.umask", "an exec has the container's umask");
    }
    let given = |o: &Option<String>| o.as_ref().is_some_and(|s| !s.is_empty());
    for (field, set) in [
        ("process.apparmorProfile", given(process.apparmor_profile())),
        ("process.selinuxLabel", given(process.selinux_label())),
        ("process.user.username", given(process.user().username())),
        ("process.commandLine", given(process.command_line())),
        ("process.ioPriority", process.io_priority().is_some()),
        ("process.scheduler", process.scheduler().is_some()),
    ] {
        if set {
            return refuse(field, "nsbox cannot set it for an exec");
        }
    }
    capabilities(process, container)
}

fn sorted_rlimits(p: &Process) -> Vec<String> {
    let mut all: Vec<String> = p
        .rlimits()
        .iter()
        .flatten()
        .map(|r| format!("{:?} {} {}", r.typ(), r.soft(), r.hard()))
        .collect();
    all.sort();
    all
}

/// The exec's sets against the container's: a subset of its bounding set (the difference is
/// dropped), with the container's shape (for root: permitted = effective = bounding; ambient
/// = the container's minus what is dropped). Absent: none, as runc gives.
fn capabilities(process: &Process, container: &Process) -> Result<Vec<nsbox::Capability>> {
    let sets = |p: &Process| {
        let caps = p.capabilities().as_ref();
        let get = |f: fn(&oci_spec::runtime::LinuxCapabilities) -> &Option<HashSet<Capability>>| {
            caps.and_then(|c| f(c).clone()).unwrap_or_default()
        };
        (
            get(|c| c.bounding()),
            get(|c| c.effective()),
            get(|c| c.permitted()),
            get(|c| c.ambient()),
        )
    };
    let (bounding, effective, permitted, ambient) = sets(process);
    let (c_bounding, _, _, c_ambient) = sets(container);
    let name = |c: &Capability| {
        serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    let beyond: Vec<String> = bounding.difference(&c_bounding).map(name).collect();
    if !beyond.is_empty() {
        return Err(Error(format!(
            "process.capabilities.bounding is not supported for exec: {beyond:?} beyond the container's bounding set"
        )));
    }
    if process.user().uid() == 0 && (permitted != bounding || effective != bounding) {
        return Err(Error(
            "process.capabilities.permitted/effective are not supported for exec unless equal to the bounding set (root)"
                .into(),
        ));
    }
    let dropped: HashSet<Capability> = c_bounding.difference(&bounding).copied().collect();
    let kept_ambient: HashSet<Capability> = c_ambient.difference(&dropped).copied().collect();
    if ambient != kept_ambient {
        return Err(Error(
            "process.capabilities.ambient is not supported for exec unless the container's (less what is dropped)"
                .into(),
        ));
    }
    dropped
        .iter()
        .map(|c| nsbox::Capabilities::parse(&name(c)).map_err(|e| Error(format!("process.capabilities: {e}"))))
        .collect()
}
