//! The child's half of a spawn: executing the plan's steps between clone and exec.
//!
//! This code runs in a copy of a possibly multi-threaded parent, where only the cloning
//! thread exists and any lock another thread held stays locked forever. So: no heap
//! allocation, no locks, no logging, no panics (no indexing, no unwrap), only the wrappers in
//! [`crate::sys`] on data the parent prepared. A failing step writes `(index, errno)` to the
//! error pipe and the child `_exit`s; the parent turns that back into a typed error.

mod init;

use std::ffi::CStr;
use std::os::fd::RawFd;

use nix::errno::Errno;

use crate::pid1::protocol::{self, EXIT_SETUP_FAILED};
use crate::plan::{ContainerPath, Leaf, Plan, Step};
use crate::sys::{self, SysResult};

/// What the step loop works on. The payload, forked with CLONE_VM by `ForkInit`, goes on with
/// the same context through a pointer: its parent (the init) is suspended until it execs.
pub(super) struct Context<'a> {
    steps: &'a [Step],
    slots: &'a mut [RawFd],
    error_fd: RawFd,
    clock: crate::timing::Stamper,
    /// The payload's stack (lowest address, size); null once taken.
    payload_stack: (*mut u8, usize),
    /// Where the payload, forked by `ForkInit`, goes on, and the init's fds it closes first
    /// (the status pipe, the confirmation pipe's write end).
    payload_resume: (usize, [RawFd; 2]),
    root: RawFd,
}

/// What the child needs of the plan, taken apart before clone: raw parts of the fields the
/// child reads (steps) and writes (slots), and copies of the rest. With CLONE_VM the child runs
/// on the caller's memory while the caller goes on using, and moving, the plan's other fields;
/// it never touches these until the child has executed or exited.
pub(crate) struct ChildStart {
    steps: (*const Step, usize),
    slots: (*mut RawFd, usize),
    error_fd: RawFd,
    clock: crate::timing::Stamper,
    payload_stack: (*mut u8, usize),
}

impl ChildStart {
    pub fn new(plan: &mut Plan) -> ChildStart {
        ChildStart {
            steps: (plan.steps.as_ptr(), plan.steps.len()),
            slots: (plan.slots.as_mut_ptr(), plan.slots.len()),
            error_fd: plan.error_fd,
            clock: plan.clock.stamper(),
            payload_stack: plan
                .payload_stack
                .as_ref()
                .map_or((std::ptr::null_mut(), 0), |s| s.range()),
        }
    }
}

/// The entry of a setup process cloned onto its own stack with CLONE_VM (see
/// [`crate::stack::clone3_on_stack`]): `arg` is the [`ChildStart`].
///
/// The steps touch no thread-local (errno included, see `sys`): this process runs on the
/// caller's.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) extern "C" fn run_shared(arg: *mut libc::c_void) -> ! {
    // SAFETY: spawn passes its live ChildStart, which (with the plan it points into) outlives
    // this process's use of it.
    let start = unsafe { &*(arg as *const ChildStart) };
    run(start)
}

/// Runs the plan; never returns. Called in the child right after clone.
pub(crate) fn run(start: &ChildStart) -> ! {
    start.clock.stamp(start.clock.child_start_slot());
    // SAFETY: the parts of the plan's steps and slots, alive and untouched by the parent until
    // this process has executed or exited (ChildStart); nothing else in this process uses them.
    let (steps, slots) = unsafe {
        (
            std::slice::from_raw_parts(start.steps.0, start.steps.1),
            std::slice::from_raw_parts_mut(start.slots.0, start.slots.1),
        )
    };
    let mut context = Context {
        steps,
        slots,
        error_fd: start.error_fd,
        clock: start.clock,
        payload_stack: start.payload_stack,
        payload_resume: (0, [-1, -1]),
        root: -1,
    };
    run_from(&mut context, 0)
}

/// Runs the steps from `from` on; never returns (the last step execs or the process exits).
pub(super) fn run_from(context: &mut Context<'_>, from: usize) -> ! {
    let steps = context.steps;
    for (index, step) in steps.iter().enumerate().skip(from) {
        let result = match step {
            Step::ForkInit {
                status_fd,
                ready_read,
                ready_write,
                binary,
                bounding,
                shared_memory,
            } => {
                let fds = init::InitFds {
                    status: *status_fd,
                    ready_read: *ready_read,
                    ready_write: *ready_write,
                    binary: *binary,
                };
                init::start(context, index, fds, *bounding, *shared_memory)
            }
            Step::StartConnector {
                socket,
                ready,
                binary,
                bounding,
            } => init::start_connector(context, *socket, *ready, *binary, *bounding),
            step => run_step(step, &mut context.root, context.slots),
        };
        if let Err(errno) = result {
            report(context.error_fd, index, errno);
            sys::exit(EXIT_SETUP_FAILED);
        }
        context.clock.stamp(index);
    }
    // The last step is Exec, which only returns on failure.
    sys::exit(EXIT_SETUP_FAILED)
}

