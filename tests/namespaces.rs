//! Each namespace, observed from inside the container with ordinary tools.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use common::{ns_link, sh_ok, stdout_of};
use nsbox::{Container, IdMap, Mount, Namespaces, Rootfs, Stdio};

/// Prints `name link` for every namespace type, as seen by the payload.
const PRINT_NS_LINKS: &str =
    "for n in mnt uts ipc pid net user cgroup time; do echo $n $(readlink /proc/self/ns/$n); done";

fn parse_links(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(n, link)| (n.to_owned(), link.to_owned()))
        .collect()
}

fn links_with(namespaces: Namespaces) -> BTreeMap<String, String> {
    let out = Container::builder()
        .namespaces(namespaces)
        .command("/bin/sh")
        .args(["-c", PRINT_NS_LINKS])
        .output()
        .expect("spawn");
    let links = parse_links(&stdout_of(&out));
    assert_eq!(links.len(), 8, "one link per namespace type: {links:?}");
    links
}

#[test]
fn uts_hostname_is_the_configured_one() {
    if !common::root() {
        return;
    }
    let host_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = Container::builder()
        .hostname("nsbox-uts")
        .command("/bin/sh")
        .args(["-c", "hostname; uname -n"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "nsbox-uts\nnsbox-uts\n");
    let host_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(host_before, host_after, "the host's hostname must not change");
}

#[test]
fn uts_default_hostname_is_the_container_id() {
    if !common::root() {
        return;
    }
    let container = Container::builder()
        .command("/bin/cat")
        .arg("/proc/sys/kernel/hostname")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let id = container.id().to_owned();
    let out = container.wait_with_output().unwrap();
    assert_eq!(id.len(), 12, "id {id:?} is 12 hex digits");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "id {id:?} is hex");
    assert_eq!(stdout_of(&out).trim_end(), id);
}

#[test]
fn pid_payload_is_pid_1_without_init() {
    if !common::root() {
        return;
    }
    let out = Container::builder()
        .init(false)
        .command("/bin/sh")
        .args(["-c", "echo $$"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "1\n");
}

#[test]
fn pid_payload_is_pid_2_under_the_default_init() {
    if !common::root() {
        return;
    }
    assert_eq!(sh_ok("echo $$ $PPID"), "2 1\n");
}

#[test]
fn pid_proc_lists_only_the_containers_processes() {
    if !common::root() {
        return;
    }
    // A glob is expanded by the shell itself (no fork): the container has init and sh only.
    let inside = sh_ok("for p in /proc/[0-9]*; do echo ${p#/proc/}; done");
    assert_eq!(inside.lines().collect::<Vec<_>>(), ["1", "2"]);
    let host_pids = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok());
    assert!(host_pids.count() > 2, "the host has more processes than the container");
}

#[test]
fn net_has_only_loopback_and_it_is_up() {
    if !common::root() {
        return;
    }
    let out = sh_ok(
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; echo --; ls /sys/class/net; echo --; cat /sys/class/net/lo/flags",
    );
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 3, "{out}");
    assert_eq!(parts[0], "lo\n", "/proc/net/dev lists only lo");
    assert_eq!(parts[1], "lo\n", "/sys/class/net lists only lo");
    let flags = u32::from_str_radix(parts[2].trim().trim_start_matches("0x"), 16).expect("hex flags");
    assert_eq!(flags & 0x1, 0x1, "IFF_UP is set on lo (flags {flags:#x})");
}

#[test]
fn user_payload_is_root_inside() {
    if !common::root() {
        return;
    }
    let out = sh_ok("id -u; id -g; cat /proc/self/uid_map");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["0", "0"]);
    assert_eq!(lines.len(), 3, "a single uid map range: {out}");
}

