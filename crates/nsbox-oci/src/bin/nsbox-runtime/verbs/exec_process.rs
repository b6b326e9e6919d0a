//! What of an exec's `process.json` may differ from the container's own `process`: an exec
//! joins the running container and takes its privileges (nsbox's `Container::exec`), so it
//! can choose its capabilities (narrower or, as runc grants them, wider than the
//! container's) and its args, env, cwd, user, groups and terminal;
//! every other field must be the container's (or absent), and one that is not is refused by
//! name, never ignored.

use nsbox_oci::ProcessCapabilities;
use oci_spec::runtime::Process;

use crate::error::{Error, Result};

/// The exec's capabilities, once every other field checked.
pub fn check(process: &Process, container: &Process) -> Result<ProcessCapabilities> {
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
    capabilities(process)
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

/// The exec's sets, taken as given (runc does: an exec may have more than its container,
/// as `docker exec --privileged` asks), checked as the container's process is
/// (`ProcessCapabilities::of`: what the kernel cannot be made to hold is refused by field
/// name). Absent: none, as runc gives.
fn capabilities(process: &Process) -> Result<ProcessCapabilities> {
    ProcessCapabilities::of(process).map_err(|e| Error(e.to_string()))
}

/// The exec's bounding set made `sets.bounding` (the container's capabilities it lacks
/// dropped, those beyond the container's granted), its ambient set `sets.ambient`.
pub fn apply(exec: &mut nsbox::ExecBuilder<'_>, sets: ProcessCapabilities) {
    for cap in nsbox::Capabilities::all().iter() {
        if sets.bounding.contains(cap) {
            exec.cap_grant(cap);
        } else {
            exec.cap_drop(cap);
        }
    }
    exec.ambient_capabilities(sets.ambient.iter());
}
