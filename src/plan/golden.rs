//! Golden plans: the step list of a few representative containers, rendered as text
//! (`render.rs`) and compared with the files in `src/plan/golden/`, so that a review sees what
//! a change does to every spawn. No root needed: a plan is only built, never run. After a
//! change that is meant to alter them, `NSBOX_BLESS=1 cargo test --lib golden` rewrites the
//! files; the diff then goes into the review.

use std::path::{Path, PathBuf};

use crate::{Capability, Container, ContainerBuilder, Landlock, Mount, Namespaces, Port, Profile, Rootfs};

use super::Plan;

/// The fixed container id (it names the hostname) and the places whose names vary by run.
const ID: &str = "0123456789ab";

struct Dirs {
    _temp: tempfile::TempDir,
    rootfs: PathBuf,
    data: PathBuf,
}

fn dirs() -> Dirs {
    let temp = tempfile::tempdir().expect("tempdir");
    let (rootfs, data) = (temp.path().join("rootfs"), temp.path().join("data"));
    // A distribution's top level: the mount points nsbox needs are there.
    for top in ["bin", "dev", "etc", "proc", "sys", "data"] {
        std::fs::create_dir_all(rootfs.join(top)).expect("mkdir rootfs");
    }
    std::fs::create_dir_all(&data).expect("mkdir data");
    Dirs {
        _temp: temp,
        rootfs,
        data,
    }
}

/// The builder every case starts from. The id maps are explicit, so the plan is the same
/// whoever runs the test (a root caller's defaults: its 65536 ids; `rootless` maps one).
fn base() -> ContainerBuilder {
    let mut b = Container::builder();
    b.env_clear().env("PATH", "/usr/bin:/bin").command("/bin/true");
    map(&mut b, 0, 65536);
    b
}

fn map(b: &mut ContainerBuilder, host: u32, count: u32) {
    b.uid_map([crate::IdMap::new(0, host, count)])
        .gid_map([crate::IdMap::new(0, host, count)]);
}

/// Renders the plan of `builder` (fork path, no cgroup) with the temp paths named.
fn render(builder: &mut ContainerBuilder, dirs: &Dirs) -> String {
    let config = builder.build().expect("a valid config");
    let plan = Plan::new(&config, ID, None, false, None).expect("plan");
    plan.render()
        .replace(&*dirs.rootfs.to_string_lossy(), "$ROOTFS")
        .replace(&*dirs.data.to_string_lossy(), "$DATA")
}

/// The checked-in renderings, compiled in: the test reads no file of the checkout, so it runs
/// as any user.
const EXPECTED: [(&str, &str); 10] = [
    ("default", include_str!("golden/default.txt")),
    ("sandbox-dir", include_str!("golden/sandbox-dir.txt")),
    (
        "dir-binds-limits-ports",
        include_str!("golden/dir-binds-limits-ports.txt"),
    ),
    ("rootless", include_str!("golden/rootless.txt")),
    (
        "no-pidns-subordinate-range",
        include_str!("golden/no-pidns-subordinate-range.txt"),
    ),
    ("exec", include_str!("golden/exec.txt")),
    ("overlay", include_str!("golden/overlay.txt")),
    (
        "pid-join-time-offsets",
        include_str!("golden/pid-join-time-offsets.txt"),
    ),
    ("user-join-pod", include_str!("golden/user-join-pod.txt")),
    ("premade-pair", include_str!("golden/premade-pair.txt")),
];

fn check(name: &str, rendered: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/plan/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("NSBOX_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&file, rendered).expect("write golden file");
        return;
    }
    let expected = EXPECTED.iter().find(|(n, _)| *n == name).map_or("", |(_, text)| *text);
    assert!(
        expected == rendered,
        "the plan of {name} changed; if that is meant, rerun with NSBOX_BLESS=1 and review the diff of {}.\nnow:\n{rendered}",
        file.display()
    );
}

#[test]
fn golden_plan_of_the_defaults_on_the_host_root() {
    let d = dirs();
    check("default", &render(&mut base(), &d));
}

#[test]
fn golden_plan_of_the_sandbox_on_a_directory() {
    let d = dirs();
    // A bare rootfs: its top level is laid out as a shadow (the missing mount points made in
    // a tmpfs, never in the directory).
    for top in ["dev", "etc", "proc", "sys", "data"] {
        std::fs::remove_dir(d.rootfs.join(top)).expect("rmdir");
    }
    let mut b = base();
    b.profile(Profile::Sandbox).rootfs(Rootfs::dir(&d.rootfs));
    // What Sandbox maps a root caller without /etc/subuid to.
    map(&mut b, 0x7000_0000, 1);
    check("sandbox-dir", &render(&mut b, &d));
}

#[test]
fn golden_plan_of_a_directory_with_binds_limits_and_ports() {
    let d = dirs();
    let mut b = base();
    b.rootfs(Rootfs::dir(&d.rootfs))
        .hostname("box")
        .mount(Mount::bind(&d.data, "/data").read_only())
        .mount(Mount::tmpfs("/etc/app/scratch").size(1 << 20))
        .pids_limit(64)
        .rlimit(crate::Resource::RLIMIT_NOFILE, 256, 256)
        .publish(Port::tcp(0, 80))
        .cap_add(Capability::CAP_NET_RAW)
        .landlock(Landlock::new().read_only(["/bin"]))
        .current_dir("/data");
    check("dir-binds-limits-ports", &render(&mut b, &d));
}

