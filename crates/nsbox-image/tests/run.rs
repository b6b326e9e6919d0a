//! Containers of images: the layers as a copy-on-write overlay root, the image's config as
//! what runs (Docker's overrides), the store never written by a container, layers leased while
//! it runs; as root, under Sandbox (a 0700 root store, the layers idmapped) and rootless.

mod common;

use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;

use common::images::{self, Compression};
use nsbox::{Container, ContainerBuilder, Profile};
use nsbox_image::run::{ImageRun, Overrides, RootStrategy};
use nsbox_image::{Source, Store};
use serde_json::json;

const INNER: &str = "NSBOX_IMAGE_RUN_INNER";

/// busybox, then accounts (app 1000, shadow 42 listing app, /etc/shadow 0:42 0640), with a
/// config that exercises every field a run applies.
fn app_image(dir: &Path, store: &Store) {
    let layers = [images::busybox_layer(), images::accounts_layer()];
    let config = images::config_json_with(
        &layers,
        json!({
            "Env": ["PATH=/bin", "GREETING=hi"],
            "Entrypoint": ["/bin/sh", "-c"],
            "Cmd": ["echo $GREETING; id -u; id -G; pwd; ls -ln /etc/shadow; grep -c ' /data ' /proc/self/mountinfo"],
            "WorkingDir": "/srv",
            "User": "app",
            "Volumes": { "/data": {} },
            "StopSignal": "SIGUSR1",
            "ExposedPorts": { "8080/tcp": {} }
        }),
    );
    let archive = dir.join("app.tar");
    images::docker_classic_with_config(&archive, &layers, &config, "app:1");
    store
        .import(&Source::docker_archive(&archive), "app:1", |_| {})
        .unwrap();
}

/// A builder for a container of `reference` in `store` (a `profile` first, if any) with
/// `overrides` applied, its root made by `root`.
fn image_builder(
    store: &Store,
    reference: &str,
    profile: Option<Profile>,
    overrides: Overrides,
    root: RootStrategy,
) -> ContainerBuilder {
    let mut builder = Container::builder();
    if let Some(p) = profile {
        builder.profile(p);
    }
    let run = ImageRun::new(store, reference)
        .unwrap()
        .overrides(overrides)
        .root_strategy(root)
        .apply(&mut builder)
        .unwrap();
    assert_eq!(run.root, root);
    builder
}

/// The store's files, without `roots/` (the copies' place, made on first use).
fn store_listing(store: &Store) -> Vec<String> {
    let mut listing = common::tree_listing(store.path());
    listing.retain(|entry| !entry.starts_with("roots/"));
    listing
}

/// Nothing left under `roots/`: every copy went with its container.
fn no_root_copies(store: &Store) -> bool {
    fs::read_dir(store.roots_path()).map_or(true, |mut d| d.next().is_none())
}

fn stdout(out: &nsbox::Output) -> String {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The image's config as a run applies it: env from the image only (+ PATH), entrypoint and
/// cmd, working dir, user app with its groups from the image's /etc/group, a tmpfs volume;
/// /etc/shadow 0:42 as in the image.
#[test]
fn an_images_config_is_what_runs() {
    config_is_what_runs(RootStrategy::Overlay);
}

#[test]
fn an_images_config_is_what_runs_on_a_copy() {
    config_is_what_runs(RootStrategy::Copy);
}

fn config_is_what_runs(root: RootStrategy) {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    let mut builder = Container::builder();
    let run = ImageRun::new(&store, "app:1")
        .unwrap()
        .root_strategy(root)
        .apply(&mut builder)
        .unwrap();
    assert_eq!(run.exposed_ports, ["8080/tcp"]);
    assert_eq!(run.stop_signal, Some(nsbox::Signal::SIGUSR1));
    let text = stdout(&builder.output().unwrap());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..4], ["hi", "1000", "1000 42", "/srv"], "{text}");
    let shadow: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!((shadow[0], shadow[2], shadow[3]), ("-rw-r-----", "0", "42"), "{text}");
    assert_eq!(lines[5], "1", "the volume is a mount: {text}");
}

