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

/// The cgroup2 directory of `pid` (the unified hierarchy's mount point + its `0::` path).
fn v2_dir_of(pid: u32) -> Option<std::path::PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let point = mountinfo
        .lines()
        .find(|l| l.split(" - ").nth(1).is_some_and(|t| t.starts_with("cgroup2 ")))
        .and_then(|l| l.split_whitespace().nth(4))?
        .to_owned();
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let path = cgroups.lines().find_map(|l| l.strip_prefix("0::"))?;
    Some(std::path::Path::new(&point).join(path.trim_start_matches('/')))
}

/// The walk over a container's nested cgroups (kill, freeze, pids, remove) goes down by name
/// in the caller's mount namespace: a mount on a nested cgroup directory (a container whose
/// mounts propagate to the caller's namespace) used to lead it into another cgroup, whose
/// processes the container's cleanup then killed. It stays on the container's own mount.
#[test]
fn the_cgroup_walk_does_not_follow_a_mount_out_of_the_containers_cgroup() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let own = v2_dir_of(std::process::id());
    if !common::require("a cgroup2 mount", own.is_some()) {
        return;
    }
    // The victim: a cgroup beside the container's (both in the test's own), with a process.
    let victim = own.unwrap().join(common::unique("nsbox-review16-victim"));
    std::fs::create_dir(&victim).unwrap();
    let mut bystander = std::process::Command::new("/bin/sleep").arg("1000").spawn().unwrap();
    std::fs::write(victim.join("cgroup.procs"), bystander.id().to_string()).unwrap();
    let mut container = Container::builder()
        .namespaces(no_user())
        .cgroup()
        .command("/bin/sleep")
        .arg("1000")
        .spawn()
        .unwrap();
    let top = v2_dir_of(container.pid()).unwrap();
    let nested = top.join("nested");
    std::fs::create_dir(&nested).unwrap();
    nix::mount::mount(
        Some(&victim),
        &nested,
        None::<&str>,
        nix::mount::MsFlags::MS_BIND,
        None::<&str>,
    )
    .unwrap();
    // The cleanup on a thread: before the fix it never returned (see `walk::entered`).
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        container.kill(Signal::SIGKILL).unwrap();
        let _ = container.wait();
        drop(container);
        let _ = tx.send(());
    });
    let finished = rx.recv_timeout(Duration::from_secs(60)).is_ok();
    let alive = bystander.try_wait().unwrap().is_none();
    assert!(finished, "the container's cleanup walked on forever over a mount");
    // Clean up whatever happened.
    nix::mount::umount2(&nested, nix::mount::MntFlags::MNT_DETACH).unwrap();
    let _ = bystander.kill();
    let _ = bystander.wait();
    let _ = std::fs::remove_dir(&nested);
    let _ = std::fs::remove_dir(&top);
    let mut last = None;
    for _ in 0..1000 {
        match std::fs::remove_dir(&victim) {
            Ok(()) => break,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!victim.exists(), "{} left: {last:?}", victim.display());
    assert!(alive, "the container's cleanup killed a process of another cgroup");
}
