//! `build()`'s checks: everything that can be refused without a syscall is refused here, and
//! every default the planner would otherwise fill in is resolved, so a [`Config`] holds
//! exactly what a spawn does.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::config::Config;
use crate::config::settings::Settings;
use crate::error::{ConfigError, Setting};
use crate::idmap::{IdMap, IdMaps};
use crate::mount::MountKind;
use crate::namespaces::Namespaces;
use crate::net::Network;
use crate::rootfs::{Rootfs, RootfsKind};

/// Most ranges an id map may have (`user_namespaces(7)`, since Linux 4.15).
const MAX_ID_MAP_RANGES: u64 = 340;
/// A hostname's bytes (`HOST_NAME_MAX`).
const MAX_HOSTNAME: u64 = 64;

fn need(ok: bool, setting: Setting, namespace: Namespaces) -> Result<(), ConfigError> {
    match ok {
        true => Ok(()),
        false => Err(ConfigError::NeedsNamespace { setting, namespace }),
    }
}

/// A program, its arguments and environment changes as the kernel will take them: no NUL
/// byte, variable names non-empty and free of `=`.
pub(crate) fn check_command(
    program: &OsStr,
    args: &[OsString],
    env: &[(OsString, Option<OsString>)],
) -> Result<(), ConfigError> {
    no_nul(Setting::Command, program)?;
    for arg in args {
        no_nul(Setting::Args, arg)?;
    }
    for (key, value) in env {
        no_nul(Setting::Env, key)?;
        if key.is_empty() || key.as_bytes().contains(&b'=') {
            return Err(ConfigError::Malformed {
                setting: Setting::Env,
                value: key.to_string_lossy().into_owned(),
                expected: "a variable name: non-empty and free of '='",
            });
        }
        if let Some(value) = value {
            no_nul(Setting::Env, value)?;
        }
    }
    Ok(())
}

fn in_range(setting: Setting, value: u64, allowed: std::ops::RangeInclusive<u64>) -> Result<(), ConfigError> {
    match allowed.contains(&value) {
        true => Ok(()),
        false => Err(ConfigError::OutOfRange {
            setting,
            value,
            allowed,
        }),
    }
}

