//! umoci as the oracle (issue 14): the tree nsbox assembles from an image's layers (each applied
//! with `unpack::Mode::Flatten`, privileged, in order) equals `umoci unpack`'s for the same
//! image, entry by entry: paths, types, modes (setuid/setgid/sticky included), owners, symlink
//! targets, device numbers, content, hard-link groups and xattrs (umoci's own excepted).
//!
//! Needs root and umoci (Debian: `umoci`); the real-whiteout image needs `buildah`. Each is
//! skipped with a reason when missing (a failure under `NSBOX_REQUIRE_ALL=1`).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::images::{self, Compression};
use common::layer::Layer;
use common::oracle::{Entry, check_against_umoci};
use tar::EntryType;

fn prerequisites() -> bool {
    common::root() && common::require("umoci (apt-get install umoci)", common::have("umoci"))
}

/// Writes an OCI layout of `layers` (tag `latest`) and checks it against umoci.
fn check(layers: &[Vec<u8>], compression: Compression) -> BTreeMap<PathBuf, Entry> {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    images::oci_layout(&layout, layers, compression);
    check_against_umoci(&layout, "latest")
}

#[test]
fn busybox_image_matches_umoci() {
    if !prerequisites() {
        return;
    }
    let tree = check(&[images::busybox_layer(), images::accounts_layer()], Compression::Gzip);
    let shadow = &tree[Path::new("./etc/shadow")];
    assert_eq!((shadow.mode, shadow.uid, shadow.gid), (0o640, 0, 42));
    assert_eq!(
        tree[Path::new("./bin/sh")].target.as_deref(),
        Some(Path::new("busybox"))
    );
}

/// Whiteouts of a file, of a directory with contents, of a file replaced by another type in
/// the same layer; an opaque directory with a new entry beside the marker; an entry named
/// before the opaque marker of its own layer (kept: markers act on lower layers only).
#[test]
fn whiteouts_and_opaque_directories_match_umoci() {
    if !prerequisites() {
        return;
    }
    let base = Layer::new()
        .dir("etc")
        .file("etc/gone", b"removed by layer 2\n")
        .file("etc/kept", b"kept\n")
        .dir("tree")
        .dir("tree/sub")
        .file("tree/sub/deep", b"deep\n")
        .symlink("tree/link", "sub/deep")
        .dir("opaque")
        .file("opaque/lower", b"hidden by the opaque marker\n")
        .dir("opaque/lowerdir")
        .file("opaque/lowerdir/x", b"x\n")
        .file("retyped", b"a file in layer 1\n")
        .finish();
    let top = Layer::new()
        .dir("etc")
        .file("etc/.wh.gone", b"")
        .file(".wh.tree", b"")
        .dir("opaque")
        .file("opaque/before", b"named before the marker\n")
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/after", b"named after the marker\n")
        .file(".wh.retyped", b"")
        .dir("retyped")
        .file("retyped/now-a-dir", b"\n")
        .finish();
    let third = Layer::new()
        .dir("etc")
        .file("etc/gone", b"back in layer 3\n")
        .dir("opaque")
        .file("opaque/.wh.before", b"")
        .finish();
    let tree = check(&[base, top, third], Compression::None);
    let names: Vec<_> = tree.keys().map(|p| p.display().to_string()).collect();
    for gone in ["./tree", "./opaque/lower", "./opaque/lowerdir", "./opaque/before"] {
        assert!(!names.iter().any(|n| n == gone), "{gone} is in umoci's tree: {names:?}");
    }
    for kept in ["./etc/gone", "./etc/kept", "./opaque/after", "./retyped/now-a-dir"] {
        assert!(
            names.iter().any(|n| n == kept),
            "{kept} is not in umoci's tree: {names:?}"
        );
    }
}

