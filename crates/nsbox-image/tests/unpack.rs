//! The layer unpacker against hostile archives and real-layer shapes. Every hostile case checks
//! a typed error AND that nothing outside the root changed: a sibling `outside` directory (a
//! victim file, a directory) and a marker path under /tmp that the archive aims at.
//!
//! Tests named `inner_*` run again as `nobody` (see `unprivileged_suite_passes_as_nobody`).

mod common;

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::layer::{Layer, header, pax_record, set_raw_name};
use nsbox_image::unpack::{LimitKind, Limits, Mode, Options, Refusal, Report, Skipped, UnpackError, apply_layer};
use tar::EntryType;

const INNER: &str = "NSBOX_IMAGE_UNPACK_INNER";

fn options(mode: Mode, privileged: bool) -> Options {
    Options {
        mode,
        limits: Limits::default(),
        privileged,
    }
}

fn overlay() -> Options {
    options(Mode::OverlayLayer, false)
}

fn flatten() -> Options {
    options(Mode::Flatten, false)
}

/// A layer root beside an `outside` directory the archives aim at.
struct Sandbox {
    base: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
    /// A /tmp path no test creates: it must still not exist after any unpacking.
    marker: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = tempfile::Builder::new().prefix("nsbox-unpack-").tempdir().unwrap();
        let root = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir_all(outside.join("dir")).unwrap();
        fs::write(outside.join("victim"), "original").unwrap();
        fs::set_permissions(outside.join("victim"), fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(outside.join("dir/inner"), "inner").unwrap();
        let marker = PathBuf::from(format!(
            "/tmp/nsbox-unpack-marker-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        Self {
            base,
            root,
            outside,
            marker,
        }
    }

    fn apply(&self, layer: &[u8], options: &Options) -> Result<Report, UnpackError> {
        apply_layer(layer, &self.root, options)
    }

    fn ok(&self, layer: &[u8], options: &Options) -> Report {
        self.apply(layer, options).expect("the layer applies")
    }

    /// Everything outside the root: each path under the base but `root`, with its type, mode,
    /// link count, owner, mtime and content; /etc/shadow's too; and the marker's absence.
    fn outside_state(&self) -> BTreeMap<PathBuf, String> {
        let mut state = BTreeMap::new();
        let mut stack = vec![self.base.path().to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path == self.root {
                    continue;
                }
                state.insert(path.clone(), describe(&path));
                if fs::symlink_metadata(&path).unwrap().is_dir() {
                    stack.push(path);
                }
            }
        }
        state.insert(self.base.path().to_path_buf(), describe(self.base.path()));
        state.insert(PathBuf::from("/etc/shadow"), describe(Path::new("/etc/shadow")));
        state.insert(self.marker.clone(), format!("exists: {}", self.marker.exists()));
        state
    }

