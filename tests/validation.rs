//! Limits checked against what the host can do, at `build()`: each refusal is a typed
//! `ConfigError` carrying the values, `spawn()` agrees and nothing is created; and
//! `pids_limit(n)` lets the payload have exactly `n` processes, nsbox's own not counted.
//!
//! The memory checks compare with installed memory (`/proc/meminfo`): they need no memory
//! cgroup, which `scripts/test` hides.

mod common;

use std::fs;
use std::path::PathBuf;

use common::refused;
use nsbox::{ConfigError, Container, ContainerBuilder, Controller, Namespaces, Port, Resource, Setting, Stdio};

fn true_builder() -> ContainerBuilder {
    let mut b = Container::builder();
    b.command("/bin/true");
    b
}

/// `MemTotal` and `SwapTotal` in bytes.
fn meminfo() -> (u64, u64) {
    let text = fs::read_to_string("/proc/meminfo").unwrap();
    let kib = |key: &str| -> u64 {
        let line = text.lines().find_map(|l| l.strip_prefix(key)).unwrap();
        line.split_whitespace().next().unwrap().parse::<u64>().unwrap() * 1024
    };
    (kib("MemTotal:"), kib("SwapTotal:"))
}

/// The ids of a kernel list (`0-1,4`), in order.
fn ids(list: &str) -> Vec<u32> {
    list.trim()
        .split(',')
        .flat_map(|part| {
            let (a, b) = part.split_once('-').unwrap_or((part, part));
            a.parse::<u32>().unwrap()..=b.parse::<u32>().unwrap()
        })
        .collect()
}

