//! `nsbox info`: `preflight()` as a report: what this host lets nsbox do, and for each missing
//! piece what to do about it.

use nsbox::{CgroupMode, Preflight};

use crate::error::Result;
use crate::paths::Paths;

pub fn info(paths: &Paths) -> Result<i32> {
    let host = nsbox::preflight();
    let root = nix::unistd::geteuid().is_root();
    println!("Kernel: {}", host.kernel);
    println!(
        "Running as: {}",
        if root {
            "root"
        } else {
            "an unprivileged user (rootless)"
        }
    );
    println!("State directory: {}", paths.state.display());
    println!("Image store: {}", paths.store.display());
    for line in report(&host, root) {
        println!("{line}");
    }
    Ok(0)
}

/// One line per feature: ` ok   what` or ` --   what: what to do`.
fn report(host: &Preflight, root: bool) -> Vec<String> {
    let mut lines = Vec::new();
    let mut item = |ok: bool, what: String, fix: &str| {
        lines.push(match ok {
            true => format!("  ok  {what}"),
            false => format!("  --  {what}\n        {fix}"),
        })
    };
    let mode = match host.cgroup_mode {
        Some(CgroupMode::Unified) => "cgroup v2 (unified)",
        Some(CgroupMode::Hybrid) => "cgroup v1 + v2 (hybrid)",
        Some(CgroupMode::Legacy) => "cgroup v1 (legacy)",
        None => "no cgroup file system",
    };
    item(
        host.cgroup_mode.is_some(),
        format!("Cgroups: {mode}"),
        "mount cgroup2 at /sys/fs/cgroup: no limits, stats or pause without it",
    );
    for c in &host.controllers {
        let version = c.version.map_or("not mounted".to_owned(), |v| format!("v{v}"));
        let why = c.reason.clone().unwrap_or_default();
        let fix = match root {
            true => format!("{why}: enable the controller (v2: add it to cgroup.subtree_control of the parent)"),
            false => format!("{why}: ask for cgroup delegation (systemd: Delegate=yes for user@.service)"),
        };
        item(c.usable, format!("Controller {} ({version})", c.controller), &fix);
    }
    let userns = &host.user_namespaces;
    item(
        userns.available,
        "User namespaces".to_owned(),
        &format!(
            "blocked by {}: set the sysctl back to allow them",
            userns.blocked_by.join(", ")
        ),
    );
    match host.subordinate_ids {
        Some(ids) => item(
            true,
            format!(
                "Subordinate ids: uids {}+{}, gids {}+{}",
                ids.uids.0, ids.uids.1, ids.gids.0, ids.gids.1
            ),
            "",
        ),
        None => item(
            false,
            "Subordinate ids".to_owned(),
            "none in /etc/subuid and /etc/subgid for this user: add a range (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER) for images with more users than root",
        ),
    }
    if !root {
        item(
            userns.newuidmap.is_some() && userns.newgidmap.is_some(),
            "newuidmap/newgidmap".to_owned(),
            "install them (Debian: apt-get install uidmap) to map subordinate ids",
        );
    }
    let overlay = &host.overlay;
    item(
        overlay.listed,
        "Overlayfs".to_owned(),
        "load it (modprobe overlay): images run on an overlay of their layers",
    );
    item(
        overlay.usable,
        "Overlayfs in a user namespace (rootless, Sandbox)".to_owned(),
        &format!(
            "{}: needs Linux 5.11+ with userxattr",
            overlay.reason.clone().unwrap_or_else(|| "not usable".into())
        ),
    );
    item(
        host.seccomp,
        "Seccomp".to_owned(),
        "a kernel with CONFIG_SECCOMP_FILTER: containers run without a syscall filter otherwise",
    );
    match &host.landlock {
        Ok(abi) => item(true, format!("Landlock (ABI {abi})"), ""),
        Err(errno) => item(
            false,
            format!("Landlock ({errno})"),
            "boot with lsm=...,landlock (or a kernel with CONFIG_SECURITY_LANDLOCK) for Landlock rules",
        ),
    }
    let s = &host.syscalls;
    item(
        s.clone3,
        "clone3".to_owned(),
        "Linux 5.3+: no CLONE_INTO_CGROUP and no time namespace without it",
    );
    item(
        s.openat2,
        "openat2".to_owned(),
        "Linux 5.6+: mount points behind symlinks are refused without it",
    );
    item(
        s.mount_api,
        "Mount API (open_tree, move_mount, mount_setattr)".to_owned(),
        "Linux 5.12+: bind mounts need it",
    );
    item(s.pidfd, "pidfd_open".to_owned(), "Linux 5.3+: required");
    lines
}
