//! # nsbox: Linux containers as easily as `std::process::Command`
//!
//! nsbox starts a process in new Linux namespaces, on its own root filesystem, from any
//! (multi-threaded) Rust program: no daemon, no image registry, no shell-out to runc.
//!
//! ```no_run
//! use nsbox::{Container, Namespaces, Mount, Rootfs, Stdio};
//!
//! let out = Container::builder()
//!     .namespaces(Namespaces::all())            // mnt, uts, ipc, pid, net, user, cgroup, time
//!     .rootfs(Rootfs::host())                   // the default: host root, read-only
//!     .hostname("box")
//!     .mount(Mount::bind("/srv/data", "/data").read_only())
//!     .mount(Mount::tmpfs("/scratch").size(64 << 20))
//!     .env("KEY", "value")
//!     .current_dir("/")
//!     .command("/bin/sh")
//!     .args(["-c", "echo hi; hostname; echo $$"])
//!     .stdout(Stdio::piped())
//!     .output()?;
//! assert!(out.status.success());
//! // The payload is PID 2: a minimal init is PID 1 (`.init(false)` makes the payload PID 1).
//! assert_eq!(out.stdout, b"hi\nbox\n2\n");
//! # Ok::<(), nsbox::Error>(())
//! ```
//!
//! ## Where nsbox differs from `std::process::Command`
//!
//! - **Setup errors are typed.** [`spawn`](ContainerBuilder::spawn) returns only after the
//!   payload's `execve` succeeded, or with a [`SetupError`] naming the step, the path and the
//!   errno. A payload that runs and fails is an [`ExitStatus`], never an error.
//! - **A container lives as long as its handle and its process.** Dropping a [`Container`]
//!   kills and reaps it, unless built with [`detach`](ContainerBuilder::detach); when the
//!   process that spawned it dies, even by SIGKILL, it dies too (its init watches a pipe only
//!   that process holds). Unlike `PR_SET_PDEATHSIG`, the spawning *thread* does not matter:
//!   spawn from a thread pool, `spawn_blocking` or a `OnceLock` fixture. Without an init
//!   (`init(false)`, no PID namespace) the container still follows the spawning thread.
//! - **`exec` joins, it never widens unless told.** [`Container::exec`] runs another command in
//!   a running container, `docker exec`'s way, with exactly the payload's confinement: its
//!   namespaces and cgroup, its user (or a narrower one), capabilities, no_new_privs, seccomp
//!   filter and Landlock rules. Only [`ExecBuilder::cap_grant`] gives it a capability the
//!   container lacks (runc's `exec --cap`), under the same filter. The process dies with the
//!   container and with its [`Exec`] handle.
//! - **No PATH surprises.** A bare command name is looked up in the container's `PATH`,
//!   inside the container, never in the caller's.
//! - **Defaults isolate.** Every namespace, the host root read-only, fresh `/proc`, `/dev`,
//!   `/sys`, `/tmp` and `/run`, a PID 1 init, `no_new_privs`. The environment is inherited,
//!   as with `Command`; [`env_clear`](ContainerBuilder::env_clear) starts empty.
//!
//! ## Fixtures: logs and readiness
//!
//! [`logs`](ContainerBuilder::logs) writes stdout and stderr to files in Docker's json-file
//! shape, rotated by size, read back with [`Container::logs`] or [`logs::LogReader`] (follow,
//! since, tail), also after the handle is gone. [`Container::wait_for`] waits until a port
//! accepts connections, a line of output matches or a command inside succeeds ([`Ready`]),
//! failing with a [`ReadyError`] that says what it saw last. See `docs/logs.md` and
//! `examples/fixture.rs`.
//!
//! ## Warm pools
//!
//! A [`Pool`] keeps containers of one template set up ahead of time, up to just before their
//! payload's `execve`, and hands one out per run with its own command, environment, working
//! directory, stdio and tighter limits ([`PoolRun`]): a spawn from a pool is little more than
//! that `execve`. Each container serves one run; an empty pool starts cold and says so
//! ([`SpawnTimings::start`]). See `docs/pool.md`.
//!
//! ## Only std's types and nsbox's own
//!
//! Every public signature, field and trait impl uses types of `std` or of nsbox itself, never
//! those of the crates nsbox uses inside (nix, caps, libc), so upgrading them is never a
//! breaking change for a caller. The kernel's values have nsbox types of their own:
//! [`Signal`], [`Errno`], [`Resource`] (rlimits), [`Capability`] and [`Namespaces`]. Each
//! converts to and from the raw number the kernel and `libc` use (`as_raw`/`raw`/`bits` and
//! `TryFrom`), which is also the way to and from nix's types; the first four also parse and
//! print the C names (`"SIGTERM"`/`"TERM"`, `"RLIMIT_NOFILE"`/`"nofile"`,
//! `"CAP_NET_ADMIN"`/`"net_admin"`, `"ENOENT"`), refusing unknown ones with
//! [`UnknownValueError`].
//!
//! ```
//! use nsbox::{Errno, Resource, Signal};
//! let signal: Signal = "TERM".parse().unwrap();
//! assert_eq!(signal.as_raw(), 15);
//! assert_eq!(Resource::RLIMIT_NOFILE, "nofile".parse().unwrap());
//! assert_eq!(Errno::from(std::io::Error::from_raw_os_error(2)), Errno::ENOENT);
//! ```
//!
//! ## How it works
//!
//! The parent turns the configuration into a plan of small steps over data it prepared; the
//! child runs them with raw syscalls (no allocation, no locks) and reports a failure as
//! `(step, errno)` through a close-on-exec pipe. See `docs/architecture.md`.
//!
//! ## Cargo features
//!
//! - `serde`: [`Config`] implements `Serialize` and `Deserialize`; deserializing runs the
//!   checks of [`build`](ContainerBuilder::build) (see [`Config`] for what is serialized).
//! - `tokio`: `Container::wait_async`, `wait_timeout_async`, `stop_async`,
//!   `wait_with_output_async`, `ContainerBuilder::output_async` and stdio handles as tokio
//!   pipes (`into_async`); tokio is then a public dependency of that part of the API.
//! - `trace-timing`: per-phase spawn timings in [`Container::setup_timings`].
//! - `fork-spawn`: never run the setup process on the caller's memory (for testing the fork
//!   path; see `docs/architecture.md`).
//!
//! Requires Linux 5.12 or later for mounts (open_tree, move_mount, mount_setattr); clone3 and
//! openat2 are used where present, with fallbacks (see [`preflight`]).

