//! A Debian bookworm image for tests, built once per machine and cached under
//! `target/nsbox-test-images/`: `debootstrap --variant=minbase bookworm` against the mirror
//! this machine's apt uses, packed as two layers (the tree; then a whiteout of `/etc/motd` and
//! a new `/etc/nsbox-layer2`) in three shapes: an OCI layout (gzip layers), a classic
//! `docker save` archive (uncompressed layers) and a plain rootfs tar (zstd, one layer: the
//! two applied). A flock on `debian.lock` makes parallel tests (and test binaries) build it
//! once; a directory is complete once its `done` file exists.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use nix::fcntl::{Flock, FlockArg};
use serde_json::json;

use super::images::{self, Compression, LayerTar};

/// Bump when the image's content or shapes change: the cache key includes it.
const BUILDER_VERSION: u32 = 1;
const SUITE: &str = "bookworm";
const FALLBACK_MIRROR: &str = "http://deb.debian.org/debian";
/// What layer 2 adds.
pub const LAYER2_FILE: &str = "/etc/nsbox-layer2";
pub const LAYER2_CONTENT: &str = "added by layer 2\n";
/// What layer 2 deletes (a whiteout).
pub const WHITED_OUT: &str = "/etc/motd";
/// The references the archives carry.
pub const REFERENCE: &str = "debian:bookworm";

/// The cached image's three shapes.
#[derive(Debug, Clone)]
pub struct DebianImage {
    pub oci_layout: PathBuf,
    pub docker_archive: PathBuf,
    pub rootfs_tar: PathBuf,
}

/// The cached image, built first if needed; `None` (after [`super::require`]) where it cannot
/// be built: not root, no debootstrap, the mirror unreachable.
pub fn image() -> Option<DebianImage> {
    if !super::root() {
        return None;
    }
    if !super::have("debootstrap") {
        // CI has the package registry: install it as the other test packages are.
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-qq", "debootstrap"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
    }
    if !super::require(
        "debootstrap (apt-get install debootstrap)",
        Path::new("/usr/sbin/debootstrap").exists(),
    ) {
        return None;
    }
    let mirror = mirror();
    let key = nsbox_image::Digest::of(format!("{BUILDER_VERSION} {SUITE} minbase {mirror}").as_bytes());
    let base = images_dir();
    fs::create_dir_all(&base).unwrap();
    let dir = base.join(format!("debian-{SUITE}-{}", &key.hex()[..12]));
    let image = DebianImage {
        oci_layout: dir.join("oci"),
        docker_archive: dir.join("docker-archive.tar"),
        rootfs_tar: dir.join("rootfs.tar.zst"),
    };
    let lock = File::create(base.join("debian.lock")).unwrap();
    let _lock = Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| e).unwrap();
    if dir.join("done").exists() {
        return Some(image);
    }
    let started = Instant::now();
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let tree = dir.join("debootstrap");
    let log = dir.join("debootstrap.log");
    let out = File::create(&log).unwrap();
    let status = Command::new("debootstrap")
        .args(["--variant=minbase", SUITE])
        .arg(&tree)
        .arg(&mirror)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .status()
        .unwrap();
    if !status.success() {
        let text = fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let _ = fs::remove_dir_all(&dir);
        let reason = format!(
            "debootstrap {SUITE} from {mirror} ({status}; the Debian mirror reachable?):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        super::require(&reason, false);
        return None;
    }
    eprintln!("debootstrap of {SUITE}: {:.1?}", started.elapsed());
    assert!(tree.join("etc/motd").exists(), "the tree has no /etc/motd to white out");
    let layer1 = tree_tar(&tree, |_| true);
    let layer2 = LayerTar::new()
        .dir("etc/")
        .file("etc/.wh.motd", 0o644, b"")
        .file(&LAYER2_FILE[1..], 0o644, LAYER2_CONTENT.as_bytes())
        .finish();
    let layers = [layer1, layer2];
    images::oci_layout(&image.oci_layout, &layers, Compression::Gzip);
    let config = images::config_json_with(&layers, debian_config());
    images::docker_classic_with_config(&image.docker_archive, &layers, &config, REFERENCE);
    // The rootfs tar: the two layers applied (no motd, the new file).
    let mut flat = tree_tar_builder(&tree, |rel| rel != Path::new(&WHITED_OUT[1..]));
    let mut h = tar::Header::new_gnu();
    h.set_size(LAYER2_CONTENT.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    flat.append_data(&mut h, &LAYER2_FILE[1..], LAYER2_CONTENT.as_bytes())
        .unwrap();
    images::rootfs_tar(&image.rootfs_tar, &flat.into_inner().unwrap(), Compression::Zstd);
    fs::remove_dir_all(&tree).unwrap();
    let mut done = File::create(dir.join("done")).unwrap();
    writeln!(done, "built in {:.1?} from {mirror}", started.elapsed()).unwrap();
    eprintln!(
        "Debian test image built in {:.1?}: {}",
        started.elapsed(),
        dir.display()
    );
    Some(image)
}

/// The run config Debian's official image has.
pub fn debian_config() -> serde_json::Value {
    json!({
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["bash"],
    })
}

/// `target/nsbox-test-images` (the test binary is `target/<profile>/deps/NAME`): kept between
/// `cargo test` runs, and by CI between runs on a machine.
pub fn images_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("target/<profile>/deps/test");
    target.join("nsbox-test-images")
}

