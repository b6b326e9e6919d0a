//! `Rootfs::overlay`: a copy-on-write root over lower directories the test builds (files
//! shadowing each other, a whiteout, an opaque directory), against the real kernel.

mod common;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{require, root_and_busybox, stdout_of};
use nsbox::{Container, ContainerBuilder, Mount, Rootfs, Upper};

/// Three layers, top first: `top` over `middle` over `bottom` (a busybox root).
///
/// - `/etc/shadowed` is in all three: the top one's shows;
/// - `/data/gone` is in `bottom`, whited out in `middle` (a 0:0 character device);
/// - `/opq` holds `old` in `bottom` and is opaque in `middle` (`user.overlay.opaque=y`) with
///   `new`: only `new` shows.
struct Layers {
    _dirs: Vec<tempfile::TempDir>,
    paths: Vec<PathBuf>,
}

fn layers() -> Layers {
    let bottom = common::busybox_rootfs();
    let middle = common::public_dir("nsbox-layer-middle-");
    let top = common::public_dir("nsbox-layer-top-");
    let write = |dir: &Path, path: &str, text: &str| {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    };
    write(bottom.path(), "etc/shadowed", "bottom\n");
    write(bottom.path(), "etc/base", "base\n");
    write(bottom.path(), "data/gone", "gone\n");
    write(bottom.path(), "data/kept", "kept\n");
    write(bottom.path(), "opq/old", "old\n");
    write(middle.path(), "etc/shadowed", "middle\n");
    write(middle.path(), "opq/new", "new\n");
    fs::create_dir_all(middle.path().join("data")).unwrap();
    nix::sys::stat::mknod(
        &middle.path().join("data/gone"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o600),
        0,
    )
    .expect("mknod the whiteout");
    set_xattr(&middle.path().join("opq"), "user.overlay.opaque", b"y");
    write(top.path(), "etc/shadowed", "top\n");
    write(top.path(), "etc/top", "top\n");
    let paths = vec![
        top.path().to_owned(),
        middle.path().to_owned(),
        bottom.path().to_owned(),
    ];
    Layers {
        _dirs: vec![top, middle, bottom],
        paths,
    }
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a live buffer of the given length.
    let ret = unsafe { libc::lsetxattr(path.as_ptr(), name.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    assert_eq!(ret, 0, "setxattr {name:?}: {}", std::io::Error::last_os_error());
}

fn get_xattrs(path: &Path) -> Vec<(String, Vec<u8>)> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 4096];
    // SAFETY: a live buffer of the given length.
    let len = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if len <= 0 {
        return Vec::new();
    }
    names.truncate(len as usize);
    let mut out = Vec::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 4096];
        // SAFETY: as above.
        let n = unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        value.truncate(n.max(0) as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), value));
    }
    out.sort();
    out
}

/// Everything about a tree that a write could change: per entry its path, type, mode, owner,
/// device, size, mtime, ctime, content or link text, and xattrs.
fn tree_state(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let m = fs::symlink_metadata(&path).unwrap();
        let content = if m.file_type().is_symlink() {
            fs::read_link(&path).unwrap().into_os_string().into_encoded_bytes()
        } else if m.is_file() {
            fs::read(&path).unwrap()
        } else {
            Vec::new()
        };
        out.push(format!(
            "{:?} mode {:o} {}:{} rdev {} size {} mtime {}.{} ctime {}.{} content {:x?} xattrs {:?}",
            path.strip_prefix(root).unwrap(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.rdev(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            m.ctime(),
            m.ctime_nsec(),
            std::collections::hash_map::DefaultHasher::default().hash_of(&content),
            get_xattrs(&path)
        ));
        if m.is_dir() {
            for entry in fs::read_dir(&path).unwrap() {
                todo.push(entry.unwrap().path());
            }
        }
    }
    out.sort();
    out
}

trait HashOf {
    fn hash_of(self, bytes: &[u8]) -> u64;
}

impl HashOf for std::collections::hash_map::DefaultHasher {
    fn hash_of(mut self, bytes: &[u8]) -> u64 {
        use std::hash::Hasher;
        self.write(bytes);
        self.finish()
    }
}

fn overlay_sh(layers: &Layers, upper: Upper, script: &str) -> ContainerBuilder {
    let mut b = Container::builder();
    b.rootfs(Rootfs::overlay(layers.paths.clone(), upper))
        .command("/bin/sh")
        .args(["-c", script]);
    b
}

#[test]
fn overlay_root_shows_the_merged_layers() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let script = "cat /etc/shadowed /etc/base /etc/top /data/kept /opq/new; \
                  ls /data; ls /opq; test -e /data/gone || echo no-gone; test -e /opq/old || echo no-old";
    let out = overlay_sh(&layers, Upper::default(), script).output().unwrap();
    assert_eq!(
        stdout_of(&out),
        "top\nbase\ntop\nkept\nnew\nkept\nnew\nno-gone\nno-old\n"
    );
}

