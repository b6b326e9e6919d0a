//! The chainable builder that configures a container, shaped like [`std::process::Command`].

use std::ffi::OsStr;
use std::path::Path;

use crate::bounds::Bounds;
use crate::config::{Config, Settings};
use crate::container::{Container, Output};
use crate::error::Result;
use crate::idmap::IdMap;
use crate::mount::Mount;
use crate::namespaces::Namespaces;
use crate::net::{Network, Port};
use crate::rlimit::Resource;
use crate::rootfs::Rootfs;
use crate::security::{Capabilities, Capability, Profile, Seccomp};
use crate::stdio::Stdio;

/// Configures and starts containers. Made by [`Container::builder`].
///
/// Methods take `&mut self` and return it, so a builder can be chained in one expression or
/// filled in step by step, and spawned more than once.
///
/// ```no_run
/// use nsbox::{Container, Namespaces, Mount, Stdio};
/// let out = Container::builder()
///     .namespaces(Namespaces::all())
///     .hostname("box")
///     .mount(Mount::tmpfs("/scratch").size(64 << 20))
///     .command("/bin/sh")
///     .args(["-c", "hostname"])
///     .output()?;
/// assert_eq!(out.stdout, b"box\n");
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ContainerBuilder {
    pub(crate) settings: Settings,
}

impl ContainerBuilder {
    /// A builder with the defaults: every namespace, the host root read-only, the caller's
    /// environment, `/` as working directory, inherited stdio, a PID 1 init, no_new_privs, a
    /// new session.
    pub fn new() -> Self {
        Self::default()
    }

    /// The namespaces to create (default: [`Namespaces::all`]).
    pub fn namespaces(&mut self, namespaces: Namespaces) -> &mut Self {
        self.settings.namespaces = namespaces;
        self
    }

    /// The root filesystem (default: [`Rootfs::host`]); needs [`Namespaces::MOUNT`].
    pub fn rootfs(&mut self, rootfs: Rootfs) -> &mut Self {
        self.settings.rootfs = Some(rootfs);
        self
    }