/// The mirror of the first `deb` source for the suite in /etc/apt/sources.list.d/*.sources
/// (deb822) or /etc/apt/sources.list (one-line), else Debian's redirector.
pub fn mirror() -> String {
    let mut files: Vec<PathBuf> = fs::read_dir("/etc/apt/sources.list.d")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "sources")) {
        let text = fs::read_to_string(file).unwrap_or_default();
        for stanza in text.split("\n\n") {
            let field = |name: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_owned()))
                    .unwrap_or_default()
            };
            let has = |name: &str, word: &str| field(name).split_whitespace().any(|w| w == word);
            if has("Types:", "deb")
                && has("Suites:", SUITE)
                && !field("Enabled:").eq_ignore_ascii_case("no")
                && let Some(uri) = field("URIs:").split_whitespace().next()
            {
                return uri.to_owned();
            }
        }
    }
    let list = fs::read_to_string("/etc/apt/sources.list").unwrap_or_default();
    for line in list.lines() {
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
        if words.next() == Some("deb")
            && let (Some(uri), Some(suite)) = (words.next(), words.next())
            && suite == SUITE
        {
            return uri.to_owned();
        }
    }
    FALLBACK_MIRROR.to_owned()
}

/// A tar of the tree at `root` (owners, modes, mtimes as they are; symlinks stored, never
/// followed), names in order, entries under `dev/` left out (device nodes; a container gets
/// its own /dev), only those `keep` accepts.
fn tree_tar(root: &Path, keep: impl Fn(&Path) -> bool) -> Vec<u8> {
    tree_tar_builder(root, keep).into_inner().unwrap()
}

fn tree_tar_builder(root: &Path, keep: impl Fn(&Path) -> bool) -> tar::Builder<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    add_dir(&mut tar, root, Path::new(""), &keep);
    tar
}

fn add_dir(tar: &mut tar::Builder<Vec<u8>>, root: &Path, rel: &Path, keep: &dyn Fn(&Path) -> bool) {
    let mut names: Vec<_> = fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let rel = rel.join(name);
        if !keep(&rel) {
            continue;
        }
        let path = root.join(&rel);
        let meta = fs::symlink_metadata(&path).unwrap();
        if rel.starts_with("dev") && rel != Path::new("dev") {
            continue;
        }
        tar.append_path_with_name(&path, &rel).unwrap();
        if meta.is_dir() {
            add_dir(tar, root, &rel, keep);
        }
    }
}
