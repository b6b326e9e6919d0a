//! The path-safety tests again on a "kernel" without openat2 (before Linux 5.6, or under a
//! seccomp policy that hides it): a thread whose own seccomp filter answers ENOSYS to openat2
//! spawns the containers, whose setup processes inherit the filter. The fallback walks one
//! component at a time and refuses every symlink (ELOOP): stricter than RESOLVE_IN_ROOT.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::stdout_of;
use nsbox::{Container, Errno, Mount, Rootfs, SetupStep};

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Sets no_new_privs on the calling thread and loads a filter that fails openat2 with
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

fn openat2_errno() -> Option<i32> {
    // SAFETY: open_how is plain data; all zero is valid.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_PATH | libc::O_CLOEXEC) as u64;
    // SAFETY: a valid path and open_how of the size passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            c"/".as_ptr(),
            &how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd >= 0 {
        // SAFETY: the fd was just opened here.
        unsafe { libc::close(fd as i32) };
        return None;
    }
    std::io::Error::last_os_error().raw_os_error()
}

/// Runs `check` on a fresh thread without openat2, after proving openat2 is gone there (and
/// only there), so that no test here passes because openat2 quietly worked.
fn without_openat2(check: impl FnOnce() + Send + 'static) {
    assert_eq!(openat2_errno(), None, "openat2 works on the test's own thread");
    let thread = std::thread::spawn(move || {
        hide_openat2_from_this_thread();
        assert_eq!(openat2_errno(), Some(libc::ENOSYS), "openat2 is hidden");
        assert!(!nsbox::preflight().syscalls.openat2, "preflight sees no openat2");
        check();
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
    assert_eq!(openat2_errno(), None, "the filter stayed on its thread");
}

#[test]
fn without_openat2_plain_mount_targets_work() {
    if !common::root_and_busybox() {
        return;
    }
    without_openat2(|| {
        let rootfs = common::busybox_rootfs();
        let source = tempfile::tempdir().unwrap();
        fs::write(source.path().join("file"), "from the host\n").unwrap();
        let out = Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .mount(Mount::tmpfs("/scratch/a/b"))
            .mount(Mount::bind(source.path(), "/data"))
            .command("/bin/sh")
            .args(["-c", "cat /data/file; grep -c ' /scratch/a/b ' /proc/self/mountinfo"])
            .output()
            .unwrap();
        assert_eq!(stdout_of(&out), "from the host\n1\n");
        // The host root, whose top-level symlinks (/bin -> usr/bin) are recreated, not walked.
        let out = Container::builder()
            .mount(Mount::tmpfs("/tmp/x/y"))
            .command("/bin/true")
            .output()
            .unwrap();
        stdout_of(&out);
    });
}

/// The plan follows a target's symlinks inside the root and hands the child a path without
/// any, so they work without openat2 too; the child's walk still refuses a symlink it meets
/// (a tree changed after planning), and nothing is made through one.
#[test]
fn without_openat2_mount_targets_through_symlinks_resolve_inside_the_root() {
    if !common::root_and_busybox() {
        return;
    }
    without_openat2(|| {
        let rootfs = common::busybox_rootfs();
        let host = tempfile::tempdir().unwrap();
        symlink("bin", rootfs.path().join("inside")).unwrap();
        symlink(host.path(), rootfs.path().join("escape")).unwrap();
        let source = tempfile::tempdir().unwrap();
        fs::write(source.path().join("file"), "from the host\n").unwrap();
        let (inside, escape) = (
            "/bin/x",
            Path::new("/").join(host.path().strip_prefix("/").unwrap()).join("x/y"),
        );
        let script = format!(
            "grep -c -e ' {inside} ' -e ' {} ' /proc/self/mountinfo; cat /inside/x/file",
            escape.display()
        );
        let out = Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .mount(Mount::bind(source.path(), "/inside/x"))
            .mount(Mount::tmpfs("/escape/x/y"))
            .command("/bin/sh")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert_eq!(stdout_of(&out), "2\nfrom the host\n");
        assert!(!rootfs.path().join("bin/x").exists(), "created in the rootfs directory");
        assert_eq!(fs::read_dir(host.path()).unwrap().count(), 0, "created on the host");
    });
}

#[test]
fn without_openat2_symlinked_proc_is_refused() {
    if !common::root_and_busybox() {
        return;
    }
    without_openat2(|| {
        let rootfs = common::busybox_rootfs();
        let decoy = tempfile::tempdir().unwrap();
        symlink(decoy.path(), rootfs.path().join("proc")).unwrap();
        let e = common::setup_failure_of(
            Container::builder()
                .rootfs(Rootfs::dir(rootfs.path()))
                .command("/bin/true")
                .output(),
        );
        assert_eq!(
            fs::read_dir(decoy.path()).unwrap().count(),
            0,
            "something landed in the decoy"
        );
        assert_eq!(e.path.as_deref(), Some(Path::new("/proc")), "{e}");
        assert_eq!((e.step, e.errno), (SetupStep::Mount, Errno::ELOOP), "{e}");
    });
}

#[test]
fn without_openat2_no_follow_bind_sources_refuse_every_symlink() {
    if !common::root() {
        return;
    }
    without_openat2(|| {
        let volume = tempfile::tempdir().unwrap();
        fs::create_dir_all(volume.path().join("real/inner")).unwrap();
        fs::write(volume.path().join("real/inner/file"), "plain\n").unwrap();
        symlink("real", volume.path().join("link")).unwrap();
        let bind = |source: &Path| {
            Container::builder()
                .mount(Mount::bind(source, "/data").no_follow())
                .command("/bin/cat")
                .arg("/data/file")
                .output()
        };
        // A plain path still works: the walk opens each component.
        assert_eq!(stdout_of(&bind(&volume.path().join("real/inner")).unwrap()), "plain\n");
        for source in [volume.path().join("link"), volume.path().join("link/inner")] {
            let e = common::setup_failure_of(bind(&source));
            assert_eq!((e.step, e.errno), (SetupStep::BindMount, Errno::ELOOP), "{e}");
            assert_eq!(e.path.as_deref(), Some(source.as_path()), "{e}");
        }
    });
}
