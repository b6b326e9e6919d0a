//! The umoci oracle: a tree as `umoci unpack` assembles it beside nsbox's flattened layers,
//! compared entry by entry (path, type, mode, owner, symlink target, device numbers, content
//! hash, hard-link group, xattrs).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nsbox_image::Digest;
use nsbox_image::unpack::{Limits, Mode, Options, apply_layer};

/// Xattrs umoci writes for its own bookkeeping (rootless mode), never part of an image.
const UMOCI_OWN_XATTRS: &[&str] = &["user.rootlesscontainers"];

/// What one entry of a tree is, as compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `dir`, `file`, `symlink`, `fifo`, `char`, `block`, `socket`.
    pub kind: &'static str,
    /// The permission bits with setuid, setgid and sticky (`st_mode & 07777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// A symlink's target.
    pub target: Option<PathBuf>,
    /// A regular file's content.
    pub content: Option<Digest>,
    /// A device's major and minor numbers.
    pub rdev: Option<(u64, u64)>,
    /// The other paths of the tree sharing this entry's inode (hard links), sorted.
    pub links: Vec<PathBuf>,
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Every entry under `root` (the root itself as `.`), by path relative to it.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut entries = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), Vec<PathBuf>> = BTreeMap::new();
    walk(root, Path::new("."), &mut entries, &mut inodes);
    for paths in inodes.values().filter(|p| p.len() > 1) {
        for path in paths {
            let others = paths.iter().filter(|p| *p != path).cloned().collect();
            entries.get_mut(path).unwrap().links = others;
        }
    }
    entries
}

fn walk(
    root: &Path,
    rel: &Path,
    entries: &mut BTreeMap<PathBuf, Entry>,
    inodes: &mut BTreeMap<(u64, u64), Vec<PathBuf>>,
) {
    let path = root.join(rel);
    let meta = fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else {
        "socket"
    };
    let device = ft.is_char_device() || ft.is_block_device();
    let entry = Entry {
        kind,
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        target: ft.is_symlink().then(|| fs::read_link(&path).unwrap()),
        content: ft.is_file().then(|| Digest::of(&fs::read(&path).unwrap())),
        rdev: device.then(|| (libc::major(meta.rdev()) as u64, libc::minor(meta.rdev()) as u64)),
        links: Vec::new(),
        xattrs: xattrs(&path),
    };
    if !ft.is_dir() && meta.nlink() > 1 {
        inodes
            .entry((meta.dev(), meta.ino()))
            .or_default()
            .push(rel.to_path_buf());
    }
    entries.insert(rel.to_path_buf(), entry);
    if ft.is_dir() {
        let mut names: Vec<_> = fs::read_dir(&path).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            walk(root, &rel.join(name), entries, inodes);
        }
    }
}

