//! Process and namespace settings an OCI bundle carries beyond the basics: the payload's
//! `oom_score_adj` and umask, namespaced sysctls, the NIS domain name, and namespaces joined
//! by path (issue 16). The builder methods are here, with `build()`'s checks for them; the
//! plan's steps are in `plan::process`, the child's in `child::process`.
//!
//! Where each is applied, and why there:
//!
//! - **oom_score_adj**: the setup process writes its own `/proc/self/oom_score_adj` before
//!   anything forks from it, so the init and the payload inherit it. The kernel copies a write
//!   to every process sharing the writer's memory (`__set_oom_adj`, mm/… `MMF_MULTIPROCESS`),
//!   so a setup process on the caller's memory (`crate::shared_memory`) would change the
//!   caller's score: a container with this setting always forks its setup process. Lowering
//!   below the current value needs `CAP_SYS_RESOURCE` (in the initial user namespace, so never
//!   from inside a new one); raising never does.
//! - **sysctls**: written by the setup process once it is in its new namespaces and has its
//!   container credentials, before the switch to the container's root, through the `/proc`
//!   it still sees. A file under `/proc/sys/net` or of an IPC or UTS sysctl is the value of
//!   the *opener's* namespace, whatever procfs instance it is in, so this writes the
//!   container's values; and that `/proc` is the caller's, not one the rootfs could provide.
//! - **umask**: the last thing before the credentials change, after the root is set up (a
//!   umask before would change the modes of the mount points nsbox creates).
//! - **domainname**: `setdomainname(2)` beside the hostname, in the new UTS namespace.
//! - **joined namespaces** (IPC, UTS, cgroup, time): `setns(2)` as the setup process's first
//!   step, so everything after happens inside them; the type is then not created. (A time
//!   namespace needs a single-threaded caller: a container joining one never runs its setup
//!   process on the caller's memory.) A join together with a new user namespace is refused
//!   (its setup process has no capability over a namespace owned outside it).
//! - **a joined PID namespace**: `setns(2)` applies only to the caller's *children*
//!   (`pid_ns_for_children`), so the spawning thread enters it around the clone, as for a
//!   joined network namespace (`spawn::pidns`): the setup process is born in it, and it is the
//!   payload (no init: the namespace has one). See docs/architecture.md, "Joined PID namespace".
//! - **a joined user namespace**: entered by a short-lived intermediate process that then
//!   clones the setup process, with the container's new namespaces, as the caller's child
//!   (`spawn::userns`): the namespaces the clone creates belong to the joined one, and the
//!   other joins (network, IPC, UTS, PID…) come after it. See docs/architecture.md, "Joined
//!   user namespace".
//! - **a mount namespace** stays refused: see [`JOINABLE_NAMESPACES`].

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::builder::ContainerBuilder;
use crate::error::{ConfigError, Setting};
use crate::namespaces::Namespaces;

/// The range `oom_score_adj` takes (`OOM_SCORE_ADJ_MIN..=OOM_SCORE_ADJ_MAX`).
pub const OOM_SCORE_ADJ_RANGE: std::ops::RangeInclusive<i32> = -1000..=1000;

/// The namespaces that can be joined by path ([`ContainerBuilder::join_namespace`]): user,
/// IPC, UTS, cgroup, PID and time; the network one is [`Network::join_path`](crate::Network::join_path).
///
/// A user namespace (`setns(CLONE_NEWUSER)` needs a single-threaded process that shares no
/// filesystem information) is entered by a short-lived intermediate process, which then
/// clones the setup process, so that the namespaces the container creates belong to the
/// joined one (see [`ContainerBuilder::join_namespace`]).
///
/// Not a mount namespace: nsbox builds the container's root in a fresh one, and in a joined
/// one its mounts and `pivot_root` would change a mount table other processes use (runc,
/// given one, sets the root up inside it anyway).
pub const JOINABLE_NAMESPACES: Namespaces = Namespaces::from_bits_truncate(
    Namespaces::USER.bits()
        | Namespaces::IPC.bits()
        | Namespaces::UTS.bits()
        | Namespaces::CGROUP.bits()
        | Namespaces::PID.bits()
        | Namespaces::TIME.bits(),
);

