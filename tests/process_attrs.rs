//! Process attributes and namespace settings (`oom_score_adj`, `umask`, `sysctl`,
//! `domainname`, `join_namespace`), read back inside the container; the caller's own values
//! and the host's never change.

mod common;

use std::path::Path;

use common::{refused, setup_failure_of, sh_builder, stdout_of};
use nsbox::{ConfigError, Container, Errno, Namespaces, Network, Setting, SetupStep};

fn own_oom_score_adj() -> String {
    std::fs::read_to_string("/proc/self/oom_score_adj").unwrap()
}

/// Whether this process may lower oom_score_adj (CAP_SYS_RESOURCE, which root lacks on some
/// hosts).
fn has_sys_resource() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    common::status_hex(&status, "CapEff") & (1 << 24) != 0 // CAP_SYS_RESOURCE
}

#[test]
fn oom_score_adj_is_the_payloads_and_never_the_callers() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let before = own_oom_score_adj();
    let raised = before.trim().parse::<i32>().unwrap() + 7;
    // With and without an init, with and without a user namespace: every way the setup
    // process may run (the default shares the caller's memory when it can).
    for (init, user_ns) in [(true, true), (false, true), (true, false), (false, false)] {
        let mut builder = sh_builder("cat /proc/self/oom_score_adj; cat /proc/1/oom_score_adj");
        if !user_ns {
            builder.namespaces(Namespaces::all() - Namespaces::USER);
        }
        let out = builder.init(init).oom_score_adj(raised).output().unwrap();
        assert_eq!(
            stdout_of(&out),
            format!("{raised}\n{raised}\n"),
            "init {init}, user ns {user_ns}"
        );
        assert_eq!(
            own_oom_score_adj(),
            before,
            "the caller's score changed (init {init}, user ns {user_ns})"
        );
    }
    // A running payload, seen from the host.
    let mut container = Container::builder()
        .command("/bin/sleep")
        .arg("100")
        .oom_score_adj(1000)
        .spawn()
        .unwrap();
    assert_eq!(own_oom_score_adj(), before);
    let pid = container.pid();
    let children = common::children_of(pid);
    for p in std::iter::once(pid).chain(children) {
        let score = std::fs::read_to_string(format!("/proc/{p}/oom_score_adj")).unwrap();
        assert_eq!(score, "1000\n", "process {p}");
    }
    container.kill(nsbox::Signal::SIGKILL).unwrap();
    container.wait().unwrap();
}

#[test]
fn lowering_oom_score_adj_needs_cap_sys_resource() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let before = own_oom_score_adj();
    let lower = before.trim().parse::<i32>().unwrap() - 1;
    // Without a user namespace it works exactly when the caller may lower its own score.
    let mut builder = sh_builder("cat /proc/self/oom_score_adj");
    builder
        .namespaces(Namespaces::all() - Namespaces::USER)
        .oom_score_adj(lower);
    if has_sys_resource() {
        assert_eq!(stdout_of(&builder.output().unwrap()), format!("{lower}\n"));
    } else {
        let e = setup_failure_of(builder.output());
        assert_eq!(
            (e.step, e.path.as_deref(), e.errno),
            (
                SetupStep::ProcessAttributes,
                Some(Path::new("/proc/self/oom_score_adj")),
                Errno::EACCES
            )
        );
    }
    // In a new user namespace never: the capability counts in the host's.
    let e = setup_failure_of(sh_builder("true").oom_score_adj(lower).output());
    assert_eq!((e.step, e.errno), (SetupStep::ProcessAttributes, Errno::EACCES));
    assert_eq!(own_oom_score_adj(), before);
}

