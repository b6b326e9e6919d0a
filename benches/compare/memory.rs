//! The memory half of the comparison runner: what an idle container costs, helper processes
//! and kernel memory, for nsbox and crun.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nsbox::{Container, Rootfs};

/// `Rss` and `Pss` of a process in KiB, from /proc/<pid>/smaps_rollup.
fn rss_pss(pid: u32) -> (u64, u64) {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

/// The children of a process (its main thread's).
fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Kernel memory that grows with namespaces and mounts: Slab + KernelStack + PageTables, KiB.
fn kernel_memory() -> u64 {
    let text = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    ["Slab:", "KernelStack:", "PageTables:"]
        .iter()
        .filter_map(|name| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .sum()
}

/// Live processes (zombies aside) whose command name is `name`: a helper a runtime left.
fn processes_named(name: &str) -> usize {
    let Ok(entries) = fs::read_dir("/proc") else { return 0 };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter(|e| {
            // /proc/<pid>/stat: "pid (comm) state ...".
            let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let comm = stat.split_once(" (").and_then(|(_, rest)| rest.rsplit_once(") "));
            comm.is_some_and(|(comm, rest)| comm == name && !rest.starts_with('Z'))
        })
        .count()
}

/// One memory row: totals over `n` containers, shown per container.
pub struct MemoryRow {
    name: &'static str,
    helpers: String,
    helper: (u64, u64),
    payload: (u64, u64),
    kernel: i64,
}

pub fn memory_nsbox(rootfs: &Path, count: usize) -> Result<MemoryRow, String> {
    let mut builder = Container::builder();
    builder
        .rootfs(Rootfs::dir(rootfs))
        .command("/bin/sleep")
        .arg("60")
        .stdin(nsbox::Stdio::null());
    settle();
    let before = kernel_memory();
    let mut containers = Vec::new();
    for _ in 0..count {
        containers.push(builder.spawn().map_err(|e| e.to_string())?);
    }
    settle();
    let kernel = kernel_memory() as i64 - before as i64;
    let (mut helper, mut payload, mut helpers) = ((0, 0), (0, 0), 0);
    for c in &containers {
        // Container::pid() is the container's init; its child is the payload.
        let (rss, pss) = rss_pss(c.pid());
        helper = (helper.0 + rss, helper.1 + pss);
        helpers += 1;
        for child in children(c.pid()) {
            let (rss, pss) = rss_pss(child);
            payload = (payload.0 + rss, payload.1 + pss);
        }
    }
    drop(containers);
    Ok(MemoryRow {
        name: "nsbox",
        helpers: format!("{} (its init, PID 1)", helpers / count),
        helper,
        payload,
        kernel,
    })
}

pub fn memory_crun(dir: &Path, count: usize) -> Result<MemoryRow, String> {
    let state = dir.join("state-crun");
    let bundle = dir.join("bundle-sleep");
    // The detached payloads inherit crun's stdio: pipes there would keep `output()` waiting
    // for them, so `run -d` writes into a file instead.
    let errors = dir.join("crun-run-d.err");
    let crun = |args: &[&str]| {
        let detached = args.contains(&"-d");
        let mut command = Command::new("crun");
        command
            .arg("--root")
            .arg(&state)
            .arg("--cgroup-manager=disabled")
            .args(args)
            .stdin(Stdio::null());
        if detached {
            let log = fs::File::create(&errors).map_err(|e| e.to_string())?;
            command.stdout(Stdio::null()).stderr(log);
        }
        let mut out = command.output().map_err(|e| e.to_string())?;
        if detached {
            out.stderr = fs::read(&errors).unwrap_or_default();
        }
        Ok::<_, String>(out)
    };
    // The detached payloads are re-parented to us, not to the machine's PID 1, and reaped here.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    let helpers_before = processes_named("crun");
    settle();
    let before = kernel_memory();
    let ids: Vec<String> = (0..count)
        .map(|i| format!("nsb-mem-{}-{i}", std::process::id()))
        .collect();
    let mut started = Vec::new();
    let mut result = Ok(());
    for id in &ids {
        let bundle = bundle.to_string_lossy();
        match crun(&["run", "-d", "--bundle", &bundle, id]) {
            Ok(out) if out.status.success() => started.push(id.clone()),
            Ok(out) => {
                result = Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
                break;
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    settle();
    let kernel = kernel_memory() as i64 - before as i64;
    let helpers = processes_named("crun").saturating_sub(helpers_before);
    let mut payload = (0, 0);
    for id in &started {
        let state = crun(&["state", id]).map(|o| String::from_utf8_lossy(&o.stdout).to_string());
        let pid = state.ok().and_then(|s| {
            s.split("\"pid\":")
                .nth(1)
                .and_then(|rest| rest.trim_start().split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|p| p.parse::<u32>().ok())
        });
        if let Some(pid) = pid {
            let (rss, pss) = rss_pss(pid);
            payload = (payload.0 + rss, payload.1 + pss);
        }
    }
    for id in &started {
        let _ = crun(&["delete", "-f", id]);
    }
    reap_orphans();
    result?;
    Ok(MemoryRow {
        name: "crun",
        helpers: format!("{} (crun exits after start)", helpers / count),
        helper: (0, 0),
        payload,
        kernel,
    })
}

/// Lets short-lived kernel work (namespace teardown, RCU) finish before a reading.
fn settle() {
    std::thread::sleep(Duration::from_millis(500));
}

/// Reaps the re-parented payloads of detached containers, for at most two seconds.
fn reap_orphans() {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        // SAFETY: waitpid with a null status pointer.
        let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
        match pid {
            p if p > 0 => continue,
            0 => std::thread::sleep(Duration::from_millis(20)),
            _ => break, // ECHILD: none left
        }
    }
}

pub fn print_memory(rows: &[MemoryRow], count: usize) {
    println!("\n### Memory per idle container ({count} containers running `sleep 60`, busybox rootfs)\n");
    println!(
        "| runtime | helper processes per container | helper RSS KiB | helper PSS KiB | payload RSS KiB | payload PSS KiB | kernel Δ KiB (Slab+KernelStack+PageTables) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|");
    let n = count as u64;
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.helpers,
            r.helper.0 / n,
            r.helper.1 / n,
            r.payload.0 / n,
            r.payload.1 / n,
            r.kernel / count as i64,
        );
    }
}