/// One namespace joined by path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub(crate) struct NamespaceJoin {
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::namespaces"))]
    pub namespace: Namespaces,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::path"))]
    pub path: PathBuf,
}

/// The settings of this module, as given (in `Settings`) and as checked (in `Config`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(default, deny_unknown_fields)
)]
pub(crate) struct ProcessAttributes {
    pub oom_score_adj: Option<i32>,
    pub umask: Option<u32>,
    /// `(name, value)` in the order given, names dotted (`net.ipv4.ping_group_range`).
    pub sysctls: Vec<(String, String)>,
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::opt_os"))]
    pub domainname: Option<OsString>,
    pub joins: Vec<NamespaceJoin>,
    /// See `crate::scheduling`.
    pub personality: Option<crate::scheduling::Personality>,
    pub io_priority: Option<(crate::scheduling::IoClass, u8)>,
    pub scheduler: Option<crate::scheduling::Scheduler>,
    /// Namespace joins and time offsets (issue 16): see `crate::time_offsets`.
    pub time_offsets: Option<crate::time_offsets::TimeOffsets>,
}

impl ProcessAttributes {
    /// The path of the joined namespace of type `namespace`, if one is joined.
    pub(crate) fn joined(&self, namespace: Namespaces) -> Option<&Path> {
        self.joins
            .iter()
            .find(|j| j.namespace == namespace)
            .map(|j| j.path.as_path())
    }

    /// Whether the setup process must be a copy of the caller, never on its memory: joining
    /// or entering a time namespace needs a single-threaded process (`timens_install`: its
    /// vDSO data is the memory's), and a setup process born in a joined PID or user namespace
    /// is reachable by its processes, so its memory must be a non-dumpable copy from the
    /// start (and a joined user namespace is entered by an intermediate copy anyway).
    pub(crate) fn needs_own_memory(&self) -> bool {
        self.time_offsets.is_some()
            || self.joined(Namespaces::TIME).is_some()
            || self.joined(Namespaces::PID).is_some()
            || self.joined(Namespaces::USER).is_some()
    }
}

/// Process attributes and namespace settings (OCI `process.oomScoreAdj`, `process.user.umask`,
/// `linux.sysctl`, `domainname`, `linux.namespaces[].path`).
impl ContainerBuilder {
    /// The payload's `oom_score_adj` (-1000..=1000; default: the caller's, inherited), which
    /// the init has too. Raising it is always allowed; lowering it below the caller's needs
    /// `CAP_SYS_RESOURCE` in the host's user namespace, and so fails (a setup error naming
    /// `/proc/self/oom_score_adj`, EACCES) in a new user namespace. The caller's own score
    /// never changes (see the module docs in `process_attrs.rs`).
    ///
    /// ```no_run
    /// let out = nsbox::Container::builder()
    ///     .oom_score_adj(500)
    ///     .command("/bin/cat").arg("/proc/self/oom_score_adj")
    ///     .output()?;
    /// assert_eq!(out.stdout, b"500\n");
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn oom_score_adj(&mut self, score: i32) -> &mut Self {
        self.settings.process.oom_score_adj = Some(score);
        self
    }

    /// The payload's file mode creation mask (0..=0o777; default: the caller's, inherited),
    /// set right before it runs.
    pub fn umask(&mut self, mask: u32) -> &mut Self {
        self.settings.process.umask = Some(mask);
        self
    }

