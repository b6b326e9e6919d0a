//! Test images made offline: layer tars (busybox from Debian's busybox-static, with applet
//! symlinks; small synthetic ones), and the archive shapes an import reads: OCI layouts (gzip,
//! zstd, uncompressed; multi-platform; nested indexes), classic and OCI-form `docker save`
//! archives, plain rootfs tars.

use std::fs;
use std::io::Write;
use std::path::Path;

use nsbox_image::Digest;
use serde_json::json;

/// Applets linked to busybox in the test image.
pub const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "true", "false", "id", "env", "pwd", "grep", "rm", "sleep", "touch", "stat",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Self::None => "application/vnd.oci.image.layer.v1.tar",
            Self::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Self::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    pub fn compress(self, tar: &[u8]) -> Vec<u8> {
        match self {
            Self::None => tar.to_vec(),
            Self::Gzip => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(tar).unwrap();
                e.finish().unwrap()
            }
            Self::Zstd => zstd::encode_all(tar, 3).unwrap(),
        }
    }
}

/// A layer tar being built.
pub struct LayerTar(tar::Builder<Vec<u8>>);

impl Default for LayerTar {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerTar {
    pub fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    pub fn dir(mut self, name: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.0.append_data(&mut h, name, &[][..]).unwrap();
        self
    }

    pub fn file(mut self, name: &str, mode: u32, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }

    /// A file with an owner.
    pub fn file_owned(mut self, name: &str, mode: u32, (uid, gid): (u64, u64), data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        self.0.append_data(&mut h, name, data).unwrap();
        self
    }

    pub fn symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, name, target).unwrap();
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A tiny layer with one file (no busybox): for tests about the store rather than the tree.
pub fn small_layer(name: &str, content: &str) -> Vec<u8> {
    LayerTar::new()
        .dir("etc/")
        .file(&format!("etc/{name}"), 0o644, content.as_bytes())
        .finish()
}

/// bin/busybox from Debian's busybox-static, applet symlinks, an /etc/os-release.
pub fn busybox_layer() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("busybox-static is installed (/bin/busybox)");
    let mut layer = LayerTar::new().dir("bin/").file("bin/busybox", 0o755, &busybox);
    for applet in APPLETS {
        layer = layer.symlink(&format!("bin/{applet}"), "busybox");
    }
    layer
        .dir("etc/")
        .file("etc/os-release", 0o644, b"ID=nsbox-test\n")
        .dir("tmp/")
        .finish()
}

/// A second layer over [`busybox_layer`]: a whiteout of /etc/os-release and a new file.
pub fn whiteout_layer() -> Vec<u8> {
    LayerTar::new()
        .dir("etc/")
        .file("etc/.wh.os-release", 0o644, b"")
        .file("etc/hello", 0o644, b"hello from layer 2\n")
        .finish()
}

/// A layer of accounts over [`busybox_layer`]: root and `app` (1000), the group `shadow` (42)
/// listing `app`, and an `/etc/shadow` owned 0:42, mode 0640, as distributions ship it.
pub fn accounts_layer() -> Vec<u8> {
    LayerTar::new()
        .dir("etc/")
        .file(
            "etc/passwd",
            0o644,
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/srv:/bin/sh\n",
        )
        .file("etc/group", 0o644, b"root:x:0:\nshadow:x:42:app\napp:x:1000:\n")
        .file_owned("etc/shadow", 0o640, (0, 42), b"root:*:19000:0:99999:7:::\n")
        .dir("srv/")
        .finish()
}

/// An image config (JSON) for `layers` with `config` as its `config` object.
pub fn config_json_with(layers: &[Vec<u8>], config: serde_json::Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap()
}

/// An image as built: the digests a test checks the store against.
#[derive(Debug, Clone)]
pub struct Built {
    pub manifest: Digest,
    pub config: Digest,
    pub diff_ids: Vec<Digest>,
    pub blobs: Vec<Digest>,
    pub blob_bytes: u64,
}

/// The image config for layers (uncompressed tars).
pub fn config_json(layers: &[Vec<u8>], architecture: &str) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| Digest::of(l).to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": architecture,
        "os": "linux",
        "config": { "Env": ["PATH=/bin"], "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    }))
    .unwrap()
}

pub fn write_blob(dir: &Path, data: &[u8]) -> Digest {
    let digest = Digest::of(data);
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("blobs/sha256").join(digest.hex()), data).unwrap();
    digest
}

/// Writes config, layers and manifest blobs into `dir`; returns the manifest's descriptor.
pub fn write_image(
    dir: &Path,
    layers: &[Vec<u8>],
    compression: Compression,
    architecture: &str,
) -> (serde_json::Value, Built) {
    let config = config_json(layers, architecture);
    let config_digest = write_blob(dir, &config);
    let mut descriptors = Vec::new();
    let mut blobs = Vec::new();
    let mut blob_bytes = 0;
    for layer in layers {
        let blob = compression.compress(layer);
        let digest = write_blob(dir, &blob);
        blob_bytes += blob.len() as u64;
        descriptors
            .push(json!({ "mediaType": compression.media_type(), "digest": digest.to_string(), "size": blob.len() }));
        blobs.push(digest);
    }
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": config.len() },
        "layers": descriptors,
    }))
    .unwrap();
    let manifest_digest = write_blob(dir, &manifest);
    let descriptor = json!({
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": manifest_digest.to_string(),
        "size": manifest.len(),
        "platform": { "architecture": architecture, "os": "linux" },
    });
    let built = Built {
        manifest: manifest_digest,
        config: config_digest,
        diff_ids: layers.iter().map(|l| Digest::of(l)).collect(),
        blobs,
        blob_bytes,
    };
    (descriptor, built)
}

