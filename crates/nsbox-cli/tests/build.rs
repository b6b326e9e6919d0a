//! `nsbox build` end to end, as root: every instruction on a busybox image, the cache (a second
//! build all hits, a changed file rebuilds from its COPY, cached steps survive `image prune`),
//! `--chown`, `.dockerignore`, ADD of a tar, and the refusals (an unsupported instruction, a
//! failing RUN, sources outside the context) leaving nothing behind. Then the seed's nginx
//! image from a Dockerfile on the Debian test image, built twice.

mod build_support;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use build_support::{Nsbox, root_and_busybox};

fn write(dir: &Path, name: &str, content: &str) {
    let path = dir.join(name);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A context with every instruction; returns its directory (inside `nsbox`'s temp dir).
fn full_context(nsbox: &Nsbox) -> std::path::PathBuf {
    let ctx = nsbox.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        r#"# escape=\
ARG BASE=busybox
FROM ${BASE}:latest
ARG GREETING=hello
ARG UNSET
ENV APP=/app \
    NAME="my app"
LABEL org.example.name="$NAME" version=1
WORKDIR $APP
COPY --chown=app:staff files/ ./files/
COPY hello.txt .
COPY --chmod=0750 hello.txt /opt/hello-${GREETING:-x}
ADD site.tar.gz /srv/
ADD plain.txt /srv/plain.txt
RUN echo "$GREETING from $NAME in $(pwd) as $(id -u)" > /greeting
SHELL ["/bin/sh", "-c"]
USER app:staff
EXPOSE 80 443/tcp 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo default command"]
"#,
    );
    write(&ctx, "files/a", "a\n");
    write(&ctx, "files/sub/b", "b\n");
    write(&ctx, "files/secret.key", "never copied\n");
    write(&ctx, "files/notes.md", "re-included\n");
    write(&ctx, "hello.txt", "hello v1\n");
    write(&ctx, "plain.txt", "not an archive\n");
    write(
        &ctx,
        ".dockerignore",
        "# keys stay out\nfiles/*.key\n**/*.md\n!files/notes.md\n",
    );
    let site = nsbox.dir.path().join("site");
    write(&site, "www/index.html", "from the archive\n");
    let packed = std::process::Command::new("tar")
        .arg("-C")
        .arg(&site)
        .arg("-czf")
        .arg(ctx.join("site.tar.gz"))
        .arg("www")
        .status()
        .unwrap();
    assert!(packed.success());
    ctx
}

#[test]
fn every_instruction_builds_an_image_that_runs_as_configured() {
    if !root_and_busybox() {
        return;
    }
    let nsbox = Nsbox::new();
    nsbox.import_busybox();
    let ctx = full_context(&nsbox);
    let out = nsbox.build(&["-t", "myimg:1", "-t", "other", "--build-arg", "GREETING=hi"], &ctx);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Step 20/20 : CMD [\"echo default command\"]"), "{text}");
    assert!(text.contains("Successfully tagged myimg:1"), "{text}");
    assert!(text.contains("Successfully tagged other:latest"), "{text}");

    // The config, as the store holds it.
    let store = nsbox.open_store();
    let image = store.inspect("myimg:1").unwrap();
    assert_eq!(
        store.inspect("other").unwrap().manifest_digest(),
        image.manifest_digest()
    );
    let config = image.config().config().clone().unwrap();
    let env = config.env().clone().unwrap();
    assert!(
        env.contains(&"APP=/app".to_string()) && env.contains(&"NAME=my app".to_string()),
        "{env:?}"
    );
    assert!(
        !env.iter().any(|e| e.starts_with("GREETING")),
        "ARGs are not in the image: {env:?}"
    );
    let labels = config.labels().clone().unwrap();
    assert_eq!(labels.get("org.example.name").map(String::as_str), Some("my app"));
    assert_eq!(labels.get("version").map(String::as_str), Some("1"));
    assert_eq!(config.working_dir().as_deref(), Some("/app"));
    assert_eq!(config.user().as_deref(), Some("app:staff"));
    let mut ports = config.exposed_ports().clone().unwrap();
    ports.sort(); // a map in the config: no order
    assert_eq!(ports, ["443/tcp", "53/udp", "80/tcp"]);
    assert_eq!(config.volumes().clone().unwrap(), ["/data"]);
    assert_eq!(config.stop_signal().as_deref(), Some("SIGQUIT"));
    assert_eq!(config.entrypoint().clone().unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(config.cmd().clone().unwrap(), ["echo default command"]);
    // A layer per RUN, COPY, ADD and the WORKDIR that made /app: 1 + 1 + 3 + 2 + 1.
    assert_eq!(image.layers().len(), 8);

    // What the layers hold, seen from a container of the image (as root: the files' owners).
    let script = "cat /greeting; ls -ln /app/files | sed 1d; ls -n /app/files/sub/b; ls /app/files; \
                  cat /app/hello.txt; stat -c '%a %u:%g' /opt/hello-hi; cat /srv/www/index.html; \
                  cat /srv/plain.txt; pwd";
    let run = nsbox.ok([
        "run",
        "--rm",
        "-u",
        "0",
        "--entrypoint",
        "/bin/sh",
        "myimg:1",
        "-c",
        script,
    ]);
    assert!(run.contains("hi from my app in /app as 0"), "{run}");
    let owners: Vec<&str> = run.lines().filter(|l| l.contains(" 1000 ")).collect();
    assert!(
        owners.iter().all(|l| l.contains(" 1000     50 ")),
        "--chown=app:staff: {run}"
    );
    assert!(owners.len() >= 3, "{run}");
    assert!(!run.contains("secret.key"), ".dockerignore: {run}");
    assert!(run.contains("notes.md"), "an exception re-includes: {run}");
    assert!(run.contains("hello v1"), "{run}");
    assert!(run.contains("750 0:0"), "--chmod, root-owned by default: {run}");
    assert!(run.contains("from the archive"), "ADD unpacks a tar: {run}");
    assert!(run.contains("not an archive"), "ADD copies other files: {run}");
    assert!(run.trim_end().ends_with("/app"), "WORKDIR: {run}");
    // ENTRYPOINT + CMD run as the image says (as root here).
    let default = nsbox.ok(["run", "--rm", "-u", "0", "myimg:1"]);
    assert_eq!(default.trim(), "default command");
    assert!(nsbox.build_leftovers().is_empty(), "{:?}", nsbox.build_leftovers());
    // The cache's step images are not listed.
    let images = nsbox.ok(["images"]);
    assert!(!images.contains("nsbox-build-cache"), "{images}");
    assert_eq!(images.lines().count(), 4, "header, busybox, myimg, other: {images}");
}

#[test]
fn a_second_build_is_all_cached_and_a_changed_file_rebuilds_from_its_copy() {
    if !root_and_busybox() {
        return;
    }
    let nsbox = Nsbox::new();
    nsbox.import_busybox();
    let ctx = full_context(&nsbox);
    let first = nsbox.build(&["-t", "myimg"], &ctx);
    assert!(first.status.success(), "{}{}", stdout(&first), stderr(&first));
    let id = |out: &std::process::Output| {
        stdout(out)
            .lines()
            .find_map(|l| l.strip_prefix("Successfully built ").map(str::to_owned))
            .unwrap()
    };
    // 20 instructions: three ARGs and the FROM make no step image.
    let steps = 20 - 4;
    let second = nsbox.build(&["-t", "myimg"], &ctx);
    let text = stdout(&second);
    assert_eq!(text.matches(" ---> Using cache").count(), steps, "{text}");
    assert!(!text.contains("Running in"), "{text}");
    assert_eq!(id(&second), id(&first));

    // Cached steps survive `image prune` (gc): still all hits.
    nsbox.ok(["image", "prune"]);
    let third = nsbox.build(&["-t", "myimg"], &ctx);
    assert_eq!(
        stdout(&third).matches(" ---> Using cache").count(),
        steps,
        "{}",
        stdout(&third)
    );

    // hello.txt changed: its first COPY (step 9) and every later step are rebuilt.
    write(&ctx, "hello.txt", "hello v2\n");
    let fourth = nsbox.build(&["-t", "myimg"], &ctx);
    let text = stdout(&fourth);
    assert!(fourth.status.success(), "{text}{}", stderr(&fourth));
    let cached: Vec<&str> = text
        .split("Step ")
        .filter(|s| s.contains(" ---> Using cache"))
        .map(|s| s.split(':').next().unwrap())
        .collect();
    assert_eq!(cached, ["5/20 ", "6/20 ", "7/20 ", "8/20 "], "{text}");
    assert!(text.contains("Running in"), "the RUN after it runs again: {text}");
    assert_ne!(id(&fourth), id(&first));
    let run = nsbox.ok([
        "run",
        "--rm",
        "-u",
        "0",
        "--entrypoint",
        "cat",
        "myimg",
        "/app/hello.txt",
    ]);
    assert_eq!(run, "hello v2\n");

    // --no-cache runs every step.
    let fifth = nsbox.build(&["--no-cache", "-q", "-t", "myimg"], &ctx);
    assert!(fifth.status.success());
    assert!(
        stdout(&fifth).trim().starts_with("sha256:"),
        "-q prints the id only: {}",
        stdout(&fifth)
    );
    assert!(nsbox.build_leftovers().is_empty());

    // `builder prune` drops the cache; the tagged image keeps its layers.
    nsbox.ok(["builder", "prune"]);
    let run = nsbox.ok([
        "run",
        "--rm",
        "-u",
        "0",
        "--entrypoint",
        "cat",
        "myimg",
        "/app/hello.txt",
    ]);
    assert_eq!(run, "hello v2\n");
    let sixth = nsbox.build(&["-t", "myimg"], &ctx);
    assert!(sixth.status.success());
    assert_eq!(
        stdout(&sixth).matches(" ---> Using cache").count(),
        0,
        "{}",
        stdout(&sixth)
    );
}

/// Asserts `out` failed with `code` and a message naming `needle`, that no image named
/// `tag` exists and no work directory was left.
fn refused(nsbox: &Nsbox, out: &std::process::Output, code: i32, needle: &str, tag: &str) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{}{err}", stdout(out));
    assert!(err.contains(needle), "{err}");
    assert!(nsbox.open_store().inspect(tag).is_err(), "{tag} was tagged");
    assert!(nsbox.build_leftovers().is_empty(), "{:?}", nsbox.build_leftovers());
}

