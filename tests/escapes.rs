//! Regression tests for known container-escape classes: a rootfs that points outside itself
//! through symlinks (mount targets, /proc, /sys, /dev), a working directory reached through a
//! setup fd (runc's CVE-2024-21626), and fds passed on to the payload.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{stdout_of, unique};
use nsbox::{Container, Errno, Mount, Rootfs, SetupStep};

#[test]
fn mount_target_through_a_symlink_stays_inside_the_rootfs() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    symlink("/", rootfs.path().join("escape")).unwrap();
    symlink("../../../../../../../../tmp", rootfs.path().join("up")).unwrap();
    // Were the symlinks followed on the host, these would be host paths under /tmp.
    let (a, b) = (unique("nsbox-escape"), unique("nsbox-escape"));
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::tmpfs(format!("/escape/tmp/{a}")))
        .mount(Mount::tmpfs(format!("/up/{b}")))
        .command("/bin/sh")
        .args([
            "-c",
            &format!("grep -c -e ' /tmp/{a} ' -e ' /tmp/{b} ' /proc/self/mountinfo"),
        ])
        .output()
        .unwrap();
    let (host_a, host_b) = (Path::new("/tmp").join(&a), Path::new("/tmp").join(&b));
    let escaped = [host_a.exists(), host_b.exists()];
    let _ = (fs::remove_dir(&host_a), fs::remove_dir(&host_b));
    assert_eq!(escaped, [false, false], "a mount point was created on the host");
    assert_eq!(stdout_of(&out), "2\n", "both tmpfs are mounted at the rootfs' /tmp");
    assert!(
        rootfs.path().join("tmp").join(&a).is_dir(),
        "the mount point was made inside the rootfs"
    );
}

#[test]
fn symlinked_kernel_fs_in_rootfs_is_refused() {
    if !common::root_and_busybox() {
        return;
    }
    for name in ["proc", "sys", "dev"] {
        let rootfs = common::busybox_rootfs();
        let decoy = tempfile::tempdir().unwrap();
        symlink(decoy.path(), rootfs.path().join(name)).unwrap();
        let before = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let err = Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .command("/bin/true")
            .spawn()
            .unwrap_err();
        let setup = err
            .as_setup()
            .unwrap_or_else(|| panic!("/{name}: not a setup error: {err}"));
        assert_eq!(
            (setup.step, setup.errno),
            (SetupStep::Mount, Errno::ELOOP),
            "/{name}: {err}"
        );
        assert_eq!(
            setup.path.as_deref(),
            Some(Path::new("/").join(name).as_path()),
            "/{name}: {err}"
        );
        assert_eq!(
            fs::read_dir(decoy.path()).unwrap().count(),
            0,
            "/{name}: something landed in the symlink's target"
        );
        assert_eq!(before, fs::read_to_string("/proc/self/mountinfo").unwrap());
    }
}

#[test]
fn working_directory_through_proc_fd_stays_inside_the_container() {
    if !common::root() {
        return;
    }
    // runc's CVE-2024-21626: an fd to a host directory still open in the setup process lets
    // `cwd = /proc/self/fd/N` put the payload outside its root, on the host's writable mount.
    // The payload writes only where our marker is, so no other host directory is touched.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("nsbox-marker"), "").unwrap();
    let script = "/bin/pwd -P >/dev/null 2>&1 || echo outside-root; \
                  if [ -e ./nsbox-marker ]; then echo marker; touch ./nsbox-escaped 2>/dev/null && echo wrote; fi; true";
    let mut escapes = Vec::new();
    for fd in 3..64 {
        let result = Container::builder()
            .mount(Mount::bind(dir.path(), "/data").read_only())
            .current_dir(format!("/proc/self/fd/{fd}"))
            .command("/bin/sh")
            .args(["-c", script])
            .output();
        match result {
            // Refusing the directory is fine.
            Err(e) => assert_eq!(e.as_setup().map(|s| s.step), Some(SetupStep::Chdir), "fd {fd}: {e}"),
            Ok(out) if out.stdout.is_empty() => {}
            Ok(out) => escapes.push(format!(
                "fd {fd}: {}",
                String::from_utf8_lossy(&out.stdout).replace('\n', " ")
            )),
        }
    }
    let wrote = dir.path().join("nsbox-escaped").exists();
    assert!(
        !wrote && escapes.is_empty(),
        "wrote through the read-only bind: {wrote}; cwd outside the root: {escapes:#?}"
    );
}

#[test]
fn only_stdio_is_passed_to_the_payload() {
    if !common::root() {
        return;
    }
    // ls opens /proc/self/fd itself, as the one fd beyond 0, 1 and 2.
    let out = Container::builder()
        .command("/bin/ls")
        .args(["-l", "/proc/self/fd"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let fds: Vec<&str> = text.lines().filter(|l| l.contains(" -> ")).collect();
    let extra: Vec<&&str> = fds
        .iter()
        .filter(|l| !l.contains(" 0 -> ") && !l.contains(" 1 -> ") && !l.contains(" 2 -> "))
        .collect();
    assert!(
        extra.len() <= 1 && extra.iter().all(|l| l.ends_with("/fd")),
        "leaked fds: {extra:?}"
    );
}
