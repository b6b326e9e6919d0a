//! The `nsbox` command end to end, as root: Docker's workflow on a busybox image, detached
//! containers outliving the command, the monitor's death, bad input, races and leaks.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::{Env, alive, can_run, free_port, http_get, mounts, text};

#[test]
fn a_foreground_run_prints_its_output_and_exits_with_its_code() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    let out = env.nsbox(&[
        "run",
        "--rm",
        "-e",
        "GREETING=hi",
        "busybox",
        "sh",
        "-c",
        "echo $GREETING; echo oops >&2; exit 7",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(text(&out.stderr), "oops\n");
    assert!(env.containers().is_empty(), "--rm left {:?}", env.containers());
    // Docker's codes for a command that cannot run: 127 not found, 126 not executable.
    assert_eq!(
        env.nsbox(&["run", "--rm", "busybox", "/nonexistent"]).status.code(),
        Some(127)
    );
    assert_eq!(
        env.nsbox(&["run", "--rm", "busybox", "/etc/passwd"]).status.code(),
        Some(126)
    );
    assert!(env.containers().is_empty());
}

/// The seed's workflow on busybox's httpd: run -d with a published port and a bind-mounted
/// html dir, curl, ps with the ports, logs, exec, stats, stop, rm; nothing left behind.
#[test]
fn a_detached_container_serves_then_stop_and_rm_leave_nothing_behind() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    let html = env.path().join("html");
    std::fs::create_dir(&html).unwrap();
    std::fs::write(html.join("index.html"), "MY Nginx!\n").unwrap();
    let mounts_before = mounts();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let volume = format!("{}:/www:ro", html.display());
    let id = env
        .ok(&[
            "run",
            "-d",
            "--name",
            "web",
            "-p",
            &publish,
            "-v",
            &volume,
            "busybox",
            "sh",
            "-c",
            "echo serving; httpd -f -p 80 -h /www",
        ])
        .trim()
        .to_owned();
    assert_eq!(id.len(), 64, "{id}");
    assert!(http_get(port).contains("MY Nginx!"));

    let ps = env.ok(&["ps"]);
    assert!(
        ps.contains(&id[..12]) && ps.contains("web") && ps.contains(&format!("127.0.0.1:{port}->80/tcp")),
        "{ps}"
    );
    assert_eq!(env.ok(&["ps", "-q"]).trim(), &id[..12]);
    assert_eq!(env.ok(&["logs", "web"]), "serving\n");
    assert_eq!(env.ok(&["port", "web", "80"]).trim(), format!("127.0.0.1:{port}"));
    // An id prefix names it as well as its name.
    assert_eq!(env.ok(&["exec", &id[..6], "cat", "/www/index.html"]), "MY Nginx!\n");
    let out = env.nsbox(&["exec", "web", "sh", "-c", "exit 5"]);
    assert_eq!(out.status.code(), Some(5));
    let stats = env.ok(&["stats", "--no-stream"]);
    assert!(stats.contains("web") && stats.contains("PIDS"), "{stats}");
    let inspect: serde_json::Value = serde_json::from_str(&env.ok(&["inspect", "web"])).unwrap();
    assert_eq!(inspect[0]["State"]["Status"], "running");
    let pid = inspect[0]["State"]["Pid"].as_u64().unwrap();
    let monitor = env.status(&id)["monitor"]["pid"].as_u64().unwrap();
    let cgroups: Vec<String> = serde_json::from_value(env.status(&id)["cgroups"].clone()).unwrap();
    assert!(!cgroups.is_empty());

    env.ok(&["stop", "-t", "5", "web"]);
    assert!(env.ok(&["ps"]).lines().count() == 1, "stopped but listed");
    assert!(env.ok(&["ps", "-a"]).contains("Exited"));
    assert!(!alive(pid) && !alive(monitor), "a process outlived stop");
    env.ok(&["rm", "web"]);
    assert!(env.containers().is_empty());
    assert!(!env.state().join("names/web").exists());
    assert_eq!(mounts(), mounts_before, "mounts left behind");
    assert!(
        cgroups.iter().all(|c| !std::path::Path::new(c).exists()),
        "cgroups left: {cgroups:?}"
    );
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
}

