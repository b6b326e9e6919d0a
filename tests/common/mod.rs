//! Helpers shared by the integration tests: prerequisites, a busybox rootfs, snapshots of the
//! state a spawn could leak, and small conveniences around the builder.
//!
//! Each test binary uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nsbox::{ConfigError, Container, ContainerBuilder, Error, Output};

/// Applets linked into the busybox rootfs (`/bin/<name> -> busybox`).
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "id", "hostname", "mount", "sleep", "touch", "dd", "wc", "grep", "ps", "stat",
    "readlink", "env", "mkdir", "rm", "test", "true", "false", "head", "tail", "cut", "tr", "sort", "pwd", "kill",
    "uname",
];

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Checks a prerequisite: with `NSBOX_REQUIRE_ALL=1` a missing one fails the test, otherwise the
/// test is skipped (prints `SKIP:` and returns false). Either way a missing one is also appended
/// to the file `NSBOX_SKIP_LOG` names, if set: `scripts/test` lists those lines after the run,
/// where cargo's summary would otherwise count a skipped test as passed and hide its output.
pub fn require(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    record_skip(what);
    if std::env::var_os("NSBOX_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("missing prerequisite: {what}");
    }
    eprintln!("SKIP: {what}");
    false
}

/// Appends `<test binary>::<test>: <what>` to the `NSBOX_SKIP_LOG` file. One `write` on an
/// `O_APPEND` file, so lines from parallel tests do not interleave. A test running as another
/// user may not be able to open it: its skip then shows only on stderr.
fn record_skip(what: &str) {
    let Some(log) = std::env::var_os("NSBOX_SKIP_LOG") else {
        return;
    };
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe.file_stem().unwrap_or_default().to_string_lossy();
    // cargo names test binaries `<target>-<16 hex digits>`.
    let binary = stem.rsplit_once('-').map_or(&*stem, |(name, _hash)| name);
    let thread = std::thread::current();
    let line = format!("{binary}::{}: {what}\n", thread.name().unwrap_or("?"));
    let appended = fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = appended {
        eprintln!("cannot record the skip in {}: {e}", Path::new(&log).display());
    }
}

/// Whether the tests run as root (the effective uid, from /proc: std has no geteuid).
pub fn is_root() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

/// Root is needed by every test that starts a container.
pub fn root() -> bool {
    require("running as root", is_root())
}

/// Root and a static busybox at /bin/busybox (Debian's busybox-static).
pub fn root_and_busybox() -> bool {
    root()
        && require(
            "a static /bin/busybox (apt-get install busybox-static)",
            is_static_elf(Path::new(BUSYBOX)),
        )
}

/// True if `path` is an ELF executable without a program interpreter (statically linked), so
/// it runs in a rootfs that has no shared libraries.
pub fn is_static_elf(path: &Path) -> bool {
    let Ok(bytes) = fs::read(path) else { return false };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" || bytes[4] != 2 {
        return false; // not a 64-bit ELF
    }
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let at = phoff + i * phentsize;
        const PT_INTERP: u32 = 3;
        bytes
            .get(at..at + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != PT_INTERP)
    })
}

/// A rootfs directory under the temp dir: `/bin/busybox` (copied from the host by `cp`, see
/// [`write_executable`] for why) and a symlink per applet. Mode 0755 like a real root, so
/// mapped users can walk it.
pub fn busybox_rootfs() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nsbox-busybox-")
        .tempdir_in(std::env::temp_dir())
        .expect("create rootfs dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod rootfs");
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).expect("mkdir bin");
    let copied = Command::new("cp")
        .arg(BUSYBOX)
        .arg(bin.join("busybox"))
        .status()
        .expect("run cp");
    assert!(copied.success(), "cp {BUSYBOX}: {copied}");
    for applet in APPLETS {
        symlink("busybox", bin.join(applet)).expect("symlink applet");
    }
    dir
}

