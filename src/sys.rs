//! Thin wrappers over the raw syscalls nsbox makes.
//!
//! Everything here may run in the child between clone and exec: no allocation, no locks, no
//! panics; failures come back as the errno. Where glibc's wrapper does more than the syscall
//! (the setuid family broadcasts to threads that do not exist in the child, `fork` runs atfork
//! handlers that take locks) the raw syscall is used instead.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_char, c_int, c_long, c_uint, c_ulong, c_void};
use nix::errno::Errno;

pub type SysResult<T> = Result<T, Errno>;

fn check(ret: c_long) -> SysResult<c_long> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn check_int(ret: c_int) -> SysResult<c_int> {
    if ret < 0 { Err(Errno::last()) } else { Ok(ret) }
}

fn opt_ptr(s: Option<&CStr>) -> *const c_char {
    s.map_or(ptr::null(), CStr::as_ptr)
}

pub fn close(fd: RawFd) {
    // SAFETY: closing an fd number has no memory effects; callers only close fds they own.
    unsafe { libc::close(fd) };
}

/// Writes all of `buf`, retrying on EINTR and short writes.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid readable slice of buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match check(n as c_long) {
            Ok(n) => buf = buf.get(n as usize..).unwrap_or_default(),
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
        let n = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        match check(n as c_long) {
            Ok(0) => break,
            Ok(n) => got += n as usize,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

pub fn openat(dirfd: RawFd, path: &CStr, flags: c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    // SAFETY: path is NUL-terminated; the kernel only reads it.
    check_int(unsafe { libc::openat(dirfd, path.as_ptr(), flags | libc::O_CLOEXEC, mode as c_uint) })
}

/// `openat2(2)`: resolves `path` below `dirfd` under the `resolve` restrictions.
pub fn openat2(dirfd: RawFd, path: &CStr, flags: c_int, resolve: u64) -> SysResult<RawFd> {
    // SAFETY: open_how is plain data; zeroed is a valid value for every field.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // SAFETY: path is NUL-terminated and how points to a live open_how of the size we pass.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    check(ret).map(|fd| fd as RawFd)
}

pub fn mkdirat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: name is NUL-terminated.
    check_int(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) }).map(drop)
}

pub fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> SysResult<()> {
    // SAFETY: both strings are NUL-terminated.
    check_int(unsafe { libc::symlinkat(target.as_ptr(), dirfd, name.as_ptr()) }).map(drop)
}

pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    // SAFETY: every pointer is NULL or a NUL-terminated string that outlives the call.
    check_int(unsafe {
        libc::mount(
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data).cast::<c_void>(),
        )
    })
    .map(drop)
}

pub fn umount2(target: &CStr, flags: c_int) -> SysResult<()> {
    // SAFETY: target is NUL-terminated.
    check_int(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

pub fn open_tree(dirfd: RawFd, path: &CStr, flags: c_uint) -> SysResult<RawFd> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) }).map(|fd| fd as RawFd)
}

pub fn move_mount(from: RawFd, from_path: &CStr, to: RawFd, to_path: &CStr, flags: c_uint) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            from_path.as_ptr(),
            to,
            to_path.as_ptr(),
            flags,
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
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    })
    .map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) }).map(drop)
}

pub fn fchdir(fd: RawFd) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check_int(unsafe { libc::fchdir(fd) }).map(drop)
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    // SAFETY: path is NUL-terminated.
    check_int(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn sethostname(name: &[u8]) -> SysResult<()> {
    // SAFETY: name is a valid slice; the kernel reads name.len() bytes.
    check_int(unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) }).map(drop)
}

pub fn setresuid(uid: u32) -> SysResult<()> {
    // SAFETY: raw syscall, no memory passed; glibc's wrapper would signal the parent's threads.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

pub fn setresgid(gid: u32) -> SysResult<()> {
    // SAFETY: as setresuid.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

pub fn setgroups(groups: &[libc::gid_t]) -> SysResult<()> {
    // SAFETY: groups is a valid slice of groups.len() gids.
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) }).map(drop)
}

pub fn setsid() -> SysResult<()> {
    // SAFETY: no memory is passed.
    check_int(unsafe { libc::setsid() }).map(drop)
}

pub fn prlimit(resource: c_int, soft: u64, hard: u64) -> SysResult<()> {
    let limit = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: limit is a live rlimit64; the old-limit pointer is NULL.
    check(unsafe {
        libc::syscall(
            libc::SYS_prlimit64,
            0,
            resource,
            &limit as *const libc::rlimit64,
            ptr::null_mut::<libc::rlimit64>(),
        )
    })
    .map(drop)
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
    check(unsafe { libc::syscall(libc::SYS_capset, &header as *const Header, data.as_ptr()) }).map(drop)
}

