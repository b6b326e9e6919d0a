//! Resource limits, accounting and pause/resume through the container's cgroup, against the
//! real kernel. Runs on this machine's hybrid layout (under scripts/test, without the v1 memory
//! hierarchy) and in the pure cgroup v2 VM (.ci/run does both). Tests that need the memory
//! controller check the clear refusal where it is not available, and the OOM kill where it is;
//! `NSBOX_EXPECT_MEMORY=1` (set in the VM) makes its absence a failure.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{root, wait_until, world_writable_dir};
use nsbox::{CgroupError, Container, Controller, Error, IoDeviceLimit, IoLimitKind, Mount, Namespaces, Signal, Stdio};

fn memory_available() -> bool {
    let usable = nsbox::preflight().can_use(Controller::Memory);
    if std::env::var_os("NSBOX_EXPECT_MEMORY").is_some_and(|v| v == "1") {
        assert!(
            usable,
            "NSBOX_EXPECT_MEMORY=1 but the memory controller is not usable: {:?}",
            nsbox::preflight()
        );
    }
    usable
}

fn host_cgroup_of(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

#[test]
fn memory_limit_oom_kills_inside_the_container_only() {
    if !root() {
        return;
    }
    let mut builder = Container::builder();
    builder
        .memory_limit(32 << 20)
        .memory_swap_limit(0)
        .command("/bin/sh")
        .args(["-c", "dd if=/dev/zero of=/dev/null bs=128M count=1"])
        .stderr(Stdio::null());
    if !memory_available() {
        let err = builder.spawn().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Cgroup(CgroupError::Unavailable {
                    controller: Controller::Memory,
                    ..
                })
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("memory controller not available"), "{err}");
        return;
    }
    let status = builder.status().expect("spawn");
    assert!(status.oom_killed(), "expected an OOM kill, got {status}");
    assert!(!status.success());
    // The host side (this test process) is untouched and spawns again.
    assert!(Container::builder().command("/bin/true").status().unwrap().success());
}

#[test]
fn fork_bomb_stops_at_pids_limit() {
    if !root() {
        return;
    }
    // Without a PID namespace the background processes outlive the shell (which gives up at
    // the first failed fork) in the container's cgroup, where the last stats count them.
    let script = "i=0; while [ $i -lt 60 ]; do sleep 30 & i=$((i+1)); done";
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr");
    let mut c = Container::builder()
        .namespaces(Namespaces::all() - Namespaces::PID)
        .pids_limit(16)
        .command("/bin/sh")
        .args(["-c", script])
        // A file, not a pipe: the background sleeps inherit stderr and hold a pipe open.
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    assert!(!c.wait().unwrap().success());
    let errors = fs::read_to_string(&log).unwrap();
    assert!(
        errors.to_lowercase().contains("fork"),
        "no fork failure reported: {errors:?}"
    );
    let running = c.stats().unwrap().pids_current.expect("pids accounting");
    assert!(
        (8..=16).contains(&running),
        "{running} processes with pids_limit(16); stderr: {errors}"
    );
    // The test process keeps working.
    assert!(Container::builder().command("/bin/true").status().unwrap().success());
}

#[test]
fn cpu_limit_half_a_cpu_gets_about_half() {
    if !root() {
        return;
    }
    let mut c = Container::builder()
        .cpu_limit(0.5)
        .command("/bin/sh")
        .args(["-c", "timeout 2 sh -c 'while :; do :; done'; true"])
        .spawn()
        .unwrap();
    assert!(c.wait().unwrap().success());
    let used = c.stats().unwrap().cpu_total.expect("cpu accounting");
    // Unlimited, the loop would use ~2 s of CPU; at half a CPU ~1 s. Generous bounds.
    assert!(used > Duration::from_millis(300), "used only {used:?}");
    assert!(
        used < Duration::from_millis(1500),
        "used {used:?} of CPU in 2 s at cpu_limit(0.5)"
    );
}

