//! Joining a running container's PID and time namespaces by path, and a new time namespace's
//! clock offsets (issue 16): what the payload sees, what exec into it sees, the typed errors
//! of namespaces that cannot be joined, and the spawning thread back in its own namespace on
//! every path.

mod common;

use std::io::Read;
use std::os::fd::AsRawFd;

use common::{Snapshot, refused, sh_builder, stdout_of};
use nsbox::{ClockOffset, ConfigError, Container, Errno, Error, Namespaces, Setting, SetupStep, Signal, Stdio};

/// Every namespace but the user one: a join needs the caller's user namespace.
fn no_user() -> Namespaces {
    Namespaces::all() - Namespaces::USER
}

/// This thread's PID namespace for children (`pid_for_children`).
fn pid_for_children() -> String {
    let link = std::fs::read_link("/proc/thread-self/ns/pid_for_children").unwrap();
    link.to_string_lossy().into_owned()
}

/// A container in its own PID namespace, sleeping: the namespace to join.
fn sleeper() -> Container {
    Container::builder()
        .namespaces(no_user())
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap()
}

fn pid_ns_path(container: &Container) -> String {
    format!("/proc/{}/ns/pid", container.pid())
}

/// The second field of `NSpid:` in /proc/PID/status: the pid in its innermost namespace.
fn inner_pid(host_pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{host_pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("NSpid:")).unwrap();
    line.split_whitespace().last().unwrap().to_owned()
}

#[test]
fn a_joined_pid_namespace_is_shared_and_the_payload_is_not_its_pid_1() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = sleeper();
    let target_ns = common::ns_link(&target.pid().to_string(), "pid");
    let own = pid_for_children();
    let mut joiner =
        sh_builder("echo $$; readlink /proc/self/ns/pid; cat /proc/[0-9]*/comm | sort | tr '\\n' ' '; read x || true")
            .namespaces(no_user())
            .join_namespace(Namespaces::PID, pid_ns_path(&target))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
    // The spawning thread forks into its own namespace again at once.
    assert_eq!(pid_for_children(), own);
    // The handle's pid is the payload's in the caller's namespace; inside it is another.
    assert_eq!(common::ns_link(&joiner.pid().to_string(), "pid"), target_ns);
    let inside = inner_pid(joiner.pid());
    assert_ne!(inside, "1");
    drop(joiner.take_stdin());
    let out = joiner.wait_with_output().unwrap();
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], inside, "{text}");
    assert_eq!(lines[1], target_ns, "{text}");
    // Its /proc is the joined namespace's: the other container's init and sleep are there.
    assert!(lines[2].contains("sleep") && lines[2].contains("nsbox-ini"), "{text}");
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

#[test]
fn exec_kill_and_wait_work_in_a_joined_pid_namespace() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = sleeper();
    let target_ns = common::ns_link(&target.pid().to_string(), "pid");
    let mut joiner = Container::builder()
        .namespaces(no_user())
        .join_namespace(Namespaces::PID, pid_ns_path(&target))
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    // An exec'd process joins the same PID namespace, and is not its PID 1 either.
    let out = joiner
        .exec()
        .command("/bin/sh")
        .args([
            "-c",
            "echo $$; readlink /proc/self/ns/pid; cat /proc/[0-9]*/comm | grep -c sleep",
        ])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_ne!(lines[0], "1", "{text}");
    assert_eq!(lines[1], target_ns, "{text}");
    assert_eq!(lines[2], "2", "both sleeps: {text}");
    joiner.kill(Signal::SIGKILL).unwrap();
    assert_eq!(joiner.wait().unwrap().signal(), Some(Signal::SIGKILL));
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

#[test]
fn the_joined_namespaces_init_exiting_kills_the_payload() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = sleeper();
    let mut joiner = Container::builder()
        .namespaces(no_user())
        .join_namespace(Namespaces::PID, pid_ns_path(&target))
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    target.kill(Signal::SIGKILL).unwrap();
    // The dying PID 1 kills every process of its namespace, and waits until they are reaped:
    // the joiner first.
    assert_eq!(joiner.wait().unwrap().signal(), Some(Signal::SIGKILL));
    target.wait().unwrap();
}

