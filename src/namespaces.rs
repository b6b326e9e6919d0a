//! The set of Linux namespaces a container gets.

use bitflags::bitflags;

bitflags! {
    /// Which namespaces a container is created in.
    ///
    /// The bits are the kernel's `CLONE_NEW*` flags, so a set converts to clone flags without a
    /// table. [`Namespaces::all()`] is every namespace the kernel offers and the builder's default.
    ///
    /// ```
    /// use nsbox::Namespaces;
    /// let ns = Namespaces::all() - Namespaces::NET; // share the host's network
    /// assert!(ns.contains(Namespaces::PID));
    /// ```
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Namespaces: u64 {
        /// Own mount table (`CLONE_NEWNS`); needed for a rootfs and for mounts.
        const MOUNT = libc::CLONE_NEWNS as u64;
        /// Own hostname and domain name (`CLONE_NEWUTS`).
        const UTS = libc::CLONE_NEWUTS as u64;
        /// Own System V IPC objects and POSIX message queues (`CLONE_NEWIPC`).
        const IPC = libc::CLONE_NEWIPC as u64;
        /// Own process ids: the container's first process is PID 1 (`CLONE_NEWPID`).
        const PID = libc::CLONE_NEWPID as u64;
        /// Own network stack with only a loopback interface (`CLONE_NEWNET`).
        const NET = libc::CLONE_NEWNET as u64;
        /// Own user and group ids and capabilities (`CLONE_NEWUSER`).
        const USER = libc::CLONE_NEWUSER as u64;
        /// Own view of the cgroup tree, rooted at the container's cgroup (`CLONE_NEWCGROUP`).
        const CGROUP = libc::CLONE_NEWCGROUP as u64;
        /// Own monotonic and boot-time clock offsets (`CLONE_NEWTIME`).
        const TIME = libc::CLONE_NEWTIME as u64;
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces::all()
    }
}

impl Namespaces {
    /// The name the kernel gives this namespace under `/proc/<pid>/ns/`, for a single flag.
    pub fn proc_name(self) -> Option<&'static str> {
        Some(match self {
            Namespaces::MOUNT => "mnt",
            Namespaces::UTS => "uts",
            Namespaces::IPC => "ipc",
            Namespaces::PID => "pid",
            Namespaces::NET => "net",
            Namespaces::USER => "user",
            Namespaces::CGROUP => "cgroup",
            Namespaces::TIME => "time",
            _ => return None,
        })
    }
}
