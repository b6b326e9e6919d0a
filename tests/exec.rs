//! `Container::exec`: a process started in a running container joins everything the payload
//! is in (namespaces, mounts, network, cgroup) and gets exactly the payload's confinement
//! (credentials, capabilities, no_new_privs, seccomp filter, session), then dies with the
//! container or its handle. As root, and the same rules as nobody (a rootless container).

mod common;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use nsbox::{Container, ContainerBuilder, Error, Mount, SetupStep, Signal, Stdio};

/// What a process reports of itself: every field compared between the payload and an exec.
/// `grep` and `readlink` are its children: same namespaces, credentials and filter.
const PROBE: &str = r#"for f in Uid Gid Groups CapInh CapPrm CapEff CapBnd CapAmb NoNewPrivs Seccomp Seccomp_filters; do grep "^$f:" /proc/self/status; done
cat /proc/self/cgroup
for n in user mnt uts ipc pid net cgroup time; do echo "$n $(readlink /proc/self/ns/$n)"; done
read -r pid _ _ _ _ session _ < /proc/self/stat; [ "$pid" = "$session" ] && echo "session leader""#;

/// Spawns `/bin/sh -c "SCRIPT; echo END; exec sleep 60"` and returns the container once the
/// script ran, with what it printed before END.
fn payload(builder: &mut ContainerBuilder, script: &str) -> (Container, String) {
    let mut container = builder
        .command("/bin/sh")
        .args(["-c", &format!("{script}\necho END\nexec sleep 60")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the payload");
    let mut lines = BufReader::new(container.take_stdout().unwrap()).lines();
    let mut text = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "END" {
            return (container, text);
        }
        text.push_str(&line);
        text.push('\n');
    }
    panic!("the payload exited before END:\n{text}\n{:?}", container.wait());
}

/// The stdout of `sh -c script` exec'd in `container`, which must succeed.
fn exec_sh(container: &Container, script: &str) -> String {
    let out = container
        .exec()
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .expect("exec");
    common::stdout_of(&out)
}

fn sees_the_containers_hostname_pid_namespace_and_mounts() {
    let mut builder = Container::builder();
    builder.hostname("exec-host").mount(Mount::tmpfs("/data"));
    let (container, _) = payload(&mut builder, "echo made > /data/marker");
    let seen = exec_sh(
        &container,
        "cat /proc/sys/kernel/hostname; tr '\\0' ' ' < /proc/1/cmdline; echo; cat /data/marker",
    );
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], "exec-host", "{seen}");
    assert!(
        lines[1].starts_with("nsbox-init"),
        "PID 1 is not the container's init: {seen}"
    );
    assert_eq!(lines[2], "made", "{seen}");
}

#[test]
fn exec_sees_the_containers_hostname_pid_namespace_and_mounts() {
    if common::root() {
        sees_the_containers_hostname_pid_namespace_and_mounts();
    }
}

/// Namespaces, cgroup, credentials, capabilities, no_new_privs, seccomp, session: the same.
fn is_confined_exactly_as_the_payload(builder: &mut ContainerBuilder) {
    let (container, theirs) = payload(builder, PROBE);
    let ours = exec_sh(&container, PROBE);
    assert_eq!(ours, theirs, "exec (left) and payload (right) differ");
    assert!(ours.contains("NoNewPrivs:\t1"), "{ours}");
    assert!(ours.contains("Seccomp:\t2"), "{ours}");
    assert!(ours.contains("session leader"), "{ours}");
}

#[test]
fn exec_is_confined_exactly_as_the_payload() {
    if common::root() {
        is_confined_exactly_as_the_payload(Container::builder().cgroup());
    }
}

#[test]
fn exec_is_confined_exactly_as_a_sandbox_payload() {
    if common::root() {
        is_confined_exactly_as_the_payload(Container::builder().profile(nsbox::Profile::Sandbox));
    }
}

#[test]
fn exec_is_confined_exactly_as_the_payload_without_a_user_namespace() {
    if common::root() {
        let all = nsbox::Namespaces::all();
        is_confined_exactly_as_the_payload(Container::builder().namespaces(all - nsbox::Namespaces::USER));
    }
}

#[test]
fn exec_is_confined_exactly_as_the_payload_without_a_pid_namespace() {
    if common::root() {
        let all = nsbox::Namespaces::all();
        is_confined_exactly_as_the_payload(Container::builder().namespaces(all - nsbox::Namespaces::PID));
    }
}

#[test]
fn exec_is_confined_exactly_as_a_payload_that_is_pid_1() {
    if common::root() {
        is_confined_exactly_as_the_payload(Container::builder().init(false));
    }
}

