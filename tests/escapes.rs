//! Regression tests for known container-escape classes: a rootfs that points outside itself
//! through symlinks (mount targets, /proc, /sys, /dev, /dev/null), a working directory reached
//! through a setup fd (runc's CVE-2024-21626), and fds passed on to the payload. The
//! /proc/self/exe class is in proc_self_exe.rs; capabilities, seccomp and setuid binaries in
//! privileges.rs and seccomp.rs; what of the host stays visible in host_view.rs.

mod common;

use std::collections::BTreeSet;
use std::ffi::CStr;
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{stdout_of, unique};
use nsbox::{Container, Errno, Mount, Namespaces, Rootfs, SetupStep};

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
        .command("/bin/sh")
        .args(["-c", &format!("grep -c -e ' /tmp/{a} ' /proc/self/mountinfo")])
        .output()
        .unwrap();
    // One that climbs above the root is refused, naming the target.
    let up = format!("/up/{b}");
    let refused = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::tmpfs(&up))
        .command("/bin/true")
        .status()
        .unwrap_err();
    let (host_a, host_b) = (Path::new("/tmp").join(&a), Path::new("/tmp").join(&b));
    let escaped = [host_a.exists(), host_b.exists()];
    let _ = (fs::remove_dir(&host_a), fs::remove_dir(&host_b));
    assert_eq!(escaped, [false, false], "a mount point was created on the host");
    assert_eq!(stdout_of(&out), "1\n", "the tmpfs is mounted at the rootfs' /tmp");
    assert!(
        !rootfs.path().join("tmp").exists(),
        "the mount point was made in the rootfs directory"
    );
    let setup = refused.as_setup().expect("a setup error");
    assert_eq!((setup.step, setup.errno), (SetupStep::Mount, Errno::ELOOP), "{refused}");
    assert!(refused.to_string().contains(&up), "{refused}");
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

/// Opens `path` the way a careless caller does: without O_CLOEXEC.
fn open_inheritable(path: &CStr, flags: libc::c_int) -> OwnedFd {
    // SAFETY: a NUL-terminated path; a non-negative result is a new fd nothing else owns.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    assert!(fd >= 0, "open {path:?}");
    // SAFETY: as above.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn is_inheritable(fd: &OwnedFd) -> bool {
    // SAFETY: F_GETFD on an fd we own.
    unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) & libc::FD_CLOEXEC == 0 }
}

#[test]
fn host_fds_without_cloexec_do_not_reach_the_payload() {
    if !common::root() {
        return;
    }
    // A directory fd is what CVE-2024-21626 used; a dup (never close-on-exec) and a plain file.
    let dir = open_inheritable(c"/", libc::O_RDONLY | libc::O_DIRECTORY);
    let file = open_inheritable(c"/etc/passwd", libc::O_RDONLY);
    // SAFETY: dup of an fd we own.
    let raw = unsafe { libc::dup(dir.as_raw_fd()) };
    assert!(raw >= 0, "dup");
    // SAFETY: the copy is a new fd nothing else owns.
    let dup = unsafe { OwnedFd::from_raw_fd(raw) };
    assert!(
        [&dir, &file, &dup].iter().all(|fd| is_inheritable(fd)),
        "the test's fds must be inheritable for the test to mean anything"
    );
    for namespaces in [Namespaces::all(), Namespaces::empty()] {
        // ls opens /proc/self/fd itself, as the one fd beyond 0, 1 and 2.
        let out = Container::builder()
            .namespaces(namespaces)
            .command("/bin/ls")
            .args(["-l", "/proc/self/fd"])
            .output()
            .unwrap();
        let text = stdout_of(&out);
        let fds: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.split_once(" -> "))
            .map(|(head, target)| (head.rsplit(' ').next().unwrap_or(""), target))
            .collect();
        let numbers: BTreeSet<&str> = fds.iter().map(|(n, _)| *n).collect();
        let extra: Vec<_> = fds.iter().filter(|(n, _)| !["0", "1", "2"].contains(n)).collect();
        assert!(
            extra.len() <= 1 && extra.iter().all(|(_, target)| target.ends_with("/fd")),
            "{namespaces:?}: fds beyond stdio and ls' own: {extra:?} (all: {numbers:?})"
        );
    }
    drop((dir, file, dup));
}