/// prctl with two integer arguments (PR_CAPBSET_DROP, PR_CAP_AMBIENT).
pub fn prctl2(option: c_int, arg2: c_ulong, arg3: c_ulong) -> SysResult<()> {
    // SAFETY: the options used take integer arguments only.
    check_int(unsafe { libc::prctl(option, arg2, arg3, 0 as c_ulong, 0 as c_ulong) }).map(drop)
}

/// Loads a seccomp BPF program for the calling thread.
pub fn seccomp_load(program: &[crate::security::SockFilter]) -> SysResult<()> {
    let fprog = libc::sock_fprog {
        len: program.len().min(u16::MAX as usize) as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: SockFilter has the kernel's sock_filter layout; fprog points into `program`,
    // alive for the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    })
    .map(drop)
}

/// Whether the working directory is reachable from the root: the kernel's getcwd prefixes an
/// unreachable one with "(unreachable)" (CVE-2024-21626: a cwd on a leaked host fd).
pub fn cwd_is_inside_root() -> SysResult<bool> {
    let mut buf = [0u8; 4096];
    // SAFETY: buf is a valid writable buffer of its length.
    check(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })?;
    Ok(buf.first() == Some(&b'/'))
}

/// Whether `name` below `dir` is a symlink (not followed).
pub fn is_symlink_at(dir: RawFd, name: &CStr) -> bool {
    // SAFETY: stat is plain data filled by the kernel; name is NUL-terminated.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; st is a valid out-pointer.
    let ret = unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    ret == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

pub fn fstat_mode(fd: RawFd) -> SysResult<libc::mode_t> {
    // SAFETY: stat is plain data filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is a valid out-pointer.
    check_int(unsafe { libc::fstat(fd, &mut st) })?;
    Ok(st.st_mode)
}

/// `landlock_create_ruleset` for filesystem rights `handled`.
pub fn landlock_create_ruleset(handled: u64) -> SysResult<RawFd> {
    let attr: [u64; 1] = [handled];
    // SAFETY: attr is a live struct landlock_ruleset_attr (handled_access_fs only, size 8).
    check(unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, attr.as_ptr(), 8usize, 0u32) })
        .map(|fd| fd as RawFd)
}

/// `landlock_add_rule(LANDLOCK_RULE_PATH_BENEATH)`: `rights` below the file or directory `fd`.
pub fn landlock_add_path_rule(ruleset: RawFd, fd: RawFd, rights: u64) -> SysResult<()> {
    // struct landlock_path_beneath_attr { u64 allowed_access; s32 parent_fd; } __packed
    let mut attr = [0u8; 12];
    let (access, parent) = attr.split_at_mut(8);
    access.copy_from_slice(&rights.to_ne_bytes());
    parent.copy_from_slice(&fd.to_ne_bytes());
    // SAFETY: attr is a live packed landlock_path_beneath_attr.
    check(unsafe { libc::syscall(libc::SYS_landlock_add_rule, ruleset, 1u32, attr.as_ptr(), 0u32) }).map(drop)
}

pub fn landlock_restrict_self(ruleset: RawFd) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset, 0u32) }).map(drop)
}

pub fn unshare(flags: c_int) -> SysResult<()> {
    // SAFETY: no memory is passed.
    check_int(unsafe { libc::unshare(flags) }).map(drop)
}

pub fn prctl(option: c_int, arg: c_ulong) -> SysResult<()> {
    // SAFETY: the options used take integer arguments only.
    check_int(unsafe { libc::prctl(option, arg, 0 as c_ulong, 0 as c_ulong, 0 as c_ulong) }).map(drop)
}

pub fn dup2(from: RawFd, to: RawFd) -> SysResult<()> {
    if from == to {
        // dup2 onto itself would keep O_CLOEXEC: clear it instead.
        // SAFETY: fcntl with integer arguments.
        return check_int(unsafe { libc::fcntl(from, libc::F_SETFD, 0) }).map(drop);
    }
    // SAFETY: no memory is passed.
    check_int(unsafe { libc::dup2(from, to) }).map(drop)
}

pub fn set_cloexec(fd: RawFd, on: bool) -> SysResult<()> {
    // SAFETY: fcntl with integer arguments.
    check_int(unsafe { libc::fcntl(fd, libc::F_SETFD, if on { libc::FD_CLOEXEC } else { 0 }) }).map(drop)
}

/// A copy of `fd` at the lowest free number from `min` up.
pub fn dup_above(fd: RawFd, min: RawFd, cloexec: bool) -> SysResult<RawFd> {
    let cmd = if cloexec { libc::F_DUPFD_CLOEXEC } else { libc::F_DUPFD };
    // SAFETY: fcntl with integer arguments.
    check_int(unsafe { libc::fcntl(fd, cmd, min) })
}

pub fn dup3(from: RawFd, to: RawFd, cloexec: bool) -> SysResult<()> {
    let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: no memory is passed.
    check_int(unsafe { libc::dup3(from, to, flags) }).map(drop)
}