/// Checks `s` and resolves it into a [`Config`].
pub(crate) fn validate(mut s: Settings) -> Result<Config, ConfigError> {
    let network = match s.network.take() {
        Some(network) => network,
        None if s.namespaces.contains(Namespaces::NET) => Network::None,
        None => Network::Host,
    };
    match &network {
        Network::None => s.namespaces |= Namespaces::NET,
        Network::Host | Network::Join(_) => s.namespaces -= Namespaces::NET,
    }
    // Process attributes and namespace settings (process_attrs): joined types are not created.
    let own_network = !matches!(network, Network::Host);
    crate::process_attrs::uts_sysctls(&mut s.process, &mut s.hostname)?;
    let ns = crate::process_attrs::validate(&s.process, s.namespaces, own_network)?;
    let joins = matches!(network, Network::Join(_));
    need(
        s.ports.is_empty() || ns.contains(Namespaces::NET) || joins,
        Setting::Publish,
        Namespaces::NET,
    )?;
    // Host devices moved into the container's own network namespace (issue 16).
    crate::net::check_devices(&s.net_devices, ns, &network)?;
    // A writable sysfs is a fresh one, of the container's own network namespace (issue 16).
    need(
        !s.writable_sys || ns.contains(Namespaces::NET),
        Setting::WritableSys,
        Namespaces::NET,
    )?;
    let program = s.program.take().unwrap_or_default();
    if program.is_empty() {
        return Err(ConfigError::Missing {
            setting: Setting::Command,
        });
    }
    check_command(&program, &s.args, &s.env)?;
    if let Some((rows, cols)) = s.tty {
        // The pty comes from the container's own devpts, and it becomes the controlling
        // terminal of the payload's own session.
        need(ns.contains(Namespaces::MOUNT), Setting::Tty, Namespaces::MOUNT)?;
        if !s.new_session {
            return Err(ConfigError::Requires {
                setting: Setting::Tty,
                requires: Setting::NewSession,
            });
        }
        in_range(Setting::Tty, u64::from(rows.min(cols)), 1..=u64::from(u16::MAX))?;
    }
    if let Some(name) = &s.hostname {
        need(ns.contains(Namespaces::UTS), Setting::Hostname, Namespaces::UTS)?;
        no_nul(Setting::Hostname, name)?;
        in_range(Setting::Hostname, name.len() as u64, 1..=MAX_HOSTNAME)?;
    }
    // A joined user namespace (process_attrs) has its maps: none are written, none given.
    let joined_user = s.process.joined(Namespaces::USER).is_some();
    if joined_user && (s.uid_map.is_some() || s.gid_map.is_some()) {
        return Err(ConfigError::Conflict {
            setting: if s.uid_map.is_some() {
                Setting::UidMap
            } else {
                Setting::GidMap
            },
            with: Setting::JoinNamespace,
            why: "a joined user namespace has its id maps already (nsbox::user_namespace_maps reads them)",
        });
    }
    if !ns.contains(Namespaces::USER) {
        let setting = if s.uid_map.is_some() {
            Setting::UidMap
        } else {
            Setting::GidMap
        };
        need(s.uid_map.is_none() && s.gid_map.is_none(), setting, Namespaces::USER)?;
    }
    for (setting, maps) in [(Setting::UidMap, &s.uid_map), (Setting::GidMap, &s.gid_map)] {
        if let Some(maps) = maps {
            check_maps(setting, maps)?;
        }
    }
    let has_mount_ns = ns.contains(Namespaces::MOUNT);
    need(has_mount_ns || s.rootfs.is_none(), Setting::Rootfs, Namespaces::MOUNT)?;
    need(has_mount_ns || s.mounts.is_empty(), Setting::Mount, Namespaces::MOUNT)?;
    need(
        has_mount_ns || s.read_only_root.is_none(),
        Setting::ReadOnlyRoot,
        Namespaces::MOUNT,
    )?;
    let mut rootfs = s.rootfs.take().unwrap_or_else(Rootfs::host);
    if rootfs.is_host() && s.read_only_root == Some(false) {
        return Err(ConfigError::Conflict {
            setting: Setting::ReadOnlyRoot,
            with: Setting::Rootfs,
            why: "the host root is always read-only (writes would land on the host); mount a tmpfs where the payload writes",
        });
    }
    // An overlay root is the container's own copy, writable like Docker's container layer.
    let read_only_root = s.read_only_root.unwrap_or(!rootfs.is_overlay());
    s.cwd = container_path(Setting::CurrentDir, &s.cwd)?;
    for mount in &mut s.mounts {
        mount.target = container_path(Setting::MountTarget, &mount.target)?;
        if mount.target == Path::new("/") {
            return Err(ConfigError::Conflict {
                setting: Setting::MountTarget,
                with: Setting::Rootfs,
                why: "a mount at / would replace the root: use Rootfs to choose the root filesystem",
            });
        }
        match &mut mount.kind {
            MountKind::Bind { source, .. } => {
                no_nul(Setting::MountSource, source.as_os_str())?;
                *source = absolute(Setting::MountSource, source)?;
            }
            MountKind::Tmpfs { size: Some(0), .. } => in_range(Setting::TmpfsSize, 0, 1..=u64::MAX)?,
            MountKind::Tmpfs { mode, .. } => in_range(Setting::TmpfsMode, u64::from(*mode), 0..=0o7777)?,
            // Of the container's own PID namespace, or of the one it joined.
            MountKind::Proc => need(
                ns.contains(Namespaces::PID) || s.process.joined(Namespaces::PID).is_some(),
                Setting::ProcMount,
                Namespaces::PID,
            )?,
            // A cgroup filesystem shows the container's own cgroup: it gets one (`cgroup`).
            MountKind::Cgroup => s.cgroup = true,
        }
        crate::mount_idmap::check(mount)?;
    }
    for path in &mut s.hidden_host_paths {
        *path = container_path(Setting::HideHostPaths, path)?;
        if path == Path::new("/") {
            return Err(ConfigError::Conflict {
                setting: Setting::HideHostPaths,
                with: Setting::Rootfs,
                why: "hiding / hides everything: use Rootfs::dir for an empty root",
            });
        }
    }
    match &mut rootfs.0 {
        RootfsKind::Dir(dir) => {
            no_nul(Setting::Rootfs, dir.as_os_str())?;
            *dir = absolute(Setting::Rootfs, dir)?;
        }
        RootfsKind::Overlay(_) if joined_user => {
            return Err(ConfigError::Conflict {
                setting: Setting::Rootfs,
                with: Setting::JoinNamespace,
                why: "an overlay root's layers would be idmapped with the container's maps, which a joined user namespace keeps to itself: use Rootfs::dir",
            });
        }
        RootfsKind::Overlay(overlay) => check_overlay(overlay)?,
        RootfsKind::Host => {}
    }
    let (uid_map, gid_map) = match ns.contains(Namespaces::USER) {
        true => resolve_maps(&s)?,
        false => (Vec::new(), Vec::new()),
    };
    let has_init = s.init && ns.contains(Namespaces::PID);
    s.resources
        .validate(crate::cgroup::limits::nsbox_processes(has_init, !s.ports.is_empty()))?;
    s.bounds.validate()?;
    s.seccomp.validate(s.landlock.is_some())?;
    if s.refused_new_privileges {
        return Err(ConfigError::NeedsUnsafeOptIn {
            setting: Setting::NoNewPrivileges,
            method: "unsafe_allow_new_privileges",
        });
    }
    if !s.capabilities.is_superset(s.ambient) {
        return Err(ConfigError::Conflict {
            setting: Setting::AmbientCapabilities,
            with: Setting::Capabilities,
            why: "every ambient capability must also be in capabilities()",
        });
    }
    if let Some(landlock) = &mut s.landlock {
        need(
            ns.contains(Namespaces::MOUNT) || landlock.rules.is_empty(),
            Setting::Landlock,
            Namespaces::MOUNT,
        )?;
        for (path, _) in &mut landlock.rules {
            *path = container_path(Setting::Landlock, path)?;
        }
    }
    for (_, soft, hard) in &s.rlimits {
        in_range(Setting::Rlimit, *soft, 0..=*hard)?;
    }
    super::rlimits::check(&s.rlimits, ns.contains(Namespaces::USER) || joined_user)?;
    if let Some(parent) = &s.cgroup_parent {
        no_nul(Setting::CgroupParent, parent.as_os_str())?;
        if parent.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(ConfigError::Malformed {
                setting: Setting::CgroupParent,
                value: parent.to_string_lossy().into_owned(),
                expected: "a cgroup path free of '..'",
            });
        }
    }
    crate::devices::validate(&s)?;
    if !s.groups.is_empty() && s.user.is_none() {
        return Err(ConfigError::Requires {
            setting: Setting::Groups,
            requires: Setting::User,
        });
    }
    if let Some(logs) = &mut s.logs {
        check_logs(logs, &s.stdout, &s.stderr, s.tty.is_some())?;
    }
    Ok(Config {
        namespaces: ns,
        rootfs,
        read_only_root,
        hostname: s.hostname,
        mounts: s.mounts,
        env_clear: s.env_clear,
        env: s.env,
        cwd: s.cwd,
        program,
        args: s.args,
        stdin: s.stdin,
        stdout: s.stdout,
        stderr: s.stderr,
        user: s.user,
        groups: s.groups,
        uid_map,
        gid_map,
        init: s.init,
        detach: s.detach,
        no_new_privileges: s.no_new_privileges,
        resources: s.resources,
        network,
        ports: s.ports,
        capabilities: s.capabilities,
        ambient: s.ambient,
        seccomp: s.seccomp,
        rlimits: s.rlimits,
        new_session: s.new_session,
        tty: s.tty,
        landlock: s.landlock,
        cgroup: s.cgroup,
        cgroup_parent: s.cgroup_parent,
        cgroup_path: s.cgroup_path,
        device_nodes: s.device_nodes,
        bind_no_follow: s.bind_no_follow,
        bounds: s.bounds,
        hidden_host_paths: s.hidden_host_paths,
        logs: s.logs,
        stop_signal: s.stop_signal.unwrap_or(crate::signal::Signal::SIGTERM),
        keep_alive: s.keep_alive,
        on_spawn: s.on_spawn,
        namespace_pool: s.namespace_pool,
        cgroup_pool: s.cgroup_pool,
        start: s.start,
        process: s.process,
        masked_paths: crate::mount_paths::check(Setting::MaskedPaths, s.masked_paths)?,
        read_only_paths: crate::mount_paths::check(Setting::ReadOnlyPaths, s.read_only_paths)?,
        receive_host_mounts: s.receive_host_mounts,
        writable_sys: s.writable_sys,
        memory_policy: match s.memory_policy {
            Some(policy) => policy.check().map(|()| Some(policy))?,
            None => None,
        },
        pool_gate: None,
        seccomp_capabilities: None,
        net_devices: s.net_devices,
    })
}