/// What a payload does to every place of its root it can write: new files, changed files,
/// removed files (a lower one, a whited-out one's directory), a removed directory made again,
/// renames, modes, and a new top-level directory.
const WRITE_EVERYWHERE: &str = "set -e; echo new > /etc/new; echo more >> /etc/base; echo changed > /etc/shadowed; \
    rm /etc/top; rm -r /opq; mkdir /opq; echo again > /opq/again; mv /data/kept /data/moved; \
    chmod 700 /etc; mkdir -p /newdir/deep; echo deep > /newdir/deep/file; touch /bin/busybox; \
    cat /etc/base /etc/shadowed; ls /opq; ls /data";

/// [`WRITE_EVERYWHERE`] for `upper`. A tmpfs before Linux 6.6 keeps no `user.*` xattrs, so
/// overlayfs cannot mark a replaced directory opaque there: removing `/opq` (a directory the
/// layers have) must then fail (EIO), as `OverlaySupport::tmpfs_upper_xattrs` documents, and
/// everything else work.
fn write_everywhere(upper: &Upper) -> String {
    if matches!(upper, Upper::Tmpfs { .. }) && !nsbox::OverlaySupport::detect().tmpfs_upper_xattrs {
        return WRITE_EVERYWHERE.replace(
            "rm -r /opq; mkdir /opq;",
            "if rm -r /opq 2>/dev/null; then echo removed-on-an-old-tmpfs; fi;",
        );
    }
    WRITE_EVERYWHERE.to_string()
}

#[test]
fn writes_land_in_the_tmpfs_upper_and_never_in_a_lower_dir() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let before: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    let upper = Upper::Tmpfs { size: Some(8 << 20) };
    let out = overlay_sh(&layers, upper.clone(), &write_everywhere(&upper))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "base\nmore\nchanged\nagain\nmoved\n");
    let after: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    assert_eq!(before, after, "a lower directory changed");
    // The next container starts from the layers again: the tmpfs went with the first.
    let out = overlay_sh(
        &layers,
        Upper::default(),
        "cat /etc/base /etc/shadowed; ls /opq; test -e /etc/new || echo fresh",
    )
    .output()
    .unwrap();
    assert_eq!(stdout_of(&out), "base\ntop\nnew\nfresh\n");
}

/// The merged root takes the mode of the upper's root: a private `Upper::Dir` gives `upper/`
/// the top layer's root mode, so users other than root can enter the root and run programs.
#[test]
fn a_dir_upper_lets_every_user_into_the_root() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let keep = tempfile::tempdir().unwrap();
    let out = overlay_sh(&layers, Upper::Dir(keep.path().join("c")), "id -u; cat /etc/base")
        .namespaces(nsbox::Namespaces::all() - nsbox::Namespaces::USER)
        .user(1000, 1000)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "1000\nbase\n");
}

