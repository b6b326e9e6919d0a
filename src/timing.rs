//! Per-phase spawn timings, with the `trace-timing` feature: where the time of a spawn goes.
//!
//! The child stamps a monotonic clock after each step into a page shared with the parent (a
//! plain memory write, allowed between clone and exec); the parent adds its own phases (cgroup,
//! plan, clone, id maps, exec). Without the feature every call here compiles to nothing.

use std::fmt;
use std::time::Duration;

use crate::error::SetupStep;

/// Where the time of one spawn went, phase by phase, in order. Made with the `trace-timing`
/// feature; see [`Container::setup_timings`](crate::Container::setup_timings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpawnTimings {
    phases: Vec<(String, Duration)>,
    /// Warm pools (issue 17): how the container was started (with or without the feature).
    start: StartKind,
}

/// How a container was started: from scratch, or handed out by a warm
/// [`Pool`](crate::Pool), or from scratch by a pool that had none parked
/// ([`SpawnTimings::start`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StartKind {
    /// A spawn that set the container up from scratch (`ContainerBuilder::spawn`).
    #[default]
    Cold,
    /// A pool handed out a container it had set up before: only the payload's exec was left.
    Pooled,
    /// A pool had no container parked (it could not keep up, or failed to refill) and set
    /// this one up from scratch, as a cold spawn.
    PoolFallback,
}

impl SpawnTimings {
    /// How the container was started; known with or without the `trace-timing` feature.
    pub fn start(&self) -> StartKind {
        self.start
    }

    /// These timings for a container started as `start`. A pooled one's spawn is its
    /// handout (`took`: its one phase, under `trace-timing`); its setup happened before the
    /// run was known and is not part of it. A cold one's keep their phases.
    pub(crate) fn started(mut self, start: StartKind, took: Option<Duration>) -> SpawnTimings {
        self.start = start;
        if let Some(took) = took {
            self.phases.clear();
            if cfg!(feature = "trace-timing") {
                self.phases.push(("pool: handout (limits, message, exec)".into(), took));
            }
        }
        self
    }
}

impl SpawnTimings {
    /// The phases: parent-side work and the child's steps (consecutive steps of one kind
    /// summed), in the order they happened.
    pub fn phases(&self) -> &[(String, Duration)] {
        &self.phases
    }

    /// The sum of all phases: spawn() from start to the payload's exec.
    pub fn total(&self) -> Duration {
        self.phases.iter().map(|(_, d)| *d).sum()
    }
}

impl fmt::Display for SpawnTimings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, d) in &self.phases {
            writeln!(f, "{name:<28} {:>9.1} us", d.as_secs_f64() * 1e6)?;
        }
        write!(f, "{:<28} {:>9.1} us", "total", self.total().as_secs_f64() * 1e6)
    }
}

/// The monotonic clock in nanoseconds (vDSO; safe in the child: CLOCK_MONOTONIC cannot fail,
/// so glibc never writes errno here).
#[cfg(feature = "trace-timing")]
pub(crate) fn now() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Timestamps of the parent's phases and the shared page of the child's.
#[derive(Debug)]
pub(crate) struct Recorder {
    #[cfg(feature = "trace-timing")]
    marks: Vec<(&'static str, u64)>,
    #[cfg(feature = "trace-timing")]
    child: Option<(std::ptr::NonNull<u64>, usize)>,
}

#[cfg(feature = "trace-timing")]
impl Recorder {
    pub fn start() -> Recorder {
        Recorder {
            marks: vec![("start", now())],
            child: None,
        }
    }

    /// Marks the end of the parent phase `name`.
    pub fn mark(&mut self, name: &'static str) {
        self.marks.push((name, now()));
    }

    /// A shared page for `steps` child stamps plus the child's start.
    pub fn share(&mut self, steps: usize) {
        let len = steps + 1;
        // SAFETY: a fresh anonymous shared mapping; unmapped in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr != libc::MAP_FAILED {
            self.child = std::ptr::NonNull::new(ptr.cast::<u64>()).map(|p| (p, len));
        }
    }