/// The log directory made absolute, the sizes in range, and stdout and stderr left to the
/// log writer.
fn check_logs(
    logs: &mut crate::logs::LogConfig,
    stdout: &Option<crate::stdio::Stdio>,
    stderr: &Option<crate::stdio::Stdio>,
    tty: bool,
) -> Result<(), ConfigError> {
    use crate::logs::LogConfig;
    if logs.dir.as_os_str().is_empty() {
        return Err(ConfigError::Missing { setting: Setting::Logs });
    }
    no_nul(Setting::Logs, logs.dir.as_os_str())?;
    logs.dir = absolute(Setting::Logs, &logs.dir)?;
    in_range(Setting::LogMaxSize, logs.max_size, 1..=u64::MAX)?;
    in_range(
        Setting::LogMaxFiles,
        u64::from(logs.max_files),
        1..=u64::from(LogConfig::MAX_FILES),
    )?;
    let why = "logs() takes the payload's stdout and stderr: read them from the logs";
    for (given, with) in [(stdout, Setting::Stdout), (stderr, Setting::Stderr)] {
        if given.is_some() {
            return Err(ConfigError::Conflict {
                setting: Setting::Logs,
                with,
                why,
            });
        }
    }
    if tty {
        return Err(ConfigError::Conflict {
            setting: Setting::Logs,
            with: Setting::Tty,
            why: "a terminal carries the payload's output: it cannot be logged",
        });
    }
    Ok(())
}

