//! Cleanup failures are kept and reported, not only logged: a cgroup directory nsbox cannot
//! remove (the test put a child cgroup in it) shows up in `wait`'s error beside the exit
//! status, and beside the setup failure of a spawn that failed. Uses the pids hierarchy (v1
//! under cgsafe-ns.sh, or cgroup2), never the memory one.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use nsbox::{CleanupAction, Container, Errno, Error, SetupStep, Signal};

/// The directory cgroups of the pids controller live under: the v1 hierarchy, else cgroup2.
fn pids_root() -> Option<PathBuf> {
    let v1 = Path::new("/sys/fs/cgroup/pids");
    let v2 = Path::new("/sys/fs/cgroup");
    match (
        v1.join("pids.max").exists() || v1.join("tasks").exists(),
        v2.join("cgroup.controllers").exists(),
    ) {
        (true, _) => Some(v1.to_path_buf()),
        (false, true) => Some(v2.to_path_buf()),
        _ => None,
    }
}

/// A fresh parent cgroup for this test, so nothing else's cgroups appear under it.
struct Parent {
    name: String,
    dir: PathBuf,
}

impl Parent {
    fn new(test: &str) -> Parent {
        let name = format!("nsbox-test-{test}-{}", std::process::id());
        let dir = pids_root().unwrap().join(&name);
        fs::create_dir_all(&dir).unwrap();
        Parent { name, dir }
    }
}

impl Drop for Parent {
    /// Removes the blockers, the container cgroups nsbox had to leave, and the parent in
    /// every hierarchy.
    fn drop(&mut self) {
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let _ = fs::remove_dir(entry.path().join("blocker"));
            let _ = fs::remove_dir(entry.path());
        }
        let hierarchies = fs::read_dir("/sys/fs/cgroup").into_iter().flatten().flatten();
        for dir in hierarchies.map(|e| e.path().join(&self.name)).chain([self.dir.clone()]) {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[test]
fn cgroup_left_behind_after_exit_is_reported_beside_the_status() {
    if !common::root() || !common::require("a pids cgroup hierarchy", pids_root().is_some()) {
        return;
    }
    let parent = Parent::new("wait");
    let mut c = Container::builder()
        .cgroup_parent(&parent.name)
        .pids_limit(8)
        .command("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let dir = parent.dir.join(format!("nsbox-{}", c.id()));
    fs::create_dir(dir.join("blocker")).unwrap();
    c.kill(Signal::SIGKILL).unwrap();
    let (status, errors) = match c.wait() {
        Err(Error::Cleanup { status, errors }) => (status, errors),
        other => panic!("expected a cleanup error, got {other:?}"),
    };
    assert_eq!(status.signal(), Some(Signal::SIGKILL), "{status:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].action, CleanupAction::RemoveCgroup);
    assert_eq!(errors[0].path.as_deref(), Some(dir.as_path()));
    assert_eq!(errors[0].errno, Errno::EBUSY);
    // Reported once as an error; afterwards the status, and the failures stay reachable.
    assert_eq!(c.wait().unwrap(), status);
    assert_eq!(c.cleanup_errors(), errors.as_slice());
}

#[test]
fn cgroup_left_behind_after_setup_failure_is_reported_beside_it() {
    if !common::root() || !common::require("a pids cgroup hierarchy", pids_root().is_some()) {
        return;
    }
    let parent = Parent::new("setup");
    // A thread puts a child cgroup into the container's as soon as it appears; if it loses the
    // race against the spawn's own cleanup, try again.
    for _ in 0..20 {
        let done = Arc::new(AtomicBool::new(false));
        let blocked = {
            let (dir, done) = (parent.dir.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let found = fs::read_dir(&dir).unwrap().flatten().find(|e| {
                        e.file_name().to_string_lossy().starts_with("nsbox-") && !e.path().join("blocker").exists()
                    });
                    if let Some(entry) = found {
                        return fs::create_dir(entry.path().join("blocker")).is_ok();
                    }
                }
                false
            })
        };
        let err = Container::builder()
            .cgroup_parent(&parent.name)
            .pids_limit(8)
            .command("/no/such/nsbox-command")
            .spawn()
            .expect_err("the command does not exist");
        done.store(true, Ordering::Relaxed);
        if !blocked.join().unwrap() {
            assert!(err.cleanup_errors().is_empty(), "{err}");
            continue;
        }
        let setup = err.as_setup().expect("still the setup failure");
        assert_eq!((setup.step, setup.errno), (SetupStep::Exec, Errno::ENOENT));
        assert!(matches!(&err, Error::CleanupAfter { error, .. } if matches!(**error, Error::Setup(_))));
        let cleanup = err.cleanup_errors();
        assert_eq!(cleanup.len(), 1, "{err}");
        assert_eq!(cleanup[0].action, CleanupAction::RemoveCgroup);
        assert!(
            cleanup[0].path.as_ref().is_some_and(|p| p.starts_with(&parent.dir)),
            "{err}"
        );
        assert!(err.to_string().contains("cleaning up after it failed too"), "{err}");
        return;
    }
    panic!("the blocker never made it into the container's cgroup in time");
}
