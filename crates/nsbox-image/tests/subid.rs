//! A rootless store with subordinate ids: `nobody` is given a range by temporary /etc/subuid
//! and /etc/subgid files bind-mounted in a private mount namespace (newuidmap and newgidmap,
//! setuid, read them there), then the tests named `subid_*` run as `nobody`. The store records
//! the map, unpacked layers hold the image's ids shifted into the range, a container sees the
//! image's ids (`/etc/shadow` 0:42, uid 1000 owning its files), a commit writes the container's
//! ids, `remove` + `gc` free everything, and a hostile layer cannot make the shift touch
//! anything outside it.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::images::{self, LayerTar};
use nsbox::{Container, IdMap, Upper};
use nsbox_image::commit::CommitOptions;
use nsbox_image::run::{ImageRun, Overrides};
use nsbox_image::{Source, Store};
use serde_json::json;

const INNER: &str = "NSBOX_IMAGE_SUBID_INNER";
/// The Debian image's rootfs tar, copied where `nobody` reads it (unset when it is skipped).
const DEBIAN: &str = "NSBOX_IMAGE_SUBID_DEBIAN";
/// `nobody`'s subordinate uids and gids in the test's /etc/subuid and /etc/subgid (different,
/// so a uid/gid mix-up shows).
const UID_BASE: u32 = 1_000_000_000;
const GID_BASE: u32 = 1_100_000_000;
const NOBODY: u32 = 65534;