#[test]
fn writes_to_a_dir_upper_are_kept_in_its_upper_half() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let keep = tempfile::tempdir().unwrap();
    let upper = keep.path().join("c1");
    let before: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    let out = overlay_sh(&layers, Upper::Dir(upper.clone()), WRITE_EVERYWHERE)
        .output()
        .unwrap();
    stdout_of(&out);
    let after: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    assert_eq!(before, after, "a lower directory changed");
    let changes = upper.join("upper");
    assert_eq!(fs::read_to_string(changes.join("etc/new")).unwrap(), "new\n");
    assert_eq!(fs::read_to_string(changes.join("etc/base")).unwrap(), "base\nmore\n");
    assert_eq!(fs::read_to_string(changes.join("newdir/deep/file")).unwrap(), "deep\n");
    // The removed lower file is a whiteout; the directory made again over a removed one is
    // opaque, in the user namespace of xattrs (userxattr).
    let top = fs::symlink_metadata(changes.join("etc/top")).unwrap();
    assert!(
        std::os::unix::fs::FileTypeExt::is_char_device(&top.file_type()) && top.rdev() == 0,
        "no whiteout"
    );
    assert!(
        get_xattrs(&changes.join("opq"))
            .iter()
            .any(|(n, v)| n == "user.overlay.opaque" && v == b"y"),
        "no opaque marker: {:?}",
        get_xattrs(&changes.join("opq"))
    );
    // A second container on the same upper sees the first one's changes.
    let out = overlay_sh(
        &layers,
        Upper::Dir(upper.clone()),
        "cat /etc/new /newdir/deep/file; ls /opq",
    )
    .output()
    .unwrap();
    assert_eq!(stdout_of(&out), "new\ndeep\nagain\n");
}

#[test]
fn read_only_overlay_root_refuses_writes() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let out = overlay_sh(
        &layers,
        Upper::default(),
        "touch /etc/new 2>/dev/null && echo wrote; echo x >> /etc/base 2>/dev/null && echo appended; \
         grep ' / ' /proc/self/mounts | cut -d' ' -f3,4 | cut -d, -f1; cat /etc/base",
    )
    .read_only_root(true)
    .output()
    .unwrap();
    assert_eq!(stdout_of(&out), "overlay ro\nbase\n");
}

#[test]
fn overlay_root_is_writable_by_default() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let config = Container::builder()
        .rootfs(Rootfs::overlay(layers.paths.clone(), Upper::default()))
        .command("/bin/true")
        .build()
        .unwrap();
    assert!(!config.is_read_only_root());
    let out = overlay_sh(
        &layers,
        Upper::default(),
        "grep ' / ' /proc/self/mounts | cut -d' ' -f3,4 | cut -d, -f1",
    )
    .output()
    .unwrap();
    assert_eq!(stdout_of(&out), "overlay rw\n");
}

#[test]
fn mounts_land_on_the_overlay_root_new_paths_too() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let data = common::public_dir("nsbox-overlay-bind-");
    fs::write(data.path().join("file"), "bound\n").unwrap();
    for read_only in [false, true] {
        let before: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
        let out = overlay_sh(
            &layers,
            Upper::default(),
            "cat /etc/bound/file /new/place/file; touch /scratch/x /fresh/deep/y && echo tmpfs-ok; ls /proc/self/ns >/dev/null && echo proc",
        )
        .read_only_root(read_only)
        .mount(Mount::bind(data.path(), "/etc/bound").read_only())
        .mount(Mount::bind(data.path(), "/new/place").read_only())
        .mount(Mount::tmpfs("/scratch"))
        .mount(Mount::tmpfs("/fresh/deep"))
        .output()
        .unwrap();
        assert_eq!(
            stdout_of(&out),
            "bound\nbound\ntmpfs-ok\nproc\n",
            "read-only root: {read_only}"
        );
        let after: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
        assert_eq!(before, after, "a lower directory changed (read-only root: {read_only})");
    }
}

/// The configuration error `build()` gives (spawns of other tests run meanwhile, so no
/// snapshot of the process's fds as in `common::refused`).
fn refused(builder: &mut ContainerBuilder) -> nsbox::ConfigError {
    match builder.build() {
        Err(nsbox::Error::Config(e)) => e,
        other => panic!("build() must refuse with a config error, got: {other:?}"),
    }
}

#[test]
fn overlay_layers_must_be_one_to_max_and_the_tmpfs_sized() {
    let err = refused(
        Container::builder()
            .rootfs(Rootfs::overlay(Vec::<PathBuf>::new(), Upper::default()))
            .command("/bin/true"),
    );
    assert!(
        matches!(
            err,
            nsbox::ConfigError::OutOfRange {
                setting: nsbox::Setting::Rootfs,
                ..
            }
        ),
        "{err}"
    );
    let many = (0..=Rootfs::MAX_LAYERS).map(|i| PathBuf::from(format!("/l{i}")));
    let err = refused(
        Container::builder()
            .rootfs(Rootfs::overlay(many, Upper::default()))
            .command("/bin/true"),
    );
    assert!(
        matches!(
            err,
            nsbox::ConfigError::OutOfRange {
                setting: nsbox::Setting::Rootfs,
                ..
            }
        ),
        "{err}"
    );
    let err = refused(
        Container::builder()
            .rootfs(Rootfs::overlay(["/l"], Upper::Tmpfs { size: Some(0) }))
            .command("/bin/true"),
    );
    assert!(
        matches!(
            err,
            nsbox::ConfigError::OutOfRange {
                setting: nsbox::Setting::TmpfsSize,
                ..
            }
        ),
        "{err}"
    );
}

