//! `Store::commit_config` (a new config on the same layers, as a build's ENV or CMD step) and
//! `Store::tag` (a second name for an image): no layer is copied or unpacked again, the
//! history says what changed, and both survive gc while named.

mod common;

use common::images::{self, Compression};
use nsbox_image::oci_spec::image::Config;
use nsbox_image::{Source, Store};

fn store_with_image(dir: &std::path::Path) -> Store {
    let store = Store::open(dir.join("store")).unwrap();
    let tar = dir.join("rootfs.tar");
    images::rootfs_tar(&tar, &images::small_layer("hello", "hi\n"), Compression::None);
    store.import(&Source::rootfs_tar(&tar), "base:1", |_| {}).unwrap();
    store
}

#[test]
fn a_config_commit_keeps_the_layers_and_records_an_empty_layer_step() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_image(dir.path());
    let base = store.inspect("base:1").unwrap();
    let mut config = Config::default();
    config.set_cmd(Some(vec!["sh".into()]));
    config.set_env(Some(vec!["A=1".into()]));
    let image = store.commit_config(&base, config, "CMD [\"sh\"]", "derived:1").unwrap();
    assert_eq!(image.layers(), base.layers(), "the same layers");
    assert_ne!(image.manifest_digest(), base.manifest_digest());
    let run = image.config().config().clone().unwrap();
    assert_eq!(run.cmd().clone().unwrap(), ["sh"]);
    assert_eq!(run.env().clone().unwrap(), ["A=1"]);
    let history = image.config().history().clone().unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.created_by().as_deref(), Some("CMD [\"sh\"]"));
    assert_eq!(last.empty_layer(), Some(true));
    assert_eq!(
        image.config().rootfs().diff_ids(),
        base.config().rootfs().diff_ids(),
        "no diff id added"
    );
    // Both named: gc keeps everything.
    let report = store.gc().unwrap();
    assert!(
        report.layers_removed.is_empty() && report.blobs_removed.is_empty(),
        "{report:?}"
    );
}

#[test]
fn a_tag_names_the_same_image_and_moves_a_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_image(dir.path());
    let base = store.inspect("base:1").unwrap();
    let tagged = store.tag(&base, "alias").unwrap();
    assert_eq!(tagged.manifest_digest(), base.manifest_digest());
    assert_eq!(tagged.config_digest(), base.config_digest());
    let names: Vec<String> = tagged.references().iter().map(|r| r.to_string()).collect();
    assert!(
        names.contains(&"alias:latest".to_string()) && names.contains(&"base:1".to_string()),
        "{names:?}"
    );
    // Untagging the first name keeps the image under the second.
    store.remove("base:1").unwrap();
    assert_eq!(
        store.inspect("alias").unwrap().manifest_digest(),
        base.manifest_digest()
    );
    let report = store.gc().unwrap();
    assert!(report.layers_removed.is_empty(), "{report:?}");
    // A tag moves: `alias` now names another image.
    let mut config = Config::default();
    config.set_cmd(Some(vec!["true".into()]));
    let other = store.commit_config(&base, config, "CMD true", "other:1").unwrap();
    store.tag(&other, "alias").unwrap();
    assert_eq!(
        store.inspect("alias").unwrap().manifest_digest(),
        other.manifest_digest()
    );
}
