//! What the builder edits: every setting as given, with `None` for "not given". `build()`
//! turns it into a [`Config`] (see `validate.rs`); a serialized `Config` is one of these
//! with every setting resolved, so deserializing runs the same checks.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::bounds::Bounds;
use crate::cgroup::Resources;
use crate::config::Config;
use crate::idmap::IdMap;
use crate::mount::Mount;
use crate::namespaces::Namespaces;
use crate::net::{Network, Port};
use crate::rlimit::Resource;
use crate::rootfs::Rootfs;
use crate::security::{Capabilities, Landlock, Seccomp};
use crate::stdio::Stdio;

/// The builder's draft of a [`Config`]. Field meanings: see the builder methods.
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub(crate) struct Settings {
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::namespaces"))]
    pub namespaces: Namespaces,
    pub rootfs: Option<Rootfs>,
    pub read_only_root: Option<bool>,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::opt_os"))]
    pub hostname: Option<OsString>,
    pub mounts: Vec<Mount>,
    pub env_clear: bool,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::env"))]
    pub env: Vec<(OsString, Option<OsString>)>,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))]
    pub cwd: PathBuf,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::opt_os"))]
    pub program: Option<OsString>,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::vec_os"))]
    pub args: Vec<OsString>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub stdin: Option<Stdio>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub stdout: Option<Stdio>,
    #[cfg_attr(feature = "serde", serde(skip))]
    pub stderr: Option<Stdio>,
    pub user: Option<(u32, u32)>,
    pub groups: Vec<u32>,
    pub uid_map: Option<Vec<IdMap>>,
    pub gid_map: Option<Vec<IdMap>>,
    pub init: bool,
    pub detach: bool,
    pub no_new_privileges: bool,
    pub resources: Resources,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::network"))]
    pub network: Option<Network>,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::ports"))]
    pub ports: Vec<Port>,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::capabilities"))]
    pub capabilities: Capabilities,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::capabilities"))]
    pub ambient: Capabilities,
    pub seccomp: Seccomp,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::rlimits"))]
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub new_session: bool,
    /// A terminal for the payload: its size in rows and columns.
    pub tty: Option<(u16, u16)>,
    pub landlock: Option<Landlock>,
    /// Set by `no_new_privileges(false)`, which is refused: the unsafe_ method is the way.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub refused_new_privileges: bool,
    pub cgroup: bool,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::opt_path"))]
    pub cgroup_parent: Option<PathBuf>,
    // Cgroups and devices (issue 16).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::opt_path"))]
    pub cgroup_path: Option<PathBuf>,
    pub device_nodes: Vec<crate::devices::DeviceNode>,
    pub bind_no_follow: bool,
    pub bounds: Bounds,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::vec_path"))]
    pub hidden_host_paths: Vec<PathBuf>,
    /// Where stdout and stderr are logged (`ContainerBuilder::logs`).
    pub logs: Option<crate::logs::LogConfig>,
    /// Without explicit maps, map container root to an unprivileged host id
    /// (`IdMaps::unprivileged_for_caller`) rather than the caller's default.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub unprivileged_root: bool,
    /// What `Container::stop` sends first (`None`: SIGTERM).
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::opt_signal"))]
    pub stop_signal: Option<crate::signal::Signal>,
    /// Values kept alive with the containers (`ContainerBuilder::keep_alive`): not serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub keep_alive: crate::keep_alive::KeepAlive,
    /// Hooks run once a payload executed (`ContainerBuilder::on_spawn`): not serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub on_spawn: crate::on_spawn::OnSpawn,
    /// Pre-made user and network namespaces (`ContainerBuilder::namespace_pool`): not
    /// serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub namespace_pool: Option<crate::NamespacePool>,
    /// Pre-made cgroups (`ContainerBuilder::cgroup_pool`): not serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub cgroup_pool: Option<crate::CgroupPool>,
    /// The start gate and created hooks (`ContainerBuilder::start_gate`, `on_created`): not
    /// serialized.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub start: crate::start_gate::StartControl,
    /// Process attributes and namespace settings: oom_score_adj, umask, sysctls, domainname,
    /// joined namespaces (`process_attrs`).
    pub process: crate::process_attrs::ProcessAttributes,
    // Mounts (issue 16): `None`: nsbox's lists (`ContainerBuilder::masked_paths`).
    #[cfg_attr(feature = "serde", serde(default, with = "crate::config::wire::opt_vec_path"))]
    pub masked_paths: Option<Vec<PathBuf>>,
    #[cfg_attr(feature = "serde", serde(default, with = "crate::config::wire::opt_vec_path"))]
    pub read_only_paths: Option<Vec<PathBuf>>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub receive_host_mounts: bool,
    #[cfg_attr(feature = "serde", serde(default))]
    pub writable_sys: bool,
    // NUMA memory policy (issue 16, `crate::numa`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub memory_policy: Option<crate::numa::MemoryPolicy>,
    // Network devices (issue 16, `crate::net::devices`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub net_devices: Vec<crate::net::NetDevice>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
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
            tty: None,
            landlock: None,
            refused_new_privileges: false,
            cgroup: false,
            cgroup_parent: None,
            cgroup_path: None,
            device_nodes: Vec::new(),
            bind_no_follow: false,
            bounds: Bounds::FIXTURE,
            hidden_host_paths: Vec::new(),
            logs: None,
            unprivileged_root: false,
            stop_signal: None,
            keep_alive: Default::default(),
            on_spawn: Default::default(),
            namespace_pool: None,
            cgroup_pool: None,
            start: Default::default(),
            process: Default::default(),
            masked_paths: None,
            read_only_paths: None,
            receive_host_mounts: false,
            writable_sys: false,
            memory_policy: None,
            net_devices: Vec::new(),
        }
    }
}

