//! The store without unpacking: layout and permissions, references, list/inspect/remove, gc
//! bookkeeping, locks across processes. Images here have no layers (or hand-made layer
//! directories), so these tests run before the unpacker lands; tests/import_unpack.rs covers
//! images with real layers.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::images::{self, Compression};
use nsbox_image::{Digest, Error, Source, Store};

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// An OCI layout of an image without layers; `variant` makes distinct images.
fn empty_image(dir: &Path, variant: &str) -> images::Built {
    let built = images::oci_layout(dir, &[], Compression::Gzip);
    // A label in the config makes the digest differ per variant.
    let config_path = dir.join("blobs/sha256").join(built.config.hex());
    let mut config: serde_json::Value = serde_json::from_slice(&fs::read(&config_path).unwrap()).unwrap();
    config["config"]["Labels"] = serde_json::json!({ "variant": variant });
    fs::remove_dir_all(dir).unwrap();
    rebuild_with_config(dir, &serde_json::to_vec(&config).unwrap())
}

fn rebuild_with_config(dir: &Path, config: &[u8]) -> images::Built {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let config_digest = Digest::of(config);
    fs::write(dir.join("blobs/sha256").join(config_digest.hex()), config).unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len() },
        "layers": [],
    }))
    .unwrap();
    let manifest_digest = Digest::of(&manifest);
    fs::write(dir.join("blobs/sha256").join(manifest_digest.hex()), &manifest).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest.to_string(), "size": manifest.len() }] });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    images::Built {
        manifest: manifest_digest,
        config: config_digest,
        diff_ids: vec![],
        blobs: vec![],
        blob_bytes: 0,
    }
}

fn blob_count(store: &Store) -> usize {
    fs::read_dir(store.path().join("blobs/sha256")).unwrap().count()
}

#[test]
fn a_new_store_is_private_and_an_open_one_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/store");
    let store = Store::open(&path).unwrap();
    assert_eq!(mode(&path), 0o700);
    for sub in ["blobs/sha256", "layers/sha256", "images/sha256", "locks/layers", "tmp"] {
        assert!(store.path().join(sub).is_dir(), "{sub}");
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    Store::open(&path).unwrap();
    assert_eq!(
        mode(&path),
        0o700,
        "CVE-2021-41091: the store is never readable by others"
    );
}

#[test]
fn a_store_owned_by_another_user_is_refused() {
    if !common::require(
        "running as root (to chown the store to another user)",
        nix::unistd::geteuid().is_root(),
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    fs::create_dir(&path).unwrap();
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
    assert!(matches!(
        Store::open(&path),
        Err(Error::StoreNotOwned { owner: 65534, .. })
    ));
}

#[test]
fn the_default_path_of_root_is_var_lib_nsbox() {
    if nix::unistd::geteuid().is_root() {
        assert_eq!(Store::default_path().unwrap(), Path::new("/var/lib/nsbox"));
    } else {
        assert!(Store::default_path().unwrap().ends_with("nsbox"));
    }
}

#[test]
fn import_list_inspect_and_remove_keep_refs_and_records_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let a = empty_image(&dir.path().join("a"), "a");
    let b = empty_image(&dir.path().join("b"), "b");
    let image = store
        .import(&Source::oci_layout(dir.path().join("a")), "example.com/app:1", |_| {})
        .unwrap();
    assert_eq!(image.manifest_digest(), &a.manifest);
    assert_eq!(image.config_digest(), &a.config);
    assert_eq!(
        image.config().config().as_ref().unwrap().labels().as_ref().unwrap()["variant"],
        "a"
    );
    store
        .import(&Source::oci_layout(dir.path().join("a")), "app", |_| {})
        .unwrap();
    store
        .import(&Source::oci_layout(dir.path().join("b")), "other", |_| {})
        .unwrap();

    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 2);
    let a_refs: Vec<String> = store
        .inspect("app:latest")
        .unwrap()
        .references()
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(a_refs, ["app:latest", "example.com/app:1"]);
    assert_eq!(
        store.inspect(&format!("app@{}", a.manifest)).unwrap().manifest_digest(),
        &a.manifest
    );
    assert!(matches!(
        store.inspect(&format!("other@{}", a.manifest)),
        Err(Error::ImageNotFound { .. })
    ));
    assert!(matches!(store.inspect("missing"), Err(Error::ImageNotFound { .. })));
    assert!(matches!(store.inspect("Bad Name"), Err(Error::InvalidReference { .. })));

    let record = |d: &Digest| store.path().join("images/sha256").join(format!("{}.json", d.hex()));
    store.remove("app").unwrap();
    assert!(record(&a.manifest).exists(), "still tagged example.com/app:1");
    store.remove("example.com/app:1").unwrap();
    assert!(!record(&a.manifest).exists(), "the record goes with its last reference");
    assert!(matches!(store.remove("app"), Err(Error::ImageNotFound { .. })));
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].manifest_digest(), &b.manifest);
}

