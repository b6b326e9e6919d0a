//! The names of the builder's settings, so that a [`ConfigError`](crate::ConfigError) can say
//! which one was refused in a way a caller can match on.

use std::fmt;

/// A setting of [`ContainerBuilder`](crate::ContainerBuilder) (or of a [`Mount`](crate::Mount)
/// given to it), as named by a [`ConfigError`](crate::ConfigError).
///
/// Displayed as the builder method's name (`memory_limit`), or the mount's part
/// (`mount target`).
///
/// ```
/// use nsbox::{ConfigError, Container, Setting};
/// let err = Container::builder().command("/bin/true").cpu_weight(0).build().unwrap_err();
/// assert!(matches!(
///     err,
///     nsbox::Error::Config(ConfigError::OutOfRange { setting: Setting::CpuWeight, value: 0, .. })
/// ));
/// assert_eq!(err.to_string(), "invalid container configuration: cpu_weight must be within 1..=10000, not 0");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Setting {
    /// [`namespaces`](crate::ContainerBuilder::namespaces).
    Namespaces,
    /// [`rootfs`](crate::ContainerBuilder::rootfs).
    Rootfs,
    /// [`hide_host_paths`](crate::ContainerBuilder::hide_host_paths).
    HideHostPaths,
    /// [`read_only_root`](crate::ContainerBuilder::read_only_root).
    ReadOnlyRoot,
    /// [`hostname`](crate::ContainerBuilder::hostname); its range is a length in bytes.
    Hostname,
    /// [`mount`](crate::ContainerBuilder::mount): the mounts as a whole (they need a mount
    /// namespace).
    Mount,
    /// The target of a [`Mount`](crate::Mount).
    MountTarget,
    /// The source of a [`Mount::bind`](crate::Mount::bind).
    MountSource,
    /// [`Mount::size`](crate::Mount::size) of a tmpfs, in bytes.
    TmpfsSize,
    /// [`Mount::mode`](crate::Mount::mode) of a tmpfs (permission bits).
    TmpfsMode,
    /// A [`Mount::proc`](crate::Mount::proc).
    ProcMount,
    /// [`env`](crate::ContainerBuilder::env) and friends: a variable's name or value.
    Env,
    /// [`current_dir`](crate::ContainerBuilder::current_dir).
    CurrentDir,
    /// [`command`](crate::ContainerBuilder::command).
    Command,
    /// [`arg`](crate::ContainerBuilder::arg) and [`args`](crate::ContainerBuilder::args).
    Args,
    /// [`user`](crate::ContainerBuilder::user).
    User,
    /// [`groups`](crate::ContainerBuilder::groups).
    Groups,
    /// [`uid_map`](crate::ContainerBuilder::uid_map); its range is a number of ranges.
    UidMap,
    /// [`gid_map`](crate::ContainerBuilder::gid_map); its range is a number of ranges.
    GidMap,
    /// [`no_new_privileges`](crate::ContainerBuilder::no_new_privileges).
    NoNewPrivileges,
    /// [`memory_limit`](crate::ContainerBuilder::memory_limit), in bytes.
    MemoryLimit,
    /// [`memory_swap_limit`](crate::ContainerBuilder::memory_swap_limit), in bytes.
    MemorySwapLimit,
    /// [`cpu_limit`](crate::ContainerBuilder::cpu_limit); its range is in thousandths of a CPU.
    CpuLimit,
    /// [`cpu_weight`](crate::ContainerBuilder::cpu_weight).
    CpuWeight,
    /// [`cpuset_cpus`](crate::ContainerBuilder::cpuset_cpus).
    CpusetCpus,
    /// [`cpuset_mems`](crate::ContainerBuilder::cpuset_mems).
    CpusetMems,
    /// [`pids_limit`](crate::ContainerBuilder::pids_limit).
    PidsLimit,
    /// [`io_weight`](crate::ContainerBuilder::io_weight).
    IoWeight,
    /// [`io_device_limit`](crate::ContainerBuilder::io_device_limit).
    IoDeviceLimit,
    /// [`cgroup`](crate::ContainerBuilder::cgroup): the container's cgroup.
    Cgroup,
    /// [`cgroup_parent`](crate::ContainerBuilder::cgroup_parent).
    CgroupParent,
    /// [`tmp_size`](crate::ContainerBuilder::tmp_size), in bytes.
    TmpSize,
    /// [`run_size`](crate::ContainerBuilder::run_size), in bytes.
    RunSize,
    /// [`shm_size`](crate::ContainerBuilder::shm_size), in bytes.
    ShmSize,
    /// [`output_limit`](crate::ContainerBuilder::output_limit), in bytes.
    OutputLimit,
    /// [`pids_limit_where_available`](crate::ContainerBuilder::pids_limit_where_available).
    PidsLimitWhereAvailable,
    /// [`network`](crate::ContainerBuilder::network).
    Network,
    /// [`publish`](crate::ContainerBuilder::publish).
    Publish,
    /// [`capabilities`](crate::ContainerBuilder::capabilities) and
    /// [`cap_add`](crate::ContainerBuilder::cap_add).
    Capabilities,
    /// [`ambient_capabilities`](crate::ContainerBuilder::ambient_capabilities).
    AmbientCapabilities,
    /// [`seccomp`](crate::ContainerBuilder::seccomp); its range is in BPF instructions.
    Seccomp,
    /// [`rlimit`](crate::ContainerBuilder::rlimit): the soft limit, whose bound is the hard one.
    Rlimit,
    /// [`landlock`](crate::ContainerBuilder::landlock).
    Landlock,
    /// [`tty`](crate::ContainerBuilder::tty) and [`tty_size`](crate::ContainerBuilder::tty_size).
    Tty,
    /// [`new_session`](crate::ContainerBuilder::new_session).
    NewSession,
    /// [`logs`](crate::ContainerBuilder::logs): its directory.
    Logs,
    /// [`LogConfig::max_size`](crate::logs::LogConfig::max_size), in bytes.
    LogMaxSize,
    /// [`LogConfig::max_files`](crate::logs::LogConfig::max_files).
    LogMaxFiles,
    /// [`stdout`](crate::ContainerBuilder::stdout).
    Stdout,
    /// [`stderr`](crate::ContainerBuilder::stderr).
    Stderr,
    /// [`oom_score_adj`](crate::ContainerBuilder::oom_score_adj).
    OomScoreAdj,
    /// [`umask`](crate::ContainerBuilder::umask).
    Umask,
    /// [`sysctl`](crate::ContainerBuilder::sysctl).
    Sysctl,
    /// [`domainname`](crate::ContainerBuilder::domainname); its range is a length in bytes.
    Domainname,
    /// [`join_namespace`](crate::ContainerBuilder::join_namespace).
    JoinNamespace,
    /// [`io_priority`](crate::ContainerBuilder::io_priority): its level.
    IoPriority,
    /// [`scheduler`](crate::ContainerBuilder::scheduler).
    Scheduler,
    /// [`masked_paths`](crate::ContainerBuilder::masked_paths).
    MaskedPaths,
    /// [`read_only_paths`](crate::ContainerBuilder::read_only_paths).
    ReadOnlyPaths,
    /// [`writable_sys`](crate::ContainerBuilder::writable_sys).
    WritableSys,
    // Cgroups and devices (issue 16).
    /// [`cgroup_path`](crate::ContainerBuilder::cgroup_path).
    CgroupPath,
    /// [`device_node`](crate::ContainerBuilder::device_node).
    DeviceNode,
    /// [`hugepage_limit`](crate::ContainerBuilder::hugepage_limit).
    HugepageLimit,
    /// [`cgroup_unified`](crate::ContainerBuilder::cgroup_unified).
    CgroupUnified,
    /// The uid maps of an idmapped bind ([`Mount::idmap`](crate::Mount::idmap)); its range is
    /// a number of ranges.
    MountUidMap,
    /// The gid maps of an idmapped bind ([`Mount::idmap`](crate::Mount::idmap)); its range is
    /// a number of ranges.
    MountGidMap,
    // The rest of runc's cgroup limits (issue 16).
    /// [`memory_reservation`](crate::ContainerBuilder::memory_reservation), in bytes.
    MemoryReservation,
    /// [`memory_swappiness`](crate::ContainerBuilder::memory_swappiness).
    MemorySwappiness,
    /// [`cpu_period`](crate::ContainerBuilder::cpu_period), in microseconds.
    CpuPeriod,
    /// [`cpu_burst`](crate::ContainerBuilder::cpu_burst), in microseconds.
    CpuBurst,
    /// [`cpu_realtime`](crate::ContainerBuilder::cpu_realtime), in microseconds.
    CpuRealtime,
    /// [`io_device_weight`](crate::ContainerBuilder::io_device_weight).
    IoDeviceWeight,
    /// [`net_priority`](crate::ContainerBuilder::net_priority).
    NetPriority,
    /// [`rdma_limit`](crate::ContainerBuilder::rdma_limit).
    Rdma,
    // NUMA and exec flags (issue 16).
    /// [`memory_policy`](crate::ContainerBuilder::memory_policy).
    MemoryPolicy,
    /// [`ExecBuilder::cpu_affinity`](crate::ExecBuilder::cpu_affinity).
    ExecCpuAffinity,
    // Namespace joins and time offsets (issue 16).
    /// [`time_offsets`](crate::ContainerBuilder::time_offsets): its nanoseconds.
    TimeOffsets,
    // Network devices (issue 16).
    /// [`move_network_device`](crate::ContainerBuilder::move_network_device).
    NetworkDevice,
}

