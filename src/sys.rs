//! Thin wrappers over the raw syscalls nsbox makes.
//!
//! Everything here may run in the child between clone and exec: no allocation, no locks, no
//! panics; failures come back as the errno. That child may share the parent's memory and,
//! without CLONE_SETTLS, the parent thread's TLS (CLONE_VM, as posix_spawn does), so nothing
//! here may touch a thread-local: not even `errno`, which every glibc wrapper writes on
//! failure. Hence only raw syscalls (the `syscalls` crate's inline asm), whose error comes back
//! in the return value. Raw syscalls also skip what glibc's wrappers add: the setuid family
//! broadcasting to threads that do not exist in the child, `fork` running atfork handlers that
//! take locks.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_char, c_int, c_uint, c_ulong};
use nix::errno::Errno;
use syscalls::{Sysno, raw_syscall, syscall};

pub type SysResult<T> = Result<T, Errno>;

/// The kernel's sigset_t: _NSIG / 8 bytes (glibc's is 128).
const SIGSET_SIZE: usize = 8;

/// Every signal but glibc's reserved 32 and 33 (SIGCANCEL, SIGSETXID), as sigfillset(3) fills.
const ALL_SIGNALS: u64 = !((1 << (32 - 1)) | (1 << (33 - 1)));

/// `fstatat(2)` under its per-architecture name (the kernel's `struct stat`, which glibc's
/// matches on 64-bit architectures).
#[cfg(target_arch = "x86_64")]
const SYS_FSTATAT: Sysno = Sysno::newfstatat;
#[cfg(not(target_arch = "x86_64"))]
const SYS_FSTATAT: Sysno = Sysno::fstatat;

/// A raw syscall's result with the kernel's errno as nix's.
fn check(ret: Result<usize, syscalls::Errno>) -> SysResult<usize> {
    ret.map_err(|e| Errno::from_raw(e.into_raw()))
}

fn opt_ptr(s: Option<&CStr>) -> *const c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd number has no memory effects; callers only close fds they own.
    let _ = unsafe { syscall!(Sysno::close, fd) };
}

/// Writes all of `buf`, retrying on EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice of buf.len() bytes.
        match check(unsafe { syscall!(Sysno::write, fd, buf.as_ptr(), buf.len()) }) {
            Ok(n) => buf = buf.get(n..).unwrap_or_default(),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads until `buf` is full or EOF; returns how many bytes arrived.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        // SAFETY: rest is a valid writable slice of rest.len() bytes.
        match check(unsafe { syscall!(Sysno::read, fd, rest.as_mut_ptr(), rest.len()) }) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub fn openat(dirfd: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    // SAFETY: path is NUL-terminated; the kernel only reads it.
    check(unsafe { syscall!(Sysno::openat, dirfd, path.as_ptr(), flags | libc::O_CLOEXEC, mode) }).map(|fd| fd as RawFd)
}

/// `openat2(2)`: resolves `path` below `dirfd` under the `resolve` restrictions.
///
/// With `RESOLVE_IN_ROOT` a walk through `..` fails with `EAGAIN` when any mount or rename
/// happened meanwhile anywhere on the system (the kernel cannot then prove the walk stayed
/// inside): other containers starting make that common, so it is retried, as openat2(2) asks.
pub fn openat2(dirfd: RawFd, path: &CStr, flags: c_int, resolve: u64) -> SysResult<RawFd> {
    /// Enough for any burst of mounts; a walk that never completes still fails.
    const ATTEMPTS: usize = 256;
    // SAFETY: open_how is plain data; zeroed is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    let mut result = Err(Errno::EAGAIN);
    for _ in 0..ATTEMPTS {
        // SAFETY: path is NUL-terminated and how points to a live open_how of the size we pass.
        result = check(unsafe {
            syscall!(
                Sysno::openat2,
                dirfd,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>()
            )
        })
        .map(|fd| fd as RawFd);
        if result != Err(Errno::EAGAIN) {
            break;
        }
    }
    result
}

pub fn mkdirat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: name is NUL-terminated.
    check(unsafe { syscall!(Sysno::mkdirat, dirfd, name.as_ptr(), mode) }).map(drop)
}

pub fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { syscall!(Sysno::symlinkat, target.as_ptr(), dirfd, name.as_ptr()) }).map(drop)
}

pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    check(unsafe {
        syscall!(
            Sysno::mount,
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data)
        )
    })
    .map(drop)
}

pub fn umount2(target: &CStr, flags: c_int) -> SysResult<()> {
    // SAFETY: target is NUL-terminated.
    check(unsafe { syscall!(Sysno::umount2, target.as_ptr(), flags) }).map(drop)
}

pub fn open_tree(dirfd: RawFd, path: &CStr, flags: c_uint) -> SysResult<RawFd> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { syscall!(Sysno::open_tree, dirfd, path.as_ptr(), flags) }).map(|fd| fd as RawFd)
}

pub fn move_mount(from: RawFd, from_path: &CStr, to: RawFd, to_path: &CStr, flags: c_uint) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated.
    check(unsafe { syscall!(Sysno::move_mount, from, from_path.as_ptr(), to, to_path.as_ptr(), flags) }).map(drop)
}

