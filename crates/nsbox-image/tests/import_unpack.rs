//! Imports that unpack layers (through `unpack::apply_layer`).

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::images::{self, Compression};
use nsbox_image::{Error, Image, Progress, Source, Store};

fn store(dir: &Path) -> Store {
    Store::open(dir.join("store")).unwrap()
}

fn assert_busybox(store: &Store, image: &Image) {
    let base = store.layer_path(image.layers()[0].diff_id());
    assert_eq!(
        fs::read(base.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(fs::read_link(base.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(
        fs::read_to_string(base.join("etc/os-release")).unwrap(),
        "ID=nsbox-test\n"
    );
}

#[test]
fn oci_layouts_with_gzip_zstd_and_plain_layers_import() {
    for compression in [Compression::Gzip, Compression::Zstd, Compression::None] {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let built = images::oci_layout(&dir.path().join("oci"), &[images::busybox_layer()], compression);
        let image = store
            .import(&Source::oci_layout(dir.path().join("oci")), "busybox", |_| {})
            .unwrap();
        assert_eq!(image.manifest_digest(), &built.manifest);
        assert_eq!(image.layers()[0].diff_id(), &built.diff_ids[0]);
        assert_eq!(image.layers()[0].media_type(), compression.media_type());
        assert!(
            store.blob_path(&built.blobs[0]).is_file(),
            "the blob is kept as imported"
        );
        assert_busybox(&store, &image);
    }
}

#[test]
fn a_two_layer_image_with_a_whiteout_imports_each_layer_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let layers = [images::busybox_layer(), images::whiteout_layer()];
    images::oci_layout(&dir.path().join("oci"), &layers, Compression::Gzip);
    let image = store
        .import(&Source::oci_layout(dir.path().join("oci")), "two", |_| {})
        .unwrap();
    assert_eq!(image.layers().len(), 2);
    assert_busybox(&store, &image);
    let top = store.layer_path(image.layers()[1].diff_id());
    assert_eq!(
        fs::read_to_string(top.join("etc/hello")).unwrap(),
        "hello from layer 2\n"
    );
    assert!(
        !top.join("etc/.wh.os-release").exists(),
        "a whiteout is an overlay whiteout, not a file"
    );
}

#[test]
fn the_image_for_this_platform_is_picked_from_an_index_also_a_nested_one() {
    for nested in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let (_arm, amd) = images::multi_platform_layout(&dir.path().join("oci"), nested);
        let image = store
            .import(&Source::oci_layout(dir.path().join("oci")), "multi", |_| {})
            .unwrap();
        assert_eq!(image.manifest_digest(), &amd.manifest, "nested: {nested}");
        let layer = store.layer_path(image.layers()[0].diff_id());
        assert_eq!(fs::read_to_string(layer.join("etc/arch")).unwrap(), "amd64");
    }
}

#[test]
fn docker_archives_of_both_shapes_and_rootfs_tars_import() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let layer = images::busybox_layer();

    let classic = dir.path().join("classic.tar");
    images::docker_classic(&classic, std::slice::from_ref(&layer), "busybox:classic");
    let image = store
        .import(&Source::docker_archive(&classic), "busybox:classic", |_| {})
        .unwrap();
    assert_busybox(&store, &image);

    let oci_form = dir.path().join("oci-form.tar");
    let built = images::docker_oci_form(
        &oci_form,
        std::slice::from_ref(&layer),
        Compression::Gzip,
        "busybox:oci",
        true,
    );
    let image = store
        .import(&Source::docker_archive(&oci_form), "busybox:oci", |_| {})
        .unwrap();
    assert_eq!(image.manifest_digest(), &built.manifest);

    // Only the legacy entries: manifest.json's layers are symlinks inside the archive.
    let legacy = dir.path().join("legacy.tar");
    images::docker_oci_form(
        &legacy,
        std::slice::from_ref(&layer),
        Compression::Zstd,
        "busybox:legacy",
        false,
    );
    let image = store
        .import(&Source::docker_archive(&legacy), "busybox:legacy", |_| {})
        .unwrap();
    assert_eq!(
        image.layers()[0].media_type(),
        Compression::Zstd.media_type(),
        "sniffed"
    );

    for compression in [Compression::None, Compression::Gzip] {
        let tar = dir.path().join("rootfs.tar");
        images::rootfs_tar(&tar, &layer, compression);
        let image = store.import(&Source::rootfs_tar(&tar), "rootfs", |_| {}).unwrap();
        assert_eq!(image.layers()[0].diff_id(), &nsbox_image::Digest::of(&layer));
        assert_eq!(
            image.config().rootfs().diff_ids(),
            &[nsbox_image::Digest::of(&layer).to_string()]
        );
    }
    // One unpacked layer for all of them: same diff id.
    assert_eq!(fs::read_dir(store.path().join("layers/sha256")).unwrap().count(), 1);
}

#[test]
fn a_diff_id_mismatch_fails_and_leaves_nothing_visible() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let archive = dir.path().join("classic.tar");
    // The config claims the diff id of another layer (and is named by its own digest).
    let claimed = images::config_json(&[images::small_layer("a", "claimed")], "amd64");
    images::docker_classic_with_config(&archive, &[images::small_layer("a", "real")], &claimed, "x:latest");
    let result = store.import(&Source::docker_archive(&archive), "x", |_| {});
    assert!(matches!(result, Err(Error::DiffIdMismatch { .. })), "{result:?}");
    assert!(store.list().unwrap().is_empty());
    assert_eq!(fs::read_dir(store.path().join("layers/sha256")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.path().join("tmp")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(store.path().join("blobs/sha256")).unwrap().count(), 0);
}

#[test]
fn progress_reaches_the_totals_of_bytes_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let layers = [images::busybox_layer(), images::whiteout_layer()];
    let built = images::oci_layout(&dir.path().join("oci"), &layers, Compression::Gzip);
    let mut seen: Vec<Progress> = Vec::new();
    store
        .import(&Source::oci_layout(dir.path().join("oci")), "p", |p| seen.push(p))
        .unwrap();
    assert!(
        seen.windows(2)
            .all(|w| w[0].bytes_done <= w[1].bytes_done && w[0].layers_done <= w[1].layers_done)
    );
    assert!(
        seen.iter()
            .all(|p| p.bytes_total == built.blob_bytes && p.layers_total == 2)
    );
    let last = seen.last().unwrap();
    assert_eq!((last.bytes_done, last.layers_done), (built.blob_bytes, 2));
    // Again: everything is stored already, the totals are reached at once.
    seen.clear();
    store
        .import(&Source::oci_layout(dir.path().join("oci")), "p2", |p| seen.push(p))
        .unwrap();
    assert_eq!(seen.last().unwrap().bytes_done, built.blob_bytes);
}