/// Writes an executable file from another process. A write fd open in this multi-threaded
/// process would be inherited by containers spawned meanwhile from other threads (until their
/// exec), and executing the file would then fail with ETXTBSY.
pub fn write_executable(path: &Path, contents: &str) {
    let mut child = Command::new("/bin/sh")
        .args(["-c", "cat > \"$1\" && chmod 755 \"$1\"", "sh"])
        .arg(path)
        .stdin(Stdio::piped())
        .spawn()
        .expect("run sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(contents.as_bytes())
        .expect("write to sh");
    assert!(
        child.wait().expect("wait for sh").success(),
        "writing {}",
        path.display()
    );
}

/// Runs `/bin/sh -c script` in a container with the default builder and collects its output.
pub fn sh(script: &str) -> Output {
    Container::builder()
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .expect("spawn /bin/sh")
}

/// A builder for `/bin/sh -c script`, to configure further.
pub fn sh_builder(script: &str) -> nsbox::ContainerBuilder {
    let mut builder = Container::builder();
    builder.command("/bin/sh").args(["-c", script]);
    builder
}

/// The payload's stdout after checking it exited 0 (stderr in the panic message otherwise).
pub fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "payload failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

/// `sh(script)`, checked for success, stdout as a string.
pub fn sh_ok(script: &str) -> String {
    stdout_of(&sh(script))
}

/// A name no other test run uses: for files on the host and paths inside containers.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An exact cgroup path under a parent cgroup of its own: `/nsbox-test-<unique>/c`. Removing
/// that parent after the test races no other test (with one shared parent, a test that removed
/// it after its container could do so between another's mkdir of it and of its leaf, failing
/// that spawn with ENODEV).
pub fn exact_cgroup_path(prefix: &str) -> String {
    format!("/nsbox-test-{}/c", unique(prefix))
}

/// Removes the parent cgroup of an `exact_cgroup_path` from every hierarchy under
/// /sys/fs/cgroup, best effort (a cgroup still in use stays).
pub fn remove_cgroup_parent(path: &str) {
    let Some(parent) = Path::new(path.trim_start_matches('/')).parent() else {
        return;
    };
    let root = Path::new("/sys/fs/cgroup");
    let _ = fs::remove_dir(root.join(parent));
    for hierarchy in fs::read_dir(root).into_iter().flatten().flatten() {
        let _ = fs::remove_dir(hierarchy.path().join(parent));
    }
}

/// The target of `/proc/<pid>/ns/<name>` (`self` for this process), e.g. `pid:[4026531836]`.
pub fn ns_link(pid: &str, name: &str) -> String {
    let link = fs::read_link(format!("/proc/{pid}/ns/{name}")).expect("read ns link");
    link.to_string_lossy().into_owned()
}

/// The fields of `/proc/<pid>/stat` after the command name: `[state, ppid, ...]`.
/// None when the process does not exist.
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The pids whose parent is `parent`.
pub fn children_of(parent: u32) -> BTreeSet<u32> {
    let mut pids = BTreeSet::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if proc_stat(pid).is_some_and(|f| f.get(1).is_some_and(|ppid| *ppid == parent.to_string())) {
            pids.insert(pid);
        }
    }
    pids
}

/// The state a spawn could leak into the calling process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub fds: Vec<String>,
    pub mounts: Vec<String>,
    pub children: BTreeSet<u32>,
    pub temp_entries: BTreeSet<OsString>,
}

impl Snapshot {
    pub fn take() -> Snapshot {
        // An fd closed between the listing and its readlink (another thread's, closing) was
        // not held: it is left out rather than reported as a change.
        let mut fds: Vec<String> = fs::read_dir("/proc/self/fd")
            .expect("read /proc/self/fd")
            .flatten()
            .filter_map(|e| {
                let target = fs::read_link(e.path()).ok()?;
                Some(format!("{} -> {}", e.file_name().to_string_lossy(), target.display()))
            })
            .collect();
        // The fd read_dir itself holds shows up under a varying number.
        fds.retain(|f| !f.ends_with("/fd"));
        fds.sort();
        let mounts = fs::read_to_string("/proc/self/mountinfo")
            .expect("read mountinfo")
            .lines()
            .map(str::to_owned)
            .collect();
        let temp_entries = fs::read_dir(std::env::temp_dir())
            .expect("read temp dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        Snapshot {
            fds,
            mounts,
            children: children_of(std::process::id()),
            temp_entries,
        }
    }