/// Sends `(step index, errno)` to the parent: 8 bytes, one atomic pipe write.
pub(super) fn report(error_fd: RawFd, index: usize, errno: Errno) {
    let _ = sys::write_all(error_fd, &protocol::encode_report(index as u32, errno as i32));
}

fn slot(slots: &[RawFd], index: usize) -> SysResult<RawFd> {
    slots.get(index).copied().filter(|fd| *fd >= 0).ok_or(Errno::EBADF)
}

fn run_step(step: &Step, root: &mut RawFd, slots: &mut [RawFd]) -> SysResult<()> {
    match step {
        Step::CloseFd(fd) => {
            sys::close(*fd);
            Ok(())
        }
        Step::ParentDeathSignal(signal) => sys::prctl(libc::PR_SET_PDEATHSIG, *signal as libc::c_ulong),
        Step::WaitForParent(fd) => {
            let mut byte = [0u8; 1];
            let got = sys::read_full(*fd, &mut byte)?;
            sys::close(*fd);
            // EOF: the parent died or gave up; nothing may run.
            if got == 1 { Ok(()) } else { Err(Errno::ECANCELED) }
        }
        Step::JoinCgroup(fd) => {
            let joined = sys::write_all(*fd, b"0");
            sys::close(*fd);
            joined
        }
        Step::SetCredentials { uid, gid, groups } => {
            if let Some(groups) = groups {
                sys::setgroups(groups)?;
            }
            sys::setresgid(*gid)?;
            sys::setresuid(*uid)
        }
        Step::Unshare(flags) => sys::unshare(*flags),
        Step::NotDumpable => sys::prctl(libc::PR_SET_DUMPABLE, 0),
        Step::NoNewPrivileges => sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1),
        Step::NewSession => sys::setsid(),
        Step::SetRlimit { resource, soft, hard } => sys::prlimit(*resource, *soft, *hard),
        Step::DropBoundingSet { drop } => sys::drop_bounding(*drop),
        Step::KeepCapabilities => sys::prctl(libc::PR_SET_KEEPCAPS, 1),
        Step::SetCapabilities { set, ambient } => {
            sys::capset(*set, *set, *ambient)?;
            sys::prctl2(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong, 0)?;
            for cap in 0..64u32 {
                if ambient & (1u64 << cap) != 0 {
                    sys::prctl2(
                        libc::PR_CAP_AMBIENT,
                        libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                        cap as libc::c_ulong,
                    )?;
                }
            }
            Ok(())
        }
        Step::Seccomp(programs) => {
            for program in programs {
                sys::seccomp_load(program)?;
            }
            Ok(())
        }
        Step::PrivatePropagation => sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None),
        Step::OpenSource { path, slot, no_follow } => {
            let fd = match no_follow {
                None => sys::openat(libc::AT_FDCWD, path, libc::O_PATH, 0)?,
                Some(names) => open_source_no_follow(path, names)?,
            };
            match slots.get_mut(*slot) {
                Some(s) => *s = fd,
                None => {
                    sys::close(fd);
                    return Err(Errno::EBADF);
                }
            }
            Ok(())
        }
        Step::Stage {
            stage,
            bind_slot,
            read_only_submounts,
        } => {
            match bind_slot {
                None => sys::mount(
                    Some(c"tmpfs"),
                    stage,
                    Some(c"tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(c"mode=755"),
                )?,
                Some(index) => {
                    let tree = clone_tree(slot(slots, *index)?, true, *read_only_submounts)?;
                    if *read_only_submounts {
                        // The submounts stay read-only; the top is made so by ReadOnlyRoot,
                        // once the mount points are created.
                        let top = sys::mount_setattr(tree, c"", libc::AT_EMPTY_PATH as u32, 0, libc::MOUNT_ATTR_RDONLY);
                        if let Err(e) = top {
                            sys::close(tree);
                            return Err(e);
                        }
                    }
                    let moved = sys::move_mount(tree, c"", libc::AT_FDCWD, stage, libc::MOVE_MOUNT_F_EMPTY_PATH);
                    sys::close(tree);
                    moved?;
                }
            }
            *root = sys::openat(
                libc::AT_FDCWD,
                stage,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )?;
            Ok(())
        }
        Step::Bind {
            slot: index,
            target,
            leaf,
            recursive,
            read_only,
        } => {
            let source = slot(slots, *index)?;
            let target_fd = resolve(*root, target, target.prefixes.len(), *leaf)?;
            bind_onto(source, target_fd, *recursive, *read_only)
        }
        Step::OpenMountDir { path, slot: index } => {
            let fd = resolve(*root, path, path.prefixes.len(), Leaf::Dir)?;
            match slots.get_mut(*index) {
                Some(s) => *s = fd,
                None => {
                    sys::close(fd);
                    return Err(Errno::EBADF);
                }
            }
            Ok(())
        }
        Step::BindInto { source, dir, name } => {
            let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
            let source = slot(slots, *source)?;
            let target_fd = sys::openat(slot(slots, *dir)?, name, flags, 0o644)?;
            bind_onto(source, target_fd, false, false)
        }
        Step::MountInto {
            dir,
            name,
            fstype,
            flags,
            data,
        } => {
            let dir = slot(slots, *dir)?;
            create(dir, name, false)?;
            let target_fd = sys::openat(dir, name, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)?;
            mount_fresh_on(target_fd, fstype, *flags, data.as_deref())
        }
        Step::SymlinkInto { dir, name, link } => sys::symlinkat(link, slot(slots, *dir)?, name),
        Step::Mount {
            fstype,
            target,
            flags,
            data,
        } => {
            let target_fd = resolve(*root, target, target.prefixes.len(), Leaf::Dir)?;
            mount_fresh_on(target_fd, fstype, *flags, data.as_deref())
        }
        Step::Symlink { link, path } => {
            let depth = path.prefixes.len().saturating_sub(1);
            let parent = if depth == 0 {
                *root
            } else {
                resolve(*root, path, depth, Leaf::Dir)?
            };
            let result = match path.names.last() {
                Some(name) => sys::symlinkat(link, parent, name),
                None => Err(Errno::EINVAL),
            };
            if parent != *root {
                sys::close(parent);
            }
            result
        }
        Step::ReadOnlyMount(index) => sys::mount_setattr(
            slot(slots, *index)?,
            c"",
            libc::AT_EMPTY_PATH as u32,
            libc::MOUNT_ATTR_RDONLY,
            0,
        ),
        Step::ReadOnlyRoot => sys::mount_setattr(*root, c"", libc::AT_EMPTY_PATH as u32, libc::MOUNT_ATTR_RDONLY, 0),
        Step::PivotRoot => {
            // pivot_root(".", ".") stacks the old root on the new one; detaching "." then
            // removes the old root without needing a directory for it (runc, lxc).
            sys::fchdir(*root)?;
            sys::pivot_root(c".", c".")?;
            sys::umount2(c".", libc::MNT_DETACH)?;
            sys::close(*root);
            *root = -1;
            sys::chdir(c"/")
        }
        Step::CheckDevNull => check_dev_null(),
        Step::MaskPath { path, dir } => mask(path, *dir),
        Step::ReadOnlyPath(path) => match sys::mount(Some(path), path, None, libc::MS_BIND | libc::MS_REC, None) {
            Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => sys::mount_setattr(
                libc::AT_FDCWD,
                path,
                libc::AT_RECURSIVE as u32,
                libc::MOUNT_ATTR_RDONLY,
                0,
            ),
        },
        Step::SetHostname(name) => sys::sethostname(name.as_bytes()),
        Step::LoopbackUp => sys::loopback_up(),
        Step::Chdir(dir) => {
            sys::chdir(dir)?;
            if sys::cwd_is_inside_root()? {
                Ok(())
            } else {
                Err(Errno::EPERM)
            }
        }
        Step::Dup { from, to } => sys::dup2(*from, *to),
        Step::CloseOtherFds => sys::cloexec_from(3),
        Step::BlockSignals => sys::block_all_signals(),
        // Handled by `run_from`, which has the context they need.
        Step::ForkInit { .. } | Step::StartConnector { .. } => Err(Errno::EINVAL),
        Step::ResetSignals => sys::reset_signals(),
        Step::LandlockRuleset { handled, at } => {
            let ruleset = sys::landlock_create_ruleset(*handled)?;
            let moved = sys::dup3(ruleset, *at, false);
            sys::close(ruleset);
            moved
        }
        Step::LandlockRule { path, access, ruleset } => {
            let fd = sys::openat(libc::AT_FDCWD, path, libc::O_PATH, 0)?;
            let is_dir = sys::fstat_mode(fd).map(|m| m & libc::S_IFMT == libc::S_IFDIR);
            let result = is_dir.and_then(|dir| {
                let rights = if dir {
                    *access
                } else {
                    access & crate::security::landlock::access::FILE
                };
                sys::landlock_add_path_rule(*ruleset, fd, rights)
            });
            sys::close(fd);
            result
        }
        Step::Exec {
            candidates,
            argv,
            envp,
            launcher,
            error_fd,
            landlock_fd,
            ready_fd,
        } => {
            if let Some((binary, launcher_argv)) = launcher {
                // The launcher reports its own failure on the error pipe, so it must inherit it;
                // it sets close-on-exec again before executing the payload. It also inherits the
                // confirmation pipe it waits on.
                let inherit = sys::set_cloexec(*error_fd, false).and_then(|()| {
                    if *ready_fd >= 0 {
                        sys::set_cloexec(*ready_fd, false)
                    } else {
                        Ok(())
                    }
                });
                let errno = match inherit {
                    Ok(()) => sys::execveat_empty_path(*binary, launcher_argv, envp),
                    Err(e) => e,
                };
                if *ready_fd >= 0 {
                    return Err(errno);
                }
                let _ = sys::set_cloexec(*error_fd, true);
            }
            if *landlock_fd >= 0 {
                sys::landlock_restrict_self(*landlock_fd)?;
            }
            Err(exec(candidates, argv, envp))
        }
    }
}

