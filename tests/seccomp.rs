//! Seccomp: terminal injection (CVE-2017-5226) refused by every filter, the Sandbox profile's
//! refusals of privileged operations, allow and deny lists, and names the kernel does not know. Probes run the
//! host's Python in a host-root container and report the errno of each syscall.

mod common;

use std::os::fd::OwnedFd;

use common::{PY_PROBES, PYTHON, probe_results, stdout_of};
use nsbox::{
    Capabilities, ConfigError, Container, ContainerBuilder, Error, IdMap, Mount, Namespaces, Profile, Rootfs, Seccomp,
    Stdio,
};

/// mkdir(2) as busybox calls it here (aarch64 has only mkdirat).
#[cfg(target_arch = "x86_64")]
const MKDIR: &str = "mkdir";
#[cfg(not(target_arch = "x86_64"))]
const MKDIR: &str = "mkdirat";

/// What static busybox needs to start and report an error, besides what Seccomp::allow adds
/// (execve, execveat, read, write, fcntl, close, exit_group). Found with strace.
#[cfg(target_arch = "x86_64")]
const BUSYBOX_STARTUP: &[&str] = &[
    "arch_prctl",
    "brk",
    "getrandom",
    "getuid",
    "mprotect",
    "prctl",
    "prlimit64",
    "readlink",
    "rseq",
    "set_robust_list",
    "set_tid_address",
];
#[cfg(not(target_arch = "x86_64"))]
const BUSYBOX_STARTUP: &[&str] = &[
    "brk",
    "getrandom",
    "getuid",
    "mprotect",
    "prctl",
    "prlimit64",
    "readlinkat",
    "rseq",
    "set_robust_list",
    "set_tid_address",
];

fn sandbox() -> ContainerBuilder {
    let mut builder = Container::builder();
    builder.profile(Profile::Sandbox);
    builder
}

/// Runs the TIOCSTI/TIOCLINUX probes with a fresh pty's slave as stdin and stdout.
fn terminal_probes(builder: &mut ContainerBuilder) -> std::collections::BTreeMap<String, String> {
    // The payload first makes the pty its controlling terminal (it leads a new session, so it
    // may): the kernel then allows TIOCSTI without any capability (legacy_tiocsti=1) or
    // refuses it with EIO (legacy_tiocsti=0), never with EPERM. So EPERM can only come from
    // the seccomp filter. The high bits test the filter's 32-bit compare: the kernel ignores
    // them, so a 64-bit compare would let TIOCSTI through.
    let script = format!(
        "{PY_PROBES}
import fcntl, termios
sys.stdout = sys.stderr
c = ctypes.c_char(b'x')
def ioctl(name, cmd):
    check(name, libc.syscall({sys_ioctl}, 0, ctypes.c_ulong(cmd), ctypes.byref(c)))
check_os('ctty', lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
ioctl('tiocsti', {tiocsti})
ioctl('tiocsti-high-bits', {tiocsti} | (1 << 32))
ioctl('tioclinux', {tioclinux})
",
        sys_ioctl = libc::SYS_ioctl,
        tiocsti = libc::TIOCSTI,
        tioclinux = libc::TIOCLINUX,
    );
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let out = builder
        .stdin(slave.try_clone().unwrap())
        .stdout(slave)
        .stderr(Stdio::piped())
        .command(PYTHON)
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}: {text}", out.status);
    drop(pty.master);
    probe_results(&text)
}

#[test]
fn terminal_injection_is_refused_in_the_sandbox() {
    if !common::root_and_python() {
        return;
    }
    let legacy = std::fs::read_to_string("/proc/sys/dev/tty/legacy_tiocsti").map_or(true, |v| v.trim() == "1");
    let kernel_answer = if legacy { "OK" } else { "EIO" };
    // Control: the same sandbox with no filter at all.
    let mut unconfined = sandbox();
    unconfined
        .seccomp(Seccomp::unconfined())
        .cap_add(nsbox::Capability::CAP_SYS_ADMIN);
    let results = terminal_probes(&mut unconfined);
    assert_eq!(
        results.get("ctty").map(String::as_str),
        Some("OK"),
        "unconfined: {results:?}"
    );
    assert_eq!(results["tiocsti"], kernel_answer, "unconfined: {results:?}");
    assert_eq!(results["tiocsti-high-bits"], kernel_answer, "unconfined: {results:?}");
    assert_ne!(results["tioclinux"], "EPERM", "unconfined: {results:?}");
    let results = terminal_probes(&mut sandbox());
    assert_eq!(results.get("ctty").map(String::as_str), Some("OK"), "{results:?}");
    for probe in ["tiocsti", "tiocsti-high-bits", "tioclinux"] {
        assert_eq!(results[probe], "EPERM", "sandbox {probe}: {results:?}");
    }
}