    /// Sets a sysctl in the container's namespaces, `name` dotted (`net.ipv4.ping_group_range`)
    /// or slashed; may be repeated. Only namespaced sysctls are allowed, as runc allows them:
    /// `kernel.msg*`, `kernel.sem`, `kernel.shm*` and `fs.mqueue.*` with an IPC namespace,
    /// `net.*` with a network namespace of the container's own ([`Network::None`](crate::Network::None)
    /// or joined), `kernel.hostname` and `kernel.domainname` with a UTS namespace: `build()`
    /// makes these two the [`hostname`](Self::hostname) and [`domainname`](Self::domainname)
    /// (and refuses them beside those, [`ConfigError::Conflict`]).
    /// `build()` refuses any other ([`ConfigError::Malformed`] for [`Setting::Sysctl`]), and
    /// one whose namespace is not the container's ([`ConfigError::NeedsNamespace`]).
    ///
    /// ```
    /// # use nsbox::{ConfigError, Container, Error, Setting};
    /// let err = Container::builder().command("/bin/true").sysctl("vm.swappiness", "10").build().unwrap_err();
    /// assert!(matches!(err, Error::Config(ConfigError::Malformed { setting: Setting::Sysctl, .. })));
    /// ```
    pub fn sysctl(&mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> &mut Self {
        let name = name.as_ref().replace('/', ".");
        self.settings.process.sysctls.push((name, value.as_ref().to_owned()));
        self
    }

    /// The NIS domain name (`setdomainname(2)`); needs [`Namespaces::UTS`]. Default: the
    /// one a new UTS namespace starts with, the host's.
    pub fn domainname(&mut self, name: impl AsRef<OsStr>) -> &mut Self {
        self.settings.process.domainname = Some(name.as_ref().to_os_string());
        self
    }

    /// Joins an existing namespace of type `namespace` (one of [`JOINABLE_NAMESPACES`]:
    /// user, IPC, UTS, cgroup, PID, time) instead of creating one: `path` is a namespace file
    /// such as `/proc/PID/ns/ipc` or a bind mount of one. The spawn checks that it is a
    /// namespace of that type (`NS_GET_NSTYPE`). `build()` refuses other types, two joins of
    /// one type, and a join together with a new user namespace (its setup process would have
    /// no capability over the joined one). Settings that need the namespace (a
    /// [`hostname`](Self::hostname) in a joined UTS namespace, say) are refused: the namespace
    /// is not the container's to change; sysctls are allowed in a joined IPC namespace, as
    /// runc allows them.
    ///
    /// **A user namespace** (a Kubernetes pod with `hostUsers: false`, whose containers share
    /// the sandbox's): the container's process runs in it, as its root until
    /// [`user`](Self::user), and every namespace the container creates (mount, UTS, PID…)
    /// belongs to it, so its root may mount in its own mount namespace; other joined
    /// namespaces are entered after it, and must belong to it (or a namespace below it) where
    /// the kernel asks for a capability over them. Its id maps are the namespace's own:
    /// `build()` refuses [`uid_map`](Self::uid_map) and `gid_map` beside it
    /// ([`ConfigError::Conflict`]; [`user_namespace_maps`](crate::user_namespace_maps) reads
    /// them), and an overlay root (whose layers would need them). The caller needs
    /// `CAP_SYS_ADMIN` in the namespace (root, or the namespace's owner). The namespace's
    /// processes that have `CAP_KILL` in it (its root) may signal the setup process, as they
    /// may the payload: a `SIGKILL` fails the spawn, a `SIGSTOP` holds it until `SIGCONT`.
    ///
    /// **A PID namespace** (`docker run --pid container:X`, a Kubernetes pod sharing its
    /// process namespace): the payload runs in it as an ordinary process, not its PID 1 and
    /// without an nsbox init (the namespace has its init); the handle's
    /// [`pid`](crate::Container::pid) is its pid in the caller's namespace, and a
    /// [`Mount::proc`](crate::Mount::proc) or the default `/proc` shows the joined namespace's
    /// processes. The namespace must be the caller's own or one below it (`setns(2)`); one
    /// whose init has exited takes no new process: the spawn fails at the clone (`ENOMEM`),
    /// naming the path. While the payload runs, the joined namespace's init cannot finish
    /// exiting: a dying PID 1 waits until every process of its namespace is reaped, so wait
    /// for (or drop) this container before waiting for the one whose namespace it joined.
    ///
    /// ```no_run
    /// # use nsbox::{Container, Namespaces};
    /// let first = Container::builder().command("/bin/sleep").arg("60").spawn()?;
    /// let out = Container::builder()
    ///     .join_namespace(Namespaces::PID, format!("/proc/{}/ns/pid", first.pid()))
    ///     .command("/bin/ps").output()?; // lists the first container's sleep too
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn join_namespace(&mut self, namespace: Namespaces, path: impl AsRef<Path>) -> &mut Self {
        self.settings.process.joins.push(NamespaceJoin {
            namespace,
            path: path.as_ref().to_path_buf(),
        });
        self
    }
}

/// `build()`'s checks of these settings, given the namespaces the container creates (`ns`,
/// before the joined ones are taken out) and whether it has its own network namespace
/// (created or joined). Returns the namespaces to create.
pub(crate) fn validate(
    attrs: &ProcessAttributes,
    ns: Namespaces,
    own_network: bool,
) -> Result<Namespaces, ConfigError> {
    crate::scheduling::validate(attrs)?;
    let joined = check_joins(attrs, ns)?;
    let created = ns - joined;
    crate::time_offsets::validate(attrs.time_offsets.as_ref(), created)?;
    if let Some(score) = attrs.oom_score_adj
        && !OOM_SCORE_ADJ_RANGE.contains(&score)
    {
        return Err(ConfigError::Malformed {
            setting: Setting::OomScoreAdj,
            value: score.to_string(),
            expected: "within -1000..=1000",
        });
    }
    if let Some(mask) = attrs.umask
        && mask > 0o777
    {
        return Err(ConfigError::OutOfRange {
            setting: Setting::Umask,
            value: u64::from(mask),
            allowed: 0..=0o777,
        });
    }
    if let Some(name) = &attrs.domainname {
        need(created.contains(Namespaces::UTS), Setting::Domainname, Namespaces::UTS)?;
        if name.as_encoded_bytes().contains(&0) {
            return Err(ConfigError::NulByte {
                setting: Setting::Domainname,
            });
        }
        if name.len() > 64 {
            return Err(ConfigError::OutOfRange {
                setting: Setting::Domainname,
                value: name.len() as u64,
                allowed: 0..=64,
            });
        }
    }
    for (index, (name, value)) in attrs.sysctls.iter().enumerate() {
        let malformed = |expected| ConfigError::Malformed {
            setting: Setting::Sysctl,
            value: format!("{name}={value}"),
            expected,
        };
        if attrs.sysctls[..index].iter().any(|(n, _)| n == name) {
            return Err(malformed("given once: this name is given twice"));
        }
        if value.contains('\0') || value.len() > 4096 {
            return Err(malformed("a value without NUL byte, at most 4096 bytes"));
        }
        match sysctl_namespace(name) {
            None => {
                return Err(malformed(
                    "a namespaced sysctl (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*, kernel.hostname, kernel.domainname)",
                ));
            }
            Some(Namespaces::NET) => need(own_network, Setting::Sysctl, Namespaces::NET)?,
            // Made hostname and domainname by `uts_sysctls` before these checks.
            Some(Namespaces::UTS) => need(created.contains(Namespaces::UTS), Setting::Sysctl, Namespaces::UTS)?,
            Some(other) => need(ns.contains(other), Setting::Sysctl, other)?,
        }
    }
    Ok(created)
}

/// `kernel.hostname` and `kernel.domainname` sysctls made what they are, the hostname and
/// the domain name: one step each, in one place of the plan, whatever else the plan holds
/// (a `SetHostname` after a sysctl would undo it). Both given for one name is a conflict.
pub(crate) fn uts_sysctls(attrs: &mut ProcessAttributes, hostname: &mut Option<OsString>) -> Result<(), ConfigError> {
    let mut conflict = None;
    attrs.sysctls.retain(|(name, value)| {
        let (slot, with) = match name.as_str() {
            "kernel.hostname" => (&mut *hostname, Setting::Hostname),
            "kernel.domainname" => (&mut attrs.domainname, Setting::Domainname),
            _ => return true,
        };
        if slot.is_some() {
            conflict = Some(with);
        }
        *slot = Some(value.into());
        false
    });
    match conflict {
        None => Ok(()),
        Some(with) => Err(ConfigError::Conflict {
            setting: Setting::Sysctl,
            with,
            why: "both set the same name: give one",
        }),
    }
}

fn check_joins(attrs: &ProcessAttributes, ns: Namespaces) -> Result<Namespaces, ConfigError> {
    let mut joined = Namespaces::empty();
    for join in &attrs.joins {
        let value = format!("{:?} {}", join.namespace, join.path.display());
        let single = join.namespace.iter().count() == 1;
        if !single || !JOINABLE_NAMESPACES.contains(join.namespace) {
            return Err(ConfigError::Malformed {
                setting: Setting::JoinNamespace,
                value,
                expected: "one of the user, IPC, UTS, cgroup, PID and time namespaces (network: Network::join_path; a mount one cannot be joined, see JOINABLE_NAMESPACES)",
            });
        }
        if joined.intersects(join.namespace) {
            return Err(ConfigError::Malformed {
                setting: Setting::JoinNamespace,
                value,
                expected: "joined once: this type is joined twice",
            });
        }
        if !join.path.is_absolute() || join.path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(ConfigError::Malformed {
                setting: Setting::JoinNamespace,
                value,
                expected: "an absolute path without NUL byte",
            });
        }
        joined |= join.namespace;
    }
    if joined.contains(Namespaces::TIME) && attrs.time_offsets.is_some() {
        return Err(ConfigError::Conflict {
            setting: Setting::TimeOffsets,
            with: Setting::JoinNamespace,
            why: "offsets are set in a new time namespace, not in a joined one",
        });
    }
    // A joined user namespace replaces a new one (`ns - joined`); a new one beside joins is
    // refused.
    if !joined.is_empty() && (ns - joined).contains(Namespaces::USER) {
        return Err(ConfigError::Conflict {
            setting: Setting::JoinNamespace,
            with: Setting::Namespaces,
            why: "a setup process in a new user namespace has no capability over a namespace owned outside it: join without Namespaces::USER, or join the user namespace that owns it too",
        });
    }
    Ok(joined)
}