pub fn write_layout(dir: &Path, manifests: Vec<serde_json::Value>) {
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index =
        json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

/// An OCI layout holding one image of `layers`, tagged `latest` (ref.name annotation).
pub fn oci_layout(dir: &Path, layers: &[Vec<u8>], compression: Compression) -> Built {
    fs::create_dir_all(dir).unwrap();
    let (mut descriptor, built) = write_image(dir, layers, compression, "amd64");
    descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": "latest" });
    write_layout(dir, vec![descriptor]);
    built
}

/// An OCI layout whose index lists an arm64 and an amd64 image (different layers); with
/// `nested`, index.json points to one nested index that lists them.
pub fn multi_platform_layout(dir: &Path, nested: bool) -> (Built, Built) {
    fs::create_dir_all(dir).unwrap();
    let (arm_desc, arm) = write_image(dir, &[small_layer("arch", "arm64")], Compression::Gzip, "arm64");
    let (amd_desc, amd) = write_image(dir, &[small_layer("arch", "amd64")], Compression::Gzip, "amd64");
    if nested {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [arm_desc, amd_desc],
        }))
        .unwrap();
        let digest = write_blob(dir, &index);
        let descriptor = json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest.to_string(),
            "size": index.len(),
            "annotations": { "org.opencontainers.image.ref.name": "latest" },
        });
        write_layout(dir, vec![descriptor]);
    } else {
        write_layout(dir, vec![arm_desc, amd_desc]);
    }
    (arm, amd)
}

fn tar_file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, name, data).unwrap();
}

fn tar_symlink(b: &mut tar::Builder<Vec<u8>>, name: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    b.append_link(&mut h, name, target).unwrap();
}

/// A classic `docker save` archive (Docker 20.10): `manifest.json`, `<hex>.json` config,
/// `<id>/layer.tar` (uncompressed, as Docker writes them).
pub fn docker_classic(path: &Path, layers: &[Vec<u8>], repo_tag: &str) -> Built {
    docker_classic_with_config(path, layers, &config_json(layers, "amd64"), repo_tag)
}

/// A classic archive whose config is `config` (which may list other diff ids than `layers`).
pub fn docker_classic_with_config(path: &Path, layers: &[Vec<u8>], config: &[u8], repo_tag: &str) -> Built {
    let mut b = tar::Builder::new(Vec::new());
    let config_digest = Digest::of(config);
    tar_file(&mut b, &format!("{}.json", config_digest.hex()), config);
    let mut names = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let id = Digest::of(format!("layer-id-{i}").as_bytes());
        let name = format!("{}/layer.tar", id.hex());
        tar_file(&mut b, &format!("{}/VERSION", id.hex()), b"1.0");
        tar_file(&mut b, &name, layer);
        names.push(name);
    }
    let manifest =
        json!([{ "Config": format!("{}.json", config_digest.hex()), "RepoTags": [repo_tag], "Layers": names }]);
    tar_file(&mut b, "manifest.json", &serde_json::to_vec(&manifest).unwrap());
    fs::write(path, b.into_inner().unwrap()).unwrap();
    Built {
        manifest: Digest::of(b""), // synthesized by the import
        config: config_digest,
        diff_ids: layers.iter().map(|l| Digest::of(l)).collect(),
        blobs: layers.iter().map(|l| Digest::of(l)).collect(),
        blob_bytes: layers.iter().map(|l| l.len() as u64).sum(),
    }
}

/// The OCI-form archive newer Docker and skopeo write: an OCI layout (blobs, index.json with
/// containerd's name annotation) plus `manifest.json` whose layers are `<id>/layer.tar`
/// symlinks into `blobs/`. Without `with_index`, only the legacy entries (and the blobs they
/// link to) are there: the import then goes through the symlinks.
pub fn docker_oci_form(
    path: &Path,
    layers: &[Vec<u8>],
    compression: Compression,
    repo_tag: &str,
    with_index: bool,
) -> Built {
    let staging = tempfile::tempdir().unwrap();
    let (mut descriptor, built) = write_image(staging.path(), layers, compression, "amd64");
    descriptor["annotations"] =
        json!({ "io.containerd.image.name": repo_tag, "org.opencontainers.image.ref.name": "latest" });
    let mut b = tar::Builder::new(Vec::new());
    for entry in fs::read_dir(staging.path().join("blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = format!("blobs/sha256/{}", entry.file_name().to_str().unwrap());
        tar_file(&mut b, &name, &fs::read(entry.path()).unwrap());
    }
    let mut names = Vec::new();
    for (i, blob) in built.blobs.iter().enumerate() {
        let id = Digest::of(format!("layer-id-{i}").as_bytes());
        let name = format!("{}/layer.tar", id.hex());
        tar_symlink(&mut b, &name, &format!("../blobs/sha256/{}", blob.hex()));
        names.push(name);
    }
    let config_name = format!("blobs/sha256/{}", built.config.hex());
    let manifest = json!([{ "Config": config_name, "RepoTags": [repo_tag], "Layers": names }]);
    tar_file(&mut b, "manifest.json", &serde_json::to_vec(&manifest).unwrap());
    if with_index {
        tar_file(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        let index = json!({ "schemaVersion": 2, "manifests": [descriptor] });
        tar_file(&mut b, "index.json", &serde_json::to_vec(&index).unwrap());
    }
    fs::write(path, b.into_inner().unwrap()).unwrap();
    built
}

/// A plain rootfs tarball (`docker export` / `tar -c`), compressed as asked.
pub fn rootfs_tar(path: &Path, layer: &[u8], compression: Compression) {
    fs::write(path, compression.compress(layer)).unwrap();
}

/// Rewrites `index.json` of a layout with `edit`.
pub fn edit_index(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut index: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    edit(&mut index);
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}