/// The command killed with SIGKILL right after `run -d`: the container keeps serving, `ps`
/// finds it. Its monitor killed: the container dies with it, `ps -a` says dead, `rm` cleans up.
#[test]
fn containers_outlive_the_command_but_not_their_monitor() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let mut child = env
        .command(&[
            "run", "-d", "--name", "keep", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut id = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut id).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let id = id.trim().to_owned();
    assert!(http_get(port).contains("MY Nginx!"));
    assert!(env.ok(&["ps"]).contains("keep"));

    let status = env.status(&id);
    let (monitor, init) = (
        status["monitor"]["pid"].as_u64().unwrap(),
        status["container"]["pid"].as_u64().unwrap(),
    );
    // The monitor leads its own session: a hang-up of the command's terminal does not reach it.
    assert_eq!(
        nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(monitor as i32)))
            .unwrap()
            .as_raw() as u64,
        monitor
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while alive(init) || alive(monitor) {
        assert!(
            std::time::Instant::now() < deadline,
            "the container outlived its monitor"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let ps = env.ok(&["ps", "-a"]);
    assert!(ps.contains("Dead"), "{ps}");
    assert!(!env.ok(&["ps"]).contains("keep"));
    let cgroups: Vec<String> = serde_json::from_value(env.status(&id)["cgroups"].clone()).unwrap();
    env.ok(&["rm", "keep"]);
    assert!(env.containers().is_empty());
    assert!(
        cgroups.iter().all(|c| !std::path::Path::new(c).exists()),
        "cgroups left: {cgroups:?}"
    );
}

/// Bad input: one line on stderr, exit code 125, nothing made.
#[test]
fn bad_input_is_one_line_and_125_and_leaves_nothing() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.ok(&["run", "-d", "--name", "taken", "busybox", "sleep", "1000"]);
    let before = env.containers();
    let cases: &[&[&str]] = &[
        &["run", "--frobnicate", "busybox"],
        &["run", "-p", "80:http", "busybox", "true"],
        &["run", "-p", "99999:80", "busybox", "true"],
        &["run", "-v", "relative:/data", "busybox", "true"],
        &["run", "-v", "/tmp:/data:rx", "busybox", "true"],
        &["run", "--memory", "lots", "busybox", "true"],
        &["run", "--network", "bridge0", "busybox", "true"],
        &["run", "no-such-image:1", "true"],
        &["run", "--name", "taken", "busybox", "true"],
        &["run", "--name", "bad/name", "busybox", "true"],
        &["rm", "taken"],
        &["exec", "no-such-container", "true"],
        &["logs", "no-such-container"],
    ];
    for args in cases {
        let out = env.nsbox(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert_eq!(env.containers(), before, "{args:?} left something");
    }
}

#[test]
fn two_runs_racing_for_a_name_exactly_one_wins() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    for _ in 0..3 {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                env.command(&["run", "-d", "--name", "x", "busybox", "sleep", "1000"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outs: Vec<_> = runs.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
        let won = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(won, 1, "{outs:?}");
        let lost = outs.iter().find(|o| !o.status.success()).unwrap();
        assert_eq!(lost.status.code(), Some(125));
        assert!(text(&lost.stderr).contains("already in use"), "{}", text(&lost.stderr));
        assert_eq!(env.containers().len(), 1);
        env.ok(&["rm", "-f", "x"]);
        assert!(env.containers().is_empty());
    }
}

#[test]
fn twenty_run_rm_cycles_leave_nothing_behind() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    let mounts_before = mounts();
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    for i in 0..20 {
        let id = env.ok(&[
            "run", "-d", "-p", &publish, "busybox", "httpd", "-f", "-p", "80", "-h", "/www",
        ]);
        let id = id.trim();
        let status = env.status(id);
        let pids = [
            status["monitor"]["pid"].as_u64().unwrap(),
            status["container"]["pid"].as_u64().unwrap(),
        ];
        let cgroups: Vec<String> = serde_json::from_value(status["cgroups"].clone()).unwrap();
        if i % 2 == 0 {
            env.ok(&["rm", "-f", id]);
        } else {
            env.ok(&["stop", "-t", "1", id]);
            env.ok(&["rm", id]);
        }
        assert!(pids.iter().all(|p| !alive(*p)), "cycle {i}: a process is left");
        assert!(
            cgroups.iter().all(|c| !std::path::Path::new(c).exists()),
            "cycle {i}: {cgroups:?}"
        );
        assert!(env.containers().is_empty(), "cycle {i}");
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("the port is free again");
    }
    assert_eq!(mounts(), mounts_before);
    let sockets = std::fs::read_dir(env.state().join("sock")).unwrap().count();
    assert_eq!(sockets, 0, "control sockets left behind");
}

/// A stopped container keeps its writable layer: `start` runs it again on it; `restart` too.
#[test]
fn start_and_restart_keep_the_containers_files() {
    if !can_run() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "c",
        "busybox",
        "sh",
        "-c",
        "echo run >> /count; exec sleep 1000",
    ]);
    env.ok(&["stop", "-t", "1", "c"]);
    env.ok(&["start", "c"]);
    env.ok(&["restart", "-t", "1", "c"]);
    // The shell appends once it runs: wait for it (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while env.ok(&["exec", "c", "cat", "/count"]) != "run\nrun\nrun\n" {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            env.ok(&["exec", "c", "cat", "/count"])
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    env.ok(&["pause", "c"]);
    assert!(env.ok(&["ps"]).contains("(Paused)"));
    env.ok(&["unpause", "c"]);
    assert_eq!(
        env.ok(&["exec", "c", "wc", "-l", "/count"]).split_whitespace().next(),
        Some("3")
    );
    // An image a container was made from is not removed without -f.
    let out = env.nsbox(&["rmi", "busybox"]);
    assert_eq!(out.status.code(), Some(125), "{}", text(&out.stderr));
    env.ok(&["rm", "-f", "c"]);
}