#[test]
fn bind_mount_target_symlinked_out_of_the_rootfs_lands_inside() {
    if !common::root_and_busybox() {
        return;
    }
    // A host directory with `a` and `b`; the rootfs has the same path, empty, and symlinks to
    // it: absolute, and climbing past its root. Followed on the host, the binds would land in
    // the host directory; resolved in the rootfs, they land in the rootfs' copy.
    let host = tempfile::tempdir().unwrap();
    for sub in ["a", "b"] {
        fs::create_dir(host.path().join(sub)).unwrap();
    }
    fs::write(host.path().join("marker"), "host").unwrap();
    let rootfs = common::busybox_rootfs();
    let inside = rootfs.path().join(host.path().strip_prefix("/").unwrap());
    fs::create_dir_all(inside.join("a")).unwrap();
    fs::create_dir_all(inside.join("b")).unwrap();
    symlink(host.path().join("a"), rootfs.path().join("abs")).unwrap();
    let climb = format!("../../../../../../../..{}/b", host.path().display());
    symlink(climb, rootfs.path().join("up")).unwrap();
    symlink(host.path().join("b"), rootfs.path().join("abs2")).unwrap();
    symlink(host.path().join("victim"), rootfs.path().join("file-link")).unwrap();
    let source = tempfile::tempdir().unwrap();
    fs::write(source.path().join("from-source"), "source\n").unwrap();

    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::bind(source.path(), "/abs"))
        .mount(Mount::bind(source.path(), "/abs2/sub"))
        .command("/bin/sh")
        .args([
            "-c",
            &format!(
                "cat /abs/from-source /abs2/sub/from-source; ls {}",
                host.path().display()
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        "source\nsource\na\nb\n",
        "both binds land in the rootfs"
    );
    assert!(
        !inside.join("b/sub").exists(),
        "the mount point was made in the rootfs directory"
    );
    // Through a symlink climbing above the root: refused, naming the target.
    let refused = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::bind(source.path(), "/up/sub"))
        .command("/bin/true")
        .status()
        .unwrap_err();
    let setup = refused.as_setup().expect("a setup error");
    assert_eq!(
        (setup.step, setup.errno),
        (SetupStep::BindMount, Errno::ELOOP),
        "{refused}"
    );
    assert_eq!(setup.path.as_deref(), Some(Path::new("/up/sub")), "{refused}");

    // A file bind onto a dangling symlink to a host path: made inside, or refused.
    let result = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .mount(Mount::bind(source.path().join("from-source"), "/file-link"))
        .command("/bin/cat")
        .arg("/file-link")
        .output();
    match &result {
        Ok(out) => assert_eq!(stdout_of(out), "source\n"),
        Err(e) => assert_eq!(e.as_setup().map(|s| s.step), Some(SetupStep::BindMount), "{e}"),
    }
    let host_entries: BTreeSet<_> = fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        host_entries,
        ["a", "b", "marker"].map(Into::into).into(),
        "host directory changed"
    );
    for sub in ["a", "b"] {
        assert_eq!(
            fs::read_dir(host.path().join(sub)).unwrap().count(),
            0,
            "host {sub} changed"
        );
    }
}

#[test]
fn mount_point_mkdir_through_symlinked_parent_creates_nothing_on_the_host() {
    if !common::root_and_busybox() {
        return;
    }
    // runc's CVE-2024-45310: mkdir -p of a mount point through a symlinked parent. The host
    // directory exists, so a walk that followed the symlinks on the host would create there.
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("marker"), "host").unwrap();
    let rootfs = common::busybox_rootfs();
    symlink(host.path(), rootfs.path().join("hostlink")).unwrap();
    symlink("/", rootfs.path().join("rootlink")).unwrap();
    let source = tempfile::tempdir().unwrap();
    let builder = || {
        let mut b = Container::builder();
        b.rootfs(Rootfs::dir(rootfs.path())).command("/bin/true");
        b
    };
    // The symlink dangles inside the rootfs: nothing to create through it.
    for mount in [
        Mount::tmpfs("/hostlink/x/y/z"),
        Mount::bind(source.path(), "/hostlink/x/y/z"),
    ] {
        let result = builder().mount(mount.clone()).status();
        if let Err(e) = &result {
            let step = e.as_setup().map(|s| s.step);
            assert!(
                matches!(step, Some(SetupStep::Mount | SetupStep::BindMount)),
                "{mount:?}: {e}"
            );
        }
    }
    // Through `/` of the rootfs: the directories are made inside the container's root...
    let via_root = Path::new("/rootlink").join(host.path().strip_prefix("/").unwrap());
    let status = builder()
        .mount(Mount::tmpfs(via_root.join("p/q")))
        .mount(Mount::bind(source.path(), via_root.join("r/s")))
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
    // ... in a shadow: not in the rootfs directory either.
    let inside = rootfs.path().join(host.path().strip_prefix("/").unwrap());
    assert!(!inside.exists(), "made in the rootfs directory");
    let host_entries: Vec<_> = fs::read_dir(host.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(host_entries, ["marker"], "something was created in the host directory");
    assert_eq!(
        fs::read_dir(source.path()).unwrap().count(),
        0,
        "something was created in the bind source"
    );
}