    /// Applies a hostile layer: it must fail, and nothing outside the root may change.
    fn hostile(&self, layer: &[u8], options: &Options) -> UnpackError {
        let before = self.outside_state();
        let result = self.apply(layer, options);
        assert_eq!(before, self.outside_state(), "something outside the root changed");
        assert!(!self.marker.exists());
        assert!(
            fs::symlink_metadata(&self.root).unwrap().is_dir(),
            "the root is no longer a directory"
        );
        result.expect_err("a hostile layer must fail")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
}

fn describe(path: &Path) -> String {
    let Ok(m) = fs::symlink_metadata(path) else {
        return "absent".into();
    };
    let content = if m.is_file() {
        fs::read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    } else if m.file_type().is_symlink() {
        fs::read_link(path).unwrap().display().to_string()
    } else {
        String::new()
    };
    format!(
        "{:o} nlink {} {}:{} mtime {} {content:?}",
        m.mode(),
        m.nlink(),
        m.uid(),
        m.gid(),
        m.mtime()
    )
}

fn refusal(e: UnpackError) -> Refusal {
    match e {
        UnpackError::Refused { reason, .. } => reason,
        other => panic!("want a refusal, got {other:?}"),
    }
}

fn limit(e: UnpackError) -> LimitKind {
    match e {
        UnpackError::Limit(exceeded) => exceeded.kind,
        other => panic!("want a limit, got {other:?}"),
    }
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = CString::new(path.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    // SAFETY: both strings are NUL-terminated and buf has buf.len() writable bytes.
    let len = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (len >= 0).then(|| buf[..len as usize].to_vec())
}

fn both_modes() -> [Options; 2] {
    [overlay(), flatten()]
}

// ---- ordinary layers -------------------------------------------------------------------

#[test]
fn inner_files_directories_and_symlinks_are_unpacked() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .dir_with("./etc/", |h| h.set_mode(0o751))
        .file_with("./etc/motd", b"hello\n", |h| h.set_mode(0o640))
        .file("usr/share/doc/x", b"implied parents")
        .symlink("etc/abs", "/etc/shadow")
        .symlink("etc/up", "../../../../outside")
        .raw(EntryType::Fifo, b"run/fifo", b"", b"", |_| {})
        .finish();
    let report = s.ok(&layer, &overlay());
    assert_eq!((report.entries, report.bytes), (6, 6 + 15));
    assert_eq!(fs::read(s.path("etc/motd")).unwrap(), b"hello\n");
    assert_eq!(fs::metadata(s.path("etc/motd")).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(fs::metadata(s.path("etc")).unwrap().mode() & 0o7777, 0o751);
    assert_eq!(fs::metadata(s.path("usr/share")).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::read_link(s.path("etc/abs")).unwrap(), Path::new("/etc/shadow"));
    assert_eq!(
        fs::read_link(s.path("etc/up")).unwrap(),
        Path::new("../../../../outside")
    );
    assert!(fs::symlink_metadata(s.path("run/fifo")).unwrap().file_type().is_fifo());
    // The header's mtime, set after the content; the directory's after its children.
    assert_eq!(fs::metadata(s.path("etc/motd")).unwrap().mtime(), 1_000_000_000);
    assert_eq!(fs::metadata(s.path("etc")).unwrap().mtime(), 1_000_000_000);
    assert_eq!(fs::symlink_metadata(s.path("etc/abs")).unwrap().mtime(), 1_000_000_000);
}

#[test]
fn later_entries_replace_earlier_ones_of_another_type() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .file("a/child", b"x")
        .file("a", b"file over a directory")
        .file("b", b"x")
        .dir("b")
        .file("b/in", b"directory over a file")
        .dir("c")
        .file("c/kept", b"k")
        .dir_with("c", |h| h.set_mode(0o700))
        .finish();
    s.ok(&layer, &overlay());
    assert_eq!(fs::read(s.path("a")).unwrap(), b"file over a directory");
    assert_eq!(fs::read(s.path("b/in")).unwrap(), b"directory over a file");
    assert_eq!(
        fs::read(s.path("c/kept")).unwrap(),
        b"k",
        "a directory over a directory keeps its children"
    );
    assert_eq!(fs::metadata(s.path("c")).unwrap().mode() & 0o7777, 0o700);
}

#[test]
fn root_entry_updates_the_root_only() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .dir_with("./", |h| h.set_mode(0o711))
        .file("f", b"")
        .finish();
    s.ok(&layer, &overlay());
    assert_eq!(fs::metadata(&s.root).unwrap().mode() & 0o7777, 0o711);
}

#[test]
fn long_names_through_gnu_and_pax_records_are_unpacked() {
    let s = Sandbox::new();
    let long = format!("{}/{}", "d".repeat(120), "f".repeat(200));
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = header(EntryType::Regular, 2);
    builder.append_data(&mut h, &long, &b"ok"[..]).unwrap();
    let pax_name = format!("p/{}", "q".repeat(150));
    builder.append_pax_extensions([("path", pax_name.as_bytes())]).unwrap();
    let mut h = header(EntryType::Regular, 3);
    set_raw_name(&mut h, b"ignored-short-name");
    h.set_cksum();
    builder.append(&h, &b"pax"[..]).unwrap();
    s.ok(&builder.into_inner().unwrap(), &overlay());
    assert_eq!(fs::read(s.path(&long)).unwrap(), b"ok");
    assert_eq!(fs::read(s.path(&pax_name)).unwrap(), b"pax");
    assert!(!s.path("ignored-short-name").exists());
}

// ---- hostile names ----------------------------------------------------------------------

#[test]
fn inner_parent_components_are_refused() {
    for name in [&b"../x"[..], b"a/../../x", b"a/../b", b"../outside/victim", b"./.."] {
        for o in both_modes() {
            let s = Sandbox::new();
            let layer = Layer::new()
                .raw(EntryType::Regular, name, b"", b"evil", |_| {})
                .finish();
            assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::ParentDirectory, "{name:?}");
        }
    }
}

#[test]
fn absolute_names_stay_inside_the_root() {
    let s = Sandbox::new();
    let marker = s.marker.display().to_string();
    let layer = Layer::new().file(&marker, b"inside").file("//etc///x", b"y").finish();
    let before = s.outside_state();
    s.ok(&layer, &overlay());
    assert_eq!(before, s.outside_state());
    assert_eq!(
        fs::read(s.root.join(marker.trim_start_matches('/'))).unwrap(),
        b"inside"
    );
    assert_eq!(fs::read(s.path("etc/x")).unwrap(), b"y");
}

#[test]
fn empty_and_nul_names_are_refused() {
    let s = Sandbox::new();
    let empty = Layer::new().raw(EntryType::Regular, b"", b"", b"", |_| {}).finish();
    assert_eq!(refusal(s.hostile(&empty, &overlay())), Refusal::EmptyName);
    let nul = Layer::new().pax(&[("path", b"a\0b")]).file("x", b"").finish();
    assert_eq!(refusal(s.hostile(&nul, &overlay())), Refusal::NulByte);
}

