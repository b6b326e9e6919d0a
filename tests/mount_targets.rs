//! Mount targets anywhere: binds and tmpfs mounts onto paths that do not exist, nested or not,
//! on the read-only host root and in a rootfs directory, made without changing the host or the
//! directory (a shadow of the nearest existing directory); symlinks in targets followed inside
//! the root, never out of it; a read-only rootfs directory in a user namespace. As root and as
//! nobody (rootless).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{busybox_rootfs, stdout_of, unique};
use nsbox::{Container, Errno, Mount, Namespaces, Rootfs, SetupStep};

/// Set in the runs this file starts of itself (as nobody, or in a private mount namespace).
const INNER: &str = "NSBOX_MOUNT_TARGETS_INNER";
/// The directory an inner run works on.
const DIR: &str = "NSBOX_MOUNT_TARGETS_DIR";

/// Everything about a tree that a write into it would change: each entry's path, kind, mode,
/// owner, size, mtime and link text, the top directory included.
fn tree_state(root: &Path) -> Vec<String> {
    fn walk(path: &Path, rel: &Path, out: &mut Vec<String>) {
        let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
        let link = if m.file_type().is_symlink() {
            fs::read_link(path).unwrap().display().to_string()
        } else {
            String::new()
        };
        out.push(format!(
            "{} {:o} {}:{} {} {}.{} {}",
            rel.display(),
            m.mode(),
            m.uid(),
            m.gid(),
            m.size(),
            m.mtime(),
            m.mtime_nsec(),
            link
        ));
        if m.is_dir() {
            let mut names: Vec<_> = fs::read_dir(path).unwrap().map(|e| e.unwrap().file_name()).collect();
            names.sort();
            for name in names {
                walk(&path.join(&name), &rel.join(&name), out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new("/"), &mut out);
    out
}

/// One directory's own state and its entries' names (not recursive: for host directories).
fn dir_state(dir: &Path) -> (i64, i64, Vec<std::ffi::OsString>) {
    let m = fs::metadata(dir).unwrap();
    let mut names: Vec<_> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    (m.mtime(), m.mtime_nsec(), names)
}

/// A readable source directory with one file.
fn source_dir() -> tempfile::TempDir {
    let dir = common::public_dir("nsbox-source-");
    fs::write(dir.path().join("hello"), "from the source\n").unwrap();
    fs::set_permissions(
        dir.path().join("hello"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    dir
}

/// Binds and a tmpfs onto paths missing on the host root: a file under a new directory of
/// /etc, a directory two levels under /opt, a tmpfs under /var/lib. The host's directories are
/// unchanged; /etc keeps every entry and stays read-only in the container.
fn host_root_targets() {
    let name = unique("nsbox-target");
    let source = source_dir();
    let conf = source.path().join("hello");
    let (etc_dir, opt_dir, lib_dir) = (
        PathBuf::from(format!("/etc/{name}")),
        PathBuf::from(format!("/opt/{name}")),
        PathBuf::from(format!("/var/lib/{name}")),
    );
    for p in [&etc_dir, &opt_dir, &lib_dir] {
        assert!(!p.exists(), "{} exists before the test", p.display());
    }
    let before = (dir_state(Path::new("/etc")), dir_state(Path::new("/opt")));
    let host_etc_entries = fs::read_dir("/etc").unwrap().count();
    let script = format!(
        "cat {etc}/app.conf; cat {opt}/x/y/hello; echo data > {lib}/f && cat {lib}/f; \
         test -r /etc/passwd && echo passwd; ls -A /etc | wc -l; \
         touch /etc/new 2>&1 | grep -q 'Read-only' && echo etc read-only",
        etc = etc_dir.display(),
        opt = opt_dir.display(),
        lib = lib_dir.display()
    );
    let out = Container::builder()
        .mount(Mount::bind(&conf, etc_dir.join("app.conf")).read_only())
        .mount(Mount::bind(source.path(), opt_dir.join("x").join("y")).read_only())
        .mount(Mount::tmpfs(&lib_dir))
        .command("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let stdout = stdout_of(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "from the source",
            "from the source",
            "data",
            "passwd",
            &(host_etc_entries + 1).to_string(),
            "etc read-only"
        ],
        "{stdout}"
    );
    for p in [&etc_dir, &opt_dir, &lib_dir] {
        assert!(!p.exists(), "{} was made on the host", p.display());
    }
    let after = (dir_state(Path::new("/etc")), dir_state(Path::new("/opt")));
    assert_eq!(before, after, "/etc or /opt changed on the host");
}

#[test]
fn binds_and_tmpfs_onto_new_paths_on_the_host_root_leave_the_host_unchanged() {
    if common::root() {
        host_root_targets();
    }
}

/// A bare rootfs directory (only /bin: no /proc, /dev, /sys, /etc, /data): binds onto new
/// paths at its top and below, and a tmpfs two levels down; the directory's tree is exactly as
/// it was afterwards.
fn dir_rootfs_targets(rootfs: &Path) {
    let before = tree_state(rootfs);
    let source = source_dir();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs))
        .mount(Mount::bind(source.path().join("hello"), "/etc/app/app.conf").read_only())
        .mount(Mount::bind(source.path(), "/data").read_only())
        .mount(Mount::tmpfs("/var/cache/x"))
        .command("/bin/sh")
        .args([
            "-c",
            "cat /etc/app/app.conf /data/hello; echo t > /var/cache/x/t && cat /var/cache/x/t; \
             ls /proc/self/ns >/dev/null && echo proc; ls / | tr '\\n' ' '",
        ])
        .output()
        .unwrap();
    let stdout = stdout_of(&out);
    assert_eq!(
        stdout, "from the source\nfrom the source\nt\nproc\nbin data dev etc proc sys var ",
        "{stdout}"
    );
    assert_eq!(tree_state(rootfs), before, "the rootfs directory changed");
}

#[test]
fn mount_targets_in_a_bare_rootfs_directory_leave_it_unchanged() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    dir_rootfs_targets(rootfs.path());
}

#[test]
fn a_setup_failing_half_way_leaves_the_rootfs_directory_unchanged_and_names_the_target() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    fs::create_dir(rootfs.path().join("etc")).unwrap();
    let before = tree_state(rootfs.path());
    let source = source_dir();
    // The bind shadows /etc and the root; the tmpfs then fails: /proc is the kernel's.
    let target = "/proc/nsbox-no-such-dir/x";
    let e = common::setup_failure_of(
        Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .mount(Mount::bind(source.path().join("hello"), "/etc/new/app.conf"))
            .mount(Mount::tmpfs(target))
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::Mount, Errno::ENOENT), "{e}");
    assert_eq!(e.path.as_deref(), Some(Path::new(target)), "{e}");
    assert!(e.to_string().contains(target), "{e}");
    assert_eq!(tree_state(rootfs.path()), before, "the rootfs directory changed");
}