    /// Host paths the container does not see on the host root ([`Rootfs::host`]); replaces the
    /// list (default: none; [`Profile::Sandbox`]: [`Rootfs::SANDBOX_HIDDEN`]).
    ///
    /// A directory is covered by an empty read-only tmpfs, or left out of the layout when it
    /// is a top-level entry and the host root is built entry by entry; a file or socket by the
    /// null device; a symlink hides its target. What lies under the cover stays reachable to
    /// a payload that can unmount (`CAP_SYS_ADMIN`), so hiding is for payloads without it. The
    /// caller's own mounts under a hidden path (a bind to `/home/u/project`) are made and
    /// visible. Ignored with [`Rootfs::dir`].
    ///
    /// ```no_run
    /// # use nsbox::Container;
    /// Container::builder().hide_host_paths(["/var/tmp", "/home"]).command("/bin/true").status()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn hide_host_paths<I, P>(&mut self, paths: I) -> &mut Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.settings.hidden_host_paths = paths.into_iter().map(|p| p.as_ref().to_path_buf()).collect();
        self
    }

    /// Whether the root filesystem is mounted read-only (default: true). The host root is
    /// always read-only, so `false` is refused with [`Rootfs::host`].
    pub fn read_only_root(&mut self, read_only: bool) -> &mut Self {
        self.settings.read_only_root = Some(read_only);
        self
    }

    /// The hostname inside the container (default: the container id); needs [`Namespaces::UTS`].
    pub fn hostname(&mut self, name: impl AsRef<OsStr>) -> &mut Self {
        self.settings.hostname = Some(name.as_ref().to_os_string());
        self
    }

    /// Adds a mount; mounts are made in the order they are added, after the default ones.
    pub fn mount(&mut self, mount: Mount) -> &mut Self {
        self.settings.mounts.push(mount);
        self
    }

    /// Sets an environment variable for the payload.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.settings
            .env
            .push((key.as_ref().to_os_string(), Some(value.as_ref().to_os_string())));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes an environment variable (inherited or set earlier).
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.settings.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// Starts from an empty environment instead of the caller's.
    pub fn env_clear(&mut self) -> &mut Self {
        self.settings.env_clear = true;
        self.settings.env.clear();
        self
    }

    /// The working directory inside the container (default `/`).
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Self {
        self.settings.cwd = dir.as_ref().to_path_buf();
        self
    }

    /// The program to execute. A name without `/` is looked up in the container's `PATH`
    /// (the payload's environment, else a standard default), inside the container.
    pub fn command(&mut self, program: impl AsRef<OsStr>) -> &mut Self {
        self.settings.program = Some(program.as_ref().to_os_string());
        self
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.settings.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for a in args {
            self.arg(a);
        }
        self
    }

    /// The payload's stdin (default: inherited; [`output`](Self::output) uses null).
    pub fn stdin(&mut self, stdio: impl Into<Stdio>) -> &mut Self {
        self.settings.stdin = Some(stdio.into());
        self
    }

    /// The payload's stdout (default: inherited; [`output`](Self::output) captures it).
    pub fn stdout(&mut self, stdio: impl Into<Stdio>) -> &mut Self {
        self.settings.stdout = Some(stdio.into());
        self
    }

    /// The payload's stderr (default: inherited; [`output`](Self::output) captures it).
    pub fn stderr(&mut self, stdio: impl Into<Stdio>) -> &mut Self {
        self.settings.stderr = Some(stdio.into());
        self
    }

    /// The uid and gid the payload runs as, inside the container (default 0, 0).
    pub fn user(&mut self, uid: u32, gid: u32) -> &mut Self {
        self.settings.user = Some((uid, gid));
        self
    }

    /// Supplementary groups of the payload (needs [`user`](Self::user)).
    pub fn groups(&mut self, groups: impl IntoIterator<Item = u32>) -> &mut Self {
        self.settings.groups = groups.into_iter().collect();
        self
    }

    /// Overrides the uid map of the user namespace. Default for a root caller: its /etc/subuid
    /// range, else 65536 ids mapped to themselves; with [`Profile::Sandbox`], its range, else
    /// container root alone mapped to a host id nothing on the host uses (0x70000000 or the
    /// next free one). Others: container root is the caller.
    pub fn uid_map(&mut self, maps: impl IntoIterator<Item = IdMap>) -> &mut Self {
        self.settings.uid_map = Some(maps.into_iter().collect());
        self
    }

    /// Overrides the gid map of the user namespace.
    pub fn gid_map(&mut self, maps: impl IntoIterator<Item = IdMap>) -> &mut Self {
        self.settings.gid_map = Some(maps.into_iter().collect());
        self
    }

    /// With a PID namespace, whether a minimal init runs as PID 1, reaping orphans and
    /// forwarding signals to the payload (default: true). With `false` the payload is PID 1.
    pub fn init(&mut self, init: bool) -> &mut Self {
        self.settings.init = init;
        self
    }

    /// The signal [`Container::stop`] sends first, before SIGKILL at the timeout (Docker's
    /// `StopSignal`, an image's `STOPSIGNAL`). Default: SIGTERM.
    pub fn stop_signal(&mut self, signal: crate::signal::Signal) -> &mut Self {
        self.settings.stop_signal = Some(signal);
        self
    }

    /// Keeps `value` alive as long as anything may still start or still runs a container on
    /// it: this builder, every [`Config`](crate::Config) it builds, and every container spawned
    /// from them until it is reaped (its first wait that sees it exit, or the handle's drop,
    /// which kills and reaps it). For a guard whose drop frees what the container uses: an image
    /// store's lease on the layers of its overlay root, say. With a PID namespace nothing of the
    /// container runs once it is reaped; a [`detach`](Self::detach)ed container's handle lets
    /// go of its values when dropped, while the container runs on. Not serialized: a `Config`
    /// deserialized (feature `serde`) keeps nothing alive. Values add up.
    ///
    /// ```
    /// struct Lease;
    /// let config = nsbox::Container::builder().command("/bin/true").keep_alive(Lease).build()?;
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn keep_alive(&mut self, value: impl std::any::Any + Send + Sync) -> &mut Self {
        self.settings.keep_alive.push(std::sync::Arc::new(value));
        self
    }

    /// Runs `hook` for every container spawned from this builder (or a [`Config`](crate::Config)
    /// it builds) once its payload executed, before [`spawn`](Self::spawn) returns: to record
    /// which process holds what the container uses, say (an image store's lease on a
    /// [`detach`](Self::detach)ed container's layers, which must outlive the handle). A hook that
    /// fails kills and reaps the container, and `spawn` returns its error. Hooks run in the
    /// order they were added; not serialized.
    ///
    /// ```
    /// let mut builder = nsbox::Container::builder();
    /// builder.command("/bin/true").on_spawn(|container| {
    ///     println!("{} runs as pid {}", container.id(), container.pid());
    ///     Ok(())
    /// });
    /// ```
    pub fn on_spawn(
        &mut self,
        hook: impl Fn(&crate::Container) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> &mut Self {
        self.settings.on_spawn.push(std::sync::Arc::new(hook));
        self
    }

    /// Spawns are born in user and network namespaces made ahead of time by `pool` where it
    /// has a pair ready and this builder's configuration matches it (see [`NamespacePool`]);
    /// otherwise they make their own, as without. Not serialized.
    ///
    /// [`NamespacePool`]: crate::NamespacePool
    pub fn namespace_pool(&mut self, pool: &crate::NamespacePool) -> &mut Self {
        self.settings.namespace_pool = Some(pool.clone());
        self
    }

    /// Spawns take a cgroup made ahead of time by `pool` where it has one ready and this
    /// builder's cgroup settings match it (see [`CgroupPool`]); otherwise they make their
    /// own, as without. A container with its own PID namespace then gives its cgroup back to
    /// the pool for removal when reaped: its `wait` does not wait for the removal, nor report
    /// a failure of it (the pool's stats count those). Not serialized.
    ///
    /// [`CgroupPool`]: crate::CgroupPool
    pub fn cgroup_pool(&mut self, pool: &crate::CgroupPool) -> &mut Self {
        self.settings.cgroup_pool = Some(pool.clone());
        self
    }

    /// Lets the container outlive its handle: dropping the [`Container`] neither kills it nor
    /// waits for it, and the container survives the caller's exit.
    pub fn detach(&mut self) -> &mut Self {
        self.settings.detach = true;
        self
    }

    /// Lets the payload gain privileges through setuid binaries and file capabilities, by not
    /// setting `PR_SET_NO_NEW_PRIVS`. Unsafe in the sense of weaker isolation, not memory.
    pub fn unsafe_allow_new_privileges(&mut self) -> &mut Self {
        self.settings.no_new_privileges = false;
        self
    }

    /// Checks the configuration and returns it, ready to spawn, with every default resolved
    /// (see [`Config`]). The builder is left as it was: it can be changed and built again.
    ///
    /// A builder without a [`command`](Self::command) is refused:
    ///
    /// ```
    /// use nsbox::{ConfigError, Container, Error, Setting};
    /// let err = Container::builder().build().unwrap_err();
    /// assert!(matches!(err, Error::Config(ConfigError::Missing { setting: Setting::Command })));
    /// ```
    pub fn build(&self) -> Result<Config> {
        Ok(crate::config::validate(self.settings.clone())?)
    }

    /// Starts the container; returns once the payload's `execve` succeeded, or the step that
    /// failed.
    pub fn spawn(&mut self) -> Result<Container> {
        self.build()?.spawn()
    }

    /// Starts the container, waits for it and collects stdout and stderr (stdin is null unless
    /// set).
    pub fn output(&mut self) -> Result<Output> {
        self.build()?.output()
    }

    /// Starts the container and waits for it.
    pub fn status(&mut self) -> Result<crate::ExitStatus> {
        self.spawn()?.wait_and_forget_stats()
    }
}

