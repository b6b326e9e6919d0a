//! Many containers alive at once from one process (issue 17's scale row, smaller: the full
//! thousand is `examples/scale.rs`): the caller holds the same few fds per container however
//! many there are, and after they are stopped no fd, mount, child process, temp entry or
//! cgroup is left. One test only, so nothing else in this binary runs while it counts.

mod common;

use std::fs;
use std::path::PathBuf;
use std::sync::Mutex;

use common::Snapshot;
use nsbox::{Container, Signal};

const COUNT: usize = 200;
const THREADS: usize = 8;

fn sleeper(parent: &str) -> Container {
    Container::builder()
        .cgroup_parent(parent)
        .pids_limit(8)
        .command("/bin/sleep")
        .arg("3600")
        .spawn()
        .expect("spawn a sleeping container")
}

fn fd_count() -> usize {
    Snapshot::take().fds.len()
}

/// The parent cgroup's directories (one per hierarchy the containers have a cgroup in).
fn parent_dirs(parent: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(parent))
        .collect();
    dirs.push(PathBuf::from("/sys/fs/cgroup").join(parent));
    dirs.retain(|d| d.is_dir());
    dirs
}

fn cgroups_under(parent: &str) -> usize {
    parent_dirs(parent)
        .iter()
        .map(|d| fs::read_dir(d).unwrap().flatten().filter(|e| e.path().is_dir()).count())
        .sum()
}

#[test]
fn live_containers_hold_a_constant_number_of_fds_each_and_leave_nothing() {
    if !common::root() {
        return;
    }
    let parent = common::unique("nsbox-test-scale");
    // Warm up: what a process allocates once (statics, the stack pool) is not per container.
    drop(sleeper(&parent));
    let before = Snapshot::take();

    let one = sleeper(&parent);
    let per_container = fd_count() - before.fds.len();
    drop(one);
    assert!(per_container > 0, "a live container holds its pidfd at least");

    let containers = Mutex::new(Vec::with_capacity(COUNT));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < COUNT {
                    let c = sleeper(&parent);
                    containers.lock().unwrap().push(c);
                }
            });
        }
    });
    let mut containers = containers.into_inner().unwrap();
    assert_eq!(containers.len(), COUNT);
    assert_eq!(
        fd_count() - before.fds.len(),
        COUNT * per_container,
        "{COUNT} containers hold {per_container} fds each, as one does"
    );
    let hierarchies = parent_dirs(&parent).len();
    assert!(hierarchies > 0, "the containers' cgroups are under {parent}");
    assert_eq!(
        cgroups_under(&parent),
        COUNT * hierarchies,
        "one cgroup per container and hierarchy"
    );

    for c in &mut containers {
        c.kill(Signal::SIGKILL).unwrap();
    }
    for c in &mut containers {
        assert_eq!(c.wait().unwrap().signal(), Some(Signal::SIGKILL));
    }
    drop(containers);
    assert_eq!(cgroups_under(&parent), 0, "every container's cgroup removed");
    for dir in parent_dirs(&parent) {
        fs::remove_dir(&dir).unwrap();
    }
    before.assert_unchanged(&format!("after {COUNT} live containers were stopped"));
}