#![warn(missing_docs)]

mod adopt;
#[cfg(feature = "tokio")]
mod async_io;
pub mod bounds;
mod builder;
mod capture;
mod cgroup;
mod cgroup_pool;
mod child;
mod config;
mod container;
mod devices;
mod errno;
mod error;
mod exec;
mod fd_message;
mod hint;
mod idmap;
mod keep_alive;
mod kernel;
pub mod logs;
mod mount;
mod mount_idmap;
mod mount_options;
mod mount_paths;
mod namespace_pool;
mod namespaces;
mod net;
mod null_device;
mod on_spawn;
mod overlay_support;
mod pid1;
mod plan;
pub use cgroup_pool::{CgroupPool, CgroupPoolStats};
pub use namespace_pool::{NamespacePool, NamespacePoolStats};
mod pool;
pub use pool::{Pool, PoolError, PoolRun, PoolStats};
mod preflight;
mod process_attrs;
mod pty;
mod ready;
mod rlimit;
mod rootfs;
mod scheduling;
mod security;
mod setting;
mod shared_memory;
mod signal;
mod spawn;
mod stack;
mod start_gate;
mod stock;
// Exec flags and process settings (issue 16).
mod exec_cgroup;
mod exec_flags;
mod numa;
pub use numa::{MemoryPolicy, MemoryPolicyMode};
mod preserve_fds;
mod process_hook;
pub use process_hook::ProcessHook;
mod status;
mod stdio;
mod sys;
mod time_offsets;
mod timing;
mod unknown_value;
mod userns_maps;