/// Binds a copy of the tree at `source` onto the resolved `target_fd` (closed here), made
/// read-only before it is attached when asked.
fn bind_onto(source: RawFd, target_fd: RawFd, recursive: bool, read_only: bool) -> SysResult<()> {
    let result = clone_tree(source, recursive, read_only).and_then(|tree| {
        let flags = libc::MOVE_MOUNT_F_EMPTY_PATH | libc::MOVE_MOUNT_T_EMPTY_PATH;
        let moved = sys::move_mount(tree, c"", target_fd, c"", flags);
        sys::close(tree);
        moved
    });
    sys::close(target_fd);
    result
}

/// Mounts a fresh `fstype` on the resolved `target_fd` (closed here), through
/// `/proc/self/fd/N`: a component swapped after resolution cannot redirect it.
fn mount_fresh_on(target_fd: RawFd, fstype: &CStr, flags: libc::c_ulong, data: Option<&CStr>) -> SysResult<()> {
    let mut buf = [0u8; 32];
    let result = sys::mount(
        Some(fstype),
        sys::proc_fd_path(target_fd, &mut buf),
        Some(fstype),
        flags,
        data,
    );
    sys::close(target_fd);
    result
}

/// A detached copy of the mount tree at `source` (`open_tree(OPEN_TREE_CLONE)`), made
/// read-only before it is attached anywhere, so it is never writable in the container.
fn clone_tree(source: RawFd, recursive: bool, read_only: bool) -> SysResult<RawFd> {
    let recursive_flag = if recursive { libc::AT_RECURSIVE as u32 } else { 0 };
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_EMPTY_PATH as u32 | recursive_flag;
    let tree = sys::open_tree(source, c"", flags)?;
    if read_only
        && let Err(e) = sys::mount_setattr(
            tree,
            c"",
            libc::AT_EMPTY_PATH as u32 | recursive_flag,
            libc::MOUNT_ATTR_RDONLY,
            0,
        )
    {
        sys::close(tree);
        return Err(e);
    }
    Ok(tree)
}