#[test]
fn user_mapped_root_creates_files_owned_by_the_outside_id() {
    if !common::root() {
        return;
    }
    let shared = common::world_writable_dir();
    let out = Container::builder()
        .uid_map([IdMap::new(0, 100000, 65536)])
        .gid_map([IdMap::new(0, 100000, 65536)])
        .mount(Mount::bind(shared.path(), "/shared"))
        .command("/bin/sh")
        .args(["-c", "id -u; cat /proc/self/uid_map; touch /shared/made-inside"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(text.starts_with("0\n"), "root inside: {text}");
    assert_eq!(
        text.lines().nth(1).unwrap().split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    let meta = std::fs::metadata(shared.path().join("made-inside")).expect("file made inside exists on the host");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (100000, 100000),
        "owned by the mapped ids on the host"
    );
}

#[test]
fn mount_table_is_the_containers_own() {
    if !common::root() {
        return;
    }
    // Without a user namespace nothing but the private propagation keeps the container's mounts
    // from reaching the caller's mount table (in one, the kernel makes shared mounts slaves).
    for namespaces in [Namespaces::all(), Namespaces::all() - Namespaces::USER] {
        let probe = common::unique("/nsbox-mnt-probe");
        let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let out = Container::builder()
            .namespaces(namespaces)
            .mount(Mount::tmpfs(&probe))
            .command("/bin/cat")
            .arg("/proc/self/mountinfo")
            .output()
            .unwrap();
        let inside = stdout_of(&out);
        let root_fs = |info: &str| {
            let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/"));
            line.map(|l| l.split(" - ").nth(1).unwrap().to_owned())
        };
        assert!(
            root_fs(&inside).unwrap().starts_with("tmpfs "),
            "the container's / is its own tmpfs: {inside}"
        );
        assert_ne!(root_fs(&inside), root_fs(&host));
        let inside_points = common::mount_points(&inside);
        assert!(
            inside_points.iter().any(|p| p.as_os_str() == probe.as_str()),
            "the container's own mount is listed"
        );
        let host_after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(
            host, host_after,
            "{namespaces:?}: the container's mounts reached the caller"
        );
        // The host's /sys/fs/cgroup mounts (set up by the test wrapper) are not inside: /sys is fresh.
        for point in common::mount_points(&host)
            .iter()
            .filter(|p| p.starts_with("/sys/fs/cgroup"))
        {
            assert!(
                !inside_points.contains(point),
                "host mount {} is visible inside",
                point.display()
            );
        }
    }
}

#[test]
fn mount_table_of_a_busybox_root_has_no_host_mount_points() {
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    let out = Container::builder()
        .rootfs(Rootfs::dir(rootfs.path()))
        .command("/bin/cat")
        .arg("/proc/self/mountinfo")
        .output()
        .unwrap();
    let inside = stdout_of(&out);
    // Without /proc, /dev and /sys of its own the rootfs' top level is a tmpfs with its
    // entries bound in (nothing is made in the directory): /bin is one of them.
    let entries: Vec<_> = std::fs::read_dir(rootfs.path())
        .unwrap()
        .map(|e| std::path::Path::new("/").join(e.unwrap().file_name()))
        .collect();
    for point in common::mount_points(&inside) {
        let ok = point == std::path::Path::new("/")
            || entries.contains(&point)
            || ["/proc", "/dev", "/sys"].iter().any(|p| point.starts_with(p));
        assert!(ok, "unexpected mount point {} inside:\n{inside}", point.display());
        assert!(!point.starts_with("/sys/fs/cgroup"), "host cgroup mount visible inside");
    }
    assert!(!inside.contains(" /work "), "the host's /work is not mounted inside");
}

#[test]
fn ipc_host_message_queue_is_invisible() {
    if !common::root() {
        return;
    }
    let made = Command::new("ipcmk").arg("-Q").output().expect("run ipcmk");
    assert!(made.status.success(), "ipcmk -Q: {made:?}");
    // "Message queue id: 3"
    let text = String::from_utf8_lossy(&made.stdout);
    let id = text.rsplit(':').next().unwrap().trim().to_owned();
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("ipcrm").args(["-q", &self.0]).status();
        }
    }
    let _remove = Remove(id.clone());
    let queue_ids = |msg: &str| {
        msg.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_owned))
            .collect::<Vec<_>>()
    };
    let host = std::fs::read_to_string("/proc/sysvipc/msg").unwrap();
    assert!(queue_ids(&host).contains(&id), "the queue exists on the host: {host}");

    let out = sh_ok("cat /proc/sysvipc/msg; echo --; ipcs -q");
    let (msg, ipcs) = out.split_once("--\n").unwrap();
    assert!(queue_ids(msg).is_empty(), "no queue inside: {msg}");
    let ipcs_ids: Vec<&str> = ipcs
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert!(ipcs_ids.is_empty(), "ipcs -q lists no queue inside: {ipcs}");
}

#[test]
fn cgroup_namespace_is_rooted_at_the_containers_cgroup() {
    if !common::root() {
        return;
    }
    let inside = sh_ok("cat /proc/self/cgroup");
    assert!(inside.lines().any(|l| l == "0::/"), "{inside}");
    for line in inside.lines() {
        assert!(line.ends_with(":/"), "every hierarchy is rooted at / inside: {line}");
    }
    let host = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    if host.lines().all(|l| l.ends_with(":/")) {
        eprintln!("note: the test process sits in root cgroups; only the ns link tells the namespaces apart");
    }
    assert_ne!(
        sh_ok("readlink /proc/self/ns/cgroup").trim_end(),
        ns_link("self", "cgroup")
    );
}

#[test]
fn time_namespace_differs_from_the_host() {
    if !common::root() {
        return;
    }
    let inside = sh_ok("readlink /proc/self/ns/time");
    assert!(inside.starts_with("time:["), "{inside}");
    assert_ne!(inside.trim_end(), ns_link("self", "time"));
}

#[test]
fn every_namespace_differs_from_the_host_by_default() {
    if !common::root() {
        return;
    }
    for (name, inside) in links_with(Namespaces::all()) {
        assert_ne!(
            inside,
            ns_link("self", &name),
            "{name} namespace is shared with the host"
        );
    }
}

#[test]
fn each_namespace_alone_changes_only_its_own_link() {
    if !common::root() {
        return;
    }
    for flag in Namespaces::all().iter() {
        let own = flag.proc_name().unwrap();
        for (name, inside) in links_with(flag) {
            let host = ns_link("self", &name);
            if name == own {
                assert_ne!(inside, host, "with only {own}: the {name} namespace is the host's");
            } else {
                assert_eq!(inside, host, "with only {own}: the {name} namespace is not the host's");
            }
        }
    }
}

#[test]
fn empty_namespaces_run_a_plain_process() {
    if !common::root() {
        return;
    }
    for (name, inside) in links_with(Namespaces::empty()) {
        assert_eq!(
            inside,
            ns_link("self", &name),
            "{name} namespace differs without namespaces"
        );
    }
    let mut container = Container::builder()
        .namespaces(Namespaces::empty())
        .command("/bin/sh")
        .args(["-c", "echo $$"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pid = String::new();
    container.take_stdout().unwrap().read_to_string(&mut pid).unwrap();
    assert!(container.wait().unwrap().success());
    assert_eq!(
        pid.trim_end(),
        container.pid().to_string(),
        "the payload's pid is its host pid"
    );
    // No PID namespace: no init, and the environment's hostname is the host's.
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = Container::builder()
        .namespaces(Namespaces::empty())
        .command("/bin/hostname")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), host_name);
}