/// Creating a user namespace needs no capability, so only the filter (Docker's profile denies
/// unshare without CAP_SYS_ADMIN) stops it: it does in the payload and in an exec.
fn carries_the_containers_seccomp_filter() {
    let (container, payload_says) = payload(
        &mut Container::builder(),
        "unshare -U true 2>/dev/null && echo allowed || echo denied",
    );
    assert_eq!(payload_says, "denied\n");
    let exec_says = exec_sh(&container, "unshare -U true 2>/dev/null && echo allowed || echo denied");
    assert_eq!(exec_says, "denied\n");
}

#[test]
fn exec_carries_the_containers_seccomp_filter() {
    if common::root() {
        carries_the_containers_seccomp_filter();
    }
}

#[test]
fn exec_is_held_to_the_containers_landlock_rules() {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a NULL attribute only reports the ABI.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    if !common::root() || !common::require("a kernel with Landlock enabled", abi >= 1) {
        return;
    }
    let script = "ls /usr >/dev/null && echo usr-readable; ls /var >/dev/null 2>&1 || echo var-denied";
    let mut builder = Container::builder();
    builder.landlock(
        nsbox::Landlock::new()
            .read_only(["/usr", "/etc"])
            .read_write(["/tmp", "/dev/null"]),
    );
    let (container, payload_says) = payload(&mut builder, script);
    assert_eq!(payload_says, "usr-readable\nvar-denied\n");
    assert_eq!(exec_sh(&container, script), "usr-readable\nvar-denied\n");
}

#[test]
fn exec_reaches_a_port_the_payload_listens_on_inside_the_container() {
    if !common::root_and_python() {
        return;
    }
    let listen = "python3 -c 'import socket,sys\ns=socket.socket()\ns.bind((\"127.0.0.1\",7777))\ns.listen()\nprint(\"END\",flush=True)\nc,_=s.accept()\nc.sendall(b\"hello from the payload\")\nc.close()'; exec sleep 60";
    let mut container = Container::builder()
        .command("/bin/sh")
        .args(["-c", listen])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(container.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "END\n");
    let got = exec_sh(
        &container,
        "python3 -c 'import socket\ns=socket.create_connection((\"127.0.0.1\",7777))\nprint(s.recv(100).decode())'",
    );
    assert_eq!(got, "hello from the payload\n");
}

fn exec_dies_with_the_container() {
    let (mut container, _) = payload(&mut Container::builder(), "true");
    let mut sleeper = container.exec().command("/bin/sleep").arg("60").spawn().unwrap();
    assert_eq!(sleeper.try_wait().unwrap(), None);
    container.kill(Signal::SIGKILL).unwrap();
    container.wait().unwrap();
    let status = sleeper
        .wait_timeout(Duration::from_secs(5))
        .unwrap()
        .expect("the exec'd sleep outlived its container");
    assert_eq!(status.signal(), Some(Signal::SIGKILL), "{status}");
}

#[test]
fn exec_is_gone_once_the_container_is_killed() {
    if common::root() {
        exec_dies_with_the_container();
    }
}

#[test]
fn dropping_the_exec_handle_kills_the_process_not_the_container() {
    if !common::root() {
        return;
    }
    let (mut container, _) = payload(&mut Container::builder(), "true");
    let sleeper = container.exec().command("/bin/sleep").arg("61.25").spawn().unwrap();
    let sleeping = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == b"/bin/sleep\x0061.25\x00")
                && e.file_name()
                    .to_str()
                    .and_then(|p| p.parse().ok())
                    .and_then(common::proc_stat)
                    .is_some_and(|f| f[0] != "Z")
        })
    };
    assert!(sleeping(), "the exec'd sleep is not there");
    drop(sleeper);
    common::wait_until("the exec'd sleep is gone", Duration::from_secs(5), || !sleeping());
    assert_eq!(container.try_wait().unwrap(), None, "the container died with the exec");
}

fn missing_command_is_a_setup_error_at_exec() {
    let (container, _) = payload(&mut Container::builder(), "true");
    let error = container.exec().command("/no/such/program").spawn().unwrap_err();
    let setup = error.as_setup().unwrap_or_else(|| panic!("not a setup error: {error}"));
    assert_eq!(setup.step, SetupStep::Exec, "{error}");
    assert_eq!(setup.errno, nsbox::Errno::ENOENT, "{error}");
    // The container is unharmed.
    assert_eq!(exec_sh(&container, "echo still here"), "still here\n");
}

#[test]
fn exec_of_a_missing_command_is_a_setup_error_at_step_exec() {
    if common::root() {
        missing_command_is_a_setup_error_at_exec();
    }
}

