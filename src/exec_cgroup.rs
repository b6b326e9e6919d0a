//! Where an exec's setup process goes in the cgroup trees: the container's cgroups, or
//! sub-cgroups of them ([`ExecBuilder::cgroup`](crate::ExecBuilder::cgroup), runc's
//! `exec --cgroup`), and the CPUs it runs on before and after it joins them
//! ([`ExecBuilder::cpu_affinity`](crate::ExecBuilder::cpu_affinity)).
//!
//! A container with a writable cgroup mount owns the tree below its cgroup: a sub-cgroup path
//! is checked for `..` here and opened beneath the container's directory fd without following
//! symlinks or crossing mounts, so it cannot name a cgroup outside the container's.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::cgroup::{Cgroup, CgroupError, Controller};
use crate::error::{ConfigError, Error, Setting};
use crate::exec::ExecSettings;
use crate::numa::Mask;
use nix::errno::Errno;

/// What the setup process does to join the exec's cgroups (`Plan::for_exec`).
#[derive(Default)]
pub(crate) struct Joins {
    /// `(fd, path)`: each v1 `tasks`, and v2 `cgroup.procs` unless cloned into it.
    pub files: Vec<(OwnedFd, PathBuf)>,
    /// Its CPUs before the join and after it (`ExecBuilder::cpu_affinity`).
    pub initial_cpus: Option<Box<Mask>>,
    pub final_cpus: Option<Box<Mask>>,
}

/// The files the setup process writes itself into, and the v2 directory it is cloned into.
pub(crate) struct ExecCgroups {
    pub joins: Joins,
    /// The v2 directory for `CLONE_INTO_CGROUP` (an fd of `dirs`, or the container's).
    pub clone_into: Option<RawFd>,
    /// Directories opened here, kept open as long as `clone_into` may name one.
    _dirs: Vec<OwnedFd>,
}

/// The exec's cgroups in `cgroup` (the container's), with its sub-cgroups (`None`: every
/// hierarchy, else the v1 one holding that controller) resolved beneath it, and its CPU
/// masks; `clone3`: the setup process can be cloned into the v2 directory, which it is unless
/// it must run on its initial CPUs before it joins.
pub(crate) fn resolve(cgroup: Option<&Cgroup>, exec: &ExecSettings, clone3: bool) -> Result<ExecCgroups, Error> {
    let mask = |list: &Option<String>| -> Result<Option<Box<Mask>>, ConfigError> {
        let Some(list) = list else { return Ok(None) };
        match crate::numa::mask_of(list) {
            Some(mask) if mask.iter().any(|w| *w != 0) => Ok(Some(Box::new(mask))),
            _ => Err(ConfigError::Malformed {
                setting: Setting::ExecCpuAffinity,
                value: list.clone(),
                expected: "a non-empty CPU list like \"0-3,5\" (CPUs below 1024)",
            }),
        }
    };
    let initial_cpus = mask(&exec.initial_cpus)?;
    // Once joined: the final CPUs; without them the kernel's choice (the runtime spec).
    let final_cpus = mask(&exec.final_cpus)?;
    let born_in_v2 = clone3 && initial_cpus.is_none();
    let mut out = placement(cgroup, &exec.cgroups, born_in_v2)?;
    out.joins.initial_cpus = initial_cpus;
    out.joins.final_cpus = final_cpus;
    Ok(out)
}

fn placement(
    cgroup: Option<&Cgroup>,
    subs: &[(Option<Controller>, PathBuf)],
    born_in_v2: bool,
) -> Result<ExecCgroups, CgroupError> {
    let Some(cgroup) = cgroup else {
        if let Some((_, path)) = subs.first() {
            return Err(refused(path, "the container has no cgroup to run an exec below"));
        }
        return Ok(ExecCgroups {
            joins: Joins::default(),
            clone_into: None,
            _dirs: Vec::new(),
        });
    };
    if subs.is_empty() {
        return Ok(ExecCgroups {
            joins: Joins {
                files: cgroup.join_files(born_in_v2)?,
                ..Joins::default()
            },
            clone_into: cgroup.clone_into_fd().filter(|_| born_in_v2),
            _dirs: Vec::new(),
        });
    }
    let all = subs.iter().find(|(c, _)| c.is_none()).map(|(_, p)| p.as_path());
    let (v1, v2) = cgroup.own_dirs();
    for (controller, path) in subs {
        if let Some(controller) = controller
            && !v1.iter().any(|(_, held)| held.contains(controller))
        {
            let why = format!("unknown controller {controller}: the container has no v1 cgroup of it");
            return Err(refused(path, &why));
        }
    }
    let mut out = ExecCgroups {
        joins: Joins::default(),
        clone_into: None,
        _dirs: Vec::new(),
    };
    for (dir, held) in v1 {
        let named = subs
            .iter()
            .find(|(c, _)| c.is_some_and(|c| held.contains(&c)))
            .map(|(_, p)| p.as_path());
        let sub = named.or(all).unwrap_or(Path::new(""));
        let (fd, path) = open_below(dir, sub)?;
        if held.contains(&Controller::Freezer) {
            refuse_frozen(&fd, &path, c"freezer.state", |state| state.trim() != "THAWED")?;
        }
        out.joins.files.push(open_file(&fd, &path, c"tasks")?);
    }
    if let Some(dir) = v2 {
        let (fd, path) = open_below(dir, all.unwrap_or(Path::new("")))?;
        refuse_frozen(&fd, &path, c"cgroup.events", |events| {
            events.lines().any(|l| l.trim() == "frozen 1")
        })?;
        if born_in_v2 {
            out.clone_into = Some(fd.as_raw_fd());
        } else {
            out.joins.files.push(open_file(&fd, &path, c"cgroup.procs")?);
        }
        out._dirs.push(fd);
    }
    Ok(out)
}

