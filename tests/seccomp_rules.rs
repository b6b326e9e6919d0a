//! Rule-based seccomp policies (`Seccomp::rules`) against the real kernel: argument conditions
//! (64-bit, masked), every action, the default errno, filter flags, nsbox's terminal rule, a
//! large deny-by-default program, and policies that would stop the launcher. Probes run the
//! host's Python in a host-root container and report the errno of each syscall.

mod common;

use std::os::fd::OwnedFd;

use common::{PY_PROBES, PYTHON, probe_results, stdout_of};
use nsbox::{
    ConfigError, Container, Error, Seccomp, SeccompAction, SeccompArch, SeccompCondition, SeccompRule, SeccompRules,
    Signal, Stdio,
};
use syscalls::Sysno;

const EPERM: u16 = libc::EPERM as u16;

/// Runs `script` (after the probe prelude) under `policy`; its stdout's probe results.
fn probes(policy: SeccompRules, script: &str) -> std::collections::BTreeMap<String, String> {
    let out = Container::builder()
        .seccomp(Seccomp::rules(policy))
        .command(PYTHON)
        .args(["-c", &format!("{PY_PROBES}\n{script}")])
        .output()
        .unwrap();
    probe_results(&stdout_of(&out))
}

/// Docker-like: EPERM by default, every native syscall allowed but those `guarded` (which get
/// only the rules given), i386 and x32 filtered too. About 360 names: a large program.
fn deny_by_default(default: SeccompAction, guarded: &[&str]) -> SeccompRules {
    let allowed: Vec<&str> = (0..1024)
        .filter_map(Sysno::new)
        .map(|s| s.name())
        .filter(|n| !guarded.contains(n))
        .collect();
    assert!(allowed.len() > 300, "{} syscalls", allowed.len());
    SeccompRules::new(default)
        .rule(SeccompRule::new(allowed, SeccompAction::Allow))
        .architecture(SeccompArch::X86)
        .architecture(SeccompArch::X32)
}

fn personality(persona: u64) -> SeccompRule {
    SeccompRule::new(["personality"], SeccompAction::Allow).when(SeccompCondition::eq(0, persona))
}

#[test]
fn personality_is_allowed_only_for_the_listed_personas() {
    if !common::root_and_python() {
        return;
    }
    // Docker's rules but for PER_LINUX32 (8), which is left to the default here.
    let policy = deny_by_default(SeccompAction::Errno(EPERM), &["personality"])
        .rule(personality(0))
        .rule(personality(0xffff_ffff));
    let results = probes(
        policy,
        &format!(
            "
p = lambda v: libc.syscall({nr}, ctypes.c_ulong(v))
check('query', p(0xffffffff))
check('linux', p(0))
check('linux32', p(8))
check('no-randomize', p(0x0040000))
check('query-high-bits', p(0x1ffffffff))
",
            nr = libc::SYS_personality
        ),
    );
    assert_eq!(results["query"], "OK", "{results:?}");
    assert_eq!(results["linux"], "OK", "{results:?}");
    assert_eq!(results["linux32"], "EPERM", "{results:?}");
    assert_eq!(results["no-randomize"], "EPERM", "{results:?}");
    // The kernel would take the low 32 bits (a query): the filter compares all 64.
    assert_eq!(results["query-high-bits"], "EPERM", "{results:?}");
}

#[test]
fn clone_with_namespace_flags_is_refused_by_a_masked_compare() {
    if !common::root_and_python() {
        return;
    }
    const NAMESPACE_FLAGS: u64 = 0x7e02_0000;
    let policy = deny_by_default(SeccompAction::Errno(EPERM), &["clone", "clone3"])
        .rule(
            SeccompRule::new(["clone"], SeccompAction::Allow).when(SeccompCondition::masked_eq(0, NAMESPACE_FLAGS, 0)),
        )
        .rule(SeccompRule::new(["clone3"], SeccompAction::Errno(libc::ENOSYS as u16)));
    let results = probes(
        policy,
        &format!(
            "
def clone(flags):
    r = libc.syscall({nr}, ctypes.c_ulong(flags), None, None, None, ctypes.c_ulong(0))
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
    return r
check('fork', clone({sigchld}))
check('newuts', clone({sigchld} | {newuts}))
check('newuser', clone({sigchld} | {newuser}))
check('clone3', libc.syscall({clone3}, None, ctypes.c_ulong(0)))
pid = os.fork()
if pid == 0:
    os._exit(0)
print('os.fork', 'OK' if os.waitpid(pid, 0)[0] == pid else 'failed')
",
            nr = libc::SYS_clone,
            clone3 = libc::SYS_clone3,
            sigchld = libc::SIGCHLD,
            newuts = libc::CLONE_NEWUTS,
            newuser = libc::CLONE_NEWUSER,
        ),
    );
    assert_eq!(results["fork"], "OK", "{results:?}");
    assert_eq!(results["os.fork"], "OK", "{results:?}");
    assert_eq!(results["newuts"], "EPERM", "{results:?}");
    assert_eq!(results["newuser"], "EPERM", "{results:?}");
    assert_eq!(results["clone3"], "ENOSYS", "{results:?}");
}

