//! A thousand containers alive at once from one process, then stopped (issue 17's scale row):
//! `cargo run --release --example scale -- [COUNT] [THREADS]` (as root; default 1000 and 8).
//!
//! Each container is nsbox's default (every namespace, the host's root read-only, nsbox's
//! init as PID 1) running `sleep 3600`. It prints, as `key value` lines:
//! - the time to start all of them from THREADS threads, and to stop (SIGKILL + reap) all;
//! - the caller's fds per container while they live, and whether the count came back after;
//! - the memory of one container: its init's and its payload's RSS and PSS
//!   (`/proc/PID/smaps_rollup`, averaged over every container), and the kernel's share (the
//!   drop of `MemAvailable` over the count, less the processes' PSS): namespaces, mounts,
//!   page tables, kernel stacks;
//! - the mounts, child processes and temp entries left afterwards (all must be 0).

use std::fs;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nsbox::{Container, Signal};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let threads: usize = args.next().map_or(Ok(8), |a| a.parse())?;
    let before = Snapshot::take();

    let started = Instant::now();
    let containers = Mutex::new(Vec::with_capacity(count));
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < count {
                    let c = Container::builder()
                        .command("/bin/sleep")
                        .arg("3600")
                        .spawn()
                        .expect("spawn a container");
                    containers.lock().unwrap().push(c);
                }
            });
        }
    });
    let start_time = started.elapsed();
    let mut containers = containers.into_inner().unwrap();

    let alive = Snapshot::take();
    let (mut init, mut payload) = (Memory::default(), Memory::default());
    for c in &containers {
        init.add(c.pid());
        // The payload is the init's only child.
        if let Some(child) = first_child(c.pid()) {
            payload.add(child);
        }
    }
    let n = containers.len() as f64;
    let kib_per = |kib: u64| kib as f64 / n;
    let user_pss = (init.pss + payload.pss) as f64 / n;
    let available_drop = before.available_kib.saturating_sub(alive.available_kib);

    let stopping = Instant::now();
    for c in &mut containers {
        c.kill(Signal::SIGKILL)?;
    }
    for c in &mut containers {
        c.wait()?;
    }
    let stop_time = stopping.elapsed();
    drop(containers);
    // The kernel frees a network namespace in a work queue after its last process.
    std::thread::sleep(Duration::from_millis(200));
    let after = Snapshot::take();

    println!("containers {count}");
    println!("threads {threads}");
    println!("start_all_ms {:.1}", start_time.as_secs_f64() * 1e3);
    println!("start_per_container_us {:.0}", start_time.as_secs_f64() * 1e6 / n);
    println!("stop_all_ms {:.1}", stop_time.as_secs_f64() * 1e3);
    println!("caller_fds_before {}", before.fds);
    println!("caller_fds_alive {}", alive.fds);
    println!("caller_fds_per_container {:.2}", (alive.fds - before.fds) as f64 / n);
    println!("caller_fds_after {}", after.fds);
    println!("init_rss_kib {:.1}", kib_per(init.rss));
    println!("init_pss_kib {:.1}", kib_per(init.pss));
    println!("payload_rss_kib {:.1}", kib_per(payload.rss));
    println!("payload_pss_kib {:.1}", kib_per(payload.pss));
    println!("kernel_kib_per_container {:.0}", kib_per(available_drop) - user_pss);
    println!("mounts_left {}", after.mounts as i64 - before.mounts as i64);
    println!("children_left {}", after.children);
    println!(
        "tmp_entries_left {}",
        after.tmp_entries as i64 - before.tmp_entries as i64
    );
    let leaked = after.fds != before.fds || after.mounts != before.mounts || after.children != 0;
    if leaked {
        return Err("resources left after every container was stopped".into());
    }
    Ok(())
}

/// What the caller holds and the machine has free at one moment.
struct Snapshot {
    fds: usize,
    mounts: usize,
    children: usize,
    tmp_entries: usize,
    available_kib: u64,
}

impl Snapshot {
    fn take() -> Snapshot {
        let count = |dir: &str| fs::read_dir(dir).map_or(0, |d| d.count());
        let children = fs::read_to_string(format!("/proc/{}/task/{0}/children", std::process::id()))
            .map_or(0, |s| s.split_whitespace().count());
        let available_kib = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemAvailable:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Snapshot {
            fds: count("/proc/self/fd"),
            mounts: fs::read_to_string("/proc/self/mountinfo").map_or(0, |m| m.lines().count()),
            children,
            tmp_entries: count(&std::env::temp_dir().to_string_lossy()),
            available_kib,
        }
    }
}

/// Summed RSS and PSS (KiB) of processes.
#[derive(Default)]
struct Memory {
    rss: u64,
    pss: u64,
}

impl Memory {
    fn add(&mut self, pid: u32) {
        let Ok(rollup) = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
            return;
        };
        let field = |name: &str| {
            rollup
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        self.rss += field("Rss:");
        self.pss += field("Pss:");
    }
}

fn first_child(pid: u32) -> Option<u32> {
    let children = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}
