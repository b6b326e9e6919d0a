//! Spawning from many threads at once while other threads allocate: the child runs between
//! clone and exec in a copy of a busy, multi-threaded process, where a lock held by another
//! thread (malloc's, say) stays locked forever. Nothing may hang and every status must match.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use nsbox::Container;

const SPAWNERS: usize = 8;
const SPAWNS_EACH: usize = 100;
const ALLOCATORS: usize = 4;
/// A bound against hangs, not a timing check.
const LIMIT: Duration = Duration::from_secs(300);

/// Allocates, touches and frees buffers of varied sizes until told to stop.
fn allocate_until(stop: &AtomicBool, seed: usize) -> usize {
    let mut rounds = 0;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let size = (seed * 7919 + rounds * 104_729) % (1 << 20) + 1;
        let mut buf = vec![0u8; size];
        buf[size / 2] = rounds as u8;
        kept.push(buf);
        if kept.len() > 16 {
            kept.remove(rounds % kept.len());
        }
        rounds += 1;
    }
    rounds
}

/// Spawns `SPAWNS_EACH` containers exiting with varied codes; returns the mismatches.
fn spawn_many(thread_index: usize) -> Vec<String> {
    let mut problems = Vec::new();
    for i in 0..SPAWNS_EACH {
        let code = (thread_index * SPAWNS_EACH + i) % 256;
        let mut builder = Container::builder();
        builder.command("/bin/sh").args(["-c", &format!("exit {code}")]);
        // Half collect output (pipes), half only wait.
        let status = if i % 2 == 0 {
            builder.output().map(|o| o.status)
        } else {
            builder.status()
        };
        match status {
            Ok(status) if status.code() == Some(code as i32) => {}
            Ok(status) => problems.push(format!("thread {thread_index} spawn {i}: exit {code} gave {status}")),
            Err(e) => problems.push(format!("thread {thread_index} spawn {i}: {e}")),
        }
    }
    problems
}

#[test]
fn parallel_spawns_under_allocation_pressure_all_finish_with_their_codes() {
    if !common::root() {
        return;
    }
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let allocators: Vec<_> = (0..ALLOCATORS)
            .map(|seed| {
                let stop = Arc::clone(&stop);
                thread::spawn(move || allocate_until(&stop, seed))
            })
            .collect();
        let spawners: Vec<_> = (0..SPAWNERS).map(|t| thread::spawn(move || spawn_many(t))).collect();
        let mut problems: Vec<String> = Vec::new();
        for s in spawners {
            problems.extend(s.join().unwrap_or_else(|_| vec!["a spawner thread panicked".into()]));
        }
        stop.store(true, Ordering::Relaxed);
        let allocations: usize = allocators.into_iter().map(|a| a.join().unwrap_or(0)).sum();
        let _ = done_tx.send((problems, allocations));
    });
    let (problems, allocations) = done_rx.recv_timeout(LIMIT).unwrap_or_else(|_| {
        panic!(
            "{} spawns did not finish within {LIMIT:?}: a hang",
            SPAWNERS * SPAWNS_EACH
        )
    });
    eprintln!(
        "{} spawns while {allocations} buffers were allocated",
        SPAWNERS * SPAWNS_EACH
    );
    assert!(
        problems.is_empty(),
        "{} of {} spawns went wrong:\n{}",
        problems.len(),
        SPAWNERS * SPAWNS_EACH,
        problems.join("\n")
    );
    assert!(allocations > 0, "the allocator threads ran");
}

/// Mount targets that resolve through `..` (a symlink in the rootfs) while other containers
/// mount: with RESOLVE_IN_ROOT the kernel answers EAGAIN to such a walk when any mount
/// happened meanwhile, which nsbox must retry, not report.
#[test]
fn dot_dot_mount_targets_resolve_while_other_containers_mount() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    std::fs::create_dir(rootfs.path().join("tmp")).unwrap();
    std::os::unix::fs::symlink("../tmp", rootfs.path().join("bin/up")).unwrap();
    let source = tempfile::tempdir().unwrap();
    let root = rootfs.path().to_path_buf();
    let source_path = source.path().to_path_buf();
    let (done_tx, done_rx) = mpsc::channel();
    thread::spawn(move || {
        let churners: Vec<_> = (0..2).map(|t| thread::spawn(move || spawn_many(t))).collect();
        let walkers: Vec<_> = (0..2)
            .map(|t| {
                let (root, source) = (root.clone(), source_path.clone());
                thread::spawn(move || {
                    let mut problems = Vec::new();
                    for i in 0..SPAWNS_EACH {
                        let status = Container::builder()
                            .rootfs(nsbox::Rootfs::dir(&root))
                            .mount(nsbox::Mount::bind(&source, format!("/bin/up/walk-{t}-{i}")))
                            .command("/bin/true")
                            .status();
                        if let Err(e) = status {
                            problems.push(format!("walker {t} spawn {i}: {e}"));
                        }
                    }
                    problems
                })
            })
            .collect();
        let mut problems: Vec<String> = Vec::new();
        for handle in churners.into_iter().chain(walkers) {
            problems.extend(handle.join().unwrap_or_else(|_| vec!["a thread panicked".into()]));
        }
        let _ = done_tx.send(problems);
    });
    let problems = done_rx
        .recv_timeout(LIMIT)
        .unwrap_or_else(|_| panic!("the spawns did not finish within {LIMIT:?}: a hang"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
