//! The validated, plain-data description of a container.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::cgroup::Resources;
use crate::error::{ConfigError, Result};
use crate::idmap::IdMap;
use crate::mount::{Mount, MountKind};
use crate::namespaces::Namespaces;
use crate::net::{Network, Port};
use crate::rlimit::Resource;
use crate::rootfs::Rootfs;
use crate::security::{Capabilities, Seccomp};
use crate::stdio::Stdio;

/// A complete container description, checked by [`ContainerBuilder::build`](crate::ContainerBuilder::build).
///
/// A `Config` can be spawned any number of times; each spawn is a new container.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) namespaces: Namespaces,
    pub(crate) rootfs: Option<Rootfs>,
    pub(crate) read_only_root: Option<bool>,
    pub(crate) hostname: Option<OsString>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) env_clear: bool,
    pub(crate) env: Vec<(OsString, Option<OsString>)>,
    pub(crate) cwd: PathBuf,
    pub(crate) program: Option<OsString>,
    pub(crate) args: Vec<OsString>,
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    pub(crate) user: Option<(u32, u32)>,
    pub(crate) groups: Vec<u32>,
    pub(crate) uid_map: Option<Vec<IdMap>>,
    pub(crate) gid_map: Option<Vec<IdMap>>,
    pub(crate) init: bool,
    pub(crate) detach: bool,
    pub(crate) no_new_privileges: bool,
    pub(crate) resources: Resources,
    pub(crate) network: Option<Network>,
    pub(crate) ports: Vec<Port>,
    pub(crate) capabilities: Capabilities,
    pub(crate) ambient: Capabilities,
    pub(crate) seccomp: Seccomp,
    pub(crate) rlimits: Vec<(Resource, u64, u64)>,
    pub(crate) new_session: bool,
    pub(crate) landlock: Option<crate::security::Landlock>,
    /// Set by `no_new_privileges(false)`, which is refused: the unsafe_ method is the way.
    pub(crate) refused_new_privileges: bool,
    pub(crate) cgroup: bool,
    pub(crate) cgroup_parent: Option<PathBuf>,
    /// Whether binds open their source without following symlinks unless a mount says
    /// otherwise ([`Mount::no_follow`], [`Mount::follow_symlinks`]).
    pub(crate) bind_no_follow: bool,
    pub(crate) bounds: crate::bounds::Bounds,
    /// Host paths hidden on the host root (`hide_host_paths`).
    pub(crate) hidden_host_paths: Vec<PathBuf>,
    /// Without explicit maps, map container root to an unprivileged host id
    /// (`IdMaps::unprivileged_for_caller`) rather than the caller's default.
    pub(crate) unprivileged_root: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespaces: Namespaces::all(),
            rootfs: None,
            read_only_root: None,
            hostname: None,
            mounts: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: PathBuf::from("/"),
            program: None,
            args: Vec::new(),
            stdin: None,
            stdout: None,
            stderr: None,
            user: None,
            groups: Vec::new(),
            uid_map: None,
            gid_map: None,
            init: true,
            detach: false,
            no_new_privileges: true,
            resources: Resources::default(),
            network: None,
            ports: Vec::new(),
            capabilities: Capabilities::podman_default(),
            ambient: Capabilities::empty(),
            seccomp: Seccomp::docker_default(),
            rlimits: Vec::new(),
            new_session: true,
            landlock: None,
            refused_new_privileges: false,
            cgroup: false,
            cgroup_parent: None,
            bind_no_follow: false,
            bounds: crate::bounds::Bounds::FIXTURE,
            hidden_host_paths: Vec::new(),
            unprivileged_root: false,
        }
    }
}

impl Config {
    /// The namespaces the container is created in.
    pub fn namespaces(&self) -> Namespaces {
        self.namespaces
    }

    /// The rootfs, when the container has its own mount namespace.
    pub fn rootfs(&self) -> Option<&Rootfs> {
        self.rootfs.as_ref()
    }

    /// The mounts the caller added, in order.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The program the container executes.
    pub fn program(&self) -> Option<&OsStr> {
        self.program.as_deref()
    }

    /// Whether the container's root filesystem is mounted read-only.
    pub fn is_read_only_root(&self) -> bool {
        self.read_only_root.unwrap_or(true)
    }

    /// Whether the container gets a cgroup: for limits, or because one was asked for.
    pub(crate) fn wants_cgroup(&self) -> bool {
        self.cgroup || self.cgroup_parent.is_some() || !self.resources.is_empty()
    }

    /// Whether a PID 1 init runs in front of the payload.
    pub(crate) fn has_init(&self) -> bool {
        self.init && self.namespaces.contains(Namespaces::PID)
    }