#[test]
fn sixty_four_bit_arguments_are_compared_on_both_halves() {
    if !common::root_and_python() {
        return;
    }
    // lseek's offset is 64-bit: 2^32 + 5 and 5 share the low half.
    let big = (1u64 << 32) + 5;
    let policy = SeccompRules::new(SeccompAction::Allow)
        .rule(SeccompRule::new(["lseek"], SeccompAction::Errno(libc::EDOM as u16)).when(SeccompCondition::eq(1, big)))
        .rule(
            SeccompRule::new(["lseek"], SeccompAction::Errno(libc::ERANGE as u16))
                .when(SeccompCondition::gt(1, 1 << 40))
                .when(SeccompCondition::lt(1, 1 << 41)),
        );
    let results = probes(
        policy,
        &format!(
            "
fd = os.open('/dev/null', os.O_RDONLY)
seek = lambda off: libc.syscall({nr}, fd, ctypes.c_ulong(off), 0)
check('big', seek({big}))
check('low-half', seek(5))
check('range', seek((1 << 40) + 1))
check('above-range', seek(1 << 41))
check('range-edge', seek(1 << 40))
",
            nr = libc::SYS_lseek
        ),
    );
    assert_eq!(results["big"], "EDOM", "{results:?}");
    assert_eq!(results["low-half"], "OK", "{results:?}");
    assert_eq!(results["range"], "ERANGE", "{results:?}");
    assert_eq!(results["above-range"], "OK", "{results:?}");
    assert_eq!(results["range-edge"], "OK", "{results:?}");
}

#[test]
fn errno_trace_and_log_actions_answer_as_the_kernel_defines() {
    if !common::root_and_python() {
        return;
    }
    let policy = SeccompRules::new(SeccompAction::Allow)
        .rule(SeccompRule::new(["getppid"], SeccompAction::Errno(libc::EBADFD as u16)))
        .rule(SeccompRule::new(
            ["getpgrp"],
            SeccompAction::Errno(libc::ENOTBLK as u16),
        ))
        // No tracer: ENOSYS.
        .rule(SeccompRule::new(["getsid"], SeccompAction::Trace(1)))
        .rule(SeccompRule::new(["getpriority"], SeccompAction::Log));
    let results = probes(
        policy,
        &format!(
            "
check('getppid', libc.syscall({getppid}))
check('getpgrp', libc.syscall({getpgrp}))
check('getsid', libc.syscall({getsid}, 0))
check('getpriority', libc.syscall({getpriority}, 0, 0))
check('getpid', libc.syscall({getpid}))
",
            getppid = libc::SYS_getppid,
            getpgrp = libc::SYS_getpgrp,
            getsid = libc::SYS_getsid,
            getpriority = libc::SYS_getpriority,
            getpid = libc::SYS_getpid,
        ),
    );
    assert_eq!(results["getppid"], "EBADFD", "{results:?}");
    assert_eq!(results["getpgrp"], "ENOTBLK", "{results:?}");
    assert_eq!(results["getsid"], "ENOSYS", "{results:?}");
    assert_eq!(results["getpriority"], "OK", "{results:?}");
    assert_eq!(results["getpid"], "OK", "{results:?}");
}