fn online_cpus() -> String {
    fs::read_to_string("/sys/devices/system/cpu/online")
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn memory_limit_of_u64_max_is_refused_as_more_than_the_host_has() {
    let _serial = common::exclusive();
    let (installed, _) = meminfo();
    let err = refused(true_builder().memory_limit(u64::MAX));
    assert_eq!(
        err,
        ConfigError::ExceedsHost {
            setting: Setting::MemoryLimit,
            value: u64::MAX,
            available: installed,
        }
    );
    assert!(err.to_string().contains(&installed.to_string()), "{err}");
}

#[test]
fn memory_limit_above_installed_memory_is_refused_and_at_it_accepted() {
    let _serial = common::exclusive();
    let (installed, _) = meminfo();
    assert_eq!(
        refused(true_builder().memory_limit(installed + 1)),
        ConfigError::ExceedsHost {
            setting: Setting::MemoryLimit,
            value: installed + 1,
            available: installed,
        }
    );
    true_builder().memory_limit(installed).build().unwrap();
}

#[test]
fn memory_limit_below_six_mib_is_refused() {
    let _serial = common::exclusive();
    let floor = 6 << 20;
    assert_eq!(
        refused(true_builder().memory_limit(floor - 1)),
        ConfigError::OutOfRange {
            setting: Setting::MemoryLimit,
            value: floor - 1,
            allowed: floor..=u64::MAX,
        }
    );
    true_builder().memory_limit(floor).build().unwrap();
}

#[test]
fn swap_beyond_installed_memory_and_swap_is_refused() {
    let _serial = common::exclusive();
    let (installed, swap) = meminfo();
    let memory = 64 << 20;
    let left = installed + swap - memory;
    assert_eq!(
        refused(true_builder().memory_limit(memory).memory_swap_limit(left + 1)),
        ConfigError::ExceedsHost {
            setting: Setting::MemorySwapLimit,
            value: left + 1,
            available: left,
        }
    );
    true_builder()
        .memory_limit(memory)
        .memory_swap_limit(left)
        .build()
        .unwrap();
}

#[test]
fn cpuset_naming_an_offline_cpu_is_refused_with_the_online_list() {
    let _serial = common::exclusive();
    let online = online_cpus();
    // "99", as a user would type it; a CPU past the last online one on a bigger host.
    let offline = match ids(&online).contains(&99) {
        false => 99,
        true => ids(&online).into_iter().max().unwrap() + 1,
    };
    let err = refused(true_builder().cpuset_cpus(offline.to_string()));
    assert_eq!(
        err,
        ConfigError::NotOnline {
            setting: Setting::CpusetCpus,
            list: offline.to_string(),
            id: offline,
            online: online.clone(),
        }
    );
    assert!(err.to_string().contains("not online"), "{err}");
    // In a range, the first offline id is named.
    let first_online = ids(&online)[0];
    let err = refused(true_builder().cpuset_cpus(format!("{first_online}-{offline}")));
    assert!(
        matches!(err, ConfigError::NotOnline { id, .. } if id > first_online),
        "{err}"
    );
    true_builder().cpuset_cpus(online).build().unwrap();
}

#[test]
fn cpuset_mems_naming_an_offline_node_is_refused() {
    let _serial = common::exclusive();
    let online = fs::read_to_string("/sys/devices/system/node/online").map_or("0".into(), |t| t.trim().to_owned());
    let offline = ids(&online).into_iter().max().unwrap() + 1;
    let err = refused(true_builder().cpuset_mems(offline.to_string()));
    assert_eq!(
        err,
        ConfigError::NotOnline {
            setting: Setting::CpusetMems,
            list: offline.to_string(),
            id: offline,
            online,
        }
    );
    assert!(err.to_string().contains("memory node"), "{err}");
}

#[test]
fn malformed_cpusets_are_refused_as_malformed_not_offline() {
    let _serial = common::exclusive();
    for list in ["", "zero", "1-0", "0-", "0,,1", " 0", "0-3:2/4", "4294967296"] {
        for (setting, b) in [
            (Setting::CpusetCpus, true_builder().cpuset_cpus(list).clone()),
            (Setting::CpusetMems, true_builder().cpuset_mems(list).clone()),
        ] {
            let mut b = b;
            assert_eq!(
                refused(&mut b),
                ConfigError::Malformed {
                    setting,
                    value: list.into(),
                    expected: "a list like \"0-3,5\"",
                },
                "{list:?}"
            );
        }
    }
}

#[test]
fn cpu_limits_beyond_the_online_cpus_or_not_positive_are_refused() {
    let _serial = common::exclusive();
    let cpus = ids(&online_cpus()).len() as u64;
    assert_eq!(
        refused(true_builder().cpu_limit(cpus as f64 + 1.0)),
        ConfigError::ExceedsHost {
            setting: Setting::CpuLimit,
            value: (cpus + 1) * 1000,
            available: cpus * 1000,
        }
    );
    assert!(matches!(
        refused(true_builder().cpu_limit(f64::INFINITY)),
        ConfigError::ExceedsHost {
            setting: Setting::CpuLimit,
            value: u64::MAX,
            ..
        }
    ));
    for bad in [f64::NAN, 0.0, -1.0, 0.001, f64::NEG_INFINITY] {
        assert!(
            matches!(
                refused(true_builder().cpu_limit(bad)),
                ConfigError::OutOfRange {
                    setting: Setting::CpuLimit,
                    ..
                }
            ),
            "{bad}"
        );
    }
    true_builder().cpu_limit(cpus as f64).build().unwrap();
}

#[test]
fn pids_limits_of_zero_or_beyond_the_kernels_bound_are_refused() {
    let _serial = common::exclusive();
    let pid_max_limit = 4 << 20;
    // With an init (the default), one pid of the kernel's bound is nsbox's.
    for (value, builder) in [
        (0, true_builder()),
        (u64::MAX, true_builder()),
        (pid_max_limit, true_builder()),
    ] {
        let mut builder = builder;
        assert_eq!(
            refused(builder.pids_limit(value)),
            ConfigError::OutOfRange {
                setting: Setting::PidsLimit,
                value,
                allowed: 1..=pid_max_limit - 1,
            }
        );
    }
    true_builder().init(false).pids_limit(pid_max_limit).build().unwrap();
}

#[test]
fn weights_outside_their_range_are_refused() {
    let _serial = common::exclusive();
    for (setting, value) in [
        (Setting::IoWeight, 0),
        (Setting::IoWeight, 10_001),
        (Setting::CpuWeight, 10_001),
    ] {
        let mut b = true_builder();
        match setting {
            Setting::IoWeight => b.io_weight(value),
            _ => b.cpu_weight(value),
        };
        assert_eq!(
            refused(&mut b),
            ConfigError::OutOfRange {
                setting,
                value,
                allowed: 1..=10_000,
            }
        );
    }
}

/// This process's hard limit on open files.
fn hard_nofile() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .unwrap()
        .1
}