/// A container whose id map has one id (Sandbox's, or a rootless caller's own): the image's
/// `app` user cannot be mapped, so it runs as root; `/etc/shadow`'s group shows as
/// `shadow_group`: the overflow id under Sandbox (a root store keeps 42, idmapped), root in a
/// rootless store (an unprivileged unpacker cannot give files away: they are the caller's,
/// its root's). The layers are reached all the same (under Sandbox from a 0700 root store).
fn runs_with_one_mapped_id(store: &Store, profile: Option<Profile>, shadow_group: &str, root: RootStrategy) {
    let overrides = Overrides {
        cmd: Some(vec!["cat /etc/os-release; id -u; ls -ln /etc/shadow".into()]),
        user: Some("0".into()),
        ..Default::default()
    };
    let mut builder = image_builder(store, "app:1", profile, overrides, root);
    let text = stdout(&builder.output().unwrap());
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["ID=nsbox-test", "0"], "{text}");
    let shadow: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!((shadow[2], shadow[3]), ("0", shadow_group), "{text}");
    // Its own user is refused clearly: one id cannot hold uid 1000.
    // (Assigned, not shadowed: the first builder and its copy go here.)
    builder = image_builder(store, "app:1", profile, Overrides::default(), root);
    assert!(matches!(
        builder.output(),
        Err(nsbox::Error::Config(nsbox::ConfigError::Unmapped { id: 1000, .. }))
    ));
    drop(builder);
    assert!(no_root_copies(store), "a failed spawn's copy was removed");
}

#[test]
fn an_image_runs_under_the_sandbox_from_a_root_store() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    runs_with_one_mapped_id(&store, Some(Profile::Sandbox), "65534", RootStrategy::Overlay);
    // The copy: owned by the container's root (ids shifted through its map), 42 unmapped.
    runs_with_one_mapped_id(&store, Some(Profile::Sandbox), "65534", RootStrategy::Copy);
}

#[test]
fn overrides_replace_cmd_entrypoint_user_and_env_as_docker_does() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    let overrides = Overrides {
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        cmd: Some(vec![
            "echo $GREETING $EXTRA; id -u; pwd; env | grep -c HOME= || true".into(),
        ]),
        user: Some("0:0".into()),
        working_dir: Some("/".into()),
        env: vec![("EXTRA".into(), "there".into())],
        mounted: Vec::new(),
    };
    let mut builder = image_builder(&store, "app:1", None, overrides.clone(), RootStrategy::Overlay);
    // The caller's environment is not the image's: no HOME leaks in.
    assert_eq!(stdout(&builder.output().unwrap()), "hi there\n0\n/\n0\n");
    let mut builder = image_builder(&store, "app:1", None, overrides, RootStrategy::Copy);
    assert_eq!(stdout(&builder.output().unwrap()), "hi there\n0\n/\n0\n");
}

#[test]
fn a_container_that_writes_everywhere_leaves_the_store_unchanged() {
    writes_everywhere(RootStrategy::Overlay);
}

#[test]
fn a_container_that_writes_everywhere_in_its_copy_leaves_the_store_unchanged() {
    writes_everywhere(RootStrategy::Copy);
}

fn writes_everywhere(root: RootStrategy) {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    let before = store_listing(&store);
    let script = "for d in / /bin /etc /srv /tmp; do echo x > $d/written; done; \
                  echo y >> /bin/busybox.copy; rm -f /etc/shadow /etc/passwd; chmod 777 /etc; \
                  echo z > /etc/group; ls /etc";
    let overrides = Overrides {
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        user: Some("0".into()),
        ..Default::default()
    };
    let mut builder = image_builder(&store, "app:1", None, overrides, root);
    let text = stdout(&builder.output().unwrap());
    assert!(text.contains("written") && !text.contains("shadow"), "{text}");
    assert_eq!(store_listing(&store), before, "the store changed");
    // The container was reaped: its copy is gone (the builder held it too).
    drop(builder);
    assert!(no_root_copies(&store), "a copy outlived its container");
}

#[test]
fn a_whiteout_in_an_upper_layer_hides_the_lower_file() {
    whiteout_hides(RootStrategy::Overlay);
}

#[test]
fn a_whiteout_in_an_upper_layer_hides_the_lower_file_in_a_copy() {
    whiteout_hides(RootStrategy::Copy);
}