pub use builder::ContainerBuilder;
pub use cgroup::{CgroupError, CgroupMode, Controller, IoDeviceLimit, IoLimitKind, Stats};
pub use cgroup::{CgroupHandle, CgroupUpdate, DeviceAccess, DeviceRule, DeviceType};
pub use cgroup::{IoDeviceWeight, RdmaLimit};
pub use config::Config;
#[cfg(feature = "serde")]
pub use config::UncheckedConfig;
pub use container::Container;
pub use devices::DeviceNode;
pub use error::{
    CleanupAction, CleanupError, ConfigError, Errno, Error, NotReadyReason, ReadyError, Result, SetupError, SetupStep,
};
pub use exec::{DetachedExec, Exec, ExecBuilder};
pub use hint::{Hint, InterpreterKind};
pub use idmap::IdMap;
pub use mount::{Atime, Mount, Propagation};
pub use namespaces::Namespaces;
pub use net::{NetnsRef, Network, Port, Protocol, PublishedPort};
pub use overlay_support::OverlaySupport;
pub use preflight::{ControllerSupport, Preflight, SubordinateIds, Syscalls, UserNamespaces, preflight};
pub use process_attrs::{JOINABLE_NAMESPACES, OOM_SCORE_ADJ_RANGE};
pub use pty::Pty;
pub use ready::Ready;
pub use rlimit::Resource;
pub use rootfs::{Rootfs, Upper};
pub use scheduling::{IoClass, Personality, SchedPolicy, Scheduler};
pub use security::{Capabilities, Capability, Landlock, Profile, Seccomp};
pub use security::{SeccompAction, SeccompArch, SeccompCondition, SeccompRule, SeccompRules};
pub use setting::Setting;
pub use signal::Signal;
pub use status::{ExitStatus, Output};
pub use stdio::{ChildStderr, ChildStdin, ChildStdout, Stdio};
pub use time_offsets::ClockOffset;
pub use timing::SpawnTimings;
pub use timing::StartKind;
pub use unknown_value::UnknownValueError;
pub use userns_maps::user_namespace_maps;

/// The README's Rust examples, run by `cargo test` as doctests so that they keep compiling and
/// working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// docs/logs.md's examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/logs.md")]
pub struct LogsDocDoctests;

/// Entry points for the fuzz targets in `fuzz/`: the parsers of outside input. Not a stable API.
#[doc(hidden)]
pub mod __fuzz {
    /// Parses `/proc/self/mountinfo` and `/proc/self/cgroup` texts into a cgroup layout, and
    /// maps every hierarchy's own cgroup to a directory.
    pub fn cgroup_layout(mountinfo: &str, proc_cgroup: &str) {
        let layout = crate::cgroup::Layout::parse(mountinfo, proc_cgroup);
        let _ = layout.mode();
        for h in &layout.v1 {
            let _ = crate::cgroup::dir_of(&h.mountpoint, &h.root, &h.own);
        }
    }

    /// Parses the flat-keyed and I/O statistics files of both cgroup versions.
    pub fn cgroup_stats(text: &str) {
        let _ = crate::cgroup::stats::keyed(text, "oom_kill");
        let _ = crate::cgroup::stats::v1_io(text);
        let _ = crate::cgroup::stats::v2_io(text);
    }

    /// Parses an /etc/subuid-style text.
    pub fn subordinate_ids(text: &str) {
        let _ = crate::idmap::parse_subordinate(text, "root", 0);
    }

    /// Normalises a container path and splits it as the child will walk it.
    pub fn container_path(path: &[u8]) {
        use std::os::unix::ffi::OsStrExt;
        let path = std::path::Path::new(std::ffi::OsStr::from_bytes(path));
        if let Ok(normal) = crate::config::container_path(crate::Setting::MountTarget, path) {
            assert!(normal.is_absolute());
            assert!(
                !normal
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            );
        }
    }
}