/// `fsopen(2)` flags and `fsconfig(2)` commands (not all in libc).
const FSOPEN_CLOEXEC: c_uint = 0x1;
const FSCONFIG_SET_FLAG: c_uint = 0;
const FSCONFIG_SET_STRING: c_uint = 1;
const FSCONFIG_CMD_CREATE: c_uint = 6;
const FSMOUNT_CLOEXEC: c_uint = 0x1;

/// A new, detached `fstype` mount (`fsopen`, one `fsconfig` per `(key, value)`: a string, or
/// a flag where the value is empty, as `mount(2)` parses `key` without `=`; create, `fsmount`
/// with mount attributes `attrs`): its fd, to be attached with `move_mount`.
pub fn fresh_mount(fstype: &CStr, options: &[(std::ffi::CString, std::ffi::CString)], attrs: u64) -> SysResult<RawFd> {
    let fs = fsopen(fstype)?;
    let mounted = options
        .iter()
        .try_for_each(|(key, value)| match value.is_empty() {
            true => fsconfig_flag(fs, key),
            false => fsconfig_string(fs, key, value),
        })
        .and_then(|()| fsconfig_mount(fs, attrs));
    close(fs);
    mounted
}

/// `fsopen(2)`: a filesystem context for `fstype`, to configure with [`fsconfig_string`] and
/// [`fsconfig_flag`] and mount with [`fsconfig_mount`].
pub fn fsopen(fstype: &CStr) -> SysResult<RawFd> {
    // SAFETY: fstype is NUL-terminated.
    check(unsafe { syscall!(Sysno::fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) }).map(|fd| fd as RawFd)
}

/// `fsconfig(FSCONFIG_SET_STRING)` (the kernel takes at most 256 bytes of `value`).
pub fn fsconfig_string(fs: RawFd, key: &CStr, value: &CStr) -> SysResult<()> {
    // SAFETY: key and value are NUL-terminated.
    check(unsafe {
        syscall!(
            Sysno::fsconfig,
            fs,
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0
        )
    })
    .map(drop)
}

/// `fsconfig(FSCONFIG_SET_FLAG)`.
pub fn fsconfig_flag(fs: RawFd, key: &CStr) -> SysResult<()> {
    // SAFETY: key is NUL-terminated; a flag has no value.
    check(unsafe { syscall!(Sysno::fsconfig, fs, FSCONFIG_SET_FLAG, key.as_ptr(), 0, 0) }).map(drop)
}

/// `fsconfig(FSCONFIG_CMD_CREATE)`, then `fsmount` with mount attributes `attrs`: the new
/// mount, detached.
pub fn fsconfig_mount(fs: RawFd, attrs: u64) -> SysResult<RawFd> {
    // SAFETY: no pointers.
    check(unsafe { syscall!(Sysno::fsconfig, fs, FSCONFIG_CMD_CREATE, 0, 0, 0) })?;
    // SAFETY: no pointers.
    check(unsafe { syscall!(Sysno::fsmount, fs, FSMOUNT_CLOEXEC, attrs) }).map(|fd| fd as RawFd)
}

/// `mount_setattr(MOUNT_ATTR_IDMAP | set)` on the detached mount `tree`: its files' ids shown
/// through the maps of the user namespace `userns` (parent side, before clone).
pub fn mount_setattr_idmap(tree: RawFd, set: u64, userns: RawFd) -> SysResult<()> {
    mount_setattr_idmap_with(tree, 0, set, 0, userns)
}

/// [`mount_setattr_idmap`] with `flags` (`AT_RECURSIVE`: every mount of the tree) and
/// attributes to `clear` too, in one call: an idmapped bind's maps and flags together.
pub fn mount_setattr_idmap_with(tree: RawFd, flags: c_uint, set: u64, clear: u64, userns: RawFd) -> SysResult<()> {
    // SAFETY: mount_attr is plain data; zeroed is valid.
    let mut attr: libc::mount_attr = unsafe { std::mem::zeroed() };
    attr.attr_set = set | libc::MOUNT_ATTR_IDMAP;
    attr.attr_clr = clear;
    attr.userns_fd = userns as u64;
    // SAFETY: the path is NUL-terminated; attr is live for the call and its size is passed.
    check(unsafe {
        syscall!(
            Sysno::mount_setattr,
            tree,
            c"".as_ptr(),
            flags | libc::AT_EMPTY_PATH as c_uint,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>()
        )
    })
    .map(drop)
}

pub fn mount_setattr(dirfd: RawFd, path: &CStr, flags: c_uint, set: u64, clear: u64) -> SysResult<()> {
    // SAFETY: mount_attr is plain data; zeroed is valid.
    let mut attr: libc::mount_attr = unsafe { std::mem::zeroed() };
    attr.attr_set = set;
    attr.attr_clr = clear;
    // SAFETY: path is NUL-terminated; attr is live for the call and its size is passed.
    check(unsafe {
        syscall!(
            Sysno::mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>()
        )
    })
    .map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated.
    check(unsafe { syscall!(Sysno::pivot_root, new_root.as_ptr(), put_old.as_ptr()) }).map(drop)
}