#[test]
fn oom_score_adj_out_of_range_is_refused() {
    let _serial = common::exclusive();
    for score in [-1001, 1001, i32::MIN] {
        let e = refused(sh_builder("true").oom_score_adj(score));
        assert!(
            matches!(
                e,
                ConfigError::Malformed {
                    setting: Setting::OomScoreAdj,
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn umask_is_the_payloads() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let before = std::fs::read_to_string("/proc/self/status").unwrap();
    let out = sh_builder("grep Umask /proc/self/status; cd /tmp && touch f && mkdir d && stat -c %a f d")
        .umask(0o027)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "Umask:\t0027\n640\n750\n");
    let after = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = |s: &str| s.lines().find(|l| l.starts_with("Umask:")).unwrap().to_owned();
    assert_eq!(umask(&after), umask(&before), "the caller's umask changed");
    assert!(matches!(
        refused(sh_builder("true").umask(0o1000)),
        ConfigError::OutOfRange {
            setting: Setting::Umask,
            ..
        }
    ));
}

#[test]
fn net_sysctls_are_the_containers_own() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let path = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
    let host = std::fs::read_to_string(path).unwrap();
    for user_ns in [true, false] {
        let mut builder = sh_builder(&format!("cat {path} /proc/sys/net/ipv4/ping_group_range"));
        // Docker's range; in a user namespace both ends must be mapped groups.
        let (range, shown) = match user_ns {
            true => ("0 0", "0\t0"),
            false => ("0 2147483647", "0\t2147483647"),
        };
        if !user_ns {
            builder.namespaces(Namespaces::all() - Namespaces::USER);
        }
        builder
            .sysctl("net.ipv4.ip_unprivileged_port_start", "0")
            .sysctl("net/ipv4/ping_group_range", range);
        assert_eq!(
            stdout_of(&builder.output().unwrap()),
            format!("0\n{shown}\n"),
            "user ns {user_ns}"
        );
    }
    assert_eq!(std::fs::read_to_string(path).unwrap(), host, "the host's value changed");
}

#[test]
fn ipc_sysctls_are_the_containers_own() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap();
    for user_ns in [true, false] {
        let mut builder = sh_builder("cat /proc/sys/kernel/shmmax /proc/sys/fs/mqueue/msg_max");
        if !user_ns {
            builder.namespaces(Namespaces::all() - Namespaces::USER);
        }
        builder
            .sysctl("kernel.shmmax", "123456789")
            .sysctl("fs.mqueue.msg_max", "17");
        assert_eq!(
            stdout_of(&builder.output().unwrap()),
            "123456789\n17\n",
            "user ns {user_ns}"
        );
    }
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/shmmax").unwrap(), host);
}

#[test]
fn a_sysctl_the_kernel_lacks_fails_its_step_naming_the_file() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let e = setup_failure_of(
        sh_builder("true")
            .sysctl("net.ipv4.conf.nsbox0.forwarding", "1")
            .output(),
    );
    assert_eq!(
        (e.step, e.path.as_deref(), e.errno),
        (
            SetupStep::Sysctl,
            Some(Path::new("/proc/sys/net/ipv4/conf/nsbox0/forwarding")),
            Errno::ENOENT
        )
    );
}