/// The payload, in the caller's session, tries TIOCSTI and TIOCLINUX on its stdin, a fresh
/// pty's slave, then writes a marker to it. Returns the probe results and what the pty's master
/// read up to the marker: with ECHO on, an injected byte is echoed there before the marker.
fn inject_into_callers_terminal(
    builder: &mut ContainerBuilder,
) -> (std::collections::BTreeMap<String, String>, String) {
    let script = format!(
        "{PY_PROBES}
c = ctypes.c_char(b'x')
check('tiocsti', libc.syscall({sys_ioctl}, 0, ctypes.c_ulong({tiocsti}), ctypes.byref(c)))
check('tioclinux', libc.syscall({sys_ioctl}, 0, ctypes.c_ulong({tioclinux}), ctypes.byref(c)))
os.write(0, b'END')
",
        sys_ioctl = libc::SYS_ioctl,
        tiocsti = libc::TIOCSTI,
        tioclinux = libc::TIOCLINUX,
    );
    let pty = nix::pty::openpty(None, None).expect("openpty");
    // Not the payload's controlling terminal: only CAP_SYS_ADMIN in the initial user namespace
    // lets the kernel accept TIOCSTI on it, so the control below must have both.
    let out = builder
        .new_session(false)
        .namespaces(Namespaces::all() - Namespaces::USER)
        .cap_add(nsbox::Capability::CAP_SYS_ADMIN)
        .stdin(pty.slave.try_clone().unwrap())
        .stdout(Stdio::piped())
        .command(PYTHON)
        .args(["-c", &script])
        .output()
        .unwrap();
    let results = probe_results(&stdout_of(&out));
    // The test's own slave stays open, so the master reads the marker and never EIO; the
    // marker was written (the payload succeeded), so the read loop ends.
    let mut master = std::fs::File::from(pty.master);
    let mut echoed = Vec::new();
    while !echoed.ends_with(b"END") {
        let mut buf = [0u8; 64];
        let n = std::io::Read::read(&mut master, &mut buf).expect("read the pty master");
        assert!(n > 0, "pty master at EOF after {echoed:?}");
        echoed.extend_from_slice(&buf[..n]);
    }
    drop(pty.slave);
    (results, String::from_utf8_lossy(&echoed).into_owned())
}

#[test]
fn terminal_injection_is_refused_under_the_default_policy_and_deny_lists() {
    if !common::root_and_python() {
        return;
    }
    // Control: without a filter the kernel accepts the injection and the byte is echoed.
    let mut unconfined = Container::builder();
    unconfined.seccomp(Seccomp::unconfined());
    let (results, echoed) = inject_into_callers_terminal(&mut unconfined);
    assert_eq!(results["tiocsti"], "OK", "unconfined: {results:?}");
    assert_ne!(results["tioclinux"], "EPERM", "unconfined: {results:?}");
    assert_eq!(echoed, "xEND", "unconfined: {results:?}");

    let default_policy = Container::builder();
    let mut deny_list = Container::builder();
    deny_list.seccomp(Seccomp::deny(["keyctl"]));
    for (name, mut builder) in [("builder default", default_policy), ("deny list", deny_list)] {
        let (results, echoed) = inject_into_callers_terminal(&mut builder);
        assert_eq!(results["tiocsti"], "EPERM", "{name}: {results:?}");
        assert_eq!(results["tioclinux"], "EPERM", "{name}: {results:?}");
        assert_eq!(echoed, "END", "{name}: a byte was injected: {results:?}");
    }
}