    /// Checks everything that can be checked without a syscall; fills in defaults.
    pub(crate) fn validate(mut self) -> Result<Config, ConfigError> {
        let need = |ok: bool, setting, namespace| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::MissingNamespace { setting, namespace })
            }
        };
        match &self.network {
            Some(Network::None) => self.namespaces |= Namespaces::NET,
            Some(Network::Host | Network::Join(_)) => self.namespaces -= Namespaces::NET,
            None => {}
        }
        let ns = self.namespaces;
        let joins = matches!(self.network, Some(Network::Join(_)));
        need(
            self.ports.is_empty() || ns.contains(Namespaces::NET) || joins,
            "published ports",
            "NET",
        )?;
        let program = self.program.as_ref().ok_or(ConfigError::EmptyCommand)?;
        if program.is_empty() {
            return Err(ConfigError::EmptyCommand);
        }
        no_nul("command", program)?;
        for arg in &self.args {
            no_nul("argument", arg)?;
        }
        for (key, value) in &self.env {
            no_nul("environment variable name", key)?;
            if key.is_empty() || key.as_bytes().contains(&b'=') {
                return Err(invalid(
                    format!("environment variable name {key:?}"),
                    "must be non-empty and free of '='",
                ));
            }
            if let Some(value) = value {
                no_nul("environment variable value", value)?;
            }
        }
        if let Some(name) = &self.hostname {
            need(ns.contains(Namespaces::UTS), "hostname", "UTS")?;
            no_nul("hostname", name)?;
            if name.is_empty() || name.len() > 64 {
                return Err(invalid(format!("hostname {name:?}"), "must be 1 to 64 bytes"));
            }
        }
        need(
            ns.contains(Namespaces::USER) || (self.uid_map.is_none() && self.gid_map.is_none()),
            "uid/gid maps",
            "USER",
        )?;
        for maps in [&self.uid_map, &self.gid_map].into_iter().flatten() {
            check_maps(maps)?;
        }
        let has_mount_ns = ns.contains(Namespaces::MOUNT);
        need(has_mount_ns || self.rootfs.is_none(), "rootfs", "MOUNT")?;
        need(has_mount_ns || self.mounts.is_empty(), "mounts", "MOUNT")?;
        need(has_mount_ns || self.read_only_root.is_none(), "read_only_root", "MOUNT")?;
        if has_mount_ns && self.rootfs.is_none() {
            self.rootfs = Some(Rootfs::host());
        }
        if self.rootfs.as_ref().is_some_and(Rootfs::is_host) && self.read_only_root == Some(false) {
            return Err(invalid(
                "read_only_root(false) with Rootfs::host()".into(),
                "the host root is always read-only (writes would land on the host); mount a tmpfs where the payload writes",
            ));
        }
        self.cwd = container_path(&self.cwd)?;
        for mount in &mut self.mounts {
            mount.target = container_path(&mount.target)?;
            if mount.target == Path::new("/") {
                return Err(invalid(
                    "mount target /".into(),
                    "use Rootfs to choose the root filesystem",
                ));
            }
            match &mut mount.kind {
                MountKind::Bind { source, .. } => {
                    no_nul("bind source", source.as_os_str())?;
                    if source.is_relative() {
                        let cwd = std::env::current_dir()
                            .map_err(|e| invalid("bind source".into(), &format!("relative and no cwd: {e}")))?;
                        *source = cwd.join(&*source);
                    }
                }
                MountKind::Tmpfs { size: Some(0), .. } => {
                    return Err(invalid(
                        format!("tmpfs size at {}", mount.target.display()),
                        "must be more than 0",
                    ));
                }
                MountKind::Tmpfs { mode, .. } if *mode > 0o7777 => {
                    return Err(invalid(
                        format!("tmpfs mode at {}", mount.target.display()),
                        "must be at most 0o7777",
                    ));
                }
                MountKind::Proc => {
                    need(ns.contains(Namespaces::PID), "a procfs mount", "PID")?;
                }
                _ => {}
            }
        }
        for path in &mut self.hidden_host_paths {
            *path = container_path(path)?;
            if path == Path::new("/") {
                return Err(invalid(
                    "hidden host path /".into(),
                    "use Rootfs::dir for an empty root",
                ));
            }
        }
        if let Some(crate::rootfs::Rootfs(crate::rootfs::RootfsKind::Dir(dir))) = &mut self.rootfs {
            no_nul("rootfs", dir.as_os_str())?;
            if dir.is_relative() {
                let cwd = std::env::current_dir().map_err(|e| invalid("rootfs".into(), &e.to_string()))?;
                *dir = cwd.join(&*dir);
            }
        }
        if ns.contains(Namespaces::USER) {
            let (uid_map, gid_map) = match (&self.uid_map, &self.gid_map) {
                (Some(u), Some(g)) => (u.clone(), g.clone()),
                _ if self.unprivileged_root => {
                    let defaults = crate::idmap::IdMaps::unprivileged_for_caller().map_err(|e| {
                        invalid(
                            "an unprivileged host id for container root".into(),
                            &format!("none found: {e}"),
                        )
                    })?;
                    (
                        self.uid_map.clone().unwrap_or(defaults.uid),
                        self.gid_map.clone().unwrap_or(defaults.gid),
                    )
                }
                _ => {
                    let defaults = crate::idmap::IdMaps::default_for_caller();
                    (
                        self.uid_map.clone().unwrap_or(defaults.uid),
                        self.gid_map.clone().unwrap_or(defaults.gid),
                    )
                }
            };
            let (uid, gid) = self.user.unwrap_or((0, 0));
            if !IdMap::maps_inside(&uid_map, uid) {
                return Err(invalid(format!("user {uid}"), "is not mapped by the uid map"));
            }
            if let Some(g) = std::iter::once(gid)
                .chain(self.groups.iter().copied())
                .find(|g| !IdMap::maps_inside(&gid_map, *g))
            {
                return Err(invalid(format!("group {g}"), "is not mapped by the gid map"));
            }
            // Resolved once: the plan writes exactly what was checked.
            (self.uid_map, self.gid_map) = (Some(uid_map), Some(gid_map));
        }
        self.resources.validate()?;
        self.bounds.validate()?;
        self.seccomp.validate(self.landlock.is_some())?;
        if self.refused_new_privileges {
            return Err(invalid(
                "no_new_privileges(false)".into(),
                "letting setuid binaries gain privileges weakens isolation: call unsafe_allow_new_privileges()",
            ));
        }
        if !self.capabilities.is_superset(self.ambient) {
            return Err(invalid(
                format!("ambient capabilities {:?}", self.ambient),
                "must also be in capabilities()",
            ));
        }
        if let Some(landlock) = &mut self.landlock {
            need(
                ns.contains(Namespaces::MOUNT) || landlock.rules.is_empty(),
                "landlock rules",
                "MOUNT",
            )?;
            for (path, _) in &mut landlock.rules {
                *path = container_path(path)?;
            }
        }
        for (resource, soft, hard) in &self.rlimits {
            if soft > hard {
                return Err(invalid(
                    format!("rlimit {resource:?}"),
                    "soft limit above the hard limit",
                ));
            }
        }
        if let Some(parent) = &self.cgroup_parent {
            no_nul("cgroup_parent", parent.as_os_str())?;
            if parent.components().any(|c| matches!(c, Component::ParentDir)) {
                return Err(invalid(
                    format!("cgroup_parent {}", parent.display()),
                    "must not contain '..'",
                ));
            }
        }
        if !self.groups.is_empty() && self.user.is_none() {
            return Err(invalid("supplementary groups".into(), "need .user(uid, gid) as well"));
        }
        Ok(self)
    }
}