/// The xattrs of `path` (not following a symlink), without umoci's own.
fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: llistxattr writes at most `names.len()` bytes into the buffer we own.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(
        n >= 0,
        "llistxattr {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    let mut out = BTreeMap::new();
    for name in names[..n as usize].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name_str = String::from_utf8_lossy(name).into_owned();
        if UMOCI_OWN_XATTRS.contains(&name_str.as_str()) {
            continue;
        }
        let cname = CString::new(name).unwrap();
        let mut value = vec![0u8; 64 * 1024];
        // SAFETY: lgetxattr writes at most `value.len()` bytes into the buffer we own.
        let len = unsafe { libc::lgetxattr(c.as_ptr(), cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        assert!(
            len >= 0,
            "lgetxattr {} {name_str}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        value.truncate(len as usize);
        out.insert(name_str, value);
    }
    out
}

/// The differences between two snapshots, one line each (empty: equal).
pub fn differences(umoci: &BTreeMap<PathBuf, Entry>, nsbox: &BTreeMap<PathBuf, Entry>) -> Vec<String> {
    let mut out = Vec::new();
    for (path, theirs) in umoci {
        match nsbox.get(path) {
            None => out.push(format!("{}: only in umoci's tree ({})", path.display(), theirs.kind)),
            Some(ours) if ours != theirs => {
                out.push(format!("{}:\n    umoci {theirs:?}\n    nsbox {ours:?}", path.display()))
            }
            Some(_) => {}
        }
    }
    for (path, ours) in nsbox {
        if !umoci.contains_key(path) {
            out.push(format!("{}: only in nsbox's tree ({})", path.display(), ours.kind));
        }
    }
    out
}

/// `umoci unpack --image LAYOUT:TAG BUNDLE` (as root: owners and devices as in the image);
/// returns the bundle's `rootfs`.
pub fn umoci_unpack(layout: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let out = Command::new("umoci")
        .arg("unpack")
        .arg("--image")
        .arg(format!("{}:{tag}", layout.display()))
        .arg(bundle)
        .output()
        .expect("run umoci");
    assert!(
        out.status.success(),
        "umoci unpack: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    bundle.join("rootfs")
}

/// nsbox's tree of `layers` (uncompressed tars, base first): each applied onto `root` in
/// order with `Mode::Flatten`, privileged.
pub fn nsbox_flatten(layers: &[Vec<u8>], root: &Path) {
    let options = Options {
        mode: Mode::Flatten,
        limits: Limits::default(),
        privileged: true,
    };
    for (i, layer) in layers.iter().enumerate() {
        apply_layer(&layer[..], root, &options).unwrap_or_else(|e| panic!("layer {i}: {e}"));
    }
}

/// The uncompressed layer tars of the image `tag` in the OCI layout `dir`, base first
/// (gzip, zstd or plain blobs; the first manifest whose ref.name is `tag`).
pub fn layout_layers(dir: &Path, tag: &str) -> Vec<Vec<u8>> {
    let json = |digest: &str| -> serde_json::Value {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        serde_json::from_slice(&fs::read(dir.join("blobs/sha256").join(hex)).unwrap()).unwrap()
    };
    let index: serde_json::Value = serde_json::from_slice(&fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().expect("index.json lists manifests");
    let descriptor = manifests
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .or_else(|| manifests.first())
        .expect("a manifest");
    let manifest = json(descriptor["digest"].as_str().unwrap());
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| {
            let hex = layer["digest"]
                .as_str()
                .unwrap()
                .strip_prefix("sha256:")
                .unwrap()
                .to_string();
            let blob = fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
            decompress(blob)
        })
        .collect()
}

fn decompress(blob: Vec<u8>) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if blob.starts_with(&[0x1f, 0x8b]) {
        flate2::read::GzDecoder::new(&blob[..]).read_to_end(&mut out).unwrap();
        out
    } else if blob.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        zstd::decode_all(&blob[..]).unwrap()
    } else {
        blob
    }
}

/// Unpacks the image `tag` of `layout` with umoci and with nsbox, compares the trees; panics
/// with the differences. Returns umoci's tree (to check that it holds what the image has).
pub fn check_against_umoci(layout: &Path, tag: &str) -> BTreeMap<PathBuf, Entry> {
    let work = tempfile::tempdir().unwrap();
    let rootfs = umoci_unpack(layout, tag, &work.path().join("bundle"));
    let ours = work.path().join("nsbox");
    fs::create_dir(&ours).unwrap();
    nsbox_flatten(&layout_layers(layout, tag), &ours);
    let (theirs, ours) = (snapshot(&rootfs), snapshot(&ours));
    // The root directory itself is made by each tool (umoci: 0755 unless the image says
    // otherwise); it is compared only when a layer names it.
    let diffs = differences(&theirs, &ours);
    assert!(
        diffs.is_empty(),
        "{} differences between umoci's and nsbox's trees of {}:{tag} ({} entries):\n{}",
        diffs.len(),
        layout.display(),
        theirs.len(),
        diffs.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
    theirs
}