/// The layers moved into a root-owned 0700 store (the image store's mode, CVE-2021-41091).
fn layers_in_private_store() -> (tempfile::TempDir, Layers) {
    let store = tempfile::Builder::new().prefix("nsbox-store-").tempdir().unwrap();
    fs::set_permissions(store.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let mut layers = layers();
    for (i, path) in layers.paths.iter_mut().enumerate() {
        let moved = store.path().join(format!("layer{i}"));
        fs::rename(&*path, &moved).unwrap();
        *path = moved;
    }
    fs::write(layers.paths[2].join("etc/secret"), "secret\n").unwrap();
    fs::set_permissions(layers.paths[2].join("etc/secret"), fs::Permissions::from_mode(0o640)).unwrap();
    (store, layers)
}

#[test]
fn sandbox_reaches_layers_in_a_root_only_store_idmapped() {
    if !root_and_busybox() {
        return;
    }
    let (_store, layers) = layers_in_private_store();
    let before: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    // Root is mapped to an unused host id, which cannot search the 0700 store nor read the
    // 0640 file by its own rights: the layers are idmapped onto the container's maps.
    let out = overlay_sh(
        &layers,
        Upper::default(),
        "ls -ln /etc/secret | tr -s ' ' | cut -d' ' -f1,3,4; cat /etc/secret /etc/shadowed; \
         echo more >> /etc/base && cat /etc/base; cat /proc/self/uid_map",
    )
    .profile(nsbox::Profile::Sandbox)
    .read_only_root(false)
    .output()
    .unwrap();
    let text = stdout_of(&out);
    assert!(text.starts_with("-rw-r----- 0 0\nsecret\ntop\nbase\nmore\n"), "{text}");
    let map: Vec<&str> = text.lines().last().unwrap().split_whitespace().collect();
    assert!(map[0] == "0" && map[1] != "0", "root must not be host root: {text}");
    let after: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    assert_eq!(before, after, "a lower directory changed");
}

#[test]
fn preflight_reports_overlayfs() {
    let host = nsbox::preflight();
    let overlay = &host.overlay;
    let listed = fs::read_to_string("/proc/filesystems").unwrap().contains("\toverlay\n");
    assert_eq!(overlay.listed, listed);
    if !require("overlayfs (modprobe overlay)", listed) {
        return;
    }
    assert!(overlay.usable, "{overlay:?}");
    assert_eq!(overlay.reason, None);
    // Linux 6.8 takes layers one at a time.
    let release: Vec<u32> = host
        .kernel
        .split(|c: char| !c.is_ascii_digit())
        .take(2)
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(overlay.lowerdir_append, release >= vec![6, 8], "{host:?}");
    // A tmpfs takes user.* xattrs since 6.6; the probe tried on its own tmpfs, never on "/".
    assert_eq!(overlay.tmpfs_upper_xattrs, release >= vec![6, 6], "{host:?}");
    let root = CString::new("/").unwrap();
    // SAFETY: NUL-terminated strings; a size query (NULL buffer).
    let on_root = unsafe { libc::getxattr(root.as_ptr(), c"user.nsbox-probe".as_ptr(), std::ptr::null_mut(), 0) };
    assert!(on_root < 0, "the probe set an xattr on the host's root");
    // Cached: the same answer without a second probe.
    assert_eq!(&nsbox::preflight().overlay, overlay);
}

#[test]
fn a_missing_layer_fails_the_spawn_naming_it() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let mut paths = layers.paths.clone();
    paths.insert(1, PathBuf::from("/nonexistent/layer"));
    // Opened by the setup process (Fixture), or idmapped by the caller (Sandbox): alike.
    for profile in [nsbox::Profile::Fixture, nsbox::Profile::Sandbox] {
        let err = common::setup_failure_of(
            Container::builder()
                .profile(profile)
                .rootfs(Rootfs::overlay(paths.clone(), Upper::default()))
                .command("/bin/true")
                .output(),
        );
        assert_eq!(err.step, nsbox::SetupStep::PrepareRoot, "{err}");
        assert_eq!(err.path.as_deref(), Some(Path::new("/nonexistent/layer")), "{err}");
        assert_eq!(err.errno, nsbox::Errno::ENOENT, "{err}");
    }
}