/// The user namespace's maps: those given, the caller's defaults for the others; resolved
/// once, so the plan writes exactly what was checked. The payload's ids must be mapped.
fn resolve_maps(s: &Settings) -> Result<(Vec<IdMap>, Vec<IdMap>), ConfigError> {
    let (uid_map, gid_map) = match (&s.uid_map, &s.gid_map) {
        (Some(u), Some(g)) => (u.clone(), g.clone()),
        _ => {
            let defaults = match s.unprivileged_root {
                true => IdMaps::unprivileged_for_caller()
                    .map_err(|e| ConfigError::NoUnprivilegedId { why: e.to_string() })?,
                false => IdMaps::default_for_caller(),
            };
            (
                s.uid_map.clone().unwrap_or(defaults.uid),
                s.gid_map.clone().unwrap_or(defaults.gid),
            )
        }
    };
    let (uid, gid) = s.user.unwrap_or((0, 0));
    if !IdMap::maps_inside(&uid_map, uid) {
        return Err(ConfigError::Unmapped {
            setting: Setting::User,
            id: uid,
        });
    }
    if let Some(g) = std::iter::once(gid)
        .chain(s.groups.iter().copied())
        .find(|g| !IdMap::maps_inside(&gid_map, *g))
    {
        return Err(ConfigError::Unmapped {
            setting: Setting::Groups,
            id: g,
        });
    }
    Ok((uid_map, gid_map))
}

