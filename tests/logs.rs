//! Container logs against the real kernel: Docker's json-file shape, rotation, follow across
//! rotations, since and tail, a detached container's logs outliving its handle, bytes that are
//! not UTF-8 and lines longer than a log entry.

mod common;

use std::path::Path;
use std::time::Duration;

use nsbox::logs::{LogConfig, LogEntry, LogReader, MAX_LINE, Stream};
use nsbox::{ConfigError, Container, Error, Mount, Setting, Stdio};

/// Generous bound for waits that only guard against hangs.
const BOUND: Duration = Duration::from_secs(60);

fn entries(reader: LogReader) -> Vec<LogEntry> {
    reader.entries().unwrap().map(Result::unwrap).collect()
}

fn texts(entries: &[LogEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.bytes).into_owned())
        .collect()
}

/// The threads of this process whose name (15 bytes at most) is `name`'s start.
fn threads_named(name: &str) -> usize {
    let name = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end() == name)
        .count()
}

/// A payload that writes `before`, waits for `go` in the shared directory, then runs `after`.
fn gated(data: &Path, before: &str, after: &str) -> nsbox::ContainerBuilder {
    let mut builder = Container::builder();
    builder.mount(Mount::bind(data, "/data")).command("/bin/sh").args([
        "-c",
        &format!("{before}; while [ ! -e /data/go ]; do sleep 0.02; done; {after}"),
    ]);
    builder
}

#[test]
fn logs_hold_both_streams_in_dockers_json_file_shape() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::sh_builder("echo out; echo err >&2; printf 'no newline'")
        .logs(LogConfig::new(dir.path()))
        .spawn()
        .unwrap();
    let id = c.id().to_string();
    assert!(c.wait().unwrap().success());
    // Reaping ended the writer: its thread is gone and the files are complete.
    assert_eq!(threads_named(&format!("nsbox-logs-{id}")), 0);
    let raw = std::fs::read_to_string(dir.path().join("container.log")).unwrap();
    let mut by_stream = std::collections::BTreeMap::<String, Vec<String>>::new();
    for line in raw.lines() {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        let object = json.as_object().unwrap();
        assert_eq!(object.keys().collect::<Vec<_>>(), ["log", "stream", "time"], "{line}");
        let time = object["time"].as_str().unwrap();
        // 2026-12-05T20:55:54.123456789Z
        assert_eq!(
            (time.len(), &time[10..11], &time[19..20], &time[29..]),
            (30, "T", ".", "Z"),
            "{time}"
        );
        by_stream
            .entry(object["stream"].as_str().unwrap().into())
            .or_default()
            .push(object["log"].as_str().unwrap().into());
    }
    assert_eq!(by_stream["stdout"], ["out\n", "no newline"]);
    assert_eq!(by_stream["stderr"], ["err\n"]);
    let read = entries(c.logs().unwrap());
    assert_eq!(read.len(), 3);
    assert!(read.windows(2).all(|w| w[0].time <= w[1].time));
    let out = entries(c.logs().unwrap().stderr(false));
    assert_eq!(texts(&out), ["out\n", "no newline"]);
    assert!(out[1].is_partial() && !out[0].is_partial());
    assert_eq!(out[0].line(), b"out");
}

#[test]
fn logs_rotate_at_max_size_and_keep_max_files() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let max_size = 1000;
    let mut c = common::sh_builder("i=0; while [ $i -lt 200 ]; do echo line-$i; i=$((i+1)); done")
        .logs(LogConfig::new(dir.path()).max_size(max_size).max_files(3))
        .spawn()
        .unwrap();
    assert!(c.wait().unwrap().success());
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["container.log", "container.log.1", "container.log.2"]);
    for name in &names {
        let size = std::fs::metadata(dir.path().join(name)).unwrap().len();
        assert!(size <= max_size && size > 0, "{name}: {size} bytes");
    }
    // What is kept is the newest entries, in order, without a gap.
    let kept = texts(&entries(LogReader::open(dir.path())));
    let first: usize = kept[0].trim_end().strip_prefix("line-").unwrap().parse().unwrap();
    assert!(first > 0, "nothing was rotated away");
    let expected: Vec<String> = (first..200).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(kept, expected);
}

#[test]
fn follow_reads_a_running_container_to_its_end_across_rotations() {
    if !common::root() {
        return;
    }
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // About one entry per file: every entry rotates; ten files keep them all.
    let mut c = gated(
        data.path(),
        "echo first",
        "i=2; while [ $i -le 8 ]; do echo line-$i; i=$((i+1)); done",
    )
    .logs(LogConfig::new(dir.path()).max_size(100).max_files(10))
    .spawn()
    .unwrap();
    let mut follow = c.logs().unwrap().follow(true).entries().unwrap();
    let first = follow.next().unwrap().unwrap();
    assert_eq!(first.bytes, b"first\n");
    // The container waits for us: the follow is reading a running container.
    assert!(c.try_wait().unwrap().is_none());
    std::fs::write(data.path().join("go"), "").unwrap();
    let rest = texts(&follow.map(Result::unwrap).collect::<Vec<_>>());
    let expected: Vec<String> = (2..=8).map(|i| format!("line-{i}\n")).collect();
    assert_eq!(rest, expected);
    assert!(c.wait().unwrap().success());
    assert!(
        dir.path().join("container.log.5").exists(),
        "the follow crossed no rotation"
    );
}