    /// Panics with the difference if anything leaked between `self` (before) and now.
    pub fn assert_unchanged(&self, what: &str) {
        let added = |a: &[String], b: &[String]| b.iter().filter(|x| !a.contains(x)).cloned().collect::<Vec<_>>();
        // A leak is an fd held now that was not before. Another thread's short-lived fd (glibc
        // reads /proc/sys/vm/overcommit_memory when it trims a heap) may show in either
        // snapshot: one missing now is no leak, and a new one must still be there after a
        // few looks.
        let mut now = Snapshot::take();
        for _ in 0..20 {
            if added(&self.fds, &now.fds).is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
            now = Snapshot::take();
        }
        let new_fds = added(&self.fds, &now.fds);
        assert!(new_fds.is_empty(), "{what}: new open fds: {new_fds:?}");
        assert_eq!(
            self.mounts,
            now.mounts,
            "{what}: mountinfo changed; new: {:?}",
            added(&self.mounts, &now.mounts)
        );
        assert_eq!(self.children, now.children, "{what}: child processes changed");
        let new_temp: Vec<_> = now.temp_entries.difference(&self.temp_entries).collect();
        assert!(new_temp.is_empty(), "{what}: new entries in the temp dir: {new_temp:?}");
    }
}

/// Serialises the tests of one binary that take snapshots: spawns in parallel tests would show
/// up as fds and children.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls `done` every 10 ms until it is true; panics after `limit` (a bound, not a timing check).
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A fresh host directory anyone may write to (for payloads running as mapped ids).
pub fn world_writable_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nsbox-shared-")
        .tempdir_in(std::env::temp_dir())
        .expect("create dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).expect("chmod 0777");
    dir
}

/// The mount points (field 5) of a mountinfo text.
pub fn mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .collect()
}

/// The per-mount options (field 6) of the last mount at `point` in a mountinfo text.
pub fn mount_options(mountinfo: &str, point: &str) -> Option<String> {
    mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(point))
        .and_then(|l| l.split(' ').nth(5).map(str::to_owned))
}

/// The host's Python, run inside host-root containers for syscall probes (through ctypes).
pub const PYTHON: &str = "/usr/bin/python3";

/// Root and the host's /usr/bin/python3.
pub fn root_and_python() -> bool {
    root()
        && require(
            "/usr/bin/python3 (apt-get install python3)",
            Path::new(PYTHON).is_file(),
        )
}

/// Python prelude for probe scripts: `libc` through ctypes with errno kept, and helpers that
/// print one `name RESULT` line per probe, RESULT being `OK` or the errno's name (`EPERM`).
pub const PY_PROBES: &str = r#"
import ctypes, errno, os, sys
libc = ctypes.CDLL(None, use_errno=True)
def errname(e):
    return errno.errorcode.get(e, str(e))
def check(name, ret):
    print(name, "OK" if ret != -1 else errname(ctypes.get_errno()), flush=True)
def check_os(name, call):
    try:
        call()
        print(name, "OK", flush=True)
    except OSError as e:
        print(name, errname(e.errno), flush=True)
"#;

/// The `name RESULT` lines a probe script printed, as a map (later lines win).
pub fn probe_results(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(name, result)| (name.to_owned(), result.trim().to_owned()))
        .collect()
}

/// The value of a hexadecimal field of a `/proc/<pid>/status` text, such as `CapEff`.
pub fn status_hex(status: &str, field: &str) -> u64 {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field).and_then(|rest| rest.strip_prefix(':')))
        .unwrap_or_else(|| panic!("no {field} in status:\n{status}"));
    u64::from_str_radix(line.trim(), 16).unwrap_or_else(|e| panic!("{field}: {line:?}: {e}"))
}

/// Copies the running test binary into `dir` as `name`, mode 0755 (by `install` in another
/// process, for the reason [`write_executable`] gives). Running the copy rather than the
/// original lets a test run a test of this binary as another user, or with the original busy.
pub fn copy_of_this_test_binary(dir: &Path, name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let copy = dir.join(name);
    let status = Command::new("install")
        .args(["-m", "0755"])
        .arg(&exe)
        .arg(&copy)
        .status()
        .expect("run install");
    assert!(
        status.success(),
        "install {} {}: {status}",
        exe.display(),
        copy.display()
    );
    copy
}

