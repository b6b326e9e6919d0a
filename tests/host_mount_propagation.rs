//! `receive_host_mounts`: a mount the caller's namespace makes later under a bind's shared
//! source reaches the container (runc's `rslave`), and not without it. Its own test binary:
//! it mounts in the test's mount namespace (scripts/test's private one), which the leak checks
//! of other tests would see.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::stdout_of;
use nsbox::{Container, Mount, Propagation, Stdio};

fn mount(args: &[&str], path: &Path) {
    let ok = Command::new("mount").args(args).arg(path).status().unwrap().success();
    assert!(ok, "mount {args:?} {}", path.display());
}

/// Unmounts what it holds, lazily, also when a test panics.
struct Mounted(Vec<PathBuf>);

impl Drop for Mounted {
    fn drop(&mut self) {
        for path in self.0.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(path).status();
        }
    }
}

/// Whether the container sees a tmpfs mounted at `<shared>/sub` after it started: it waits
/// for `go` in a second bind, then looks.
fn sees_later_mount(receive: bool, propagation: Option<Propagation>) -> String {
    let shared = tempfile::tempdir().unwrap();
    let signal = tempfile::tempdir().unwrap();
    fs::create_dir(shared.path().join("sub")).unwrap();
    let mut held = Mounted(Vec::new());
    mount(&["--bind", shared.path().to_str().unwrap()], shared.path());
    held.0.push(shared.path().to_path_buf());
    mount(&["--make-shared"], shared.path());

    let script = "i=0; while [ ! -e /signal/go ]; do i=$((i+1)); [ $i -gt 6000 ] && exit 3; sleep 0.01; done; \
                  cat /data/sub/marker 2>/dev/null || echo absent";
    let mut data = Mount::bind(shared.path(), "/data");
    if let Some(p) = propagation {
        data = data.propagation(p);
    }
    let mut b = Container::builder();
    b.command("/bin/sh")
        .args(["-c", script])
        .mount(data)
        .mount(Mount::bind(signal.path(), "/signal"))
        .stdout(Stdio::piped());
    if receive {
        b.receive_host_mounts();
    }
    let container = b.spawn().expect("spawn");
    let sub = shared.path().join("sub");
    mount(&["-t", "tmpfs", "tmpfs"], &sub);
    held.0.push(sub.clone());
    fs::write(sub.join("marker"), "from the host\n").unwrap();
    fs::write(signal.path().join("go"), "").unwrap();
    let out = container.wait_with_output().expect("wait");
    stdout_of(&out)
}

#[test]
fn a_later_host_mount_reaches_a_container_that_receives_host_mounts() {
    if !common::root() {
        return;
    }
    assert_eq!(sees_later_mount(true, None), "from the host\n");
}

#[test]
fn a_later_host_mount_does_not_reach_a_private_container() {
    if !common::root() {
        return;
    }
    assert_eq!(sees_later_mount(false, None), "absent\n");
}

#[test]
fn a_private_bind_opts_out_of_host_mounts() {
    if !common::root() {
        return;
    }
    assert_eq!(sees_later_mount(true, Some(Propagation::Private)), "absent\n");
}
