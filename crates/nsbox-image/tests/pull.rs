//! Pulls from a real registry: Debian's `docker-registry` (the CNCF distribution registry),
//! started by each test on 127.0.0.1 with private storage, the image pushed into it by skopeo
//! from an OCI layout the test builds. Needs root only to install the packages when missing.
#![cfg(feature = "pull")]

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::images::{self, Compression};
use nsbox_image::{Credentials, Digest, Error, Progress, PullOptions, Store, VerifyError};

const REGISTRY: &str = "/usr/bin/docker-registry";
const HTPASSWD: &str = "/usr/bin/htpasswd";

/// Installs the Debian packages the tests need, once per process, when running as root.
fn installed() -> bool {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        if (Path::new(REGISTRY).exists() && Path::new(HTPASSWD).exists()) || !common::is_root() {
            return;
        }
        let install = || {
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "docker-registry", "apache2-utils"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !install() {
            let _ = Command::new("apt-get").args(["update", "-qq"]).status();
            install();
        }
    });
    common::require(
        "docker-registry (Debian package docker-registry)",
        Path::new(REGISTRY).exists(),
    ) && common::require("htpasswd (Debian package apache2-utils)", Path::new(HTPASSWD).exists())
        && common::require("skopeo (Debian package skopeo)", common::have("skopeo"))
}

/// A registry serving on 127.0.0.1:<free port> from a temporary directory; killed on drop.
struct Registry {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
    user: Option<(&'static str, &'static str)>,
}