pub fn fchdir(fd: RawFd) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::fchdir, fd) }).map(drop)
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { syscall!(Sysno::chdir, path.as_ptr()) }).map(drop)
}

pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is a valid slice; the kernel reads name.len() bytes.
    check(unsafe { syscall!(Sysno::sethostname, name.as_ptr(), name.len()) }).map(drop)
}

pub fn setresuid(uid: u32) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::setresuid, uid, uid, uid) }).map(drop)
}

pub fn setresgid(gid: u32) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::setresgid, gid, gid, gid) }).map(drop)
}

pub fn setgroups(groups: &[libc::gid_t]) -> SysResult<()> {
    // SAFETY: groups is a valid slice of groups.len() gids.
    check(unsafe { syscall!(Sysno::setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

pub fn setsid() -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::setsid) }).map(drop)
}

pub fn prlimit(resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: limit is a live rlimit64; the old-limit pointer is NULL.
    check(unsafe {
        syscall!(
            Sysno::prlimit64,
            0,
            resource,
            &limit as *const libc::rlimit64,
            ptr::null_mut::<libc::rlimit64>()
        )
    })
    .map(drop)
}

/// The soft limit on `resource` (prlimit64 reading only).
fn soft_limit(resource: c_int) -> SysResult<u64> {
    let mut limit = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: the new-limit pointer is NULL; limit is a live rlimit64 the kernel fills.
    check(unsafe {
        syscall!(
            Sysno::prlimit64,
            0,
            resource,
            ptr::null::<libc::rlimit64>(),
            &mut limit as *mut libc::rlimit64
        )
    })?;
    Ok(limit.rlim_cur)
}

/// capset(2) on the calling thread, version 3 (64-bit sets).
pub fn capset(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: c_int,
    }
    #[repr(C)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let header = Header {
        version: 0x2008_0522,
        pid: 0,
    };
    let half = |set: u64, high: bool| if high { (set >> 32) as u32 } else { set as u32 };
    let data = [false, true].map(|high| Data {
        effective: half(effective, high),
        permitted: half(permitted, high),
        inheritable: half(inheritable, high),
    });
    // SAFETY: header and data are live, correctly laid out for _LINUX_CAPABILITY_VERSION_3.
    check(unsafe { syscall!(Sysno::capset, &header as *const Header, data.as_ptr()) }).map(drop)
}

/// prctl with two integer arguments (PR_CAPBSET_DROP, PR_CAP_AMBIENT).
pub fn prctl2(option: c_int, arg2: c_ulong, arg3: c_ulong) -> SysResult<()> {
    // SAFETY: the options used take integer arguments only.
    check(unsafe { syscall!(Sysno::prctl, option, arg2, arg3, 0, 0) }).map(drop)
}

/// Loads a seccomp BPF program for the calling thread, with its `SECCOMP_FILTER_FLAG_*` bits.
pub fn seccomp_load(program: &crate::security::Program) -> SysResult<()> {
    load_filter(
        program.as_ptr() as *const libc::sock_filter,
        program.len(),
        program.flags(),
    )
}

/// Loads one of the fixed filters of nsbox-init and nsbox-connect.
pub fn seccomp_load_fixed(filter: &crate::pid1::confinement::Filter) -> SysResult<()> {
    let insns = filter.insns.get(..filter.len).ok_or(Errno::EINVAL)?;
    load_filter(insns.as_ptr() as *const libc::sock_filter, insns.len(), 0)
}

/// `seccomp(SECCOMP_SET_MODE_FILTER)` of `len` instructions at `program`, which must have the
/// kernel's sock_filter layout and stay alive for the call.
fn load_filter(program: *const libc::sock_filter, len: usize, flags: u32) -> SysResult<()> {
    let fprog = libc::sock_fprog {
        len: len.min(u16::MAX as usize) as u16,
        filter: program as *mut libc::sock_filter,
    };
    // SAFETY: as the callers promise; fprog lives for the call.
    check(unsafe {
        syscall!(
            Sysno::seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            flags,
            &fprog as *const libc::sock_fprog
        )
    })
    .map(drop)
}

/// Whether the working directory is reachable from the root: the kernel's getcwd prefixes an
/// unreachable one with "(unreachable)" (CVE-2024-21626: a cwd on a leaked host fd).
pub fn cwd_is_inside_root() -> SysResult<bool> {
    let mut buf = [0u8; 4096];
    // SAFETY: buf is a valid writable buffer of its length.
    check(unsafe { syscall!(Sysno::getcwd, buf.as_mut_ptr(), buf.len()) })?;
    Ok(buf.first() == Some(&b'/'))
}

/// `fstatat(2)`: the kernel's stat of `name` below `dir`.
fn stat_at(dir: RawFd, name: &CStr, flags: c_int) -> SysResult<libc::stat> {
    // SAFETY: stat is plain data filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: name is NUL-terminated; st is a valid out-pointer of the kernel's struct stat.
    check(unsafe { syscall!(SYS_FSTATAT, dir, name.as_ptr(), &mut st as *mut libc::stat, flags) })?;
    Ok(st)
}

