//! Hundreds of spawns, successful and failing, leave no fd, mount, child process or temp file
//! behind. One test only, so nothing else in this binary runs while the snapshots are taken.

mod common;

use common::Snapshot;
use nsbox::{Container, Error, Mount, Signal, Stdio};

const ROUNDS: usize = 500;

/// One spawn of kind `i % 4`: a collected echo, a dropped sleeper, a setup failure, a
/// refused configuration.
fn spawn_one(i: usize) {
    match i % 4 {
        0 => {
            let out = Container::builder()
                .command("/bin/echo")
                .arg(i.to_string())
                .output()
                .unwrap();
            assert!(out.status.success(), "echo: {}", out.status);
            assert_eq!(out.stdout, format!("{i}\n").into_bytes());
        }
        1 => {
            let mut c = Container::builder()
                .command("/bin/sleep")
                .arg("1000")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            if i % 8 == 1 {
                c.kill(Signal::SIGTERM).unwrap();
            }
            drop(c);
        }
        2 => {
            let err = Container::builder()
                .mount(Mount::bind("/no/such/nsbox-leak-source", "/data"))
                .command("/bin/true")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_err();
            assert!(err.as_setup().is_some(), "{err}");
        }
        _ => {
            let err = Container::builder()
                .command("/bin/true")
                .mount(Mount::tmpfs("relative"))
                .spawn()
                .unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{err}");
        }
    }
}

#[test]
fn spawns_of_every_outcome_leak_nothing() {
    if !common::root() {
        return;
    }
    // Warm up: anything allocated once per process (statics, the std output lock) is not a leak.
    for i in 0..8 {
        spawn_one(i);
    }
    let before = Snapshot::take();
    eprintln!(
        "before: {} fds, {} mounts, {} children, {} temp entries",
        before.fds.len(),
        before.mounts.len(),
        before.children.len(),
        before.temp_entries.len()
    );
    for i in 0..ROUNDS {
        spawn_one(i);
    }
    before.assert_unchanged(&format!("after {ROUNDS} spawns"));
}