impl Registry {
    fn start(user: Option<(&'static str, &'static str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: nsbox-test\n",
            dir.path().join("storage").display()
        );
        if let Some((name, password)) = user {
            let out = Command::new(HTPASSWD).args(["-Bbn", name, password]).output().unwrap();
            assert!(out.status.success());
            fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
            config += &format!(
                "auth:\n  htpasswd:\n    realm: nsbox-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            );
        }
        fs::write(dir.path().join("config.yml"), config).unwrap();
        let log = fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(REGISTRY)
            .arg("serve")
            .arg(dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut registry = Self { child, dir, port, user };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("docker-registry exited ({status}): {}", self.log());
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                // Go answers an HTTP/1.0 request as HTTP/1.0.
                let status = answer.split(' ').nth(1).unwrap_or("");
                if answer.starts_with("HTTP/1.") && (status == "200" || status == "401") {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry never answered: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// `127.0.0.1:<port>/<name>`
    fn name(&self, name: &str) -> String {
        format!("127.0.0.1:{}/{name}", self.port)
    }

    /// Pushes the layout's `latest` as `name:tag` (digests kept as built).
    fn push(&self, layout: &Path, name_tag: &str, extra: &[&str]) {
        let mut cmd = Command::new("skopeo");
        cmd.args(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]);
        if let Some((user, password)) = self.user {
            cmd.arg(format!("--dest-creds={user}:{password}"));
        }
        let out = cmd
            .args(extra)
            .arg(format!("oci:{}:latest", layout.display()))
            .arg(format!("docker://{}", self.name(name_tag)))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo push: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The file the registry keeps a blob's bytes in.
    fn blob_file(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Child::kill signals our child by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn anonymous() -> PullOptions {
    PullOptions::new().credentials(Credentials::Anonymous)
}

/// The store's files other than lock files, with content digests.
fn store_listing(store: &Store) -> Vec<String> {
    common::tree_listing(store.path())
        .into_iter()
        .filter(|l| !l.contains("lock"))
        .collect()
}

fn busybox_layout(dir: &Path, compression: Compression) -> (PathBuf, images::Built) {
    let layout = dir.join(format!("oci-{compression:?}"));
    let built = images::oci_layout(
        &layout,
        &[images::busybox_layer(), images::whiteout_layer()],
        compression,
    );
    (layout, built)
}

fn assert_busybox_tree(store: &Store, image: &nsbox_image::Image) {
    let base = store.layer_path(image.layers()[0].diff_id());
    assert_eq!(
        fs::read(base.join("bin/busybox")).unwrap(),
        fs::read("/bin/busybox").unwrap()
    );
    assert_eq!(fs::read_link(base.join("bin/sh")).unwrap(), Path::new("busybox"));
    let top = store.layer_path(image.layers()[1].diff_id());
    assert_eq!(
        fs::read_to_string(top.join("etc/hello")).unwrap(),
        "hello from layer 2\n"
    );
}

#[test]
fn an_image_pulls_by_tag_and_by_digest_into_the_store() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(None);
    let (layout, built) = busybox_layout(dir.path(), Compression::Gzip);
    registry.push(&layout, "tools/busybox:1.36", &["--preserve-digests"]);
    let store = Store::open(dir.path().join("store")).unwrap();

    let mut reports: Vec<Progress> = Vec::new();
    let by_tag = registry.name("tools/busybox:1.36");
    let started = Instant::now();
    let image = store.pull(&by_tag, &anonymous(), |p| reports.push(p)).unwrap();
    // For the record (docs/images.md), not a threshold: the pull beside skopeo's download alone.
    let pulled = started.elapsed();
    let started = Instant::now();
    let status = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q", "--src-tls-verify=false"])
        .arg(format!("docker://{by_tag}"))
        .arg(format!("oci:{}:x", dir.path().join("skopeo-copy").display()))
        .status()
        .unwrap();
    assert!(status.success());
    eprintln!(
        "pull (download, verify, unpack) {pulled:?}; skopeo copy (download only) {:?}; {} blob bytes",
        started.elapsed(),
        built.blob_bytes
    );
    assert_eq!(image.manifest_digest(), &built.manifest);
    assert_eq!(image.config_digest(), &built.config);
    let diff_ids: Vec<&Digest> = image.layers().iter().map(|l| l.diff_id()).collect();
    assert_eq!(diff_ids, built.diff_ids.iter().collect::<Vec<_>>());
    assert_busybox_tree(&store, &image);
    for blob in built.blobs.iter().chain([&built.manifest, &built.config]) {
        let data = fs::read(store.blob_path(blob)).unwrap();
        assert_eq!(&Digest::of(&data), blob);
    }
    let last = reports.last().unwrap();
    assert_eq!(
        (last.bytes_done, last.bytes_total),
        (built.blob_bytes, built.blob_bytes)
    );
    assert_eq!((last.layers_done, last.layers_total), (2, 2));
    assert!(reports.windows(2).all(|w| w[0].bytes_done <= w[1].bytes_done));

    let by_digest = format!("{}@{}", registry.name("tools/busybox"), built.manifest);
    let again = store.pull(&by_digest, &anonymous(), |_| {}).unwrap();
    assert_eq!(again.manifest_digest(), &built.manifest);
    assert_eq!(store.inspect(&by_tag).unwrap().manifest_digest(), &built.manifest);
    assert_eq!(store.inspect(&by_digest).unwrap().manifest_digest(), &built.manifest);
    assert_eq!(store.list().unwrap().len(), 1);
    // The pulled image is like any other: leased, and kept by gc while referenced.
    let _lease = store.lease(&image).unwrap();
    assert!(store.gc().unwrap().layers_removed.is_empty());
    assert_eq!(fs::read_dir(store.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn zstd_and_uncompressed_layers_pull() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(None);
    let store = Store::open(dir.path().join("store")).unwrap();
    for (compression, tag) in [(Compression::Zstd, "zstd"), (Compression::None, "plain")] {
        let (layout, built) = busybox_layout(dir.path(), compression);
        registry.push(&layout, &format!("busybox:{tag}"), &["--preserve-digests"]);
        let image = store
            .pull(&registry.name(&format!("busybox:{tag}")), &anonymous(), |_| {})
            .unwrap();
        assert_eq!(image.manifest_digest(), &built.manifest, "{tag}");
        assert_eq!(image.layers()[0].media_type(), compression.media_type(), "{tag}");
        assert_busybox_tree(&store, &image);
    }
}

#[test]
fn the_image_for_this_platform_is_picked_from_an_index() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(None);
    let layout = dir.path().join("multi");
    let (arm, amd) = images::multi_platform_layout(&layout, true);
    registry.push(&layout, "multi:latest", &["--all", "--preserve-digests"]);
    let store = Store::open(dir.path().join("store")).unwrap();
    let image = store
        .pull(&registry.name("multi:latest"), &anonymous(), |_| {})
        .unwrap();
    assert_eq!(image.manifest_digest(), &amd.manifest);
    assert!(!store.path().join("blobs/sha256").join(arm.blobs[0].hex()).exists());
    let top = store.layer_path(image.layers()[0].diff_id());
    assert_eq!(fs::read_to_string(top.join("etc/arch")).unwrap(), "amd64");
}

#[test]
fn a_tampered_blob_fails_and_leaves_the_store_unchanged() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(None);
    let layout = dir.path().join("small");
    let built = images::oci_layout(&layout, &[images::small_layer("a", "one")], Compression::Gzip);
    registry.push(&layout, "small:latest", &["--preserve-digests"]);
    let store = Store::open(dir.path().join("store")).unwrap();
    let before = store_listing(&store);

    // Same length, one byte changed: only the digest can tell.
    let layer = registry.blob_file(&built.blobs[0]);
    let mut data = fs::read(&layer).unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0xff;
    fs::write(&layer, &data).unwrap();
    let result = store.pull(&registry.name("small:latest"), &anonymous(), |_| {});
    assert!(
        matches!(result, Err(Error::Verify(VerifyError::Digest { ref expected, .. })) if *expected == built.blobs[0]),
        "{result:?}"
    );
    assert_eq!(store_listing(&store), before);
    assert!(store.list().unwrap().is_empty());

    // A tampered manifest, asked for by digest.
    let manifest = registry.blob_file(&built.manifest);
    let mut data = fs::read(&manifest).unwrap();
    data.push(b' ');
    fs::write(&manifest, &data).unwrap();
    let by_digest = format!("{}@{}", registry.name("small"), built.manifest);
    let result = store.pull(&by_digest, &anonymous(), |_| {});
    assert!(matches!(result, Err(Error::Verify(_))), "{result:?}");
    assert_eq!(store_listing(&store), before);
}

#[test]
fn an_unknown_tag_or_repository_is_a_typed_error() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(None);
    let layout = dir.path().join("small");
    images::oci_layout(&layout, &[images::small_layer("a", "one")], Compression::Gzip);
    registry.push(&layout, "small:latest", &[]);
    let store = Store::open(dir.path().join("store")).unwrap();
    for reference in [registry.name("small:nope"), registry.name("nothing:latest")] {
        let result = store.pull(&reference, &anonymous(), |_| {});
        assert!(
            matches!(result, Err(Error::NotInRegistry { reference: ref r }) if *r == reference),
            "{reference}: {result:?}"
        );
    }
    assert!(store.list().unwrap().is_empty());
}

fn docker_config(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    use base64_engine::encode;
    fs::create_dir_all(dir).unwrap();
    let config = serde_json::json!({ "auths": { registry: { "auth": encode(&format!("{user}:{password}")) } } });
    let path = dir.join("config.json");
    fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    path
}

/// Base64 without a crate (the tests do not need one more dependency).
mod base64_engine {
    pub fn encode(s: &str) -> String {
        const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in s.as_bytes().chunks(3) {
            let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ABC[(n >> (18 - 6 * i)) as usize & 63]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

/// Run as a child by `credentials_come_from_the_docker_config_file`, with `DOCKER_CONFIG` set.
#[test]
fn child_pull_entry_point() {
    let (Some(store), Some(reference)) = (
        std::env::var_os("NSBOX_PULL_TEST_STORE"),
        std::env::var("NSBOX_PULL_TEST_REF").ok(),
    ) else {
        return;
    };
    let image = Store::open(store)
        .unwrap()
        .pull(&reference, &PullOptions::new(), |_| {})
        .unwrap();
    println!("PULLED {}", image.manifest_digest());
}

#[test]
fn credentials_come_from_the_docker_config_file() {
    if !installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start(Some(("alice", "s3cret")));
    let layout = dir.path().join("small");
    let built = images::oci_layout(&layout, &[images::small_layer("a", "one")], Compression::Gzip);
    registry.push(&layout, "private/small:latest", &["--preserve-digests"]);
    let store = Store::open(dir.path().join("store")).unwrap();
    let reference = registry.name("private/small:latest");
    let host = format!("127.0.0.1:{}", registry.port);

    let result = store.pull(&reference, &anonymous(), |_| {});
    assert!(
        matches!(result, Err(Error::Unauthorized { ref registry, anonymous: true }) if *registry == host),
        "{result:?}"
    );
    let wrong = docker_config(&dir.path().join("wrong"), &host, "alice", "guess");
    let options = PullOptions::new().credentials(Credentials::DockerConfigFile(wrong));
    let result = store.pull(&reference, &options, |_| {});
    assert!(
        matches!(result, Err(Error::Unauthorized { anonymous: false, .. })),
        "{result:?}"
    );
    // A config file without an entry for this registry: anonymous, so refused as such.
    let other = docker_config(&dir.path().join("other"), "127.0.0.1:1", "alice", "s3cret");
    let options = PullOptions::new().credentials(Credentials::DockerConfigFile(other));
    let result = store.pull(&reference, &options, |_| {});
    assert!(
        matches!(result, Err(Error::Unauthorized { anonymous: true, .. })),
        "{result:?}"
    );
    assert!(store.list().unwrap().is_empty());

    let right = dir.path().join("right");
    docker_config(&right, &host, "alice", "s3cret");
    let options = PullOptions::new().credentials(Credentials::DockerConfigFile(right.join("config.json")));
    let image = store.pull(&reference, &options, |_| {}).unwrap();
    assert_eq!(image.manifest_digest(), &built.manifest);

    // The default: $DOCKER_CONFIG/config.json, in a child (the environment is process-wide).
    let child_store = dir.path().join("child-store");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_pull_entry_point", "--nocapture"])
        .env("DOCKER_CONFIG", &right)
        .env("NSBOX_PULL_TEST_STORE", &child_store)
        .env("NSBOX_PULL_TEST_REF", &reference)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(&format!("PULLED {}", built.manifest)),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
