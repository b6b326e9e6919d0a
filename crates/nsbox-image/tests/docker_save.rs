//! A real `docker save` archive: Debian's dockerd (docker.io), started for this test only on a
//! private data root, exec root, pidfile and socket in a temporary directory, in a network
//! namespace of its own (no bridge, no iptables, no ip_forward: nothing of the host's network
//! is touched) and with the `vfs` storage driver (no mounts). scripts/test already runs the
//! suite in a private mount namespace whose /sys/fs/cgroup hides the v1 memory hierarchy; no
//! container is started, so dockerd creates no cgroup.
//!
//! `docker import` makes a one-layer image of the busybox tree the other tests build, a
//! `docker build` (the classic builder: `COPY` needs no running container) adds a second
//! layer, `docker save` writes the archive; nsbox-image imports it, the layers' trees are
//! compared with the sources and a container of it runs `cat /etc/os-release`. dockerd is
//! then stopped by the pid it wrote, its directories removed; no mount and no process of it
//! is left.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::images::{self, LayerTar};
use nsbox::Container;
use nsbox_image::run::{ImageRun, Overrides};
use nsbox_image::{Source, Store};

/// Generous upper bounds against hangs, never judged as timings.
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

const OS_RELEASE: &[u8] = b"ID=nsbox-docker-save\n";
const HELLO: &[u8] = b"hello from docker build\n";

/// The first of `candidates` that is an executable file, else `name` on PATH.
fn program(candidates: &[&str], name: &str) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.is_file()).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// A dockerd of this test. Dropped: stopped by the pid it wrote (SIGTERM, then SIGKILL to
/// its process group after [`STOP_TIMEOUT`]), its directories removed.
struct Dockerd {
    dir: tempfile::TempDir,
    child: Child,
    client: PathBuf,
    stopped: bool,
}