fn whiteout_hides(root: RootStrategy) {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    let layout = dir.path().join("oci");
    images::oci_layout(
        &layout,
        &[images::busybox_layer(), images::whiteout_layer()],
        Compression::Gzip,
    );
    store.import(&Source::oci_layout(&layout), "two:1", |_| {}).unwrap();
    let overrides = Overrides {
        cmd: Some(vec!["/bin/sh".into(), "-c".into(), "cat /etc/hello; ls /etc".into()]),
        ..Default::default()
    };
    let mut builder = image_builder(&store, "two:1", None, overrides, root);
    assert_eq!(stdout(&builder.output().unwrap()), "hello from layer 2\nhello\n");
}

/// A store in `dir` with the app image, its layer directories, and a builder of a container of
/// it that sleeps.
fn sleeping_app(dir: &Path) -> (Store, Vec<std::path::PathBuf>, ContainerBuilder) {
    let store = Store::open(dir.join("store")).unwrap();
    app_image(dir, &store);
    let image = store.inspect("app:1").unwrap();
    let layer_dirs = image.layers().iter().map(|l| l.path().to_path_buf()).collect();
    let overrides = Overrides {
        entrypoint: Some(vec!["/bin/sleep".into(), "60".into()]),
        ..Default::default()
    };
    let builder = image_builder(&store, "app:1", None, overrides, RootStrategy::Overlay);
    (store, layer_dirs, builder)
}

#[test]
fn gc_keeps_the_layers_of_a_running_container() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let (store, layer_dirs, mut builder) = sleeping_app(dir.path());
    let mut container = builder.spawn().unwrap();
    drop(builder);
    store.remove("app:1").unwrap();
    store.gc().unwrap();
    assert!(
        layer_dirs.iter().all(|d| d.is_dir()),
        "gc freed a layer a running container uses"
    );
    container.kill(nsbox::Signal::SIGKILL).unwrap();
    container.wait().unwrap();
    store.gc().unwrap();
    assert!(layer_dirs.iter().all(|d| !d.exists()), "gc kept a layer nothing uses");
}

#[test]
fn rootless_import_and_run() {
    if common::root() && common::inner_tests_pass_as_nobody(INNER) {
        // Ran as nobody: its own store, its own containers.
    }
}

#[test]
fn inner_rootless_import_and_run() {
    if !common::is_inner_run(INNER) {
        return;
    }
    let dir = common::public_dir("nsbox-image-rootless-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    runs_with_one_mapped_id(&store, None, "0", RootStrategy::Overlay);
    runs_with_one_mapped_id(&store, None, "0", RootStrategy::Copy);
    let _ = fs::remove_dir_all(dir.path());
}

/// A detached container outlives its handle and the lease in it: gc keeps its layers while its
/// process runs (the record `Lease::hold_for` wrote), and frees them, record included, once it
/// is gone. A record whose pid names another process (a pid reused) holds nothing.
#[test]
fn gc_keeps_the_layers_of_a_detached_container_after_its_handle_is_gone() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let (store, layer_dirs, mut builder) = sleeping_app(dir.path());
    builder.detach();
    let container = builder.spawn().unwrap();
    let pidfd = container.pidfd().try_clone_to_owned().unwrap();
    let record = store.path().join("leases").join(format!("{}.json", container.id()));
    drop(container);
    drop(builder);
    assert!(record.is_file(), "no lease record for the detached container");

    // A stale record beside it: this very test process's pid, with another start time.
    let stale = store.path().join("leases/stale.json");
    let mut text: serde_json::Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
    text["pid"] = json!(std::process::id());
    text["start_time"] = json!(1);
    fs::write(&stale, serde_json::to_vec(&text).unwrap()).unwrap();

    store.remove("app:1").unwrap();
    let report = store.gc().unwrap();
    assert!(
        layer_dirs.iter().all(|d| d.is_dir()),
        "gc freed a layer a detached container runs on"
    );
    assert_eq!(report.layers_in_use.len(), layer_dirs.len(), "{report:?}");
    assert!(
        !stale.exists(),
        "gc kept the record of a pid that names another process"
    );

    // SAFETY: pidfd_send_signal on a pidfd we own; no siginfo.
    let sent = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), libc::SIGKILL, 0, 0) };
    assert_eq!(sent, 0);
    // A zombie holds no mounts: gc frees the layers before anyone reaps it.
    wait_until_zombie(&pidfd);
    let report = store.gc().unwrap();
    assert!(report.layers_in_use.is_empty(), "{report:?}");
    assert!(layer_dirs.iter().all(|d| !d.exists()), "gc kept a layer nothing uses");
    assert!(!record.exists(), "gc kept the record of a process that is gone");
    // The test process is the container's parent: reap it.
    // SAFETY: waitid on a pidfd we own, into a zeroed siginfo.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::waitid(libc::P_PIDFD, pidfd.as_raw_fd() as libc::id_t, &mut info, libc::WEXITED) };
    assert_eq!(reaped, 0);
}