/// Resource limits and the cgroup.
impl ContainerBuilder {
    /// Hard memory limit in bytes; past it the kernel OOM-kills inside the container only, and
    /// [`ExitStatus::oom_killed`](crate::ExitStatus::oom_killed) says so. `build()` refuses less
    /// than 6 MiB (Docker's floor, [`ConfigError::OutOfRange`](crate::ConfigError::OutOfRange))
    /// and more than this host's installed memory
    /// ([`ConfigError::ExceedsHost`](crate::ConfigError::ExceedsHost), `u64::MAX` included).
    pub fn memory_limit(&mut self, bytes: u64) -> &mut Self {
        self.settings.resources.memory = Some(bytes);
        self
    }

    /// Swap the container may use beyond its memory limit, in bytes (0: none). Needs a
    /// [`memory_limit`](Self::memory_limit); memory and swap together may not exceed this host's
    /// installed memory and swap ([`ConfigError::ExceedsHost`](crate::ConfigError::ExceedsHost)).
    pub fn memory_swap_limit(&mut self, bytes: u64) -> &mut Self {
        self.settings.resources.swap = Some(bytes);
        self
    }

    /// CPU bandwidth in CPUs (0.5 is half of one CPU), enforced per 100 ms period (or per
    /// [`cpu_period`](Self::cpu_period)). `build()` refuses a NaN or less than 0.01
    /// ([`ConfigError::OutOfRange`](crate::ConfigError::OutOfRange)) and more than the online
    /// CPUs, infinity included
    /// ([`ConfigError::ExceedsHost`](crate::ConfigError::ExceedsHost)).
    pub fn cpu_limit(&mut self, cpus: f64) -> &mut Self {
        self.settings.resources.cpus = Some(cpus);
        self
    }