#[test]
fn inner_symlink_then_write_is_refused() {
    // Each case against its own sandbox (the outside path is in the archive).
    let build = |s: &Sandbox, case: usize| -> Vec<u8> {
        let outside = s.outside.display().to_string();
        let marker = s.marker.display().to_string();
        match case {
            0 => Layer::new()
                .symlink("link", &outside)
                .file("link/file", b"evil")
                .finish(),
            1 => Layer::new()
                .symlink("link", &marker)
                .file("link/file", b"evil")
                .finish(),
            2 => Layer::new()
                .symlink("up", "..")
                .file("up/outside/victim", b"evil")
                .finish(),
            3 => Layer::new()
                .symlink("l1", "l2")
                .symlink("l2", &outside)
                .file("l1/victim", b"evil")
                .finish(),
            4 => Layer::new().symlink("d", &outside).dir("d/newdir").finish(),
            5 => Layer::new().symlink("d", &outside).symlink("d/s", "/").finish(),
            _ => Layer::new()
                .symlink("d", "..")
                .raw(EntryType::Fifo, b"d/fifo", b"", b"", |_| {})
                .finish(),
        }
    };
    for case in 0..7 {
        for o in both_modes() {
            let s = Sandbox::new();
            assert_eq!(
                refusal(s.hostile(&build(&s, case), &o)),
                Refusal::SymlinkInPath,
                "case {case}"
            );
        }
    }
}

#[test]
fn a_file_over_a_symlink_replaces_the_symlink() {
    let s = Sandbox::new();
    let victim = s.outside.join("victim").display().to_string();
    let layer = Layer::new()
        .symlink("link", &victim)
        .file_with("link", b"not through", |h| h.set_mode(0o777))
        .finish();
    let before = s.outside_state();
    s.ok(&layer, &overlay());
    assert_eq!(before, s.outside_state());
    assert_eq!(fs::read(s.path("link")).unwrap(), b"not through");
}

/// CVE-2021-29136 (umoci): an entry naming the root itself as a symlink replaced the rootfs
/// directory, and the next entries were written through it into the host.
#[test]
fn inner_cve_2021_29136_root_replaced_by_a_symlink_is_refused() {
    for name in [&b"."[..], b"./", b"/"] {
        for o in both_modes() {
            let s = Sandbox::new();
            let outside = s.outside.display().to_string();
            let layer = Layer::new()
                .raw(EntryType::Symlink, name, outside.as_bytes(), b"", |_| {})
                .file("victim", b"evil")
                .finish();
            assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::RootNotDirectory);
            let layer = Layer::new().raw(EntryType::Regular, name, b"", b"x", |_| {}).finish();
            assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::RootNotDirectory);
        }
    }
}

/// CVE-2021-32760 (containerd): a chmod meant for an entry followed a symlink to a host file.
/// Here: a hard link to a symlink with a 0777 header, a directory entry over the symlink, and
/// a file whose parent is the symlink; the host file keeps mode 0600.
#[test]
fn inner_cve_2021_32760_no_chmod_through_a_symlink() {
    for o in both_modes() {
        let s = Sandbox::new();
        let victim = s.outside.join("victim").display().to_string();
        let layer = Layer::new()
            .symlink("s", &victim)
            .raw(EntryType::Link, b"h", b"s", b"", |h| h.set_mode(0o777))
            .dir_with("s2", |h| h.set_mode(0o777))
            .finish();
        let before = s.outside_state();
        s.ok(&layer, &o);
        assert_eq!(before, s.outside_state());
        assert_eq!(
            fs::read_link(s.path("h")).unwrap(),
            Path::new(&victim),
            "the link is to the symlink itself"
        );
        let layer = Layer::new()
            .symlink("t", &victim)
            .dir_with("t", |h| h.set_mode(0o777))
            .finish();
        s.ok(&layer, &o);
        assert_eq!(before, s.outside_state());
        assert!(fs::symlink_metadata(s.path("t")).unwrap().is_dir());
        assert_eq!(fs::metadata(s.outside.join("victim")).unwrap().mode() & 0o7777, 0o600);
    }
}

// ---- hard links -------------------------------------------------------------------------

#[test]
fn inner_hard_links_within_the_layer_share_the_inode() {
    for o in both_modes() {
        let s = Sandbox::new();
        let layer = Layer::new()
            .file("bin/a", b"same")
            .hard_link("bin/b", "bin/a")
            .hard_link("/usr/c", "/bin/a")
            .symlink("bin/s", "a")
            .hard_link("bin/s2", "bin/s")
            .finish();
        s.ok(&layer, &o);
        let ino = |p| fs::symlink_metadata(s.path(p)).unwrap().ino();
        assert_eq!(ino("bin/a"), ino("bin/b"));
        assert_eq!(ino("bin/a"), ino("usr/c"));
        assert_eq!(ino("bin/s"), ino("bin/s2"));
        assert_eq!(fs::symlink_metadata(s.path("bin/a")).unwrap().nlink(), 3);
    }
}