#[test]
fn a_writable_rootfs_directory_takes_its_mount_points_like_the_payloads_writes() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    fs::create_dir(rootfs.path().join("etc")).unwrap();
    let source = source_dir();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .read_only_root(false)
        .mount(Mount::bind(source.path(), "/etc/app").read_only())
        .command("/bin/sh")
        .args(["-c", "cat /etc/app/hello && echo w > /written && echo e > /etc/written"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "from the source\n");
    for (file, text) in [("written", "w\n"), ("etc/written", "e\n")] {
        assert_eq!(fs::read_to_string(rootfs.path().join(file)).unwrap(), text);
    }
    // The directory is the payload's: mount points are made in it, as runc makes them.
    for point in ["proc", "dev", "sys", "etc/app"] {
        assert!(rootfs.path().join(point).is_dir(), "{point} was not made");
    }
}

#[test]
fn a_target_through_a_symlink_climbing_out_of_the_root_is_refused_naming_it() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    let outside = common::public_dir("nsbox-outside-");
    let depth = rootfs.path().components().count() + 2;
    let climb = format!(
        "{}{}",
        "../".repeat(depth),
        outside.path().strip_prefix("/").unwrap().display()
    );
    symlink(&climb, rootfs.path().join("escape")).unwrap();
    let source = source_dir();
    for (mount, target) in [
        (Mount::bind(source.path(), "/escape/x"), "/escape/x"),
        (Mount::tmpfs("/escape/y"), "/escape/y"),
    ] {
        let step = if target.ends_with('x') {
            SetupStep::BindMount
        } else {
            SetupStep::Mount
        };
        let e = common::setup_failure_of(
            Container::builder()
                .rootfs(Rootfs::dir(rootfs.path()))
                .mount(mount)
                .command("/bin/true")
                .output(),
        );
        assert_eq!((e.step, e.errno), (step, Errno::ELOOP), "{e}");
        assert_eq!(e.path.as_deref(), Some(Path::new(target)), "{e}");
        assert!(e.to_string().contains(target), "{e}");
        match e.hint() {
            Some(nsbox::Hint::SymlinkLeavesRoot { target: t, symlink }) => {
                assert_eq!(
                    (t.as_path(), symlink.as_path()),
                    (Path::new(target), Path::new("/escape"))
                )
            }
            other => panic!("hint {other:?}: {e}"),
        }
        assert!(e.to_string().contains("climbs above the container's root"), "{e}");
        assert_eq!(
            fs::read_dir(outside.path()).unwrap().count(),
            0,
            "written outside the root"
        );
    }
}