/// Runs the `subid_*` tests as `nobody` with a subordinate range.
#[test]
fn rootless_store_with_subordinate_ids_passes_as_nobody() {
    if !common::root()
        || !common::require("setpriv (util-linux)", Path::new("/usr/bin/setpriv").exists())
        || !common::require(
            "newuidmap and newgidmap (uidmap)",
            common::have("newuidmap") && common::have("newgidmap"),
        )
        || !common::require(
            "/etc/subuid and /etc/subgid to bind over",
            Path::new("/etc/subuid").is_file() && Path::new("/etc/subgid").is_file(),
        )
    {
        return;
    }
    let dir = common::public_dir("nsbox-subid-outer-");
    common::copy_of_this_test_binary(dir.path(), "inner");
    fs::write(dir.path().join("subuid"), format!("nobody:{UID_BASE}:65536\n")).unwrap();
    fs::write(dir.path().join("subgid"), format!("nobody:{GID_BASE}:65536\n")).unwrap();
    // The cached Debian image (built if missing; skipped, and logged, where it cannot be).
    let debian = common::debian::image().map(|image| {
        let copy = dir.path().join("debian.tar.zst");
        fs::copy(&image.rootfs_tar, &copy).unwrap();
        copy
    });
    let script = r#"mount --bind "$1/subuid" /etc/subuid && mount --bind "$1/subgid" /etc/subgid &&
        exec setpriv --reuid=65534 --regid=65534 --clear-groups "$1/inner" "$2" subid_ --nocapture --test-threads=1"#;
    let run = |listing: &str| {
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c", script, "sh"])
            .arg(dir.path())
            .arg(listing)
            .env(INNER, "1")
            .env(DEBIAN, debian.as_deref().unwrap_or(Path::new("")))
            .env("TMPDIR", "/tmp")
            .current_dir("/")
            .output()
            .expect("run unshare");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (listed_ok, listed) = run("--list");
    let count = listed.lines().filter(|l| l.ends_with(": test")).count();
    assert!(listed_ok && count > 0, "no subid tests listed:\n{listed}");
    let (ok, text) = run("--show-output");
    eprintln!("{text}");
    let summary = format!("test result: ok. {count} passed; 0 failed");
    assert!(
        ok && text.contains(&summary),
        "the run as nobody failed (want {summary:?}):\n{text}"
    );
}

fn inner() -> bool {
    common::is_inner_run(INNER)
}

/// busybox, accounts (/etc/shadow 0:42, user app 1000 in group shadow), and app's own files
/// (/srv/notes 1000:1000 0600, /srv/app a 1000:1000 directory).
fn app_image(dir: &Path, store: &Store, reference: &str) {
    let own = common::layer::Layer::new()
        .dir_with("srv/app/", |h| {
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mode(0o700);
        })
        .file_with("srv/notes", b"mine\n", |h| {
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mode(0o600);
        })
        .finish();
    let layers = [images::busybox_layer(), images::accounts_layer(), own];
    let config = images::config_json_with(
        &layers,
        json!({ "Env": ["PATH=/bin"], "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["id -u"], "User": "app" }),
    );
    let archive = dir.join("app.tar");
    images::docker_classic_with_config(&archive, &layers, &config, reference);
    store
        .import(&Source::docker_archive(&archive), reference, |_| {})
        .unwrap();
}

fn run_text(store: &Store, reference: &str, overrides: Overrides, upper: Option<&Path>) -> String {
    let mut builder = Container::builder();
    let mut run = ImageRun::new(store, reference).unwrap().overrides(overrides);
    if let Some(dir) = upper {
        run = run.upper(Upper::Dir(dir.to_owned()));
    }
    run.apply(&mut builder).unwrap();
    let out = builder.output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cmd(text: &str) -> Overrides {
    Overrides {
        cmd: Some(vec![text.into()]),
        ..Default::default()
    }
}

/// `uid gid` of each `ls -ln` line of `text`.
fn owners(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() > 3)
        .map(|f| (f[2].to_owned(), f[3].to_owned()))
        .collect()
}

fn host_owner(path: &Path) -> (u32, u32) {
    let meta = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta.uid(), meta.gid())
}

/// Removes a container's work directory: overlayfs leaves `work/work` mode 000 (the caller's).
fn remove_work(work: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for sub in ["work/work", "work"] {
        let _ = fs::set_permissions(work.join(sub), fs::Permissions::from_mode(0o700));
    }
    fs::remove_dir_all(work).unwrap();
}

fn is_empty(dir: &Path) -> bool {
    fs::read_dir(dir).unwrap().next().is_none()
}

/// The store records the caller's range, its layers hold the image's ids shifted into it, a
/// container of the image sees the image's ids, and a commit records the container's ids.
/// `remove` + `gc` then leave nothing of it.
#[test]
fn subid_store_shifts_ids_for_containers_commits_and_gc() {
    if !inner() {
        return;
    }
    let dir = common::public_dir("nsbox-image-subid-");
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let maps = store.id_maps().expect("the store records nobody's range").clone();
    assert_eq!(maps.uid, [IdMap::new(0, NOBODY, 1), IdMap::new(1, UID_BASE, 65536)]);
    assert_eq!(maps.gid, [IdMap::new(0, NOBODY, 1), IdMap::new(1, GID_BASE, 65536)]);
    let empty_store = common::tree_listing(&root);

    app_image(dir.path(), &store, "app:1");
    let image = store.inspect("app:1").unwrap();
    let (accounts, own) = (image.layers()[1].path(), image.layers()[2].path());
    // On the host: the image's ids through the map (0 is the caller).
    assert_eq!(host_owner(&accounts.join("etc/shadow")), (NOBODY, GID_BASE + 41));
    assert_eq!(host_owner(&accounts.join("etc/passwd")), (NOBODY, NOBODY));
    assert_eq!(host_owner(&own.join("srv/notes")), (UID_BASE + 999, GID_BASE + 999));
    assert_eq!(host_owner(&own.join("srv/app")), (UID_BASE + 999, GID_BASE + 999));
    let mode = fs::symlink_metadata(own.join("srv/app")).unwrap().mode() & 0o7777;
    assert_eq!(mode, 0o700, "the mode survives the chown");

    // Inside: the image's ids; app (1000, groups 1000 and shadow) owns and reads its files.
    let text = run_text(
        &store,
        "app:1",
        cmd("id -u; id -G; cat /srv/notes; ls -ln /etc/shadow /srv/notes; ls -lnd /srv/app"),
        None,
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..3], ["1000", "1000 42", "mine"], "{text}");
    let expected = [("0", "42"), ("1000", "1000"), ("1000", "1000")].map(|(u, g)| (u.to_owned(), g.to_owned()));
    assert_eq!(owners(&lines[3..].join("\n")), expected, "{text}");

    // A commit of a container's upper: the ids inside (1000:42), not the host's.
    let work = dir.path().join("work");
    let root_cmd = Overrides {
        user: Some("0".into()),
        ..cmd("echo hi > /etc/greeting && chown 1000:42 /etc/greeting && ls -ln /etc/greeting")
    };
    let text = run_text(&store, "app:1", root_cmd, Some(&work));
    assert_eq!(owners(&text), [("1000".to_owned(), "42".to_owned())], "{text}");
    let on_disk = host_owner(&work.join("upper/etc/greeting"));
    assert_eq!(on_disk, (UID_BASE + 999, GID_BASE + 41));
    let committed = store
        .commit(&image, work.join("upper"), "app:2", &CommitOptions::default())
        .unwrap();
    let top = committed.layers().last().unwrap().path();
    assert_eq!(
        host_owner(&top.join("etc/greeting")),
        on_disk,
        "shifted back, then again"
    );
    let text = run_text(&store, "app:2", cmd("ls -ln /etc/greeting"), None);
    assert_eq!(owners(&text), [("1000".to_owned(), "42".to_owned())], "{text}");
    let (tar, _) = nsbox_image::commit::layer_from_upper(work.join("upper"), Vec::new()).unwrap();
    let mut archive = tar::Archive::new(&tar[..]);
    let greeting = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().ends_with("greeting"))
        .unwrap();
    let raw = (greeting.header().uid().unwrap(), greeting.header().gid().unwrap());
    assert_eq!(
        raw,
        (u64::from(UID_BASE + 999), u64::from(GID_BASE + 41)),
        "unshifted: the ids on disk"
    );
    remove_work(&work);

    // remove + gc: nothing left, the store as it was before the import.
    store.remove("app:1").unwrap();
    store.remove("app:2").unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.layers_removed.len(), 4, "{report:?}");
    for sub in ["layers/sha256", "blobs/sha256", "images/sha256", "locks/layers", "tmp"] {
        assert!(is_empty(&root.join(sub)), "{sub} is not empty after gc");
    }
    let ignore = |l: &String| !["refs.json ", "lock ", "gc.lock "].iter().any(|p| l.starts_with(p));
    let after: Vec<String> = common::tree_listing(&root).into_iter().filter(ignore).collect();
    let before: Vec<String> = empty_store.into_iter().filter(ignore).collect();
    assert_eq!(after, before);
    fs::remove_dir_all(dir.path()).unwrap();
}