#[test]
fn golden_plan_of_a_rootless_caller() {
    let d = dirs();
    let mut b = base();
    // An unprivileged caller's default: itself, uid and gid 1000, as the container's root.
    map(&mut b, 1000, 1);
    check("rootless", &render(&mut b, &d));
}

/// (No `.user()` here: whether its `setgroups` is allowed depends on the caller.)
#[test]
fn golden_plan_without_pid_namespace_on_a_subordinate_range() {
    let d = dirs();
    let mut b = base();
    b.namespaces(Namespaces::all() - Namespaces::PID)
        .rootfs(Rootfs::dir(&d.rootfs));
    map(&mut b, 100_000, 65536);
    check("no-pidns-subordinate-range", &render(&mut b, &d));
}

/// An overlay root of two layers (the container's own: mount points made in its upper, no
/// shadow), a bind at a path the layers lack.
#[test]
fn golden_plan_of_an_overlay_root() {
    let d = dirs();
    let mut b = base();
    b.rootfs(Rootfs::overlay([&d.data, &d.rootfs], crate::Upper::default()))
        .mount(Mount::bind(&d.data, "/new/place").read_only());
    check("overlay", &render(&mut b, &d));
}

/// A joined PID namespace (the caller's own: any user may open it) and a new time namespace
/// with offsets: not dumpable first, the time namespace entered by the setup process.
#[test]
fn golden_plan_of_a_pid_join_with_time_offsets() {
    let d = dirs();
    let mut b = Container::builder();
    b.env_clear().env("PATH", "/usr/bin:/bin").command("/bin/true");
    b.namespaces(Namespaces::all() - Namespaces::USER)
        .join_namespace(Namespaces::PID, "/proc/self/ns/pid")
        .time_offsets(
            crate::ClockOffset::seconds(-60),
            crate::ClockOffset { secs: 86_400, nanos: 5 },
        );
    check("pid-join-time-offsets", &render(&mut b, &d));
}

/// A pod's container (issue 16): the user, IPC and UTS namespaces joined (the caller's own
/// files: any user may open them), new mount, PID and cgroup ones. No id maps; not dumpable
/// first, the joins, then the namespace's root (`SetCredentials`) after the sources.
#[test]
fn golden_plan_of_a_pod_container_joining_a_user_namespace() {
    let d = dirs();
    let mut b = Container::builder();
    b.env_clear().env("PATH", "/usr/bin:/bin").command("/bin/true");
    b.namespaces(Namespaces::all())
        .join_namespace(Namespaces::USER, "/proc/self/ns/user")
        .join_namespace(Namespaces::IPC, "/proc/self/ns/ipc")
        .join_namespace(Namespaces::UTS, "/proc/self/ns/uts");
    check("user-join-pod", &render(&mut b, &d));
}

/// An exec into a container of the defaults: join, fork under nsbox-init, the payload's
/// privileges, the launcher. (No `.user()`: its groups depend on whether the caller is root.)
#[test]
fn golden_plan_of_an_exec_into_the_defaults() {
    let config = base().build().expect("a valid config");
    let settings = crate::exec::ExecSettings {
        program: Some("/bin/sh".into()),
        args: vec!["-c".into(), "echo $X".into()],
        env: vec![("X".into(), Some("1".into()))],
        cwd: Some("/tmp".into()),
        ..Default::default()
    };
    let config = crate::config::exec_config(&config, &settings).expect("valid exec settings");
    let target = std::fs::File::open("/dev/null").expect("open /dev/null");
    let plan = Plan::for_exec(
        &config,
        std::os::fd::AsRawFd::as_raw_fd(&target),
        Default::default(),
        false,
    )
    .expect("plan");
    check("exec", &plan.render());
}

/// The defaults born in a `NamespacePool` pair that carries its /dev and /sys (issue 17): no
/// user, network, IPC or UTS namespace in the clone, no loopback step, only the null device
/// opened of the host's nodes, and the two trees attached where the fresh mounts, binds and
/// symlinks were. (Any open fds stand in for the pair's: a plan only records their numbers.)
#[test]
fn golden_plan_of_the_defaults_in_a_pre_made_pair_with_its_trees() {
    let d = dirs();
    let fd = || std::os::fd::OwnedFd::from(std::fs::File::open("/dev/null").expect("open /dev/null"));
    let premade = crate::namespace_pool::PremadeNamespaces {
        user: fd(),
        net: fd(),
        ipc: fd(),
        uts: fd(),
        owner: 0,
        mounts: Some(crate::namespace_pool::PremadeMounts { dev: fd(), sys: fd() }),
    };
    let config = base().build().expect("a valid config");
    let plan = Plan::new(&config, ID, None, false, Some(premade)).expect("plan");
    let rendered = plan.render().replace(&*d.rootfs.to_string_lossy(), "$ROOTFS");
    check("premade-pair", &rendered);
}