/// Hard links (within a layer, and to a lower layer's file), modes with setuid, setgid and
/// sticky bits, owners, devices and a fifo, symlinks (relative, absolute, dangling), xattrs
/// (user and security.capability). (gzip: umoci 0.4 reads no zstd layers.)
#[test]
fn links_modes_owners_devices_and_xattrs_match_umoci() {
    if !prerequisites() {
        return;
    }
    let base = Layer::new()
        .dir("bin")
        .file_with("bin/tool", b"#!/bin/sh\n", |h| h.set_mode(0o4755))
        .hard_link("bin/tool-link", "bin/tool")
        .hard_link("bin/tool-link2", "bin/tool")
        .file_with("bin/shared", b"shared\n", |h| {
            h.set_uid(1000);
            h.set_gid(1000);
            h.set_mode(0o2750);
        })
        .dir_with("tmp", |h| h.set_mode(0o1777))
        .dir_with("srv", |h| {
            h.set_uid(33);
            h.set_gid(33);
            h.set_mode(0o750)
        })
        .file_with("srv/data", b"data\n", |h| {
            h.set_uid(65534);
            h.set_gid(65534);
            h.set_mode(0o600)
        })
        .symlink("srv/relative", "data")
        .symlink("srv/absolute", "/etc/passwd")
        .symlink("srv/dangling", "../nowhere/at/all")
        .dir("dev")
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loop9", EntryType::Block, 7, 9)
        .raw(EntryType::Fifo, b"dev/fifo", b"", b"", |_| {})
        .pax(&[
            ("SCHILY.xattr.user.comment", b"an xattr"),
            ("SCHILY.xattr.security.capability", &CAP_NET_BIND_SERVICE),
        ])
        .file("bin/ping", b"ping\n")
        .finish();
    let top = Layer::new()
        .dir("bin")
        .hard_link("bin/tool-from-layer2", "bin/tool")
        .file_with("bin/shared", b"replaced\n", |h| h.set_mode(0o755))
        .finish();
    let tree = check(&[base, top], Compression::Gzip);
    let ping = &tree[Path::new("./bin/ping")];
    assert_eq!(
        ping.xattrs.get("user.comment").map(Vec::as_slice),
        Some(&b"an xattr"[..])
    );
    assert!(ping.xattrs.contains_key("security.capability"), "{ping:?}");
    assert_eq!(tree[Path::new("./bin/tool")].links.len(), 3);
    assert_eq!(tree[Path::new("./bin/tool")].mode, 0o4755);
    assert_eq!(tree[Path::new("./dev/null")].rdev, Some((1, 3)));
}

