//! `Config` with the `serde` feature: a rich configuration round-trips (non-UTF-8 bytes
//! included), and deserializing runs `build()`'s checks, refusing what it refuses alike.
//!
//! Run with `cargo test --features serde --test config_serde`.

#![cfg(feature = "serde")]

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use nsbox::{
    Capability, Config, ConfigError, Container, ContainerBuilder, Error, IdMap, IoDeviceLimit, IoLimitKind, Landlock,
    Mount, Namespaces, Network, Port, Resource, Rootfs, Seccomp, Setting, Stdio, UncheckedConfig,
};
use serde_json::Value;

fn non_utf8(prefix: &str) -> std::path::PathBuf {
    let mut bytes = prefix.as_bytes().to_vec();
    bytes.extend_from_slice(b"-\xff\xfe");
    OsStr::from_bytes(&bytes).into()
}

fn rich() -> ContainerBuilder {
    let mut b = Container::builder();
    b.rootfs(Rootfs::dir(non_utf8("/srv/root")))
        .read_only_root(false)
        .hostname("box")
        .mount(Mount::bind(non_utf8("/srv/data"), "/data").read_only().no_follow())
        .mount(Mount::tmpfs("/scratch").size(64 << 20).mode(0o700))
        .mount(Mount::proc("/proc2"))
        .env_clear()
        .env("KEY", OsStr::from_bytes(b"v\xff"))
        .env_remove("GONE")
        .current_dir("/data")
        .command("/bin/sh")
        .args([OsStr::new("-c"), OsStr::from_bytes(b"echo \xff")])
        .user(1000, 1000)
        .groups([1001])
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .init(false)
        .memory_limit(256 << 20)
        .memory_swap_limit(0)
        .cpu_limit(0.5)
        .cpu_weight(200)
        .cpuset_cpus("0")
        .pids_limit(64)
        .io_weight(50)
        .io_device_limit(IoDeviceLimit::new(8, 0, IoLimitKind::WriteBps, 1 << 20))
        .cgroup_parent("nsbox-tests")
        .tmp_size(1 << 20)
        .output_limit(4096)
        .publish(Port::tcp(0, 80))
        .publish(Port::udp(5353, 53).host_ip([127, 0, 0, 2]))
        .capabilities([Capability::CAP_CHOWN, Capability::CAP_NET_BIND_SERVICE])
        .ambient_capabilities([Capability::CAP_NET_BIND_SERVICE])
        .seccomp(Seccomp::deny(["ptrace", "keyctl"]))
        .rlimit(Resource::RLIMIT_NOFILE, 256, 512)
        .landlock(Landlock::new().read_only(["/usr"]).read_write(["/data"]))
        .hide_host_paths(["/home"])
        .new_session(false);
    b
}

fn round_trip(config: &Config) -> Config {
    let json = serde_json::to_string(config).expect("serialize");
    serde_json::from_str(&json).expect("deserialize")
}

#[test]
fn rich_config_round_trips_unchanged() {
    let config = rich().build().unwrap();
    let again = round_trip(&config);
    assert_eq!(format!("{again:?}"), format!("{config:?}"));
    assert_eq!(again.program(), "/bin/sh");
    assert_eq!(again.args()[1].as_bytes(), b"echo \xff");
    assert_eq!(again.rootfs(), Some(&Rootfs::dir(non_utf8("/srv/root"))));
    assert_eq!(again.mounts()[0].source(), Some(non_utf8("/srv/data").as_path()));
    // And once more: serializing is stable.
    assert_eq!(
        serde_json::to_string(&again).unwrap(),
        serde_json::to_string(&config).unwrap()
    );
}

#[test]
fn pid_join_and_time_offsets_round_trip() {
    let config = Container::builder()
        .command("/bin/true")
        .namespaces(Namespaces::all() - Namespaces::USER)
        .join_namespace(Namespaces::PID, "/proc/1/ns/pid")
        .time_offsets(
            nsbox::ClockOffset::seconds(-3),
            nsbox::ClockOffset { secs: 9, nanos: 1 },
        )
        .build()
        .unwrap();
    assert_eq!(format!("{:?}", round_trip(&config)), format!("{config:?}"));
}

#[test]
fn allow_list_and_network_by_path_round_trip() {
    let config = Container::builder()
        .command("/bin/true")
        .seccomp(Seccomp::allow(["read", "write", "exit_group"]))
        .network(Network::join_path("/run/netns/test"))
        .publish(Port::tcp(8080, 80))
        .build()
        .unwrap();
    assert_eq!(format!("{:?}", round_trip(&config)), format!("{config:?}"));
}

