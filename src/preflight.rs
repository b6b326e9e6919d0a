//! What this host supports, as typed values, so a caller learns why before a spawn fails.

use std::path::{Path, PathBuf};

use crate::cgroup::{CgroupMode, Controller, Layout};

/// The host's answer to "what can nsbox do here?". Made by [`preflight`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Preflight {
    /// The running kernel's release (`uname -r`).
    pub kernel: String,
    /// How cgroups are laid out; `None` if no cgroup filesystem is mounted.
    pub cgroup_mode: Option<CgroupMode>,
    /// Each controller: where it is and whether this process can use it.
    pub controllers: Vec<ControllerSupport>,
    /// The most user namespaces this user may create (`/proc/sys/user/max_user_namespaces`).
    pub max_user_namespaces: Option<u64>,
    /// Whether this process can create a user namespace, and what blocks it if not.
    pub user_namespaces: UserNamespaces,
    /// Which of the syscalls nsbox relies on the kernel has.
    pub syscalls: Syscalls,
    /// Whether overlayfs serves [`Rootfs::overlay`](crate::Rootfs::overlay) here (probed once
    /// per process).
    pub overlay: crate::OverlaySupport,
    /// The caller's subordinate ids (/etc/subuid, /etc/subgid; root's too): more than one id
    /// in a container's user namespace. `None` for either file without a range for the caller.
    pub subordinate_ids: Option<SubordinateIds>,
    /// Whether the kernel filters syscalls with seccomp (`Seccomp:` in /proc/self/status).
    pub seccomp: bool,
    /// The Landlock ABI version this kernel offers, or why none (`Err`: the errno's name, as
    /// `EOPNOTSUPP`: built in but disabled at boot, `ENOSYS`: not built in).
    pub landlock: Result<u32, String>,
}

/// The caller's subordinate id ranges (first range of each file, as nsbox maps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateIds {
    /// Host uids: the first, and how many.
    pub uids: (u32, u32),
    /// Host gids: the first, and how many.
    pub gids: (u32, u32),
}

/// User namespace support for the calling process.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserNamespaces {
    /// Whether creating one works (tried, then thrown away).
    pub available: bool,
    /// Settings that block them: `kernel.unprivileged_userns_clone=0`,
    /// `kernel.apparmor_restrict_unprivileged_userns=1`, `user.max_user_namespaces=0`.
    pub blocked_by: Vec<String>,
    /// Where `newuidmap` is, needed for more than one id range without root.
    pub newuidmap: Option<PathBuf>,
    /// Where `newgidmap` is.
    pub newgidmap: Option<PathBuf>,
}

/// Kernel syscalls nsbox uses, by availability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Syscalls {
    /// clone3 (5.3): without it, clone; no CLONE_INTO_CGROUP, no time namespace.
    pub clone3: bool,
    /// openat2 (5.6): without it, mount points with symlinks are refused.
    pub openat2: bool,
    /// open_tree, move_mount (5.2) and mount_setattr (5.12): required for bind mounts.
    pub mount_api: bool,
    /// pidfd_open (5.3): required for the container handle.
    pub pidfd: bool,
}

/// Where a controller is and whether a container's cgroup can use it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerSupport {
    /// The controller.
    pub controller: Controller,
    /// 1 or 2: the cgroup version it is used through; `None` if it is not mounted at all.
    pub version: Option<u8>,
    /// The parent directory a container's cgroup would be created in.
    pub parent: Option<PathBuf>,
    /// Whether limits for it can be set here.
    pub usable: bool,
    /// Why not, when it is not usable.
    pub reason: Option<String>,
}

impl Preflight {
    /// The support entry of `controller`.
    pub fn controller(&self, controller: Controller) -> Option<&ControllerSupport> {
        self.controllers.iter().find(|c| c.controller == controller)
    }

    /// Whether limits for `controller` can be set here.
    pub fn can_use(&self, controller: Controller) -> bool {
        self.controller(controller).is_some_and(|c| c.usable)
    }
}

/// Inspects the host: kernel, cgroup layout and controllers, user namespaces.
///
/// ```no_run
/// let host = nsbox::preflight();
/// if !host.can_use(nsbox::Controller::Memory) {
///     eprintln!("no memory limits here: {:?}", host.controller(nsbox::Controller::Memory));
/// }
/// ```
pub fn preflight() -> Preflight {
    let layout = Layout::detect().unwrap_or_default();
    Preflight {
        kernel: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        cgroup_mode: layout.mode(),
        controllers: Controller::ALL.into_iter().map(|c| support(&layout, c)).collect(),
        max_user_namespaces: sysctl("/proc/sys/user/max_user_namespaces"),
        user_namespaces: user_namespaces(),
        syscalls: syscalls(),
        overlay: crate::overlay_support::support(),
        subordinate_ids: subordinate_ids(),
        seccomp: std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Seccomp:"))),
        landlock: landlock_abi(),
    }
}