#[test]
fn a_layer_overlayfs_refuses_fails_with_an_overlayfs_hint() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    // A file is no layer: the kernel refuses it when the overlay is mounted.
    let file = layers.paths[0].join("etc/top");
    let mut paths = layers.paths.clone();
    paths.insert(0, file);
    let err = common::setup_failure_of(
        Container::builder()
            .rootfs(Rootfs::overlay(paths, Upper::default()))
            .command("/bin/true")
            .output(),
    );
    assert_eq!(err.step, nsbox::SetupStep::PrepareRoot, "{err}");
    assert!(
        matches!(err.hint(), Some(nsbox::Hint::Overlayfs { .. })),
        "{err} {:?}",
        err.hint()
    );
    assert!(err.to_string().contains("overlayfs"), "{err}");
}

#[test]
fn stop_sends_the_configured_stop_signal() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    // The payload ignores TERM and exits 7 on USR1: stop() with SIGUSR1 configured ends it by
    // its own hand, long before the timeout's SIGKILL.
    let script = "trap '' TERM; trap 'exit 7' USR1; echo ready; while true; do sleep 0.1; done";
    let mut b = overlay_sh(&layers, Upper::default(), script);
    b.stop_signal(nsbox::Signal::SIGUSR1).stdout(nsbox::Stdio::piped());
    assert_eq!(b.build().unwrap().stop_signal(), nsbox::Signal::SIGUSR1);
    let mut c = b.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(c.take_stdout().unwrap()), &mut line).unwrap();
    assert_eq!(line, "ready\n");
    let status = c.stop(std::time::Duration::from_secs(60)).unwrap();
    assert_eq!(status.code(), Some(7), "{status}");
    // The default is SIGTERM, which this payload ignores: SIGKILL at the timeout.
    let mut b = overlay_sh(&layers, Upper::default(), script);
    b.stdout(nsbox::Stdio::piped());
    assert_eq!(b.build().unwrap().stop_signal(), nsbox::Signal::SIGTERM);
    let mut c = b.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(c.take_stdout().unwrap()), &mut line).unwrap();
    let status = c.stop(std::time::Duration::from_millis(300)).unwrap();
    assert_eq!(status.signal(), Some(nsbox::Signal::SIGKILL), "{status}");
}