#[test]
fn retagging_moves_the_reference_and_drops_the_unreferenced_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let a = empty_image(&dir.path().join("a"), "a");
    let b = empty_image(&dir.path().join("b"), "b");
    store
        .import(&Source::oci_layout(dir.path().join("a")), "app", |_| {})
        .unwrap();
    store
        .import(&Source::oci_layout(dir.path().join("b")), "app", |_| {})
        .unwrap();
    assert_eq!(store.inspect("app").unwrap().manifest_digest(), &b.manifest);
    assert!(
        !store
            .path()
            .join("images/sha256")
            .join(format!("{}.json", a.manifest.hex()))
            .exists()
    );
}

#[test]
fn gc_frees_unused_blobs_and_layers_and_skips_a_locked_layer() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let a = empty_image(&dir.path().join("a"), "a");
    let b = empty_image(&dir.path().join("b"), "b");
    store
        .import(&Source::oci_layout(dir.path().join("a")), "a", |_| {})
        .unwrap();
    store
        .import(&Source::oci_layout(dir.path().join("b")), "b", |_| {})
        .unwrap();
    assert_eq!(blob_count(&store), 4);
    store.remove("a").unwrap();

    // Two unpacked layers no image uses (made by hand): one held as a Lease holds it.
    let unused = Digest::of(b"unused layer");
    let held = Digest::of(b"held layer");
    for layer in [&unused, &held] {
        fs::create_dir_all(store.layer_path(layer).join("etc")).unwrap();
        fs::write(store.layer_path(layer).join("etc/file"), "x").unwrap();
    }
    let lock_file = fs::File::create(store.path().join("locks/layers").join(format!("{}.lock", held.hex()))).unwrap();
    let lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockShared).unwrap();
    fs::create_dir(store.path().join("tmp/layer-debris")).unwrap();

    let report = store.gc().unwrap();
    let mut removed = report.blobs_removed.clone();
    removed.sort();
    let mut expected = vec![a.manifest.clone(), a.config.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(report.layers_removed, std::slice::from_ref(&unused));
    assert_eq!(report.layers_in_use, std::slice::from_ref(&held));
    assert!(!store.layer_path(&unused).exists());
    assert!(store.layer_path(&held).join("etc/file").exists());
    assert_eq!(fs::read_dir(store.path().join("tmp")).unwrap().count(), 0);
    assert_eq!(store.inspect("b").unwrap().manifest_digest(), &b.manifest);

    drop(lock);
    let report = store.gc().unwrap();
    assert_eq!(report.layers_removed, std::slice::from_ref(&held));
    assert!(report.blobs_removed.is_empty());
    assert_eq!(blob_count(&store), 2);
}

/// Run as a child by `two_processes_importing_at_once_store_one_copy`: waits for the go file,
/// then imports. Does nothing as an ordinary test.
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
    let store = Store::open(store).unwrap();
    let image = store
        .import(&Source::oci_layout(layout), "shared:latest", |_| {})
        .unwrap();
    println!("IMPORTED {}", image.manifest_digest());
}

/// Spawns this test binary twice, each importing `layout` into `store` at once; both must
/// succeed. Returns their outputs.
pub fn import_in_two_processes(store: &Path, layout: &Path, test: &str) -> Vec<String> {
    let go = store.parent().unwrap().join("go");
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", test, "--nocapture", "--test-threads=1"])
                .env("NSBOX_IMAGE_TEST_STORE", store)
                .env("NSBOX_IMAGE_TEST_LAYOUT", layout)
                .env("NSBOX_IMAGE_TEST_GO", &go)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    fs::write(&go, "").unwrap();
    children
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(out.status.success(), "child failed: {stdout}");
            assert!(stdout.contains("IMPORTED"), "child did not import: {stdout}");
            stdout
        })
        .collect()
}

#[test]
fn two_processes_importing_at_once_store_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let built = empty_image(&dir.path().join("layout"), "shared");
    let store_path = dir.path().join("store");
    Store::open(&store_path).unwrap();
    import_in_two_processes(&store_path, &dir.path().join("layout"), "child_import_entry_point");
    let store = Store::open(&store_path).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(store.inspect("shared").unwrap().manifest_digest(), &built.manifest);
    assert_eq!(blob_count(&store), 2);
    assert_eq!(fs::read_dir(store.path().join("images/sha256")).unwrap().count(), 1);
    assert_eq!(fs::read_dir(store.path().join("tmp")).unwrap().count(), 0);
}