fn exec_into_an_exited_container_is_refused() {
    // Waited for.
    let mut container = Container::builder().command("/bin/true").spawn().unwrap();
    container.wait().unwrap();
    let error = container.exec().command("/bin/true").spawn().unwrap_err();
    assert!(matches!(error, Error::NotRunning { .. }), "{error}");
    // Exited, not yet waited for.
    let container = Container::builder().command("/bin/true").spawn().unwrap();
    common::wait_until("the container exits", Duration::from_secs(5), || {
        nix::poll::poll(
            &mut [nix::poll::PollFd::new(container.pidfd(), nix::poll::PollFlags::POLLIN)],
            nix::poll::PollTimeout::ZERO,
        ) == Ok(1)
    });
    let error = container.exec().command("/bin/true").spawn().unwrap_err();
    assert!(matches!(error, Error::NotRunning { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        format!("container {} is not running", container.id())
    );
}

#[test]
fn exec_into_an_exited_container_is_a_not_running_error() {
    if common::root() {
        exec_into_an_exited_container_is_refused();
    }
}

#[test]
fn exec_takes_its_own_command_environment_directory_and_narrower_user() {
    if !common::root() {
        return;
    }
    let (container, _) = payload(Container::builder().env("FROM_CONTAINER", "c"), "true");
    let out = container
        .exec()
        .command("sh")
        .args(["-c", "echo $FROM_CONTAINER $FROM_EXEC; pwd; id -u; id -g"])
        .env("FROM_EXEC", "e")
        .current_dir("/tmp")
        .user(1000, 1001)
        .output()
        .unwrap();
    assert_eq!(common::stdout_of(&out), "c e\n/tmp\n1000\n1001\n");
    let cleared = container
        .exec()
        .command("/bin/sh")
        .args(["-c", "echo \"[$FROM_CONTAINER]\""])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(common::stdout_of(&cleared), "[]\n");
    let unmapped = container
        .exec()
        .command("/bin/true")
        .user(1 << 30, 0)
        .spawn()
        .unwrap_err();
    assert!(
        matches!(
            unmapped,
            Error::Config(nsbox::ConfigError::Unmapped { id, .. }) if id == 1 << 30
        ),
        "{unmapped}"
    );
}

#[test]
fn exec_gets_none_of_the_callers_fds_and_piped_stdio_works() {
    if !common::root() {
        return;
    }
    // An fd of the caller's without close-on-exec.
    let file = std::fs::File::open("/proc/self/status").unwrap();
    // SAFETY: dup of an fd we own; the copy is closed below.
    let leaky = unsafe { libc::dup(std::os::fd::AsRawFd::as_raw_fd(&file)) };
    assert!(leaky > 2);
    let (container, _) = payload(&mut Container::builder(), "true");
    let mut child = container
        .exec()
        .command("/bin/sh")
        .args(["-c", "read -r line; echo \"got $line\"; ls /proc/self/fd"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.take_stdin().unwrap(), b"hi\n").unwrap();
    let out = child.wait_with_output().unwrap();
    // SAFETY: our own fd.
    unsafe { libc::close(leaky) };
    // 3 is the directory ls reads.
    assert_eq!(common::stdout_of(&out), "got hi\n0\n1\n2\n3\n");
}

// The same rules for an unprivileged caller: this binary again, as nobody.

const INNER: &str = "NSBOX_EXEC_INNER";

#[test]
fn exec_rules_hold_for_an_unprivileged_caller() {
    common::inner_tests_pass_as_nobody(INNER, 5);
}

fn inner() -> bool {
    common::is_inner_run(INNER)
}

#[test]
fn inner_rootless_exec_sees_the_containers_hostname_pid_namespace_and_mounts() {
    if inner() {
        sees_the_containers_hostname_pid_namespace_and_mounts();
    }
}

#[test]
fn inner_rootless_exec_is_confined_exactly_as_the_payload() {
    if inner() {
        is_confined_exactly_as_the_payload(&mut Container::builder());
    }
}

#[test]
fn inner_rootless_exec_carries_the_containers_seccomp_filter() {
    if inner() {
        carries_the_containers_seccomp_filter();
    }
}

#[test]
fn inner_rootless_exec_is_gone_once_the_container_is_killed() {
    if inner() {
        exec_dies_with_the_container();
    }
}

#[test]
fn inner_rootless_exec_of_a_missing_command_is_a_setup_error_at_step_exec() {
    if inner() {
        missing_command_is_a_setup_error_at_exec();
    }
}

/// An exec may narrow the payload's capabilities, never widen them.
#[test]
fn an_exec_can_drop_a_capability_of_the_payload() {
    if !common::root() {
        return;
    }
    let mut c = Container::builder().command("/bin/sleep").arg("30").spawn().unwrap();
    let cap_eff = |dropped: bool| {
        let mut exec = c.exec();
        exec.command("/bin/grep").args(["CapEff", "/proc/self/status"]);
        if dropped {
            exec.cap_drop(nsbox::Capability::CAP_CHOWN);
        }
        let out = exec.output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        u64::from_str_radix(text.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let (full, narrowed) = (cap_eff(false), cap_eff(true));
    assert_ne!(full & 1, 0, "the payload's set has CAP_CHOWN: {full:#x}");
    assert_eq!(narrowed, full & !1, "the exec's set is the payload's without CAP_CHOWN");
    c.kill(nsbox::Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}