/// The comparison can fail: a mode, an owner, a hard link, an xattr or an entry changed in
/// nsbox's tree after unpacking is each reported.
#[test]
fn the_comparison_reports_every_kind_of_difference() {
    if !prerequisites() {
        return;
    }
    let layer = Layer::new()
        .dir("d")
        .file("d/a", b"a\n")
        .file("d/b", b"b\n")
        .file("d/c", b"c\n")
        .hard_link("d/c2", "d/c")
        .file("d/e", b"e\n")
        .finish();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    images::oci_layout(&layout, std::slice::from_ref(&layer), Compression::Gzip);
    let theirs = common::oracle::snapshot(&common::oracle::umoci_unpack(&layout, "latest", &dir.path().join("b")));
    let root = dir.path().join("nsbox");
    fs::create_dir(&root).unwrap();
    common::oracle::nsbox_flatten(&[layer], &root);
    assert!(common::oracle::differences(&theirs, &common::oracle::snapshot(&root)).is_empty());

    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(root.join("d/a"), fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::lchown(root.join("d/b"), Some(1), None).unwrap();
    fs::remove_file(root.join("d/c2")).unwrap();
    fs::copy(root.join("d/c"), root.join("d/c2")).unwrap();
    let e = std::ffi::CString::new(root.join("d/e").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated path and name, a 1-byte value we own.
    let set = unsafe { libc::lsetxattr(e.as_ptr(), c"user.x".as_ptr(), b"1".as_ptr().cast(), 1, 0) };
    assert_eq!(set, 0, "lsetxattr: {}", std::io::Error::last_os_error());
    fs::write(root.join("extra"), b"").unwrap();
    let diffs = common::oracle::differences(&theirs, &common::oracle::snapshot(&root));
    let listed = |path: &str| diffs.iter().any(|d| d.starts_with(path));
    for path in ["./d/a", "./d/b", "./d/c:", "./d/c2", "./extra"] {
        assert!(listed(path), "{path} not reported: {diffs:#?}");
    }
    assert!(listed("./d/e"), "the xattr not reported: {diffs:#?}");
}

/// `security.capability` v2 (`cap_net_bind_service=ep`), as setcap writes it.
const CAP_NET_BIND_SERVICE: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE
    0x00, 0x04, 0x00, 0x00, // permitted: bit 10 (CAP_NET_BIND_SERVICE)
    0x00, 0x00, 0x00, 0x00, // inheritable
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // the upper 32 bits
];

/// An image buildah wrote (real whiteouts from its layer diff): a base layer with busybox, a
/// file and a directory; a second layer deleting the file, replacing the directory and adding
/// a hard link. buildah runs daemonless with the vfs driver in a private storage root; nothing
/// runs in a container (the second layer is edited through `buildah mount`).
#[test]
fn buildah_image_with_whiteouts_matches_umoci() {
    if !prerequisites() || !common::require("buildah (apt-get install buildah)", common::have("buildah")) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let buildah = |args: &[&str]| -> String {
        let out = Command::new("buildah")
            .arg("--root")
            .arg(d.join("storage"))
            .arg("--runroot")
            .arg(d.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .output()
            .expect("run buildah");
        assert!(
            out.status.success(),
            "buildah {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let src = d.join("src");
    for sub in ["bin", "etc", "opt/app/lib"] {
        fs::create_dir_all(src.join(sub)).unwrap();
    }
    fs::copy("/bin/busybox", src.join("bin/busybox")).expect("busybox-static is installed");
    fs::write(src.join("etc/gone"), "deleted by layer 2\n").unwrap();
    fs::write(src.join("etc/kept"), "kept\n").unwrap();
    fs::write(src.join("opt/app/lib/old"), "old\n").unwrap();
    std::os::unix::fs::symlink("busybox", src.join("bin/sh")).unwrap();

    let base = buildah(&["from", "scratch"]);
    buildah(&["copy", &base, src.to_str().unwrap(), "/"]);
    buildah(&["commit", "-q", &base, "oracle-base"]);
    let next = buildah(&["from", "oracle-base"]);
    let root = PathBuf::from(buildah(&["mount", &next]));
    fs::remove_file(root.join("etc/gone")).unwrap();
    fs::remove_dir_all(root.join("opt/app")).unwrap();
    fs::create_dir_all(root.join("opt/app/lib")).unwrap();
    fs::write(root.join("opt/app/lib/new"), "new\n").unwrap();
    fs::hard_link(root.join("opt/app/lib/new"), root.join("opt/app/new-link")).unwrap();
    buildah(&["umount", &next]);
    buildah(&["commit", "-q", &next, "oracle-top"]);
    let layout = d.join("layout");
    buildah(&["push", "-q", "oracle-top", &format!("oci:{}:latest", layout.display())]);
    buildah(&["rm", "--all"]);

    let layers = common::oracle::layout_layers(&layout, "latest");
    assert_eq!(layers.len(), 2, "buildah wrote two layers");
    let names = tar_names(&layers[1]);
    assert!(
        names.iter().any(|n| n.ends_with(".wh.gone")),
        "buildah's second layer holds a whiteout: {names:?}"
    );
    check_against_umoci(&layout, "latest");
}

fn tar_names(layer: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(layer);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

/// The Debian image (debootstrap minbase, two layers with a whiteout), from the test-image
/// cache (`common::debian`: built there first if needed, once per machine).
#[test]
fn debian_image_matches_umoci() {
    if !prerequisites() {
        return;
    }
    let Some(image) = common::debian::image() else {
        return;
    };
    let layout = image.oci_layout;
    let index: serde_json::Value = serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        .as_str()
        .unwrap_or("latest")
        .to_string();
    let tree = check_against_umoci(&layout, &tag);
    assert!(tree.len() > 1000, "only {} entries in the Debian image", tree.len());
    assert!(
        !tree.contains_key(Path::new("./etc/motd")),
        "layer 2's whiteout of /etc/motd"
    );
}
