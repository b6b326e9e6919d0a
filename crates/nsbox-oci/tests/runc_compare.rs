//! The runc comparison, as root: the same sequence of runc verbs against runc and against the
//! runtime under test (`nsbox-runtime`), with the global flags engines pass (`--root`, `--log`,
//! `--log-format json`), compared step by step: exit codes, the state JSON's fields, the error
//! each failing step logs.
//!
//! The sequence, on a busybox bundle made from each runtime's own `spec` output (args patched to
//! `sleep 300`, no terminal, one annotation): `state` of an unknown id; `create --bundle
//! --pid-file`; `state` (created); `start`; `state` (running); `delete` of the running one
//! without `--force`; `kill ID 9`; `state` (stopped); `kill` of the stopped one; `kill --all` of
//! it; `delete`; `state` and `delete` of the deleted id; `start` of an unknown id; no cgroup left
//! named after the id.
//!
//! The runtime under test: the path in `NSBOX_RUNTIME`, else cargo's `nsbox-runtime` binary of
//! this crate once there is one; without either the comparison is skipped (a failure under
//! `NSBOX_REQUIRE_ALL=1`). runc's own run of the sequence is checked against what runc 1.1 does
//! on its own, so this harness is tested wherever runc is installed.

#[path = "../../../tests/common/mod.rs"]
mod nsbox_common;

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Where Debian's runc package installs runc.
const RUNC: &str = "/usr/sbin/runc";
/// An upper bound for one runtime command, against hangs (never a measure).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// Phrases of runc's errors that engines and their users see; each failing step records which
/// of them its logged error holds.
const PHRASES: &[&str] = &["does not exist", "not running", "not stopped", "running"];

/// The runtime under test, if one is given or built.
fn runtime_under_test() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("NSBOX_RUNTIME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    option_env!("CARGO_BIN_EXE_nsbox-runtime").map(PathBuf::from)
}

/// One runtime's state directory, log file and bundle; deletes its container (`delete --force`)
/// when dropped, so a failed assertion leaves no process behind.
struct Runtime {
    binary: PathBuf,
    dir: tempfile::TempDir,
    id: String,
}

impl Runtime {
    fn new(binary: &Path) -> Runtime {
        let dir = tempfile::Builder::new()
            .prefix("nsbox-runc-compare-")
            .tempdir()
            .unwrap();
        // Walkable by every id, as a real bundle's directory is.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let id = nsbox_common::unique("nsbox-compare");
        Runtime {
            binary: binary.to_path_buf(),
            dir,
            id,
        }
    }

    fn bundle(&self) -> PathBuf {
        self.dir.path().join("bundle")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log.json")
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.path().join("pid")
    }