#[test]
fn gc_keeps_a_leased_layer_and_frees_an_unused_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    images::oci_layout(
        &dir.path().join("a"),
        &[images::small_layer("a", "leased")],
        Compression::Gzip,
    );
    images::oci_layout(
        &dir.path().join("b"),
        &[images::small_layer("b", "unused")],
        Compression::Gzip,
    );
    let a = store
        .import(&Source::oci_layout(dir.path().join("a")), "a", |_| {})
        .unwrap();
    let b = store
        .import(&Source::oci_layout(dir.path().join("b")), "b", |_| {})
        .unwrap();
    let lease = store.lease(&a).unwrap();
    assert_eq!(lease.layers(), [store.layer_path(a.layers()[0].diff_id())]);
    store.remove("a").unwrap();
    store.remove("b").unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.layers_in_use, [a.layers()[0].diff_id().clone()]);
    assert_eq!(report.layers_removed, [b.layers()[0].diff_id().clone()]);
    assert!(
        lease.layers()[0].join("etc/a").exists(),
        "a running container's layer stays"
    );
    drop(lease);
    assert_eq!(store.gc().unwrap().layers_removed, [a.layers()[0].diff_id().clone()]);
    assert!(matches!(store.lease(&a), Err(Error::ImageNotFound { .. })));
}

/// Run as a child by `two_processes_importing_busybox_share_the_layer`.
#[test]
fn child_import_entry_point() {
    let (Some(store), Some(layout), Some(go)) = (
        std::env::var_os("NSBOX_IMAGE_TEST_STORE"),
        std::env::var_os("NSBOX_IMAGE_TEST_LAYOUT"),
        std::env::var_os("NSBOX_IMAGE_TEST_GO"),
    ) else {
        return;
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !Path::new(&go).exists() {
        assert!(std::time::Instant::now() < deadline, "never told to go");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let image = Store::open(store)
        .unwrap()
        .import(&Source::oci_layout(layout), "shared", |_| {})
        .unwrap();
    println!("IMPORTED {}", image.manifest_digest());
}

#[test]
fn two_processes_importing_busybox_share_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("oci");
    images::oci_layout(
        &layout,
        &[images::busybox_layer(), images::whiteout_layer()],
        Compression::Gzip,
    );
    let store_path = dir.path().join("store");
    Store::open(&store_path).unwrap();
    let go = dir.path().join("go");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "child_import_entry_point", "--nocapture"])
                .env("NSBOX_IMAGE_TEST_STORE", &store_path)
                .env("NSBOX_IMAGE_TEST_LAYOUT", &layout)
                .env("NSBOX_IMAGE_TEST_GO", &go)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    fs::write(&go, "").unwrap();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("IMPORTED"));
    }
    let store = Store::open(&store_path).unwrap();
    assert_eq!(fs::read_dir(store.path().join("layers/sha256")).unwrap().count(), 2);
    assert_eq!(fs::read_dir(store.path().join("tmp")).unwrap().count(), 0);
    assert_busybox(&store, &store.inspect("shared").unwrap());
}

#[test]
fn skopeo_converts_our_layout_to_archives_we_import() {
    if !common::require("skopeo installed (Debian package skopeo)", common::have("skopeo")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path());
    let layout = dir.path().join("oci");
    images::oci_layout(
        &layout,
        &[images::busybox_layer(), images::whiteout_layer()],
        Compression::Gzip,
    );
    let skopeo = |from: String, to: String| {
        let status = Command::new("skopeo")
            .args(["--insecure-policy", "copy", "-q", &from, &to])
            .status()
            .unwrap();
        assert!(status.success(), "skopeo copy {from} {to}");
    };
    let archive = dir.path().join("docker.tar");
    skopeo(
        format!("oci:{}:latest", layout.display()),
        format!("docker-archive:{}:busybox:skopeo", archive.display()),
    );
    let image = store
        .import(&Source::docker_archive(&archive), "busybox:skopeo", |_| {})
        .unwrap();
    assert_busybox(&store, &image);
    let copy = dir.path().join("oci-copy");
    skopeo(
        format!("oci:{}:latest", layout.display()),
        format!("oci:{}:v1", copy.display()),
    );
    let image = store.import(&Source::oci_layout(&copy), "busybox:v1", |_| {}).unwrap();
    assert_eq!(image.layers().len(), 2);
    let oci_archive = dir.path().join("oci-archive.tar");
    skopeo(
        format!("oci:{}:latest", layout.display()),
        format!("oci-archive:{}:latest", oci_archive.display()),
    );
    let image = store
        .import(&Source::docker_archive(&oci_archive), "busybox:oci-archive", |_| {})
        .unwrap();
    assert_eq!(image.layers().len(), 2);
}