impl Dockerd {
    /// Starts dockerd; `Err` with its log when it does not answer.
    fn start(dockerd: &Path, client: &Path) -> Result<Self, String> {
        let dir = tempfile::Builder::new().prefix("nsbox-dockerd-").tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("daemon.json"), "{}").unwrap();
        fs::create_dir(d.join("client")).unwrap();
        let log = fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("unshare")
            .arg("--net")
            .arg("--")
            .arg(dockerd)
            .arg(format!("--host=unix://{}", d.join("docker.sock").display()))
            .arg(format!("--data-root={}", d.join("data").display()))
            .arg(format!("--exec-root={}", d.join("exec").display()))
            .arg(format!("--pidfile={}", d.join("docker.pid").display()))
            .arg(format!("--config-file={}", d.join("daemon.json").display()))
            .args([
                "--storage-driver=vfs",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--bridge=none",
                "--userland-proxy=false",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawn unshare dockerd: {e}"))?;
        let mut me = Dockerd {
            dir,
            child,
            client: client.to_owned(),
            stopped: false,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if me.docker(&["version"]).status.success() {
                return Ok(me);
            }
            if Instant::now() > deadline || me.child.try_wait().unwrap().is_some() {
                let log = fs::read_to_string(me.dir.path().join("dockerd.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                return Err(tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `docker ARGS` against this daemon (a client config of its own; the classic builder).
    fn docker_with(&self, args: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
        let d = self.dir.path();
        let mut child = Command::new("timeout")
            .arg("120")
            .arg(&self.client)
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", d.join("docker.sock").display()))
            .env("DOCKER_CONFIG", d.join("client"))
            .env("DOCKER_BUILDKIT", "0")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run the docker client");
        if let Some(data) = stdin {
            let mut pipe = child.stdin.take().unwrap();
            pipe.write_all(data).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        self.docker_with(args, None)
    }

    /// `docker ARGS`, which must succeed; its stdout.
    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let out = self.docker_with(args, stdin);
        assert!(
            out.status.success(),
            "docker {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops dockerd by the pid it wrote (our child's: unshare execs dockerd) and waits for it;
    /// SIGKILL to its process group if it has not exited in time. Returns the pid it wrote.
    fn stop(&mut self) -> Option<i32> {
        let written = fs::read_to_string(self.dir.path().join("docker.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        if self.stopped {
            return written;
        }
        self.stopped = true;
        let child = self.child.id() as i32;
        // Only ever our own child: a pidfile naming another process is not signalled.
        let pid = nix::unistd::Pid::from_raw(child);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGKILL);
                self.child.wait().unwrap();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        written
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = self.stop();
        // The TempDir removes the data and exec roots, the socket and the pidfile.
    }
}

/// Processes whose command line names `dir` (dockerd, its containerd).
fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline.windows(needle.len()).any(|w| w == needle) {
            found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
        }
    }
    found
}

/// The listing `common::tree_listing` makes, from a layer tar's entries.
fn tar_listing(layer: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(layer);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().display().to_string();
        let name = name.trim_start_matches("./").trim_end_matches('/').to_owned();
        match entry.header().entry_type() {
            tar::EntryType::Directory => out.push(format!("{name}/")),
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
                out.push(format!("{name} {}", nsbox_image::Digest::of(&data)));
            }
            _ => out.push(name),
        }
    }
    out.sort();
    out
}

#[test]
fn a_docker_save_archive_from_dockerd_imports_and_runs() {
    if !common::root() {
        return;
    }
    let Some(dockerd) = program(&["/usr/sbin/dockerd"], "dockerd") else {
        common::require("dockerd (Debian's docker.io)", false);
        return;
    };
    // Debian's client beside its daemon (a newer one elsewhere on PATH talks to it too).
    let Some(client) = program(&["/usr/bin/docker"], "docker") else {
        common::require("the docker client (Debian's docker.io)", false);
        return;
    };
    let mounts_before = fs::read_to_string("/proc/self/mounts").unwrap();
    let mut daemon = match Dockerd::start(&dockerd, &client) {
        Ok(daemon) => daemon,
        Err(log) => {
            eprintln!("dockerd's log:\n{log}");
            common::require("a dockerd that starts", false);
            return;
        }
    };
    let daemon_dir = daemon.dir.path().to_owned();
    let work = tempfile::tempdir().unwrap();

    // Layer 1: the busybox tree, with an os-release of this test's own.
    let mut base = LayerTar::new().dir("bin/").file(
        "bin/busybox",
        0o755,
        &fs::read("/bin/busybox").expect("busybox-static is installed (/bin/busybox)"),
    );
    for applet in images::APPLETS {
        base = base.symlink(&format!("bin/{applet}"), "busybox");
    }
    let base = base
        .dir("etc/")
        .file("etc/os-release", 0o644, OS_RELEASE)
        .dir("tmp/")
        .finish();
    daemon.ok(
        &["import", "--change", r#"CMD ["/bin/sh"]"#, "-", "nsbox-test/busybox:1"],
        Some(&base),
    );
    // Layer 2: a file copied in by the classic builder.
    let context = work.path().join("context");
    fs::create_dir_all(context.join("etc")).unwrap();
    fs::write(context.join("etc/hello"), HELLO).unwrap();
    fs::write(
        context.join("Dockerfile"),
        "FROM nsbox-test/busybox:1\nCOPY etc/hello /etc/hello\n",
    )
    .unwrap();
    daemon.ok(
        &[
            "build",
            "--quiet",
            "--tag",
            "nsbox-test/two:1",
            context.to_str().unwrap(),
        ],
        None,
    );
    let archive = work.path().join("two.tar");
    daemon.ok(
        &["save", "--output", archive.to_str().unwrap(), "nsbox-test/two:1"],
        None,
    );
    let version = daemon.ok(&["version", "--format", "{{.Server.Version}}"], None);

    // Stopped before anything else: nothing of it is left.
    let child = daemon.child.id() as i32;
    assert_eq!(daemon.stop(), Some(child), "the pid dockerd wrote is the one stopped");
    drop(daemon);
    assert!(!daemon_dir.exists(), "dockerd's directory removed");
    assert_eq!(
        processes_naming(&daemon_dir),
        Vec::<String>::new(),
        "dockerd or containerd left"
    );
    assert_eq!(
        fs::read_to_string("/proc/self/mounts").unwrap(),
        mounts_before,
        "dockerd left mounts"
    );

    // Which shape this Docker writes: Docker 20.10 the classic one, Docker >= 25 an OCI layout.
    let names: Vec<String> = tar::Archive::new(fs::File::open(&archive).unwrap())
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    let oci = names.iter().any(|n| n == "oci-layout");
    eprintln!(
        "docker {}: `docker save` wrote the {} shape: {names:?}",
        version.trim(),
        if oci { "OCI-layout" } else { "classic" }
    );
    assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    if !oci {
        assert_eq!(
            names.iter().filter(|n| n.ends_with("/layer.tar")).count(),
            2,
            "{names:?}"
        );
    }

    let store = Store::open(work.path().join("store")).unwrap();
    let image = store
        .import(&Source::docker_archive(&archive), "nsbox-test/two:1", |_| {})
        .unwrap();
    assert_eq!(image.layers().len(), 2);
    assert_eq!(
        image.config().config().as_ref().and_then(|c| c.cmd().clone()),
        Some(vec!["/bin/sh".to_owned()])
    );
    // The layers' trees are the sources': the imported tar, the copied file.
    assert_eq!(common::tree_listing(image.layers()[0].path()), tar_listing(&base));
    assert_eq!(
        common::tree_listing(image.layers()[1].path()),
        [
            "etc/".to_owned(),
            format!("etc/hello {}", nsbox_image::Digest::of(HELLO))
        ]
    );

    let mut builder = Container::builder();
    let overrides = Overrides {
        cmd: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            "cat /etc/os-release /etc/hello".into(),
        ]),
        ..Default::default()
    };
    ImageRun::new(&store, "nsbox-test/two:1")
        .unwrap()
        .overrides(overrides)
        .apply(&mut builder)
        .unwrap();
    let out = builder.output().unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, [OS_RELEASE, HELLO].concat());
}