#[test]
fn inner_hard_links_out_of_the_root_are_refused() {
    for o in both_modes() {
        let s = Sandbox::new();
        let victim = s.outside.join("victim").display().to_string();
        let cases = [
            (Layer::new().hard_link("h", "/etc/shadow").finish(), None),
            (Layer::new().hard_link("h", &victim).finish(), None),
            (
                Layer::new().hard_link("h", "../outside/victim").finish(),
                Some(Refusal::ParentDirectory),
            ),
            (
                Layer::new()
                    .symlink("etc", "/etc")
                    .hard_link("h", "etc/shadow")
                    .finish(),
                None,
            ),
            (
                Layer::new()
                    .symlink("o", &s.outside.display().to_string())
                    .hard_link("h", "o/victim")
                    .finish(),
                None,
            ),
            (Layer::new().dir("d").hard_link("h", "d").finish(), None),
            (Layer::new().file("f", b"").hard_link("f", "f").finish(), None),
            (Layer::new().hard_link("h", "missing").finish(), None),
        ];
        for (i, (layer, want)) in cases.into_iter().enumerate() {
            let got = refusal(s.hostile(&layer, &o));
            match want {
                Some(want) => assert_eq!(got, want, "case {i}"),
                None => assert!(matches!(got, Refusal::HardLinkTarget { .. }), "case {i}: {got:?}"),
            }
        }
    }
}

#[test]
fn a_hard_link_to_a_lower_layer_is_refused_in_overlay_and_made_in_flatten() {
    let s = Sandbox::new();
    s.ok(&Layer::new().file("lower", b"from below").finish(), &overlay());
    let upper = Layer::new().hard_link("h", "lower").finish();
    assert!(matches!(
        refusal(s.hostile(&upper, &overlay())),
        Refusal::HardLinkTarget { .. }
    ));
    s.ok(&upper, &flatten());
    assert_eq!(fs::read(s.path("h")).unwrap(), b"from below");
}

// ---- whiteouts --------------------------------------------------------------------------

#[test]
fn inner_overlay_whiteouts_become_devices_and_opaque_xattrs() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .dir("a")
        .file("a/.wh.gone", b"")
        .dir("c")
        .file("c/.wh..wh..opq", b"")
        .file("c/new", b"n")
        .file("d/.wh.implied-parent", b"")
        .file("same", b"kept")
        .file(".wh.same", b"")
        .file(".wh..wh.plnk", b"")
        .finish();
    s.ok(&layer, &overlay());
    let wh = fs::symlink_metadata(s.path("a/gone")).unwrap();
    assert!(wh.file_type().is_char_device());
    assert_eq!(wh.rdev(), 0);
    assert!(
        fs::symlink_metadata(s.path("d/implied-parent"))
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(xattr(&s.path("c"), "user.overlay.opaque").as_deref(), Some(&b"y"[..]));
    assert_eq!(xattr(&s.path("c"), "trusted.overlay.opaque"), None);
    assert_eq!(
        fs::read(s.path("same")).unwrap(),
        b"kept",
        "a whiteout never hides its own layer's entry"
    );
    assert!(!s.path(".wh..wh.plnk").exists() && !s.path("a/.wh.gone").exists());
    assert_eq!(fs::read(s.path("c/new")).unwrap(), b"n");
}

