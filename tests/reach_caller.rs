//! No process nsbox leaves in a container may be a lever on the caller: the payload attacks
//! PID 1 (nsbox-init) and the port connector (nsbox-connect) from its very first instruction.
//!
//! Before the fix, PID 1 still ran on the caller's memory (`CLONE_VM`) when the payload
//! started, so `/proc/1/mem` opened the caller's address space; nsbox-init and the connector
//! had no seccomp filter, and the connector sat in the caller's session. Now the payload's
//! launcher waits until both have made themselves undumpable, entered their own session and
//! loaded their filter: every check below must fail for the payload on every run, so the
//! loops race it 500 times, with both cores busy, as root and (tests/rootless.rs style) as
//! `nobody`.

mod common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{PYTHON, stdout_of};
use nsbox::{Container, Port, Profile, Stdio};

/// Tries, as early as a shell can, every way into PID 1 and the connector; prints one line per
/// success and `checked N` at the end (N: processes examined).
const ATTACK: &str = r#"
n=0
attack() {
  p=$1; n=$((n + 1))
  (exec 3</proc/$p/mem) 2>/dev/null && echo "$2: /proc/$p/mem opened for reading"
  (exec 3<>/proc/$p/mem) 2>/dev/null && echo "$2: /proc/$p/mem opened for writing"
  for f in /proc/$p/fd/*; do readlink $f >/dev/null 2>&1 && echo "$2: $f followed"; done
  readlink /proc/$p/exe >/dev/null 2>&1 && echo "$2: /proc/$p/exe readable"
  grep -q '^Seccomp:[[:space:]]*2' /proc/$p/status || echo "$2: no seccomp filter"
  grep -q '^NoNewPrivs:[[:space:]]*1' /proc/$p/status || echo "$2: no no_new_privs"
  set -- "$2" $(sed 's/.*) //' /proc/$p/stat)
  [ "$5" = "$p" ] || echo "$1: in session $5, not its own"
  [ "$6" = 0 ] || echo "$1: controlling terminal $6"
}
attack 1 init
for d in /proc/[0-9]*; do
  [ "$(tr '\0' ' ' <$d/cmdline 2>/dev/null)" = "nsbox-connect " ] && attack ${d#/proc/} connector
done
echo "checked $n"
"#;

/// One attacked container: `Profile::Sandbox` or the defaults, a published port (so the
/// connector runs) on every other run. Returns the lines the attack printed.
fn attack_once(sandbox: bool, with_port: bool) -> String {
    let mut builder = Container::builder();
    if sandbox {
        builder.profile(Profile::Sandbox).env("PATH", "/usr/bin:/bin");
    }
    if with_port {
        builder.publish(Port::tcp(0, 80));
    }
    let out = builder
        .command("/bin/sh")
        .args(["-c", ATTACK])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("spawn the attacker");
    let text = stdout_of(&out);
    let want = if with_port { "checked 2" } else { "checked 1" };
    assert!(
        text.ends_with(&format!("{want}\n")),
        "the attack did not run through:\n{text}"
    );
    text
}

/// Runs `runs` attacks (alternating profile and port), with every core kept busy by spinning
/// threads if `contended`; returns every run's findings.
fn race(runs: usize, contended: bool) -> Vec<String> {
    let stop = Arc::new(AtomicBool::new(false));
    let cores = if contended {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        0
    };
    let spinners: Vec<_> = (0..cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    let mut found = Vec::new();
    for run in 0..runs {
        let text = attack_once(run % 2 == 1, run % 4 >= 2);
        let hits: Vec<&str> = text.lines().filter(|l| !l.starts_with("checked")).collect();
        if !hits.is_empty() {
            found.push(format!("run {run}: {}", hits.join("; ")));
        }
    }
    stop.store(true, Ordering::Relaxed);
    spinners.into_iter().for_each(|t| t.join().unwrap());
    found
}

fn assert_no_way_in(runs: usize, contended: bool) {
    let found = race(runs, contended);
    assert!(
        found.is_empty(),
        "the payload reached PID 1 or the connector in {} of {runs} runs (cores busy: {contended}):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn payload_never_reaches_pid1_or_the_connector_in_500_racing_spawns() {
    if !common::root() {
        return;
    }
    assert_no_way_in(500, false);
}

#[test]
fn payload_never_reaches_pid1_or_the_connector_in_500_racing_spawns_with_every_core_busy() {
    if !common::root() {
        return;
    }
    assert_no_way_in(500, true);
}

/// ptrace itself, not only /proc: PTRACE_SEIZE of PID 1 and of the connector is refused, and
/// PID 1's seccomp filter and capabilities are the minimal ones.
#[test]
fn payload_cannot_ptrace_pid1_or_the_connector() {
    if !common::root_and_python() {
        return;
    }
    let script = r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_SEIZE = 0x4206
def connector():
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if open(f"/proc/{p}/cmdline", "rb").read() == b"nsbox-connect\0":
                    return int(p)
            except OSError:
                pass
for name, pid in (("init", 1), ("connector", connector())):
    r = libc.ptrace(PTRACE_SEIZE, pid, 0, 0)
    print(name, "seized" if r == 0 else os.strerror(ctypes.get_errno()))
"#;
    let out = Container::builder()
        .publish(Port::tcp(0, 80))
        .command(PYTHON)
        .args(["-c", script])
        .stdout(Stdio::piped())
        .output()
        .expect("spawn");
    assert_eq!(
        stdout_of(&out),
        "init Operation not permitted\nconnector Operation not permitted\n"
    );
}

/// The exit status the caller's `wait` reports is the payload's: with PID 1 out of reach,
/// nothing in the container can forge it.
#[test]
fn wait_reports_the_payloads_own_exit_status() {
    if !common::root() {
        return;
    }
    let mut child = Container::builder()
        .command("/bin/sh")
        .args([
            "-c",
            "kill -9 1 2>/dev/null; echo 'x' >/proc/1/fd/3 2>/dev/null; exit 7",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut text = String::new();
    child.take_stdout().unwrap().read_to_string(&mut text).unwrap();
    assert_eq!(child.wait().expect("wait").code(), Some(7), "stdout: {text}");
}

// The rootless run: this binary, copied to a public directory, as `nobody`.

const INNER: &str = "NSBOX_REACH_CALLER_INNER";

#[test]
fn payload_never_reaches_pid1_or_the_connector_as_an_unprivileged_caller() {
    common::inner_tests_pass_as_nobody(INNER, 1);
}

#[test]
fn inner_rootless_race() {
    if std::env::var_os(INNER).is_none_or(|v| v != "1") {
        return;
    }
    assert!(!common::is_root(), "the inner run must not be root");
    assert_no_way_in(500, true);
}

/// nsbox-init is position-independent: two containers' inits sit at different addresses, so an
/// exploit cannot count on where its code is.
#[test]
fn init_binary_is_loaded_at_a_random_address() {
    let aslr = std::fs::read_to_string("/proc/sys/kernel/randomize_va_space").unwrap_or_default();
    if !common::root() || !common::require("address space randomization on", aslr.trim() != "0") {
        return;
    }
    let start = || {
        Container::builder()
            .command("/bin/sleep")
            .arg("10")
            .spawn()
            .expect("spawn")
    };
    let (a, b) = (start(), start());
    let base = |c: &Container| {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", c.pid())).expect("read the init's maps");
        maps.split('-').next().unwrap().to_owned()
    };
    assert_ne!(base(&a), base(&b), "both inits are mapped at the same address");
}
