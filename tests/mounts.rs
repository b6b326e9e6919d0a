//! The container's filesystem: the caller's mounts, the default ones, and what stays hidden or
//! read-only.

mod common;

use std::fs;
use std::path::Path;

use common::{sh, sh_ok, stdout_of, unique};
use nsbox::{Container, Mount, Namespaces, Rootfs};

/// Docker's masked paths, as the crate masks them.
const MASKED: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

fn sh_with(mount: Mount, script: &str) -> nsbox::Output {
    Container::builder()
        .mount(mount)
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .expect("spawn")
}

fn stderr_of(out: &nsbox::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bind_mount_read_write_shows_writes_on_the_host() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("from-host"), "host\n").unwrap();
    let out = sh_with(
        Mount::bind(dir.path(), "/data"),
        "cat /data/from-host; echo inside > /data/from-container",
    );
    assert_eq!(stdout_of(&out), "host\n");
    assert_eq!(
        fs::read_to_string(dir.path().join("from-container")).unwrap(),
        "inside\n"
    );
}

#[test]
fn bind_mount_read_only_rejects_writes() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("from-host"), "host\n").unwrap();
    let out = sh_with(
        Mount::bind(dir.path(), "/data").read_only(),
        "cat /data/from-host; echo x > /data/new",
    );
    assert!(!out.status.success(), "the write must fail");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "host\n", "reading works");
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "stderr: {}",
        stderr_of(&out)
    );
    assert!(!dir.path().join("new").exists());
}

#[test]
fn single_file_bind_mount_shows_the_file() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config");
    fs::write(&file, "from the host\n").unwrap();
    // Over an existing file of the read-only host root, and at a new top-level path.
    let out = Container::builder()
        .mount(Mount::bind(&file, "/etc/hostname").read_only())
        .mount(Mount::bind(&file, "/nsbox-config"))
        .command("/bin/sh")
        .args([
            "-c",
            "cat /etc/hostname; test -f /nsbox-config && echo file; echo changed > /nsbox-config",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "from the host\nfile\n");
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        "changed\n",
        "a writable file bind writes through"
    );
}

#[test]
fn tmpfs_is_writable_and_its_size_is_enforced() {
    if !common::root() {
        return;
    }
    let script = "dd if=/dev/zero of=/scratch/small bs=1024 count=512 2>/dev/null && echo small-ok; \
                  rm /scratch/small; dd if=/dev/zero of=/scratch/big bs=1024 count=2048";
    let out = sh_with(Mount::tmpfs("/scratch").size(1 << 20), script);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "small-ok\n");
    assert!(!out.status.success(), "writing 2 MiB into a 1 MiB tmpfs must fail");
    assert!(
        stderr_of(&out).contains("No space left on device"),
        "stderr: {}",
        stderr_of(&out)
    );
}

#[test]
fn proc_mount_shows_the_containers_pid_namespace() {
    if !common::root() {
        return;
    }
    let out = sh_with(
        Mount::proc("/proc2"),
        "for p in /proc2/[0-9]*; do echo ${p#/proc2/}; done; readlink /proc2/self/ns/pid /proc/self/ns/pid",
    );
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(&lines[..2], ["1", "2"], "{text}");
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[2], lines[3], "/proc2 shows the same PID namespace as /proc");
}

#[test]
fn host_tmp_and_run_contents_are_invisible() {
    if !common::root() {
        return;
    }
    let in_tmp = tempfile::Builder::new()
        .prefix("nsbox-hidden-")
        .tempfile_in("/tmp")
        .unwrap();
    let in_run = tempfile::Builder::new()
        .prefix("nsbox-hidden-")
        .tempfile_in("/run")
        .unwrap();
    let (tmp_path, run_path) = (in_tmp.path().display().to_string(), in_run.path().display().to_string());
    let script = format!(
        "test -e {tmp_path} && echo tmp-visible; test -e {run_path} && echo run-visible; ls -A /tmp | wc -l; \
         echo made > /tmp/made-inside && cat /tmp/made-inside"
    );
    assert_eq!(
        sh_ok(&script),
        "0\nmade\n",
        "fresh, empty, writable /tmp; nothing of the host's"
    );
    assert!(
        !Path::new("/tmp/made-inside").exists(),
        "the container's /tmp is not the host's"
    );
}