    /// Relative CPU weight under contention, 1..=10000 (default 100).
    pub fn cpu_weight(&mut self, weight: u64) -> &mut Self {
        self.settings.resources.cpu_weight = Some(weight);
        self
    }

    /// The CPUs the container may run on, as a list like `"0-3,5"`. `build()` refuses a list
    /// that does not parse ([`ConfigError::Malformed`](crate::ConfigError::Malformed)) and one
    /// naming a CPU that is not online ([`ConfigError::NotOnline`](crate::ConfigError::NotOnline)).
    pub fn cpuset_cpus(&mut self, cpus: impl Into<String>) -> &mut Self {
        self.settings.resources.cpuset_cpus = Some(cpus.into());
        self
    }

    /// The memory nodes the container may allocate from, as a list like `"0"`; checked like
    /// [`cpuset_cpus`](Self::cpuset_cpus), against the online nodes (node 0 alone on a kernel
    /// without NUMA).
    pub fn cpuset_mems(&mut self, mems: impl Into<String>) -> &mut Self {
        self.settings.resources.cpuset_mems = Some(mems.into());
        self
    }

    /// The most processes (and threads) the payload may have at once: `pids_limit(1)` lets it
    /// run and fork nothing. nsbox's own processes in the container's cgroup are not counted:
    /// `pids.max` is `max` plus one for nsbox-init (with a PID namespace and
    /// [`init(true)`](Self::init), the default) and one for nsbox-connect (with published
    /// ports). A [`Container::exec`](crate::Container::exec) does count, with its own
    /// nsbox-init: two per running exec. `build()` refuses 0, and a value the kernel's
    /// `PID_MAX_LIMIT` (4194304) cannot take with nsbox's own added. See docs/cgroups.md.
    pub fn pids_limit(&mut self, max: u64) -> &mut Self {
        self.settings.resources.pids = Some(max);
        self
    }

    /// Relative block I/O weight, 1..=10000 (default 100).
    pub fn io_weight(&mut self, weight: u64) -> &mut Self {
        self.settings.resources.io_weight = Some(weight);
        self
    }

    /// A per-device read/write bandwidth or IOPS limit.
    pub fn io_device_limit(&mut self, limit: crate::IoDeviceLimit) -> &mut Self {
        self.settings.resources.io_devices.push(limit);
        self
    }

    /// Gives the container a cgroup even without limits, for [`Container::stats`] and
    /// [`Container::pause`]. Limits imply it; without either a container has no cgroup.
    pub fn cgroup(&mut self) -> &mut Self {
        self.settings.cgroup = true;
        self
    }

    /// Where the container's cgroup is created in every hierarchy: an absolute cgroup path, or
    /// one relative to the caller's own cgroup (the default parent). Missing parents are
    /// created and left in place.
    pub fn cgroup_parent(&mut self, path: impl AsRef<Path>) -> &mut Self {
        self.settings.cgroup_parent = Some(path.as_ref().to_path_buf());
        self
    }
}