    /// In the child: stamps slot `index` (the last slot is the child's start).
    /// What the child stamps with: a copy of the shared page's address, so the child never
    /// reads the recorder, which the parent goes on using (and moving).
    pub fn stamper(&self) -> Stamper {
        Stamper { page: self.child }
    }

    /// Builds the timeline once the payload executed.
    pub fn finish(mut self, labels: &[(SetupStep, Option<std::path::PathBuf>)]) -> SpawnTimings {
        self.mark("exec");
        let mut phases: Vec<(String, Duration)> = Vec::new();
        let since = |a: u64, b: u64| Duration::from_nanos(b.saturating_sub(a));
        let mut add = |name: String, d: Duration| match phases.last_mut() {
            Some((last, total)) if *last == name => *total += d,
            _ => phases.push((name, d)),
        };
        let mark = |name| self.marks.iter().find(|(n, _)| *n == name).map(|(_, t)| *t);
        let stamps: Vec<u64> = match self.child {
            // SAFETY: the mapping holds `len` u64 slots; the child finished writing (it exec'd).
            Some((ptr, len)) => (0..len)
                .map(|i| unsafe { ptr.as_ptr().add(i).read_volatile() })
                .collect(),
            None => Vec::new(),
        };
        let mut previous = mark("start").unwrap_or(0);
        for (name, t) in self
            .marks
            .iter()
            .skip(1)
            .filter(|(n, _)| !matches!(*n, "exec" | "released"))
        {
            add(format!("parent: {name}"), since(previous, *t));
            previous = *t;
        }
        if let Some(&child_start) = stamps.last() {
            add("child: start".into(), since(previous, child_start));
            previous = child_start;
            let released = mark("released").unwrap_or(previous);
            for (i, label) in labels.iter().enumerate() {
                let Some(&t) = stamps.get(i).filter(|t| **t != 0) else {
                    continue;
                };
                let name = if label.0 == SetupStep::WaitForParent {
                    // The wait covers the parent's id maps.
                    format!(
                        "child: {} (parent until {:.0} us)",
                        label.0,
                        since(previous, released).as_secs_f64() * 1e6
                    )
                } else {
                    format!("child: {}", label.0)
                };
                add(name, since(previous, t));
                previous = t;
            }
        }
        add(
            "exec (execve to EOF)".into(),
            since(previous, mark("exec").unwrap_or(previous)),
        );
        SpawnTimings {
            phases,
            start: StartKind::Cold,
        }
    }
}

#[cfg(feature = "trace-timing")]
impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some((ptr, len)) = self.child.take() {
            // SAFETY: the mapping made in `share`, unmapped once.
            unsafe { libc::munmap(ptr.as_ptr().cast(), len * 8) };
        }
    }
}

/// The child's handle on the shared page of timestamps (see [`Recorder::stamper`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamper {
    #[cfg(feature = "trace-timing")]
    page: Option<(std::ptr::NonNull<u64>, usize)>,
}

#[cfg(feature = "trace-timing")]
impl Stamper {
    pub fn stamp(&self, index: usize) {
        if let Some((ptr, len)) = self.page
            && index < len
        {
            // SAFETY: index is within the mapping, which the child shares with the parent.
            unsafe { ptr.as_ptr().add(index).write_volatile(now()) };
        }
    }

    pub fn child_start_slot(&self) -> usize {
        self.page.map_or(usize::MAX, |(_, len)| len - 1)
    }
}

#[cfg(not(feature = "trace-timing"))]
impl Stamper {
    pub fn stamp(&self, _: usize) {}
    pub fn child_start_slot(&self) -> usize {
        usize::MAX
    }
}

#[cfg(not(feature = "trace-timing"))]
impl Recorder {
    pub fn start() -> Recorder {
        Recorder {}
    }
    pub fn mark(&mut self, _: &'static str) {}
    pub fn share(&mut self, _: usize) {}
    pub fn stamper(&self) -> Stamper {
        Stamper {}
    }
    pub fn finish(self, _: &[(SetupStep, Option<std::path::PathBuf>)]) -> SpawnTimings {
        SpawnTimings::default()
    }
}
