//! Helpers shared by the bench targets: a busybox root filesystem, the guard that keeps cgroup
//! runs away from this machine's v1 memory hierarchy, and small statistics.
//!
//! Each target uses a different subset, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::time::Duration;

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked into the busybox rootfs (`/bin/<name> -> busybox`).
const APPLETS: &[&str] = &["sh", "true", "sleep", "cat", "ls"];

/// Mount points every runtime expects to find (crun and bubblewrap do not create them in a
/// read-only root).
const MOUNT_POINTS: &[&str] = &["proc", "dev", "sys", "tmp", "run", "etc"];

/// A busybox root filesystem in a fresh temporary directory: `bin/busybox` (a copy of the
/// static /bin/busybox), applet symlinks and empty mount points.
pub fn busybox_rootfs() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nsbox-bench-rootfs-")
        .tempdir()
        .expect("create a rootfs directory");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod the rootfs");
    fill_busybox_rootfs(dir.path());
    dir
}

/// Fills `root` as [`busybox_rootfs`] does. The copy is finished and closed before any spawn,
/// so no container inherits a write descriptor to it (which would make its exec fail with
/// ETXTBSY).
pub fn fill_busybox_rootfs(root: &Path) {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: apt-get install busybox-static"
    );
    let bin = root.join("bin");
    fs::create_dir_all(&bin).expect("mkdir bin");
    fs::copy(BUSYBOX, bin.join("busybox")).expect("copy busybox");
    for applet in APPLETS {
        symlink("busybox", bin.join(applet)).expect("symlink an applet");
    }
    for dir in MOUNT_POINTS {
        fs::create_dir_all(root.join(dir)).expect("mkdir a mount point");
    }
}

/// Whether a cgroup v1 `memory` hierarchy is mounted in this mount namespace. On this kind of
/// machine it belongs to the machine's own supervision: runs that create cgroups must happen
/// under `../shared/testenv/cgsafe-ns.sh`, which hides it.
pub fn memory_hierarchy_visible() -> bool {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mountinfo.lines().any(|line| {
        // ... - cgroup cgroup rw,memory
        let mut after = line.split(" - ").nth(1).unwrap_or("").split_whitespace();
        after.next() == Some("cgroup") && after.nth(1).is_some_and(|opts| opts.split(',').any(|o| o == "memory"))
    })
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of unsorted samples.
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    quantile(samples, 0.5)
}

/// Microseconds, for tables.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
