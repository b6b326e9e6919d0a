//! Arbitrary bytes as a layer tar stream, applied in both modes into a fresh directory beside a
//! sibling `outside` one: whatever happens (an error is fine), nothing may appear outside the
//! root, and the sibling's content stays as it was.
#![no_main]

use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use nsbox_image::unpack::{Limits, Mode, Options, apply_layer};

fuzz_target!(|data: &[u8]| {
    let base = std::env::temp_dir().join(format!("nsbox-fuzz-unpack-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let (root, outside) = (base.join("root"), base.join("outside"));
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(outside.join("victim"), "original").unwrap();
    let limits = Limits {
        max_entries: 256,
        max_total_size: 1 << 20,
        ..Limits::default()
    };
    for mode in [Mode::OverlayLayer, Mode::Flatten] {
        let options = Options {
            mode,
            limits,
            privileged: false,
        };
        let _ = apply_layer(data, &root, &options);
        assert_eq!(names(&base), ["outside", "root"]);
        assert_eq!(names(&outside), ["victim"]);
        assert_eq!(fs::read(outside.join("victim")).unwrap(), b"original");
        assert!(fs::symlink_metadata(&root).unwrap().is_dir());
    }
    let _ = fs::remove_dir_all(&base);
});

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
