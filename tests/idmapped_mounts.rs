//! Idmapped binds (`Mount::idmap`): the files of a host user shown as another id in the
//! container, writes landing as the host user, the bind's flags honoured, bad maps refused
//! by `build()`, a filesystem that cannot be idmapped named in a typed error, nothing left
//! behind. Every test spawns under `common::exclusive()`: the leak test takes snapshots.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::Snapshot;
use nsbox::{ConfigError, ContainerBuilder, Errno, IdMap, Mount, Namespaces, Setting, SetupStep};

/// The host user whose files the binds show.
const HOST_USER: u32 = 1000;
/// Container root's host id.
const ROOT_AT: u32 = 100_000;

/// A world-readable directory with `src/owned` ("before"), both owned by [`HOST_USER`].
fn source() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new().prefix("nsbox-idmap-").tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("owned"), "before\n").unwrap();
    for path in [&src, &src.join("owned")] {
        std::os::unix::fs::chown(path, Some(HOST_USER), Some(HOST_USER)).unwrap();
    }
    (dir, src)
}

/// `sh -c script` with container root at [`ROOT_AT`].
fn in_user_namespace(script: &str) -> ContainerBuilder {
    let mut b = common::sh_builder(script);
    b.uid_map([IdMap::new(0, ROOT_AT, 65536)])
        .gid_map([IdMap::new(0, ROOT_AT, 65536)]);
    b
}

/// The source's [`HOST_USER`] shown as container root.
fn user_as_root(src: &Path, target: &str) -> Mount {
    let map = [IdMap::new(HOST_USER, ROOT_AT, 1)];
    Mount::bind(src, target).idmap(map, map)
}

fn owner(path: &Path) -> (u32, u32) {
    let meta = fs::metadata(path).unwrap();
    (meta.uid(), meta.gid())
}

#[test]
fn host_user_files_show_as_container_root_and_writes_land_as_the_host_user() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let script = "stat -c %u:%g /data/owned /plain/owned /file; echo after > /data/owned; touch /data/new; \
                  stat -c %u:%g /data/new; id -u";
    let out = in_user_namespace(script)
        .mount(user_as_root(&src, "/data"))
        .mount(user_as_root(&src.join("owned"), "/file").read_only())
        .mount(Mount::bind(&src, "/plain"))
        .output()
        .unwrap();
    let text = common::stdout_of(&out);
    // Through the idmapped binds (a directory, a file): root's; through a plain bind:
    // unmapped (the overflow id).
    assert_eq!(text, "0:0\n65534:65534\n0:0\n0:0\n0\n");
    assert_eq!(fs::read_to_string(src.join("owned")).unwrap(), "after\n");
    assert_eq!(
        owner(&src.join("new")),
        (HOST_USER, HOST_USER),
        "a new file lands as the host user"
    );
}

#[test]
fn without_a_user_namespace_the_payload_sees_the_mapped_host_ids() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let mut b = common::sh_builder("stat -c %u:%g /data/owned; touch /data/new 2>/dev/null || echo refused");
    b.namespaces(Namespaces::all() - Namespaces::USER);
    let map = [IdMap::new(HOST_USER, 4242, 1)];
    let out = b.mount(Mount::bind(&src, "/data").idmap(map, map)).output().unwrap();
    assert_eq!(common::stdout_of(&out), "4242:4242\nrefused\n");
    // Host root (the payload) is unmapped in the bind: it cannot own a file there.
    assert!(!src.join("new").exists());
}

#[test]
fn read_only_idmapped_bind_refuses_writes() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let script = "stat -c %u /data/owned; touch /data/new 2>/dev/null && echo written; \
                  grep -w /data /proc/self/mounts | grep -c -w ro";
    let out = in_user_namespace(script)
        .mount(user_as_root(&src, "/data").read_only().noexec())
        .output()
        .unwrap();
    assert_eq!(common::stdout_of(&out), "0\n1\n");
    assert!(!src.join("new").exists());
}