/// Counts its drops.
struct Guard(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn keep_alive_value_is_dropped_once_the_container_is_reaped() {
    if !root_and_busybox() {
        return;
    }
    use std::sync::atomic::Ordering::SeqCst;
    let layers = layers();
    let drops = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut c = {
        let mut b = overlay_sh(&layers, Upper::default(), "read line || true");
        b.keep_alive(Guard(drops.clone())).stdin(nsbox::Stdio::piped());
        b.spawn().unwrap()
        // The builder, and the Config it built, go here.
    };
    assert_eq!(drops.load(SeqCst), 0, "dropped while the container runs");
    assert_eq!(c.try_wait().unwrap(), None);
    assert_eq!(drops.load(SeqCst), 0, "dropped while the container runs");
    assert!(c.wait().unwrap().success());
    assert_eq!(drops.load(SeqCst), 1, "not dropped once the container was reaped");
    drop(c);
    assert_eq!(drops.load(SeqCst), 1);

    // Dropping the handle kills and reaps the container, and lets go of the value.
    let mut b = overlay_sh(&layers, Upper::default(), "sleep 60");
    b.keep_alive(Guard(drops.clone()));
    let config = b.build().unwrap();
    drop(b);
    let c = config.spawn().unwrap();
    drop(config);
    assert_eq!(drops.load(SeqCst), 1, "dropped while the container runs");
    drop(c);
    assert_eq!(drops.load(SeqCst), 2);
}

#[cfg(feature = "serde")]
#[test]
fn overlay_root_and_stop_signal_round_trip_but_kept_values_do_not() {
    let config = Container::builder()
        .rootfs(Rootfs::overlay(["/l1", "/l2"], Upper::Dir("/keep".into())))
        .stop_signal(nsbox::Signal::SIGUSR1)
        .keep_alive(1u8)
        .command("/bin/true")
        .build()
        .unwrap();
    let json = serde_json::to_string(&config).unwrap();
    let again: nsbox::Config = serde_json::from_str(&json).unwrap();
    assert_eq!(again.rootfs(), config.rootfs());
    assert_eq!(again.stop_signal(), nsbox::Signal::SIGUSR1);
    assert!(!again.is_read_only_root());
    let (before, after) = (format!("{config:?}"), format!("{again:?}"));
    assert!(before.contains("KeepAlive(1 values)") && after.contains("KeepAlive(0 values)"));
    assert_eq!(before.replace("KeepAlive(1 values)", "KeepAlive(0 values)"), after);
    let tmpfs = Container::builder()
        .rootfs(Rootfs::overlay(["/l1"], Upper::Tmpfs { size: Some(1 << 20) }))
        .command("/bin/true")
        .build()
        .unwrap();
    let again: nsbox::Config = serde_json::from_str(&serde_json::to_string(&tmpfs).unwrap()).unwrap();
    assert_eq!(again.rootfs(), tmpfs.rootfs());
}

#[test]
fn overlay_root_without_a_user_namespace_reads_user_xattr_markers() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let before: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    let out = overlay_sh(
        &layers,
        Upper::default(),
        "ls /opq; cat /etc/shadowed; echo x > /opq/new; readlink /proc/self/ns/user",
    )
    .namespaces(nsbox::Namespaces::all() - nsbox::Namespaces::USER)
    .output()
    .unwrap();
    let host_userns = fs::read_link("/proc/self/ns/user").unwrap();
    assert_eq!(
        stdout_of(&out),
        format!("new\ntop\n{}\n", host_userns.display()),
        "the opaque directory must hide the bottom layer's /opq/old"
    );
    let after: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    assert_eq!(before, after, "a lower directory changed");
}

const INNER: &str = "NSBOX_OVERLAY_INNER";

#[test]
fn overlay_root_works_rootless() {
    common::inner_tests_pass_as_nobody(INNER, 1);
}

/// As nobody (see `common::inner_tests_pass_as_nobody`): layers nobody made (a whiteout and an
/// opaque marker need no privilege), in nobody's own 0700 store.
#[test]
fn inner_rootless_overlay_merges_writes_and_leaves_the_layers_alone() {
    if !common::is_inner_run(INNER) {
        return;
    }
    let (_store, layers) = layers_in_private_store();
    let before: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    let keep = tempfile::tempdir().unwrap();
    for upper in [Upper::default(), Upper::Dir(keep.path().join("c"))] {
        let script = format!(
            "ls -ln /etc/secret | tr -s ' ' | cut -d' ' -f3,4; ls /opq; cat /etc/secret; {}",
            write_everywhere(&upper)
        );
        let out = overlay_sh(&layers, upper, &script).output().unwrap();
        assert_eq!(stdout_of(&out), "0 0\nnew\nsecret\nbase\nmore\nchanged\nagain\nmoved\n");
    }
    assert_eq!(
        fs::read_to_string(keep.path().join("c/upper/etc/new")).unwrap(),
        "new\n"
    );
    let after: Vec<_> = layers.paths.iter().map(|p| tree_state(p)).collect();
    assert_eq!(before, after, "a lower directory changed");
}