fn invalid(what: String, why: &str) -> ConfigError {
    ConfigError::Invalid {
        what,
        why: why.to_string(),
    }
}

fn no_nul(what: &str, value: &OsStr) -> Result<(), ConfigError> {
    if value.as_bytes().contains(&0) {
        return Err(ConfigError::NulByte { what: what.to_string() });
    }
    Ok(())
}

fn check_maps(maps: &[IdMap]) -> Result<(), ConfigError> {
    if maps.is_empty() || maps.len() > 340 {
        return Err(invalid("id map".into(), "must have 1 to 340 ranges"));
    }
    for m in maps {
        if m.count == 0 || m.inside.checked_add(m.count).is_none() || m.outside.checked_add(m.count).is_none() {
            return Err(invalid(format!("id map range {m:?}"), "is empty or overflows"));
        }
    }
    // The kernel refuses overlapping ranges on either side (EINVAL at the id-map write).
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[i + 1..] {
            let overlap = |x: u32, y: u32| x < y + b.count && y < x + a.count;
            if overlap(a.inside, b.inside) || overlap(a.outside, b.outside) {
                return Err(invalid(format!("id map ranges {a:?} and {b:?}"), "overlap"));
            }
        }
    }
    Ok(())
}

/// Normalises an absolute container path: no `..`, no `.`, no repeated slashes.
pub(crate) fn container_path(path: &Path) -> Result<PathBuf, ConfigError> {
    no_nul("container path", path.as_os_str())?;
    let bad = || ConfigError::BadContainerPath {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_id_maps_are_refused() {
        assert!(check_maps(&[IdMap::new(0, 1000, 10), IdMap::new(5, 5000, 10)]).is_err());
        assert!(check_maps(&[IdMap::new(0, 1000, 10), IdMap::new(10, 1005, 1)]).is_err());
        assert!(check_maps(&[IdMap::new(0, 1000, 10), IdMap::new(10, 1010, 10)]).is_ok());
    }

    #[test]
    fn container_paths_are_normalised_or_refused() {
        assert_eq!(container_path(Path::new("/a//b/./c/")).unwrap(), Path::new("/a/b/c"));
        assert!(container_path(Path::new("a/b")).is_err());
        assert!(container_path(Path::new("/a/../b")).is_err());
    }
}
