//! The public API speaks nsbox's own types (and std's): signals, errnos, resource limits and
//! capabilities are nsbox's, so a nix or caps upgrade inside never breaks a caller.
//!
//! Three layers pin it: the signatures below, which stop compiling if one of them goes back
//! to another crate's type; the behaviour of those types against the real kernel; and a scan of
//! the sources for re-exports of other crates. `scripts/check-public-types.py` is the complete
//! check (every type reachable from the API, from rustdoc's JSON; needs a nightly rustdoc).

mod common;

use std::io;
use std::path::Path;
use std::time::Duration;

use common::{sh_builder, stdout_of};
use nsbox::{
    Capabilities, Capability, Container, ContainerBuilder, Errno, Error, ExitStatus, Mount, Namespaces, Resource,
    SetupError, SetupStep, Signal,
};

/// A bound against hangs, not a timing check.
const BOUND: Duration = Duration::from_secs(60);

#[test]
fn public_signatures_name_nsbox_types() {
    let _: fn(&mut Container, Signal) -> nsbox::Result<()> = Container::kill;
    let _: fn(&ExitStatus) -> Option<Signal> = ExitStatus::signal;
    let _: fn(&Error) -> Option<Errno> = Error::errno;
    let _: fn(&SetupError) -> Errno = |e| e.errno;
    let _: fn(&mut ContainerBuilder, Resource, u64, u64) -> &mut ContainerBuilder = ContainerBuilder::rlimit;
    let _: fn(&mut ContainerBuilder, Capability) -> &mut ContainerBuilder = ContainerBuilder::cap_add;
    let _: fn(&mut ContainerBuilder, Capability) -> &mut ContainerBuilder = ContainerBuilder::cap_drop;
    let _: fn(Capabilities, Capability) -> bool = Capabilities::contains;
    let _: fn(&mut ContainerBuilder, Namespaces) -> &mut ContainerBuilder = ContainerBuilder::namespaces;
    let _: fn(Namespaces) -> u64 = Namespaces::bits;
}

#[test]
fn raw_values_convert_both_ways() {
    assert_eq!(Signal::try_from(15).map(Signal::as_raw), Ok(15));
    assert_eq!(Resource::try_from(7), Ok(Resource::RLIMIT_NOFILE));
    assert_eq!(Capability::try_from(21), Ok(Capability::CAP_SYS_ADMIN));
    assert_eq!(Errno::from_raw(2).raw(), 2);
    let io: io::Error = Errno::ENOENT.into();
    assert_eq!((io.raw_os_error(), Errno::from(io)), (Some(2), Errno::ENOENT));
}

#[test]
fn crate_reexports_nothing_of_other_crates() {
    let mut offenders = Vec::new();
    scan(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut offenders);
    assert!(
        offenders.is_empty(),
        "public re-exports of other crates: {offenders:#?}"
    );
}

/// Every `pub use` (not `pub(crate)`) of a path that starts in another crate.
fn scan(dir: &Path, offenders: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, offenders);
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let Some(used) = line.trim().strip_prefix("pub use ") else {
                continue;
            };
            let root = used.split("::").next().unwrap_or_default();
            // A module of this crate is declared in the same file (`mod builder;`, `mod table {`).
            let local = text.contains(&format!("mod {root};")) || text.contains(&format!("mod {root} {{"));
            if !["crate", "self", "super", "std", "core", "alloc"].contains(&root) && !local {
                offenders.push(format!("{}: {}", path.display(), line.trim()));
            }
        }
    }
}

#[test]
fn payload_killed_by_a_signal_named_like_kill_reports_it() {
    if !common::root() {
        return;
    }
    for (name, signal) in [("TERM", Signal::SIGTERM), ("SIGRTMIN+2", Signal::Realtime(2))] {
        let mut c = Container::builder().command("/bin/sleep").arg("1000").spawn().unwrap();
        c.kill(name.parse().unwrap()).unwrap();
        let status = c.wait_timeout(BOUND).unwrap().expect("the init forwards it");
        assert_eq!(status.signal(), Some(signal), "{name}: {status}");
        assert!(status.to_string().contains(&signal.to_string()), "{status}");
    }
}

#[test]
fn rlimit_named_like_ulimit_applies() {
    if !common::root() {
        return;
    }
    let resource: Resource = "nofile".parse().unwrap();
    let out = sh_builder("ulimit -n").rlimit(resource, 64, 64).output().unwrap();
    assert_eq!(stdout_of(&out), "64\n");
}

#[test]
fn setup_failure_errno_matches_as_a_pattern_and_reads_like_strerror() {
    if !common::root() {
        return;
    }
    let err = Container::builder()
        .mount(Mount::bind("/no/such/dir", "/data"))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    let setup = err.as_setup().expect("a setup error");
    assert_eq!(setup.step, SetupStep::BindMount);
    assert!(matches!(setup.errno, Errno::ENOENT), "{err}");
    assert!(
        err.to_string()
            .ends_with("No such file or directory (ENOENT: No such file or directory)"),
        "{err}"
    );
    assert_eq!(io::Error::from(setup.errno).kind(), io::ErrorKind::NotFound);
}