#[test]
fn cpuset_cpus_shows_in_proc_status() {
    if !root() {
        return;
    }
    let out = Container::builder()
        .cpuset_cpus("0")
        .command("/bin/sh")
        .args(["-c", "grep Cpus_allowed_list /proc/self/status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.split_whitespace().nth(1), Some("0"), "{text}");
}

#[test]
fn pause_stops_progress_and_resume_continues_it() {
    if !root() {
        return;
    }
    let dir = world_writable_dir();
    let count = dir.path().join("count");
    let mut c = Container::builder()
        .cgroup()
        .mount(Mount::bind(dir.path(), "/out"))
        .command("/bin/sh")
        .args([
            "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /out/count; sleep 0.02; done",
        ])
        .spawn()
        .unwrap();
    let read = || {
        fs::read_to_string(&count)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    wait_until("the counter to start", Duration::from_secs(30), || read() > 3);
    c.pause().unwrap();
    let frozen_at = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), frozen_at, "the counter advanced while paused");
    c.resume().unwrap();
    wait_until("the counter to advance after resume", Duration::from_secs(30), || {
        read() > frozen_at + 2
    });
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn stats_are_non_zero_and_plausible() {
    if !root() {
        return;
    }
    let mut c = Container::builder()
        .cgroup()
        .command("/bin/sh")
        .args(["-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 30"])
        .spawn()
        .unwrap();
    wait_until("some CPU use", Duration::from_secs(60), || {
        c.stats()
            .unwrap()
            .cpu_total
            .is_some_and(|t| t > Duration::from_millis(10))
    });
    let s = c.stats().unwrap();
    assert!(s.pids_current.is_some_and(|p| (1..=8).contains(&p)), "{s:?}");
    assert!(s.cpu_user.is_some() && s.cpu_system.is_some(), "{s:?}");
    if memory_available() {
        assert!(s.memory_current.is_some_and(|m| m > 0 && m < 1 << 30), "{s:?}");
    }
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    let last = c.stats().unwrap();
    assert!(
        last.cpu_total >= s.cpu_total,
        "final stats go back in time: {last:?} < {s:?}"
    );
}

#[test]
fn stats_and_pause_need_a_cgroup() {
    if !root() {
        return;
    }
    let mut c = Container::builder().command("/bin/sleep").arg("30").spawn().unwrap();
    assert!(c.stats().is_err());
    assert!(c.pause().is_err());
    // Without limits nor .cgroup(), the container stays in the caller's cgroups.
    let ours: Vec<String> = host_cgroup_of(std::process::id()).lines().map(str::to_owned).collect();
    let theirs: Vec<String> = host_cgroup_of(c.pid()).lines().map(str::to_owned).collect();
    assert_eq!(ours, theirs);
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn container_is_in_its_own_cgroup_and_namespace_root() {
    if !root() {
        return;
    }
    let mut c = Container::builder()
        .pids_limit(32)
        .command("/bin/sh")
        .args(["-c", "cat /proc/self/cgroup; sleep 30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let outside = host_cgroup_of(c.pid());
    let name = format!("nsbox-{}", c.id());
    assert!(outside.lines().any(|l| l.ends_with(&name)), "{outside}");
    let mut inside = String::new();
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(c.take_stdout().unwrap());
    while reader.read_line(&mut inside).unwrap() > 0 && !inside.contains("pids:") && !inside.contains("0::") {}
    // Inside the cgroup namespace the container's own cgroup is the root.
    let pids_line = inside
        .lines()
        .find(|l| l.contains(":pids:") || l.starts_with("0::"))
        .unwrap_or_default()
        .to_string();
    assert!(pids_line.ends_with(":/"), "{inside}");
    drop(c);
}

#[test]
fn cgroup_parent_places_the_cgroup() {
    if !root() {
        return;
    }
    let parent = format!("nsbox-test-parent-{}", std::process::id());
    let mut c = Container::builder()
        .cgroup_parent(&parent)
        .pids_limit(8)
        .command("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let outside = host_cgroup_of(c.pid());
    assert!(outside.contains(&format!("{parent}/nsbox-{}", c.id())), "{outside}");
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    // The parent is left in place (it may be shared); remove it here.
    for dir in nsbox_cgroups_parent_dirs(&parent) {
        fs::remove_dir(&dir).unwrap_or_else(|e| panic!("remove {}: {e}", dir.display()));
    }
}

fn nsbox_cgroups_parent_dirs(name: &str) -> Vec<PathBuf> {
    fs::read_dir("/sys/fs/cgroup")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .chain(std::iter::once(PathBuf::from("/sys/fs/cgroup")))
        .map(|p| p.join(name))
        .filter(|p| p.is_dir())
        .collect()
}

#[test]
fn drop_kills_every_process_of_the_cgroup_without_a_pid_namespace() {
    if !root() {
        return;
    }
    let mut c = Container::builder()
        .namespaces(Namespaces::all() - Namespaces::PID)
        .pids_limit(16)
        .command("/bin/sh")
        .args(["-c", "sleep 60 & echo $!; sleep 60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let orphan = common::first_line_pid(&mut c);
    assert!(Path::new(&format!("/proc/{orphan}")).exists());
    drop(c);
    wait_until("the background process to die", Duration::from_secs(10), || {
        fs::read_to_string(format!("/proc/{orphan}/stat")).map_or(true, |s| s.contains(") Z "))
    });
}

#[test]
fn absurd_limits_are_refused_before_anything_runs() {
    let parent = format!("nsbox-test-absurd-{}", std::process::id());
    for result in [
        Container::builder()
            .pids_limit(0)
            .command("/bin/true")
            .build()
            .map(drop),
        Container::builder()
            .cpu_limit(0.0)
            .command("/bin/true")
            .build()
            .map(drop),
        Container::builder()
            .cpu_limit(1e9)
            .command("/bin/true")
            .build()
            .map(drop),
        Container::builder()
            .memory_limit(100)
            .command("/bin/true")
            .build()
            .map(drop),
        Container::builder()
            .cpuset_cpus("zero")
            .command("/bin/true")
            .build()
            .map(drop),
        Container::builder()
            .memory_swap_limit(0)
            .command("/bin/true")
            .build()
            .map(drop),
        Container::builder()
            .cgroup_parent(&parent)
            .pids_limit(0)
            .command("/bin/true")
            .spawn()
            .map(drop),
    ] {
        assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
    }
    assert!(
        nsbox_cgroups_parent_dirs(&parent).is_empty(),
        "a refused config created cgroups"
    );
}

#[test]
fn io_device_limit_is_written_or_refused_naming_the_controller() {
    if !root() {
        return;
    }
    let device = fs::read_dir("/sys/block")
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .map(|e| e.path().join("dev"));
    let Some(dev) = device.and_then(|p| fs::read_to_string(p).ok()) else {
        // No block device (the VM runs from an initramfs): a limit on one is refused.
        let err = Container::builder()
            .io_device_limit(IoDeviceLimit::new(259, 99, IoLimitKind::ReadBps, 1 << 20))
            .command("/bin/true")
            .spawn()
            .unwrap_err();
        assert!(matches!(err, Error::Cgroup(_)), "{err:?}");
        return;
    };
    let (major, minor) = dev.trim().split_once(':').unwrap();
    let limit = IoDeviceLimit::new(
        major.parse().unwrap(),
        minor.parse().unwrap(),
        IoLimitKind::WriteBps,
        1 << 20,
    );
    let mut c = Container::builder()
        .io_device_limit(limit)
        .command("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let cgroups = host_cgroup_of(c.pid());
    let written = cgroups.lines().any(|line| {
        let path = line.rsplit(':').next().unwrap_or("");
        ["blkio/", "unified/", ""].iter().any(|h| {
            let base = Path::new("/sys/fs/cgroup").join(h).join(path.trim_start_matches('/'));
            let v1 = fs::read_to_string(base.join("blkio.throttle.write_bps_device")).unwrap_or_default();
            let v2 = fs::read_to_string(base.join("io.max")).unwrap_or_default();
            v1.contains(&format!("{major}:{minor} 1048576")) || v2.contains("wbps=1048576")
        })
    });
    assert!(written, "no write_bps limit found for {major}:{minor} in {cgroups}");
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}

#[test]
fn no_cgroup_is_left_after_200_cycles_and_failures() {
    if !root() {
        return;
    }
    // A parent of its own, so containers of tests running in parallel do not count.
    let parent = format!("nsbox-test-leaks-{}", std::process::id());
    for i in 0..200 {
        let mut b = Container::builder();
        b.cgroup_parent(&parent).pids_limit(32).command("/bin/sleep").arg("30");
        match i % 4 {
            0 => drop(b.spawn().unwrap()),
            1 => {
                let mut c = b.spawn().unwrap();
                c.kill(Signal::SIGTERM).unwrap();
                c.wait().unwrap();
            }
            2 => {
                let err = b.mount(Mount::bind("/no/such/source", "/x")).spawn().unwrap_err();
                assert!(err.as_setup().is_some(), "{err}");
            }
            _ => {
                let err = b.command("/no/such/command").spawn().unwrap_err();
                assert!(err.as_setup().is_some(), "{err}");
            }
        }
    }
    let parents = nsbox_cgroups_parent_dirs(&parent);
    assert!(!parents.is_empty());
    for dir in parents {
        let leaked: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| e.path())
            .collect();
        assert!(leaked.is_empty(), "cgroups left behind: {leaked:?}");
        fs::remove_dir(&dir).unwrap();
    }
}