#[test]
fn since_and_tail_narrow_the_entries() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::sh_builder("echo a; echo b; sleep 0.2; echo c; echo d >&2")
        .logs(LogConfig::new(dir.path()))
        .spawn()
        .unwrap();
    assert!(c.wait().unwrap().success());
    let all = entries(c.logs().unwrap());
    assert_eq!(texts(&all), ["a\n", "b\n", "c\n", "d\n"]);
    let since_c = c.logs().unwrap().since(all[2].time);
    assert_eq!(texts(&entries(since_c)), ["c\n", "d\n"]);
    assert_eq!(texts(&entries(c.logs().unwrap().tail(2))), ["c\n", "d\n"]);
    assert_eq!(texts(&entries(c.logs().unwrap().tail(2).stderr(false))), ["b\n", "c\n"]);
    assert!(entries(c.logs().unwrap().tail(0)).is_empty());
    assert_eq!(entries(c.logs().unwrap().tail(100)).len(), 4);
    let stderr_only = entries(c.logs().unwrap().stdout(false));
    assert_eq!((stderr_only.len(), stderr_only[0].stream), (1, Stream::Stderr));
}

#[test]
fn detached_containers_logs_survive_its_handle() {
    if !common::root() {
        return;
    }
    let (dir, data) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let c = gated(data.path(), "echo before", "echo after; echo done >&2")
        .detach()
        .logs(LogConfig::new(dir.path()))
        .spawn()
        .unwrap();
    let (id, pid) = (c.id().to_string(), c.pid());
    let logs = c.logs().unwrap();
    common::wait_until("the first entry", BOUND, || !entries(logs.clone()).is_empty());
    drop(c);
    // The container goes on writing after its handle is gone; the writer goes on logging.
    std::fs::write(data.path().join("go"), "").unwrap();
    let all = entries(LogReader::open(dir.path()).follow(true));
    assert_eq!(texts(&all), ["before\n", "after\n", "done\n"]);
    // The follow ended because the writer stopped at the pipes' EOF, releasing its thread.
    common::wait_until("the writer thread to end", BOUND, || {
        threads_named(&format!("nsbox-logs-{id}")) == 0
    });
    // Reap the detached container (this process is its parent).
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
}

#[test]
fn bytes_that_are_not_utf8_and_long_lines_are_logged_as_docker_does() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let long = 2 * MAX_LINE + 100;
    let script = format!("printf 'a\\377b\\n'; head -c {long} /dev/zero | tr '\\0' x; echo; echo end");
    let mut c = common::sh_builder(&script)
        .logs(LogConfig::new(dir.path()))
        .spawn()
        .unwrap();
    assert!(c.wait().unwrap().success());
    let all = entries(c.logs().unwrap());
    assert_eq!(all[0].bytes, "a\u{fffd}b\n".as_bytes());
    let pieces: Vec<usize> = all[1..4].iter().map(|e| e.bytes.len()).collect();
    assert_eq!(pieces, [MAX_LINE, MAX_LINE, 101]);
    assert!(all[1].is_partial() && all[2].is_partial() && !all[3].is_partial());
    assert!(all[1..4].iter().all(|e| e.line().iter().all(|&b| b == b'x')));
    assert_eq!(all[4].bytes, b"end\n");
    assert_eq!(all.len(), 5);
}

#[test]
fn a_busy_log_directory_is_refused() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut first = Container::builder()
        .logs(LogConfig::new(dir.path()))
        .command("/bin/sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let err = Container::builder()
        .logs(LogConfig::new(dir.path()))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("in use by another container"), "{err}");
    first.kill(nsbox::Signal::SIGKILL).unwrap();
    first.wait().unwrap();
    // Free again once the first container's writer stopped.
    let mut second = Container::builder()
        .logs(LogConfig::new(dir.path()))
        .command("/bin/true")
        .spawn()
        .unwrap();
    assert!(second.wait().unwrap().success());
}

#[test]
fn logs_settings_are_checked_at_build() {
    let build = |b: &mut nsbox::ContainerBuilder| b.command("/bin/true").build().unwrap_err();
    let logs = || LogConfig::new("/tmp/nsbox-logs-never-made");
    let err = build(Container::builder().logs(logs()).stdout(Stdio::piped()));
    assert!(matches!(
        err,
        Error::Config(ConfigError::Conflict {
            setting: Setting::Logs,
            with: Setting::Stdout,
            ..
        })
    ));
    let err = build(Container::builder().logs(logs()).tty(true));
    assert!(matches!(
        err,
        Error::Config(ConfigError::Conflict {
            setting: Setting::Logs,
            with: Setting::Tty,
            ..
        })
    ));
    let err = build(Container::builder().logs(logs().max_files(0)));
    assert!(matches!(
        err,
        Error::Config(ConfigError::OutOfRange {
            setting: Setting::LogMaxFiles,
            value: 0,
            ..
        })
    ));
    let err = build(Container::builder().logs(logs().max_size(0)));
    assert!(matches!(
        err,
        Error::Config(ConfigError::OutOfRange {
            setting: Setting::LogMaxSize,
            value: 0,
            ..
        })
    ));
    let config = Container::builder()
        .logs(LogConfig::new("relative"))
        .command("/bin/true")
        .build()
        .unwrap();
    assert!(config.logs().unwrap().dir().is_absolute());
    // Without logs there is nothing to read.
    if common::is_root() {
        let c = Container::builder().command("/bin/true").spawn().unwrap();
        assert!(matches!(
            c.logs().unwrap_err(),
            Error::Config(ConfigError::Missing { setting: Setting::Logs })
        ));
    }
}