/// `stat(2)` of a path (followed), for the start gate's lookup.
pub fn stat_path(path: &CStr) -> SysResult<libc::stat> {
    stat_at(libc::AT_FDCWD, path, 0)
}

/// `faccessat2(2)` with `AT_EACCESS`: whether this process's effective ids and capabilities
/// allow `mode` on `path`. Falls back to `faccessat` (real ids, which the setup process has
/// made equal to the effective ones) where faccessat2 is missing (before Linux 5.8).
pub fn access_as_effective(path: &CStr, mode: c_int) -> SysResult<()> {
    // SAFETY: path is NUL-terminated; no other pointers.
    match check(unsafe { syscall!(Sysno::faccessat2, libc::AT_FDCWD, path.as_ptr(), mode, libc::AT_EACCESS) }) {
        Err(Errno::ENOSYS) => {
            // SAFETY: as above.
            check(unsafe { syscall!(Sysno::faccessat, libc::AT_FDCWD, path.as_ptr(), mode) }).map(drop)
        }
        other => other.map(drop),
    }
}

/// Whether `name` below `dir` is a symlink (not followed).
pub fn is_symlink_at(dir: RawFd, name: &CStr) -> bool {
    stat_at(dir, name, libc::AT_SYMLINK_NOFOLLOW).is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// `lstat(2)`: `path` itself, a final symlink not followed; `Ok(None)` if nothing is there.
pub fn lstat(path: &CStr) -> SysResult<Option<libc::stat>> {
    match stat_at(libc::AT_FDCWD, path, libc::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `fstatat(name, AT_SYMLINK_NOFOLLOW)` below `dir`: the entry itself, a symlink not followed.
pub fn lstat_at(dir: RawFd, name: &CStr) -> SysResult<libc::stat> {
    stat_at(dir, name, libc::AT_SYMLINK_NOFOLLOW)
}

/// `fstat(2)`.
pub fn fstat(fd: RawFd) -> SysResult<libc::stat> {
    stat_at(fd, c"", libc::AT_EMPTY_PATH)
}

/// `fchmod(2)` (not on an `O_PATH` fd).
pub fn fchmod(fd: RawFd, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: no pointers.
    check(unsafe { syscall!(Sysno::fchmod, fd, mode) }).map(drop)
}

/// `fchown(2)` (not on an `O_PATH` fd).
pub fn fchown(fd: RawFd, uid: libc::uid_t, gid: libc::gid_t) -> SysResult<()> {
    // SAFETY: no pointers.
    check(unsafe { syscall!(Sysno::fchown, fd, uid, gid) }).map(drop)
}

/// `fsetxattr(2)` of `name` to `value` on the open `fd` (not an `O_PATH` fd).
pub fn fsetxattr(fd: RawFd, name: &CStr, value: &[u8]) -> SysResult<()> {
    // SAFETY: name is NUL-terminated; value is readable for its length.
    check(unsafe { syscall!(Sysno::fsetxattr, fd, name.as_ptr(), value.as_ptr(), value.len(), 0) }).map(drop)
}

/// `getdents64(2)` into `buf`: the number of bytes of `linux_dirent64` records, 0 at the end.
pub fn getdents64(fd: RawFd, buf: &mut [u64]) -> SysResult<usize> {
    let len = std::mem::size_of_val(buf);
    // SAFETY: buf is a valid writable buffer of len bytes, 8-byte aligned as the records are.
    check(unsafe { syscall!(Sysno::getdents64, fd, buf.as_mut_ptr(), len) })
}

/// `readlinkat(2)` of `name` below `dir` into `buf`, NUL-terminated: the link's text, or
/// ENAMETOOLONG if it does not fit with its NUL.
pub fn readlinkat<'a>(dir: RawFd, name: &CStr, buf: &'a mut [u8]) -> SysResult<&'a CStr> {
    let room = buf.len().saturating_sub(1);
    // SAFETY: name is NUL-terminated; buf is writable for room bytes.
    let n = check(unsafe { syscall!(Sysno::readlinkat, dir, name.as_ptr(), buf.as_mut_ptr(), room) })?;
    if n >= room {
        return Err(Errno::ENAMETOOLONG);
    }
    let text = buf.get_mut(..=n).ok_or(Errno::ENAMETOOLONG)?;
    if let Some(last) = text.last_mut() {
        *last = 0;
    }
    CStr::from_bytes_with_nul(text).map_err(|_| Errno::EINVAL)
}

pub fn fstat_mode(fd: RawFd) -> SysResult<libc::mode_t> {
    // SAFETY: stat is plain data filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out-pointer of the kernel's struct stat.
    check(unsafe { syscall!(Sysno::fstat, fd, &mut st as *mut libc::stat) })?;
    Ok(st.st_mode)
}

/// `landlock_create_ruleset` for filesystem rights `handled`.
pub fn landlock_create_ruleset(handled: u64) -> SysResult<RawFd> {
    let attr: [u64; 1] = [handled];
    // SAFETY: attr is a live struct landlock_ruleset_attr (handled_access_fs only, size 8).
    check(unsafe { syscall!(Sysno::landlock_create_ruleset, attr.as_ptr(), 8usize, 0u32) }).map(|fd| fd as RawFd)
}

/// `landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH)`: `rights` below the file or directory `fd`.
pub fn landlock_add_path_rule(ruleset: RawFd, fd: RawFd, rights: u64) -> SysResult<()> {
    // struct landlock_path_beneath_attr { u64 allowed_access; s32 parent_fd; } __packed
    let mut attr = [0u8; 12];
    let (access, parent) = attr.split_at_mut(8);
    access.copy_from_slice(&rights.to_ne_bytes());
    parent.copy_from_slice(&fd.to_ne_bytes());
    // SAFETY: attr is a live packed landlock_path_beneath_attr.
    check(unsafe { syscall!(Sysno::landlock_add_rule, ruleset, 1u32, attr.as_ptr(), 0u32) }).map(drop)
}

pub fn landlock_restrict_self(ruleset: RawFd) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::landlock_restrict_self, ruleset, 0u32) }).map(drop)
}