/// The privileged-operation probes; `host_pid` is a pid the container cannot see.
fn privileged_probes(host_pid: u32) -> String {
    format!(
        "{PY_PROBES}
check('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
check('unshare', libc.unshare({newuser}))
check('setns', libc.setns(os.open('/proc/self/ns/uts', os.O_RDONLY), 0))
check('keyctl', libc.syscall({keyctl}, 1, 0))
check('bpf', libc.syscall({bpf}, 0, None, 0))
check('ptrace', libc.ptrace(16, {host_pid}, None, None))
check('kill', libc.kill({host_pid}, 0))
check_os('hostname', lambda: os.close(os.open('/proc/sys/kernel/hostname', os.O_WRONLY)))
check_os('sys', lambda: os.close(os.open('/sys/class/net/lo/mtu', os.O_WRONLY)))
check_os('sysrq', lambda: os.close(os.open('/proc/sysrq-trigger', os.O_WRONLY)))
check_os('mknod', lambda: os.mknod('/tmp/nsbox-null', 0o20666, os.makedev(1, 3)))
check('init_module', libc.syscall({init_module}, None, 0, b''))
check('finit_module', libc.syscall({finit_module}, -1, b'', 0))
check('reboot', libc.reboot(0))
",
        newuser = libc::CLONE_NEWUSER,
        keyctl = libc::SYS_keyctl,
        bpf = libc::SYS_bpf,
        init_module = libc::SYS_init_module,
        finit_module = libc::SYS_finit_module,
    )
}

#[test]
fn sandbox_refuses_privileged_operations_with_the_expected_errno() {
    if !common::root_and_python() {
        return;
    }
    let host_pid = std::process::id();
    assert!(
        host_pid > 100,
        "the test's pid must not exist in the container's PID namespace"
    );
    let script = privileged_probes(host_pid);
    // Root mapped to itself, so that read-only mounts, not unmapped owners, answer (EROFS
    // rather than EACCES) whatever /etc/subuid says.
    let identity = [IdMap::new(0, 0, 65536)];
    let run = |builder: &mut ContainerBuilder| {
        let out = builder
            .uid_map(identity)
            .gid_map(identity)
            .mount(Mount::tmpfs("/tmp"))
            .command(PYTHON)
            .args(["-c", &script])
            .output()
            .unwrap();
        probe_results(&stdout_of(&out))
    };
    // Control: without the filter and with every capability, the same probes do succeed.
    let mut control = sandbox();
    control
        .seccomp(Seccomp::unconfined())
        .capabilities(Capabilities::all().iter());
    let results = run(&mut control);
    for probe in ["mount", "unshare", "keyctl"] {
        assert_eq!(results[probe], "OK", "control {probe}: {results:?}");
    }

    let sysrq = if std::path::Path::new("/proc/sysrq-trigger").exists() {
        "EROFS"
    } else {
        "ENOENT"
    };
    let expected = [
        ("mount", "EPERM"),
        ("unshare", "EPERM"),
        ("setns", "EPERM"),
        ("keyctl", "EPERM"),
        ("bpf", "EPERM"),
        ("ptrace", "ESRCH"),
        ("kill", "ESRCH"),
        ("hostname", "EROFS"),
        ("sys", "EROFS"),
        ("sysrq", sysrq),
        ("mknod", "EPERM"),
        ("init_module", "EPERM"),
        ("finit_module", "EPERM"),
        ("reboot", "EPERM"),
    ];
    let results = run(&mut sandbox());
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(probe, errno)| results.get(*probe).map(String::as_str) != Some(errno))
        .map(|(probe, errno)| format!("{probe}: want {errno}, got {:?}", results.get(*probe)))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}\nall: {results:?}");
}

/// `busybox mkdir /scratch/made` in a busybox rootfs under `seccomp`.
fn busybox_mkdir(seccomp: Seccomp) -> nsbox::Output {
    let rootfs = common::busybox_rootfs();
    Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::tmpfs("/scratch"))
        .seccomp(seccomp)
        .command("/bin/busybox")
        .args(["mkdir", "/scratch/made"])
        .output()
        .unwrap()
}

#[test]
fn deny_list_refuses_the_named_syscall_with_eperm() {
    if !common::root_and_busybox() {
        return;
    }
    let out = busybox_mkdir(Seccomp::deny([MKDIR]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("Operation not permitted"),
        "{}: {stderr}",
        out.status
    );
    stdout_of(&busybox_mkdir(Seccomp::deny(["ptrace"])));
    stdout_of(&busybox_mkdir(Seccomp::docker_default()));
}

#[test]
fn allow_list_refuses_every_other_syscall_with_eperm() {
    if !common::root_and_busybox() {
        return;
    }
    let out = busybox_mkdir(Seccomp::allow(BUSYBOX_STARTUP));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("Operation not permitted"),
        "{}: {stderr}",
        out.status
    );
    let with_mkdir = BUSYBOX_STARTUP.iter().copied().chain([MKDIR]);
    stdout_of(&busybox_mkdir(Seccomp::allow(with_mkdir)));
}