/// A host path made absolute against the caller's working directory.
fn absolute(setting: Setting, path: &Path) -> Result<PathBuf, ConfigError> {
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    match std::env::current_dir() {
        Ok(cwd) => Ok(cwd.join(path)),
        Err(_) => Err(ConfigError::Malformed {
            setting,
            value: path.to_string_lossy().into_owned(),
            expected: "an absolute path (the caller has no working directory to resolve it against)",
        }),
    }
}

/// An overlay root: one to [`Rootfs::MAX_LAYERS`] lower directories, absolute paths, a sized
/// tmpfs upper or an absolute upper directory.
fn check_overlay(overlay: &mut crate::rootfs::Overlay) -> Result<(), ConfigError> {
    in_range(
        Setting::Rootfs,
        overlay.lower.len() as u64,
        1..=Rootfs::MAX_LAYERS as u64,
    )?;
    for dir in &mut overlay.lower {
        no_nul(Setting::Rootfs, dir.as_os_str())?;
        *dir = absolute(Setting::Rootfs, dir)?;
    }
    match &mut overlay.upper {
        crate::rootfs::Upper::Tmpfs { size: Some(0) } => in_range(Setting::TmpfsSize, 0, 1..=u64::MAX)?,
        crate::rootfs::Upper::Tmpfs { .. } => {}
        crate::rootfs::Upper::Dir(dir) => {
            no_nul(Setting::Rootfs, dir.as_os_str())?;
            *dir = absolute(Setting::Rootfs, dir)?;
        }
    }
    Ok(())
}

fn no_nul(setting: Setting, value: &OsStr) -> Result<(), ConfigError> {
    match value.as_bytes().contains(&0) {
        true => Err(ConfigError::NulByte { setting }),
        false => Ok(()),
    }
}

pub(crate) fn check_maps(setting: Setting, maps: &[IdMap]) -> Result<(), ConfigError> {
    in_range(setting, maps.len() as u64, 1..=MAX_ID_MAP_RANGES)?;
    for m in maps {
        if m.count == 0 || m.inside.checked_add(m.count).is_none() || m.outside.checked_add(m.count).is_none() {
            return Err(ConfigError::EmptyIdRange { setting, range: *m });
        }
    }
    // The kernel refuses overlapping ranges on either side (EINVAL at the id-map write).
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[i + 1..] {
            let overlap = |x: u32, y: u32| x < y + b.count && y < x + a.count;
            if overlap(a.inside, b.inside) || overlap(a.outside, b.outside) {
                return Err(ConfigError::OverlappingIdRanges {
                    setting,
                    first: *a,
                    second: *b,
                });
            }
        }
    }
    Ok(())
}

/// Normalises an absolute container path: no `..`, no `.`, no repeated slashes.
pub(crate) fn container_path(setting: Setting, path: &Path) -> Result<PathBuf, ConfigError> {
    no_nul(setting, path.as_os_str())?;
    let bad = || ConfigError::BadContainerPath {
        setting,
        path: path.to_path_buf(),
    };
    if !path.is_absolute() {
        return Err(bad());
    }
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => out.push(name),
            Component::ParentDir | Component::Prefix(_) => return Err(bad()),
        }
    }
    Ok(out)
}

