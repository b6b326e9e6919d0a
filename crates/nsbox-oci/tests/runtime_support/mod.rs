//! Driving `nsbox-runtime` as an engine's shim does, for `runtime_cli.rs` and
//! `runtime_review.rs`: a state root and log of the test's own, bundles made by `spec` on a
//! busybox rootfs, and reaping as a child subreaper.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, Once};

use serde_json::{Value, json};

use crate::common::set;

pub const RUNTIME: &str = env!("CARGO_BIN_EXE_nsbox-runtime");

/// One test at a time: `reap` waits for any child (as the shim does), which would take
/// another test's `Command` child from under it.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A state root and a log file of their own for one test, which runs alone while it exists;
/// every container left under the root is deleted with `--force` (and reaped) on drop, also
/// when the test fails.
pub struct Runtime {
    pub dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl Runtime {
    pub fn new() -> Runtime {
        let serial = serial();
        static SUBREAPER: Once = Once::new();
        SUBREAPER.call_once(|| {
            // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) changes only this process's flag.
            assert_eq!(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) }, 0);
        });
        Runtime {
            dir: tempfile::Builder::new().prefix("nsbox-runtime-").tempdir().unwrap(),
            _serial: serial,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log.json")
    }

    /// `nsbox-runtime --root R --log L --log-format json ARGS`, as containerd's shim runs it.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(RUNTIME);
        cmd.arg("--root")
            .arg(self.root())
            .arg("--log")
            .arg(self.log())
            .args(["--log-format", "json"])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs the runtime; its stdout and stderr are files, as the shim's are: a container
    /// inherits them, so pipes would not end while it runs.
    pub fn run(&self, args: &[&str]) -> Output {
        let out = tempfile::tempfile().unwrap();
        let err = tempfile::tempfile().unwrap();
        let status = self
            .command(args)
            .stdout(out.try_clone().unwrap())
            .stderr(err.try_clone().unwrap())
            .status()
            .unwrap();
        Output {
            status,
            stdout: read_back(out),
            stderr: read_back(err),
        }
    }

    /// `run`, which must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `run`, which must fail with exit status 1; its error message (the last log line's).
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?} should fail: {out:?}");
        last_error(&self.log())
    }

    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    pub fn pid(&self, id: &str) -> u32 {
        pid_of(&self.state(id))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let Ok(ids) = fs::read_dir(self.root()) else { return };
        for id in ids.flatten() {
            let id = id.file_name().to_string_lossy().into_owned();
            let pid = fs::read(self.root().join(&id).join("state.json"))
                .ok()
                .and_then(|t| serde_json::from_slice::<Value>(&t).ok())
                .and_then(|s| s["pid"].as_u64());
            let _ = self.run(&["delete", "--force", &id]);
            if let Some(pid) = pid {
                try_reap(pid as u32);
            }
        }
    }
}

pub fn read_back(mut f: fs::File) -> Vec<u8> {
    f.rewind().unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

/// The message of the log's last line, checking the line's shape: one json object with
/// `level`, `msg` and an RFC 3339 `time`, in that order (containerd's shim reads it).
pub fn last_error(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap();
    let line = text.lines().last().expect("a log line");
    assert!(line.starts_with(r#"{"level":"error","msg":"#), "{line}");
    let v: Value = serde_json::from_str(line).unwrap();
    assert_eq!(v.as_object().unwrap().len(), 3, "{line}");
    let time = v["time"].as_str().unwrap();
    let b = time.as_bytes();
    assert!(
        time.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && time.ends_with('Z'),
        "not RFC 3339: {time}"
    );
    v["msg"].as_str().unwrap().to_string()
}

pub fn pid_of(state: &Value) -> u32 {
    state["pid"].as_u64().unwrap() as u32
}

/// A bundle made by `nsbox-runtime spec` (no terminal, `args`) on a busybox rootfs.
pub fn bundle(args: &[&str]) -> tempfile::TempDir {
    bundle_with(args, |_| {})
}

/// [`bundle`], its config.json edited by `edit`.
pub fn bundle_with(args: &[&str], edit: impl FnOnce(&mut Value)) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("nsbox-runtime-bundle-")
        .tempdir()
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(RUNTIME)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let path = dir.path().join("config.json");
    let mut spec: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    set(&mut spec, "/process/terminal", json!(false));
    set(&mut spec, "/process/args", json!(args));
    edit(&mut spec);
    fs::write(&path, serde_json::to_vec_pretty(&spec).unwrap()).unwrap();
    let bin = dir.path().join("rootfs/bin");
    fs::create_dir_all(&bin).unwrap();
    // cp from another process: a write fd in this one could reach a container spawned
    // meanwhile by another test thread (ETXTBSY).
    let copied = Command::new("cp")
        .arg(crate::nsbox_common::BUSYBOX)
        .arg(bin.join("busybox"))
        .status()
        .unwrap();
    assert!(copied.success());
    for applet in ["sh", "sleep", "echo", "cat", "true", "ls", "readlink", "mkdir"] {
        symlink("busybox", bin.join(applet)).unwrap();
    }
    dir
}

/// Reaps `pid` (our child since `create` exited); its wait status. Reaps every other child
/// too, as the shim does: a PID namespace's init cannot finish dying while a zombie of its
/// namespace (an exec's launcher, reparented to us) waits to be reaped. Runs while a
/// [`Runtime`] holds the test lock: no other test's child can be taken.
pub fn reap(pid: u32) -> i32 {
    try_reap(pid).unwrap_or_else(|| panic!("{pid} is no child of ours or never exited"))
}

/// [`reap`], or `None` if `pid` is not ours or did not exit within a generous bound.
pub fn try_reap(pid: u32) -> Option<i32> {
    static REAPED: Mutex<BTreeMap<i32, i32>> = Mutex::new(BTreeMap::new());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        {
            let mut reaped = REAPED.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(status) = reaped.remove(&(pid as i32)) {
                return Some(status);
            }
            let mut status = 0;
            // SAFETY: waitpid writing a live int.
            let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if r > 0 {
                reaped.insert(r, status);
                continue;
            }
            if r < 0 {
                return None; // no children at all
            }
        }
        if std::time::Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Makes `fd` the command's fd 3 (without close-on-exec), as a caller of `--preserve-fds 1`
/// passes it.
pub fn pass_as_fd_3(cmd: &mut Command, fd: std::os::fd::RawFd) {
    // SAFETY: dup2 and fcntl on fds, async-signal-safe, in the forked child before exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(cmd, move || {
            // dup2 onto itself would keep close-on-exec: clear it instead.
            let r = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            match r {
                -1 => Err(std::io::Error::last_os_error()),
                _ => Ok(()),
            }
        });
    }
}
