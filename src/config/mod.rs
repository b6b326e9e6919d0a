//! The validated, plain-data description of a container.

mod rlimits;
mod settings;
pub(crate) mod validate;
#[cfg(feature = "serde")]
pub(crate) mod wire;

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::bounds::Bounds;
use crate::cgroup::Resources;
use crate::container::{Container, Output};
use crate::error::Result;
use crate::idmap::IdMap;
use crate::mount::Mount;
use crate::namespaces::Namespaces;
use crate::net::{Network, Port};
use crate::rlimit::Resource;
use crate::rootfs::Rootfs;
use crate::security::{Capabilities, Landlock, Seccomp};
use crate::stdio::Stdio;

pub(crate) use settings::Settings;
pub(crate) use validate::{check_command, container_path, exec_config, validate};
#[cfg(feature = "serde")]
pub use wire::UncheckedConfig;

/// A complete container description, checked and resolved by
/// [`ContainerBuilder::build`](crate::ContainerBuilder::build): the only way to make one
/// (or, with the `serde` feature, deserializing one, which runs the same checks).
///
/// A `Config` can be spawned any number of times; each spawn is a new container. Every
/// default is resolved at build time (the root filesystem, whether it is read-only, the user
/// namespace's id maps, the network), so what a `Config` holds is what a spawn does. What
/// stays open is what belongs to each spawn: the hostname defaults to the container's id,
/// and [`output`](Config::output) picks its own defaults for streams that were not set.
///
/// There is no `Config::default()`, and no struct literal, so a configuration cannot skip the
/// checks:
///
/// ```compile_fail
/// let config = nsbox::Config::default();
/// ```
///
/// ```compile_fail
/// let config = nsbox::Config { program: "/bin/true".into() };
/// ```
///
/// # Serialization (feature `serde`)
///
/// With the `serde` feature a `Config` implements `Serialize` and `Deserialize`, and
/// deserializing validates again: a value [`build`](crate::ContainerBuilder::build) would
/// refuse is refused with the same [`ConfigError`](crate::ConfigError). Paths, the command,
/// its arguments and the environment are byte strings (non-UTF-8 round-trips). Not part of
/// the serialized form: **stdin, stdout and stderr** (a pipe or an fd means nothing in
/// another process; a deserialized `Config` inherits all three, as an unset builder does, and
/// [`output`](Config::output) still captures). A network namespace given as an fd
/// ([`Network::join_fd`]) cannot be serialized (an error); by path it can. The id maps are
/// serialized as resolved on the host that built the config.
///
/// ```
/// # #[cfg(feature = "serde")] {
/// let config = nsbox::Container::builder().command("/bin/true").build()?;
/// let json = serde_json::to_string(&config).unwrap();
/// let again: nsbox::Config = serde_json::from_str(&json).unwrap();
/// assert_eq!(format!("{again:?}"), format!("{config:?}"));
/// # }
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug, Clone)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(into = "UncheckedConfig", try_from = "UncheckedConfig")
)]
pub struct Config {
    pub(crate) namespaces: Namespaces,
    /// Used with a mount namespace only.
    pub(crate) rootfs: Rootfs,
    pub(crate) read_only_root: bool,
    /// `None`: the container's id, per spawn.
    pub(crate) hostname: Option<OsString>,
    pub(crate) mounts: Vec<Mount>,
    pub(crate) env_clear: bool,
    pub(crate) env: Vec<(OsString, Option<OsString>)>,
    pub(crate) cwd: PathBuf,
    pub(crate) program: OsString,
    pub(crate) args: Vec<OsString>,
    /// `None`: inherited; [`Config::output`] makes its own choice.
    pub(crate) stdin: Option<Stdio>,
    pub(crate) stdout: Option<Stdio>,
    pub(crate) stderr: Option<Stdio>,
    /// `None`: the credentials are left as the namespaces make them.
    pub(crate) user: Option<(u32, u32)>,
    pub(crate) groups: Vec<u32>,
    /// The user namespace's maps, as written; empty without one.
    pub(crate) uid_map: Vec<IdMap>,
    pub(crate) gid_map: Vec<IdMap>,
    pub(crate) init: bool,
    pub(crate) detach: bool,
    pub(crate) no_new_privileges: bool,
    pub(crate) resources: Resources,
    /// Agrees with the NET bit of `namespaces`.
    pub(crate) network: Network,
    pub(crate) ports: Vec<Port>,
    pub(crate) capabilities: Capabilities,
    pub(crate) ambient: Capabilities,
    pub(crate) seccomp: Seccomp,
    pub(crate) rlimits: Vec<(Resource, u64, u64)>,
    pub(crate) new_session: bool,
    /// A terminal for the payload (rows, columns): see `ContainerBuilder::tty`.
    pub(crate) tty: Option<(u16, u16)>,
    pub(crate) landlock: Option<Landlock>,
    pub(crate) cgroup: bool,
    pub(crate) cgroup_parent: Option<PathBuf>,
    // Cgroups and devices (issue 16).
    /// The container's exact cgroup path (`ContainerBuilder::cgroup_path`).
    pub(crate) cgroup_path: Option<PathBuf>,
    /// Device nodes made in /dev (`ContainerBuilder::device_node`), paths checked.
    pub(crate) device_nodes: Vec<crate::devices::DeviceNode>,
    /// Whether binds open their source without following symlinks unless a mount says
    /// otherwise ([`Mount::no_follow`], [`Mount::follow_symlinks`]).
    pub(crate) bind_no_follow: bool,
    pub(crate) bounds: Bounds,
    /// Host paths hidden on the host root (`hide_host_paths`).
    pub(crate) hidden_host_paths: Vec<PathBuf>,
    /// Where stdout and stderr are logged (`logs`); the directory absolute.
    pub(crate) logs: Option<crate::logs::LogConfig>,
    /// What [`Container::stop`] sends first.
    pub(crate) stop_signal: crate::signal::Signal,
    /// Values kept alive with the containers (`ContainerBuilder::keep_alive`).
    pub(crate) keep_alive: crate::keep_alive::KeepAlive,
    /// Hooks run once a payload executed (`ContainerBuilder::on_spawn`).
    pub(crate) on_spawn: crate::on_spawn::OnSpawn,
    /// Pre-made user and network namespaces (`ContainerBuilder::namespace_pool`).
    pub(crate) namespace_pool: Option<crate::NamespacePool>,
    /// Pre-made cgroups (`ContainerBuilder::cgroup_pool`).
    pub(crate) cgroup_pool: Option<crate::CgroupPool>,
    /// The start gate and created hooks (`ContainerBuilder::start_gate`, `on_created`).
    pub(crate) start: crate::start_gate::StartControl,
    /// Process attributes and namespace settings: oom_score_adj, umask, sysctls, domainname,
    /// joined namespaces (`process_attrs`); `namespaces` no longer has the joined types.
    pub(crate) process: crate::process_attrs::ProcessAttributes,
    // Mounts (issue 16): the masked and read-only paths; `None`: nsbox's lists.
    pub(crate) masked_paths: Option<Vec<PathBuf>>,
    pub(crate) read_only_paths: Option<Vec<PathBuf>>,
    pub(crate) receive_host_mounts: bool,
    pub(crate) writable_sys: bool,
    // NUMA memory policy (issue 16, `crate::numa`).
    pub(crate) memory_policy: Option<crate::numa::MemoryPolicy>,
    // Warm pools (issue 17): the socket a pooled container's launcher waits on for its
    // payload (see `crate::pool`); set by the pool on its own copy, never by a builder.
    pub(crate) pool_gate: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    // Exec capability grants (issue 16, `ExecBuilder::cap_grant`).
    /// An exec's: the container's capabilities, which bound those its seccomp filter is
    /// compiled for (a granted capability widens no filter); `None` for a container.
    pub(crate) seccomp_capabilities: Option<Capabilities>,
    // Network devices (issue 16, `ContainerBuilder::move_network_device`).
    pub(crate) net_devices: Vec<crate::net::NetDevice>,
}

