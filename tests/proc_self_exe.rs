//! CVE-2019-5736: a container overwrote runc's host binary through `/proc/self/exe`. Here the
//! host binary is the caller's own program (the container's setup process is a fork of it), and
//! the test binary stands in for it.
//!
//! The tests named `inner_*` are helpers: they return at once unless the outer test runs them
//! in a copy of this binary (`NSBOX_EXE_ATTACK` says which role).

mod common;

use std::fs::{self, File};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{PY_PROBES, PYTHON, probe_results, stdout_of};
use nsbox::{Capabilities, Container, Mount, Seccomp, Stdio};

const ROLE: &str = "NSBOX_EXE_ATTACK";
const DATA: &str = "NSBOX_EXE_DATA";

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum").arg(path).output().expect("run sha256sum");
    assert!(out.status.success(), "sha256sum {}", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn init_and_payload_executables_cannot_be_opened_for_writing() {
    if !common::root_and_python() {
        return;
    }
    // As root in the container, with the default capabilities and then with every one.
    let script = format!(
        "{PY_PROBES}
import hashlib
for name, path in (('self', '/proc/self/exe'), ('init', '/proc/1/exe')):
    check_os(name + '-write', lambda: os.close(os.open(path, os.O_WRONLY | os.O_APPEND)))
    check_os(name + '-rdwr', lambda: os.close(os.open(path, os.O_RDWR)))
try:
    print('init-sha256', hashlib.sha256(open('/proc/1/exe', 'rb').read()).hexdigest())
except OSError as e:
    print('init-sha256', errname(e.errno))
"
    );
    let caller = sha256(&std::env::current_exe().unwrap());
    for all_caps in [false, true] {
        let mut builder = Container::builder();
        if all_caps {
            builder
                .capabilities(Capabilities::all().iter())
                .seccomp(Seccomp::unconfined());
        }
        let out = builder.command(PYTHON).args(["-c", &script]).output().unwrap();
        let results = probe_results(&stdout_of(&out));
        for probe in ["self-write", "self-rdwr", "init-write", "init-rdwr"] {
            let result = results.get(probe).map(String::as_str);
            assert!(
                result.is_some_and(|r| r != "OK"),
                "all capabilities {all_caps}: {probe}: {result:?} (want an errno)"
            );
        }
        assert_ne!(
            results.get("init-sha256"),
            Some(&caller),
            "all capabilities {all_caps}: /proc/1/exe reads as the caller's binary"
        );
    }
}

/// The outer test's data directory, when this binary runs as its helper in `role`.
fn helper_data(role: &str) -> Option<PathBuf> {
    if std::env::var(ROLE).ok()? != role {
        return None;
    }
    std::env::var_os(DATA).map(PathBuf::from)
}

#[test]
fn inner_spawns_a_detached_payload_whose_interpreter_is_proc_self_exe() {
    let Some(data) = helper_data("spawn") else { return };
    let file = |name: &str| File::create(data.join(name)).unwrap();
    // Run on the host by the outer test, as a copy of the caller's binary. If the kernel runs
    // `#!/proc/self/exe` as the setup process's executable, the payload is this very binary,
    // and the arguments make it run the attacker below inside the container.
    let container = Container::builder()
        .mount(Mount::bind(&data, "/data"))
        .env(ROLE, "attack")
        .command("/data/evil")
        .args(["--exact", "inner_attacks_the_callers_binary_from_inside", "--nocapture"])
        .stdin(Stdio::null())
        .stdout(file("payload.out"))
        .stderr(file("payload.err"))
        .detach()
        .spawn()
        .unwrap();
    println!("container-pid={}", container.pid());
}

#[test]
fn inner_attacks_the_callers_binary_from_inside() {
    if helper_data("attack").is_none() || !Path::new("/data/evil").exists() {
        return;
    }
    // Inside the container, running as the caller's binary. The exploit: keep an O_PATH fd of
    // /proc/self/exe, stop executing it (exec a shell), wait for the caller to exit, reopen
    // the fd for writing through /proc/self/fd. In a real attack the code comes from the
    // rootfs (the caller's binary loads its libraries there); here the test binary plays it.
    fs::write("/data/ran", "").unwrap();
    // SAFETY: plain syscalls on a NUL-terminated path and fd numbers this test owns.
    unsafe {
        let fd = libc::open(c"/proc/self/exe".as_ptr(), libc::O_PATH);
        assert!(fd >= 0 && libc::dup2(fd, 9) == 9, "open /proc/self/exe");
    }
    let script = "i=0; while [ ! -e /data/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
        if echo PWNED 2>/dev/null >> /proc/self/fd/9; then echo wrote; else echo refused; fi > /data/result";
    let error = Command::new("/bin/sh").args(["-c", script]).exec();
    panic!("exec /bin/sh: {error}");
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes no memory.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative result is a new fd nothing else owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits (at most `ms`) for the process behind `pidfd` to exit; true if it did.
fn exited(pidfd: &OwnedFd, ms: i32) -> bool {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut poll, 1, ms) == 1 }
}

#[test]
fn callers_binary_cannot_be_overwritten_through_proc_self_exe() {
    if !common::root() {
        return;
    }
    // The caller is a copy of this binary, so that nothing but the copy's own process keeps it
    // busy (ETXTBSY) and the container can outlive it (detach), as in the CVE's exploit.
    let work = common::public_dir("nsbox-exe-");
    let caller = common::copy_of_this_test_binary(work.path(), "caller");
    let data = work.path().join("data");
    fs::create_dir(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o777)).unwrap();
    common::write_executable(&data.join("evil"), "#!/proc/self/exe\n");
    let before = sha256(&caller);

    let spawned = Command::new(&caller)
        .args([
            "--exact",
            "inner_spawns_a_detached_payload_whose_interpreter_is_proc_self_exe",
        ])
        .arg("--nocapture")
        .env(ROLE, "spawn")
        .env(DATA, &data)
        .current_dir("/")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&spawned.stdout);
    assert!(
        spawned.status.success(),
        "spawning the detached container failed:\n{text}\n{}",
        String::from_utf8_lossy(&spawned.stderr)
    );
    let pid: i32 = text
        .lines()
        .find_map(|l| l.strip_prefix("container-pid="))
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no container pid in:\n{text}"));
    // The caller has exited: only the container could still keep its binary busy.
    let pidfd = pidfd_open(pid);
    fs::write(data.join("go"), "").unwrap();
    if let Some(pidfd) = &pidfd {
        // A bound against a payload that never ends, not a timing check.
        if !exited(pidfd, 60_000) {
            // SAFETY: a signal to the container this test started, through its pidfd.
            unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), libc::SIGKILL, 0, 0) };
            exited(pidfd, 10_000);
        }
    }

    let after = sha256(&caller);
    let ran = data.join("ran").exists();
    let result = fs::read_to_string(data.join("result")).unwrap_or_default();
    let payload_err = fs::read_to_string(data.join("payload.err")).unwrap_or_default();
    assert_eq!(
        before, after,
        "the caller's binary was modified from inside the container (attack: {result:?})"
    );
    assert!(
        !ran,
        "the container's setup process ran `#!/proc/self/exe` as the caller's own binary: the \
         payload held the host executable (attack result: {result:?}; payload stderr: {payload_err})"
    );
}
