//! A spawn leaves the calling process as it found it. The setup process may run on the
//! caller's memory (`CLONE_VM`), where some process attributes live: the dumpable flag, which
//! the kernel resets when a process sharing the memory changes its uid or gid, and what the
//! caller's thread had blocked around the clone.

mod common;

use nsbox::{Container, IdMap, Namespaces, Rootfs};

/// A named way to set up the builder.
type Config = (&'static str, fn(&mut nsbox::ContainerBuilder));

fn dumpable() -> i32 {
    // SAFETY: PR_GET_DUMPABLE takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) }
}

fn blocked_signals() -> String {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    status
        .lines()
        .find(|l| l.starts_with("SigBlk:"))
        .unwrap_or("")
        .to_string()
}

#[test]
fn caller_stays_dumpable_whatever_the_container_runs_as() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    assert_eq!(dumpable(), 1, "the test process starts dumpable");
    let configs: [Config; 5] = [
        ("defaults", |_| {}),
        ("no init", |b| {
            b.init(false);
        }),
        ("another user", |b| {
            b.user(1000, 1000);
        }),
        ("root mapped to host 100000", |b| {
            b.uid_map([IdMap::new(0, 100_000, 65536)])
                .gid_map([IdMap::new(0, 100_000, 65536)]);
        }),
        ("no user namespace, another user", |b| {
            b.namespaces(Namespaces::all() - Namespaces::USER).user(1000, 1000);
        }),
    ];
    for (name, configure) in configs {
        let mut builder = Container::builder();
        builder.rootfs(Rootfs::dir(rootfs.path())).command("/bin/true");
        configure(&mut builder);
        let status = builder.status().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(status.success(), "{name}: {status}");
        assert_eq!(dumpable(), 1, "{name}: the caller was made non-dumpable");
    }
}

#[test]
fn caller_signal_mask_is_unchanged_by_spawns() {
    if !common::root() {
        return;
    }
    let before = blocked_signals();
    for _ in 0..3 {
        let status = Container::builder().command("/bin/true").status().unwrap();
        assert!(status.success());
    }
    assert_eq!(blocked_signals(), before);
}
