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
        max_user_namespaces: std::fs::read_to_string("/proc/sys/user/max_user_namespaces")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
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
    if let Some(h) = &layout.v2 {
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
    ControllerSupport {
        controller,
        version: None,
        parent: None,
        usable: false,
        reason: Some("not mounted: no v1 hierarchy has it and there is no cgroup2".into()),
    }
}

fn writable(dir: &Path) -> Option<String> {
    match nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK) {
        Ok(()) => None,
        Err(e) => Some(format!("cannot create cgroups in {}: {e}", dir.display())),
    }
}