/// Waits (bounded) until the process of `pidfd` exited, without reaping it.
fn wait_until_zombie(pidfd: &std::os::fd::OwnedFd) {
    let mut poll = libc::pollfd {
        fd: pidfd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call.
    let ready = unsafe { libc::poll(&mut poll, 1, 30_000) };
    assert_eq!(ready, 1, "the killed container did not exit");
}

/// An image whose `/etc/passwd` and `/etc/group` are symlinks (relative, absolute) into a lower
/// layer: the user resolves through them, as a container of the image sees them; a loop reads
/// as no file (runc ignores an `/etc/passwd` it cannot open): a name is then unknown, a number
/// gets gid 0.
#[test]
fn symlinked_accounts_resolve_inside_the_image() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    let accounts = images::LayerTar::new()
        .dir("usr/")
        .dir("usr/lib/")
        .file(
            "usr/lib/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/:/bin/sh\n",
        )
        .file("usr/lib/group", 0o644, b"root:x:0:\nshadow:x:42:app\napp:x:1000:\n")
        .finish();
    let links = images::LayerTar::new()
        .dir("etc/")
        .symlink("etc/passwd", "../usr/lib/passwd")
        .symlink("etc/group", "/usr/lib/group")
        .finish();
    let looping = images::LayerTar::new()
        .dir("etc/")
        .symlink("etc/passwd", "passwd.d")
        .symlink("etc/passwd.d", "/etc/passwd")
        .symlink("etc/group", "../../../etc/group")
        .finish();
    let config = json!({ "User": "app", "Cmd": ["/bin/sh", "-c", "id -u; id -G"] });
    for (reference, layers) in [
        ("linked:1", vec![images::busybox_layer(), accounts.clone(), links]),
        ("looping:1", vec![images::busybox_layer(), accounts, looping]),
    ] {
        let config = images::config_json_with(&layers, config.clone());
        let archive = dir.path().join(format!("{}.tar", reference.replace(':', "-")));
        images::docker_classic_with_config(&archive, &layers, &config, reference);
        store
            .import(&Source::docker_archive(&archive), reference, |_| {})
            .unwrap();
    }

    let mut builder = Container::builder();
    let run = ImageRun::new(&store, "linked:1").unwrap().apply(&mut builder).unwrap();
    assert_eq!((run.credentials.uid, run.credentials.gid), (1000, 1000));
    assert_eq!(run.credentials.groups, [1000, 42]);
    assert_eq!(stdout(&builder.output().unwrap()), "1000\n1000 42\n");

    let err = ImageRun::new(&store, "looping:1")
        .unwrap()
        .apply(&mut Container::builder())
        .unwrap_err();
    assert!(
        matches!(
            err,
            nsbox_image::run::RunError::Config(nsbox_image::run::RunConfigError::User(
                nsbox_image::run::UserError::NoSuchUser(ref name)
            )) if name == "app"
        ),
        "{err:?}"
    );
    let overrides = Overrides {
        user: Some("1000".into()),
        ..Default::default()
    };
    let run = ImageRun::new(&store, "looping:1")
        .unwrap()
        .overrides(overrides)
        .apply(&mut Container::builder())
        .unwrap();
    assert_eq!((run.credentials.uid, run.credentials.gid), (1000, 0));
}