#[test]
fn a_symlink_in_a_target_is_followed_inside_the_root() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    fs::create_dir(rootfs.path().join("etc")).unwrap();
    // Absolute: resolved in the container's root, not the host's /etc.
    symlink("/etc", rootfs.path().join("config")).unwrap();
    let before = tree_state(rootfs.path());
    let source = source_dir();
    let host_etc = dir_state(Path::new("/etc"));
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::bind(source.path(), "/config/app"))
        .command("/bin/sh")
        .args(["-c", "cat /etc/app/hello"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "from the source\n");
    assert_eq!(tree_state(rootfs.path()), before, "the rootfs directory changed");
    assert_eq!(dir_state(Path::new("/etc")), host_etc, "the host's /etc changed");
}

#[test]
fn a_target_below_a_file_is_refused_naming_it() {
    if !common::root() {
        return;
    }
    let e = common::setup_failure_of(
        Container::builder()
            .mount(Mount::tmpfs("/etc/passwd/x"))
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::Mount, Errno::ENOTDIR), "{e}");
    assert_eq!(e.path.as_deref(), Some(Path::new("/etc/passwd/x")), "{e}");
}

/// A read-only rootfs directory (a read-only bind of it onto itself, in a private mount
/// namespace this test makes) in a user namespace: the container runs and prints its output.
fn read_only_dir_in_a_user_namespace(rootfs: &Path) {
    let before = tree_state(rootfs);
    let out = Container::builder()
        .namespaces(Namespaces::all())
        .rootfs(Rootfs::dir(rootfs))
        .mount(Mount::tmpfs("/work/tmp"))
        .command("/bin/sh")
        .args([
            "-c",
            "echo hello from a read-only root; echo x > /work/tmp/x && cat /work/tmp/x",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "hello from a read-only root\nx\n");
    assert_eq!(tree_state(rootfs), before, "the rootfs directory changed");
}

/// Runs `test` of this binary in a private mount namespace where `dir` is a read-only bind of
/// itself, as root or as nobody; returns its output after checking that it passed.
fn run_on_read_only_dir(dir: &Path, test: &str, as_nobody: bool) {
    let work = common::public_dir("nsbox-mount-targets-");
    let binary = common::copy_of_this_test_binary(work.path(), "inner");
    let mut command = Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c"]);
    command.arg("mount --bind -o ro \"$0\" \"$0\" && shift && exec \"$@\"");
    command.arg(dir);
    command.arg("--");
    if as_nobody {
        command.args(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]);
    }
    let out = command
        .arg(&binary)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, "1")
        .env(DIR, dir)
        .env("TMPDIR", "/tmp")
        .current_dir("/")
        .output()
        .expect("run unshare");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains("1 passed"), "{text}");
}