/// Bind sources and the bounds of what the container may use of the host (see
/// [`crate::bounds`] for each profile's values).
impl ContainerBuilder {
    /// Whether binds open their source without following symlinks (Fixture: false, Sandbox:
    /// true): a symlink in any component of the source fails the spawn at step
    /// [`BindMount`](crate::SetupStep::BindMount) with ELOOP, see [`Mount::no_follow`]. It
    /// applies to every bind without its own [`Mount::no_follow`] or
    /// [`Mount::follow_symlinks`], whether added before or after this call, when the container
    /// is spawned; a later [`profile`](Self::profile) call sets it again.
    pub fn bind_no_follow(&mut self, no_follow: bool) -> &mut Self {
        self.settings.bind_no_follow = no_follow;
        self
    }

    /// The size of the fresh tmpfs at `/tmp` of a host-root container, in bytes; `None`: the
    /// kernel's default (half of RAM). Fixture: `None`; Sandbox:
    /// [`SANDBOX_TMP_SIZE`](crate::bounds::SANDBOX_TMP_SIZE).
    pub fn tmp_size(&mut self, bytes: impl Into<Option<u64>>) -> &mut Self {
        self.settings.bounds.tmp_size = bytes.into();
        self
    }

    /// The size of the fresh tmpfs at `/run` of a host-root container, in bytes; `None`: the
    /// kernel's default. Fixture: `None`; Sandbox:
    /// [`SANDBOX_RUN_SIZE`](crate::bounds::SANDBOX_RUN_SIZE).
    pub fn run_size(&mut self, bytes: impl Into<Option<u64>>) -> &mut Self {
        self.settings.bounds.run_size = bytes.into();
        self
    }

    /// The size of `/dev/shm`, in bytes; `None`: the kernel's default. Both profiles:
    /// [`SHM_SIZE`](crate::bounds::SHM_SIZE).
    pub fn shm_size(&mut self, bytes: impl Into<Option<u64>>) -> &mut Self {
        self.settings.bounds.shm_size = bytes.into();
        self
    }

    /// The most bytes of stdout, and of stderr, that [`output`](Self::output) and
    /// [`Container::wait_with_output`] keep; `None`: all of it. Past the limit the rest is
    /// read and discarded, so the payload never blocks on a full pipe, and
    /// [`Output::stdout_truncated`] (or `stderr_truncated`) is set. Fixture: `None` (a payload
    /// can make the caller buffer as much as it writes); Sandbox:
    /// [`SANDBOX_OUTPUT_LIMIT`](crate::bounds::SANDBOX_OUTPUT_LIMIT).
    pub fn output_limit(&mut self, bytes: impl Into<Option<u64>>) -> &mut Self {
        self.settings.bounds.output_limit = bytes.into();
        self
    }

    /// A pids limit applied only where the host has a usable pids controller (a v1 `pids`
    /// hierarchy or cgroup2 with `pids`, and a cgroup this process may create under), and
    /// only if [`pids_limit`](Self::pids_limit) is not set; elsewhere the container runs
    /// without one, and without a cgroup unless something else asks for it.
    /// [`pids_limit`](Self::pids_limit), by contrast, fails the spawn where it cannot be
    /// enforced. Fixture: `None`; Sandbox:
    /// [`SANDBOX_PIDS_LIMIT`](crate::bounds::SANDBOX_PIDS_LIMIT). `None` turns it off (and
    /// with it the cgroup a Sandbox container otherwise gets).
    pub fn pids_limit_where_available(&mut self, max: impl Into<Option<u64>>) -> &mut Self {
        self.settings.bounds.pids_where_available = max.into();
        self
    }
}

/// Networking.
impl ContainerBuilder {
    /// The container's network (default: its own namespace with loopback only, when
    /// [`Namespaces::NET`] is in the set). Changes the NET bit of the namespaces to match.
    pub fn network(&mut self, network: Network) -> &mut Self {
        self.settings.network = Some(network);
        self
    }

    /// Publishes a container port on the host; see [`Container::ports`] for the result.
    pub fn publish(&mut self, port: Port) -> &mut Self {
        self.settings.ports.push(port);
        self
    }
}