/// busybox, then /opt/app/{conf,old}, then /opt/app made opaque with a new file.
fn opaque_image(dir: &Path, store: &Store) {
    let layout = dir.join("opaque-oci");
    let lower = images::LayerTar::new()
        .dir("opt/")
        .dir("opt/app/")
        .file("opt/app/conf", 0o644, b"lower\n")
        .file("opt/app/old", 0o644, b"lower\n")
        .finish();
    let upper = images::LayerTar::new()
        .dir("opt/")
        .dir("opt/app/")
        .file("opt/app/.wh..wh..opq", 0o644, b"")
        .file("opt/app/new", 0o644, b"upper\n")
        .finish();
    images::oci_layout(&layout, &[images::busybox_layer(), lower, upper], Compression::Gzip);
    store.import(&Source::oci_layout(&layout), "opaque:1", |_| {}).unwrap();
}

fn opaque_hides(root: RootStrategy) {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    opaque_image(dir.path(), &store);
    let overrides = Overrides {
        cmd: Some(vec!["/bin/sh".into(), "-c".into(), "ls /opt/app".into()]),
        ..Default::default()
    };
    let mut builder = image_builder(&store, "opaque:1", None, overrides, root);
    assert_eq!(stdout(&builder.output().unwrap()), "new\n");
}

#[test]
fn an_opaque_directory_hides_the_lower_layers_entries() {
    opaque_hides(RootStrategy::Overlay);
}

#[test]
fn an_opaque_directory_hides_the_lower_layers_entries_in_a_copy() {
    opaque_hides(RootStrategy::Copy);
}

/// A kept upper is overlayfs' format (for commit): a copy cannot give one, and says so.
#[test]
fn a_kept_upper_on_a_copy_is_refused_clearly() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    let mut builder = Container::builder();
    let err = ImageRun::new(&store, "app:1")
        .unwrap()
        .upper(nsbox::Upper::Dir(dir.path().join("upper")))
        .root_strategy(RootStrategy::Copy)
        .apply(&mut builder)
        .unwrap_err();
    assert!(matches!(err, nsbox_image::run::RunError::NeedsOverlay { .. }), "{err}");
    assert!(no_root_copies(&store));
}

/// A detached container's copy outlives its handle (its files must not vanish under it): the
/// run names it, and `remove_root_copies` removes it once the container is gone.
#[test]
fn a_detached_containers_copy_is_kept_until_removed() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    let mut builder = Container::builder();
    builder.detach();
    let overrides = Overrides {
        entrypoint: Some(vec!["/bin/true".into()]),
        user: Some("0".into()),
        ..Default::default()
    };
    let run = ImageRun::new(&store, "app:1")
        .unwrap()
        .overrides(overrides)
        .root_strategy(RootStrategy::Copy)
        .apply(&mut builder)
        .unwrap();
    let kept = run
        .kept_root_copy
        .clone()
        .expect("a detached container's copy is named");
    let mut container = builder.spawn().unwrap();
    assert!(container.wait().unwrap().success());
    drop((container, builder));
    assert!(kept.join("root/bin/busybox").is_file(), "the copy was kept");
    assert_eq!(store.remove_root_copies().unwrap(), 1);
    assert!(!kept.exists() && no_root_copies(&store));
}

/// A root copy is one container's: a second spawn of the same builder is refused (it would
/// share the first's writable root), and so is a `detach()` after `apply` (the copy would go
/// with the handle while the container runs); nothing of either is left running.
#[test]
fn a_root_copy_serves_one_container_only() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-run-");
    let store = Store::open(dir.path().join("store")).unwrap();
    app_image(dir.path(), &store);
    let overrides = || Overrides {
        entrypoint: Some(vec!["/bin/true".into()]),
        user: Some("0".into()),
        ..Default::default()
    };
    let mut builder = image_builder(&store, "app:1", None, overrides(), RootStrategy::Copy);
    assert!(builder.status().unwrap().success());
    let second = builder.status().unwrap_err();
    assert!(second.to_string().contains("one container"), "{second}");
    let mut builder = image_builder(&store, "app:1", None, overrides(), RootStrategy::Copy);
    builder.detach();
    let late = builder.spawn().unwrap_err();
    assert!(late.to_string().contains("detach the builder first"), "{late}");
}