#[test]
fn a_read_only_rootfs_directory_runs_in_a_user_namespace_as_root_and_rootless() {
    if !common::root_and_busybox()
        || !common::require(
            "setpriv and unshare (util-linux)",
            Path::new("/usr/bin/setpriv").exists(),
        )
    {
        return;
    }
    let rootfs = busybox_rootfs();
    for as_nobody in [false, true] {
        run_on_read_only_dir(rootfs.path(), "inner_read_only_dir", as_nobody);
    }
}

#[test]
fn inner_read_only_dir() {
    let Some(dir) = std::env::var_os(DIR).filter(|_| std::env::var_os(INNER).is_some()) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let probe = dir.join(".nsbox-probe");
    assert!(fs::write(&probe, "").is_err(), "{} is writable", dir.display());
    read_only_dir_in_a_user_namespace(&dir);
}

#[test]
fn rootless_mount_targets_on_the_host_root_and_a_rootfs_directory() {
    if common::inner_tests_pass_as_nobody(INNER, 3) {
        // Both ran as nobody; nothing more here.
    }
}

#[test]
fn inner_host_root_targets() {
    if common::is_inner_run(INNER) && std::env::var_os(DIR).is_none() {
        host_root_targets();
    }
}

#[test]
fn inner_dir_rootfs_targets() {
    if common::is_inner_run(INNER) && std::env::var_os(DIR).is_none() {
        let rootfs = busybox_rootfs();
        dir_rootfs_targets(rootfs.path());
    }
}

#[test]
fn sandbox_targets_under_hidden_and_shadowed_host_paths() {
    if !common::root() {
        return;
    }
    let name = unique("nsbox-sandbox-target");
    let source = source_dir();
    // /var/lib is hidden by Sandbox (an empty cover takes the mount point), /etc is shadowed.
    let (lib, etc) = (format!("/var/lib/{name}"), format!("/etc/{name}/conf"));
    let before = dir_state(Path::new("/etc"));
    let out = Container::builder()
        .profile(nsbox::Profile::Sandbox)
        .mount(Mount::bind(source.path(), &lib).read_only())
        .mount(Mount::bind(source.path(), &etc).read_only())
        .command("/bin/sh")
        .args([
            "-c",
            &format!("cat {lib}/hello {etc}/hello; ls /var/lib; test -r /etc/passwd && echo passwd"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        format!("from the source\nfrom the source\n{name}\npasswd\n")
    );
    assert!(
        !Path::new(&lib).exists() && !Path::new(&etc).exists(),
        "made on the host"
    );
    assert_eq!(dir_state(Path::new("/etc")), before, "the host's /etc changed");
}

/// Races the planning: while containers are spawned, another thread swaps the rootfs' `data`
/// between a directory and a symlink to a host directory. Whatever the plan saw, nothing is
/// ever made in the rootfs directory or through the symlink on the host.
#[test]
fn a_rootfs_changed_while_spawning_never_gets_a_mount_point() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    for top in ["proc", "dev", "sys"] {
        fs::create_dir(rootfs.path().join(top)).unwrap();
    }
    let outside = common::public_dir("nsbox-outside-");
    let data = rootfs.path().join("data");
    fs::create_dir(&data).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let (stop, data, outside) = (stop.clone(), data.clone(), outside.path().to_path_buf());
        std::thread::spawn(move || {
            let mut swaps = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = fs::remove_dir(&data).or_else(|_| fs::remove_file(&data));
                if swaps.is_multiple_of(2) {
                    let _ = symlink(&outside, &data);
                } else {
                    let _ = fs::create_dir(&data);
                }
                swaps += 1;
            }
            swaps
        })
    };
    let source = source_dir();
    let mut outcomes = std::collections::BTreeMap::new();
    for _ in 0..100 {
        let result = Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .mount(Mount::bind(source.path(), "/data/new/deeper"))
            .command("/bin/true")
            .status();
        let key = match result {
            Ok(status) => format!("exit {status}"),
            Err(e) => format!("{:?}", e.as_setup().map(|s| (s.step, s.errno))),
        };
        *outcomes.entry(key).or_insert(0) += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 1, "the swapper did not run");
    assert_eq!(
        fs::read_dir(outside.path()).unwrap().count(),
        0,
        "made through the symlink: {outcomes:?}"
    );
    if data.is_dir() && !data.is_symlink() {
        assert_eq!(
            fs::read_dir(&data).unwrap().count(),
            0,
            "made in the rootfs: {outcomes:?}"
        );
    }
    let top: Vec<_> = fs::read_dir(rootfs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top.len(), 5, "entries made at the rootfs' top: {top:?}");
    eprintln!("outcomes over {swaps} swaps: {outcomes:?}");
}