#[test]
fn masked_paths_stay_the_null_device_when_the_rootfs_forges_dev_null() {
    if !common::root_and_busybox() {
        return;
    }
    // CVE-2025-31133: masking binds /dev/null over the masked paths; a rootfs whose /dev/null
    // is a file, or a symlink to a host file, would turn them into writable files.
    let host = tempfile::tempdir().unwrap();
    let victim = host.path().join("victim");
    fs::write(&victim, "untouched").unwrap();
    let script = "for p in /dev/null /proc/kcore /proc/keys /proc/timer_list /proc/interrupts \
                  /proc/sched_debug /proc/latency_stats /proc/timer_stats; do \
                  if [ -e $p ] && [ ! -d $p ]; then echo \"$p $(stat -c '%F %t:%T' $p)\"; echo pwned > $p; fi; done";
    for forged in ["regular file", "symlink to a host file"] {
        let rootfs = common::busybox_rootfs();
        let dev = rootfs.path().join("dev");
        fs::create_dir(&dev).unwrap();
        match forged {
            "regular file" => fs::write(dev.join("null"), "decoy").unwrap(),
            _ => symlink(&victim, dev.join("null")).unwrap(),
        }
        let out = Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .command("/bin/sh")
            .args(["-c", script])
            .output()
            .unwrap();
        let text = stdout_of(&out);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.len() >= 2,
            "{forged}: /dev/null and a masked file expected: {text}"
        );
        for line in &lines {
            assert!(line.ends_with(" character special file 1:3"), "{forged}: {line}");
        }
        if forged == "regular file" {
            assert_eq!(fs::read_to_string(dev.join("null")).unwrap(), "decoy", "{forged}");
        }
        assert_eq!(
            fs::read_to_string(&victim).unwrap(),
            "untouched",
            "{forged}: host file written"
        );
    }
}

/// A container root with power over host root's inodes (this host's default: no /etc/subuid,
/// root mapped to root) cannot chmod or chown the host's device nodes bound into its /dev, its
/// masked paths (binds of /dev/null) or its `Stdio::null()` streams through /proc/self/fd:
/// each is on a read-only mount. The devices still work.
#[test]
fn the_container_cannot_change_the_hosts_device_nodes() {
    if !common::root() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    // Mode, owners and change time of each host node.
    let nodes = || -> Vec<_> {
        [
            "/dev/null",
            "/dev/zero",
            "/dev/full",
            "/dev/random",
            "/dev/urandom",
            "/dev/tty",
        ]
        .iter()
        .map(|p| {
            fs::metadata(p)
                .map(|m| (m.mode(), m.uid(), m.gid(), m.ctime(), m.ctime_nsec()))
                .ok()
        })
        .collect()
    };
    let before = nodes();
    // Harmless if it ever succeeded (the same mode and owners: only the ctime tells); a
    // regression must not wreck this host's /dev.
    let script = "for d in null zero full random urandom; do \
                    chmod 666 /dev/$d 2>/dev/null && echo chmod-$d; chown 0:0 /dev/$d 2>/dev/null && echo chown-$d; \
                  done; \
                  chmod 666 /dev/tty 2>/dev/null && echo chmod-tty; chown 0:5 /dev/tty 2>/dev/null && echo chown-tty; \
                  chmod 666 /proc/self/fd/0 2>/dev/null && echo chmod-stdin; \
                  chmod 666 /proc/keys 2>/dev/null && echo chmod-mask; \
                  echo x > /dev/null && head -c 3 /dev/zero | wc -c";
    let out = Container::builder()
        .command("/bin/sh")
        .args(["-c", script])
        .stdin(nsbox::Stdio::null())
        .stdout(nsbox::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out).trim(), "3", "the container changed a host node");
    assert_eq!(before, nodes(), "a host device node changed");
}
