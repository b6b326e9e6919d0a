//! The process side, as with `std::process`: stdio, environment, working directory,
//! credentials, PATH lookup, privileges. Waiting and signals are in lifecycle.rs.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::time::Duration;

use common::{sh, sh_builder, sh_ok, stdout_of};
use nsbox::{Container, Errno, Rootfs, SetupStep, Stdio};

/// A bound against hangs, not a timing check.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn piped_stdin_round_trips_through_cat() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder()
        .command("/bin/cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // More than a pipe buffer, written from another thread while this one reads.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut stdin = c.take_stdin().unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || stdin.write_all(&sent));
    let mut back = Vec::new();
    c.take_stdout().unwrap().read_to_end(&mut back).unwrap();
    writer.join().unwrap().unwrap();
    assert!(c.wait().unwrap().success());
    assert!(back == data, "{} bytes came back for {} sent", back.len(), data.len());
}

#[test]
fn stdout_to_a_file_writes_the_host_file() {
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out");
    let file = fs::File::create(&path).unwrap();
    let status = sh_builder("echo to-file").stdout(file).status().unwrap();
    assert!(status.success());
    assert_eq!(fs::read_to_string(&path).unwrap(), "to-file\n");
}

#[test]
fn null_stdio_reads_nothing_and_swallows_output() {
    if !common::root() {
        return;
    }
    let out = Container::builder()
        .command("/bin/cat")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "");
    let out = sh_builder("echo swallowed; echo kept >&2")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b""[..], &b"kept\n"[..])
    );
}

#[test]
fn output_collects_a_mebibyte_on_stdout_and_stderr_at_once() {
    if !common::root() {
        return;
    }
    // Both writers run at once: reading one stream to the end first would deadlock.
    let script = "yes abcdefghijklmno | head -c 1048576 & yes 0123456789ABCDE | head -c 1048576 >&2 & wait";
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(sh(script)));
    let out = rx.recv_timeout(BOUND).expect("output() returned: no deadlock");
    assert!(out.status.success(), "{}", out.status);
    let expect = |line: &[u8]| line.iter().copied().cycle().take(1 << 20).collect::<Vec<u8>>();
    assert!(
        out.stdout == expect(b"abcdefghijklmno\n"),
        "stdout: {} bytes, not the pattern",
        out.stdout.len()
    );
    assert!(
        out.stderr == expect(b"0123456789ABCDE\n"),
        "stderr: {} bytes, not the pattern",
        out.stderr.len()
    );
}

#[test]
fn environment_is_inherited_set_and_removed() {
    if !common::root() {
        return;
    }
    let host_path = std::env::var("PATH").expect("the test runs with a PATH");
    let out = Container::builder()
        .command("/usr/bin/env")
        .env("NSBOX_A", "1")
        .envs([("NSBOX_B", "2"), ("NSBOX_C", "3")])
        .env("NSBOX_C", "overridden")
        .env_remove("NSBOX_B")
        .output()
        .unwrap();
    let env = stdout_of(&out);
    let lines: Vec<&str> = env.lines().collect();
    assert!(
        lines.contains(&format!("PATH={host_path}").as_str()),
        "PATH is inherited: {env}"
    );
    assert!(
        lines.contains(&"NSBOX_A=1") && lines.contains(&"NSBOX_C=overridden"),
        "{env}"
    );
    assert!(!env.contains("NSBOX_B"), "removed: {env}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("NSBOX_C=")).count(), 1, "{env}");
    let out = Container::builder()
        .command("/usr/bin/env")
        .env("NSBOX_X", "0")
        .env_clear()
        .env("ONLY", "1")
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        "ONLY=1\n",
        "env_clear starts empty and drops earlier env()"
    );
}

#[test]
fn current_dir_is_the_payloads_working_directory() {
    if !common::root() {
        return;
    }
    let out = Container::builder()
        .current_dir("/usr/share")
        .command("/bin/pwd")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "/usr/share\n");
    assert_eq!(sh_ok("pwd"), "/\n", "the default is /");
}

#[test]
fn user_and_groups_show_in_id() {
    if !common::root() {
        return;
    }
    let out = sh_builder("id; id -u; id -g; id -G")
        .user(1000, 1000)
        .groups([1001])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("uid=1000") && lines[0].contains("gid=1000") && lines[0].contains("1001"),
        "{text}"
    );
    assert_eq!(&lines[1..], ["1000", "1000", "1000 1001"], "{text}");
}

#[test]
fn bare_command_is_found_in_the_containers_path() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    let tools = rootfs.path().join("opt/nsbox-tools");
    fs::create_dir_all(&tools).unwrap();
    common::write_executable(&tools.join("nsbox-hello"), "#!/bin/sh\necho hello from inside\n");
    // Neither the host nor the caller's PATH has it: only the container's PATH does.
    let mut builder = Container::builder();
    builder
        .rootfs(Rootfs::dir(rootfs.path()))
        .env("PATH", "/opt/nsbox-tools:/bin");
    let out = builder.clone().command("nsbox-hello").output().unwrap();
    assert_eq!(stdout_of(&out), "hello from inside\n");
    // Without a PATH the standard default applies, still inside: /bin/busybox.
    let out = builder
        .clone()
        .env_clear()
        .command("busybox")
        .arg("true")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", out.status);
    // A program on the caller's PATH but not in the container is not found.
    let err = builder.clone().env_remove("PATH").command("cargo").spawn().unwrap_err();
    assert_eq!(
        err.as_setup().map(|s| (s.step, s.errno)),
        Some((SetupStep::Exec, Errno::ENOENT)),
        "{err}"
    );
}

#[test]
fn no_new_privileges_is_on_unless_allowed() {
    if !common::root() {
        return;
    }
    let no_new_privs = |b: &mut nsbox::ContainerBuilder| {
        let out = b
            .command("/bin/grep")
            .args(["NoNewPrivs", "/proc/self/status"])
            .output()
            .unwrap();
        stdout_of(&out).split_whitespace().nth(1).unwrap().to_owned()
    };
    assert_eq!(no_new_privs(&mut Container::builder()), "1");
    assert_eq!(no_new_privs(Container::builder().unsafe_allow_new_privileges()), "0");
}