/// The shadow of a directory in a read-only bind, raced: another thread keeps exchanging that
/// directory (mode 6777, another owner, an entry) with a symlink to a host directory the
/// container binds writable. Whatever the swap, the host directory's mode and owner never
/// change and nothing of the other directory appears in it (the shadow is built on the one fd
/// its path resolved to).
#[test]
fn a_shadowed_directory_swapped_for_a_symlink_redirects_nothing() {
    use std::os::unix::ffi::OsStrExt;
    if !common::root_and_busybox() {
        return;
    }
    let base = common::public_dir("nsbox-shadow-race-");
    let rootfs = base.path().join("rootfs");
    for top in ["bin", "proc", "dev", "sys", "w", "ro"] {
        fs::create_dir_all(rootfs.join(top)).unwrap();
    }
    fs::copy(common::BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    symlink("busybox", rootfs.join("bin/true")).unwrap();
    let (w, t) = (base.path().join("W"), base.path().join("T"));
    fs::create_dir_all(&w).unwrap();
    fs::create_dir_all(t.join("sub")).unwrap();
    fs::write(t.join("sub/evil"), "x").unwrap();
    fs::set_permissions(t.join("sub"), std::os::unix::fs::PermissionsExt::from_mode(0o6777)).unwrap();
    std::os::unix::fs::chown(t.join("sub"), Some(12345), Some(12345)).unwrap();
    symlink("/w", t.join("sublink")).unwrap();
    let w_before = fs::metadata(&w).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let a = std::ffi::CString::new(t.join("sub").as_os_str().as_bytes()).unwrap();
        let b = std::ffi::CString::new(t.join("sublink").as_os_str().as_bytes()).unwrap();
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: both paths are NUL-terminated strings alive for the call.
                unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                swaps += 1;
            }
            swaps
        })
    };
    let mut outcomes = std::collections::BTreeMap::new();
    let mut changed = None;
    for i in 0..200 {
        let result = Container::builder()
            .rootfs(Rootfs::dir(&rootfs))
            .mount(Mount::bind(&w, "/w"))
            .mount(Mount::bind(&t, "/ro").read_only())
            .mount(Mount::tmpfs("/ro/sub/new"))
            .command("/bin/true")
            .status();
        let key = match result {
            Ok(status) => format!("exit {status}"),
            Err(e) => format!("{:?}", e.as_setup().map(|s| (s.step, s.errno))),
        };
        *outcomes.entry(key).or_insert(0) += 1;
        let m = fs::metadata(&w).unwrap();
        // When the plan itself saw /ro/sub lead to the writable /w, the mount point `new` is
        // made there, as in any writable bind: an empty directory, nothing else.
        let entries: Vec<_> = fs::read_dir(&w).unwrap().map(|e| e.unwrap().file_name()).collect();
        let only_new =
            entries.iter().all(|e| e == "new") && fs::read_dir(w.join("new")).map_or(true, |d| d.count() == 0);
        if (m.mode(), m.uid(), m.gid()) != (w_before.mode(), w_before.uid(), w_before.gid()) || !only_new {
            changed = Some(format!(
                "spawn {i}: mode {:o} owner {}:{} entries {entries:?}",
                m.mode(),
                m.uid(),
                m.gid()
            ));
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(swaps > 1, "the swapper did not run");
    assert_eq!(changed, None, "the host directory changed; outcomes {outcomes:?}");
    eprintln!("outcomes over {swaps} swaps: {outcomes:?}");
}

#[test]
fn a_symlink_into_the_containers_dev_mqueue_makes_no_queue() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    fs::create_dir(rootfs.path().join("etc")).unwrap();
    symlink("/dev/mqueue", rootfs.path().join("etc/app")).unwrap();
    let source = source_dir();
    let e = common::setup_failure_of(
        Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .mount(Mount::bind(source.path().join("hello"), "/etc/app/app.conf"))
            .command("/bin/true")
            .output(),
    );
    // The kernel's filesystem is not nsbox's to make names in: the bind finds no mount point.
    assert_eq!((e.step, e.errno), (SetupStep::BindMount, Errno::ENOENT), "{e}");
    assert_eq!(e.path.as_deref(), Some(Path::new("/etc/app/app.conf")), "{e}");
}

