//! Landlock: the payload may touch only the hierarchies listed, read-only or read-write.

mod common;

use common::{root, stdout_of};
use nsbox::{Container, Errno, Landlock, SetupStep};

fn landlock_available() -> bool {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a NULL attribute only reports the ABI.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    common::require("a kernel with Landlock enabled", abi >= 1)
}

#[test]
fn only_listed_hierarchies_are_usable() {
    if !root() || !landlock_available() {
        return;
    }
    let script = "cat /etc/hostname >/dev/null && echo etc-readable
ls /root >/dev/null 2>&1 || echo root-denied
echo x > /tmp/f && echo tmp-writable
echo x > /etc/nsbox-landlock 2>/dev/null || echo etc-not-writable
ls /var >/dev/null 2>&1 || echo var-denied";
    let out = Container::builder()
        .landlock(
            Landlock::new()
                .read_only(["/usr", "/etc"])
                .read_write(["/tmp", "/dev/null"]),
        )
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert_eq!(
        stdout_of(&out),
        "etc-readable\nroot-denied\ntmp-writable\netc-not-writable\nvar-denied\n",
        "{out:?}"
    );
    // The control: without Landlock the same script reaches /root and /var.
    let out = Container::builder()
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        !stdout_of(&out).contains("root-denied") && !stdout_of(&out).contains("var-denied"),
        "{out:?}"
    );
}

#[test]
fn a_missing_rule_path_names_the_path() {
    if !root() || !landlock_available() {
        return;
    }
    let err = Container::builder()
        .landlock(Landlock::new().read_only(["/usr", "/no/such/dir"]))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    let setup = err.as_setup().unwrap_or_else(|| panic!("not a setup error: {err}"));
    assert_eq!((setup.step, setup.errno), (SetupStep::Landlock, Errno::ENOENT));
    assert!(err.to_string().contains("/no/such/dir"), "{err}");
}

#[test]
fn the_payload_cannot_run_what_is_not_listed() {
    if !root() || !landlock_available() {
        return;
    }
    // /bin/true is /usr/bin/true: with /usr unlisted, executing it is refused, and the launcher
    // reports that as the exec step failing.
    let err = Container::builder()
        .landlock(Landlock::new().read_only(["/etc"]))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    let setup = err.as_setup().unwrap_or_else(|| panic!("not a setup error: {err}"));
    assert_eq!(setup.step, SetupStep::Exec, "{err}");
    assert_eq!(setup.errno, Errno::EACCES, "{err}");
}

#[test]
fn landlock_works_under_a_seccomp_allow_list() {
    if !root() || !landlock_available() {
        return;
    }
    // The launcher enforces the ruleset after the filter is loaded: the allow list need not
    // name landlock_restrict_self. /bin/true needs little more than this.
    let allowed = [
        "read",
        "openat",
        "close",
        "fstat",
        "newfstatat",
        "mmap",
        "mprotect",
        "munmap",
        "brk",
        "arch_prctl",
        "access",
        "pread64",
        "set_tid_address",
        "set_robust_list",
        "rseq",
        "prlimit64",
        "getrandom",
    ];
    let status = Container::builder()
        .landlock(Landlock::new().read_only(["/usr", "/etc"]))
        .seccomp(nsbox::Seccomp::allow(allowed))
        .command("/bin/true")
        .status()
        .unwrap();
    assert!(status.success(), "{status}");
}