fn need(ok: bool, setting: Setting, namespace: Namespaces) -> Result<(), ConfigError> {
    match ok {
        true => Ok(()),
        false => Err(ConfigError::NeedsNamespace { setting, namespace }),
    }
}

/// The namespace a sysctl belongs to, if it is namespaced: runc's list
/// (libcontainer/configs/validate: `sysctl`). A name with an empty component, `..` or
/// anything but `[A-Za-z0-9_.-]` (interface names) is none.
pub(crate) fn sysctl_namespace(name: &str) -> Option<Namespaces> {
    let clean = !name.is_empty()
        && name.split('.').all(|part| !part.is_empty())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !clean {
        return None;
    }
    const IPC: [&str; 7] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
    ];
    if IPC.contains(&name) || name == "kernel.shm_rmid_forced" || name.starts_with("fs.mqueue.") {
        Some(Namespaces::IPC)
    } else if name.starts_with("net.") {
        Some(Namespaces::NET)
    } else if name == "kernel.hostname" || name == "kernel.domainname" {
        Some(Namespaces::UTS)
    } else {
        None
    }
}

/// The `/proc/sys` path of a dotted sysctl name (`net.ipv4.ip_forward` →
/// `/proc/sys/net/ipv4/ip_forward`).
pub(crate) fn sysctl_path(name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/sys/{}", name.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_namespaced_sysctls_have_a_namespace() {
        assert_eq!(
            sysctl_namespace("net.ipv4.ip_unprivileged_port_start"),
            Some(Namespaces::NET)
        );
        assert_eq!(sysctl_namespace("kernel.shmmax"), Some(Namespaces::IPC));
        assert_eq!(sysctl_namespace("fs.mqueue.msg_max"), Some(Namespaces::IPC));
        assert_eq!(sysctl_namespace("kernel.domainname"), Some(Namespaces::UTS));
        for refused in [
            "vm.swappiness",
            "kernel.pid_max",
            "net..x",
            "net.a/../b",
            "",
            "kernel.shmmax.",
            "fs.file-max",
        ] {
            assert_eq!(sysctl_namespace(refused), None, "{refused}");
        }
        assert_eq!(
            sysctl_path("net.ipv4.ping_group_range"),
            Path::new("/proc/sys/net/ipv4/ping_group_range")
        );
    }
}