#[test]
fn an_unsupported_instruction_is_refused_with_its_line_before_anything_runs() {
    if !root_and_busybox() {
        return;
    }
    let nsbox = Nsbox::new();
    nsbox.import_busybox();
    let ctx = nsbox.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nRUN touch /made\nHEALTHCHECK CMD true\nCMD sh\n",
    );
    let before = fs::read_to_string(nsbox.store().join("refs.json")).unwrap();
    let out = nsbox.build(&["-t", "bad"], &ctx);
    refused(&nsbox, &out, 125, "Dockerfile:3: HEALTHCHECK is not supported", "bad");
    assert_eq!(stderr(&out).lines().count(), 1, "one line: {}", stderr(&out));
    assert!(
        !stdout(&out).contains("Step"),
        "checked before any step: {}",
        stdout(&out)
    );
    assert_eq!(fs::read_to_string(nsbox.store().join("refs.json")).unwrap(), before);

    write(&ctx, "Dockerfile", "FROM busybox AS build\nRUN true\n");
    refused(
        &nsbox,
        &nsbox.build(&["-t", "bad"], &ctx),
        125,
        "Dockerfile:1: FROM",
        "bad",
    );
    write(&ctx, "Dockerfile", "FROM nosuchimage\n");
    refused(
        &nsbox,
        &nsbox.build(&["-t", "bad"], &ctx),
        125,
        "unable to find the image",
        "bad",
    );
    write(&ctx, "Dockerfile", "FROM busybox\nADD https://example.com/x /x\n");
    refused(
        &nsbox,
        &nsbox.build(&["-t", "bad"], &ctx),
        125,
        "Dockerfile:2: ADD",
        "bad",
    );
}