pub fn unshare(flags: c_int) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::unshare, flags) }).map(drop)
}

pub fn prctl(option: c_int, arg: c_ulong) -> SysResult<()> {
    // SAFETY: the options used take integer arguments only.
    check(unsafe { syscall!(Sysno::prctl, option, arg, 0, 0, 0) }).map(drop)
}

fn fcntl(fd: RawFd, cmd: c_int, arg: c_int) -> SysResult<c_int> {
    // SAFETY: the commands used take integer arguments only.
    check(unsafe { syscall!(Sysno::fcntl, fd, cmd, arg) }).map(|r| r as c_int)
}

pub fn dup2(from: RawFd, to: RawFd) -> SysResult<()> {
    if from == to {
        // dup2 onto itself would keep O_CLOEXEC: clear it instead.
        return fcntl(from, libc::F_SETFD, 0).map(drop);
    }
    // dup3 without flags is dup2 for distinct fds (and aarch64 has no dup2 syscall).
    dup3(from, to, false)
}

pub fn set_cloexec(fd: RawFd, on: bool) -> SysResult<()> {
    fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 }).map(drop)
}

/// A copy of `fd` at the lowest free number from `min` up.
pub fn dup_above(fd: RawFd, min: RawFd, cloexec: bool) -> SysResult<RawFd> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    fcntl(fd, cmd, min)
}

pub fn dup3(from: RawFd, to: RawFd, cloexec: bool) -> SysResult<()> {
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::dup3, from, to, flags) }).map(drop)
}

/// `close_range(2)` from `first` to `last`, both included.
fn close_range(first: c_uint, last: c_uint, flags: c_uint) -> SysResult<()> {
    // SAFETY: no memory is passed; callers only close fds they own.
    check(unsafe { syscall!(Sysno::close_range, first, last, flags) }).map(drop)
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: executes the file `fd` refers to.
pub fn execveat_empty_path(fd: RawFd, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings alive until
    // exec replaces the process.
    let ret = unsafe {
        syscall!(
            Sysno::execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH
        )
    };
    exec_error(ret)
}

/// Marks every fd from `first` up as close-on-exec.
pub fn cloexec_from(first: c_uint) -> SysResult<()> {
    match close_range(first, c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as c_uint) {
        Err(Errno::ENOSYS | Errno::EINVAL) => {
            // Kernels before 5.11: walk the fd table up to the soft limit (what
            // sysconf(_SC_OPEN_MAX) reports).
            let max = soft_limit(libc::RLIMIT_NOFILE as c_int).map_or(1024, |n| n.min(1 << 20)) as c_int;
            for fd in first as c_int..max {
                // EBADF for closed fds is ignored.
                let _ = set_cloexec(fd, true);
            }
            Ok(())
        }
        r => r,
    }
}

/// Closes every fd except those in `keep` (ascending; -1 entries are ignored).
pub fn close_all_except(keep: &[RawFd]) {
    let mut first: c_uint = 0;
    for &fd in keep.iter().filter(|fd| **fd >= 0) {
        if fd as c_uint > first {
            let _ = close_range(first, fd as c_uint - 1, 0);
        }
        first = fd as c_uint + 1;
    }
    let _ = close_range(first, c_uint::MAX, 0);
}

/// Makes the pipe end `fd` non-blocking and asks for SIGIO when something happens on it (its
/// last writer closing included): the init learns that its caller is gone without polling.
pub fn watch_for_eof(fd: RawFd) -> SysResult<()> {
    fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK | libc::O_ASYNC)?;
    // SAFETY: getpid takes no memory.
    let me = unsafe { syscall!(Sysno::getpid) }.unwrap_or(0) as c_int;
    fcntl(fd, libc::F_SETOWN, me).map(drop)
}