#[test]
fn bad_maps_and_non_binds_are_refused_by_build() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let one = [IdMap::new(HOST_USER, ROOT_AT, 1)];
    let overlapping = [IdMap::new(0, 10, 5), IdMap::new(2, 100, 1)];
    let err = common::refused(common::sh_builder("true").mount(Mount::bind("/srv", "/srv").idmap(overlapping, one)));
    assert!(
        matches!(
            err,
            ConfigError::OverlappingIdRanges {
                setting: Setting::MountUidMap,
                ..
            }
        ),
        "{err}"
    );
    let err = common::refused(common::sh_builder("true").mount(Mount::bind("/srv", "/srv").idmap(one, [])));
    assert!(
        matches!(
            err,
            ConfigError::OutOfRange {
                setting: Setting::MountGidMap,
                value: 0,
                ..
            }
        ),
        "{err}"
    );
    let err = common::refused(common::sh_builder("true").mount(Mount::tmpfs("/t").idmap(one, one)));
    assert!(
        matches!(
            err,
            ConfigError::Conflict {
                setting: Setting::MountUidMap,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn filesystem_that_cannot_be_idmapped_is_a_typed_error_naming_the_source() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    // procfs is not idmappable (no FS_ALLOW_IDMAP). A first plain spawn of this process
    // makes what nsbox keeps once per process.
    common::stdout_of(&in_user_namespace("true").output().unwrap());
    let before = Snapshot::take();
    let mount = user_as_root(Path::new("/proc"), "/hostproc").non_recursive();
    let err = common::setup_failure_of(in_user_namespace("true").mount(mount).output());
    assert_eq!(err.step, SetupStep::IdmapMount, "{err}");
    assert_eq!(err.path.as_deref(), Some(Path::new("/proc")), "{err}");
    assert_eq!(err.errno, Errno::EINVAL, "{err}");
    before.assert_unchanged("after an idmapped bind of procfs failed");
}

#[test]
fn idmapped_spawns_leak_no_fd_process_or_mount() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let run = |i: usize| {
        let other = [IdMap::new(HOST_USER, ROOT_AT + 1, 1)];
        let mut b = in_user_namespace("stat -c %u /a/owned /b/owned /c/owned");
        // Two binds with the same maps share one helper user namespace; the third has its own.
        b.mount(user_as_root(&src, "/a"))
            .mount(user_as_root(&src, "/b").read_only())
            .mount(Mount::bind(&src, "/c").idmap(other, other));
        if i % 2 == 1 {
            // Fails in the parent after the first binds are made.
            b.mount(user_as_root(Path::new("/proc"), "/p").non_recursive());
            let err = common::setup_failure_of(b.output());
            assert_eq!(err.step, SetupStep::IdmapMount, "{err}");
        } else {
            assert_eq!(common::stdout_of(&b.output().unwrap()), "0\n0\n1\n");
        }
    };
    run(0);
    run(1);
    let before = Snapshot::take();
    for i in 0..20 {
        run(i);
    }
    before.assert_unchanged("after 20 spawns with idmapped binds");
}

#[test]
fn idmap_on_a_missing_source_names_it() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let missing = Path::new("/no/such/nsbox-idmap-source");
    let err = common::setup_failure_of(in_user_namespace("true").mount(user_as_root(missing, "/data")).output());
    assert_eq!((err.step, err.path.as_deref()), (SetupStep::IdmapMount, Some(missing)));
    assert_eq!(err.errno, Errno::ENOENT);
}

/// A tmpfs mounted at `path` in the tests' mount namespace (`scripts/test` runs them in a
/// private one), unmounted on drop.
struct Submount(PathBuf);

impl Submount {
    fn new(path: &Path) -> Submount {
        fs::create_dir(path).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "mode=755", "nsbox-idmap-sub"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success(), "mount a tmpfs at {}", path.display());
        Submount(path.to_path_buf())
    }
}