/// Resolves the first `depth` components of `path` under `root` with openat2, creating
/// missing ones (directories, or an empty file for a `File` leaf) inside the directory the
/// previous component resolved to: nothing is ever created through a symlink or outside the
/// root. Returns an O_PATH fd of the last component.
fn resolve(root: RawFd, path: &ContainerPath, depth: usize, leaf: Leaf) -> SysResult<RawFd> {
    let mut current = root;
    for (i, (prefix, name)) in path.prefixes.iter().zip(&path.names).take(depth).enumerate() {
        let last = i + 1 == depth;
        let file_leaf = last && leaf == Leaf::File;
        let flags = libc::O_PATH | if file_leaf { 0 } else { libc::O_DIRECTORY };
        let open = || match sys::openat2(root, prefix, flags, path.resolve) {
            Err(Errno::ENOSYS) => open_no_symlink(current, name, flags),
            other => other,
        };
        let opened = match open() {
            Err(Errno::ENOENT) => create(current, name, file_leaf).and_then(|()| open()),
            other => other,
        };
        if current != root {
            sys::close(current);
        }
        current = opened?;
    }
    Ok(current)
}

/// Opens the host path `path` (O_PATH) refusing a symlink in any component, the last one
/// included, with ELOOP: a bind source in a volume a container could have rewritten. Without
/// openat2, `names` (the components the parent split) are walked from `/` one `O_NOFOLLOW`
/// open at a time, each fd closed once the next is open.
fn open_source_no_follow(path: &CStr, names: &[std::ffi::CString]) -> SysResult<RawFd> {
    match sys::openat2(libc::AT_FDCWD, path, libc::O_PATH, libc::RESOLVE_NO_SYMLINKS) {
        Err(Errno::ENOSYS) => {}
        other => return other,
    }
    let mut current = sys::openat(libc::AT_FDCWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)?;
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        let flags = libc::O_PATH | if last { 0 } else { libc::O_DIRECTORY };
        let next = open_no_symlink(current, name, flags);
        sys::close(current);
        current = next?;
    }
    Ok(current)
}

