//! Imports that fail before any layer is unpacked: malformed digests, blobs that are not their
//! digest or size, missing and foreign blobs, hostile archive links, references. Each leaves the
//! store as it was. (Imports that unpack are in tests/import_unpack.rs.)

mod common;

use std::fs;
use std::path::Path;

use common::images::{self, Compression};
use nsbox_image::{Digest, Error, Source, Store, VerifyError};

struct Fixture {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    store: Store,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let store = Store::open(root.join("store")).unwrap();
        Self { _dir: dir, root, store }
    }

    fn layout(&self, compression: Compression) -> (std::path::PathBuf, images::Built) {
        let path = self.root.join("layout");
        let built = images::oci_layout(&path, &[images::small_layer("a", "one")], compression);
        (path, built)
    }

    /// The store holds nothing visible nor any debris.
    fn assert_store_empty(&self) {
        assert!(self.store.list().unwrap().is_empty());
        let listing = common::tree_listing(self.store.path());
        let allowed =
            |l: &String| l.ends_with('/') || l.starts_with("gc.lock") || l == "lock" || l.starts_with("locks/layers/");
        let stray: Vec<&String> = listing.iter().filter(|l| !allowed(l)).collect();
        assert!(stray.is_empty(), "left in the store: {stray:?}");
    }
}

fn verify_error(result: Result<nsbox_image::Image, Error>) -> VerifyError {
    match result {
        Err(Error::Verify(e)) => e,
        other => panic!("expected a verification error, got {other:?}"),
    }
}

#[test]
fn a_malformed_digest_in_index_json_is_refused_before_any_path_is_built() {
    let f = Fixture::new();
    let (layout, _) = f.layout(Compression::Gzip);
    // If the digest were joined to blobs/sha256/ this would read the layout's own index.json.
    for bad in [
        "sha256:../../index.json",
        "sha256:../../../../etc/passwd",
        "sha512:abc",
        "sha256:ABCDEF",
    ] {
        images::edit_index(&layout, |index| index["manifests"][0]["digest"] = bad.into());
        let result = f.store.import(&Source::oci_layout(&layout), "app", |_| {});
        assert!(
            matches!(result, Err(Error::MalformedDigest { ref digest }) if digest == bad),
            "{bad}: {result:?}"
        );
    }
    f.assert_store_empty();
}

#[test]
fn a_malformed_layer_digest_in_a_manifest_is_refused() {
    let f = Fixture::new();
    let layout = f.root.join("layout");
    let (mut descriptor, _) =
        images::write_image(&layout, &[images::small_layer("a", "one")], Compression::Gzip, "amd64");
    // Rewrite the manifest with a hostile layer digest, then point the index at it.
    let manifest_path = layout
        .join("blobs/sha256")
        .join(Digest::parse(descriptor["digest"].as_str().unwrap()).unwrap().hex());
    let mut manifest: serde_json::Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    manifest["layers"][0]["digest"] = "sha256:../../../etc/shadow".into();
    let data = serde_json::to_vec(&manifest).unwrap();
    let digest = Digest::of(&data);
    fs::write(layout.join("blobs/sha256").join(digest.hex()), &data).unwrap();
    descriptor["digest"] = digest.to_string().into();
    descriptor["size"] = data.len().into();
    fs::write(layout.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({ "manifests": [descriptor] })).unwrap(),
    )
    .unwrap();
    let result = f.store.import(&Source::oci_layout(&layout), "app", |_| {});
    assert!(matches!(result, Err(Error::MalformedDigest { .. })), "{result:?}");
    f.assert_store_empty();
}

#[test]
fn a_layer_blob_that_is_not_its_digest_fails_and_leaves_nothing() {
    let f = Fixture::new();
    let (layout, built) = f.layout(Compression::Gzip);
    let blob = layout.join("blobs/sha256").join(built.blobs[0].hex());
    let mut data = fs::read(&blob).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    fs::write(&blob, &data).unwrap();
    let e = verify_error(f.store.import(&Source::oci_layout(&layout), "app", |_| {}));
    assert!(
        matches!(e, VerifyError::Digest { ref expected, .. } if *expected == built.blobs[0]),
        "{e:?}"
    );
    f.assert_store_empty();
}

#[test]
fn a_layer_blob_longer_than_its_descriptor_fails_at_the_size() {
    let f = Fixture::new();
    let (layout, built) = f.layout(Compression::None);
    let blob = layout.join("blobs/sha256").join(built.blobs[0].hex());
    let mut data = fs::read(&blob).unwrap();
    data.extend_from_slice(&[0; 4096]);
    fs::write(&blob, &data).unwrap();
    let e = verify_error(f.store.import(&Source::oci_layout(&layout), "app", |_| {}));
    assert!(
        matches!(e, VerifyError::Size { actual, expected, .. } if actual == expected + 1),
        "{e:?}"
    );
    f.assert_store_empty();
}