/// A layer that turns a directory it filled into a symlink out of the layer (`etc ->` a
/// directory of the caller), and symlinks to the caller's files: the shift changes the links'
/// own owners and never anything they point at; a hard link never changes its target's owner;
/// gc removes the layer and nothing outside.
#[test]
fn subid_shift_never_follows_a_layers_symlinks() {
    if !inner() {
        return;
    }
    let dir = common::public_dir("nsbox-image-subid-hostile-");
    let victim = dir.path().join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("secret"), b"keep\n").unwrap();
    fs::create_dir(victim.join("x")).unwrap();
    let victim_str = victim.to_str().unwrap();
    let owned = |h: &mut tar::Header| {
        h.set_uid(1000);
        h.set_gid(1000);
    };
    let layer = common::layer::Layer::new()
        .dir_with("etc/", owned)
        .dir_with("etc/x/", owned)
        .file_with("etc/secret", b"layer\n", owned)
        .raw(tar::EntryType::Symlink, b"etc", victim_str.as_bytes(), b"", owned)
        .raw(
            tar::EntryType::Symlink,
            b"link",
            format!("{victim_str}/secret").as_bytes(),
            b"",
            owned,
        )
        .raw(tar::EntryType::Symlink, b"up", b"..", b"", owned)
        // A name first owned by 1000, then a hard link to root's file: the link never passes
        // 1000 on to root's inode. A link to 1000's file shares its owner.
        .file("root-owned", b"r")
        .file_with("was-1000", b"x", owned)
        .hard_link("was-1000", "root-owned")
        .file_with("owned-1000", b"y", owned)
        .hard_link("link-to-1000", "owned-1000")
        .finish();
    let archive = dir.path().join("hostile.tar");
    images::rootfs_tar(&archive, &layer, images::Compression::None);
    let store = Store::open(dir.path().join("store")).unwrap();
    assert!(store.id_maps().is_some());
    let before = [
        victim.clone(),
        victim.join("secret"),
        victim.join("x"),
        dir.path().to_owned(),
    ]
    .map(|p| host_owner(&p));
    let image = store
        .import(&Source::rootfs_tar(&archive), "hostile:1", |_| {})
        .unwrap();
    let layer_dir = image.layers()[0].path();
    // The links themselves got the image's owner; what they point at kept the caller's.
    for link in ["etc", "link", "up"] {
        assert_eq!(
            host_owner(&layer_dir.join(link)),
            (UID_BASE + 999, GID_BASE + 999),
            "{link}"
        );
    }
    assert_eq!(host_owner(&layer_dir.join("root-owned")), (NOBODY, NOBODY));
    assert_eq!(
        host_owner(&layer_dir.join("link-to-1000")),
        (UID_BASE + 999, GID_BASE + 999)
    );
    let after = [
        victim.clone(),
        victim.join("secret"),
        victim.join("x"),
        dir.path().to_owned(),
    ]
    .map(|p| host_owner(&p));
    assert_eq!(after, before);
    assert!(before.iter().all(|&o| o == (NOBODY, NOBODY)));

    store.remove("hostile:1").unwrap();
    store.gc().unwrap();
    assert!(!layer_dir.exists());
    assert_eq!(fs::read(victim.join("secret")).unwrap(), b"keep\n");
    assert!(victim.join("x").is_dir());
    fs::remove_dir_all(dir.path()).unwrap();
}