#[test]
fn overlay_spawns_leak_no_fd_mount_process_or_temp_file() {
    if !root_and_busybox()
        || !common::in_own_process(
            "overlay_spawns_leak_no_fd_mount_process_or_temp_file",
            "NSBOX_OVERLAY_ALONE",
        )
    {
        return;
    }
    let (_store, layers) = layers_in_private_store();
    let keep = tempfile::tempdir().unwrap();
    let run = |profile: nsbox::Profile, upper: Upper| {
        overlay_sh(&layers, upper, "echo x > /etc/new")
            .profile(profile)
            .read_only_root(false)
            .output()
            .unwrap()
    };
    // The first spawns make what stays: the upper directories' halves (one per id map: their
    // files belong to the container's root), the cached probe.
    let dir_of = |profile: nsbox::Profile| Upper::Dir(keep.path().join(format!("{profile:?}")));
    for profile in [nsbox::Profile::Fixture, nsbox::Profile::Sandbox] {
        assert!(run(profile, dir_of(profile)).status.success());
    }
    let _ = nsbox::preflight();
    let before = common::Snapshot::take();
    for profile in [nsbox::Profile::Fixture, nsbox::Profile::Sandbox] {
        for upper in [Upper::default(), dir_of(profile)] {
            assert!(run(profile, upper).status.success());
        }
        let mut missing = layers.paths.clone();
        missing.push("/nonexistent/layer".into());
        let failed = Container::builder()
            .profile(profile)
            .rootfs(Rootfs::overlay(missing, Upper::default()))
            .command("/bin/true")
            .output();
        assert!(matches!(failed, Err(nsbox::Error::Setup(_))), "{failed:?}");
    }
    // Not the temp dir: the other tests of this binary make their layers there meanwhile
    // (nsbox makes no temp file for an overlay).
    let now = common::Snapshot::take();
    assert_eq!(before.fds, now.fds, "open fds changed");
    assert_eq!(before.mounts, now.mounts, "mountinfo changed");
    assert_eq!(before.children, now.children, "child processes changed");
}

/// A device node a layer holds (a root store keeps them) never opens in the container, even
/// without a user namespace (which would make it nodev anyway): the overlay root is nodev. The
/// same for a rootfs directory.
#[test]
fn device_nodes_of_a_layer_or_a_rootfs_directory_do_not_open() {
    if !root_and_busybox() {
        return;
    }
    let layers = layers();
    let null = layers.paths[0].join("null-copy");
    nix::sys::stat::mknod(
        &null,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod");
    let script = "echo x > /null-copy && echo opened || echo refused";
    let no_userns = nsbox::Namespaces::all() - nsbox::Namespaces::USER;
    let mut b = overlay_sh(&layers, Upper::default(), script);
    b.namespaces(no_userns);
    assert_eq!(stdout_of(&b.output().unwrap()), "refused\n", "overlay root");
    let dir = common::busybox_rootfs();
    for top in ["proc", "dev", "sys"] {
        fs::create_dir(dir.path().join(top)).unwrap();
    }
    fs::rename(&null, dir.path().join("null-copy")).unwrap();
    let out = Container::builder()
        .namespaces(no_userns)
        .rootfs(Rootfs::dir(dir.path()))
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "refused\n", "rootfs directory");
}

/// What a container writes to a kept upper (a setuid-root copy of a binary among it) is not
/// reachable by host users (CVE-2021-41091): the kept directory is made 0700 (upper/, the
/// container's root directory, is 0755 inside it, so the container's other users can use
/// their root), and an upper directory others may write to is refused.
#[test]
fn a_kept_upper_is_private_to_its_owner() {
    if !root_and_busybox() || !require("setpriv (util-linux)", Path::new("/usr/bin/setpriv").exists()) {
        return;
    }
    let layers = layers();
    let keep = common::public_dir("nsbox-upper-");
    let out = overlay_sh(
        &layers,
        Upper::Dir(keep.path().to_owned()),
        "cp /bin/busybox /suid && chmod 4755 /suid && echo planted",
    )
    .output()
    .unwrap();
    assert_eq!(stdout_of(&out), "planted\n");
    for (path, want) in [("", 0o700), ("upper", 0o755), ("work", 0o700)] {
        let mode = fs::metadata(keep.path().join(path)).unwrap().mode() & 0o777;
        assert_eq!(mode, want, "{path:?}");
    }
    // A user other than root gets through the container's root directory.
    let mut b = overlay_sh(
        &layers,
        Upper::Dir(keep.path().to_owned()),
        "ls /bin/sh && test -u /suid && echo ok",
    );
    b.user(1000, 1000);
    assert_eq!(stdout_of(&b.output().unwrap()), "/bin/sh\nok\n");
    let run = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(keep.path().join("upper/suid"))
        .arg("true")
        .output()
        .unwrap();
    assert!(!run.status.success(), "nobody ran the container's setuid file");
    let shared = common::public_dir("nsbox-upper-shared-");
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let e = overlay_sh(&layers, Upper::Dir(shared.path().to_owned()), "true")
        .output()
        .unwrap_err();
    assert!(e.to_string().contains("only its owner can write"), "{e}");
}