#[test]
fn inner_flatten_whiteouts_remove_lower_entries_and_opaque_empties() {
    let s = Sandbox::new();
    let lower = Layer::new()
        .file("a/gone", b"")
        .file("a/keep", b"")
        .file("tree/deep/er/file", b"")
        .dir_with("tree/ro", |h| h.set_mode(0o555))
        .file("tree/ro/x", b"")
        .file("c/x", b"")
        .file("c/y/z", b"")
        .file("c/sub/lower", b"")
        .symlink("sym", &s.outside.display().to_string())
        .finish();
    s.ok(&lower, &flatten());
    let upper = Layer::new()
        .file("a/.wh.gone", b"")
        .file(".wh.tree", b"")
        .file(".wh.sym", b"")
        .file(".wh.never-was", b"")
        .file("c/sub/upper", b"")
        .file("c/early", b"")
        .file("c/.wh..wh..opq", b"")
        .file("c/late", b"")
        .finish();
    let before = s.outside_state();
    s.ok(&upper, &flatten());
    assert_eq!(before, s.outside_state(), "removing the symlink removed its target");
    assert!(!s.path("a/gone").exists() && s.path("a/keep").exists());
    assert!(!s.path("tree").exists() && fs::symlink_metadata(s.path("sym")).is_err());
    let mut names: Vec<_> = fs::read_dir(s.path("c"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["early", "late", "sub"]);
    let sub: Vec<_> = fs::read_dir(s.path("c/sub"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        sub,
        ["upper"],
        "an opaque directory hides lower content below this layer's directories too"
    );
}

#[test]
fn inner_whiteouts_of_the_parent_or_outside_are_refused() {
    for o in both_modes() {
        let s = Sandbox::new();
        for (name, want) in [
            (&b".wh..."[..], Refusal::InvalidWhiteout),
            (b".wh..", Refusal::InvalidWhiteout),
            (b"a/.wh.", Refusal::InvalidWhiteout),
            (b"../.wh.outside", Refusal::ParentDirectory),
            (b"../outside/.wh.victim", Refusal::ParentDirectory),
        ] {
            let layer = Layer::new().raw(EntryType::Regular, name, b"", b"", |_| {}).finish();
            assert_eq!(refusal(s.hostile(&layer, &o)), want, "{name:?}");
        }
    }
}

#[test]
fn inner_whiteouts_through_a_symlink_are_refused() {
    for o in both_modes() {
        let s = Sandbox::new();
        let outside = s.outside.display().to_string();
        for layer in [
            Layer::new()
                .symlink("link", &outside)
                .file("link/.wh.victim", b"")
                .finish(),
            Layer::new()
                .symlink("link", &outside)
                .file("link/.wh.dir", b"")
                .finish(),
            Layer::new()
                .symlink("link", &outside)
                .file("link/.wh..wh..opq", b"")
                .finish(),
            Layer::new()
                .symlink("up", "..")
                .file("up/outside/.wh.victim", b"")
                .finish(),
        ] {
            assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::SymlinkInPath);
            fs::remove_dir_all(&s.root).unwrap();
            fs::create_dir(&s.root).unwrap();
        }
    }
}

// ---- limits -----------------------------------------------------------------------------

#[test]
fn too_many_entries_is_a_limit() {
    let s = Sandbox::new();
    let mut layer = Layer::new();
    for i in 0..11 {
        layer = layer.file(&format!("f{i}"), b"");
    }
    let o = Options {
        limits: Limits {
            max_entries: 10,
            ..Limits::default()
        },
        ..overlay()
    };
    assert_eq!(limit(s.hostile(&layer.finish(), &o)), LimitKind::Entries);
}

/// Names implying directories: each implied directory counts as an entry (a tiny layer of
/// deep names cannot make thousands of directories per entry), and a name deeper than
/// `MAX_DEPTH` components is refused.
#[test]
fn implied_directories_count_as_entries_and_depth_is_bounded() {
    let s = Sandbox::new();
    let deep = vec!["a"; 20].join("/");
    let layer = Layer::new().file(&format!("{deep}/f"), b"").finish();
    let o = Options {
        limits: Limits {
            max_entries: 10,
            ..Limits::default()
        },
        ..overlay()
    };
    assert_eq!(limit(s.hostile(&layer, &o)), LimitKind::Entries);
    let s = Sandbox::new();
    let too_deep = vec!["d"; nsbox_image::unpack::MAX_DEPTH + 1].join("/");
    // Longer than a ustar name: a GNU long name.
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o644);
    builder.append_data(&mut h, &too_deep, &[][..]).unwrap();
    let layer = builder.into_inner().unwrap();
    assert_eq!(limit(s.hostile(&layer, &overlay())), LimitKind::Depth);
    assert!(!s.path("d").exists(), "a directory was made for a refused name");
}

/// A header claiming 1 TiB: refused from the header, before a byte of the body is read (the
/// stream holds none: reading would fail otherwise).
#[test]
fn a_header_claiming_a_terabyte_is_refused_before_its_body() {
    let s = Sandbox::new();
    let mut h = header(EntryType::Regular, 1 << 40);
    set_raw_name(&mut h, b"bomb");
    h.set_cksum();
    let layer = Layer::new().bytes(h.as_bytes()).finish();
    assert_eq!(limit(s.hostile(&layer, &overlay())), LimitKind::TotalSize);
    assert!(!s.path("bomb").exists());
    // The same through a PAX size, and the sum of sizes.
    let layer = Layer::new()
        .pax(&[("size", b"1099511627776")])
        .bytes(h.as_bytes())
        .finish();
    assert_eq!(limit(s.hostile(&layer, &overlay())), LimitKind::TotalSize);
    let o = Options {
        limits: Limits {
            max_total_size: 10,
            ..Limits::default()
        },
        ..overlay()
    };
    let layer = Layer::new().file("a", b"123456").file("b", b"123456").finish();
    assert_eq!(limit(s.hostile(&layer, &o)), LimitKind::TotalSize);
}