#[test]
fn deny_list_naming_a_syscall_the_launcher_needs_is_a_configuration_error() {
    let mut builder = Container::builder();
    builder.seccomp(Seccomp::deny(["ptrace", "read"])).command("/bin/true");
    let err = builder.build().unwrap_err();
    assert!(
        matches!(&err, Error::Config(ConfigError::SeccompDeniesLauncherSyscall { syscall }) if syscall == "read"),
        "{err:?}"
    );
    assert!(err.to_string().contains("\"read\""), "{err}");
    assert!(matches!(builder.spawn(), Err(Error::Config(_))));
}

#[test]
fn unknown_syscall_names_are_a_configuration_error() {
    for seccomp in [
        Seccomp::allow(["read", "nsbox_no_such_call"]),
        Seccomp::deny(["nsbox_no_such_call"]),
    ] {
        let mut builder = Container::builder();
        builder.seccomp(seccomp.clone()).command("/bin/true");
        let err = builder.build().unwrap_err();
        assert!(
            matches!(&err, Error::Config(_)) && err.to_string().contains("nsbox_no_such_call"),
            "{seccomp:?}: {err}"
        );
        assert!(matches!(builder.spawn(), Err(Error::Config(_))), "{seccomp:?}");
    }
}

/// The session (field 6) and controlling terminal (field 7, `tty_nr`) of a `/proc/<pid>/stat`.
fn session_and_tty(stat: &str) -> (u64, u64) {
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat has (comm)") + 2..]
        .split(' ')
        .collect();
    // fields[0] is field 3 (state).
    (fields[3].parse().unwrap(), fields[4].parse().unwrap())
}

/// True when this is the run under a controlling terminal; the inner test does nothing otherwise.
fn under_controlling_terminal() -> bool {
    std::env::var_os("NSBOX_CTTY_INNER").is_some_and(|v| v == "1")
}

#[test]
fn payload_runs_in_a_new_session_without_the_callers_terminal() {
    if !common::root()
        || !common::require(
            "setsid(1) with --ctty",
            std::path::Path::new("/usr/bin/setsid").exists(),
        )
    {
        return;
    }
    // A test binary has no controlling terminal of its own here: rerun the inner test in a new
    // session whose controlling terminal is a fresh pty (`setsid --ctty` takes its stdin's).
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let out = std::process::Command::new("/usr/bin/setsid")
        .arg("--ctty")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "inner_payload_session_under_a_controlling_terminal",
            "--nocapture",
        ])
        .env("NSBOX_CTTY_INNER", "1")
        .stdin(std::process::Stdio::from(pty.slave))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{}:\n{text}",
        out.status
    );
}

#[test]
fn inner_payload_session_under_a_controlling_terminal() {
    if !under_controlling_terminal() {
        return;
    }
    let ours = session_and_tty(&std::fs::read_to_string("/proc/self/stat").unwrap());
    assert_ne!(ours.1, 0, "the inner run must have a controlling terminal");
    // stdin, inherited, is that terminal. Seen from the container's PID namespace a session
    // led outside it is 0; a new one is led by the payload, so its id is the payload's pid.
    let payload = |builder: &mut ContainerBuilder| {
        let stat = stdout_of(&builder.command("/bin/cat").arg("/proc/self/stat").output().unwrap());
        let pid: u64 = stat.split(' ').next().unwrap().parse().unwrap();
        let (session, tty) = session_and_tty(stat.trim_end());
        (pid, session, tty)
    };
    let (pid, session, tty) = payload(&mut Container::builder());
    assert_eq!(session, pid, "default: the payload must lead its own session");
    assert_eq!(tty, 0, "default: the payload must have no controlling terminal");
    // Control: the opt-out keeps the caller's session and terminal, as the probe can see.
    let (pid, session, tty) = payload(Container::builder().new_session(false));
    assert_ne!(session, pid, "new_session(false)");
    assert_eq!(tty, ours.1, "new_session(false): the caller's terminal");
}
