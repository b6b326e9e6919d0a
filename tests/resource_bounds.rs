//! The bounded defaults of `Profile::Sandbox`: small tmpfs at /tmp, /run and /dev/shm, a cap
//! on what `output()` buffers, a pids limit where the host has a pids controller; and the
//! Fixture profile, which keeps the kernel's defaults.
//!
//! Every test takes `common::exclusive()`: one of them measures this process's peak RSS.

mod common;

use std::fs;
use std::path::PathBuf;

use common::stdout_of;
use nsbox::{Container, ContainerBuilder, Controller, Profile, Signal};

const MIB: u64 = 1 << 20;

/// This process's peak RSS in bytes (`VmHWM`).
fn peak_rss() -> u64 {
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .expect("VmHWM in /proc/self/status");
    kib * 1024
}

/// Resets the peak RSS to the current RSS (`clear_refs` 5, Linux 4.0+).
fn reset_peak_rss() {
    fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

/// The sizes in KiB `df` shows for `paths` inside a container.
fn df_sizes(builder: &mut ContainerBuilder, paths: &[&str]) -> Vec<u64> {
    let script = format!("df -k {} | tail -n +2", paths.join(" "));
    let out = builder.command("/bin/sh").args(["-c", &script]).output().unwrap();
    stdout_of(&out)
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn sandbox_output_is_capped_drained_and_not_buffered_by_the_caller() {
    let _one_at_a_time = common::exclusive();
    if !common::root() {
        return;
    }
    reset_peak_rss();
    let before = peak_rss();
    let out = Container::builder()
        .profile(Profile::Sandbox)
        .command("/bin/sh")
        .args(["-c", "head -c 67108864 /dev/zero && echo done >&2"])
        .output()
        .unwrap();
    let grown = peak_rss().saturating_sub(before);
    // The payload was never blocked nor killed: the rest was read and thrown away.
    assert!(out.status.success(), "{}", out.status);
    assert_eq!(out.stderr, b"done\n");
    assert_eq!(out.stdout.len() as u64, nsbox::bounds::SANDBOX_OUTPUT_LIMIT);
    assert!(out.stdout.iter().all(|b| *b == 0), "the first bytes are kept");
    assert!(out.stdout_truncated && !out.stderr_truncated);
    assert!(grown < 32 * MIB, "the caller's peak RSS grew by {} MiB", grown / MIB);
}

#[test]
fn fixture_output_is_whole_and_output_limit_caps_each_stream() {
    let _one_at_a_time = common::exclusive();
    if !common::root() {
        return;
    }
    let script = "head -c 1048576 /dev/zero; head -c 3000 /dev/zero >&2";
    let whole = common::sh(script);
    assert_eq!((whole.stdout.len(), whole.stderr.len()), (1 << 20, 3000));
    assert!(!whole.stdout_truncated && !whole.stderr_truncated);

    let capped = common::sh_builder(script).output_limit(1000).output().unwrap();
    assert!(capped.status.success(), "{}", capped.status);
    assert_eq!((capped.stdout.len(), capped.stderr.len()), (1000, 1000));
    assert!(capped.stdout_truncated && capped.stderr_truncated);

    // wait_with_output on a spawned container honours it too; exactly the limit is not truncated.
    let mut b = common::sh_builder("head -c 1000 /dev/zero");
    b.output_limit(1000).stdout(nsbox::Stdio::piped());
    let exact = b.spawn().unwrap().wait_with_output().unwrap();
    assert_eq!((exact.stdout.len(), exact.stdout_truncated), (1000, false));

    let lifted = common::sh_builder(script)
        .profile(Profile::Sandbox)
        .output_limit(None)
        .output()
        .unwrap();
    assert_eq!(lifted.stdout.len(), 1 << 20);
}

#[test]
fn sandbox_tmp_run_and_dev_shm_are_small() {
    let _one_at_a_time = common::exclusive();
    if !common::root() {
        return;
    }
    let sizes = df_sizes(
        Container::builder().profile(Profile::Sandbox),
        &["/tmp", "/run", "/dev/shm"],
    );
    assert_eq!(sizes, [64 * 1024, 8 * 1024, 64 * 1024], "KiB of /tmp, /run, /dev/shm");
    // Writing past the size fails inside, whatever the host has free.
    let out = Container::builder()
        .profile(Profile::Sandbox)
        .command("/bin/sh")
        .args(["-c", "head -c 9437184 /dev/zero > /run/big"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "9 MiB fit in /run");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tmpfs_sizes_are_set_by_the_builder_after_the_profile() {
    let _one_at_a_time = common::exclusive();
    if !common::root() {
        return;
    }
    let sizes = df_sizes(
        Container::builder()
            .profile(Profile::Sandbox)
            .tmp_size(16 * MIB)
            .run_size(None)
            .shm_size(4 * MIB),
        &["/tmp", "/run", "/dev/shm"],
    );
    assert_eq!((sizes[0], sizes[2]), (16 * 1024, 4 * 1024), "{sizes:?}");
    assert!(sizes[1] > 64 * 1024, "/run keeps the kernel default: {sizes:?}");
    let zero = Container::builder().tmp_size(0).command("/bin/true").spawn();
    assert!(matches!(zero, Err(nsbox::Error::Config(_))), "{zero:?}");
}

#[test]
fn fixture_tmp_and_run_keep_the_kernel_default_size() {
    let _one_at_a_time = common::exclusive();
    if !common::root() {
        return;
    }
    let sizes = df_sizes(&mut Container::builder(), &["/tmp", "/run", "/dev/shm"]);
    // The kernel's default is half of RAM; /dev/shm was 64 MiB before the profiles had bounds.
    assert!(sizes[0] > 64 * 1024 && sizes[1] > 64 * 1024, "{sizes:?}");
    assert_eq!(sizes[2], 64 * 1024, "{sizes:?}");
}

/// The container's directory in the pids hierarchy, seen from the host.
fn pids_cgroup_of(c: &Container) -> PathBuf {
    let host = nsbox::preflight();
    let parent = host
        .controller(Controller::Pids)
        .and_then(|s| s.parent.clone())
        .unwrap();
    parent.join(format!("nsbox-{}", c.id()))
}

/// Root and a pids controller nsbox can use (scripts/test hides only the memory hierarchy).
fn root_and_pids() -> bool {
    common::root()
        && common::require(
            "a usable pids controller (run the suite with scripts/test)",
            nsbox::preflight().can_use(Controller::Pids),
        )
}

/// Spawns `sleep 30` from `builder` and returns its `pids.max` as the host sees it (None: the
/// container has no pids cgroup), after killing and reaping it.
fn pids_max_of(builder: &mut ContainerBuilder) -> Option<String> {
    let mut c = builder.command("/bin/sleep").arg("30").spawn().unwrap();
    let limit = fs::read_to_string(pids_cgroup_of(&c).join("pids.max")).ok();
    c.kill(Signal::SIGKILL).unwrap();
    c.wait().unwrap();
    limit.map(|l| l.trim().to_owned())
}

#[test]
fn sandbox_gets_a_pids_limit_where_the_pids_controller_is_usable() {
    let _one_at_a_time = common::exclusive();
    if !root_and_pids() {
        return;
    }
    let sandbox = pids_max_of(Container::builder().profile(Profile::Sandbox));
    // The payload's 1024, and nsbox-init's one (see pids_limit).
    assert_eq!(sandbox.as_deref(), Some("1025"), "the Sandbox container's pids.max");
    let fixture = pids_max_of(&mut Container::builder());
    assert_eq!(fixture, None, "a Fixture container got a pids cgroup");
}

#[test]
fn sandbox_pids_limit_yields_to_the_callers_and_can_be_turned_off() {
    let _one_at_a_time = common::exclusive();
    if !root_and_pids() {
        return;
    }
    let own = pids_max_of(Container::builder().profile(Profile::Sandbox).pids_limit(64));
    assert_eq!(own.as_deref(), Some("65"), "64 and nsbox-init");
    let off = pids_max_of(
        Container::builder()
            .profile(Profile::Sandbox)
            .pids_limit_where_available(None),
    );
    assert_eq!(off, None, "a cgroup without any limit");
}

#[test]
fn sandbox_fork_bomb_stops_at_the_default_pids_limit() {
    let _one_at_a_time = common::exclusive();
    if !root_and_pids() {
        return;
    }
    // 1100 background sleeps: past 1024 the shell's fork fails (EAGAIN) and it gives up.
    let script = "i=0; while [ $i -lt 1100 ]; do sleep 30 & i=$((i+1)); done; echo all";
    let out = Container::builder()
        .profile(Profile::Sandbox)
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(!out.status.success() && out.stdout.is_empty(), "1100 processes started");
    assert!(stderr.contains("fork") || stderr.contains("resource"), "{stderr}");
}
