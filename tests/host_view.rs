//! What of the host a payload can see or reach beyond what it was given: the cgroup tree
//! (CVE-2023-25809), host directories lying under the container's own mounts, and, for
//! Sandbox payloads, the caller's files (root mapped to an unprivileged host id) and the
//! host's writable and socket-bearing trees (hidden).

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::{PY_PROBES, PYTHON, probe_results, stdout_of};
use nsbox::{Capability, Container, ContainerBuilder, Mount, Profile};

/// The first entry of a host directory, as a path (None if it is empty or missing).
fn first_entry(dir: &str) -> Option<PathBuf> {
    let mut names: Vec<_> = fs::read_dir(dir).ok()?.flatten().map(|e| e.path()).collect();
    names.sort();
    names.into_iter().next()
}

#[test]
fn host_directories_under_the_containers_own_mounts_stay_unreachable() {
    if !common::root() {
        return;
    }
    // A payload granted CAP_SYS_ADMIN may unmount what the setup mounted for it (its /tmp,
    // /run, /dev, /sys, /proc). Underneath there must be nothing of the host: the host's /tmp
    // and /run hold its files and sockets (a read-only mount does not stop connect(2)), its
    // procfs lists every host process, its devtmpfs has every device.
    let marker_dir = tempfile::tempdir_in("/tmp").unwrap();
    let marker = marker_dir.path().join("host-only");
    fs::write(&marker, "host").unwrap();
    let mut host_only = vec![marker, PathBuf::from(format!("/proc/{}", std::process::id()))];
    host_only.extend(
        ["/dev/kmsg", "/dev/mem"]
            .map(PathBuf::from)
            .into_iter()
            .filter(|p| p.exists()),
    );
    host_only.extend(first_entry("/run"));
    host_only.extend(first_entry("/sys/fs/cgroup"));
    let checks: String = host_only
        .iter()
        .map(|p| format!("[ -e {0} ] && echo 'visible {0}'; ", p.display()))
        .collect();
    let script =
        format!("for m in /tmp /run /dev /sys /proc; do umount -l $m && echo \"unmounted $m\"; done; {checks}true");
    let out = Container::builder()
        .cap_add(Capability::CAP_SYS_ADMIN)
        .command("/bin/sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let unmounted = text.lines().filter(|l| l.starts_with("unmounted ")).count();
    assert_eq!(unmounted, 5, "the payload could not unmount its own mounts: {text}");
    let visible: Vec<&str> = text.lines().filter(|l| l.starts_with("visible ")).collect();
    assert!(
        visible.is_empty(),
        "host paths reachable under the container's own mounts: {visible:#?}"
    );
    assert!(Path::new(&marker_dir.path().join("host-only")).exists());
}

#[test]
fn cgroup_filesystem_is_read_only_inside() {
    if !common::root_and_python() {
        return;
    }
    // CVE-2023-25809: a writable cgroup tree inside lets the payload raise its own limits.
    let script = format!(
        "{PY_PROBES}
check_os('create', lambda: os.close(os.open('/sys/fs/cgroup/nsbox-probe', os.O_CREAT | os.O_WRONLY)))
check_os('mkdir', lambda: os.mkdir('/sys/fs/cgroup/nsbox-probe'))
writable = []
for top, dirs, files in os.walk('/sys/fs/cgroup'):
    for f in files:
        try:
            os.close(os.open(os.path.join(top, f), os.O_WRONLY))
            writable.append(os.path.join(top, f))
        except OSError:
            pass
print('writable', writable or 'none')
check('mount-cgroup2', libc.mount(b'none', b'/sys/fs/cgroup', b'cgroup2', 0, None))
check('mount-cgroup', libc.mount(b'none', b'/sys/fs/cgroup', b'cgroup', 0, b'pids'))
"
    );
    let mut sandbox = Container::builder();
    sandbox.profile(Profile::Sandbox);
    for (name, mut builder) in [("default", Container::builder()), ("sandbox", sandbox)] {
        let builder: &mut ContainerBuilder = builder.cgroup();
        let out = builder.command(PYTHON).args(["-c", &script]).output().unwrap();
        let results = probe_results(&stdout_of(&out));
        let got = ["create", "mkdir", "writable", "mount-cgroup2", "mount-cgroup"]
            .map(|k| results.get(k).map_or("missing", String::as_str));
        // Nothing of the host's cgroup tree is mounted: /sys/fs/cgroup is an empty directory
        // of the read-only sysfs (creating in it fails: EROFS, or ENOENT from sysfs' lookup).
        assert!(
            !got[..2].contains(&"OK") && !got[..2].contains(&"missing"),
            "{name}: {results:?}"
        );
        assert_eq!(got[2..], ["none", "EPERM", "EPERM"], "{name}: {results:?}");
    }
}

/// A Sandbox builder running `/bin/sh -c script`.
fn sandbox_sh(script: &str) -> ContainerBuilder {
    let mut builder = Container::builder();
    builder
        .profile(Profile::Sandbox)
        .command("/bin/sh")
        .args(["-c", script]);
    builder
}

/// The first range of a `/proc/<pid>/{uid,gid}_map` text: (inside, outside, count).
fn first_range(map: &str) -> (u64, u64, u64) {
    let fields: Vec<u64> = map.split_whitespace().take(3).map(|f| f.parse().unwrap()).collect();
    (fields[0], fields[1], fields[2])
}

#[test]
fn sandbox_root_is_an_unprivileged_host_id() {
    if !common::root() {
        return;
    }
    let text = stdout_of(
        &sandbox_sh("id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map")
            .output()
            .unwrap(),
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[..2], ["0", "0"], "{text}");
    let (uid, gid) = (first_range(lines[2]), first_range(lines[3]));
    assert_eq!((uid.0, gid.0), (0, 0), "{text}");
    assert!(uid.1 != 0 && gid.1 != 0, "container root is host root: {text}");
    let subordinate = |file| fs::read_to_string(file).is_ok_and(|t| t.lines().any(|l| l.starts_with("root:")));
    if !subordinate("/etc/subuid") {
        // No range of its own: container root alone, on an id nothing on the host has.
        assert_eq!((uid.2, uid.1 >= 0x7000_0000), (1, true), "{text}");
        let passwd = fs::read_to_string("/etc/passwd").unwrap();
        assert!(!passwd.lines().any(|l| l.split(':').nth(2) == Some(&uid.1.to_string())));
    }
    // The default profile keeps its map: the caller's range, or identity.
    let fixture = common::sh_ok("cat /proc/self/uid_map");
    let expected = if subordinate("/etc/subuid") { 65536 } else { 0 };
    let (inside, outside, count) = first_range(&fixture);
    assert_eq!(inside, 0);
    assert!(count == 65536 && (expected == 65536 || outside == 0), "{fixture}");
}

#[test]
fn sandbox_payload_cannot_read_root_only_host_files() {
    if !common::root() {
        return;
    }
    // Outside every hidden tree, so that only the id mapping protects it.
    let dir = tempfile::Builder::new()
        .prefix("nsbox-secret-")
        .tempdir_in("/var")
        .unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let secret = dir.path().join("secret");
    fs::write(&secret, "the caller's secret\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    let script = format!(
        "cat {} /etc/shadow 2>&1; echo; ls {}",
        secret.display(),
        dir.path().display()
    );
    let text = stdout_of(&sandbox_sh(&script).output().unwrap());
    assert!(!text.contains("secret\n") || !text.contains("the caller's"), "{text}");
    assert!(!text.contains("root:"), "/etc/shadow was read: {text}");
    assert_eq!(text.matches("Permission denied").count(), 2, "{text}");
    assert!(
        text.trim_end().ends_with("secret"),
        "the file is there, only unreadable: {text}"
    );
}

#[test]
fn sandbox_writable_bind_gets_files_owned_by_the_mapped_host_id() {
    if !common::root() {
        return;
    }
    let shared = common::world_writable_dir();
    let out = sandbox_sh("touch /shared/made-inside && cat /proc/self/uid_map /proc/self/gid_map")
        .mount(Mount::bind(shared.path(), "/shared"))
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let mut maps = text.lines().map(first_range);
    let (uid, gid) = (maps.next().unwrap().1, maps.next().unwrap().1);
    let meta = fs::metadata(shared.path().join("made-inside")).unwrap();
    assert_eq!((meta.uid() as u64, meta.gid() as u64), (uid, gid));
    assert_ne!(meta.uid(), 0, "a file of the payload is owned by host root");
}

#[test]
fn sandbox_binds_root_only_sources_without_granting_root_access() {
    if !common::root() {
        return;
    }
    // A 0700 root-owned directory, with a public subdirectory and file.
    let private = tempfile::tempdir_in("/tmp").unwrap();
    fs::set_permissions(private.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let public = private.path().join("public");
    fs::create_dir(&public).unwrap();
    fs::set_permissions(&public, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(public.join("file"), "readable\n").unwrap();
    fs::set_permissions(public.join("file"), fs::Permissions::from_mode(0o644)).unwrap();
    // The setup process opens both sources as the caller, before it becomes the mapped root;
    // the payload, an unprivileged host id, reads what is public and nothing more.
    let out = sandbox_sh("cat /public/file; cat /private/public/file 2>&1 || true")
        .mount(Mount::bind(&public, "/public").read_only())
        .mount(Mount::bind(private.path(), "/private").read_only())
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(text.starts_with("readable\n"), "{text}");
    assert!(text.contains("Permission denied"), "{text}");
}

/// Listens on a 0600 Unix socket at `dir/sock` (`dir` made 0755 first).
fn listen_in(dir: &Path) -> (std::os::unix::net::UnixListener, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    (listener, path)
}

/// A Python script printing `connect RESULT` for each socket path.
fn connect_script(paths: &[&Path]) -> String {
    let mut script = format!("{PY_PROBES}\nimport socket\n");
    for (i, path) in paths.iter().enumerate() {
        script.push_str(&format!(
            "check_os('connect{i}', lambda: socket.socket(socket.AF_UNIX).connect({:?}))\n",
            path.display().to_string()
        ));
    }
    script
}

#[test]
fn sandbox_cannot_reach_host_unix_sockets_in_var_tmp_or_run() {
    if !common::root_and_python() {
        return;
    }
    let name = common::unique("nsbox-sock");
    let (var_tmp, run) = (Path::new("/var/tmp").join(&name), Path::new("/run").join(&name));
    let (_l1, sock1) = listen_in(&var_tmp);
    let (_l2, sock2) = listen_in(&run);
    let script = connect_script(&[&sock1, &sock2]);
    // Both layouts of the host root: one bind of `/`, and entry by entry (a mount point
    // that does not exist on the host forces it).
    for layout in ["whole", "per-entry"] {
        let mut builder = Container::builder();
        builder.profile(Profile::Sandbox).command(PYTHON).args(["-c", &script]);
        if layout == "per-entry" {
            builder.mount(Mount::tmpfs(format!("/{name}")));
        }
        let results = probe_results(&stdout_of(&builder.output().unwrap()));
        let got = ["connect0", "connect1"].map(|k| results.get(k).map_or("missing", String::as_str));
        assert_eq!(got, ["ENOENT", "ENOENT"], "{layout}: {results:?}");
    }
    // The default profile still sees /var/tmp (its /run is its own).
    let results = probe_results(&stdout_of(
        &Container::builder()
            .command(PYTHON)
            .args(["-c", &script])
            .output()
            .unwrap(),
    ));
    assert_eq!(results.get("connect0").map(String::as_str), Some("OK"), "{results:?}");
    fs::remove_dir_all(&var_tmp).unwrap();
    fs::remove_dir_all(&run).unwrap();
}

#[test]
fn sandbox_sees_nothing_of_home_and_root() {
    if !common::root() {
        return;
    }
    let marker = Path::new("/home")
        .exists()
        .then(|| tempfile::tempdir_in("/home").unwrap());
    assert!(fs::read_dir("/root").unwrap().next().is_some() || marker.is_some());
    for layout in ["whole", "per-entry"] {
        let mut builder = sandbox_sh("ls -A /home /root /var/tmp /var/lib /mnt 2>&1; touch /home/x 2>&1 || true");
        if layout == "per-entry" {
            builder.mount(Mount::tmpfs(format!("/{}", common::unique("nsbox-layout"))));
        }
        let text = stdout_of(&builder.output().unwrap());
        // Empty directories or none at all; nothing of the host's, and nothing writable.
        let listed: Vec<&str> = text
            .lines()
            .filter(|l| {
                !l.is_empty()
                    && !l.ends_with(':')
                    && !l.contains("No such file")
                    && !l.contains("Read-only")
                    && !l.starts_with("touch:")
            })
            .collect();
        assert!(listed.is_empty(), "{layout}: {text}");
    }
    drop(marker);
}

#[test]
fn explicit_binds_under_hidden_paths_are_visible() {
    if !common::root() {
        return;
    }
    let project = common::world_writable_dir();
    fs::write(project.path().join("file"), "project\n").unwrap();
    fs::set_permissions(project.path().join("file"), fs::Permissions::from_mode(0o644)).unwrap();
    let script = "cat /home/u/project/file /var/tmp/x/file /tmp/x/file; touch /home/u/project/new; \
                  ls -A /home; ls -A /var/tmp; touch /home/other 2>&1 || true";
    let out = sandbox_sh(script)
        .mount(Mount::bind(project.path(), "/home/u/project"))
        .mount(Mount::bind(project.path(), "/var/tmp/x").read_only())
        .mount(Mount::bind(project.path(), "/tmp/x").read_only())
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(
        text.lines().take(5).collect::<Vec<_>>(),
        ["project", "project", "project", "u", "x"],
        "{text}"
    );
    assert!(
        text.contains("Read-only file system"),
        "the cover over /home is writable: {text}"
    );
    assert!(project.path().join("new").exists(), "the writable bind is not writable");
}