impl Drop for Submount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn recursive_idmap_reaches_submounts_and_top_only_does_not() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let sub = Submount::new(&src.join("sub"));
    fs::write(sub.0.join("file"), "").unwrap();
    std::os::unix::fs::chown(sub.0.join("file"), Some(HOST_USER), Some(HOST_USER)).unwrap();
    let map = [IdMap::new(HOST_USER, ROOT_AT, 1)];
    let out = in_user_namespace("stat -c %u /every/sub/file /top/sub/file /top/owned")
        .mount(Mount::bind(&src, "/every").idmap(map, map))
        .mount(Mount::bind(&src, "/top").idmap_top_only(map, map).read_only())
        .output()
        .unwrap();
    assert_eq!(common::stdout_of(&out), "0\n65534\n0\n");
    drop(sub);
}

#[test]
fn idmapped_bind_takes_its_propagation_once_attached() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let out = in_user_namespace("grep -w /data /proc/self/mountinfo | grep -c shared:")
        .mount(user_as_root(&src, "/data").propagation(nsbox::Propagation::Shared))
        .output()
        .unwrap();
    assert_eq!(common::stdout_of(&out), "1\n");
}

#[test]
fn no_follow_idmapped_bind_refuses_a_symlinked_source() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (dir, src) = source();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let refused = in_user_namespace("true")
        .mount(user_as_root(&link, "/data").no_follow())
        .output();
    let err = common::setup_failure_of(refused);
    assert_eq!(
        (err.step, err.path.as_deref(), err.errno),
        (SetupStep::IdmapMount, Some(&*link), Errno::ELOOP)
    );
    let followed = in_user_namespace("stat -c %u /data/owned")
        .mount(user_as_root(&link, "/data").follow_symlinks())
        .output()
        .unwrap();
    assert_eq!(common::stdout_of(&followed), "0\n");
}

#[test]
fn attaching_a_directory_onto_a_file_fails_naming_the_target() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    common::stdout_of(&in_user_namespace("true").output().unwrap());
    let before = Snapshot::take();
    let err = common::setup_failure_of(
        in_user_namespace("true")
            .mount(user_as_root(&src, "/etc/passwd"))
            .output(),
    );
    assert_eq!(
        (err.step, err.path.as_deref()),
        (SetupStep::BindMount, Some(Path::new("/etc/passwd"))),
        "{err}"
    );
    before.assert_unchanged("after an idmapped bind failed to attach");
}

/// Idmapped spawns from several threads at once: each helper process that holds a user
/// namespace for the maps is a fork with a copy of the caller's fds, and must not wait for an
/// EOF another helper's copy holds back (they did, and two at once could wait for each other).
#[test]
fn idmapped_spawns_from_many_threads_at_once_all_finish() {
    if !common::root() {
        return;
    }
    let _one = common::exclusive();
    let (_dir, src) = source();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let threads = 6;
    for t in 0..threads {
        let (src, done) = (src.clone(), done_tx.clone());
        std::thread::spawn(move || {
            for i in 0..10 {
                // Distinct maps per spawn: each makes its own helper.
                let map = [IdMap::new(HOST_USER, ROOT_AT + 1 + (t * 10 + i) as u32, 1)];
                let out = in_user_namespace("stat -c %u /a/owned")
                    .mount(Mount::bind(&src, "/a").idmap(map, map))
                    .output();
                let _ = done.send(out.map(|o| o.status.success()).map_err(|e| e.to_string()));
            }
        });
    }
    for n in 0..threads * 10 {
        match done_rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(Ok(true)) => {}
            Ok(other) => panic!("spawn {n}: {other:?}"),
            Err(_) => panic!(
                "{n} of {} idmapped spawns finished within 60 s: a helper waits",
                threads * 10
            ),
        }
    }
}