/// `-it`: an interactive shell on a terminal, driven through a pty as a user would.
#[test]
fn run_it_gives_an_interactive_terminal() {
    if !can_run() {
        return;
    }
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let pty = nix::pty::openpty(None, None).unwrap();
    let slave = pty.slave;
    let mut command = env.command(&["run", "--rm", "-it", "busybox", "sh"]);
    command
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: setsid and the TIOCSCTTY ioctl are async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    drop(slave);
    drop(command);
    let mut master = std::fs::File::from(pty.master);
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let mut reader = master.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let mut seen = String::new();
    let expect = |want: &str, seen: &mut String| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !seen.contains(want) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("never saw {want:?}; saw {seen:?}"),
            }
        }
    };
    master.write_all(b"echo $((6*7))-answer\r").unwrap();
    expect("42-answer", &mut seen);
    master.write_all(b"tty; exit 3\r").unwrap();
    expect("/dev/pts/", &mut seen);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{seen}");
    assert!(env.containers().is_empty());
}

#[test]
fn help_and_completions() {
    let out = std::process::Command::new(common::NSBOX)
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = text(&out.stdout);
    for flag in [
        "--detach",
        "--publish",
        "--volume",
        "--env-file",
        "--pids-limit",
        "--read-only",
        "--entrypoint",
    ] {
        assert!(help.contains(flag), "{flag} missing from run --help");
    }
    let out = std::process::Command::new(common::NSBOX)
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success() && text(&out.stdout).contains("nsbox"));
}