#[test]
fn a_pid_namespace_whose_init_exited_fails_at_the_clone_naming_it() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = sleeper();
    // Kept open, the namespace outlives its processes.
    let held = std::fs::File::open(pid_ns_path(&target)).unwrap();
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
    let path = format!("/proc/self/fd/{}", held.as_raw_fd());
    let own = pid_for_children();
    // Warm up: what a process opens once (a cached fd of /) is not a leak.
    stdout_of(&sh_builder("true").namespaces(no_user()).output().unwrap());
    let before = Snapshot::take();
    let result = sh_builder("true")
        .namespaces(no_user())
        .join_namespace(Namespaces::PID, &path)
        .output();
    match result {
        Err(Error::Setup(e)) => {
            assert_eq!((e.step, e.errno), (SetupStep::Clone, Errno::ENOMEM), "{e}");
            assert_eq!(e.path.as_deref(), Some(std::path::Path::new(&path)), "{e}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(pid_for_children(), own, "the thread is back after a failed spawn");
    before.assert_unchanged("a failed PID join");
}

/// Set in the copy of this test binary run in a PID namespace of its own: the path of a
/// sibling namespace to try.
const SIBLING: &str = "NSBOX_TEST_SIBLING_PID_NS";

#[test]
fn a_pid_namespace_outside_the_callers_fails_to_join_naming_it() {
    let _serial = common::exclusive();
    if let Some(path) = std::env::var_os(SIBLING) {
        // In a PID namespace of its own: the target is beside it, not below (setns: EINVAL).
        let own = pid_for_children();
        match sh_builder("true")
            .namespaces(no_user())
            .join_namespace(Namespaces::PID, &path)
            .output()
        {
            Err(Error::Setup(e)) => {
                assert_eq!((e.step, e.errno), (SetupStep::JoinNamespaces, Errno::EINVAL), "{e}");
                assert_eq!(e.path.as_deref(), Some(std::path::Path::new(&path)), "{e}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(pid_for_children(), own, "the thread is back after a failed join");
        return;
    }
    if !common::root()
        || !common::require(
            "unshare (util-linux)",
            std::path::Path::new("/usr/bin/unshare").exists(),
        )
    {
        return;
    }
    let mut target = sleeper();
    let out = std::process::Command::new("/usr/bin/unshare")
        .args(["--pid", "--fork", "--kill-child"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_pid_namespace_outside_the_callers_fails_to_join_naming_it",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SIBLING, pid_ns_path(&target))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

/// Set in the copy of this test binary run without `CAP_SYS_PTRACE`: the directory the
/// hook and the test meet in.
const REDUCED: &str = "NSBOX_TEST_REDUCED_CAPS_DIR";

/// The joined namespace's processes see the setup process, a copy of the caller's memory,
/// but cannot open its memory: it is not dumpable. Run by a caller without `CAP_SYS_PTRACE`,
/// so that a process of the other container with its uid and every capability it has passes
/// every other check of `ptrace_may_access`, as the hook beside it (dumpable again after its
/// exec, with the same credentials) shows. (`environ`, `maps` and `auxv` are another matter:
/// on Linux 6.18 `CAP_SYS_ADMIN` or `CAP_PERFMON` opens them whatever the dumpability.)
#[test]
fn the_joined_namespaces_processes_cannot_read_the_setup_process() {
    let _serial = common::exclusive();
    if let Some(dir) = std::env::var_os(REDUCED) {
        reduced_caps_body(std::path::Path::new(&dir));
        return;
    }
    if !common::root()
        || !common::require(
            "setpriv (util-linux)",
            std::path::Path::new("/usr/bin/setpriv").exists(),
        )
    {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("nsbox-pidjoin-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--bounding-set", "-sys_ptrace"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_joined_namespaces_processes_cannot_read_the_setup_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(REDUCED, dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

fn reduced_caps_body(dir: &std::path::Path) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let effective = common::status_hex(&status, "CapEff");
    assert_eq!(
        effective & nsbox::Capability::CAP_SYS_PTRACE.bit(),
        0,
        "CAP_SYS_PTRACE dropped"
    );
    // The other container: every capability this process has (so a superset of the setup
    // process's), with its uid.
    let every_but_ptrace: Vec<nsbox::Capability> = nsbox::Capabilities::all()
        .iter()
        .filter(|c| effective & c.bit() != 0)
        .collect();
    // Its payload probes the setup process once the hook has named it, then sleeps.
    let d = dir.display();
    let probe = format!(
        "while [ ! -e {d}/pids ]; do sleep 0.05; done; read setup hook < {d}/pids; \
         for f in /proc/$setup/mem /proc/$hook/mem; do \
         if dd if=$f bs=1 count=0 2> /dev/null; then echo \"$f opened\"; else echo \"$f refused\"; fi; done; \
         echo done; exec sleep 1000"
    );
    let mut target = sh_builder(&probe)
        .namespaces(no_user())
        .capabilities(every_but_ptrace)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The hook runs while the setup process waits for it: it names its parent (the setup
    // process) and itself, in the joined namespace's numbering, and waits for `go`.
    let script = format!(
        "echo $PPID $$ > {d}/pids.new && mv {d}/pids.new {d}/pids; i=0; \
         while [ ! -e {d}/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
    );
    let hook = nsbox::ProcessHook::new("/bin/sh")
        .args(["/bin/sh", "-c", &script])
        .env(["PATH=/usr/bin:/bin"]);
    // Through its payload: its init is not dumpable, so without CAP_SYS_PTRACE its ns files
    // cannot be opened (nor can an exec join it through its pidfd).
    let payload = common::children_of(target.pid()).into_iter().next().unwrap();
    let mut joiner = sh_builder("true");
    joiner
        .namespaces(no_user())
        .join_namespace(Namespaces::PID, format!("/proc/{payload}/ns/pid"))
        .before_pivot_root(hook);
    let spawned = std::thread::spawn(move || joiner.output());
    let mut seen = String::new();
    let mut stdout = std::io::BufReader::new(target.take_stdout().unwrap());
    while !seen.ends_with("done\n") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    std::fs::write(dir.join("go"), "").unwrap();
    let pids = std::fs::read_to_string(dir.join("pids")).unwrap();
    let (setup, hook) = pids.trim().split_once(' ').unwrap();
    assert_eq!(
        seen,
        format!("/proc/{setup}/mem refused\n/proc/{hook}/mem opened\ndone\n"),
        "{seen}"
    );
    stdout_of(&spawned.join().unwrap().expect("the joiner"));
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

#[test]
fn a_path_that_is_not_a_pid_namespace_is_refused() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    for path in [
        "/proc/self/ns/uts",
        "/proc/self/ns/pid_for_children_missing",
        "/etc/hostname",
    ] {
        let result = sh_builder("true")
            .namespaces(no_user())
            .join_namespace(Namespaces::PID, path)
            .output();
        match result {
            Err(Error::Config(ConfigError::Malformed {
                setting: Setting::JoinNamespace,
                ..
            })) => {}
            Err(Error::Io { .. }) if !std::path::Path::new(path).exists() => {}
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn pid_and_time_joins_leak_nothing() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = Container::builder()
        .namespaces(no_user())
        .time_offsets(ClockOffset::seconds(100), ClockOffset::seconds(100))
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let pid = target.pid();
    let join = || {
        let out = sh_builder("true")
            .namespaces(no_user())
            .join_namespace(Namespaces::PID, format!("/proc/{pid}/ns/pid"))
            .join_namespace(Namespaces::TIME, format!("/proc/{pid}/ns/time"))
            .output()
            .unwrap();
        stdout_of(&out);
    };
    // Warm up: what a process opens once (a cached fd of /) is not a leak.
    join();
    let before = Snapshot::take();
    for _ in 0..3 {
        join();
    }
    before.assert_unchanged("PID and time joins");
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

/// `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` of this process, in seconds.
fn clocks() -> (f64, f64) {
    let read = |clock| {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: a valid timespec to fill.
        assert_eq!(unsafe { libc::clock_gettime(clock, &mut ts) }, 0);
        ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
    };
    (read(libc::CLOCK_MONOTONIC), read(libc::CLOCK_BOOTTIME))
}

const PRINT_CLOCKS: &str = "import time; print(time.clock_gettime(time.CLOCK_MONOTONIC), time.clock_gettime(time.CLOCK_BOOTTIME)); print(open('/proc/uptime').read().split()[0])";

/// The monotonic and boot-time clocks and the uptime the process `output` printed.
fn printed(text: &str) -> (f64, f64, f64) {
    let numbers: Vec<f64> = text.split_whitespace().map(|n| n.parse().unwrap()).collect();
    (numbers[0], numbers[1], numbers[2])
}

/// Checks that `inside` lies between the host's clocks before and after, shifted by the offsets.
fn assert_shifted(inside: (f64, f64, f64), before: (f64, f64), after: (f64, f64), offsets: (i64, i64)) {
    let (monotonic, boottime, uptime) = inside;
    let within = |value: f64, low: f64, high: f64, offset: i64| {
        // /proc/uptime has two decimals; a clock read has nanoseconds.
        value >= low + offset as f64 - 0.01 && value <= high + offset as f64 + 0.01
    };
    assert!(
        within(monotonic, before.0, after.0, offsets.0),
        "monotonic {monotonic}: {before:?} {after:?}"
    );
    assert!(
        within(boottime, before.1, after.1, offsets.1),
        "boottime {boottime}: {before:?} {after:?}"
    );
    assert!(
        within(uptime, before.1, after.1, offsets.1),
        "uptime {uptime}: {before:?} {after:?}"
    );
}

#[test]
fn time_offsets_shift_the_containers_clocks() {
    let _serial = common::exclusive();
    if !common::root_and_python() {
        return;
    }
    let (monotonic, boottime) = (7 * 86_400, 10 * 86_400);
    // With and without a user namespace (which then owns the time namespace), and without
    // an init.
    for (ns, init) in [(Namespaces::all(), true), (no_user(), true), (no_user(), false)] {
        let before = clocks();
        let out = Container::builder()
            .namespaces(ns)
            .init(init)
            .time_offsets(ClockOffset::seconds(monotonic), ClockOffset::seconds(boottime))
            .command(common::PYTHON)
            .args(["-c", PRINT_CLOCKS])
            .output()
            .unwrap();
        let after = clocks();
        assert_shifted(printed(&stdout_of(&out)), before, after, (monotonic, boottime));
    }
    // Nanoseconds count, and a negative offset turns the clock back.
    let before = clocks();
    let back = (before.0 as i64 / 2).max(1);
    let out = Container::builder()
        .namespaces(no_user())
        .time_offsets(
            ClockOffset { secs: -back, nanos: 0 },
            ClockOffset {
                secs: 0,
                nanos: 500_000_000,
            },
        )
        .command(common::PYTHON)
        .args(["-c", PRINT_CLOCKS])
        .output()
        .unwrap();
    let after = clocks();
    let (m, b, u) = printed(&stdout_of(&out));
    assert_shifted((m, b - 0.5, u - 0.5), before, after, (-back, 0));
}

#[test]
fn a_joined_time_namespace_and_exec_see_its_offsets() {
    let _serial = common::exclusive();
    if !common::root_and_python() {
        return;
    }
    let offsets = (3 * 86_400, 5 * 86_400);
    let target = Container::builder()
        .namespaces(no_user())
        .time_offsets(ClockOffset::seconds(offsets.0), ClockOffset::seconds(offsets.1))
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let before = clocks();
    let out = Container::builder()
        .namespaces(no_user())
        .join_namespace(Namespaces::TIME, format!("/proc/{}/ns/time", target.pid()))
        .command(common::PYTHON)
        .args(["-c", PRINT_CLOCKS])
        .output()
        .unwrap();
    let after = clocks();
    assert_shifted(printed(&stdout_of(&out)), before, after, offsets);
    let before = clocks();
    let out = target
        .exec()
        .command(common::PYTHON)
        .args(["-c", PRINT_CLOCKS])
        .output()
        .unwrap();
    let after = clocks();
    assert_shifted(printed(&stdout_of(&out)), before, after, offsets);
    let mut target = target;
    target.kill(Signal::SIGKILL).unwrap();
    let mut rest = String::new();
    if let Some(mut stdout) = target.take_stdout() {
        let _ = stdout.read_to_string(&mut rest);
    }
    target.wait().unwrap();
}

#[test]
fn time_offsets_that_cannot_work_are_refused() {
    let _serial = common::exclusive();
    let e = refused(
        sh_builder("true")
            .namespaces(no_user() - Namespaces::TIME)
            .time_offsets(ClockOffset::seconds(1), ClockOffset::seconds(1)),
    );
    assert!(
        matches!(
            e,
            ConfigError::NeedsNamespace {
                setting: Setting::TimeOffsets,
                ..
            }
        ),
        "{e}"
    );
    let e = refused(sh_builder("true").time_offsets(
        ClockOffset {
            secs: 0,
            nanos: 1_000_000_000,
        },
        ClockOffset::default(),
    ));
    assert!(
        matches!(
            e,
            ConfigError::OutOfRange {
                setting: Setting::TimeOffsets,
                ..
            }
        ),
        "{e}"
    );
    let e = refused(
        sh_builder("true")
            .namespaces(no_user())
            .join_namespace(Namespaces::TIME, "/proc/1/ns/time")
            .time_offsets(ClockOffset::seconds(1), ClockOffset::seconds(1)),
    );
    assert!(
        matches!(
            e,
            ConfigError::Conflict {
                setting: Setting::TimeOffsets,
                ..
            }
        ),
        "{e}"
    );
    // A joined PID namespace with a new user namespace: as for every join.
    let e = refused(sh_builder("true").join_namespace(Namespaces::PID, "/proc/1/ns/pid"));
    assert!(
        matches!(
            e,
            ConfigError::Conflict {
                setting: Setting::JoinNamespace,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn an_offset_the_kernel_refuses_is_a_setup_error_naming_the_file() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    // A monotonic clock below zero.
    let e = common::setup_failure_of(
        sh_builder("true")
            .namespaces(no_user())
            .time_offsets(ClockOffset::seconds(-(1 << 40)), ClockOffset::default())
            .output(),
    );
    assert_eq!(e.step, SetupStep::TimeNamespace, "{e}");
    assert_eq!(
        e.path.as_deref(),
        Some(std::path::Path::new("/proc/self/timens_offsets")),
        "{e}"
    );
    assert_eq!(e.errno, Errno::ERANGE, "{e}");
}
