//! Spawn throughput (issue 17): how many containers per second a runner starts and reaps
//! with one worker thread per CPU, each spawning `/bin/true` back to back. The workload (a)
//! runners and the fork+exec baseline take turns, round by round, so that each sees the same
//! machine; a runner's rate is the median over its rounds.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use nsbox::{ContainerBuilder, Pool};

use super::{BASELINE, Launch, Runner, WORKLOAD_A};

/// What one worker runs: a copy of nsbox's builder, or the peer's command line.
#[derive(Clone, Copy)]
enum Job<'a> {
    Nsbox(&'a ContainerBuilder),
    /// A warm pool: each worker takes a parked container, or starts cold when none is left.
    Pool(&'a Pool),
    Command(&'a (dyn Fn(&str) -> Command + Send + Sync)),
}

impl<'a> Job<'a> {
    fn of(runner: &'a Runner) -> Option<Job<'a>> {
        let baseline = runner.workload == BASELINE && runner.name == "fork+exec /bin/true";
        if runner.workload != WORKLOAD_A && !baseline {
            return None;
        }
        match &runner.launch {
            Launch::Nsbox(builder) => Some(Job::Nsbox(builder)),
            Launch::NsboxPool(pool) => Some(Job::Pool(pool)),
            // Each worker's copy of the builder shares the pool; a spawn finding no pair ready
            // makes its own namespaces (the pool's stats say how often).
            Launch::NsboxPremade(builder, _, _) => Some(Job::Nsbox(builder)),
            Launch::Command(make) => Some(Job::Command(make.as_ref())),
            _ => None,
        }
    }
}

/// Spawns `count` containers through `job` from `workers` threads; the wall time's rate.
fn rate(job: Job<'_>, count: usize, workers: usize, round: usize) -> Result<f64, String> {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let results: Vec<Result<(), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let next = &next;
                s.spawn(move || {
                    let mut own = match job {
                        Job::Nsbox(builder) => Some(builder.clone()),
                        Job::Command(_) | Job::Pool(_) => None,
                    };
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return Ok(());
                        }
                        let success = match (&mut own, job) {
                            (Some(builder), _) => builder.status().map_err(|e| e.to_string())?.success(),
                            (None, Job::Command(make)) => {
                                let id = format!("nsbt{}-{round}-{worker}-{i}", std::process::id());
                                let mut command = make(&id);
                                command
                                    .stdin(Stdio::null())
                                    .status()
                                    .map_err(|e| e.to_string())?
                                    .success()
                            }
                            (None, Job::Pool(pool)) => {
                                let container =
                                    pool.spawn(|run| run.command("/bin/true")).map_err(|e| e.to_string())?;
                                container
                                    .wait_with_output()
                                    .map_err(|e| e.to_string())?
                                    .status
                                    .success()
                            }
                            (None, Job::Nsbox(_)) => unreachable!("a worker copies nsbox's builder"),
                        };
                        if !success {
                            return Err(format!("spawn {i} failed"));
                        }
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker panicked"))
            .collect()
    });
    let elapsed = started.elapsed();
    results.into_iter().collect::<Result<(), String>>()?;
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// Measures and prints the table.
pub(crate) fn print_throughput(runners: &[Runner], count: usize, rounds: usize) {
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = super::env_number("NSBOX_COMPARE_THROUGHPUT_WORKERS", cpus as u64) as usize;
    let chosen: Vec<(&Runner, Job<'_>)> = runners.iter().filter_map(|r| Some((r, Job::of(r)?))).collect();
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); chosen.len()];
    let mut failed: Vec<Option<String>> = vec![None; chosen.len()];
    for round in 0..rounds {
        for (i, (_, job)) in chosen.iter().enumerate() {
            if failed[i].is_some() {
                continue;
            }
            match rate(*job, count, workers, round) {
                Ok(r) => rates[i].push(r),
                Err(e) => failed[i] = Some(e),
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    let medians: Vec<f64> = rates.iter_mut().map(median).collect();
    let of = |name: &str| {
        chosen
            .iter()
            .position(|(r, _)| r.name.contains(name))
            .map_or(0.0, |i| medians[i])
    };
    let (base, bwrap) = (of("fork+exec /bin/true"), of("bwrap"));
    println!(
        "\n### Throughput: spawn + reap of /bin/true, {workers} worker threads, {count} per round, \
         median of {rounds} rounds\n"
    );
    println!("| workload | runner | containers/s | / fork+exec | / bwrap |");
    println!("|---|---|---:|---:|---:|");
    for (i, (r, _)) in chosen.iter().enumerate() {
        let workload = if r.workload == BASELINE { "baseline" } else { r.workload };
        if let Some(e) = &failed[i] {
            println!("| {workload} | {} | failed: {e} | | |", r.name);
            continue;
        }
        let ratio = |to: f64| match to > 0.0 {
            true => format!("{:.2}", medians[i] / to),
            false => "–".to_string(),
        };
        println!(
            "| {workload} | {} | {:.0} | {} | {} |",
            r.name,
            medians[i],
            ratio(base),
            ratio(bwrap)
        );
    }
}