/// Without openat2 (Linux < 5.6): one component below `dir`, refusing a symlink (ELOOP).
/// Stricter than openat2's RESOLVE_IN_ROOT, never looser.
fn open_no_symlink(dir: RawFd, name: &CStr, flags: libc::c_int) -> SysResult<RawFd> {
    let fd = match sys::openat(dir, name, flags | libc::O_NOFOLLOW, 0) {
        // O_DIRECTORY on a symlink says ENOTDIR: tell the symlink apart.
        Err(Errno::ENOTDIR) if sys::is_symlink_at(dir, name) => return Err(Errno::ELOOP),
        other => other?,
    };
    match sys::fstat_mode(fd) {
        Ok(mode) if mode & libc::S_IFMT != libc::S_IFLNK => Ok(fd),
        other => {
            sys::close(fd);
            Err(other.err().unwrap_or(Errno::ELOOP))
        }
    }
}

fn create(dir: RawFd, name: &CStr, file: bool) -> SysResult<()> {
    let result = if file {
        sys::openat(
            dir,
            name,
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
            0o644,
        )
        .map(sys::close)
    } else {
        sys::mkdirat(dir, name, 0o755)
    };
    match result {
        // Lost a race with another creator, or a dangling symlink: the re-open decides.
        Err(Errno::EEXIST) => Ok(()),
        other => other,
    }
}

/// Hides `path` (after pivot_root and `CheckDevNull`): a file under /dev/null, a directory
/// under an empty read-only tmpfs. No stat: the kind the path is expected to have is tried
/// first, and a mount onto the other kind fails with ENOTDIR.
fn mask(path: &CStr, dir: bool) -> SysResult<()> {
    let null = || sys::mount(Some(c"/dev/null"), path, None, libc::MS_BIND, None);
    let empty = || {
        let flags = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), flags, None)
    };
    let (first, other): (&dyn Fn() -> SysResult<()>, &dyn Fn() -> SysResult<()>) =
        if dir { (&empty, &null) } else { (&null, &empty) };
    match first() {
        Err(Errno::ENOENT) => Ok(()),
        Err(Errno::ENOTDIR) => other(),
        done => done,
    }
}

/// Refuses a /dev/null that is not the char device 1:3 (CVE-2025-31133: a masked path bound
/// to whatever /dev/null is would expose it).
fn check_dev_null() -> SysResult<()> {
    let null = sys::lstat(c"/dev/null")?.ok_or(Errno::ENOENT)?;
    if null.st_mode & libc::S_IFMT != libc::S_IFCHR || null.st_rdev != libc::makedev(1, 3) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Tries each candidate; returns the most telling errno, as execvp does (the policy of
/// `protocol::exec_search_result`, which the launcher follows too).
fn exec(candidates: &[std::ffi::CString], argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> Errno {
    let (mut last, mut saw_eacces) = (Errno::ENOENT as i32, false);
    for path in candidates {
        last = sys::execve(path, argv, envp) as i32;
        saw_eacces |= last == Errno::EACCES as i32;
        if last != Errno::EACCES as i32 && !protocol::exec_tries_next(last) {
            break;
        }
    }
    Errno::from_raw(protocol::exec_search_result(last, saw_eacces))
}