    /// Runs `binary --root S --log L --log-format json ARGS` in `cwd` with stdio on files (a
    /// pipe would be held open by the container); its status and its stderr.
    fn run(&self, cwd: &Path, args: &[&str]) -> (ExitStatus, String) {
        let stderr_path = self.dir.path().join("stderr");
        let stdout = fs::File::create(self.dir.path().join("stdout")).unwrap();
        let stderr = fs::File::create(&stderr_path).unwrap();
        let child = Command::new(&self.binary)
            .arg("--root")
            .arg(self.dir.path().join("state"))
            .arg("--log")
            .arg(self.log())
            .args(["--log-format", "json"])
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.binary.display()));
        let status = wait_bounded(child, &format!("{} {}", self.binary.display(), args.join(" ")));
        (status, fs::read_to_string(stderr_path).unwrap_or_default())
    }

    /// `RUNTIME spec` in the bundle directory, then the patches; the busybox rootfs beside it.
    fn make_bundle(&self, transcript: &mut Vec<String>) -> bool {
        let bundle = self.bundle();
        fs::create_dir_all(bundle.join("rootfs/bin")).unwrap();
        let (status, stderr) = self.run(&bundle, &["spec"]);
        transcript.push(format!("spec: exit {}", code(status)));
        let Ok(text) = fs::read_to_string(bundle.join("config.json")) else {
            transcript.push(format!("spec: no config.json ({})", stderr.trim()));
            return false;
        };
        let mut spec: Value = serde_json::from_str(&text).unwrap();
        spec["process"]["args"] = json!(["/bin/sleep", "300"]);
        spec["process"]["terminal"] = json!(false);
        spec["annotations"] = json!({"org.nsbox.compare": "yes"});
        transcript.push(format!(
            "spec: root {} (readonly {})",
            spec["root"]["path"], spec["root"]["readonly"]
        ));
        fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
        // cp from another process: a write fd in this one could reach a container spawned
        // meanwhile by another test thread (ETXTBSY, see tests/common).
        let bin = bundle.join("rootfs/bin");
        let copied = Command::new("cp")
            .arg(nsbox_common::BUSYBOX)
            .arg(bin.join("busybox"))
            .status()
            .unwrap();
        assert!(copied.success());
        for applet in ["sh", "sleep"] {
            symlink("busybox", bin.join(applet)).unwrap();
        }
        for dir in ["proc", "dev", "sys", "tmp"] {
            fs::create_dir_all(bundle.join("rootfs").join(dir)).unwrap();
        }
        true
    }

    /// The spec's ociVersion this runtime wrote.
    fn spec_version(&self) -> Value {
        let text = fs::read_to_string(self.bundle().join("config.json")).unwrap();
        serde_json::from_str::<Value>(&text).unwrap()["ociVersion"].clone()
    }

    /// One verb: its exit code and, when it fails, the level and key phrases of the last line
    /// of the JSON log.
    fn step(&self, name: &str, args: &[&str], transcript: &mut Vec<String>) -> bool {
        let _ = fs::remove_file(self.log());
        let (status, stderr) = self.run(self.dir.path(), args);
        let mut line = format!("{name}: exit {}", code(status));
        if !status.success() {
            line += &format!("; {}", self.logged_error(&stderr));
        }
        transcript.push(line);
        status.success()
    }

    /// The last line of the `--log` file as engines read it: its level and which of runc's
    /// phrases its message holds (the message itself differs between runtimes).
    fn logged_error(&self, stderr: &str) -> String {
        let log = fs::read_to_string(self.log()).unwrap_or_default();
        let Some(last) = log.lines().rev().find(|l| !l.trim().is_empty()) else {
            return format!("no log line (stderr: {})", stderr.trim());
        };
        let Ok(entry) = serde_json::from_str::<Value>(last) else {
            return format!("log line not JSON: {last}");
        };
        let msg = entry["msg"].as_str().unwrap_or_default();
        let phrases: Vec<&str> = PHRASES.iter().copied().filter(|p| msg.contains(p)).collect();
        let time_ok = entry["time"].as_str().is_some_and(is_rfc3339);
        format!(
            "log level {}, time {}, says {phrases:?}",
            entry["level"],
            if time_ok { "RFC 3339" } else { "missing or not RFC 3339" }
        )
    }

    /// `state ID`, with the fields that differ by nature (pid, paths, time) checked and
    /// replaced by what they were checked against.
    fn state(&self, name: &str, transcript: &mut Vec<String>) -> Option<String> {
        let _ = fs::remove_file(self.log());
        let (status, stderr) = self.run(self.dir.path(), &["state", &self.id]);
        if !status.success() {
            transcript.push(format!("{name}: exit {}; {}", code(status), self.logged_error(&stderr)));
            return None;
        }
        let text = fs::read_to_string(self.dir.path().join("stdout")).unwrap();
        let Ok(mut state) = serde_json::from_str::<Value>(&text) else {
            transcript.push(format!("{name}: stdout not JSON: {text}"));
            return None;
        };
        let status = state["status"].as_str().unwrap_or_default().to_string();
        let pid_file: Option<i64> = fs::read_to_string(self.pid_file())
            .ok()
            .and_then(|p| p.trim().parse().ok());
        let obj = state.as_object_mut().unwrap();
        let mut normalize = |key: &str, f: &dyn Fn(&Value) -> Option<&'static str>| {
            if let Some(value) = obj.get_mut(key)
                && let Some(label) = f(value)
            {
                *value = json!(label);
            }
        };
        normalize("pid", &|v| match (v.as_i64(), pid_file) {
            (Some(0), _) if status == "stopped" => Some("0 (stopped)"),
            (Some(p), Some(f)) if p > 0 && p == f => Some("> 0, the --pid-file's"),
            (Some(p), _) if p > 0 => Some("> 0, not the --pid-file's"),
            _ => None,
        });
        let bundle = self.bundle();
        normalize("bundle", &|v| {
            (v.as_str() == bundle.to_str()).then_some("the bundle's absolute path")
        });
        let rootfs = bundle.join("rootfs");
        normalize("rootfs", &|v| {
            (v.as_str() == rootfs.to_str()).then_some("the bundle's rootfs, absolute")
        });
        normalize("created", &|v| v.as_str().is_some_and(is_rfc3339).then_some("RFC 3339"));
        normalize("id", &|v| (v.as_str() == Some(self.id.as_str())).then_some("the id"));
        let version = self.spec_version();
        normalize("ociVersion", &|v| {
            (*v == version).then_some("the version its spec writes")
        });
        let line = format!("{name}: exit 0; {}", serde_json::to_string(&state).unwrap());
        transcript.push(line);
        Some(status)
    }

    /// Polls `state` until it says `want` (bounded); the last status seen.
    fn wait_for_status(&self, want: &str) -> String {
        let start = Instant::now();
        loop {
            let mut scratch = Vec::new();
            let status = self.state("poll", &mut scratch).unwrap_or_default();
            if status == want || start.elapsed() > COMMAND_LIMIT {
                return status;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Directories named after the container in the host's cgroup hierarchies.
    fn cgroups_left(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        let mut dirs = vec![PathBuf::from("/sys/fs/cgroup")];
        for _depth in 0..3 {
            let mut next = Vec::new();
            for dir in dirs {
                for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                        continue;
                    }
                    if entry.file_name().to_str() == Some(self.id.as_str()) {
                        left.push(path);
                    } else {
                        next.push(path);
                    }
                }
            }
            dirs = next;
        }
        left
    }

    /// The whole sequence; one line per step.
    fn sequence(&self) -> Vec<String> {
        let mut t = Vec::new();
        if !self.make_bundle(&mut t) {
            return t;
        }
        let id = self.id.as_str();
        let bundle = self.bundle();
        let pid_file = self.pid_file();
        self.step("state of an unknown id", &["state", "nsbox-compare-unknown"], &mut t);
        let args = [
            "create",
            "--bundle",
            bundle.to_str().unwrap(),
            "--pid-file",
            pid_file.to_str().unwrap(),
            id,
        ];
        if !self.step("create", &args, &mut t) {
            return t;
        }
        self.state("state after create", &mut t);
        self.step("start", &["start", id], &mut t);
        self.state("state after start", &mut t);
        self.step("delete of a running one, no --force", &["delete", id], &mut t);
        self.step("kill 9", &["kill", id, "9"], &mut t);
        let seen = self.wait_for_status("stopped");
        t.push(format!("status after kill 9: {seen}"));
        self.state("state after kill", &mut t);
        self.step("kill of a stopped one", &["kill", id, "9"], &mut t);
        self.step("kill --all of a stopped one", &["kill", "--all", id, "9"], &mut t);
        self.step("delete", &["delete", id], &mut t);
        self.state("state after delete", &mut t);
        self.step("delete of a deleted one", &["delete", id], &mut t);
        self.step("start of an unknown id", &["start", "nsbox-compare-unknown"], &mut t);
        t.push(format!("cgroups left named after the id: {:?}", self.cgroups_left()));
        t
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let (status, _) = self.run(self.dir.path(), &["delete", "--force", &self.id]);
        let _ = status;
    }
}