/// Security: capabilities, seccomp, rlimits, profiles.
impl ContainerBuilder {
    /// Applies a [`Profile`]'s settings; later calls override single ones.
    ///
    /// Besides its security settings, a profile sets [`bind_no_follow`](Self::bind_no_follow)
    /// and the resource bounds of [`crate::bounds`] ([`tmp_size`](Self::tmp_size),
    /// [`run_size`](Self::run_size), [`shm_size`](Self::shm_size),
    /// [`output_limit`](Self::output_limit),
    /// [`pids_limit_where_available`](Self::pids_limit_where_available)), overriding what
    /// earlier calls set for them. Mounts added before it are covered too: a bind's symlink
    /// policy is decided when the container is spawned.
    pub fn profile(&mut self, profile: Profile) -> &mut Self {
        let c = &mut self.settings;
        c.namespaces = Namespaces::all();
        c.no_new_privileges = true;
        c.refused_new_privileges = false;
        c.ambient = Capabilities::empty();
        // Bind sources and resource bounds: see bind_no_follow and crate::bounds.
        c.bind_no_follow = profile == Profile::Sandbox;
        c.bounds = Bounds::of(profile);
        c.new_session = true;
        match profile {
            Profile::Sandbox => {
                c.capabilities = Capabilities::empty();
                c.seccomp = Seccomp::sandbox();
                c.read_only_root = Some(true);
                c.env_clear = true;
                c.env.clear();
                c.rlimits = vec![(Resource::RLIMIT_CORE, 0, 0), (Resource::RLIMIT_NOFILE, 1024, 1024)];
                c.hidden_host_paths = Rootfs::SANDBOX_HIDDEN.iter().map(Into::into).collect();
                c.unprivileged_root = true;
            }
            Profile::Fixture => {
                c.hidden_host_paths.clear();
                c.unprivileged_root = false;
                c.capabilities = Capabilities::podman_default();
                c.seccomp = Seccomp::docker_default();
            }
        }
        self
    }

    /// The payload's capabilities (the bounding set; for a root payload also its permitted
    /// and effective sets). Default: Podman's 11 ([`Capabilities::podman_default`]).
    pub fn capabilities(&mut self, caps: impl IntoIterator<Item = Capability>) -> &mut Self {
        self.settings.capabilities = caps.into_iter().collect();
        self
    }

    /// Adds one capability.
    pub fn cap_add(&mut self, cap: Capability) -> &mut Self {
        self.settings.capabilities.insert(cap);
        self
    }

    /// Removes one capability (from the ambient set too).
    pub fn cap_drop(&mut self, cap: Capability) -> &mut Self {
        self.settings.capabilities.remove(cap);
        self.settings.ambient.remove(cap);
        self
    }

    /// Capabilities a non-root payload keeps across exec (the ambient set); each must also be
    /// in [`capabilities`](Self::capabilities). Empty unless asked for.
    pub fn ambient_capabilities(&mut self, caps: impl IntoIterator<Item = Capability>) -> &mut Self {
        self.settings.ambient = caps.into_iter().collect();
        self
    }

    /// The seccomp policy (default: [`Seccomp::docker_default`]).
    pub fn seccomp(&mut self, seccomp: Seccomp) -> &mut Self {
        self.settings.seccomp = seccomp;
        self
    }

    /// Sets a resource limit (`setrlimit`) for the payload. Raising a hard limit above the
    /// caller's needs CAP_SYS_RESOURCE on the host and no user namespace, and `RLIMIT_NOFILE`
    /// never goes above `fs.nr_open`: `build()` refuses what the container could not get
    /// ([`ConfigError::RlimitAboveHost`](crate::ConfigError::RlimitAboveHost)).
    pub fn rlimit(&mut self, resource: Resource, soft: u64, hard: u64) -> &mut Self {
        self.settings.rlimits.retain(|(r, _, _)| *r != resource);
        self.settings.rlimits.push((resource, soft, hard));
        self
    }

    /// Limits the files the payload may use with Landlock (Linux 5.13+; an error where the
    /// kernel has no Landlock).
    pub fn landlock(&mut self, landlock: crate::security::Landlock) -> &mut Self {
        self.settings.landlock = Some(landlock);
        self
    }