#[test]
fn a_failing_run_names_its_line_and_exit_code_and_commits_nothing() {
    if !root_and_busybox() {
        return;
    }
    let nsbox = Nsbox::new();
    nsbox.import_busybox();
    let ctx = nsbox.dir.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox\nENV A=1\nRUN echo about to fail; exit 3\nCMD sh\n",
    );
    let out = nsbox.build(&["-t", "bad"], &ctx);
    refused(&nsbox, &out, 1, "Dockerfile:3: RUN echo about to fail; exit 3", "bad");
    assert!(stderr(&out).contains("returned a non-zero code: 3"), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("about to fail"),
        "its output is shown: {}",
        stdout(&out)
    );
    // The ENV step before it is cached; no image holds the failed RUN's layer.
    let store = nsbox.open_store();
    let gc = store.gc().unwrap();
    assert!(gc.layers_in_use.is_empty(), "{gc:?}");
}

#[test]
fn copy_from_outside_the_context_is_refused() {
    if !root_and_busybox() {
        return;
    }
    let nsbox = Nsbox::new();
    nsbox.import_busybox();
    let ctx = nsbox.dir.path().join("ctx");
    write(&nsbox.dir.path().join("outside"), "secret", "outside the context\n");
    fs::create_dir_all(&ctx).unwrap();
    symlink("../outside", ctx.join("up")).unwrap();
    symlink("/etc/passwd", ctx.join("passwd")).unwrap();
    symlink("sub/../../outside/secret", ctx.join("sneaky")).unwrap();
    write(&ctx, "inside/file", "fine\n");
    fs::create_dir(ctx.join("sub")).unwrap();
    symlink("inside/file", ctx.join("ok-link")).unwrap();
    for (source, needle) in [
        ("../outside/secret", "outside the build context"),
        ("up/secret", "outside the build context"),
        ("up", "outside the build context"),
        ("passwd", "outside the build context"),
        ("sneaky", "outside the build context"),
        ("missing", "no such file"),
    ] {
        write(&ctx, "Dockerfile", &format!("FROM busybox\nCOPY {source} /x\n"));
        let out = nsbox.build(&["-t", "bad"], &ctx);
        refused(&nsbox, &out, 125, needle, "bad");
        assert!(stderr(&out).contains("Dockerfile:2: COPY"), "{}", stderr(&out));
    }
    // A symlink that stays inside is followed, as Docker does.
    write(&ctx, "Dockerfile", "FROM busybox\nCOPY ok-link /x\n");
    let out = nsbox.build(&["-t", "good"], &ctx);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = nsbox.ok(["run", "--rm", "good", "cat", "/x"]);
    assert_eq!(run, "fine\n");
}

