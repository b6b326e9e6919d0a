//! A container's life, as with `std::process::Child`: waiting, exit statuses, signals, the
//! PID 1 init, and what dropping the handle does.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::Command;
use std::time::Duration;

use common::{proc_stat, sh, sh_builder, sh_ok, stdout_of, wait_until};
use nsbox::{Container, Signal, Stdio};

/// A bound against hangs, not a timing check.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn try_wait_is_none_while_running_then_the_status() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .command("/bin/cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(c.try_wait().unwrap(), None, "cat waits for its stdin");
    drop(c.take_stdin());
    let mut status = None;
    wait_until("cat to exit after EOF", BOUND, || {
        status = c.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success());
    assert_eq!(c.try_wait().unwrap(), status, "the status is kept");
}

#[test]
fn wait_closes_a_piped_stdin() {
    if !common::root() {
        return;
    }
    // Not taken, not closed by the caller: wait() must close it or cat never sees EOF.
    let mut c = Container::builder()
        .command("/bin/cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(c.wait().map(|s| s.success())));
    let waited = rx.recv_timeout(BOUND).expect("wait() returned: it closed stdin");
    assert!(waited.unwrap());
}

/// (A container that is not detached outlives its thread too, and dies with its process:
/// tests/lifetime.rs.)
#[test]
fn detached_container_outlives_its_spawning_thread() {
    if !common::root() {
        return;
    }
    let mut d = std::thread::spawn(|| {
        Container::builder()
            .command("/bin/sleep")
            .arg("1000")
            .detach()
            .spawn()
            .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(
        d.wait_timeout(Duration::from_millis(200)).unwrap(),
        None,
        "detached container died with its thread"
    );
    d.kill(Signal::SIGKILL).unwrap();
    assert_eq!(d.wait().unwrap().signal(), Some(Signal::SIGKILL));
}

#[test]
fn wait_timeout_is_none_while_the_payload_sleeps() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder().command("/bin/sleep").arg("1000").spawn().unwrap();
    assert_eq!(c.wait_timeout(Duration::from_millis(100)).unwrap(), None);
    c.kill(Signal::SIGKILL).unwrap();
    let status = c.wait_timeout(BOUND).unwrap().expect("SIGKILL ends the container");
    assert_eq!(status.signal(), Some(Signal::SIGKILL));
}

#[test]
fn kill_sigterm_ends_the_payload_with_sigterm() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder().command("/bin/sleep").arg("1000").spawn().unwrap();
    c.kill(Signal::SIGTERM).unwrap();
    let status = c
        .wait_timeout(BOUND)
        .unwrap()
        .expect("SIGTERM is forwarded to the payload");
    assert_eq!(
        (status.signal(), status.code()),
        (Some(Signal::SIGTERM), None),
        "{status}"
    );
    c.kill(Signal::SIGTERM)
        .expect("signalling an exited container is not an error");
}

#[test]
fn payload_trapping_sigterm_gets_it_and_exits_with_its_code() {
    if !common::root() {
        return;
    }
    let script = "trap 'echo got; exit 3' TERM; sleep 1000 >/dev/null & echo ready; wait";
    let mut c = sh_builder(script).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdout = BufReader::new(c.take_stdout().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n", "the trap is installed");
    c.kill(Signal::SIGTERM).unwrap();
    let status = c.wait_timeout(BOUND).unwrap().expect("the trap ended the payload");
    assert_eq!(status.code(), Some(3), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got\n");
}

#[test]
fn init_reaps_orphans() {
    if !common::root() {
        return;
    }
    // Orphans are reparented to PID 1; unreaped, they would stay zombies (state Z) for good.
    let script = r#"
        pids=$(for i in 1 2 3 4 5; do sh -c 'sleep 0.2 >/dev/null 2>&1 & echo $!'; done)
        for p in $pids; do echo "ppid $(cut -d' ' -f4 /proc/$p/stat)"; done
        for p in $pids; do
            i=0; while [ -e /proc/$p ] && [ $i -lt 600 ]; do i=$((i+1)); sleep 0.05; done
        done
        for s in /proc/[0-9]*/stat; do set -- $(cat $s 2>/dev/null); [ "$3" = Z ] && echo "zombie $1 $2"; done
        echo done
    "#;
    let text = sh_ok(script);
    assert_eq!(
        text.matches("ppid 1\n").count(),
        5,
        "the orphans were adopted by init: {text}"
    );
    assert!(!text.contains("zombie"), "{text}");
    assert!(text.ends_with("done\n"), "{text}");
}

#[test]
fn dropping_a_running_container_kills_it() {
    if !common::root() {
        return;
    }
    let c = Container::builder().command("/bin/sleep").arg("1000").spawn().unwrap();
    let init = c.pid();
    let payload = *common::children_of(init).first().expect("the payload runs under init");
    let start = |pid| proc_stat(pid).map(|f| f[18].clone()); // starttime tells a reused pid apart
    let (init_start, payload_start) = (start(init), start(payload));
    drop(c);
    assert!(
        start(init).is_none() || start(init) != init_start,
        "init {init} is still there after drop"
    );
    assert!(
        start(payload).is_none() || start(payload) != payload_start,
        "payload {payload} survived the drop"
    );
}

#[test]
fn detached_container_survives_the_drop() {
    if !common::root() {
        return;
    }
    let c = Container::builder()
        .command("/bin/sleep")
        .arg("1000")
        .detach()
        .spawn()
        .unwrap();
    let pid = c.pid();
    drop(c);
    let state = proc_stat(pid).map(|f| f[0].clone());
    let alive = state.as_deref().is_some_and(|s| s != "Z");
    // Clean up: kill the container (its init takes the payload along). Reaping it needs
    // waitpid, which std does not offer for a foreign child: it stays a zombie until we exit.
    let killed = Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(alive, "the detached container is gone after drop (state {state:?})");
    assert!(killed.success());
    wait_until("the detached container to die", BOUND, || {
        proc_stat(pid).is_none_or(|f| f[0] == "Z")
    });
}

#[test]
fn exit_codes_propagate() {
    if !common::root() {
        return;
    }
    for init in [true, false] {
        let status = sh_builder("exit 7").init(init).status().unwrap();
        assert_eq!((status.code(), status.success()), (Some(7), false), "init {init}");
    }
    let status = sh_builder("kill -KILL $$").status().unwrap();
    assert_eq!(status.signal(), Some(Signal::SIGKILL), "{status}");
}

#[test]
fn signal_dispositions_and_mask_are_reset_for_the_payload() {
    if !common::root() {
        return;
    }
    // A child of std::process::Command (glibc's posix_spawn) starts with glibc's internal
    // signals 32 and 33 ignored, as the test binary does under `cargo test`. Check from such a
    // child, so the outcome does not depend on how the test binary was started.
    if !common::in_own_process(
        "signal_dispositions_and_mask_are_reset_for_the_payload",
        "NSBOX_TEST_SIGNALS_INNER",
    ) {
        return;
    }
    let ignored = |status: &str| {
        let line = status.lines().find(|l| l.starts_with("SigIgn:")).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let own = ignored(&std::fs::read_to_string("/proc/self/status").unwrap());
    assert_ne!(
        own & (1 << 12),
        0,
        "precondition: this process ignores SIGPIPE, as Rust programs do"
    );
    assert_ne!(
        own & (0b11 << 31),
        0,
        "precondition: this process ignores signal 32 or 33 ({own:#x})"
    );
    for init in [true, false] {
        let out = Container::builder()
            .init(init)
            .command("/bin/cat")
            .arg("/proc/self/status")
            .output()
            .unwrap();
        let status = stdout_of(&out);
        let blocked = status.lines().find(|l| l.starts_with("SigBlk:")).unwrap();
        assert!(blocked.ends_with("0000000000000000"), "init {init}: {blocked}");
        assert_eq!(
            ignored(&status),
            0,
            "init {init}: the payload inherits ignored signals (mask {:#x})",
            ignored(&status)
        );
    }
    let out = sh("yes | head -n 1");
    assert_eq!(
        (stdout_of(&out).as_str(), out.stderr.as_slice()),
        ("y\n", &b""[..]),
        "yes dies of SIGPIPE quietly"
    );
}

/// `on_spawn` hooks run once the payload executed, in order, and see the running container; a
/// hook that fails kills and reaps the container (no process, fd or mount left) and fails the
/// spawn with its error.
#[test]
fn on_spawn_hooks_see_the_running_container_and_a_failing_one_undoes_the_spawn() {
    if !common::root() {
        return;
    }
    // Alone in a process: its snapshot counts the process's children, which the other tests'
    // containers are.
    if !common::in_own_process(
        "on_spawn_hooks_see_the_running_container_and_a_failing_one_undoes_the_spawn",
        "NSBOX_TEST_ON_SPAWN_INNER",
    ) {
        return;
    }
    use std::sync::{Arc, Mutex};
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut builder = sh_builder("sleep 60");
    let (first, second) = (seen.clone(), seen.clone());
    builder
        .on_spawn(move |c| {
            // Running (the payload executed), not yet waited for.
            let running = proc_stat(c.pid()).is_some_and(|s| s[0] != "Z");
            first
                .lock()
                .unwrap()
                .push(format!("first {} {running} {}", c.pid(), c.is_detached()));
            Ok(())
        })
        .on_spawn(move |c| {
            second.lock().unwrap().push(format!("second {}", c.pid()));
            Ok(())
        });
    let mut c = builder.spawn().unwrap();
    let pid = c.pid();
    assert_eq!(
        *seen.lock().unwrap(),
        [format!("first {pid} true false"), format!("second {pid}")]
    );
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();

    let before = common::Snapshot::take();
    let pids = Arc::new(Mutex::new(Vec::new()));
    let recorded = pids.clone();
    let err = sh_builder("sleep 60")
        .on_spawn(move |c| {
            recorded.lock().unwrap().push(c.pid());
            Err(std::io::Error::other("no record"))
        })
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("no record"), "{err}");
    let pid = pids.lock().unwrap()[0];
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container of a failed hook still runs or was not reaped"
    );
    before.assert_unchanged("after a failing on_spawn hook");
}