#[test]
fn hard_rlimit_above_the_callers_is_refused_in_a_user_namespace() {
    let _serial = common::exclusive();
    let hard = hard_nofile();
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The default namespaces include a user namespace: no raising, whatever the caller holds.
    let above = hard + 1;
    let err = refused(true_builder().rlimit(Resource::RLIMIT_NOFILE, 64, above));
    let allowed = if above > nr_open { nr_open } else { hard };
    assert!(
        matches!(err, ConfigError::RlimitAboveHost { resource: Resource::RLIMIT_NOFILE, hard: h, allowed: a, .. } if h == above && a == allowed),
        "{err:?}"
    );
    assert!(err.to_string().contains("RLIMIT_NOFILE"), "{err}");
    true_builder()
        .rlimit(Resource::RLIMIT_NOFILE, 64, hard)
        .build()
        .unwrap();
}

#[test]
fn nofile_above_nr_open_is_refused_even_without_a_user_namespace() {
    let _serial = common::exclusive();
    let nr_open: u64 = fs::read_to_string("/proc/sys/fs/nr_open")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let err = refused(true_builder().namespaces(Namespaces::all() - Namespaces::USER).rlimit(
        Resource::RLIMIT_NOFILE,
        64,
        nr_open + 1,
    ));
    assert!(
        matches!(err, ConfigError::RlimitAboveHost { allowed, why, .. } if allowed == nr_open && why.contains("nr_open")),
        "{err:?}"
    );
}

/// Root and a pids controller nsbox can use (scripts/test hides only the memory hierarchy).
fn root_and_pids() -> bool {
    common::root()
        && common::require(
            "a usable pids controller (run the suite with scripts/test)",
            nsbox::preflight().can_use(Controller::Pids),
        )
}

/// The container's `pids.max` as the host sees it.
fn pids_max(c: &Container) -> String {
    let parent: PathBuf = nsbox::preflight()
        .controller(Controller::Pids)
        .and_then(|s| s.parent.clone())
        .unwrap();
    let path = parent.join(format!("nsbox-{}", c.id())).join("pids.max");
    fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// Runs `sh -c 'echo ran; /bin/true && echo forked'` under `pids_limit(limit)` and returns
/// what it printed and the container's `pids.max` (the cgroup stays until the wait).
fn run_under_pids_limit(builder: &mut ContainerBuilder, limit: u64) -> (String, String) {
    let c = builder
        .pids_limit(limit)
        .command("/bin/sh")
        .args(["-c", "echo ran; /bin/true && echo forked"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("pids_limit({limit}): {e}"));
    let limit_file = pids_max(&c);
    let out = c.wait_with_output().unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), limit_file)
}

/// A change to a builder.
type Configure = fn(&mut ContainerBuilder);

#[test]
fn pids_limit_one_lets_the_payload_run_and_fork_nothing() {
    let _serial = common::exclusive();
    if !root_and_pids() {
        return;
    }
    // With an init (the default), without one, and with the published ports' connector too.
    let cases: [(&str, Configure, u64); 3] = [
        ("init", |_| {}, 1),
        (
            "no init",
            |b| {
                b.init(false);
            },
            0,
        ),
        (
            "init and connector",
            |b| {
                b.publish(Port::tcp(0, 80));
            },
            2,
        ),
    ];
    for (what, configure, own) in cases {
        let mut b = Container::builder();
        configure(&mut b);
        let (one, max_one) = run_under_pids_limit(&mut b, 1);
        assert_eq!(one, "ran\n", "{what}: pids_limit(1) let the payload fork, or not run");
        assert_eq!(max_one, (1 + own).to_string(), "{what}: pids.max");
        let mut b = Container::builder();
        configure(&mut b);
        let (two, max_two) = run_under_pids_limit(&mut b, 2);
        assert_eq!(
            two, "ran\nforked\n",
            "{what}: pids_limit(2) refused the payload's one fork"
        );
        assert_eq!(max_two, (2 + own).to_string(), "{what}: pids.max");
    }
}