#[test]
fn a_read_only_tmpfs_takes_the_mount_points_under_it_and_stays_read_only() {
    if !common::root() {
        return;
    }
    let source = source_dir();
    let out = Container::builder()
        .mount(Mount::tmpfs("/srv-ro").read_only())
        .mount(Mount::bind(source.path(), "/srv-ro/a/b").read_only())
        .command("/bin/sh")
        .args([
            "-c",
            "cat /srv-ro/a/b/hello; touch /srv-ro/x 2>&1 | grep -c 'Read-only'",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "from the source\n1\n");
}

#[test]
fn a_longest_symlink_in_a_shadowed_directory_is_copied_whole() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    let text = format!("/{}", "a".repeat(libc::PATH_MAX as usize - 2));
    symlink(&text, rootfs.path().join("long")).unwrap();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .command("/bin/sh")
        .args(["-c", "readlink /long | wc -c"])
        .output()
        .unwrap();
    // The bare rootfs' top is shadowed (no /proc of its own): the link is copied.
    assert_eq!(stdout_of(&out).trim(), (text.len() + 1).to_string());
}

#[test]
fn a_directory_too_large_to_shadow_is_refused_naming_it() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = busybox_rootfs();
    let etc = rootfs.path().join("etc");
    fs::create_dir(&etc).unwrap();
    for i in 0..10_001 {
        fs::write(etc.join(format!("f{i}")), "").unwrap();
    }
    let e = common::setup_failure_of(
        Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .mount(Mount::tmpfs("/etc/new"))
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::Mount, Errno::E2BIG), "{e}");
    assert_eq!(e.path.as_deref(), Some(Path::new("/etc")), "{e}");
}

#[test]
fn a_target_reaching_a_hidden_path_through_a_symlink_is_made_in_its_cover() {
    if !common::root() {
        return;
    }
    // Under /var/tmp: on the host root, /tmp is the container's own (never hidden).
    let base = tempfile::Builder::new()
        .prefix("nsbox-hidden-")
        .tempdir_in("/var/tmp")
        .unwrap();
    fs::create_dir(base.path().join("hid")).unwrap();
    fs::write(base.path().join("hid/secret"), "secret").unwrap();
    symlink(base.path().join("hid/app"), base.path().join("link")).unwrap();
    let source = source_dir();
    let out = Container::builder()
        .hide_host_paths([base.path().join("hid")])
        .mount(Mount::bind(source.path(), base.path().join("link")).read_only())
        .command("/bin/sh")
        .args(["-c", &format!("cat {0}/link/hello; ls {0}/hid", base.path().display())])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "from the source\napp\n");
    assert_eq!(
        fs::read_dir(base.path().join("hid")).unwrap().count(),
        1,
        "made on the host"
    );
}