/// A GNU sparse file claims its full size, which counts against the limit before any of the
/// zeros it would expand to is written.
#[test]
fn a_sparse_file_counts_its_full_size() {
    let s = Sandbox::new();
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(EntryType::GNUSparse);
    set_raw_name(&mut h, b"sparse");
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    {
        let gnu = h.as_gnu_mut().unwrap();
        // One empty block at 4 GiB: real size 4 GiB, no data in the archive.
        let real = 4u64 << 30;
        gnu.realsize.copy_from_slice(format!("{real:011o}\0").as_bytes());
        gnu.sparse[0]
            .offset
            .copy_from_slice(format!("{real:011o}\0").as_bytes());
        gnu.sparse[0].numbytes.copy_from_slice(b"00000000000\0");
    }
    h.set_cksum();
    let layer = Layer::new().bytes(h.as_bytes()).finish();
    let o = Options {
        limits: Limits {
            max_total_size: 1 << 30,
            ..Limits::default()
        },
        ..overlay()
    };
    assert_eq!(limit(s.hostile(&layer, &o)), LimitKind::TotalSize);
}

#[test]
fn a_pax_record_larger_than_the_metadata_budget_is_a_limit() {
    let s = Sandbox::new();
    let big = vec![b'a'; 2 << 20];
    let record = pax_record("comment", &big);
    let mut h = header(EntryType::XHeader, record.len() as u64);
    set_raw_name(&mut h, b"PaxHeader");
    h.set_cksum();
    let padding = vec![0u8; (512 - record.len() % 512) % 512];
    let layer = Layer::new()
        .bytes(h.as_bytes())
        .bytes(&record)
        .bytes(&padding)
        .file("x", b"")
        .finish();
    assert_eq!(limit(s.hostile(&layer, &overlay())), LimitKind::EntryMetadata);
}

#[test]
fn long_components_and_paths_are_limits() {
    let s = Sandbox::new();
    let o = Options {
        limits: Limits {
            max_name_len: 8,
            max_path_len: 20,
            ..Limits::default()
        },
        ..overlay()
    };
    let layer = Layer::new().file("123456789", b"").finish();
    assert_eq!(limit(s.hostile(&layer, &o)), LimitKind::NameLength);
    let layer = Layer::new().file("1234567/1234567/1234567", b"").finish();
    assert_eq!(limit(s.hostile(&layer, &o)), LimitKind::PathLength);
    let layer = Layer::new().symlink("s", &"x".repeat(30)).finish();
    assert_eq!(limit(s.hostile(&layer, &o)), LimitKind::PathLength);
}

#[test]
fn a_truncated_stream_is_an_io_error() {
    let s = Sandbox::new();
    let layer = Layer::new().file("f", &[7u8; 2000]).finish();
    let err = s.hostile(&layer[..512 + 1000], &overlay());
    assert!(matches!(err, UnpackError::Io { .. }), "{err:?}");
}

// ---- PAX smuggling ----------------------------------------------------------------------

/// CVE-2025-62518 (tokio-tar, "TARmageddon"): a PAX header gives the real size while the
/// ustar header says 0; a reader using the ustar size reads the file's body as further
/// headers, so an archive shows other entries to other readers. tar 0.4.46 takes the PAX
/// size: the body stays a body.
#[test]
fn inner_cve_2025_62518_pax_size_over_a_zero_ustar_size_is_a_body() {
    let s = Sandbox::new();
    let smuggled = Layer::new()
        .raw(EntryType::Regular, b"../outside/victim", b"", b"smuggled", |_| {})
        .file("smuggled", b"x")
        .finish();
    let inner = &smuggled[..smuggled.len() - 1024]; // without the end-of-archive blocks
    let size = inner.len().to_string();
    let mut h = header(EntryType::Regular, 0);
    set_raw_name(&mut h, b"carrier");
    h.set_cksum();
    let layer = Layer::new()
        .pax(&[("size", size.as_bytes())])
        .bytes(h.as_bytes())
        .bytes(inner)
        .file("after", b"a")
        .finish();
    let before = s.outside_state();
    s.ok(&layer, &overlay());
    assert_eq!(before, s.outside_state());
    assert_eq!(
        fs::read(s.path("carrier")).unwrap(),
        inner,
        "the PAX size wins: the body is content"
    );
    assert!(!s.path("smuggled").exists());
    assert_eq!(fs::read(s.path("after")).unwrap(), b"a");
}

/// The reverse disagreement: PAX says 0, the ustar header the body's size. The bytes then read
/// as headers, and what they smuggle goes through the same checks as any entry.
#[test]
fn inner_cve_2025_62518_smuggled_entries_are_checked_like_any_other() {
    for o in both_modes() {
        let s = Sandbox::new();
        let smuggled = Layer::new()
            .raw(EntryType::Regular, b"../outside/victim", b"", b"smuggled", |_| {})
            .finish();
        let inner = &smuggled[..smuggled.len() - 1024];
        let mut h = header(EntryType::Regular, inner.len() as u64);
        set_raw_name(&mut h, b"carrier");
        h.set_cksum();
        let layer = Layer::new()
            .pax(&[("size", b"0")])
            .bytes(h.as_bytes())
            .bytes(inner)
            .finish();
        assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::ParentDirectory);
        // A PAX path differing from the ustar name: the PAX path is the name, checked.
        let layer = Layer::new()
            .pax(&[("path", b"../outside/victim")])
            .file("innocent", b"evil")
            .finish();
        assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::ParentDirectory);
        let layer = Layer::new()
            .pax(&[("linkpath", b"../../etc/shadow")])
            .hard_link("h", "harmless")
            .finish();
        assert_eq!(refusal(s.hostile(&layer, &o)), Refusal::ParentDirectory);
    }
}