/// A store made for one range refuses to open for another (its files would be mis-owned).
#[test]
fn subid_store_of_another_range_is_refused() {
    if !inner() {
        return;
    }
    let dir = common::public_dir("nsbox-image-subid-range-");
    let root = dir.path().join("store");
    drop(Store::open(&root).unwrap());
    let record = fs::read_to_string(root.join("idmap")).unwrap();
    let other = record.replace(&UID_BASE.to_string(), "2000000000");
    assert_ne!(record, other);
    fs::write(root.join("idmap"), other).unwrap();
    match Store::open(&root) {
        Err(nsbox_image::Error::IdMapChanged { .. }) => {}
        other => panic!("expected IdMapChanged, got {other:?}"),
    }
    fs::remove_dir_all(dir.path()).unwrap();
}

/// A layer owning a file with an id past the range is refused, and leaves nothing behind.
#[test]
fn subid_owner_outside_the_range_is_refused() {
    if !inner() {
        return;
    }
    let dir = common::public_dir("nsbox-image-subid-unmapped-");
    let layer = LayerTar::new()
        .file_owned("ok", 0o644, (1000, 1000), b"x")
        .file_owned("far", 0o644, (70000, 0), b"x")
        .finish();
    let archive = dir.path().join("far.tar");
    images::rootfs_tar(&archive, &layer, images::Compression::None);
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    match store.import(&Source::rootfs_tar(&archive), "far:1", |_| {}) {
        Err(nsbox_image::Error::UnmappedOwner { uid: 70000, .. }) => {}
        other => panic!("expected UnmappedOwner, got {other:?}"),
    }
    assert!(is_empty(&root.join("layers/sha256")));
    assert!(is_empty(&root.join("tmp")));
    fs::remove_dir_all(dir.path()).unwrap();
}

/// gc removes a shifted layer however it is shaped: 100 nested read-only directories of uid
/// 1000, a directory of 400 entries (more than one getdents batch) mixing files, symlinks and
/// non-empty subdirectories, a 0000 directory.
#[test]
fn subid_gc_removes_deep_wide_and_read_only_trees() {
    if !inner() {
        return;
    }
    let dir = common::public_dir("nsbox-image-subid-gc-");
    // Long names (GNU long-name entries): the builder writes them.
    let mut layer = tar::Builder::new(Vec::new());
    let mut add = |kind: tar::EntryType, name: &str, mode: u32, target: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_uid(1000);
        h.set_gid(1000);
        h.set_mode(mode);
        h.set_mtime(1_000_000_000);
        let data: &[u8] = if kind == tar::EntryType::Regular { b"x" } else { b"" };
        h.set_size(data.len() as u64);
        match target {
            Some(target) => layer.append_link(&mut h, name, target).unwrap(),
            None => layer.append_data(&mut h, name, data).unwrap(),
        }
    };
    let (file, dir_kind, link) = (
        tar::EntryType::Regular,
        tar::EntryType::Directory,
        tar::EntryType::Symlink,
    );
    let mut deep = String::new();
    for _ in 0..100 {
        deep.push_str("d/");
        add(file, &format!("{deep}f"), 0o400, None);
    }
    // Directories after their files (their modes apply at the layer's end anyway).
    let mut path = String::new();
    for _ in 0..100 {
        path.push_str("d/");
        add(dir_kind, &path, 0o555, None);
    }
    for i in 0..400 {
        let name = format!("wide/entry-with-a-longish-name-{i:04}");
        match i % 3 {
            0 => add(file, &name, 0o444, None),
            1 => add(link, &name, 0o777, Some("/etc/passwd")),
            _ => add(file, &format!("{name}/inner"), 0o400, None),
        }
    }
    add(dir_kind, "wide/", 0o555, None);
    add(dir_kind, "closed/", 0o000, None);
    let layer = layer.into_inner().unwrap();
    let archive = dir.path().join("shapes.tar");
    images::rootfs_tar(&archive, &layer, images::Compression::None);
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let image = store.import(&Source::rootfs_tar(&archive), "shapes:1", |_| {}).unwrap();
    let layer_dir = image.layers()[0].path().to_owned();
    assert_eq!(host_owner(&layer_dir.join("d/d/d")), (UID_BASE + 999, GID_BASE + 999));
    assert_eq!(host_owner(&layer_dir.join("closed")), (UID_BASE + 999, GID_BASE + 999));
    assert!(
        fs::remove_dir_all(&layer_dir).is_err(),
        "the caller alone cannot remove it"
    );
    store.remove("shapes:1").unwrap();
    store.gc().unwrap();
    assert!(is_empty(&root.join("layers/sha256")));
    fs::remove_dir_all(dir.path()).unwrap();
}

