//! The converter on uppers made by hand: whiteouts, opaque directories, metadata, links, and
//! a round trip through the unpacker (whose `OverlayLayer` format is overlayfs' upper format).

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use super::{CommitError, layer_from_upper};
use crate::unpack::{self, Limits, Mode, Options};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let p = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a buffer valid for its length.
    let r = unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    assert_eq!(
        r,
        0,
        "setxattr {name} on {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

fn whiteout(path: &Path) {
    // A 0:0 character device: unprivileged since Linux 5.8.
    nix::sys::stat::mknod(path, nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0).unwrap();
}

/// name -> (type, mode, uid:gid, link target, content, xattrs) of every entry.
fn entries(tar: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(tar);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let h = entry.header().clone();
        let link = entry.link_name().unwrap().map(|l| l.display().to_string());
        let mut xattrs = Vec::new();
        if let Some(ext) = entry.pax_extensions().unwrap() {
            for e in ext {
                let e = e.unwrap();
                xattrs.push(format!(
                    "{}={}",
                    e.key().unwrap(),
                    String::from_utf8_lossy(e.value_bytes())
                ));
            }
        }
        let mut content = String::new();
        std::io::Read::read_to_string(&mut entry, &mut content).unwrap();
        let text = format!(
            "{:?} {:o} {}:{} {link:?} {content:?} {xattrs:?}",
            h.entry_type(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.gid().unwrap()
        );
        assert!(out.insert(name.clone(), text).is_none(), "{name} twice");
    }
    out
}

/// An upper as a container leaves it: a new file, a deletion, an opaque directory, a hard link,
/// a symlink pointing out of the root, overlayfs' bookkeeping xattrs.
fn sample_upper(upper: &Path) {
    fs::create_dir_all(upper.join("etc")).unwrap();
    fs::write(upper.join("etc/hello"), "hi\n").unwrap();
    fs::set_permissions(upper.join("etc/hello"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::hard_link(upper.join("etc/hello"), upper.join("etc/hello2")).unwrap();
    whiteout(&upper.join("etc/motd"));
    fs::create_dir(upper.join("var")).unwrap();
    fs::create_dir(upper.join("var/cache")).unwrap();
    set_xattr(&upper.join("var/cache"), "user.overlay.opaque", b"y");
    fs::write(upper.join("var/cache/new"), "n").unwrap();
    set_xattr(&upper.join("var/cache/new"), "user.kept", b"v");
    set_xattr(&upper.join("var"), "user.overlay.impure", b"y");
    symlink("/etc/shadow", upper.join("shadow-link")).unwrap();
    nix::unistd::mkfifo(&upper.join("fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    if is_root() {
        nix::unistd::chown(
            &upper.join("etc/hello"),
            Some(nix::unistd::Uid::from_raw(1000)),
            Some(nix::unistd::Gid::from_raw(42)),
        )
        .unwrap();
    }
}

#[test]
fn an_upper_becomes_a_layer_with_whiteouts_and_opaque_markers() {
    let dir = tempfile::tempdir().unwrap();
    sample_upper(dir.path());
    let (tar, report) = layer_from_upper(dir.path(), Vec::new()).unwrap();
    let e = entries(&tar);
    let names: Vec<&str> = e.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "etc",
            "etc/.wh.motd",
            "etc/hello",
            "etc/hello2",
            "fifo",
            "shadow-link",
            "var",
            "var/cache",
            "var/cache/.wh..wh..opq",
            "var/cache/new"
        ]
    );
    assert_eq!((report.whiteouts, report.opaque_dirs, report.entries), (1, 1, 10));
    assert!(e["etc/.wh.motd"].starts_with("Regular 644 0:0"), "{e:?}");
    let owner = if is_root() { "1000:42" } else { "" };
    assert!(e["etc/hello"].starts_with(&format!("Regular 640 {owner}")), "{e:?}");
    assert!(e["etc/hello"].contains("\"hi\\n\""), "{e:?}");
    assert!(
        e["etc/hello2"].starts_with("Link") && e["etc/hello2"].contains("Some(\"etc/hello\")"),
        "{e:?}"
    );
    assert!(
        e["shadow-link"].starts_with("Symlink") && e["shadow-link"].contains("/etc/shadow"),
        "{e:?}"
    );
    assert!(e["fifo"].starts_with("Fifo 600"), "{e:?}");
    // The kept xattr travels; overlayfs' own (opaque, impure) do not.
    assert!(e["var/cache/new"].contains("SCHILY.xattr.user.kept=v"), "{e:?}");
    assert!(
        !e["var"].contains("overlay") && !e["var/cache"].contains("overlay"),
        "{e:?}"
    );
}

#[test]
fn a_layer_round_trips_through_the_unpacker() {
    let dir = tempfile::tempdir().unwrap();
    let upper = dir.path().join("upper");
    fs::create_dir(&upper).unwrap();
    sample_upper(&upper);
    let (tar, _) = layer_from_upper(&upper, Vec::new()).unwrap();
    let unpacked = dir.path().join("unpacked");
    fs::create_dir(&unpacked).unwrap();
    let options = Options {
        mode: Mode::OverlayLayer,
        limits: Limits::default(),
        privileged: is_root(),
    };
    unpack::apply_layer(&tar[..], &unpacked, &options).unwrap();
    // The unpacked layer is an upper again: a whiteout device, the opaque xattr.
    let motd = fs::symlink_metadata(unpacked.join("etc/motd")).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_char_device(&motd.file_type()));
    let (again, _) = layer_from_upper(&unpacked, Vec::new()).unwrap();
    assert_eq!(entries(&tar), entries(&again));
}

#[test]
fn an_overlay_redirect_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("moved")).unwrap();
    set_xattr(&dir.path().join("moved"), "user.overlay.redirect", b"/old");
    let err = layer_from_upper(dir.path(), Vec::new()).unwrap_err();
    assert!(matches!(err, CommitError::Unrepresentable { .. }), "{err}");
}

#[test]
fn a_socket_is_left_out_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let _listener = std::os::unix::net::UnixListener::bind(dir.path().join("sock")).unwrap();
    let (tar, report) = layer_from_upper(dir.path(), Vec::new()).unwrap();
    assert!(entries(&tar).is_empty());
    assert_eq!(report.skipped_sockets, [dir.path().join("sock")]);
}