#[test]
fn defaults_resolved_at_build_time_are_serialized() {
    let config = Container::builder().command("/bin/true").build().unwrap();
    let json: Value = serde_json::to_value(&config).unwrap();
    assert_eq!(json["read_only_root"], Value::Bool(true));
    assert_eq!(json["rootfs"], serde_json::json!("host"));
    assert_eq!(json["network"], serde_json::json!("none"));
    // Resolved for the caller: root gets its /etc/subuid range or 65536 ids, others themselves.
    assert!(json["uid_map"].as_array().is_some_and(|m| !m.is_empty()), "{json}");
    assert!(!config.uid_map().is_empty());
}

#[test]
fn stdio_is_not_serialized_and_deserializes_as_unset() {
    let plain = Container::builder().command("/bin/true").build().unwrap();
    let piped = Container::builder()
        .command("/bin/true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::open("/dev/null").unwrap()))
        .build()
        .unwrap();
    let json = serde_json::to_string(&piped).unwrap();
    assert_eq!(json, serde_json::to_string(&plain).unwrap());
    let again: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(format!("{again:?}"), format!("{plain:?}"));
}

#[test]
fn network_joined_by_fd_is_not_serializable() {
    let fd = std::fs::File::open("/proc/self/ns/net").unwrap();
    let config = Container::builder()
        .command("/bin/true")
        .network(Network::join_fd(fd))
        .build()
        .unwrap();
    let err = serde_json::to_string(&config).unwrap_err();
    assert!(err.to_string().contains("joined by fd"), "{err}");
}

/// The config as JSON, changed by `edit`, deserialized both ways: as a `Config` (the error
/// carries the message) and through `UncheckedConfig` (the typed error).
fn refused_after(config: &Config, edit: impl Fn(&mut Value)) -> ConfigError {
    let mut json = serde_json::to_value(config).unwrap();
    edit(&mut json);
    let as_config = serde_json::from_value::<Config>(json.clone()).expect_err("deserializing must refuse");
    let unchecked: UncheckedConfig = serde_json::from_value(json).unwrap();
    let typed = Config::try_from(unchecked).expect_err("the checks must refuse");
    assert!(
        as_config.to_string().contains(&typed.to_string()),
        "{as_config} / {typed}"
    );
    typed
}

fn build_error(builder: &mut ContainerBuilder) -> ConfigError {
    match builder.build() {
        Err(Error::Config(e)) => e,
        other => panic!("build() must refuse: {other:?}"),
    }
}

fn bytes(s: &str) -> Value {
    serde_json::to_value(s.as_bytes()).unwrap()
}

#[test]
fn deserialized_relative_mount_target_is_refused_as_build_refuses_it() {
    let config = Container::builder()
        .command("/bin/true")
        .mount(Mount::tmpfs("/scratch"))
        .build()
        .unwrap();
    let err = refused_after(&config, |json| json["mounts"][0]["target"] = bytes("scratch"));
    assert_eq!(
        err,
        ConfigError::BadContainerPath {
            setting: Setting::MountTarget,
            path: "scratch".into()
        }
    );
    assert_eq!(
        err,
        build_error(Container::builder().command("/bin/true").mount(Mount::tmpfs("scratch")))
    );
}

#[test]
fn deserialized_hostname_without_uts_namespace_is_refused_as_build_refuses_it() {
    let config = Container::builder()
        .command("/bin/true")
        .hostname("box")
        .build()
        .unwrap();
    let err = refused_after(&config, |json| {
        let ns = json["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n != "uts");
    });
    assert_eq!(
        err,
        ConfigError::NeedsNamespace {
            setting: Setting::Hostname,
            namespace: Namespaces::UTS
        }
    );
    let mut builder = Container::builder();
    builder
        .namespaces(Namespaces::all() - Namespaces::UTS)
        .hostname("box")
        .command("/bin/true");
    assert_eq!(err, build_error(&mut builder));
}

#[test]
fn deserialized_out_of_range_limit_and_missing_command_are_refused() {
    let config = Container::builder()
        .command("/bin/true")
        .pids_limit(10)
        .build()
        .unwrap();
    let err = refused_after(&config, |json| json["resources"]["pids"] = 0.into());
    assert_eq!(
        err,
        ConfigError::OutOfRange {
            setting: Setting::PidsLimit,
            value: 0,
            // The kernel's PID_MAX_LIMIT, less nsbox-init's pid (see pids_limit).
            allowed: 1..=(4 << 20) - 1
        }
    );
    let err = refused_after(&config, |json| {
        json.as_object_mut().unwrap().remove("program");
    });
    assert_eq!(
        err,
        ConfigError::Missing {
            setting: Setting::Command
        }
    );
}

#[test]
fn deserialized_config_spawns() {
    if !common::root() {
        return;
    }
    let config = Container::builder()
        .command("/bin/echo")
        .arg("round trip")
        .build()
        .unwrap();
    let out = round_trip(&config).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"round trip\n");
}