/// Debian bookworm (the cached test image's rootfs tar) imports into the store and runs with
/// the image's ids (`/etc/shadow` 0:42, `/var/log/wtmp` 0:43, `/var/local` 0:50); gc frees it
/// all.
#[test]
fn subid_debian_runs_with_the_images_ids() {
    if !inner() {
        return;
    }
    let Some(archive) = std::env::var_os(DEBIAN).filter(|p| !p.is_empty()) else {
        return; // the outer test logged why (no debootstrap, no mirror)
    };
    let dir = common::public_dir("nsbox-image-subid-debian-");
    let root = dir.path().join("store");
    let store = Store::open(&root).unwrap();
    let started = std::time::Instant::now();
    store
        .import(&Source::rootfs_tar(&archive), "debian:bookworm", |_| {})
        .unwrap();
    eprintln!(
        "debian import into a store with subordinate ids: {:.1?}",
        started.elapsed()
    );
    let overrides = Overrides {
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into()]),
        cmd: Some(vec![
            "grep VERSION_CODENAME /etc/os-release; ls -ln /etc/shadow; stat -c '%u %g' /var/log/wtmp /var/local"
                .into(),
        ]),
        ..Default::default()
    };
    let text = run_text(&store, "debian:bookworm", overrides, None);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "VERSION_CODENAME=bookworm", "{text}");
    assert_eq!(owners(lines[1]), [("0".to_owned(), "42".to_owned())], "{text}");
    // utmp (43) and staff (50), as in the image.
    assert_eq!(lines[2..], ["0 43", "0 50"], "{text}");
    store.remove("debian:bookworm").unwrap();
    let started = std::time::Instant::now();
    store.gc().unwrap();
    eprintln!("gc of its shifted layer: {:.1?}", started.elapsed());
    assert!(is_empty(&root.join("layers/sha256")));
    fs::remove_dir_all(dir.path()).unwrap();
}

/// A root caller's Sandbox container (root mapped to an unprivileged host id) writes files owned
/// by that host id; a commit through `CommitOptions::id_maps` records the container's ids (0:0),
/// one without records the host's.
#[test]
fn a_root_callers_sandbox_commit_shifts_ids_back_through_its_maps() {
    if !common::root() {
        return;
    }
    let dir = common::public_dir("nsbox-image-sandbox-commit-");
    let store = Store::open(dir.path().join("store")).unwrap();
    assert!(store.id_maps().is_none());
    app_image(dir.path(), &store, "app:1");
    let image = store.inspect("app:1").unwrap();
    let work = dir.path().join("work");
    let mut builder = Container::builder();
    builder.profile(nsbox::Profile::Sandbox);
    let overrides = Overrides {
        user: Some("0".into()),
        ..cmd("echo hi > /etc/greeting")
    };
    ImageRun::new(&store, "app:1")
        .unwrap()
        .overrides(overrides)
        .upper(Upper::Dir(work.clone()))
        .apply(&mut builder)
        .unwrap();
    builder.read_only_root(false); // Sandbox's root is read-only
    let out = builder.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (uid, gid) = host_owner(&work.join("upper/etc/greeting"));
    assert_ne!((uid, gid), (0, 0), "Sandbox maps root to an unprivileged host id");
    let maps = nsbox_image::StoreIdMaps {
        uid: vec![IdMap::new(0, uid, 1)],
        gid: vec![IdMap::new(0, gid, 1)],
    };
    let shifted = store
        .commit(
            &image,
            work.join("upper"),
            "app:2",
            &CommitOptions::default().id_maps(maps),
        )
        .unwrap();
    let top = shifted.layers().last().unwrap().path();
    assert_eq!(host_owner(&top.join("etc/greeting")), (0, 0));
    let as_on_disk = store
        .commit(&image, work.join("upper"), "app:3", &CommitOptions::default())
        .unwrap();
    let top = as_on_disk.layers().last().unwrap().path();
    assert_eq!(host_owner(&top.join("etc/greeting")), (uid, gid));
    fs::remove_dir_all(dir.path()).unwrap();
}