/// Refuses a sub-cgroup the container froze (`frozen` says so of `file`'s text): the setup
/// process would stop there and the caller wait for it. A freeze after this check still
/// holds the exec, as one of the container's own cgroup would.
fn refuse_frozen(
    dir: &OwnedFd,
    path: &Path,
    file: &std::ffi::CStr,
    frozen: impl Fn(&str) -> bool,
) -> Result<(), CgroupError> {
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let Ok(fd) = crate::sys::openat(dir.as_raw_fd(), file, flags, 0) else {
        return Ok(());
    };
    // SAFETY: openat returned a new fd that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut text = [0u8; 256];
    let got = crate::sys::read_full(fd.as_raw_fd(), &mut text).unwrap_or(0);
    match frozen(&String::from_utf8_lossy(&text[..got])) {
        true => Err(refused(path, "is frozen: an exec there would never run")),
        false => Ok(()),
    }
}

fn refused(path: &Path, why: &str) -> CgroupError {
    CgroupError::Refused {
        path: path.to_owned(),
        why: why.to_owned(),
    }
}

/// The names of `sub` below its cgroup: a leading `/` is the cgroup itself, `.` is skipped,
/// and `..` refused (runc: "not a sub cgroup path").
fn components(sub: &Path) -> Result<Vec<CString>, CgroupError> {
    let mut names = Vec::new();
    for component in sub.components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => {
                names.push(CString::new(name.as_bytes()).map_err(|_| refused(sub, "contains a NUL byte"))?)
            }
            Component::ParentDir | Component::Prefix(_) => {
                return Err(refused(
                    sub,
                    "is not a sub-cgroup path: '..' leaves the container's cgroup",
                ));
            }
        }
    }
    Ok(names)
}

/// Opens `dir/sub` (a directory) beneath `dir`: openat2 with `RESOLVE_BENEATH`, no symlinks,
/// no mount crossing; without openat2, one `O_NOFOLLOW` component at a time (the names hold
/// no `..`).
fn open_below(dir: &Path, sub: &Path) -> Result<(OwnedFd, PathBuf), CgroupError> {
    let names = components(sub)?;
    let path = names.iter().fold(dir.to_path_buf(), |p, n| {
        p.join(std::ffi::OsStr::from_bytes(n.as_bytes()))
    });
    let io = |e: Errno| CgroupError::Io {
        action: "open the exec's cgroup".into(),
        path: path.clone(),
        source: std::io::Error::from_raw_os_error(e as i32),
    };
    let root = CString::new(dir.as_os_str().as_bytes()).map_err(|_| refused(dir, "contains a NUL byte"))?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    let top = crate::sys::openat(libc::AT_FDCWD, &root, flags, 0).map_err(io)?;
    // SAFETY: openat returned a new fd that nothing else owns.
    let top = unsafe { OwnedFd::from_raw_fd(top) };
    if names.is_empty() {
        return Ok((top, path));
    }
    let joined = CString::new(sub_bytes(&names)).expect("names hold no NUL");
    let resolve =
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
    match crate::sys::openat2(top.as_raw_fd(), &joined, flags, resolve) {
        // SAFETY: openat2 returned a new fd that nothing else owns.
        Ok(fd) => Ok((unsafe { OwnedFd::from_raw_fd(fd) }, path)),
        Err(Errno::ENOSYS) => {
            let mut at = top;
            for name in &names {
                let fd = crate::sys::openat(at.as_raw_fd(), name, flags | libc::O_NOFOLLOW, 0).map_err(io)?;
                // SAFETY: openat returned a new fd that nothing else owns.
                at = unsafe { OwnedFd::from_raw_fd(fd) };
            }
            Ok((at, path))
        }
        Err(e) => Err(io(e)),
    }
}

fn sub_bytes(names: &[CString]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(name.as_bytes());
    }
    out
}

/// Opens `name` in the directory `dir` for writing (a regular file, no symlink): the kernel
/// checks the opener's credentials when the setup process writes to it.
fn open_file(dir: &OwnedFd, dir_path: &Path, name: &std::ffi::CStr) -> Result<(OwnedFd, PathBuf), CgroupError> {
    let path = dir_path.join(std::ffi::OsStr::from_bytes(name.to_bytes()));
    let flags = libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = crate::sys::openat(dir.as_raw_fd(), name, flags, 0).map_err(|e| CgroupError::Io {
        action: "open".into(),
        path: path.clone(),
        source: std::io::Error::from_raw_os_error(e as i32),
    })?;
    // SAFETY: openat returned a new fd that nothing else owns.
    Ok((unsafe { OwnedFd::from_raw_fd(fd) }, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_components_are_refused() {
        assert!(components(Path::new("../other")).is_err());
        assert!(components(Path::new("a/../../b")).is_err());
        assert!(components(Path::new("a/..")).is_err());
    }

    #[test]
    fn leading_slash_and_dots_stay_below() {
        let names = |p: &str| components(Path::new(p)).unwrap();
        assert_eq!(names("/a/./b"), vec![c"a".to_owned(), c"b".to_owned()]);
        assert!(names("/").is_empty());
        assert!(names("").is_empty());
    }
}