/// A fresh 0755 directory under the temp dir, so that any user can read and run what is in it.
pub fn public_dir(prefix: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(std::env::temp_dir())
        .expect("create dir");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    dir
}

/// Runs `binary` (a copy of a test binary, see [`copy_of_this_test_binary`]) with `args` as
/// `nobody` (uid and gid 65534, no groups) through `setpriv`, with `inner_env=1` set (the
/// inner tests run only then); returns whether it passed and its output.
pub fn run_as_nobody(binary: &Path, args: &[&str], inner_env: &str) -> (bool, String) {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(binary)
        .args(args)
        .env(inner_env, "1")
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .output()
        .expect("run setpriv");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// For a test that must run alone in its process (it counts the process's fds, or changes its
/// signal dispositions): in the test binary's own run, runs test `name` of this binary alone in
/// a child process with `inner_env=1`, checks that it passed and returns false; in that child,
/// returns true (the test body runs there).
pub fn in_own_process(name: &str, inner_env: &str) -> bool {
    if std::env::var_os(inner_env).is_some() {
        return true;
    }
    let out = Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(inner_env, "1")
        .output()
        .expect("run this test binary");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    false
}

/// The outer half of a rootless run: copies this test binary into a public directory and runs
/// its tests named `inner_…` as `nobody` with `inner_env=1` (see [`run_as_nobody`]); checks
/// that exactly `count` passed. Returns false (a skip) where root, busybox or setpriv is
/// missing.
pub fn inner_tests_pass_as_nobody(inner_env: &str, count: usize) -> bool {
    if !root_and_busybox() || !require("setpriv (util-linux)", Path::new("/usr/bin/setpriv").exists()) {
        return false;
    }
    let dir = public_dir("nsbox-inner-");
    let binary = copy_of_this_test_binary(dir.path(), "inner");
    let (ok, text) = run_as_nobody(&binary, &["inner_", "--nocapture", "--test-threads=1"], inner_env);
    let summary = format!("test result: ok. {count} passed; 0 failed");
    assert!(
        ok && text.contains(&summary),
        "the run as nobody failed (want {summary:?}):\n{text}"
    );
    true
}

/// Whether this is the inner run of [`inner_tests_pass_as_nobody`] (`inner_env=1`), which must
/// not be root; the inner tests do nothing otherwise.
pub fn is_inner_run(inner_env: &str) -> bool {
    let on = std::env::var_os(inner_env).is_some_and(|v| v == "1");
    if on {
        assert!(!is_root(), "the inner run must not be root");
    }
    on
}

/// Expects `build()` and `spawn()` to refuse the configuration alike, without side effects.
pub fn refused(builder: &mut ContainerBuilder) -> ConfigError {
    let before = Snapshot::take();
    let built = match builder.build() {
        Err(Error::Config(e)) => e,
        other => panic!("build() must refuse with a config error, got: {other:?}"),
    };
    match builder.spawn() {
        Err(Error::Config(e)) => assert_eq!(e, built, "spawn() and build() disagree"),
        Err(other) => panic!("spawn() must refuse with a config error, got: {other:?}"),
        Ok(_) => panic!("spawn() started a container with a refused configuration"),
    }
    before.assert_unchanged(&format!("after refusing '{built}'"));
    built
}

/// The setup failure of a spawn that must fail at a setup step.
pub fn setup_failure_of(result: nsbox::Result<Output>) -> nsbox::SetupError {
    match result {
        Err(Error::Setup(e)) => e,
        Err(e) => panic!("not a setup error: {e}"),
        Ok(out) => panic!(
            "spawn succeeded: {}, stderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// `NS_GET_USERNS` (`_IO(0xb7, 0x1)`): the user namespace that owns a namespace.
const NS_GET_USERNS: libc::c_ulong = 0xb701;

/// The inode of the user namespace owning `/proc/PID/ns/NAME`.
pub fn owner_of(pid: u32, name: &str) -> u64 {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::fs::MetadataExt;
    let file = fs::File::open(format!("/proc/{pid}/ns/{name}")).unwrap();
    // SAFETY: an ioctl without argument on an fd this function owns; returns a new fd.
    let fd = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_USERNS as _) };
    assert!(fd >= 0, "NS_GET_USERNS on {name}: {}", std::io::Error::last_os_error());
    // SAFETY: the ioctl returned a new fd nothing else owns.
    let owner = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    owner.metadata().unwrap().ino()
}

/// The pid a container's payload prints as the first line of its piped stdout (`sleep 60 &
/// echo $!`: a background process's).
pub fn first_line_pid(container: &mut nsbox::Container) -> u32 {
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(container.take_stdout().expect("a piped stdout"))
        .read_line(&mut line)
        .expect("read the payload's first line");
    line.trim().parse().expect("a pid on the first line")
}

/// How many fds of this process are `link` (a `/proc/self/fd` target such as `mnt:[inode]`).
pub fn fds_to(link: &Path) -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| fs::read_link(e.path()).is_ok_and(|t| t == link))
        .count()
}