/// An exec's settings ([`Container::exec`](crate::Container::exec)) checked as a spawn's are
/// and put into a copy of the container's `config`: the command and its arguments, the
/// environment (the container's, then the exec's changes; `env_clear` drops the container's
/// too), the working directory and the user, which must be one the container maps (an exec
/// can narrow, never widen, what the container's processes are). Supplementary groups go with
/// a user of the exec's own.
pub(crate) fn exec_config(config: &Config, exec: &crate::exec::ExecSettings) -> Result<Config, ConfigError> {
    let program = exec.program.clone().unwrap_or_default();
    if program.is_empty() {
        return Err(ConfigError::Missing {
            setting: Setting::Command,
        });
    }
    check_command(&program, &exec.args, &exec.env)?;
    let mut out = config.clone();
    // The exec's own: killed with its handle (unless forked away), no ports of its own.
    out.detach = exec.detach;
    out.ports.clear();
    out.logs = None;
    out.program = program;
    out.args = exec.args.clone();
    if exec.env_clear {
        out.env_clear = true;
        out.env = exec.env.clone();
    } else {
        out.env.extend(exec.env.iter().cloned());
    }
    if let Some(cwd) = &exec.cwd {
        out.cwd = container_path(Setting::CurrentDir, cwd)?;
    }
    if let Some((uid, gid)) = exec.user {
        if out.namespaces.contains(Namespaces::USER) {
            if !IdMap::maps_inside(&out.uid_map, uid) {
                return Err(ConfigError::Unmapped {
                    setting: Setting::User,
                    id: uid,
                });
            }
            if !IdMap::maps_inside(&out.gid_map, gid) {
                return Err(ConfigError::Unmapped {
                    setting: Setting::User,
                    id: gid,
                });
            }
        }
        out.user = Some((uid, gid));
        out.groups = Vec::new();
    }
    if let Some(groups) = &exec.groups {
        out.groups = groups.clone();
    }
    out.stdin = exec.stdin.clone();
    out.stdout = exec.stdout.clone();
    out.stderr = exec.stderr.clone();
    // Narrowing only: what is dropped goes from the bounding, permitted and ambient sets.
    for cap in exec.cap_drop.iter() {
        out.capabilities.remove(cap);
        out.ambient.remove(cap);
    }
    // Given back (`ExecBuilder::cap_add`), never beyond the container's bounding set.
    for cap in exec.cap_add.iter() {
        if !config.capabilities.contains(cap) {
            return Err(ConfigError::BeyondContainer {
                setting: Setting::Capabilities,
                value: format!("{cap}"),
                what: "bounding set",
            });
        }
        out.capabilities.insert(cap);
    }
    // Granted (`ExecBuilder::cap_grant`), beyond the container's if the caller says so; the
    // seccomp filter stays compiled for the container's capabilities.
    for cap in exec.cap_grant.iter() {
        out.capabilities.insert(cap);
    }
    out.seccomp_capabilities = Some(config.seccomp_capabilities.unwrap_or(config.capabilities));
    if let Some(ambient) = exec.ambient {
        if !out.capabilities.is_superset(ambient) {
            return Err(ConfigError::Conflict {
                setting: Setting::AmbientCapabilities,
                with: Setting::Capabilities,
                why: "every ambient capability of an exec must be in its bounding set",
            });
        }
        out.ambient = ambient;
    }
    out.start.preserved_fds = exec.preserved_fds;
    out.no_new_privileges |= exec.no_new_privileges;
    if exec.tty.is_some() {
        if !out.namespaces.contains(Namespaces::MOUNT) {
            return Err(ConfigError::NeedsNamespace {
                setting: Setting::Tty,
                namespace: Namespaces::MOUNT,
            });
        }
        out.tty = exec.tty;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_id_maps_are_refused() {
        let check = |maps: &[IdMap]| check_maps(Setting::UidMap, maps);
        assert!(matches!(
            check(&[IdMap::new(0, 1000, 10), IdMap::new(5, 5000, 10)]),
            Err(ConfigError::OverlappingIdRanges { .. })
        ));
        assert!(check(&[IdMap::new(0, 1000, 10), IdMap::new(10, 1005, 1)]).is_err());
        assert!(check(&[IdMap::new(0, 1000, 10), IdMap::new(10, 1010, 10)]).is_ok());
    }

    #[test]
    fn id_maps_with_no_or_too_many_ranges_are_out_of_range() {
        let many: Vec<_> = (0..341).map(|i| IdMap::new(i, 1000 + i, 1)).collect();
        for maps in [&[][..], &many[..]] {
            assert!(matches!(
                check_maps(Setting::GidMap, maps),
                Err(ConfigError::OutOfRange { setting: Setting::GidMap, allowed, .. }) if allowed == (1..=340)
            ));
        }
    }

    #[test]
    fn container_paths_are_normalised_or_refused() {
        let path = |p: &str| container_path(Setting::MountTarget, Path::new(p));
        assert_eq!(path("/a//b/./c/").unwrap(), Path::new("/a/b/c"));
        assert!(path("a/b").is_err());
        assert!(path("/a/../b").is_err());
    }
}