fn subordinate_ids() -> Option<SubordinateIds> {
    let uid = nix::unistd::geteuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_default();
    let range = |file: &str| {
        let text = std::fs::read_to_string(file).ok()?;
        crate::idmap::parse_subordinate(&text, &name, uid.as_raw()).map(|m| (m.outside, m.count))
    };
    Some(SubordinateIds {
        uids: range("/etc/subuid")?,
        gids: range("/etc/subgid")?,
    })
}

fn landlock_abi() -> Result<u32, String> {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a NULL attribute only reports the ABI.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    match abi {
        n if n > 0 => Ok(n as u32),
        _ => Err(crate::Errno::last().name().unwrap_or("unknown").to_owned()),
    }
}

fn sysctl(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok().and_then(|s| s.trim().parse().ok())
}

fn user_namespaces() -> UserNamespaces {
    let mut blocked_by = Vec::new();
    let unprivileged = !nix::unistd::Uid::effective().is_root();
    if unprivileged && sysctl("/proc/sys/kernel/unprivileged_userns_clone") == Some(0) {
        blocked_by.push("kernel.unprivileged_userns_clone=0".to_string());
    }
    if unprivileged && sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == Some(1) {
        blocked_by.push("kernel.apparmor_restrict_unprivileged_userns=1".to_string());
    }
    if sysctl("/proc/sys/user/max_user_namespaces") == Some(0) {
        blocked_by.push("user.max_user_namespaces=0".to_string());
    }
    let find = |name: &str| {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(["/usr/bin", "/bin"].map(|d| Path::new(d).join(name)))
            .find(|p| p.is_file())
    };
    UserNamespaces {
        available: try_user_namespace(),
        blocked_by,
        newuidmap: find("newuidmap"),
        newgidmap: find("newgidmap"),
    }
}

/// Creates a user namespace in a short-lived child that does nothing else (the caller's own
/// state never changes).
fn try_user_namespace() -> bool {
    match crate::sys::fork() {
        Ok(0) => {
            // SAFETY: unshare takes no memory; the child only unshares and exits.
            let ok = unsafe { libc::unshare(libc::CLONE_NEWUSER) } == 0;
            crate::sys::exit(if ok { 0 } else { 1 })
        }
        Ok(pid) => matches!(
            nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None),
            Ok(nix::sys::wait::WaitStatus::Exited(_, 0))
        ),
        Err(_) => false,
    }
}

fn syscalls() -> Syscalls {
    // Each probe passes arguments the kernel rejects before doing anything; only ENOSYS
    // means the syscall is missing.
    let exists = |ret: libc::c_long| ret >= 0 || nix::errno::Errno::last() != nix::errno::Errno::ENOSYS;
    // SAFETY: NULL or invalid arguments; the kernel validates and fails (EFAULT/EINVAL/EBADF).
    unsafe {
        Syscalls {
            clone3: exists(libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize)),
            openat2: exists(libc::syscall(
                libc::SYS_openat2,
                -1,
                std::ptr::null::<u8>(),
                std::ptr::null::<u8>(),
                0usize,
            )),
            mount_api: exists(libc::syscall(
                libc::SYS_mount_setattr,
                -1,
                std::ptr::null::<u8>(),
                0,
                std::ptr::null::<u8>(),
                0usize,
            )) && exists(libc::syscall(libc::SYS_open_tree, -1, std::ptr::null::<u8>(), 0)),
            pidfd: exists(libc::syscall(libc::SYS_pidfd_open, 0, 0)),
        }
    }
}

fn support(layout: &Layout, controller: Controller) -> ControllerSupport {
    let entry = |version, parent: PathBuf, reason: Option<String>| ControllerSupport {
        controller,
        version: Some(version),
        usable: reason.is_none(),
        parent: Some(parent),
        reason,
    };
    if let Some(h) = layout.v1_for(controller) {
        let parent = crate::cgroup::dir_of(&h.mountpoint, &h.root, &h.own);
        return entry(1, parent.clone(), writable(&parent));
    }
    if let Some(h) = &layout.v2
        && !controller.v1_only()
    {
        let parent = crate::cgroup::dir_of(&h.mountpoint, &h.root, &h.own);
        let listed = std::fs::read_to_string(parent.join("cgroup.controllers")).unwrap_or_default();
        let reason = match controller.v2_name() {
            Some(name) if !listed.split_whitespace().any(|c| c == name) => {
                Some(format!("not in {}/cgroup.controllers", parent.display()))
            }
            _ => writable(&parent),
        };
        return entry(2, parent, reason);
    }
    let reason = match (controller.v1_only(), &layout.v2) {
        (true, Some(_)) => "not mounted: no v1 hierarchy has it, and cgroup v2 has no such controller",
        _ => "not mounted: no v1 hierarchy has it and there is no cgroup2",
    };
    ControllerSupport {
        controller,
        version: None,
        parent: None,
        usable: false,
        reason: Some(reason.into()),
    }
}

fn writable(dir: &Path) -> Option<String> {
    match nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK) {
        Ok(()) => None,
        Err(e) => Some(format!("cannot create cgroups in {}: {e}", dir.display())),
    }
}
