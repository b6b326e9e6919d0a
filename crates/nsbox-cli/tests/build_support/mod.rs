//! Helpers for tests of `nsbox build` (and of what runs its images): the `nsbox` binary with
//! its own state directory and store, a busybox base image, and the seed's nginx image built
//! from a Dockerfile on the Debian test image.
#![allow(dead_code)]

#[path = "../../../nsbox-image/tests/common/mod.rs"]
pub mod image_common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Applets linked into the busybox image.
const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "id", "env", "mkdir", "rm", "test", "true", "false", "stat", "wc", "pwd", "sort",
];

/// An `nsbox` with a private state directory and store in a temp dir.
pub struct Nsbox {
    pub dir: tempfile::TempDir,
}

impl Nsbox {
    pub fn new() -> Nsbox {
        let dir = tempfile::Builder::new().prefix("nsbox-cli-").tempdir().unwrap();
        Nsbox { dir }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// A command `nsbox ARGS` with this state directory and store.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_nsbox"));
        command
            .args(args)
            .env("NSBOX_STATE_DIR", self.state())
            .env("NSBOX_STORE", self.store());
        command
    }

    /// Runs `nsbox ARGS` and returns its output.
    pub fn output<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.command(args).output().unwrap()
    }

    /// Runs `nsbox ARGS`, which must succeed; returns its stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let out = self.output(&args);
        assert!(
            out.status.success(),
            "nsbox {args:?}: {}\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `nsbox build ARGS CONTEXT`.
    pub fn build(&self, args: &[&str], context: &Path) -> Output {
        let mut all: Vec<std::ffi::OsString> = vec!["build".into()];
        all.extend(args.iter().map(|a| a.into()));
        all.push(context.into());
        self.output(all)
    }

    /// The store, opened.
    pub fn open_store(&self) -> nsbox_image::Store {
        nsbox_image::Store::open(self.store()).unwrap()
    }

    /// Imports a busybox image as `busybox:latest` (`nsbox import` of a rootfs tar: the
    /// static busybox, a symlink per applet, /etc/passwd with root and `app` (1000), /etc/group
    /// with root, `app` and `staff` (50)).
    pub fn import_busybox(&self) {
        let root = self.dir.path().join("busybox-root");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("etc")).unwrap();
        let copied = Command::new("cp")
            .arg(BUSYBOX)
            .arg(root.join("bin/busybox"))
            .status()
            .unwrap();
        assert!(copied.success());
        for applet in APPLETS {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\napp:x:1000:\nstaff:x:50:\n").unwrap();
        let tar = self.dir.path().join("busybox.tar");
        let packed = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(packed.success());
        self.ok([std::ffi::OsStr::new("import"), tar.as_os_str(), "busybox".as_ref()]);
        fs::remove_dir_all(&root).unwrap();
        fs::remove_file(&tar).unwrap();
    }

    /// What `<store>/build` (the builds' work directory) holds: nothing once builds ended.
    pub fn build_leftovers(&self) -> Vec<PathBuf> {
        match fs::read_dir(self.store().join("build")) {
            Ok(dir) => dir.map(|e| e.unwrap().path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Root and a static busybox (Debian's busybox-static); otherwise the test is skipped.
pub fn root_and_busybox() -> bool {
    image_common::require("running as root", nix::unistd::geteuid().is_root())
        && image_common::require(
            "a static /bin/busybox (apt-get install busybox-static)",
            Path::new(BUSYBOX).exists(),
        )
}

/// The seed's primer files in `dir`: the Dockerfile (FROM the Debian test image, apt-get
/// install nginx, COPY of conf.d and html, EXPOSE 80 443, CMD nginx -g 'daemon off;'), the
/// nginx.conf the image uses, conf.d/default.conf and html/index.html ("MY Nginx!").
pub fn nginx_context(dir: &Path) {
    fs::create_dir_all(dir.join("conf.d")).unwrap();
    fs::create_dir_all(dir.join("html")).unwrap();
    fs::write(
        dir.join("Dockerfile"),
        format!(
            "FROM {}\n\
             ENV DEBIAN_FRONTEND=noninteractive\n\
             RUN apt-get -q update && apt-get -q install -y --no-install-recommends nginx \\\n    \
             && apt-get clean && rm -rf /var/lib/apt/lists/*\n\
             COPY nginx.conf /etc/nginx/nginx.conf\n\
             COPY conf.d /etc/nginx/conf.d\n\
             COPY html /usr/share/nginx/html\n\
             EXPOSE 80 443\n\
             CMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
            image_common::debian::REFERENCE
        ),
    )
    .unwrap();
    fs::write(
        dir.join("nginx.conf"),
        "user www-data; worker_processes 1; pid /run/nginx.pid; error_log stderr;\n\
         events { worker_connections 64; }\n\
         http { include /etc/nginx/mime.types; access_log /dev/stdout; include /etc/nginx/conf.d/*.conf; }\n",
    )
    .unwrap();
    fs::write(
        dir.join("conf.d/default.conf"),
        "server { listen 80; root /usr/share/nginx/html; }\n",
    )
    .unwrap();
    fs::write(dir.join("html/index.html"), "<h1>MY Nginx!</h1>\n").unwrap();
}

/// The seed's image: imports the Debian test image (built and cached by nsbox-image's tests'
/// helper) into `nsbox`'s store, writes the primer's context into `context` and runs
/// `nsbox build -t mynginx .` there. Returns the build's output; `None` (after a skip) where
/// the Debian image cannot be had or its mirror is unreachable.
pub fn build_mynginx(nsbox: &Nsbox, context: &Path) -> Option<Output> {
    let image = image_common::debian::image()?;
    nsbox.ok([
        std::ffi::OsStr::new("load"),
        "-q".as_ref(),
        "-i".as_ref(),
        image.docker_archive.as_os_str(),
    ]);
    nginx_context(context);
    let out = nsbox
        .command(["build", "-t", "mynginx", "."])
        .current_dir(context)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success()
        && (text.contains("Temporary failure resolving") || text.contains("Could not connect"))
        && !image_common::require(&format!("the Debian mirror for apt-get install nginx:\n{text}"), false)
    {
        return None;
    }
    Some(out)
}