/// Whether the non-blocking pipe end `fd` is at EOF (every writer gone).
pub fn at_eof(fd: RawFd) -> bool {
    let mut byte = [0u8; 1];
    // SAFETY: byte is a live one-byte buffer.
    matches!(unsafe { syscall!(Sysno::read, fd, byte.as_mut_ptr(), 1) }, Ok(0))
}

pub fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to NUL-terminated strings
    // owned by the plan, alive in this process until exec replaces it.
    exec_error(unsafe { syscall!(Sysno::execve, path.as_ptr(), argv.as_ptr(), envp.as_ptr()) })
}

/// The errno of an exec that returned (it only returns on failure).
fn exec_error(ret: Result<usize, syscalls::Errno>) -> Errno {
    check(ret).err().unwrap_or(Errno::UnknownErrno)
}

/// exit_group(2): no atexit handlers, no stdio flushing, which the child must not run.
pub fn exit(code: c_int) -> ! {
    loop {
        // SAFETY: no memory is passed; ends this process (a clone without CLONE_THREAD is its
        // own thread group, so the parent lives on even with CLONE_VM).
        unsafe { raw_syscall!(Sysno::exit_group, code) };
    }
}

/// fork(2) as a raw clone: no atfork handlers, no locks. Returns 0 in the child.
pub fn fork() -> SysResult<libc::pid_t> {
    // SAFETY: a clone without CLONE_VM and without a new stack behaves as fork: the child
    // continues on its copy of this stack.
    check(unsafe { syscall!(Sysno::clone, libc::SIGCHLD, 0, 0, 0, 0) }).map(|p| p as libc::pid_t)
}

/// [`fork`] into a new user namespace (`CLONE_NEWUSER`): the child is born in it.
pub fn fork_into_user_namespace() -> SysResult<libc::pid_t> {
    let flags = libc::SIGCHLD as usize | libc::CLONE_NEWUSER as usize;
    // SAFETY: as fork: no CLONE_VM, no new stack; the new user namespace changes no memory.
    check(unsafe { syscall!(Sysno::clone, flags, 0, 0, 0, 0) }).map(|p| p as libc::pid_t)
}

/// `setns(pidfd, flags)` (Linux 5.8): joins every namespace in `flags` of the process behind
/// `pidfd` at once, the user namespace first.
pub fn setns(pidfd: RawFd, flags: c_int) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { syscall!(Sysno::setns, pidfd, flags) }).map(drop)
}

pub fn kill(pid: libc::pid_t, sig: c_int) {
    // SAFETY: no memory is passed.
    let _ = unsafe { syscall!(Sysno::kill, pid, sig) };
}

/// `wait4(pid)` until it exits (EINTR retried); its wait status.
pub fn wait_for(pid: libc::pid_t) -> SysResult<c_int> {
    let mut status: c_int = 0;
    loop {
        // SAFETY: status is a valid out-pointer; the rusage pointer is NULL.
        match check(unsafe {
            syscall!(
                Sysno::wait4,
                pid,
                &mut status as *mut c_int,
                0,
                ptr::null_mut::<libc::rusage>()
            )
        }) {
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
            Ok(_) => return Ok(status),
        }
    }
}

