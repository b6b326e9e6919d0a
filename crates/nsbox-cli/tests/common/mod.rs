//! Helpers for the `nsbox` command's tests: a private state directory and store per test, a
//! busybox image made from Debian's busybox-static, and the command run as a process.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `nsbox` binary cargo built, or `NSBOX_BIN` (the cgroup v2 VM stages it elsewhere).
pub static NSBOX: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| std::env::var("NSBOX_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_nsbox").to_owned()));

/// Whether the tests can run here: root and a static busybox. Otherwise a reason is printed
/// (and, under NSBOX_REQUIRE_ALL=1, the test fails).
pub fn can_run() -> bool {
    let missing = if !nix::unistd::geteuid().is_root() {
        Some("not root")
    } else if !Path::new("/bin/busybox").exists() {
        Some("no /bin/busybox (apt-get install busybox-static)")
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) => {
            assert!(
                std::env::var_os("NSBOX_REQUIRE_ALL").is_none_or(|v| v != "1"),
                "required test cannot run: {why}"
            );
            eprintln!("SKIPPED: {why}");
            false
        }
    }
}

/// A state directory and a store of their own, with the busybox image imported as `busybox`.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        let dir = tempfile::Builder::new()
            .prefix("nsbox-cli-")
            .tempdir()
            .expect("temp dir");
        let env = Env { dir };
        let tar = env.path().join("busybox.tar");
        busybox_rootfs_tar(&env.path().join("rootfs"), &tar);
        let out = env.nsbox(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(out.status.success(), "import: {}", text(&out.stderr));
        env
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&*NSBOX);
        command
            .args(args)
            .env("NSBOX_STATE_DIR", self.state())
            .env("NSBOX_STORE", self.path().join("store"))
            .stdin(Stdio::null());
        command
    }

    pub fn nsbox(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run nsbox")
    }

    /// Runs `args`, expects success, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.nsbox(args);
        assert!(
            out.status.success(),
            "nsbox {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// The containers' directories in the state directory.
    pub fn containers(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.state().join("containers"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// A container's recorded status (status.json).
    pub fn status(&self, id: &str) -> serde_json::Value {
        let path = self.state().join("containers").join(id).join("status.json");
        serde_json::from_slice(&std::fs::read(path).expect("status.json")).expect("json")
    }
}

impl Drop for Env {
    /// Leaves nothing running: every container of this state directory removed by force.
    fn drop(&mut self) {
        for id in self.containers() {
            let _ = self.nsbox(&["rm", "-f", &id]);
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A rootfs tar of /bin/busybox with its applets as symlinks, /etc/passwd and /etc/group.
pub fn busybox_rootfs_tar(root: &Path, tar: &Path) {
    for dir in ["bin", "etc", "tmp", "www", "root"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for applet in [
        "sh", "echo", "cat", "sleep", "ls", "id", "hostname", "httpd", "wc", "env", "pwd", "true", "false", "kill",
        "mkdir", "touch", "grep", "wget", "dd", "head", "readlink", "ln", "mkfifo", "chmod",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/tmp:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    std::fs::write(root.join("www/index.html"), "MY Nginx!\n").unwrap();
    let status = Command::new("tar")
        .arg("-C")
        .arg(root)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET / from 127.0.0.1:port, retrying while the server starts (a bound, not a timing check).
pub fn http_get(port: u16) -> String {
    use std::io::{Read, Write};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(body) if body.contains("200") => return body,
            _ if std::time::Instant::now() > deadline => panic!("no answer on port {port}: {attempt:?}"),
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    }
}

/// The mount table lines of this mount namespace.
pub fn mounts() -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().skip(3).collect::<Vec<_>>().join(" "))
        .collect();
    lines.sort();
    lines
}

/// Whether process `pid` exists and has not exited.
pub fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}