#[test]
fn sysctls_outside_the_containers_namespaces_are_refused() {
    let _serial = common::exclusive();
    let e = refused(sh_builder("true").sysctl("vm.swappiness", "10"));
    assert!(
        matches!(
            e,
            ConfigError::Malformed {
                setting: Setting::Sysctl,
                ..
            }
        ),
        "{e}"
    );
    let e = refused(
        sh_builder("true")
            .network(Network::Host)
            .sysctl("net.ipv4.ip_forward", "1"),
    );
    assert_eq!(
        e,
        ConfigError::NeedsNamespace {
            setting: Setting::Sysctl,
            namespace: Namespaces::NET
        }
    );
    let e = refused(
        sh_builder("true")
            .namespaces(Namespaces::all() - Namespaces::IPC)
            .sysctl("kernel.shmmax", "1"),
    );
    assert!(
        matches!(
            e,
            ConfigError::NeedsNamespace {
                namespace: Namespaces::IPC,
                ..
            }
        ),
        "{e}"
    );
    let e = refused(sh_builder("true").hostname("a").sysctl("kernel.hostname", "b"));
    assert!(
        matches!(
            e,
            ConfigError::Conflict {
                setting: Setting::Sysctl,
                ..
            }
        ),
        "{e}"
    );
    let e = refused(
        sh_builder("true")
            .sysctl("net.ipv4.ip_forward", "1")
            .sysctl("net.ipv4.ip_forward", "0"),
    );
    assert!(
        matches!(
            e,
            ConfigError::Malformed {
                setting: Setting::Sysctl,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn domainname_is_the_containers() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap();
    let out = sh_builder("cat /proc/sys/kernel/domainname; domainname")
        .domainname("nsbox.test")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "nsbox.test\nnsbox.test\n");
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap(), host);
    let e = refused(
        sh_builder("true")
            .namespaces(Namespaces::all() - Namespaces::UTS)
            .domainname("x"),
    );
    assert!(
        matches!(
            e,
            ConfigError::NeedsNamespace {
                setting: Setting::Domainname,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn joined_ipc_and_uts_namespaces_are_a_running_containers() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let mut target = Container::builder()
        .hostname("nsbox-target")
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let pid = target.pid().to_string();
    // The payload's own namespaces: with an init, PID 1 of the container is its parent.
    let payload = common::children_of(target.pid())
        .into_iter()
        .next()
        .map_or(pid.clone(), |p| p.to_string());
    let (ipc, uts) = (common::ns_link(&payload, "ipc"), common::ns_link(&payload, "uts"));
    assert_ne!(ipc, common::ns_link("self", "ipc"));
    let out = sh_builder("readlink /proc/self/ns/ipc /proc/self/ns/uts; hostname")
        .namespaces(Namespaces::all() - Namespaces::USER)
        .join_namespace(Namespaces::IPC, format!("/proc/{payload}/ns/ipc"))
        .join_namespace(Namespaces::UTS, format!("/proc/{payload}/ns/uts"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), format!("{ipc}\n{uts}\nnsbox-target\n"));
    // A process executed in the joining container is in the joined namespaces too.
    let mut joiner = Container::builder()
        .namespaces(Namespaces::all() - Namespaces::USER)
        .join_namespace(Namespaces::IPC, format!("/proc/{payload}/ns/ipc"))
        .command("/bin/sleep")
        .arg("100")
        .spawn()
        .unwrap();
    let out = joiner
        .exec()
        .command("/bin/readlink")
        .arg("/proc/self/ns/ipc")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), format!("{ipc}\n"));
    joiner.kill(nsbox::Signal::SIGKILL).unwrap();
    joiner.wait().unwrap();
    target.kill(nsbox::Signal::SIGKILL).unwrap();
    target.wait().unwrap();
}

#[test]
fn a_joined_namespace_of_another_type_is_refused() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    for path in ["/proc/self/ns/uts", "/etc/hostname"] {
        let result = sh_builder("true")
            .namespaces(Namespaces::all() - Namespaces::USER)
            .join_namespace(Namespaces::IPC, path)
            .output();
        match result {
            Err(nsbox::Error::Config(ConfigError::Malformed {
                setting: Setting::JoinNamespace,
                ..
            })) => {}
            other => panic!("{path}: {other:?}"),
        }
    }
}

#[test]
fn joins_that_cannot_work_are_refused() {
    let _serial = common::exclusive();
    // In a new user namespace.
    let e = refused(sh_builder("true").join_namespace(Namespaces::IPC, "/proc/1/ns/ipc"));
    assert!(
        matches!(
            e,
            ConfigError::Conflict {
                setting: Setting::JoinNamespace,
                ..
            }
        ),
        "{e}"
    );
    let no_user = Namespaces::all() - Namespaces::USER;
    // PID and time namespaces are joinable: tests/namespace_joins.rs; user namespaces:
    // tests/user_namespace_join.rs.
    for ns in [Namespaces::MOUNT, Namespaces::NET] {
        let e = refused(
            sh_builder("true")
                .namespaces(no_user)
                .join_namespace(ns, "/proc/1/ns/x"),
        );
        assert!(
            matches!(
                e,
                ConfigError::Malformed {
                    setting: Setting::JoinNamespace,
                    ..
                }
            ),
            "{e}"
        );
    }
    // A hostname for a joined UTS namespace is not the container's to set.
    let e = refused(
        sh_builder("true")
            .namespaces(no_user)
            .hostname("x")
            .join_namespace(Namespaces::UTS, "/proc/1/ns/uts"),
    );
    assert!(
        matches!(
            e,
            ConfigError::NeedsNamespace {
                setting: Setting::Hostname,
                ..
            }
        ),
        "{e}"
    );
}

#[cfg(feature = "serde")]
#[test]
fn settings_round_trip_through_serde() {
    let config = sh_builder("true")
        .namespaces(Namespaces::all() - Namespaces::USER)
        .oom_score_adj(-500)
        .umask(0o22)
        .sysctl("net.ipv4.ip_unprivileged_port_start", "0")
        .domainname("example.org")
        .join_namespace(Namespaces::IPC, "/proc/1/ns/ipc")
        .personality(nsbox::Personality::Linux32)
        .io_priority(nsbox::IoClass::BestEffort, 3)
        .scheduler(nsbox::Scheduler::new(nsbox::SchedPolicy::Deadline).deadline(10_000, 20_000, 30_000))
        .build()
        .unwrap();
    assert!(
        !config.namespaces().contains(Namespaces::IPC),
        "a joined type is not created"
    );
    let json = serde_json::to_string(&config).unwrap();
    let again: nsbox::Config = serde_json::from_str(&json).unwrap();
    assert_eq!(format!("{again:?}"), format!("{config:?}"));
    assert_eq!(serde_json::to_string(&again).unwrap(), json);
    // Deserializing runs the same checks.
    let bad = json.replace("\"oom_score_adj\":-500", "\"oom_score_adj\":-5000");
    assert_ne!(bad, json);
    assert!(serde_json::from_str::<nsbox::Config>(&bad).is_err());
}

#[test]
fn scheduling_is_the_payloads() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    // /proc/PID/stat fields 19 (nice), 40 (rt_priority), 41 (policy) of `cut` itself, which
    // inherits them from the payload.
    const SCHED: &str = "cut -d' ' -f19,40,41 /proc/self/stat";
    // The spawning thread's nice, rt_priority and policy (scheduling is per thread).
    let caller = || {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let fields: Vec<String> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .map(String::from)
            .collect();
        [fields[16].clone(), fields[37].clone(), fields[38].clone()]
    };
    let before = caller();
    let out = sh_builder(SCHED)
        .scheduler(nsbox::Scheduler::new(nsbox::SchedPolicy::Batch).nice(5))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "5 0 3\n");
    let out = sh_builder(SCHED)
        .namespaces(Namespaces::all() - Namespaces::USER)
        .scheduler(nsbox::Scheduler::new(nsbox::SchedPolicy::RoundRobin).priority(3))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "0 3 2\n", "SCHED_RR 3 (root without a user namespace)");
    // A realtime class from a new user namespace: the capability counts in the host's.
    let e = setup_failure_of(
        sh_builder("true")
            .scheduler(nsbox::Scheduler::new(nsbox::SchedPolicy::Fifo).priority(1))
            .output(),
    );
    assert_eq!(
        (e.step, e.path.as_deref(), e.errno),
        (
            SetupStep::ProcessAttributes,
            Some(Path::new("sched_setattr")),
            Errno::EPERM
        )
    );
    assert_eq!(caller(), before, "the caller's scheduling changed");
    let e = refused(sh_builder("true").scheduler(nsbox::Scheduler::new(nsbox::SchedPolicy::Fifo)));
    assert!(
        matches!(
            e,
            ConfigError::Malformed {
                setting: Setting::Scheduler,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn io_priority_is_the_payloads() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let out = sh_builder("ionice")
        .io_priority(nsbox::IoClass::BestEffort, 6)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "best-effort: prio 6\n");
    let out = sh_builder("ionice")
        .io_priority(nsbox::IoClass::Idle, 0)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "idle\n");
    let caller = std::process::Command::new("ionice").output().unwrap();
    assert_ne!(
        String::from_utf8_lossy(&caller.stdout),
        "idle\n",
        "the caller's class changed"
    );
    let e = refused(sh_builder("true").io_priority(nsbox::IoClass::BestEffort, 8));
    assert!(
        matches!(
            e,
            ConfigError::OutOfRange {
                setting: Setting::IoPriority,
                ..
            }
        ),
        "{e}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn linux32_personality_is_the_payloads() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let out = sh_builder("uname -m; cat /proc/self/personality")
        .personality(nsbox::Personality::Linux32)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "i686\n00000008\n");
    let host = std::process::Command::new("uname").arg("-m").output().unwrap();
    assert_eq!(host.stdout, b"x86_64\n", "the caller's personality changed");
}
