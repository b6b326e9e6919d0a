//! A hostile-payload review of issue 16's merges (idmapped binds, PID and time namespace joins,
//! the cgroup walk, exec sub-cgroups): each test plays the payload against one finding.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::sh_builder;
use nsbox::{Container, Namespaces, Signal, Stdio};

/// Every namespace but the user one: a PID join needs the caller's user namespace.
fn no_user() -> Namespaces {
    Namespaces::all() - Namespaces::USER
}

/// A joined PID namespace's processes see the setup process from its birth, with the caller's
/// uid: a root process of that namespace can SIGSTOP it before its exec. The spawn used to
/// wait for the setup report forever (the stopped process neither reports nor closes the
/// pipe); it now fails, killing and reaping the setup process. The hook parks the setup
/// process so that the other namespace stops it at a known moment, not by a race.
#[test]
fn a_setup_process_stopped_from_the_joined_pid_namespace_fails_the_spawn_instead_of_blocking_it() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("nsbox-review16-stop-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let d = dir.path().display();
    // The other container: waits for the hook to name the setup process (its parent), stops
    // it, then lets the hook go.
    let hostile = format!(
        "while [ ! -e {d}/pids ]; do sleep 0.02; done; read setup hook < {d}/pids; \
         kill -STOP $setup; touch {d}/go; exec sleep 1000"
    );
    let mut target = sh_builder(&hostile)
        .namespaces(no_user())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let payload = common::children_of(target.pid()).into_iter().next().unwrap();
    let script = format!(
        "echo $PPID $$ > {d}/pids.new && mv {d}/pids.new {d}/pids; i=0; \
         while [ ! -e {d}/go ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done"
    );
    let hook = nsbox::ProcessHook::new("/bin/sh")
        .args(["/bin/sh", "-c", &script])
        .env(["PATH=/usr/bin:/bin"]);
    let mut joiner = sh_builder("true");
    joiner
        .namespaces(no_user())
        .join_namespace(Namespaces::PID, format!("/proc/{payload}/ns/pid"))
        .before_pivot_root(hook);
    let (tx, rx) = mpsc::channel();
    let spawner = std::thread::spawn(move || {
        let _ = tx.send(joiner.output().map(|o| o.status));
    });
    // A generous upper bound: the stop is seen within milliseconds once the hook exits.
    let outcome = rx.recv_timeout(Duration::from_secs(60));
    // Whatever happened: the other namespace's end frees a spawn still blocked (its init kills
    // every process of the namespace, the stopped setup process too).
    target.kill(Signal::SIGKILL).unwrap();
    target.wait().unwrap();
    spawner.join().unwrap();
    let result = outcome.expect("the spawn returned while the other namespace still ran");
    let e = result.expect_err("a stopped setup process never executed the payload");
    assert!(e.to_string().contains("stopped"), "{e}");
}
