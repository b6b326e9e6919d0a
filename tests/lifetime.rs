//! How long a container lives: as long as the process that made it (not the thread), and no
//! longer: when that process dies, even by SIGKILL, its containers die with it; `stop` ends
//! one gracefully, then forcibly.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio as ProcessStdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nsbox::{Container, Signal};

fn sleeper(seconds: &str) -> Container {
    Container::builder()
        .command("/bin/sleep")
        .arg(seconds)
        .spawn()
        .expect("spawn sleep")
}

/// The reproduction: spawned on a thread that then ends, the container keeps running.
fn outlives_its_spawning_thread() {
    let mut container = std::thread::spawn(|| sleeper("2")).join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        container.try_wait().unwrap(),
        None,
        "the container died with its spawning thread"
    );
    assert_eq!(container.wait().unwrap().code(), Some(0));
}

#[test]
fn container_outlives_the_thread_that_spawned_it() {
    if common::root() {
        outlives_its_spawning_thread();
    }
}

/// A fixture shared by several tests, made by whichever test's thread comes first.
fn fixture() -> &'static Mutex<Container> {
    static FIXTURE: OnceLock<Mutex<Container>> = OnceLock::new();
    FIXTURE.get_or_init(|| Mutex::new(sleeper("30")))
}

fn fixture_is_running() {
    if !common::root() {
        return;
    }
    let _ = fixture();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        fixture().lock().unwrap().try_wait().unwrap(),
        None,
        "the shared fixture died"
    );
}

#[test]
fn a_fixture_shared_by_tests_survives_the_test_that_made_it_one() {
    fixture_is_running();
}

#[test]
fn a_fixture_shared_by_tests_survives_the_test_that_made_it_two() {
    fixture_is_running();
}

/// The processes whose PID namespace is `ns` (a `pid:[…]` link).
fn processes_in(ns: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l.to_string_lossy() == ns)
                && common::proc_stat(*pid).is_some_and(|f| f[0] != "Z")
        })
        .collect()
}

const HELPER: &str = "NSBOX_LIFETIME_HELPER";

/// In the helper process: spawn a container, print its init's pid, and wait to be killed.
#[test]
fn helper_spawns_and_waits_to_be_killed() {
    if std::env::var_os(HELPER).is_none() {
        return;
    }
    let container = sleeper("60");
    println!("init {}", container.pid());
    std::thread::sleep(Duration::from_secs(60));
}

fn killed_caller_leaves_no_container_process() {
    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "helper_spawns_and_waits_to_be_killed", "--nocapture"])
        .env(HELPER, "1")
        .stdout(ProcessStdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(helper.stdout.take().unwrap()).lines();
    let init: u32 = loop {
        let line = lines.next().expect("the helper printed its container's pid").unwrap();
        if let Some(pid) = line.strip_prefix("init ") {
            break pid.parse().unwrap();
        }
    };
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid"))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(!processes_in(&ns).is_empty(), "no process in the container's namespace");
    helper.kill().unwrap(); // SIGKILL: no destructor runs
    helper.wait().unwrap();
    // A bound, not a timing check: the lifeline's EOF, the init's kill and the namespace's
    // teardown on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !processes_in(&ns).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let left = processes_in(&ns);
    assert!(
        left.is_empty(),
        "30 s after its caller was killed, processes {left:?} of the container live on"
    );
}

#[test]
fn killing_the_caller_kills_its_containers() {
    if common::root() {
        killed_caller_leaves_no_container_process();
    }
}

/// A payload that ignores SIGTERM: stop sends it, waits the timeout, then kills.
#[test]
fn stop_kills_a_payload_that_ignores_sigterm_after_the_timeout() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .command("/bin/sh")
        .args(["-c", "trap '' TERM; echo ready; sleep 30 & wait"])
        .stdout(nsbox::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.take_stdout().unwrap()).read_line(&mut line).unwrap();
    let ns = std::fs::read_link(format!("/proc/{}/ns/pid", c.pid()))
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let started = Instant::now();
    let status = c.stop(Duration::from_millis(500)).unwrap();
    let took = started.elapsed();
    assert_eq!(status.signal(), Some(Signal::SIGKILL), "{status}");
    assert!(
        took >= Duration::from_millis(500),
        "stop returned after {took:?}, before its timeout"
    );
    assert!(processes_in(&ns).is_empty(), "processes left after stop");
}

/// A payload that exits on SIGTERM: stop returns its status at once.
#[test]
fn stop_returns_the_status_of_a_payload_that_exits_on_sigterm() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .command("/bin/sh")
        .args(["-c", "trap 'exit 3' TERM; echo ready; while :; do sleep 0.05; done"])
        .stdout(nsbox::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.take_stdout().unwrap()).read_line(&mut line).unwrap();
    let status = c.stop(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(3), "{status}");
}

// The same lifetime rules for an unprivileged caller: this binary again, as nobody.

const INNER: &str = "NSBOX_LIFETIME_INNER";

#[test]
fn lifetime_rules_hold_for_an_unprivileged_caller() {
    common::inner_tests_pass_as_nobody(INNER, 2);
}

fn inner() -> bool {
    common::is_inner_run(INNER)
}

#[test]
fn inner_rootless_container_outlives_its_spawning_thread() {
    if inner() {
        outlives_its_spawning_thread();
    }
}

#[test]
fn inner_rootless_killed_caller_leaves_no_container_process() {
    if inner() {
        killed_caller_leaves_no_container_process();
    }
}