#[test]
fn root_filesystem_is_read_only() {
    if !common::root() {
        return;
    }
    let name = unique("nsbox-probe");
    let out = sh(&format!("touch /usr/{name}; touch /{name}"));
    let host_file = Path::new("/usr").join(&name);
    let leaked = host_file.exists();
    let _ = fs::remove_file(&host_file);
    assert!(!leaked, "the payload wrote into the host's /usr");
    let stderr = stderr_of(&out);
    assert_eq!(
        stderr.matches("Read-only file system").count(),
        2,
        "both writes fail read-only: {stderr}"
    );
}

#[test]
fn fresh_dev_has_exactly_the_standard_entries() {
    if !common::root() {
        return;
    }
    let out = sh_ok(
        "ls -A /dev; echo --; echo x > /dev/null && wc -c < /dev/null; stat -c %t:%T /dev/null; head -c 4 /dev/zero | wc -c",
    );
    let (listing, checks) = out.split_once("--\n").unwrap();
    let mut entries: Vec<&str> = listing.lines().collect();
    entries.sort_unstable();
    let mut expected = [
        "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue", "fd", "stdin", "stdout",
        "stderr",
    ];
    expected.sort_unstable();
    assert_eq!(entries, expected);
    assert_eq!(
        checks, "0\n1:3\n4\n",
        "/dev/null swallows and reads empty; /dev/zero reads zeros"
    );
}

#[test]
fn sys_is_read_only() {
    if !common::root() {
        return;
    }
    let out = sh("grep ' /sys ' /proc/self/mountinfo; touch /sys/nsbox-probe");
    let mountinfo = String::from_utf8_lossy(&out.stdout).into_owned();
    let options = common::mount_options(&mountinfo, "/sys").expect("/sys is a mount");
    assert!(options.split(',').any(|o| o == "ro"), "/sys options {options}");
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "stderr: {}",
        stderr_of(&out)
    );
}

#[test]
fn masked_paths_read_empty() {
    if !common::root() {
        return;
    }
    if !Path::new("/proc/kcore").exists() {
        eprintln!("note: this kernel has no /proc/kcore; checking the masked paths it has");
    }
    let present: Vec<&str> = MASKED.into_iter().filter(|p| Path::new(p).exists()).collect();
    assert!(!present.is_empty(), "at least one masked path exists on this host");
    let script: String = present
        .iter()
        .map(|p| format!("if [ -d {p} ]; then echo {p} $(ls -A {p} | wc -l); else echo {p} $(cat {p} | wc -c); fi;"))
        .collect();
    let out = sh_ok(&script);
    for line in out.lines() {
        let (path, size) = line.rsplit_once(' ').unwrap();
        assert_eq!(size, "0", "{path} is not empty inside");
    }
    assert_eq!(out.lines().count(), present.len());
    // On the host some of them have content, so "empty" is the mask's doing.
    let host_has_content = present.iter().any(|p| match fs::read_dir(p) {
        Ok(dir) => dir.count() > 0,
        Err(_) => fs::read(p).is_ok_and(|b| !b.is_empty()),
    });
    assert!(host_has_content, "none of {present:?} has content on the host either");
}