    /// Gives the payload a terminal: a pty of the container's own devpts as its stdin, stdout,
    /// stderr and controlling terminal (24 rows, 80 columns unless [`tty_size`](Self::tty_size)
    /// says otherwise), whose other side is the handle's [`take_pty`](Container::take_pty).
    /// The stdio settings are then ignored. Needs a mount namespace and a new session (the
    /// defaults). Input the payload pushes into it (TIOCSTI) is refused by every seccomp
    /// filter nsbox compiles, as for any terminal.
    ///
    /// ```no_run
    /// use std::io::{Read, Write};
    /// let mut c = nsbox::Container::builder().tty(true).command("/bin/sh").spawn()?;
    /// let mut pty = c.take_pty().unwrap();
    /// pty.write_all(b"tty; exit\n")?;
    /// let mut screen = Vec::new();
    /// let _ = pty.read_to_end(&mut screen); // EIO once the payload closed its side
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tty(&mut self, tty: bool) -> &mut Self {
        self.settings.tty = tty.then(|| self.settings.tty.unwrap_or(crate::pty::DEFAULT_SIZE));
        self
    }

    /// The terminal's size in rows and columns (see [`tty`](Self::tty), which it implies).
    pub fn tty_size(&mut self, rows: u16, cols: u16) -> &mut Self {
        self.settings.tty = Some((rows, cols));
        self
    }

    /// Starts the payload in a new session (`setsid`), without a controlling terminal
    /// (default: true, in every profile). A payload that keeps the caller's session can read
    /// and write its terminal as its own, get the terminal's signals (Ctrl-C, SIGHUP when it
    /// closes) and, where the kernel still allows TIOCSTI, type into the caller's shell: every
    /// seccomp filter refuses TIOCSTI, [`Seccomp::unconfined`] does not.
    ///
    /// `false` is the opt-out, for an interactive payload that needs the caller's terminal as
    /// its controlling one (job control, `/dev/tty`); it costs the isolation above.
    pub fn new_session(&mut self, new: bool) -> &mut Self {
        self.settings.new_session = new;
        self
    }

    /// Keeps `PR_SET_NO_NEW_PRIVS` on (the default). `false` is refused by
    /// [`build`](Self::build): turning it off is [`unsafe_allow_new_privileges`](Self::unsafe_allow_new_privileges).
    pub fn no_new_privileges(&mut self, on: bool) -> &mut Self {
        if on {
            self.settings.no_new_privileges = true;
        }
        self.settings.refused_new_privileges = !on;
        self
    }
}

/// Logs.
impl ContainerBuilder {
    /// Writes the payload's stdout and stderr to log files in Docker's json-file shape, with
    /// size-based rotation (see [`crate::logs`] and docs/logs.md): a thread of the caller's
    /// process drains both streams whether or not anyone reads the logs, so the payload never
    /// blocks on them. Read them with [`Container::logs`], or with
    /// [`LogReader::open`](crate::logs::LogReader::open) once the handle is gone (a detached
    /// container's writer runs on after its handle dropped, until the container's streams
    /// close). Takes the place of [`stdout`](Self::stdout) and [`stderr`](Self::stderr)
    /// (setting either as well is refused) and cannot be used with [`tty`](Self::tty). The log
    /// files of an earlier container in the same directory are removed at spawn; a directory
    /// another container is logging into is refused.
    ///
    /// ```no_run
    /// use nsbox::logs::LogConfig;
    /// let mut c = nsbox::Container::builder()
    ///     .logs(LogConfig::new("/tmp/web-logs").max_size(1 << 20).max_files(3))
    ///     .command("/bin/echo").arg("hello")
    ///     .spawn()?;
    /// c.wait()?;
    /// let first = c.logs()?.entries()?.next().unwrap()?;
    /// assert_eq!(first.bytes, b"hello\n");
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn logs(&mut self, logs: crate::logs::LogConfig) -> &mut Self {
        self.settings.logs = Some(logs);
        self
    }
}

// Here rather than in container.rs: the handle knows nothing of how it is built.
impl Container {
    /// A builder for a new container.
    pub fn builder() -> ContainerBuilder {
        ContainerBuilder::new()
    }
}