impl From<Config> for Settings {
    fn from(config: Config) -> Self {
        Settings::from(&config)
    }
}

impl From<&Config> for Settings {
    /// The settings that build `config` again: everything resolved given explicitly, and what
    /// needs a namespace left out without it.
    fn from(config: &Config) -> Self {
        let c = config.clone();
        let mount_ns = c.namespaces.contains(Namespaces::MOUNT);
        let user_ns = c.namespaces.contains(Namespaces::USER);
        Settings {
            namespaces: c.namespaces,
            rootfs: mount_ns.then_some(c.rootfs),
            read_only_root: mount_ns.then_some(c.read_only_root),
            hostname: c.hostname,
            mounts: c.mounts,
            env_clear: c.env_clear,
            env: c.env,
            cwd: c.cwd,
            program: Some(c.program),
            args: c.args,
            stdin: c.stdin,
            stdout: c.stdout,
            stderr: c.stderr,
            user: c.user,
            groups: c.groups,
            uid_map: user_ns.then_some(c.uid_map),
            gid_map: user_ns.then_some(c.gid_map),
            init: c.init,
            detach: c.detach,
            no_new_privileges: c.no_new_privileges,
            resources: c.resources,
            network: Some(c.network),
            ports: c.ports,
            capabilities: c.capabilities,
            ambient: c.ambient,
            seccomp: c.seccomp,
            rlimits: c.rlimits,
            new_session: c.new_session,
            tty: c.tty,
            landlock: c.landlock,
            refused_new_privileges: false,
            cgroup: c.cgroup,
            cgroup_parent: c.cgroup_parent,
            cgroup_path: c.cgroup_path,
            device_nodes: c.device_nodes,
            bind_no_follow: c.bind_no_follow,
            bounds: c.bounds,
            hidden_host_paths: c.hidden_host_paths,
            logs: c.logs,
            unprivileged_root: false,
            stop_signal: Some(c.stop_signal),
            keep_alive: c.keep_alive,
            on_spawn: c.on_spawn,
            namespace_pool: c.namespace_pool,
            cgroup_pool: c.cgroup_pool,
            start: c.start,
            process: c.process,
            masked_paths: c.masked_paths,
            read_only_paths: c.read_only_paths,
            receive_host_mounts: c.receive_host_mounts,
            writable_sys: c.writable_sys,
            memory_policy: c.memory_policy,
            net_devices: c.net_devices,
        }
    }
}