/// Whether this kernel attaches a mount inside a detached tree (`move_mount` onto a path of an
/// `fsmount` not yet attached, Linux 6.15), which a `NamespacePool` needs for its pre-made
/// /dev and /sys: tried in a forked child in new user and mount namespaces. Not a
/// prerequisite: a kernel without it (the pure cgroup v2 VM's 6.1) must fall back, and the
/// tests check whichever applies against the pool's own counters, which a wrong answer here
/// would contradict.
pub fn kernel_mounts_in_detached_trees() -> bool {
    // Its root is this process's ids (a tmpfs needs its creator's ids mapped).
    let maps = [
        (c"/proc/self/setgroups", "deny".to_string()),
        (c"/proc/self/uid_map", format!("0 {} 1", unsafe { libc::geteuid() })),
        (c"/proc/self/gid_map", format!("0 {} 1", unsafe { libc::getegid() })),
    ];
    // SAFETY: the child of this fork calls only async-signal-safe raw syscalls and _exit.
    match unsafe { libc::fork() } {
        0 => {
            let tmpfs = || {
                // SAFETY: raw syscalls with NUL-terminated strings and no other pointers.
                unsafe {
                    let fs = libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), 0);
                    let created = libc::syscall(libc::SYS_fsconfig, fs, 6, 0, 0, 0) == 0;
                    if fs < 0 || !created {
                        libc::_exit(2);
                    }
                    libc::syscall(libc::SYS_fsmount, fs, 0, 0) as i32
                }
            };
            // SAFETY: as above.
            unsafe {
                if libc::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNS) != 0 {
                    libc::_exit(2);
                }
                for (path, map) in &maps {
                    let fd = libc::open(path.as_ptr(), libc::O_WRONLY);
                    if fd < 0 || libc::write(fd, map.as_ptr().cast(), map.len()) != map.len() as isize {
                        libc::_exit(2);
                    }
                    libc::close(fd);
                }
                let (outer, inner) = (tmpfs(), tmpfs());
                if outer < 0 || inner < 0 || libc::mkdirat(outer, c"d".as_ptr(), 0o755) != 0 {
                    libc::_exit(2);
                }
                let moved = libc::syscall(
                    libc::SYS_move_mount,
                    inner,
                    c"".as_ptr(),
                    outer,
                    c"d".as_ptr(),
                    libc::MOVE_MOUNT_F_EMPTY_PATH,
                );
                libc::_exit(i32::from(moved != 0));
            }
        }
        pid if pid > 0 => {
            let mut status = 0;
            // SAFETY: waits for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 2,
                "the probe failed: {status:#x}"
            );
            libc::WEXITSTATUS(status) == 0
        }
        _ => panic!("fork: {}", std::io::Error::last_os_error()),
    }
}

/// A payload's view of its /dev and /sys, without what differs between two containers
/// (mount ids, times): each entry's mode, owner, device number and symlink target, each
/// mount's options, propagation, type, source and superblock options, sorted; the network
/// devices in /sys.
pub const DEV_AND_SYS_VIEW: &str = "cd /dev && stat -c '%N %f %u %g %t:%T' * pts/* shm mqueue | sort; \
    awk '$5 ~ /^\\/(dev|sys)(\\/|$)/ { line = $5 \" \" $6; for (i = 7; $i != \"-\"; i++) line = line \" \" $i; \
    print line, $(i + 1), $(i + 2), $(i + 3) }' /proc/self/mountinfo | sort; ls /sys/class/net";
