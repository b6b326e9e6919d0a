//! A handle on a container by its pid (`ContainerBuilder::adopt`) and execs that no nsbox
//! process stays beside (`ExecBuilder::spawn_detached`): what an OCI runtime's later
//! commands need once its `create` has exited.

mod common;

use common::proc_stat;
use nsbox::{Container, Error, SetupStep, Signal, Stdio};

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_owned()))
        .unwrap_or_default()
}

/// `Stdio::null`'s read-only /dev/null is made once per process and kept: made before the
/// snapshots.
fn warm_null_device() {
    let status = Container::builder().command("/bin/true").stdin(Stdio::null()).status();
    assert!(status.unwrap().success());
}

/// The exec'd process runs in the container's namespaces with its confinement, and its parent
/// is not an nsbox process: neither the caller nor a setup process it could have left.
#[test]
fn a_detached_exec_into_an_adopted_container_has_no_nsbox_parent() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let mut builder = Container::builder();
    builder.command("/bin/sleep").arg("60").init(false).detach();
    let mut container = builder.spawn().expect("spawn");
    warm_null_device();
    let before = common::Snapshot::take();
    let adopted = builder.adopt(container.pid()).expect("adopt");
    let exec = adopted
        .exec()
        .command("/bin/sleep")
        .arg("61")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn_detached()
        .expect("detached exec");
    drop(adopted);
    let pid = exec.pid;
    let stat = proc_stat(pid).expect("the exec'd process runs");
    let ppid: u32 = stat[1].parse().unwrap();
    assert_ne!(ppid, std::process::id(), "the caller is the exec'd process's parent");
    if let Some(parent) = proc_stat(ppid) {
        let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).unwrap_or_default();
        assert!(
            !comm.contains("nsbox"),
            "an nsbox process ({comm}) is its parent: {parent:?}"
        );
    }
    assert_eq!(
        common::ns_link(&pid.to_string(), "pid"),
        common::ns_link(&container.pid().to_string(), "pid"),
        "not in the container's PID namespace"
    );
    assert_eq!(
        common::ns_link(&pid.to_string(), "mnt"),
        common::ns_link(&container.pid().to_string(), "mnt")
    );
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    assert_eq!(status_field(pid, "Seccomp:"), "2");
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap(),
        "/bin/sleep\x0061\x00"
    );
    // Nothing of it is held by the caller: the setup process was reaped, no fd kept.
    before.assert_unchanged("after a detached exec");
    // SAFETY: kill with integer arguments, on the process the test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
}

/// Failures come back typed and leave nothing; a handle on a process that is gone is refused.
#[test]
fn a_failed_detached_exec_is_typed_and_a_dead_pid_is_not_adopted() {
    if !common::root() {
        return;
    }
    let _guard = common::exclusive();
    let mut builder = Container::builder();
    builder.command("/bin/sleep").arg("60").init(false).detach();
    let mut container = builder.spawn().expect("spawn");
    let adopted = builder.adopt(container.pid()).expect("adopt");
    warm_null_device();
    let before = common::Snapshot::take();
    let err = adopted
        .exec()
        .command("/no/such/program")
        .stdin(Stdio::null())
        .spawn_detached()
        .unwrap_err();
    match &err {
        Error::Setup(e) => assert_eq!((e.step, e.errno.raw()), (SetupStep::Exec, libc::ENOENT), "{err}"),
        other => panic!("{other}"),
    }
    before.assert_unchanged("after a failed detached exec");
    drop(adopted);
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
    let err = builder.adopt(container.pid()).unwrap_err();
    assert!(
        matches!(err, Error::NotRunning { .. }) || err.to_string().contains("pidfd"),
        "{err}"
    );
}