/// Waits for `child` at most COMMAND_LIMIT; kills it (and fails) past that.
fn wait_bounded(mut child: Child, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {COMMAND_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn code(status: ExitStatus) -> String {
    match status.code() {
        Some(c) => c.to_string(),
        None => format!("{status}"),
    }
}

/// `2026-12-06T02:51:39.919554678Z` and the like: a date, `T`, a time, a zone.
fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && (text.ends_with('Z') || text[19..].contains(['+', '-']))
}

fn runc_installed() -> bool {
    nsbox_common::require("runc installed (Debian package runc)", Path::new(RUNC).is_file())
}

/// What runc 1.1 does, step by step: the reference the runtime under test is held to.
#[test]
fn runc_runs_the_sequence_as_expected() {
    if !nsbox_common::root() || !runc_installed() {
        return;
    }
    let runc = Runtime::new(Path::new(RUNC));
    let t = runc.sequence();
    let text = t.join("\n");
    let expect = [
        "spec: exit 0",
        "state of an unknown id: exit 1; log level \"error\", time RFC 3339, says [\"does not exist\"]",
        "create: exit 0",
        "\"status\":\"created\"",
        "start: exit 0",
        "\"status\":\"running\"",
        "delete of a running one, no --force: exit 1; log level \"error\", time RFC 3339, says [\"not stopped\", \"running\"]",
        "kill 9: exit 0",
        "status after kill 9: stopped",
        "kill of a stopped one: exit 1; log level \"error\", time RFC 3339, says [\"not running\", \"running\"]",
        "kill --all of a stopped one: exit 0",
        "delete: exit 0",
        "state after delete: exit 1; log level \"error\", time RFC 3339, says [\"does not exist\"]",
        "delete of a deleted one: exit 1",
        "start of an unknown id: exit 1; log level \"error\", time RFC 3339, says [\"does not exist\"]",
        "cgroups left named after the id: []",
    ];
    for line in expect {
        assert!(text.contains(line), "runc's transcript lacks {line:?}:\n{text}");
    }
    // The state's fields as runc prints them, every one checked by `state`'s normalization.
    let created = t.iter().find(|l| l.starts_with("state after create")).unwrap();
    for field in [
        "\"ociVersion\":\"the version its spec writes\"",
        "\"id\":\"the id\"",
        "\"pid\":\"> 0, the --pid-file's\"",
        "\"bundle\":\"the bundle's absolute path\"",
        "\"rootfs\":\"the bundle's rootfs, absolute\"",
        "\"created\":\"RFC 3339\"",
        "\"annotations\":{\"org.nsbox.compare\":\"yes\"}",
        "\"owner\":\"\"",
    ] {
        assert!(created.contains(field), "runc's state lacks {field}: {created}");
    }
}

/// The runtime under test behaves as runc does, step by step.
#[test]
fn runtime_matches_runc() {
    if !nsbox_common::root() || !runc_installed() {
        return;
    }
    let Some(binary) = runtime_under_test() else {
        nsbox_common::require(
            "a runtime to compare: NSBOX_RUNTIME=/path/to/nsbox-runtime, or the nsbox-runtime binary of this crate (not built yet)",
            false,
        );
        return;
    };
    assert!(binary.is_file(), "NSBOX_RUNTIME={}: no such file", binary.display());
    let runc = Runtime::new(Path::new(RUNC)).sequence();
    let ours = Runtime::new(&binary).sequence();
    let differences: Vec<String> = runc
        .iter()
        .zip(ours.iter().chain(std::iter::repeat(&String::new())))
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("  runc: {a}\n  {}: {b}", binary.display()))
        .collect();
    assert!(
        differences.is_empty() && runc.len() == ours.len(),
        "{} differs from runc at {} step(s):\n{}\nrunc's whole transcript:\n{}\n{}'s:\n{}",
        binary.display(),
        differences.len(),
        differences.join("\n"),
        runc.join("\n"),
        binary.display(),
        ours.join("\n")
    );
}