// ---- devices, owners, modes, xattrs -----------------------------------------------------

#[test]
fn inner_device_nodes_are_skipped_unprivileged_and_fifos_made() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loop0", EntryType::Block, 7, 0)
        .raw(EntryType::Fifo, b"dev/fifo", b"", b"", |h| h.set_mode(0o620))
        .finish();
    let report = s.ok(&layer, &overlay());
    assert!(!s.path("dev/null").exists() && !s.path("dev/loop0").exists());
    assert_eq!(report.skipped, [PathBuf::from("dev/null"), PathBuf::from("dev/loop0")]);
    assert!(report.skips.iter().all(|skip| skip.what == Skipped::DeviceNode));
    let fifo = fs::symlink_metadata(s.path("dev/fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o7777, 0o620);
}

#[test]
fn inner_setid_bits_and_privileged_xattrs_are_dropped_unprivileged() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .pax(&[
            ("SCHILY.xattr.user.comment", b"kept"),
            (
                "SCHILY.xattr.security.capability",
                b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
            ),
            ("SCHILY.xattr.user.overlay.opaque", b"y"),
        ])
        .file_with("bin/ping", b"elf", |h| h.set_mode(0o4755))
        .dir_with("var/mail", |h| h.set_mode(0o2775))
        .finish();
    let report = s.ok(&layer, &overlay());
    assert_eq!(fs::metadata(s.path("bin/ping")).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::metadata(s.path("var/mail")).unwrap().mode() & 0o7777, 0o775);
    assert_eq!(
        xattr(&s.path("bin/ping"), "user.comment").as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(xattr(&s.path("bin/ping"), "security.capability"), None);
    assert_eq!(
        xattr(&s.path("bin/ping"), "user.overlay.opaque"),
        None,
        "overlay's xattrs come from whiteouts only"
    );
    let whats: Vec<_> = report
        .skips
        .iter()
        .map(|s| (s.path.display().to_string(), s.what.clone()))
        .collect();
    assert!(whats.contains(&("bin/ping".into(), Skipped::SetIdBits)), "{whats:?}");
    assert!(whats.contains(&("bin/ping".into(), Skipped::Xattr("security.capability".into()))));
    assert!(whats.contains(&("bin/ping".into(), Skipped::Xattr("user.overlay.opaque".into()))));
    assert!(whats.contains(&("var/mail".into(), Skipped::SetIdBits)));
}

#[test]
fn owners_modes_mtimes_xattrs_and_devices_are_preserved_as_root() {
    if !common::root() {
        return;
    }
    let s = Sandbox::new();
    let cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let layer = Layer::new()
        .dir_with("etc", |h| {
            h.set_uid(0);
            h.set_gid(42);
            h.set_mode(0o750);
            h.set_mtime(1_234_567_890);
        })
        .file_with("etc/shadow", b"root:*:", |h| {
            h.set_gid(42);
            h.set_mode(0o640);
        })
        .pax(&[
            ("SCHILY.xattr.security.capability", &cap[..]),
            ("SCHILY.xattr.trusted.note", b"t"),
            ("SCHILY.xattr.user.note", b"u"),
            ("mtime", b"1500000000.25"),
        ])
        .file_with("bin/ping", b"elf", |h| {
            h.set_uid(1000);
            h.set_gid(1001);
            h.set_mode(0o4755);
        })
        .raw(EntryType::Symlink, b"bin/sym", b"ping", b"", |h| {
            h.set_uid(7);
            h.set_gid(8);
        })
        .device("dev/null", EntryType::Char, 1, 3)
        .device("dev/loop9", EntryType::Block, 7, 9)
        .finish();
    let report = s.ok(&layer, &options(Mode::OverlayLayer, true));
    assert!(report.skipped.is_empty(), "{report:?}");
    let etc = fs::metadata(s.path("etc")).unwrap();
    assert_eq!(
        (etc.uid(), etc.gid(), etc.mode() & 0o7777, etc.mtime()),
        (0, 42, 0o750, 1_234_567_890)
    );
    let shadow = fs::metadata(s.path("etc/shadow")).unwrap();
    assert_eq!((shadow.gid(), shadow.mode() & 0o7777), (42, 0o640));
    let ping = fs::metadata(s.path("bin/ping")).unwrap();
    assert_eq!((ping.uid(), ping.gid(), ping.mode() & 0o7777), (1000, 1001, 0o4755));
    assert_eq!((ping.mtime(), ping.mtime_nsec()), (1_500_000_000, 250_000_000));
    assert_eq!(
        xattr(&s.path("bin/ping"), "security.capability").as_deref(),
        Some(&cap[..])
    );
    assert_eq!(xattr(&s.path("bin/ping"), "trusted.note").as_deref(), Some(&b"t"[..]));
    assert_eq!(xattr(&s.path("bin/ping"), "user.note").as_deref(), Some(&b"u"[..]));
    let sym = fs::symlink_metadata(s.path("bin/sym")).unwrap();
    assert_eq!((sym.uid(), sym.gid()), (7, 8));
    let null = fs::symlink_metadata(s.path("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    let lp = fs::symlink_metadata(s.path("dev/loop9")).unwrap();
    assert!(lp.file_type().is_block_device());
    assert_eq!(lp.rdev(), nix::sys::stat::makedev(7, 9));
}

#[test]
fn owner_ids_out_of_range_are_refused() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .file_with("f", b"", |h| h.set_uid(u64::from(u32::MAX)))
        .finish();
    assert_eq!(
        refusal(s.hostile(&layer, &options(Mode::OverlayLayer, true))),
        Refusal::Owner(u64::from(u32::MAX))
    );
}

#[test]
fn unsupported_entry_types_are_refused() {
    let s = Sandbox::new();
    let layer = Layer::new()
        .raw(EntryType::new(b'V'), b"label", b"", b"", |_| {})
        .finish();
    assert_eq!(refusal(s.hostile(&layer, &overlay())), Refusal::UnsupportedType(b'V'));
}

// ---- the run as nobody, and without openat2 ---------------------------------------------

/// Runs every `inner_*` test again as `nobody`: unprivileged, the whiteout device (Linux 5.8),
/// the user xattr, fifos, and every refusal behave the same.
#[test]
fn unprivileged_suite_passes_as_nobody() {
    common::inner_tests_pass_as_nobody(INNER);
}

#[test]
fn inner_runs_as_nobody_when_asked() {
    if common::is_inner_run(INNER) {
        assert!(!common::is_root());
    }
}

/// Without openat2 (before Linux 5.6, or a seccomp policy hiding it) the unpacker walks one
/// `O_NOFOLLOW` component at a time: the same layers unpack, the same hostile ones fail alike.
#[test]
fn without_openat2_the_component_walk_refuses_the_same() {
    std::thread::spawn(|| {
        hide_openat2_from_this_thread();
        for o in both_modes() {
            let s = Sandbox::new();
            s.ok(&Layer::new().file("a/b/c", b"x").hard_link("a/h", "a/b/c").finish(), &o);
            assert_eq!(fs::read(s.path("a/h")).unwrap(), b"x");
            let outside = s.outside.display().to_string();
            let symlink_then_write = Layer::new().symlink("l", &outside).file("l/victim", b"evil").finish();
            assert_eq!(refusal(s.hostile(&symlink_then_write, &o)), Refusal::SymlinkInPath);
            let whiteout = Layer::new().symlink("m", &outside).file("m/.wh.victim", b"").finish();
            assert_eq!(refusal(s.hostile(&whiteout, &o)), Refusal::SymlinkInPath);
            let link = Layer::new().symlink("n", &outside).hard_link("h", "n/victim").finish();
            assert!(matches!(refusal(s.hostile(&link, &o)), Refusal::HardLinkTarget { .. }));
            let file_as_dir = Layer::new().file("f", b"").file("f/x", b"").finish();
            assert_eq!(refusal(s.hostile(&file_as_dir, &o)), Refusal::NotADirectory);
        }
    })
    .join()
    .unwrap();
}

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// (From the core's tests/openat2_fallback.rs.) Sets no_new_privs on the calling thread and loads a filter that fails openat2 with
/// ENOSYS; every other syscall is allowed. Only this thread (and what it spawns) is affected.
fn hide_openat2_from_this_thread() {
    let op = |code: u32, k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let jump_eq = libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut filter = [
        op(load, 4, 0, 0), // seccomp_data.arch
        op(jump_eq, AUDIT_ARCH, 1, 0),
        op(ret, libc::SECCOMP_RET_ALLOW, 0, 0),
        op(load, 0, 0, 0), // seccomp_data.nr
        op(jump_eq, libc::SYS_openat2 as u32, 0, 1),
        op(ret, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32, 0, 0),
        op(ret, libc::SECCOMP_RET_ALLOW, 0, 0),
    ];
    let program = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: prctl with integer arguments, then with a pointer to a valid filter program
    // that outlives the call (the kernel copies it). Without SECCOMP_FILTER_FLAG_TSYNC the
    // filter and no_new_privs apply to this thread only.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "no_new_privs");
        let mode = libc::SECCOMP_MODE_FILTER as libc::c_ulong;
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, mode, &program), 0, "load the filter");
    }
}