#[test]
fn the_default_errno_applies_to_unlisted_syscalls() {
    if !common::root_and_python() {
        return;
    }
    let policy = deny_by_default(SeccompAction::Errno(libc::EXDEV as u16), &["keyctl", "mount"]);
    let results = probes(
        policy,
        &format!(
            "
check('keyctl', libc.syscall({keyctl}, 0, 0))
check('mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))
check('getpid', libc.syscall({getpid}))
",
            keyctl = libc::SYS_keyctl,
            getpid = libc::SYS_getpid,
        ),
    );
    assert_eq!(results["keyctl"], "EXDEV", "{results:?}");
    assert_eq!(results["mount"], "EXDEV", "{results:?}");
    assert_eq!(results["getpid"], "OK", "{results:?}");
}

/// The payload's exit status after calling getppid under `action`.
fn status_after_getppid(action: SeccompAction, trap_handler: bool) -> (nsbox::ExitStatus, String) {
    let script = format!(
        "
import ctypes, signal, sys
libc = ctypes.CDLL(None, use_errno=True)
if {trap_handler}:
    signal.signal(signal.SIGSYS, lambda s, f: print('trapped', flush=True))
libc.syscall({getppid})
print('survived', flush=True)
",
        trap_handler = if trap_handler { "True" } else { "False" },
        getppid = libc::SYS_getppid,
    );
    let out = Container::builder()
        .seccomp(Seccomp::rules(
            SeccompRules::new(SeccompAction::Allow).rule(SeccompRule::new(["getppid"], action)),
        ))
        .command(PYTHON)
        .args(["-c", &script])
        .output()
        .unwrap();
    (out.status, String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn kill_and_trap_actions_end_or_signal_the_payload() {
    if !common::root_and_python() {
        return;
    }
    for action in [
        SeccompAction::KillProcess,
        SeccompAction::KillThread,
        SeccompAction::Trap,
    ] {
        let (status, stdout) = status_after_getppid(action, false);
        assert_eq!(status.signal(), Some(Signal::SIGSYS), "{action:?}: {status} {stdout:?}");
        assert!(!stdout.contains("survived"), "{action:?}: {stdout:?}");
    }
    // A trap is a signal the payload may handle; the syscall did not run, the payload goes on.
    let (status, stdout) = status_after_getppid(SeccompAction::Trap, true);
    assert!(status.success(), "{status} {stdout:?}");
    assert_eq!(stdout, "trapped\nsurvived\n");
    // Control: allowed.
    let (status, stdout) = status_after_getppid(SeccompAction::Allow, false);
    assert!(status.success() && stdout == "survived\n", "{status} {stdout:?}");
}

#[test]
fn filters_load_with_the_log_and_spec_allow_flags() {
    if !common::root_and_python() {
        return;
    }
    let policy = deny_by_default(SeccompAction::Errno(EPERM), &["keyctl"])
        .log_actions()
        .allow_speculation();
    let results = probes(
        policy,
        &format!(
            "
check('keyctl', libc.syscall({keyctl}, 0, 0))
check('getpid', libc.syscall({getpid}))
print('seccomp', open('/proc/self/status').read().split('Seccomp:')[1].split()[0])
",
            keyctl = libc::SYS_keyctl,
            getpid = libc::SYS_getpid,
        ),
    );
    assert_eq!(results["keyctl"], "EPERM", "{results:?}");
    assert_eq!(results["getpid"], "OK", "{results:?}");
    assert_eq!(results["seccomp"], "2", "{results:?}");
}

#[test]
fn terminal_injection_is_refused_under_rule_policies() {
    if !common::root_and_python() {
        return;
    }
    // As tests/seccomp.rs: the pty is made the controlling terminal first, so the kernel alone
    // never answers EPERM; EPERM can only come from the filter.
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
check_os('tcgets', lambda: termios.tcgetattr(0))
",
        sys_ioctl = libc::SYS_ioctl,
        tiocsti = libc::TIOCSTI,
        tioclinux = libc::TIOCLINUX,
    );
    let allow_all = SeccompRules::new(SeccompAction::Allow);
    let ioctl_allowed = deny_by_default(SeccompAction::Errno(EPERM), &[]);
    for policy in [allow_all, ioctl_allowed] {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let slave: OwnedFd = pty.slave;
        let out = Container::builder()
            .seccomp(Seccomp::rules(policy))
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
        let results = probe_results(&text);
        assert_eq!(results.get("ctty").map(String::as_str), Some("OK"), "{results:?}");
        for probe in ["tiocsti", "tiocsti-high-bits", "tioclinux"] {
            assert_eq!(results[probe], "EPERM", "{probe}: {results:?}");
        }
        assert_eq!(results["tcgets"], "OK", "{results:?}");
    }
}

#[test]
fn rule_policies_that_would_stop_the_launcher_are_refused_at_spawn() {
    let policy = deny_by_default(SeccompAction::Errno(EPERM), &["execve"]);
    let err = Container::builder()
        .seccomp(Seccomp::rules(policy))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    match err {
        Error::Config(ConfigError::SeccompDeniesLauncherSyscall { syscall }) => assert_eq!(syscall, "execve"),
        other => panic!("{other:?}"),
    }
}
