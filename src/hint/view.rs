//! Looking up a container path from the parent, after a setup step failed: in the running
//! container's root (`/proc/<pid>/root`, for an exec), or, for a spawn whose setup process is
//! gone, in what its root was made of (the rootfs directory or the host's `/`, and the bind
//! sources of the caller's mounts).
//!
//! The rootfs may be hostile: every path resolves with `openat2(RESOLVE_IN_ROOT |
//! RESOLVE_NO_MAGICLINKS)` (a symlink never leaves the root it is in) into an `O_PATH` fd, and a
//! file is only read through that fd once `fstat` says it is a regular one (no FIFO or device
//! is ever opened). What cannot be looked up this way (a path on a tmpfs or procfs of the
//! container's, a kernel without openat2) is [`Lookup::Unknown`]: no hint, never a wrong one.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::config::Config;
use crate::mount::MountKind;
use crate::rootfs::RootfsKind;

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

/// What a container path is, as far as the parent can tell.
#[derive(Debug)]
pub(super) enum Lookup {
    /// There, as an `O_PATH` fd (symlinks followed inside the root).
    Found(OwnedFd),
    /// Not there (a component missing, or not a directory).
    Missing,
    /// Cannot be told from here.
    Unknown,
}

impl Lookup {
    /// The file's `stat`, for what was found.
    pub fn stat(&self) -> Option<libc::stat> {
        let Lookup::Found(fd) = self else { return None };
        nix::sys::stat::fstat(fd).ok()
    }

    /// The file for reading, if what was found is a regular file (reopened through the
    /// `O_PATH` fd: the same inode, never a FIFO or a device).
    pub fn open_regular(&self) -> Option<File> {
        let Lookup::Found(fd) = self else { return None };
        if self.stat()?.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let proc_path = CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated path; open returns a new fd or -1.
        let raw = unsafe { libc::open(proc_path.as_ptr(), flags) };
        // SAFETY: a new fd that nothing else owns.
        (raw >= 0).then(|| unsafe { File::from_raw_fd(raw) })
    }
}

/// Where the container's paths are looked up.
pub(crate) enum View<'a> {
    /// A running container's root: `/proc/<pid>/root` of one of its processes.
    Running(OwnedFd),
    /// A spawn's root as its configuration made it.
    Config(&'a Config),
}

impl View<'_> {
    /// The root of a running process `pid` (`None` where it cannot be opened: another user's
    /// non-dumpable process, a pid gone).
    pub fn of_process(pid: i32) -> Option<View<'static>> {
        let path = format!("/proc/{pid}/root");
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
        let fd = nix::fcntl::open(path.as_str(), flags, nix::sys::stat::Mode::empty()).ok()?;
        Some(View::Running(fd))
    }

    /// Looks up the absolute container path `path`.
    pub(super) fn lookup(&self, path: &Path) -> Lookup {
        match self {
            View::Running(root) => resolve(root, path),
            View::Config(config) => lookup_in_config(config, path),
        }
    }
}

/// `path` under `config`'s root: the last of the caller's mounts above it (mounts stack in
/// order), nsbox's own fresh filesystems, or the rootfs itself.
fn lookup_in_config(config: &Config, path: &Path) -> Lookup {
    if !config.namespaces.contains(crate::Namespaces::MOUNT) {
        return open_dir(Path::new("/")).map_or(Lookup::Unknown, |root| resolve(&root, path));
    }
    let host_root = matches!(config.rootfs.0, RootfsKind::Host);
    let fresh: &[&str] = if host_root {
        &["/proc", "/sys", "/dev", "/tmp", "/run"]
    } else {
        &["/proc", "/sys", "/dev"]
    };
    let mount = config.mounts.iter().rev().find(|m| path.starts_with(&m.target));
    let Some(mount) = mount else {
        let hidden = host_root && config.hidden_host_paths.iter().any(|h| path.starts_with(h));
        if hidden || fresh.iter().any(|f| path.starts_with(f)) {
            return Lookup::Unknown;
        }
        let root = match &config.rootfs.0 {
            RootfsKind::Host => Path::new("/"),
            RootfsKind::Dir(dir) => dir.as_path(),
            // The merged view exists only in the container's mount namespace.
            RootfsKind::Overlay(_) => return Lookup::Unknown,
        };
        return open_dir(root).map_or(Lookup::Unknown, |root| resolve(&root, path));
    };
    let MountKind::Bind { source, .. } = &mount.kind else {
        return Lookup::Unknown;
    };
    let rest = path.strip_prefix(&mount.target).unwrap_or(Path::new(""));
    if rest.as_os_str().is_empty() {
        // The bind's own root: a file or a directory.
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC;
        return match nix::fcntl::open(source.as_path(), flags, nix::sys::stat::Mode::empty()) {
            Ok(fd) => Lookup::Found(fd),
            Err(e) => missing_or_unknown(e),
        };
    }
    open_dir(source).map_or(Lookup::Unknown, |dir| resolve(&dir, &Path::new("/").join(rest)))
}

fn open_dir(path: &Path) -> Option<OwnedFd> {
    let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
    nix::fcntl::open(path, flags, nix::sys::stat::Mode::empty()).ok()
}

/// `path` resolved inside `root`, as the kernel would inside a process whose root it is.
fn resolve(root: &OwnedFd, path: &Path) -> Lookup {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return Lookup::Unknown;
    };
    match crate::sys::openat2(root.as_raw_fd(), &c_path, libc::O_PATH, RESOLVE) {
        // SAFETY: openat2 returned a new fd that nothing else owns.
        Ok(fd) => Lookup::Found(unsafe { OwnedFd::from_raw_fd(fd) }),
        Err(e) => missing_or_unknown(e),
    }
}

fn missing_or_unknown(e: Errno) -> Lookup {
    match e {
        Errno::ENOENT | Errno::ENOTDIR => Lookup::Missing,
        _ => Lookup::Unknown,
    }
}

/// `path` made absolute against the container's working directory `cwd`.
pub(super) fn in_container(cwd: &Path, path: &Path) -> PathBuf {
    match path.is_absolute() {
        true => path.to_path_buf(),
        false => cwd.join(path),
    }
}
