//! `ContainerBuilder::move_network_device` (the runtime spec's `linux.netDevices`): a device
//! of the caller's network namespace moved into the container's, renamed, up, with its
//! permanent addresses of global scope; a missing one and a taken name refused by name; what
//! `build()` refuses.
//!
//! Never the host's interfaces: the spawning tests run in a copy of this test binary started
//! by `unshare --net` (a network namespace of the test's own), where they make veth pairs with
//! iproute2's `ip` (one end moved, its peer left to watch: a veth pair dies with either end).

mod common;

use std::process::Command;
use std::time::Duration;

use nsbox::{ConfigError, Container, Errno, Network, Setting, SetupStep};

/// Set in the copy of this binary running in a network namespace of its own.
const INSIDE: &str = "NSBOX_TEST_NETDEV_NETNS";
const IP: &str = "/usr/sbin/ip";

/// Runs `ip ARGS` in this process's network namespace; panics on failure.
fn ip(args: &[&str]) -> String {
    let out = Command::new(IP).args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether this namespace has a link named `name`.
fn has_link(name: &str) -> bool {
    Command::new(IP)
        .args(["link", "show", "dev", name])
        .output()
        .expect("run ip")
        .status
        .success()
}

/// A veth pair: `name` and its peer `{name}p`.
fn veth(name: &str) {
    ip(&["link", "add", name, "type", "veth", "peer", "name", &format!("{name}p")]);
}

/// A veth device `name` (peer `{name}p`) with an IPv4 and an IPv6 address of global scope and
/// a link-local IPv6 one (not kept: the runtime spec keeps permanent addresses of global
/// scope).
fn device_with_addresses(name: &str, v4: &str, v6: &str) {
    veth(name);
    ip(&["addr", "add", v4, "dev", name]);
    ip(&["addr", "add", v6, "dev", name, "nodad"]);
    ip(&["addr", "add", "fe80::99/64", "dev", name, "scope", "link", "nodad"]);
}

/// `ip -o addr` and `ip -o link` of the container, run in it.
fn inside_view(builder: &mut nsbox::ContainerBuilder) -> nsbox::Result<(String, String)> {
    let out = builder
        .command("/bin/sh")
        .args(["-c", &format!("{IP} -o addr show; echo ---; {IP} -o link show")])
        .output()?;
    let text = common::stdout_of(&out);
    let (addrs, links) = text.split_once("---").expect("both listings");
    Ok((addrs.to_owned(), links.to_owned()))
}

#[test]
fn moved_devices_are_renamed_up_with_their_addresses_and_missing_ones_named() {
    if std::env::var_os(INSIDE).is_none() {
        if !common::root()
            || !common::require(
                "unshare (util-linux)",
                std::path::Path::new("/usr/bin/unshare").exists(),
            )
            || !common::require("ip (iproute2)", std::path::Path::new(IP).exists())
        {
            return;
        }
        let out = Command::new("/usr/bin/unshare")
            .arg("--net")
            .arg(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "moved_devices_are_renamed_up_with_their_addresses_and_missing_ones_named",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(INSIDE, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && text.contains("1 passed"), "{text}");
        return;
    }
    // In the test's own network namespace.
    device_with_addresses("nsbox-d0", "10.9.8.7/24", "fd00:9::7/64");
    // A first spawn opens what nsbox keeps for the process (the host root's fd).
    common::sh("true");
    let before = common::Snapshot::take();
    let (addrs, links) = inside_view(Container::builder().move_network_device("nsbox-d0", "eth7")).expect("spawn");
    let eth7 = links
        .lines()
        .find(|l| l.contains(": eth7@"))
        .unwrap_or_else(|| panic!("{links}"));
    assert!(eth7.contains("UP"), "{eth7}");
    assert!(addrs.contains("eth7    inet 10.9.8.7/24"), "{addrs}");
    assert!(addrs.contains("eth7    inet6 fd00:9::7/64"), "{addrs}");
    assert!(!addrs.contains("fe80::99"), "a link-local address was kept: {addrs}");
    // Gone from here: moved, and a virtual device dies with the container's namespace (and
    // a veth's peer with it), once the kernel frees it (a work queue, soon after).
    assert!(!has_link("nsbox-d0"));
    common::wait_until("the moved veth's peer to go", Duration::from_secs(30), || {
        !has_link("nsbox-d0p")
    });
    before.assert_unchanged("a spawn that moved a device");

    // A template: the kernel picks the number.
    veth("nsbox-d1");
    let (_, links) = inside_view(Container::builder().move_network_device("nsbox-d1", "net%d")).expect("spawn");
    assert!(links.contains(": net0@"), "{links}");

    // Missing: a setup error naming it; the one moved before it goes as the container's
    // namespace goes (a veth is destroyed, its peer too).
    veth("nsbox-d2");
    let e = common::setup_failure_of(
        Container::builder()
            .move_network_device("nsbox-d2", "eth0")
            .move_network_device("nsbox-none", "eth1")
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::NetworkDevice, Errno::ENODEV), "{e}");
    assert_eq!(e.path.as_deref(), Some(std::path::Path::new("nsbox-none")), "{e}");
    assert!(e.to_string().contains("nsbox-none"), "{e}");
    assert!(!has_link("nsbox-d2"));
    common::wait_until("the moved veth's peer to go", Duration::from_secs(30), || {
        !has_link("nsbox-d2p")
    });

    // A name the container's namespace has (its loopback): refused before the move, so the
    // device stays here.
    veth("nsbox-d3");
    let e = common::setup_failure_of(
        Container::builder()
            .move_network_device("nsbox-d3", "lo")
            .command("/bin/true")
            .output(),
    );
    assert_eq!((e.step, e.errno), (SetupStep::NetworkDevice, Errno::EEXIST), "{e}");
    assert!(has_link("nsbox-d3"));
    before.assert_unchanged("failed spawns that moved devices");
}

#[test]
fn build_refuses_devices_without_an_own_network_namespace_or_with_bad_names() {
    let mut host = Container::builder();
    host.command("/bin/true")
        .network(Network::Host)
        .move_network_device("eth0", "eth0");
    assert!(matches!(
        host.build().unwrap_err(),
        nsbox::Error::Config(ConfigError::NeedsNamespace {
            setting: Setting::NetworkDevice,
            ..
        })
    ));
    let mut joined = Container::builder();
    joined
        .command("/bin/true")
        .network(Network::join_path("/proc/self/ns/net"))
        .move_network_device("eth0", "eth0");
    assert!(joined.build().is_err());
    for (host, name) in [
        ("eth0", "a-name-too-long-for-linux"),
        ("eth0", "a/b"),
        ("eth0", "a b"),
        ("eth0", ".."),
        ("eth0", ""),
        ("eth%d", "eth0"),
        ("eth0", "e%d%d"),
        ("eth0", "e%s"),
    ] {
        let mut b = Container::builder();
        b.command("/bin/true").move_network_device(host, name);
        let err = b.build().unwrap_err();
        assert!(
            matches!(
                &err,
                nsbox::Error::Config(ConfigError::Malformed {
                    setting: Setting::NetworkDevice,
                    ..
                })
            ),
            "{host} -> {name}: {err}"
        );
    }
    for pairs in [[("a", "x"), ("a", "y")], [("a", "x"), ("b", "x")]] {
        let mut b = Container::builder();
        b.command("/bin/true");
        for (host, name) in pairs {
            b.move_network_device(host, name);
        }
        assert!(
            matches!(
                b.build().unwrap_err(),
                nsbox::Error::Config(ConfigError::Conflict {
                    setting: Setting::NetworkDevice,
                    ..
                })
            ),
            "{pairs:?}"
        );
    }
    // Two templates may share a pattern: the kernel numbers them.
    Container::builder()
        .command("/bin/true")
        .move_network_device("a", "net%d")
        .move_network_device("b", "net%d")
        .build()
        .expect("two templates");
}
