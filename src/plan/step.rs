//! The child's instruction set: each [`Step`] is one small thing the child does with raw
//! syscalls on data the parent prepared.

use std::ffi::CString;
use std::os::fd::RawFd;

use libc::{c_char, c_ulong};

/// A path inside the container, split by the parent into what the child needs to resolve it
/// one component at a time under the root fd: the growing prefixes (`/a`, `/a/b`, ...) and
/// the name each prefix adds (`a`, `b`, ...).
/// A bind's mount attributes beyond read-only (`mount_setattr(2)` bits to set and clear, on
/// every mount of a recursive bind) and its propagation (`MS_*` bits, `MS_REC` included, set
/// once attached; 0: none). The caller's `Mount` flags; nsbox's own binds have none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BindAttrs {
    pub set: u64,
    pub clear: u64,
    pub propagation: c_ulong,
}

#[derive(Debug)]
pub(crate) struct ContainerPath {
    pub prefixes: Vec<CString>,
    pub names: Vec<CString>,
    /// `RESOLVE_*` flags for openat2: always `RESOLVE_IN_ROOT`, plus `RESOLVE_NO_SYMLINKS`
    /// where the path must not contain symlinks at all (`/proc`, `/dev`, `/sys`).
    pub resolve: u64,
    /// How many leading components must already exist: only those after them may be created
    /// (in a tmpfs nsbox made, or a caller's writable bind); a missing one before fails the
    /// step with ENOENT, so nothing is ever created in a rootfs directory or on the host.
    pub create_from: usize,
}

/// What a missing last component of a mount point is created as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leaf {
    Dir,
    File,
}