#[test]
fn read_only_paths_reject_writes() {
    if !common::root() {
        return;
    }
    // The container has its own UTS namespace: even a successful write would not reach the host.
    let out = sh("cat /proc/self/mountinfo; echo nsbox-x > /proc/sys/kernel/hostname");
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "stderr: {}",
        stderr_of(&out)
    );
    let mountinfo = String::from_utf8_lossy(&out.stdout).into_owned();
    for path in ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"] {
        if !Path::new(path).exists() {
            continue;
        }
        let options = common::mount_options(&mountinfo, path).unwrap_or_else(|| panic!("{path} is not a mount"));
        assert!(options.split(',').any(|o| o == "ro"), "{path} options {options}");
    }
}

#[test]
fn busybox_rootfs_runs_busybox_read_only() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .command("/bin/sh")
        .args(["-c", "readlink /proc/self/exe; ls /; touch /written"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("/bin/busybox"), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == "bin") && !stdout.lines().any(|l| l == "usr" || l == "work"),
        "{stdout}"
    );
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "stderr: {}",
        stderr_of(&out)
    );
    assert!(!rootfs.path().join("written").exists());
}

#[test]
fn busybox_rootfs_with_writable_root_lets_the_payload_write() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .read_only_root(false)
        .command("/bin/sh")
        .args(["-c", "echo hi > /written"])
        .output()
        .unwrap();
    stdout_of(&out);
    assert_eq!(fs::read_to_string(rootfs.path().join("written")).unwrap(), "hi\n");
}

#[test]
fn tmpfs_mode_and_read_only_are_applied() {
    if !common::root() {
        return;
    }
    let out = Container::builder()
        .mount(Mount::tmpfs("/private").mode(0o700))
        .mount(Mount::tmpfs("/frozen").read_only())
        .command("/bin/sh")
        .args(["-c", "stat -c %a /private; touch /frozen/x"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "700\n");
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "stderr: {}",
        stderr_of(&out)
    );
}

#[test]
fn mount_targets_in_the_fresh_tmp_run_and_dev_are_created() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), "bound\n").unwrap();
    let out = Container::builder()
        .mount(Mount::bind(dir.path(), "/tmp/nsbox/data"))
        .mount(Mount::tmpfs("/run/nsbox"))
        .mount(Mount::bind(dir.path().join("f"), "/dev/nsbox-f"))
        .command("/bin/sh")
        .args([
            "-c",
            "cat /tmp/nsbox/data/f /dev/nsbox-f; touch /run/nsbox/ok && echo run-ok",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "bound\nbound\nrun-ok\n");
}

#[test]
fn bind_mount_is_recursive_and_read_only_reaches_submounts() {
    if !common::root() {
        return;
    }
    let host_mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let points = common::mount_points(&host_mounts);
    if !require_submounts(&points) {
        return;
    }
    let probe = unique("nsbox-probe");
    let script = format!("ls /hostdev/pts | grep -c ptmx; touch /hostdev/shm/{probe}");
    let out = sh_with(Mount::bind("/dev", "/hostdev").read_only(), &script);
    let leaked = Path::new("/dev/shm").join(&probe);
    let wrote = leaked.exists();
    let _ = fs::remove_file(&leaked);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1\n",
        "the host's /dev/pts submount is bound too"
    );
    assert!(!wrote, "wrote into the host's /dev/shm through a read-only bind");
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "stderr: {}",
        stderr_of(&out)
    );
    // Non-recursive: the submount's mount point is an empty directory. Not in a user namespace:
    // there the kernel refuses (EINVAL) to bind a mount without its locked submounts.
    let out = Container::builder()
        .namespaces(Namespaces::all() - Namespaces::USER)
        .mount(Mount::bind("/dev", "/hostdev").non_recursive())
        .command("/bin/sh")
        .args(["-c", "ls -A /hostdev/pts | wc -l"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "0\n");
}

fn require_submounts(points: &[std::path::PathBuf]) -> bool {
    let has = |p: &str| points.iter().any(|m| m == Path::new(p));
    common::require(
        "/dev/pts and /dev/shm mounted on the host",
        has("/dev/pts") && has("/dev/shm"),
    )
}