impl Config {
    /// The namespaces the container is created in (the NET bit as the network made it).
    pub fn namespaces(&self) -> Namespaces {
        self.namespaces
    }

    /// The rootfs, when the container has its own mount namespace.
    pub fn rootfs(&self) -> Option<&Rootfs> {
        self.namespaces.contains(Namespaces::MOUNT).then_some(&self.rootfs)
    }

    /// The mounts the caller added, in order, with their targets normalised.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// The program the container executes.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// The program's arguments (without the program itself).
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// Whether the container's root filesystem is mounted read-only.
    pub fn is_read_only_root(&self) -> bool {
        self.read_only_root
    }

    /// The user namespace's uid map, as the parent writes it; empty without a user namespace
    /// and with a joined one (its maps are its own: [`user_namespace_maps`](crate::user_namespace_maps)).
    pub fn uid_map(&self) -> &[IdMap] {
        &self.uid_map
    }

    /// The user namespace's gid map, as the parent writes it; empty without a user namespace.
    pub fn gid_map(&self) -> &[IdMap] {
        &self.gid_map
    }

    /// The signal [`Container::stop`] sends first
    /// ([`stop_signal`](crate::ContainerBuilder::stop_signal); SIGTERM by default).
    pub fn stop_signal(&self) -> crate::signal::Signal {
        self.stop_signal
    }

    /// Whether the container outlives its handle
    /// ([`detach`](crate::ContainerBuilder::detach)).
    pub fn is_detached(&self) -> bool {
        self.detach
    }

    /// The container's network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Whether the container gets a cgroup: for limits, or because one was asked for.
    pub(crate) fn wants_cgroup(&self) -> bool {
        self.cgroup || self.cgroup_parent.is_some() || self.cgroup_path.is_some() || !self.resources.is_empty()
    }

    /// Whether the container's processes run in a user namespace: a new one, or one joined
    /// by path (`join_namespace`, issue 16), whose maps are its own (`uid_map` is then empty).
    pub(crate) fn in_user_namespace(&self) -> bool {
        self.namespaces.contains(Namespaces::USER) || self.process.joined(Namespaces::USER).is_some()
    }

    /// Whether a PID 1 init runs in front of the payload.
    pub(crate) fn has_init(&self) -> bool {
        self.init && self.namespaces.contains(Namespaces::PID)
    }

    /// Where the container's stdout and stderr are logged, if they are
    /// ([`logs`](crate::ContainerBuilder::logs)).
    pub fn logs(&self) -> Option<&crate::logs::LogConfig> {
        self.logs.as_ref()
    }

    /// Starts a container from this configuration.
    pub fn spawn(&self) -> Result<Container> {
        match &self.logs {
            Some(logs) => crate::logs::spawn(self, logs),
            None => crate::spawn::spawn(self),
        }
    }

    /// Starts a container, waits for it and collects its output: stdin is null and stdout and
    /// stderr are captured unless they were set. With [`logs`](crate::ContainerBuilder::logs)
    /// the output goes to the log files, and the [`Output`]'s stdout and stderr are empty.
    pub fn output(&self) -> Result<Output> {
        let mut config = self.clone();
        config.stdin.get_or_insert_with(Stdio::null);
        if config.logs.is_none() {
            config.stdout.get_or_insert_with(Stdio::piped);
            config.stderr.get_or_insert_with(Stdio::piped);
        }
        config.spawn()?.wait_with_output()
    }
}