#[test]
fn a_config_that_is_not_its_digest_fails_and_leaves_nothing() {
    let f = Fixture::new();
    let (layout, built) = f.layout(Compression::Gzip);
    let config = layout.join("blobs/sha256").join(built.config.hex());
    let data = fs::read_to_string(&config).unwrap().replace("/bin/sh", "/bin/xx");
    fs::write(&config, data).unwrap();
    let e = verify_error(f.store.import(&Source::oci_layout(&layout), "app", |_| {}));
    assert!(matches!(e, VerifyError::Digest { ref expected, .. } if *expected == built.config));
    f.assert_store_empty();
}

#[test]
fn a_missing_layer_blob_fails_before_anything_is_stored() {
    let f = Fixture::new();
    let (layout, built) = f.layout(Compression::Gzip);
    fs::remove_file(layout.join("blobs/sha256").join(built.blobs[0].hex())).unwrap();
    let result = f.store.import(&Source::oci_layout(&layout), "app", |_| {});
    assert!(
        matches!(result, Err(Error::BlobMissing { ref digest, .. }) if *digest == built.blobs[0]),
        "{result:?}"
    );
    f.assert_store_empty();
}

#[test]
fn a_symlinked_blob_in_a_layout_is_refused_not_followed() {
    let f = Fixture::new();
    let (layout, built) = f.layout(Compression::Gzip);
    let blob = layout.join("blobs/sha256").join(built.blobs[0].hex());
    fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", &blob).unwrap();
    let result = f.store.import(&Source::oci_layout(&layout), "app", |_| {});
    assert!(result.is_err(), "{result:?}");
    f.assert_store_empty();
}

#[test]
fn a_foreign_layer_missing_from_the_source_is_never_fetched() {
    let f = Fixture::new();
    let layout = f.root.join("layout");
    let built = images::oci_layout(&layout, &[images::small_layer("a", "one")], Compression::Gzip);
    // Make the layer foreign (with a URL) and drop its blob.
    let manifest_path = layout.join("blobs/sha256").join(built.manifest.hex());
    let mut manifest: serde_json::Value = serde_json::from_slice(&fs::read(&manifest_path).unwrap()).unwrap();
    manifest["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip".into();
    manifest["layers"][0]["urls"] = serde_json::json!(["http://127.0.0.1:9/never-fetched"]);
    let data = serde_json::to_vec(&manifest).unwrap();
    let digest = Digest::of(&data);
    fs::write(layout.join("blobs/sha256").join(digest.hex()), &data).unwrap();
    images::edit_index(&layout, |index| {
        index["manifests"][0]["digest"] = digest.to_string().into();
        index["manifests"][0]["size"] = data.len().into();
    });
    fs::remove_file(layout.join("blobs/sha256").join(built.blobs[0].hex())).unwrap();
    let result = f.store.import(&Source::oci_layout(&layout), "app", |_| {});
    assert!(
        matches!(result, Err(Error::ForeignLayer { ref urls, .. }) if urls.len() == 1),
        "{result:?}"
    );
    f.assert_store_empty();
}

#[test]
fn a_docker_archive_link_out_of_the_archive_reads_nothing_on_the_host() {
    let f = Fixture::new();
    let archive = f.root.join("evil.tar");
    let mut b = tar::Builder::new(Vec::new());
    let config = images::config_json(&[images::small_layer("a", "one")], "amd64");
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("config.json", &config);
    add(
        "manifest.json",
        br#"[{"Config":"config.json","RepoTags":["evil:latest"],"Layers":["../../../../etc/passwd"]}]"#,
    );
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, "layer.tar", "/etc/passwd").unwrap();
    fs::write(&archive, b.into_inner().unwrap()).unwrap();
    let result = f.store.import(&Source::docker_archive(&archive), "evil", |_| {});
    assert!(matches!(result, Err(Error::Format { .. })), "{result:?}");
    f.assert_store_empty();
}

#[test]
fn a_digest_reference_must_be_the_imported_manifest() {
    let f = Fixture::new();
    let layout = f.root.join("layout");
    images::oci_layout(&layout, &[], Compression::Gzip);
    let other = Digest::of(b"another manifest");
    let e = verify_error(
        f.store
            .import(&Source::oci_layout(&layout), &format!("app@{other}"), |_| {}),
    );
    assert!(matches!(e, VerifyError::Digest { ref expected, .. } if *expected == other));
    assert!(f.store.list().unwrap().is_empty());
}

#[test]
fn invalid_references_are_refused_before_reading_the_source() {
    let f = Fixture::new();
    for bad in ["UPPER", "../x", "x:-bad", "a//b"] {
        let result = f
            .store
            .import(&Source::oci_layout(Path::new("/nonexistent")), bad, |_| {});
        assert!(
            matches!(result, Err(Error::InvalidReference { .. })),
            "{bad}: {result:?}"
        );
    }
}

#[test]
fn a_layer_free_image_reports_progress_totals_of_zero() {
    let f = Fixture::new();
    let layout = f.root.join("layout");
    images::oci_layout(&layout, &[], Compression::Gzip);
    let mut seen = Vec::new();
    f.store
        .import(&Source::oci_layout(&layout), "app", |p| seen.push(p))
        .unwrap();
    let last = seen.last().unwrap();
    assert_eq!(
        (last.bytes_done, last.bytes_total, last.layers_done, last.layers_total),
        (0, 0, 0, 0)
    );
}