#[derive(Debug)]
pub(crate) enum Step {
    /// Close the child's copy of a parent-only fd.
    CloseFd(RawFd),
    /// `PR_SET_PDEATHSIG(SIGKILL)`, or 0 to clear it; cleared by credential changes, so repeated.
    ParentDeathSignal(libc::c_int),
    /// Block until the parent writes one byte (after the id maps), then close the socket; EOF
    /// means it died or gave up.
    WaitForParent(RawFd),
    /// Write `0` (this process) to a cgroup file the parent opened: v1 `tasks`, or v2
    /// `cgroup.procs` when the child was not born in its cgroup. The kernel checks the
    /// opener's credentials, so it works in any user namespace.
    JoinCgroup(RawFd),
    /// `setns(pidfd, flags)`: join the namespaces `flags` names of a running container's first
    /// process (exec); the pidfd form enters the user namespace first. Also with a namespace
    /// file's fd and its one type (`ContainerBuilder::join_namespace`).
    JoinNamespaces {
        pidfd: RawFd,
        flags: libc::c_int,
    },
    /// setgroups (if `groups`), setresgid, setresuid.
    SetCredentials {
        uid: u32,
        gid: u32,
        groups: Option<Vec<libc::gid_t>>,
    },
    /// Open the namespace file `path` and `setns` into it (`flags`: its type): the setup
    /// process entering the time namespace it made for its children, once the offsets are
    /// written (`crate::time_offsets`).
    JoinNamespaceFile {
        path: CString,
        flags: libc::c_int,
    },
    /// `unshare(2)` of namespaces that must be entered after another step (the cgroup
    /// namespace, after `JoinCgroup`: it is rooted where its creator is).
    Unshare(libc::c_int),
    /// `PR_SET_DUMPABLE(0)`: no ptrace or /proc/pid access from the container until exec.
    NotDumpable,
    /// `PR_SET_NO_NEW_PRIVS(1)`.
    NoNewPrivileges,
    /// `setsid()`: a new session without a controlling terminal.
    NewSession,
    /// `prlimit64(0, resource, soft, hard)`.
    SetRlimit {
        resource: libc::c_int,
        soft: u64,
        hard: u64,
    },
    /// Drop each capability in `drop` from the bounding set (one prctl each: the kernel has no
    /// call for several, so the plan never drops one twice).
    DropBoundingSet {
        drop: u64,
    },
    /// `PR_SET_KEEPCAPS(1)`: keep permitted capabilities across the switch to a non-root uid.
    KeepCapabilities,
    /// capset (effective = permitted = `set`, inheritable = `ambient`), then clear the ambient
    /// set and raise each of `ambient`.
    SetCapabilities {
        set: u64,
        ambient: u64,
    },
    /// Create the Landlock ruleset handling `handled`, at fd `at` (not close-on-exec: the
    /// launcher enforces it right before the payload's execve, then closes it).
    LandlockRuleset {
        handled: u64,
        at: RawFd,
    },
    /// Allow `access` below `path` in the ruleset at `ruleset` (a file gets only file rights).
    LandlockRule {
        path: CString,
        access: u64,
        ruleset: RawFd,
    },
    /// Load the BPF programs, in order.
    Seccomp(Vec<std::sync::Arc<crate::security::Program>>),
    /// `mount(NULL, "/", MS_REC|MS_PRIVATE)`.
    PrivatePropagation,
    /// Instead of `PrivatePropagation` (`receive_host_mounts`): every mount a slave of its
    /// host peer group, so the host's later mounts reach the container and none go back.
    SlavePropagation,
    /// Open a host path (O_PATH) in the child's own mount namespace, into a slot, before the
    /// staging mount can hide it. With `no_follow`, the path's components (`/` first, then
    /// each name): any symlink on the way fails with ELOOP (`openat2(RESOLVE_NO_SYMLINKS)`, or
    /// an `O_NOFOLLOW` walk of these names without openat2).
    OpenSource {
        path: CString,
        slot: usize,
        no_follow: Option<Vec<CString>>,
    },
    /// Mount the new root at `stage` (tmpfs, or a bind of the source in `bind_slot`) and keep
    /// an fd to it as the root every later container path is resolved under.
    /// With `read_only`, the whole bound tree is read-only from the start: nothing is ever
    /// created in it (a missing mount point is made in a shadow), and a flag the source's
    /// mount already has is never cleared (in a user namespace it may be locked).
    Stage {
        stage: CString,
        bind_slot: Option<usize>,
        read_only: bool,
        /// The stage tmpfs' options (without `bind_slot`).
        tmpfs: CString,
    },
    /// Mount the new root at `stage` as an overlay (`userxattr` always) of the directories in
    /// the `lower` slots, top first, under an upper that takes the writes: the directories in
    /// the `upper` slots (upper, work: `Upper::Dir`), or `upper/` and `work/` made in a tmpfs
    /// (options `tmpfs`) mounted at `stage` first. With `attach`, the lower slots hold
    /// detached (idmapped) mounts, attached in that tmpfs first. Every layer is named to the
    /// kernel by the `/proc/self/fd/N` of its slot, never by a path: `lowerdir+` one at a time
    /// (Linux 6.8), else one `mount(2)` with a `lowerdir=` list. Keeps an fd to it as the root.
    StageOverlay {
        stage: CString,
        lower: Vec<usize>,
        upper: Option<(usize, usize)>,
        attach: bool,
        tmpfs: CString,
    },
    /// Bind the tree opened in `slot` at `target`, with `attrs` (and read-only) set before it
    /// is attached and its propagation changed after.
    Bind {
        slot: usize,
        target: ContainerPath,
        leaf: Leaf,
        recursive: bool,
        read_only: bool,
        attrs: BindAttrs,
    },
    /// Attach the detached tree in `slot`, which the parent made ready (an idmapped bind: its
    /// maps and every flag already set), at `target`, then change its propagation
    /// (`MS_*` bits, 0: none) and close it. The tree can be attached once.
    AttachTree {
        slot: usize,
        target: ContainerPath,
        leaf: Leaf,
        propagation: c_ulong,
    },
    /// A fresh tmpfs (`options`, mount attributes `attrs`) made detached and attached over the
    /// existing directory `path`, resolved once; its root's fd goes into `slot` (for
    /// `MountPoint` and `ReadOnlyMount`). With `fill` (a shadow), it is first given the
    /// directory's mode and owner and filled from an fd of the directory taken before: a
    /// mount point per entry with the entry (and every mount under it) bound back, read-only
    /// first when `fill` is `Some(true)`; symlinks copied, never followed. Nothing is looked
    /// up by path again, so a directory swapped meanwhile redirects none of it.
    Shadow {
        path: ContainerPath,
        options: Vec<(CString, CString)>,
        attrs: u64,
        fill: Option<bool>,
        slot: usize,
    },
    /// Fill the root (a fresh tmpfs stage) from the directory in `source` as `Shadow` fills
    /// its tmpfs, then close `source` and empty its slot.
    Populate {
        source: usize,
        read_only: bool,
    },
    /// Create `path` (relative, without symlinks, not leaving the mount: `RESOLVE_BENEATH |
    /// RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`) below the tmpfs root in `dir`, the last
    /// component as `leaf`: a shadow's new mount point, made before it is sealed.
    MountPoint {
        dir: usize,
        path: ContainerPath,
        leaf: Leaf,
    },
    /// Open the directory `path` (resolved as a mount point, no symlinks) into `slot`, for
    /// `BindInto` steps that create their mount points in it.
    OpenMountDir {
        path: ContainerPath,
        slot: usize,
    },
    /// Bind the file opened in `source` onto a new empty file `name` in the directory in
    /// `dir`, which nsbox made (a fresh tmpfs): one `openat(O_CREAT | O_EXCL | O_NOFOLLOW)`
    /// instead of a resolution per component.
    BindInto {
        source: usize,
        dir: usize,
        name: CString,
    },
    /// Mount a fresh filesystem on a new directory `name` in the directory in `dir` (nsbox's
    /// own fresh tmpfs, like `BindInto`).
    MountInto {
        dir: usize,
        name: CString,
        fstype: CString,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// The directory `name` in the directory in `dir` (made with mode 0755 if missing, never
    /// through a symlink) opened into `slot`: the way to a device node below /dev.
    DevDir {
        dir: usize,
        name: CString,
        slot: usize,
    },
    /// `mknodat(dir, name, mode, rdev)` in the directory in `dir` (under nsbox's fresh /dev),
    /// then its owner and mode set exactly (mknod's mode went through the umask).
    MakeDevice {
        dir: usize,
        name: CString,
        mode: u32,
        rdev: u64,
        uid: u32,
        gid: u32,
    },
    /// `symlinkat(link, dir, name)` in the directory in `dir` (nsbox's own fresh tmpfs).
    SymlinkInto {
        dir: usize,
        name: CString,
        link: CString,
    },
    /// Mount a fresh filesystem at `target`.
    Mount {
        fstype: CString,
        target: ContainerPath,
        flags: c_ulong,
        data: Option<CString>,
    },
    /// A symlink at `path` pointing to `link`.
    Symlink {
        link: CString,
        path: ContainerPath,
    },
    /// Make the mount whose root is the directory in the slot read-only; mounts on top of it
    /// keep their own flags (a tmpfs hiding a host path, once the caller's mounts are in it).
    ReadOnlyMount(usize),
    /// Make the root mount read-only.
    ReadOnlyRoot,
    /// `pivot_root(".", ".")` in the new root and detach the old one.
    PivotRoot,
    /// After pivot: check that /dev/null is the null device (1:3), which `MaskPath` binds
    /// (CVE-2025-31133).
    CheckDevNull,
    /// After pivot: hide `path` under /dev/null or an empty read-only tmpfs (skipped if absent);
    /// `dir` says which is tried first.
    MaskPath {
        path: CString,
        dir: bool,
    },
    /// After pivot: make `path` read-only (skipped if absent).
    ReadOnlyPath(CString),
    SetHostname(CString),
    /// Write `value` to the file at the absolute `path` (`O_WRONLY`, no `O_CREAT`):
    /// `/proc/self/oom_score_adj` or a `/proc/sys` file (see `process_attrs`).
    WriteFile {
        path: CString,
        value: CString,
    },
    /// `setdomainname(2)`.
    SetDomainname(CString),
    /// `umask(2)`.
    Umask(u32),
    /// `personality(2)`.
    Personality(u64),
    /// `ioprio_set(IOPRIO_WHO_PROCESS, 0, value)`.
    IoPriority(i32),
    /// `sched_setattr(0, attr, 0)`.
    Scheduler(crate::scheduling::SchedAttr),
    /// `set_mempolicy(mode, nodes, 1024)` (`crate::numa`).
    MemoryPolicy {
        mode: i32,
        nodes: Box<crate::numa::Mask>,
    },
    /// `sched_setaffinity(0, 128, cpus)`: an exec's CPUs around its cgroup join (`crate::numa`).
    CpuAffinity(Box<crate::numa::Mask>),
    LoopbackUp,
    Chdir(CString),
    /// `dup2(from, to)` for stdio.
    Dup {
        from: RawFd,
        to: RawFd,
    },
    /// Mark every fd from `3 + preserved` up close-on-exec; the `preserved` fds from 3 on
    /// (`ContainerBuilder::preserve_fds`) are made inheritable.
    CloseOtherFds {
        preserved: u32,
    },
    /// A pty of the container's devpts (after the new session): its master sent to the caller
    /// over `socket` (then closed), its slave made stdin, stdout, stderr and the controlling
    /// terminal. With `console` (a container's first process, opened as root before its
    /// credentials change): the slave is given to the payload's uid and bound onto
    /// `/dev/console`, as runc does.
    OpenPty {
        socket: RawFd,
        rows: u16,
        cols: u16,
        console: Option<libc::uid_t>,
    },
    /// Start the published ports' connector (nsbox-connect) in the container's network
    /// namespace, with `socket` (the container end of a socketpair) as its fd 3 and `ready`
    /// (the confirmation pipe's write end, see `pid1::confinement`) as its fd 5.
    StartConnector {
        socket: RawFd,
        ready: RawFd,
        binary: RawFd,
        /// The bounding set left at this point: the connector drops all of it.
        bounding: u64,
    },
    /// Block every signal (before the init fork, so none is lost).
    BlockSignals,
    /// Fork: the parent becomes PID 1 (reaps, forwards signals, reports the payload's status
    /// on `status_fd`) and never returns; the child goes on with the next step.
    /// `binary` is the init binary's memfd (-1: run the loop in process); `ready_*` the
    /// confirmation pipe (-1 without the binary): the init confirms on the write end, the
    /// payload's launcher waits on the read end. `bounding` is the bounding set left then,
    /// which the init drops down to CAP_KILL before executing it. With `shared_memory` (the
    /// setup process runs on the caller's memory) the init exits rather than run its loop in
    /// process if that fails.
    ForkInit {
        status_fd: RawFd,
        ready_read: RawFd,
        ready_write: RawFd,
        /// The lifeline's read end (-1: none; a detached container, or no init binary), which
        /// the init watches instead of PR_SET_PDEATHSIG.
        lifeline: RawFd,
        binary: RawFd,
        bounding: u64,
        shared_memory: bool,
    },
    ResetSignals,
    /// Execute the payload: through the launcher (nsbox-exec from the init binary's memfd,
    /// given `error_fd` and this step's index in its argv) so that `/proc/self/exe` is never
    /// the caller's program at the payload's execve; without it, try each candidate path in
    /// turn (a PATH search done by the parent's string work).
    /// A detached exec's fork (see `ExecBuilder::spawn_detached`): the setup process forks,
    /// writes the child's pid (native-endian `i32`) to `pid_fd` and exits; the child goes on
    /// with the next step, closing `pid_fd` first. Its new parent is the caller's nearest
    /// subreaper (or the host's init), not an nsbox process.
    ForkAway {
        pid_fd: RawFd,
    },
    /// A program run before pivot_root (`ContainerBuilder::before_pivot_root`): forked,
    /// `stdin` made its fd 0, signals reset, `alarm(timeout)` (0: none), executed; waited for.
    RunHook {
        path: CString,
        argv: Vec<*const c_char>,
        envp: Vec<*const c_char>,
        /// What `argv` and `envp` point into.
        _strings: Vec<CString>,
        stdin: RawFd,
        timeout: u32,
    },
    /// The lookup a start gate needs before it waits (see `ContainerBuilder::start_gate`):
    /// the first candidate that is a regular file the process may execute, found as execve
    /// would search them, or the error execve would give.
    Lookup(Vec<CString>),
    Exec {
        candidates: Vec<CString>,
        argv: Vec<*const c_char>,
        envp: Vec<*const c_char>,
        launcher: Option<(RawFd, Vec<*const c_char>)>,
        error_fd: RawFd,
        /// The Landlock ruleset to enforce first when executing without the launcher (-1: none).
        landlock_fd: RawFd,
        /// The confirmation pipe's read end the launcher waits on (-1: none). With one, a
        /// launcher that cannot be executed fails the step: executing the payload directly
        /// would skip the wait.
        ready_fd: RawFd,
        /// The start gate the launcher waits on (-1: none); like `ready_fd`, it makes a
        /// launcher that cannot be executed fail the step.
        gate_fd: RawFd,
    },
}
