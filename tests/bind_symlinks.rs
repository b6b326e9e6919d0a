//! Bind sources that a container replaced with symlinks: the red team's two-container attack on
//! a shared volume, and the no-follow binds that stop it (the default in `Profile::Sandbox`).
//! The same checks without openat2 are in `openat2_fallback.rs`.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{stdout_of, world_writable_dir};
use nsbox::{Container, ContainerBuilder, Errno, Mount, Profile, SetupStep};

fn entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `/bin/sh -c script` under Sandbox with one bind; the profile applied before or after it.
fn sandbox_with(bind: Mount, profile_first: bool, script: &str) -> nsbox::Result<nsbox::Output> {
    let mut b = Container::builder();
    if profile_first {
        b.profile(Profile::Sandbox).mount(bind);
    } else {
        b.mount(bind).profile(Profile::Sandbox);
    }
    b.command("/bin/sh").args(["-c", script]).output()
}

#[test]
fn sandbox_bind_of_a_volume_path_another_container_symlinked_to_a_host_dir_is_refused() {
    if !common::root() {
        return;
    }
    let volume = world_writable_dir();
    let sub = volume.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let host = world_writable_dir();
    // Container A, with the volume bound writable, plants the symlink.
    let plant = format!("rm -r /vol/sub && ln -s {} /vol/sub", host.path().display());
    let out = Container::builder()
        .mount(Mount::bind(volume.path(), "/vol"))
        .command("/bin/sh")
        .args(["-c", &plant])
        .output()
        .unwrap();
    stdout_of(&out);
    assert!(
        fs::symlink_metadata(&sub).unwrap().is_symlink(),
        "container A planted no symlink"
    );
    // Container B, bound to vol/sub, whichever order the builder got the profile and the bind in.
    for profile_first in [true, false] {
        let result = sandbox_with(Mount::bind(&sub, "/data"), profile_first, "echo pwned > /data/pwned");
        assert_eq!(
            entries(host.path()),
            Vec::<String>::new(),
            "container B wrote into the host dir"
        );
        let e = common::setup_failure_of(result);
        assert_eq!((e.step, e.errno), (SetupStep::BindMount, Errno::ELOOP), "{e}");
        assert_eq!(e.path.as_deref(), Some(sub.as_path()), "{e}");
        assert!(e.to_string().contains(&*sub.to_string_lossy()), "{e}");
    }
}

#[test]
fn symlink_in_a_middle_component_of_a_no_follow_bind_source_is_refused() {
    if !common::root() {
        return;
    }
    let volume = world_writable_dir();
    fs::create_dir_all(volume.path().join("real/inner")).unwrap();
    symlink("real", volume.path().join("link")).unwrap();
    let source = volume.path().join("link/inner");
    for profile_first in [true, false] {
        let e = common::setup_failure_of(sandbox_with(Mount::bind(&source, "/data"), profile_first, "true"));
        assert_eq!((e.step, e.errno), (SetupStep::BindMount, Errno::ELOOP), "{e}");
        assert_eq!(e.path.as_deref(), Some(source.as_path()), "{e}");
    }
}

#[test]
fn no_follow_on_one_mount_refuses_a_symlinked_source_in_the_default_profile() {
    if !common::root() {
        return;
    }
    let volume = world_writable_dir();
    fs::create_dir(volume.path().join("real")).unwrap();
    symlink("real", volume.path().join("link")).unwrap();
    let source = volume.path().join("link");
    let e = common::setup_failure_of(
        Container::builder()
            .mount(Mount::bind(&source, "/data").no_follow())
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::BindMount, Errno::ELOOP), "{e}");
    assert_eq!(e.path.as_deref(), Some(source.as_path()), "{e}");
    // So does the builder-level setting, for binds added before it.
    let e = common::setup_failure_of(
        Container::builder()
            .mount(Mount::bind(&source, "/data"))
            .bind_no_follow(true)
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::BindMount, Errno::ELOOP), "{e}");
}

#[test]
fn binds_follow_symlinks_by_default_and_when_asked_in_the_sandbox() {
    if !common::root() {
        return;
    }
    let volume = world_writable_dir();
    fs::create_dir(volume.path().join("real")).unwrap();
    fs::write(volume.path().join("real/file"), "through the link\n").unwrap();
    symlink("real", volume.path().join("link")).unwrap();
    let source = volume.path().join("link");
    let cat = |b: &mut ContainerBuilder| {
        let out = b.command("/bin/cat").arg("/data/file").output().unwrap();
        stdout_of(&out)
    };
    // The default profile follows, as mount(8) does.
    assert_eq!(
        cat(Container::builder().mount(Mount::bind(&source, "/data"))),
        "through the link\n"
    );
    // Sandbox, per mount and for the whole builder.
    let per_mount = Mount::bind(&source, "/data").follow_symlinks();
    assert_eq!(
        cat(Container::builder().profile(Profile::Sandbox).mount(per_mount.clone())),
        "through the link\n"
    );
    assert_eq!(
        cat(Container::builder().mount(per_mount).profile(Profile::Sandbox)),
        "through the link\n"
    );
    assert_eq!(
        cat(Container::builder()
            .profile(Profile::Sandbox)
            .bind_no_follow(false)
            .mount(Mount::bind(&source, "/data"))),
        "through the link\n"
    );
    // And a plain source path is no trouble for a no-follow bind.
    assert_eq!(
        cat(Container::builder()
            .profile(Profile::Sandbox)
            .mount(Mount::bind(volume.path().join("real"), "/data"))),
        "through the link\n"
    );
}