/// Indexes that list the next index many times over (64 at each of four levels: 16 million
/// paths to the one image) are each read once; a flat index of more descriptors than the
/// bound is refused with a typed error, nothing stored.
#[test]
fn nested_indexes_repeating_each_other_are_read_once_and_their_size_bounded() {
    let f = Fixture::new();
    let oci = f.root.join("nested");
    let (descriptor, built) = images::write_image(&oci, &[images::small_layer("a", "one")], Compression::None, "amd64");
    let index_of = |entries: Vec<serde_json::Value>| {
        let data = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }))
        .unwrap();
        let digest = images::write_blob(&oci, &data);
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest.to_string(),
            "size": data.len(),
        })
    };
    let mut current = descriptor.clone();
    for _ in 0..3 {
        current = index_of(vec![current; 64]);
    }
    images::write_layout(&oci, vec![current; 64]);
    let image = f.store.import(&Source::oci_layout(&oci), "nested:1", |_| {}).unwrap();
    assert_eq!(image.manifest_digest(), &built.manifest);

    let flat = f.root.join("flat");
    let (descriptor, _) = images::write_image(&flat, &[images::small_layer("a", "one")], Compression::None, "arm64");
    images::write_layout(&flat, vec![descriptor; 5000]);
    let e = f
        .store
        .import(&Source::oci_layout(&flat), "flat:1", |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 4096, .. }), "{e}");
}

/// An image of more layers than an overlay root takes is refused at import, nothing stored.
#[test]
fn an_image_of_more_layers_than_a_root_takes_is_refused() {
    let f = Fixture::new();
    let path = f.root.join("many");
    let layers: Vec<Vec<u8>> = (0..=nsbox::Rootfs::MAX_LAYERS)
        .map(|i| images::small_layer(&format!("f{i}"), "x"))
        .collect();
    images::oci_layout(&path, &layers, Compression::None);
    let e = f
        .store
        .import(&Source::oci_layout(&path), "many:1", |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 128, .. }), "{e}");
    f.assert_store_empty();
}

/// A docker archive whose first entry is a GNU long name, long link name or PAX header claiming
/// 64 MiB (a sparse file: zeros, an entry, then a valid archive): the scan stops once the metadata before
/// an entry passes its bound, with a typed error, instead of reading it all into memory; a long
/// name under that bound but longer than a path is refused too. Nothing is stored.
#[test]
fn a_docker_archive_with_huge_long_names_or_pax_records_fails_before_reading_them() {
    use std::io::{Seek, SeekFrom, Write};
    let f = Fixture::new();
    let valid = f.root.join("valid.tar");
    images::docker_classic(&valid, &[images::small_layer("a", "one")], "valid:1");
    let valid = fs::read(&valid).unwrap();
    let hostile = |name: &str, kind: tar::EntryType, size: u64, fill: Option<u8>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_path("././@LongLink").unwrap();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_cksum();
        let path = f.root.join(name);
        let mut file = fs::File::create(&path).unwrap();
        file.write_all(h.as_bytes()).unwrap();
        if let Some(byte) = fill {
            file.write_all(&vec![byte; size as usize]).unwrap();
        }
        let body_end = 512 + size.div_ceil(512) * 512;
        file.seek(SeekFrom::Start(body_end)).unwrap();
        // The entry the long name describes, then the valid archive.
        let mut entry = tar::Header::new_gnu();
        entry.set_path("extra").unwrap();
        entry.set_size(0);
        entry.set_mode(0o644);
        entry.set_cksum();
        file.write_all(entry.as_bytes()).unwrap();
        file.write_all(&valid).unwrap();
        path
    };
    let metadata_bound = nsbox_image::unpack::MAX_ENTRY_METADATA;
    for (name, kind) in [
        ("long-name.tar", tar::EntryType::GNULongName),
        ("long-link.tar", tar::EntryType::GNULongLink),
        ("pax.tar", tar::EntryType::XHeader),
    ] {
        let path = hostile(name, kind, 64 << 20, None);
        let e = f
            .store
            .import(&Source::docker_archive(&path), "hostile:1", |_| {})
            .unwrap_err();
        assert!(
            matches!(e, Error::TooLarge { limit, .. } if limit == metadata_bound),
            "{name}: {e}"
        );
    }
    // Under the metadata bound, over a path's length.
    let path = hostile("long-5000.tar", tar::EntryType::GNULongName, 5000, Some(b'a'));
    let e = f
        .store
        .import(&Source::docker_archive(&path), "hostile:1", |_| {})
        .unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 4096, .. }), "{e}");
    f.assert_store_empty();
    // The valid archive after them imports: the hostile prefix is what failed.
    let path = hostile("long-100.tar", tar::EntryType::GNULongName, 100, Some(b'a'));
    f.store
        .import(&Source::docker_archive(&path), "valid:1", |_| {})
        .unwrap();
}