/// `pipe2(O_CLOEXEC)`: (read end, write end).
pub fn pipe_cloexec() -> SysResult<(RawFd, RawFd)> {
    let mut fds: [c_int; 2] = [-1, -1];
    // SAFETY: fds is a valid out-array of two ints.
    check(unsafe { syscall!(Sysno::pipe2, fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// `alarm(2)`: SIGALRM in `seconds` (kept across execve).
pub fn alarm(seconds: u32) {
    // SAFETY: no memory is passed.
    let _ = unsafe { syscall!(Sysno::alarm, seconds) };
}

/// Non-blocking waitpid; `Ok(None)` when no child has changed state.
pub fn waitpid_any_nohang() -> SysResult<Option<(libc::pid_t, c_int)>> {
    let mut status: c_int = 0;
    // SAFETY: status is a valid out-pointer; the rusage pointer is NULL.
    let pid = check(unsafe {
        syscall!(
            Sysno::wait4,
            -1i32,
            &mut status as *mut c_int,
            libc::WNOHANG,
            ptr::null_mut::<libc::rusage>()
        )
    })? as libc::pid_t;
    Ok((pid > 0).then_some((pid, status)))
}

/// `rt_sigprocmask(SIG_SETMASK, mask)`.
fn set_signal_mask(mask: u64) -> SysResult<()> {
    // SAFETY: mask is a live kernel signal set of SIGSET_SIZE bytes; the old mask pointer is NULL.
    check(unsafe {
        syscall!(
            Sysno::rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask as *const u64,
            ptr::null_mut::<u64>(),
            SIGSET_SIZE
        )
    })
    .map(drop)
}

/// Blocks every signal but glibc's reserved two (the kernel ignores SIGKILL and SIGSTOP).
/// Sets this thread's signal mask to `mask` (bit n-1 for signal n, all 64 if asked, unlike
/// glibc); returns the previous one.
pub fn swap_signal_mask(mask: u64) -> SysResult<u64> {
    let mut previous: u64 = 0;
    // SAFETY: both pointers are to live u64s, the kernel's sigset size here.
    check(unsafe {
        syscall!(
            Sysno::rt_sigprocmask,
            libc::SIG_SETMASK,
            &mask as *const u64,
            &mut previous as *mut u64,
            SIGSET_SIZE
        )
    })?;
    Ok(previous)
}

/// `PR_CAPBSET_DROP` for each capability in `caps` (one call each: the kernel has no call for
/// several); a number the kernel does not know (`EINVAL`) is skipped.
pub fn drop_bounding(caps: u64) -> SysResult<()> {
    for cap in (0..64u32).filter(|cap| caps & (1u64 << cap) != 0) {
        match prctl2(libc::PR_CAPBSET_DROP, cap as c_ulong, 0) {
            Ok(()) | Err(Errno::EINVAL) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub fn block_all_signals() -> SysResult<()> {
    set_signal_mask(ALL_SIGNALS)
}

/// Waits for any signal (all are blocked); returns its number.
pub fn wait_any_signal() -> SysResult<c_int> {
    let set = ALL_SIGNALS;
    // SAFETY: siginfo_t is plain data filled by the kernel.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: set is a live kernel signal set; info is a valid out-pointer; no timeout.
    check(unsafe {
        syscall!(
            Sysno::rt_sigtimedwait,
            &set as *const u64,
            &mut info as *mut libc::siginfo_t,
            ptr::null::<libc::timespec>(),
            SIGSET_SIZE
        )
    })
    .map(|sig| sig as c_int)
}

/// Every handler back to SIG_DFL, the mask empty: exec keeps ignored signals and the mask,
/// and the caller's process may have ignored some (Rust ignores SIGPIPE). All 64, glibc's
/// reserved 32 and 33 included.
pub fn reset_signals() -> SysResult<()> {
    // The kernel's struct sigaction: handler, flags, restorer, mask (all zero = SIG_DFL, which
    // needs no restorer).
    let default = [0u64; 4];
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: default is a live kernel sigaction; the old action pointer is NULL.
            // Errors (none expected) are ignored.
            let _ = unsafe {
                syscall!(
                    Sysno::rt_sigaction,
                    sig,
                    default.as_ptr(),
                    ptr::null_mut::<u64>(),
                    SIGSET_SIZE
                )
            };
        }
    }
    set_signal_mask(0)
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> SysResult<()> {
    // SAFETY: no memory is passed.
    let sock =
        check(unsafe { syscall!(Sysno::socket, libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })? as RawFd;
    // SAFETY: ifreq is plain data; zeroed is valid; the name is copied in below.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    let result = ioctl_ifreq(sock, libc::SIOCGIFFLAGS, &mut req).and_then(|_| {
        // SAFETY: SIOCGIFFLAGS filled the union member ifru_flags.
        unsafe { req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short };
        ioctl_ifreq(sock, libc::SIOCSIFFLAGS, &mut req)
    });
    close(sock);
    result
}

/// A new pty of the devpts mounted at /dev (through /dev/ptmx): unlocked, `rows` x `cols`;
/// returns (master, slave), both close-on-exec, the slave opened without becoming anyone's
/// controlling terminal (TIOCGPTPEER: no path lookup of the slave).
pub fn open_pty(rows: u16, cols: u16) -> SysResult<(RawFd, RawFd)> {
    let master = openat(
        libc::AT_FDCWD,
        c"/dev/ptmx",
        libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        0,
    )?;
    let unlock: c_int = 0;
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSPTLCK reads an int, TIOCSWINSZ a winsize, both live; TIOCGPTPEER takes flags.
    let slave = check(unsafe { syscall!(Sysno::ioctl, master, libc::TIOCSPTLCK, &unlock as *const c_int) })
        .and_then(|_| check(unsafe { syscall!(Sysno::ioctl, master, libc::TIOCSWINSZ, &size as *const libc::winsize) }))
        .and_then(|_| {
            let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
            check(unsafe { syscall!(Sysno::ioctl, master, libc::TIOCGPTPEER, flags) })
        });
    match slave {
        Ok(slave) => Ok((master, slave as RawFd)),
        Err(e) => {
            close(master);
            Err(e)
        }
    }
}

/// Makes the terminal `fd` the controlling terminal of this session (TIOCSCTTY).
pub fn set_controlling_terminal(fd: RawFd) -> SysResult<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    check(unsafe { syscall!(Sysno::ioctl, fd, libc::TIOCSCTTY, 0) }).map(drop)
}

/// Sends `fd` over the Unix socket `socket` (SCM_RIGHTS, one byte of data), without
/// allocating: the control message is built on the stack.
pub fn send_fd(socket: RawFd, fd: RawFd) -> SysResult<()> {
    send_fds(socket, &[0], &[fd])
}

/// Sends `data` and up to [`MAX_SENT_FDS`] `fds` in one message over the Unix socket `socket`
/// (SCM_RIGHTS), without allocating: the control message is built on the stack.
pub fn send_fds(socket: RawFd, data: &[u8], fds: &[RawFd]) -> SysResult<()> {
    if fds.is_empty() || fds.len() > MAX_SENT_FDS {
        return Err(Errno::EINVAL);
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // struct cmsghdr (len, level, type) and the ints, 8-byte aligned as the kernel expects.
    let mut control = [0u64; 2 + MAX_SENT_FDS.div_ceil(2)];
    let payload = std::mem::size_of_val(fds) as u32;
    // SAFETY: msghdr is plain data; zeroed is valid; the pointers are set below.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic.
    message.msg_controllen = unsafe { libc::CMSG_SPACE(payload) } as usize;
    // SAFETY: the control buffer holds one cmsghdr and MAX_SENT_FDS ints (CMSG_SPACE of them
    // fits: 16 bytes of header, 4 per int, rounded up to 8); CMSG_FIRSTHDR points into it.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(payload) as usize;
        let data = libc::CMSG_DATA(header) as *mut c_int;
        for (i, fd) in fds.iter().enumerate() {
            std::ptr::write_unaligned(data.add(i), *fd);
        }
    }
    // SAFETY: message and everything it points to live for the call.
    check(unsafe {
        syscall!(
            Sysno::sendmsg,
            socket,
            &message as *const libc::msghdr,
            libc::MSG_NOSIGNAL
        )
    })
    .map(drop)
}

/// The most fds [`send_fds`] sends in one message.
pub const MAX_SENT_FDS: usize = 4;

fn ioctl_ifreq(sock: RawFd, request: c_ulong, req: &mut libc::ifreq) -> SysResult<()> {
    // SAFETY: req is a live ifreq, what the SIOC[GS]IF* requests read and write.
    check(unsafe { syscall!(Sysno::ioctl, sock, request, req as *mut libc::ifreq) }).map(drop)
}

/// Formats `n` in decimal into `buf` as a C string.
pub fn decimal(mut n: u64, buf: &mut [u8; 16]) -> &CStr {
    let mut digits = [0u8; 20];
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len >= buf.len() - 1 {
            break;
        }
    }
    for (slot, d) in buf.iter_mut().zip(digits.iter().take(len).rev()) {
        *slot = *d;
    }
    if let Some(end) = buf.get_mut(len) {
        *end = 0;
    }
    CStr::from_bytes_until_nul(buf).unwrap_or(c"0")
}

/// Formats `/proc/self/fd/<fd>` into `buf` and returns it as a C string.
pub fn proc_fd_path(fd: RawFd, buf: &mut [u8; 32]) -> &CStr {
    const PREFIX: &[u8] = b"/proc/self/fd/";
    let mut digits = [0u8; 12];
    let mut n = fd.unsigned_abs();
    let mut len = 0;
    loop {
        if let Some(d) = digits.get_mut(len) {
            *d = b'0' + (n % 10) as u8;
        }
        len += 1;
        n /= 10;
        if n == 0 || len >= digits.len() {
            break;
        }
    }
    let mut at = 0;
    for &b in PREFIX.iter().chain(digits.iter().take(len).rev()) {
        if let Some(slot) = buf.get_mut(at) {
            *slot = b;
        }
        at += 1;
    }
    if let Some(slot) = buf.get_mut(at) {
        *slot = 0;
    }
    CStr::from_bytes_until_nul(buf).unwrap_or(c"/proc/self/fd/")
}

/// `clone3(2)` without a new stack (fork-style unless `args` has `CLONE_VM`, which callers of
/// this never set): returns 0 in the child, which goes on on its copy of this stack.
pub fn clone3(args: &libc::clone_args) -> SysResult<libc::pid_t> {
    // SAFETY: `args` is a valid clone_args of the size passed; without CLONE_VM and without a
    // stack the child runs on a copy of this memory, as after fork.
    check(unsafe {
        syscall!(
            Sysno::clone3,
            args as *const libc::clone_args,
            std::mem::size_of::<libc::clone_args>()
        )
    })
    .map(|p| p as libc::pid_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_path_formats_numbers() {
        let mut buf = [0u8; 32];
        assert_eq!(proc_fd_path(0, &mut buf), c"/proc/self/fd/0");
        assert_eq!(proc_fd_path(1234567, &mut buf), c"/proc/self/fd/1234567");
    }

    #[test]
    fn failed_syscalls_leave_errno_alone() {
        Errno::set_raw(0);
        assert_eq!(
            openat(libc::AT_FDCWD, c"/nonexistent/nsbox", libc::O_RDONLY, 0),
            Err(Errno::ENOENT)
        );
        assert_eq!(dup3(-1, 100, false), Err(Errno::EBADF));
        assert_eq!(lstat(c"/nonexistent/nsbox"), Ok(None));
        assert_eq!(Errno::last_raw(), 0);
    }

    #[test]
    fn lstat_does_not_follow_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/", &link).unwrap();
        let link = std::ffi::CString::new(link.into_os_string().into_encoded_bytes()).unwrap();
        let st = lstat(&link).unwrap().unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
        assert!(is_symlink_at(libc::AT_FDCWD, &link));
        assert!(!is_symlink_at(libc::AT_FDCWD, c"/"));
    }
}