impl Setting {
    /// The unit of the setting's values in messages, if it has one.
    pub(crate) fn unit(self) -> &'static str {
        match self {
            Setting::Hostname
            | Setting::TmpfsSize
            | Setting::MemoryLimit
            | Setting::MemorySwapLimit
            | Setting::TmpSize
            | Setting::RunSize
            | Setting::ShmSize
            | Setting::OutputLimit
            | Setting::LogMaxSize
            | Setting::Domainname
            | Setting::MemoryReservation => " bytes",
            Setting::CpuPeriod | Setting::CpuBurst | Setting::CpuRealtime => " µs",
            Setting::UidMap | Setting::GidMap => " ranges",
            Setting::MountUidMap | Setting::MountGidMap => " ranges",
            Setting::CpuLimit => " thousandths of a CPU",
            Setting::Seccomp => " instructions",
            _ => "",
        }
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Setting::Namespaces => "namespaces",
            Setting::Rootfs => "rootfs",
            Setting::HideHostPaths => "hide_host_paths",
            Setting::ReadOnlyRoot => "read_only_root",
            Setting::Hostname => "hostname",
            Setting::Mount => "mount",
            Setting::MountTarget => "mount target",
            Setting::MountSource => "mount source",
            Setting::TmpfsSize => "tmpfs size",
            Setting::TmpfsMode => "tmpfs mode",
            Setting::ProcMount => "procfs mount",
            Setting::Env => "env",
            Setting::CurrentDir => "current_dir",
            Setting::Command => "command",
            Setting::Args => "args",
            Setting::User => "user",
            Setting::Groups => "groups",
            Setting::UidMap => "uid_map",
            Setting::GidMap => "gid_map",
            Setting::NoNewPrivileges => "no_new_privileges",
            Setting::MemoryLimit => "memory_limit",
            Setting::MemorySwapLimit => "memory_swap_limit",
            Setting::CpuLimit => "cpu_limit",
            Setting::CpuWeight => "cpu_weight",
            Setting::CpusetCpus => "cpuset_cpus",
            Setting::CpusetMems => "cpuset_mems",
            Setting::PidsLimit => "pids_limit",
            Setting::IoWeight => "io_weight",
            Setting::IoDeviceLimit => "io_device_limit",
            Setting::Cgroup => "cgroup",
            Setting::CgroupParent => "cgroup_parent",
            Setting::TmpSize => "tmp_size",
            Setting::RunSize => "run_size",
            Setting::ShmSize => "shm_size",
            Setting::OutputLimit => "output_limit",
            Setting::PidsLimitWhereAvailable => "pids_limit_where_available",
            Setting::Network => "network",
            Setting::Publish => "publish",
            Setting::Capabilities => "capabilities",
            Setting::AmbientCapabilities => "ambient_capabilities",
            Setting::Seccomp => "seccomp",
            Setting::Rlimit => "rlimit",
            Setting::Landlock => "landlock",
            Setting::Tty => "tty",
            Setting::NewSession => "new_session",
            Setting::Logs => "logs",
            Setting::LogMaxSize => "log max_size",
            Setting::LogMaxFiles => "log max_files",
            Setting::Stdout => "stdout",
            Setting::Stderr => "stderr",
            Setting::OomScoreAdj => "oom_score_adj",
            Setting::Umask => "umask",
            Setting::Sysctl => "sysctl",
            Setting::Domainname => "domainname",
            Setting::JoinNamespace => "join_namespace",
            Setting::IoPriority => "io_priority",
            Setting::Scheduler => "scheduler",
            Setting::MaskedPaths => "masked_paths",
            Setting::ReadOnlyPaths => "read_only_paths",
            Setting::WritableSys => "writable_sys",
            Setting::CgroupPath => "cgroup_path",
            Setting::DeviceNode => "device_node",
            Setting::HugepageLimit => "hugepage_limit",
            Setting::CgroupUnified => "cgroup_unified",
            Setting::MountUidMap => "mount idmap uid map",
            Setting::MountGidMap => "mount idmap gid map",
            Setting::MemoryReservation => "memory_reservation",
            Setting::MemorySwappiness => "memory_swappiness",
            Setting::CpuPeriod => "cpu_period",
            Setting::CpuBurst => "cpu_burst",
            Setting::CpuRealtime => "cpu_realtime",
            Setting::IoDeviceWeight => "io_device_weight",
            Setting::NetPriority => "net_priority",
            Setting::Rdma => "rdma_limit",
            Setting::MemoryPolicy => "memory_policy",
            Setting::ExecCpuAffinity => "exec cpu_affinity",
            Setting::TimeOffsets => "time_offsets",
            Setting::NetworkDevice => "move_network_device",
        };
        f.write_str(name)
    }
}