#[test]
fn the_seeds_nginx_image_builds_and_a_second_build_is_all_cached() {
    if !root_and_busybox() {
        return;
    }
    let nsbox = Nsbox::new();
    let ctx = nsbox.dir.path().join("mynginx");
    let started = std::time::Instant::now();
    let Some(out) = build_support::build_mynginx(&nsbox, &ctx) else {
        return;
    };
    eprintln!(
        "nsbox build -t mynginx . (load of the Debian image included): {:.1?}",
        started.elapsed()
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let image = nsbox.open_store().inspect("mynginx").unwrap();
    let config = image.config().config().clone().unwrap();
    assert_eq!(config.cmd().clone().unwrap(), ["nginx", "-g", "daemon off;"]);
    let mut ports = config.exposed_ports().clone().unwrap();
    ports.sort();
    assert_eq!(ports, ["443/tcp", "80/tcp"]);
    nsbox.ok(["run", "--rm", "mynginx", "nginx", "-t"]);
    let started = std::time::Instant::now();
    let again = nsbox
        .command(["build", "-t", "mynginx", "."])
        .current_dir(&ctx)
        .output()
        .unwrap();
    eprintln!("second build, all cached: {:.1?}", started.elapsed());
    let text = stdout(&again);
    assert!(again.status.success(), "{text}");
    // ENV, RUN, three COPY, EXPOSE, CMD.
    assert_eq!(text.matches(" ---> Using cache").count(), 7, "{text}");
    assert!(nsbox.build_leftovers().is_empty());
    run_the_seeds_nginx(&nsbox, &ctx);
}

/// The primer's `docker run -d -p 8080:80 -p 8443:443 -v $PWD/conf.d:/etc/nginx/conf.d
/// -v $PWD/html:/usr/share/nginx/html --name mynginx mynginx` (on free ports of 127.0.0.1),
/// curl, `ps` with its ports, `stats`, then `stop` and `rm` leave no process, mount, cgroup,
/// state or data directory, or port behind.
fn run_the_seeds_nginx(nsbox: &Nsbox, ctx: &Path) {
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (http, https) = (free(), free());
    let mounts_before = fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count();
    let (p80, p443) = (format!("127.0.0.1:{http}:80"), format!("127.0.0.1:{https}:443"));
    let conf = format!("{}:/etc/nginx/conf.d", ctx.join("conf.d").display());
    let html = format!("{}:/usr/share/nginx/html", ctx.join("html").display());
    let id = nsbox.ok([
        "run", "-d", "-p", &p80, "-p", &p443, "-v", &conf, "-v", &html, "--name", "mynginx", "mynginx",
    ]);
    let id = id.trim();
    // The bound page, through the published port (the forwarder listens once nginx does).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let page = loop {
        use std::io::{Read, Write};
        let got = std::net::TcpStream::connect(("127.0.0.1", http)).and_then(|mut s| {
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        });
        match got {
            Ok(body) if body.contains("200 OK") => break body,
            _ if std::time::Instant::now() > deadline => {
                panic!("nginx never answered: {got:?}\n{}", nsbox.ok(["logs", "mynginx"]))
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(50)),
        }
    };
    assert!(page.contains("MY Nginx!"), "{page}");
    let ps = nsbox.ok(["ps"]);
    let row = ps
        .lines()
        .find(|l| l.contains("mynginx"))
        .unwrap_or_else(|| panic!("{ps}"));
    assert!(
        row.contains(&format!("127.0.0.1:{http}->80/tcp")) && row.contains(&format!("127.0.0.1:{https}->443/tcp")),
        "{ps}"
    );
    assert!(row.contains("\"nginx -g daemon off;\""), "{ps}");
    let stats = nsbox.ok(["stats", "--no-stream", "mynginx"]);
    let line = stats.lines().nth(1).unwrap_or_else(|| panic!("{stats}"));
    if nsbox::preflight().can_use(nsbox::Controller::Memory) {
        assert!(line.contains("MiB /"), "memory: {stats}");
    }
    assert!(
        line.split_whitespace()
            .last()
            .is_some_and(|pids| pids.parse::<u32>().unwrap_or(0) >= 2),
        "{stats}"
    );
    assert!(
        nsbox.ok(["logs", "mynginx"]).contains("GET / HTTP/1.0"),
        "nginx's access log goes to its logs"
    );

    let status: serde_json::Value =
        serde_json::from_slice(&fs::read(nsbox.state().join("containers").join(id).join("status.json")).unwrap())
            .unwrap();
    let pids = [
        status["monitor"]["pid"].as_u64().unwrap(),
        status["container"]["pid"].as_u64().unwrap(),
    ];
    let cgroups: Vec<String> = serde_json::from_value(status["cgroups"].clone()).unwrap();
    nsbox.ok(["stop", "mynginx"]);
    nsbox.ok(["rm", "mynginx"]);
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z")),
            "pid {pid} left"
        );
    }
    assert!(cgroups.iter().all(|c| !Path::new(c).exists()), "{cgroups:?}");
    assert_eq!(fs::read_dir(nsbox.state().join("containers")).unwrap().count(), 0);
    assert_eq!(fs::read_dir(nsbox.store().join("containers")).unwrap().count(), 0);
    assert_eq!(
        fs::read_to_string("/proc/self/mountinfo").unwrap().lines().count(),
        mounts_before
    );
    for port in [http, https] {
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
    }
}