/// Closes every fd from `first` up.
pub fn close_from(first: RawFd) {
    // SAFETY: no memory is passed.
    unsafe { libc::syscall(libc::SYS_close_range, first as c_uint, c_uint::MAX, 0 as c_uint) };
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`: executes the file `fd` refers to.
pub fn execveat_empty_path(fd: RawFd, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings alive until
    // exec replaces the process.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Errno::last()
}

/// Marks every fd from `first` up as close-on-exec.
pub fn cloexec_from(first: c_uint) -> SysResult<()> {
    // SAFETY: no memory is passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as c_uint,
        )
    };
    match check(ret) {
        Err(Errno::ENOSYS | Errno::EINVAL) => {
            // Kernels before 5.11: walk the fd table up to the soft limit.
            // SAFETY: sysconf takes no memory.
            let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(0, 1 << 20) as c_int;
            for fd in first as c_int..max {
                // SAFETY: fcntl on an fd number; EBADF for closed ones is ignored.
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
            Ok(())
        }
        r => r.map(drop),
    }
}

/// Closes every fd except `keep`.
pub fn close_all_except(keep: RawFd) {
    // SAFETY: no memory is passed; close_range on ranges of fd numbers.
    unsafe {
        if keep > 0 {
            libc::syscall(libc::SYS_close_range, 0 as c_uint, (keep - 1) as c_uint, 0 as c_uint);
        }
        libc::syscall(libc::SYS_close_range, (keep + 1) as c_uint, c_uint::MAX, 0 as c_uint);
    }
}

pub fn execve(path: &CStr, argv: &[*const c_char], envp: &[*const c_char]) -> Errno {
    // SAFETY: argv and envp are NULL-terminated arrays of pointers to NUL-terminated strings
    // owned by the plan, alive in this process until exec replaces it.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}

pub fn exit(code: c_int) -> ! {
    // SAFETY: _exit skips atexit handlers and stdio flushing, which the child must not run.
    unsafe { libc::_exit(code) }
}

/// fork(2) as a raw clone: no atfork handlers, no locks. Returns 0 in the child.
pub fn fork() -> SysResult<libc::pid_t> {
    // SAFETY: a clone without CLONE_VM and without a new stack behaves as fork: the child
    // continues on its copy of this stack.
    check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })
    .map(|p| p as libc::pid_t)
}

pub fn kill(pid: libc::pid_t, sig: c_int) {
    // SAFETY: no memory is passed.
    unsafe { libc::kill(pid, sig) };
}

/// Non-blocking waitpid; `Ok(None)` when no child has changed state.
pub fn waitpid_any_nohang() -> SysResult<Option<(libc::pid_t, c_int)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer.
    let pid = check_int(unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) })?;
    Ok((pid > 0).then_some((pid, status)))
}

pub fn block_all_signals() -> SysResult<()> {
    // SAFETY: set is initialised by sigfillset before use.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        check_int(libc::sigprocmask(libc::SIG_SETMASK, &set, ptr::null_mut())).map(drop)
    }
}

/// Waits for any signal (all are blocked); returns its number.
pub fn wait_any_signal() -> SysResult<c_int> {
    // SAFETY: set is initialised by sigfillset; info is a valid out-pointer.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        check_int(libc::sigwaitinfo(&set, &mut info))
    }
}

/// Every handler back to SIG_DFL, the mask empty: exec keeps ignored signals and the mask,
/// and the caller's process may have ignored some (Rust ignores SIGPIPE). The raw syscall,
/// because glibc's sigaction refuses its reserved signals 32 and 33.
pub fn reset_signals() -> SysResult<()> {
    // The kernel's struct sigaction: handler, flags, restorer, mask (all zero = SIG_DFL).
    let default = [0u64; 4];
    for sig in 1..=64 {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: default is a live kernel sigaction of the size the kernel reads; the old
            // action pointer is NULL. Errors (none expected) are ignored.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    default.as_ptr(),
                    ptr::null_mut::<u64>(),
                    8usize,
                )
            };
        }
    }
    let empty = 0u64;
    // SAFETY: empty is a live 8-byte signal set; the old mask pointer is NULL.
    check(unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            ptr::null_mut::<u64>(),
            8usize,
        )
    })
    .map(drop)
}

/// Brings the loopback interface of the current network namespace up.
pub fn loopback_up() -> SysResult<()> {
    // SAFETY: socket takes no memory.
    let sock = check_int(unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: ifreq is plain data; zeroed is valid; the name is copied in below.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    // SAFETY: req is a live ifreq for both ioctls; the union member used is ifru_flags.
    let result = unsafe {
        check_int(libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req)).and_then(|_| {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            check_int(libc::ioctl(sock, libc::SIOCSIFFLAGS, &req))
        })
    };
    close(sock);
    result.map(drop)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_fd_path_formats_numbers() {
        let mut buf = [0u8; 32];
        assert_eq!(proc_fd_path(0, &mut buf), c"/proc/self/fd/0");
        assert_eq!(proc_fd_path(1234567, &mut buf), c"/proc/self/fd/1234567");
    }
}
