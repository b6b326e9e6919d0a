//! Failures: setup errors name the step, the path and the errno; invalid configurations are
//! refused before anything starts; and no failure leaves a process, an fd or a mount behind.
//!
//! Every test holds `common::exclusive()`, so the snapshots see no other test's spawns.

mod common;

use std::path::Path;

use common::{Snapshot, refused};
use nsbox::{
    ConfigError, Container, ContainerBuilder, Controller, Errno, Error, Hint, IdMap, InterpreterKind, Mount,
    Namespaces, Rootfs, Setting, SetupStep,
};

/// Spawns, expects a setup error, and checks nothing leaked.
fn setup_failure(builder: &mut ContainerBuilder) -> Error {
    let before = Snapshot::take();
    let err = builder.spawn().expect_err("spawn must fail");
    assert!(err.as_setup().is_some(), "expected a setup error, got: {err:?}");
    before.assert_unchanged(&format!("after '{err}'"));
    err
}

fn true_builder() -> ContainerBuilder {
    let mut b = Container::builder();
    b.command("/bin/true");
    b
}

#[test]
fn missing_command_fails_at_exec_with_enoent() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    for init in [true, false] {
        let err = setup_failure(Container::builder().init(init).command("/no/such/nsbox-command"));
        let setup = err.as_setup().unwrap();
        assert_eq!(
            (setup.step, setup.errno),
            (SetupStep::Exec, Errno::ENOENT),
            "init {init}: {err}"
        );
        assert_eq!(err.errno(), Some(Errno::ENOENT));
        assert!(err.to_string().contains("/no/such/nsbox-command"), "{err}");
    }
}

#[test]
fn missing_bare_command_fails_at_exec_naming_it() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let err = setup_failure(Container::builder().command("nsbox-no-such-command"));
    let setup = err.as_setup().unwrap();
    assert_eq!((setup.step, setup.errno), (SetupStep::Exec, Errno::ENOENT), "{err}");
    assert!(err.to_string().contains("nsbox-no-such-command"), "{err}");
}

#[test]
fn missing_bind_source_names_the_path() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let err = setup_failure(true_builder().mount(Mount::bind("/no/such/nsbox-source", "/data")));
    let setup = err.as_setup().unwrap();
    assert_eq!(
        (setup.step, setup.errno),
        (SetupStep::BindMount, Errno::ENOENT),
        "{err}"
    );
    assert_eq!(setup.path.as_deref(), Some(Path::new("/no/such/nsbox-source")));
    assert!(err.to_string().contains("/no/such/nsbox-source"), "{err}");
}

#[test]
fn nonexistent_rootfs_fails_to_prepare_root() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let err = setup_failure(true_builder().rootfs(Rootfs::dir("/nonexistent")));
    let setup = err.as_setup().unwrap();
    assert_eq!(
        (setup.step, setup.errno),
        (SetupStep::PrepareRoot, Errno::ENOENT),
        "{err}"
    );
    assert!(err.to_string().contains("/nonexistent"), "{err}");
}

#[test]
fn missing_working_directory_fails_at_chdir() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let err = setup_failure(true_builder().current_dir("/no/such/nsbox-dir"));
    let setup = err.as_setup().unwrap();
    assert_eq!((setup.step, setup.errno), (SetupStep::Chdir, Errno::ENOENT), "{err}");
    assert!(err.to_string().contains("/no/such/nsbox-dir"), "{err}");
}

#[test]
fn empty_command_is_refused() {
    let _serial = common::exclusive();
    let missing = ConfigError::Missing {
        setting: Setting::Command,
    };
    assert_eq!(refused(&mut Container::builder()), missing);
    assert_eq!(refused(Container::builder().command("")), missing);
    assert_eq!(missing.to_string(), "command is missing");
}

#[test]
fn relative_mount_target_is_refused() {
    let _serial = common::exclusive();
    let err = refused(true_builder().mount(Mount::tmpfs("scratch")));
    assert_eq!(
        err,
        ConfigError::BadContainerPath {
            setting: Setting::MountTarget,
            path: "scratch".into()
        }
    );
}

#[test]
fn parent_dir_in_mount_target_is_refused() {
    let _serial = common::exclusive();
    let err = refused(true_builder().mount(Mount::bind("/tmp", "/data/../../etc")));
    assert_eq!(
        err,
        ConfigError::BadContainerPath {
            setting: Setting::MountTarget,
            path: "/data/../../etc".into()
        }
    );
}

#[test]
fn relative_working_directory_is_refused() {
    let _serial = common::exclusive();
    assert!(matches!(
        refused(true_builder().current_dir("tmp")),
        ConfigError::BadContainerPath {
            setting: Setting::CurrentDir,
            ..
        }
    ));
}

#[test]
fn hostname_without_uts_namespace_is_refused() {
    let _serial = common::exclusive();
    let err = refused(
        true_builder()
            .namespaces(Namespaces::all() - Namespaces::UTS)
            .hostname("box"),
    );
    assert_eq!(
        err,
        ConfigError::NeedsNamespace {
            setting: Setting::Hostname,
            namespace: Namespaces::UTS
        }
    );
    assert_eq!(err.to_string(), "hostname needs the UTS namespace");
}

#[test]
fn uid_map_without_user_namespace_is_refused() {
    let _serial = common::exclusive();
    let err = refused(
        true_builder()
            .namespaces(Namespaces::all() - Namespaces::USER)
            .uid_map([IdMap::new(0, 100000, 1)]),
    );
    assert_eq!(
        err,
        ConfigError::NeedsNamespace {
            setting: Setting::UidMap,
            namespace: Namespaces::USER
        }
    );
}

#[test]
fn mounts_without_mount_namespace_are_refused() {
    let _serial = common::exclusive();
    let no_mnt = Namespaces::all() - Namespaces::MOUNT;
    let err = refused(true_builder().namespaces(no_mnt).mount(Mount::tmpfs("/scratch")));
    let needs_mount = |setting| ConfigError::NeedsNamespace {
        setting,
        namespace: Namespaces::MOUNT,
    };
    assert_eq!(err, needs_mount(Setting::Mount));
    let err = refused(true_builder().namespaces(no_mnt).rootfs(Rootfs::dir("/")));
    assert_eq!(err, needs_mount(Setting::Rootfs));
}

#[test]
fn nul_byte_in_an_argument_is_refused() {
    let _serial = common::exclusive();
    assert!(matches!(
        refused(true_builder().arg("a\0b")),
        ConfigError::NulByte { setting: Setting::Args }
    ));
    assert!(matches!(
        refused(true_builder().env("KEY", "a\0b")),
        ConfigError::NulByte { setting: Setting::Env }
    ));
    assert!(matches!(
        refused(Container::builder().command("/bin/tr\0ue")),
        ConfigError::NulByte {
            setting: Setting::Command
        }
    ));
}

#[test]
fn zero_sized_tmpfs_is_refused() {
    let _serial = common::exclusive();
    let err = refused(true_builder().mount(Mount::tmpfs("/scratch").size(0)));
    assert_eq!(
        err,
        ConfigError::OutOfRange {
            setting: Setting::TmpfsSize,
            value: 0,
            allowed: 1..=u64::MAX
        }
    );
    assert_eq!(err.to_string(), "tmpfs size must be at least 1 bytes, not 0");
}

#[test]
fn writable_host_root_is_refused() {
    let _serial = common::exclusive();
    let conflict = |err| {
        matches!(
            err,
            ConfigError::Conflict {
                setting: Setting::ReadOnlyRoot,
                with: Setting::Rootfs,
                ..
            }
        )
    };
    assert!(conflict(refused(true_builder().read_only_root(false))));
    let err = refused(true_builder().rootfs(Rootfs::host()).read_only_root(false));
    assert!(conflict(err.clone()), "{err:?}");
}

#[test]
fn supplementary_groups_without_a_user_are_refused() {
    let _serial = common::exclusive();
    assert!(matches!(
        refused(true_builder().groups([1001])),
        ConfigError::Requires {
            setting: Setting::Groups,
            requires: Setting::User
        }
    ));
}

#[test]
fn environment_name_with_equals_sign_is_refused() {
    let _serial = common::exclusive();
    assert!(matches!(
        refused(true_builder().env("A=B", "c")),
        ConfigError::Malformed { setting: Setting::Env, ref value, .. } if value == "A=B"
    ));
}

#[test]
fn non_executable_command_fails_with_eacces() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("script"), "#!/bin/sh\ntrue\n").unwrap();
    let err = setup_failure(
        Container::builder()
            .mount(Mount::bind(dir.path(), "/tools"))
            .command("/tools/script"),
    );
    let setup = err.as_setup().unwrap();
    assert_eq!((setup.step, setup.errno), (SetupStep::Exec, Errno::EACCES), "{err}");
    match setup.hint() {
        Some(Hint::NotExecutable { program, mode }) => {
            assert_eq!(program, Path::new("/tools/script"));
            assert_eq!(mode & 0o111, 0, "{mode:o}");
        }
        other => panic!("expected a no-exec-bit hint, got {other:?}: {err}"),
    }
    assert!(err.to_string().contains("has no execute permission"), "{err}");
    drop(dir);
}

#[test]
fn overlapping_id_maps_fail_without_leaving_anything_behind() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let maps = [IdMap::new(0, 100000, 10), IdMap::new(5, 200000, 10)];
    let before = Snapshot::take();
    let err = true_builder()
        .uid_map(maps)
        .gid_map(maps)
        .spawn()
        .expect_err("the kernel refuses overlapping ranges");
    let ok = matches!(err, Error::Config(_)) || err.as_setup().is_some_and(|s| s.step == SetupStep::IdMap);
    assert!(ok, "a config error or a failure to write the maps: {err:?}");
    before.assert_unchanged(&format!("after '{err}'"));
}

#[test]
fn mount_over_the_root_is_refused() {
    let _serial = common::exclusive();
    assert!(matches!(
        refused(true_builder().mount(Mount::tmpfs("/"))),
        ConfigError::Conflict {
            setting: Setting::MountTarget,
            with: Setting::Rootfs,
            ..
        }
    ));
}

#[test]
fn proc_mount_without_pid_namespace_is_refused() {
    let _serial = common::exclusive();
    let err = refused(
        true_builder()
            .namespaces(Namespaces::all() - Namespaces::PID)
            .mount(Mount::proc("/proc2")),
    );
    assert_eq!(
        err,
        ConfigError::NeedsNamespace {
            setting: Setting::ProcMount,
            namespace: Namespaces::PID
        }
    );
}

#[test]
fn overlong_hostname_is_refused() {
    let _serial = common::exclusive();
    assert!(matches!(
        refused(true_builder().hostname("h".repeat(65))),
        ConfigError::OutOfRange {
            setting: Setting::Hostname,
            value: 65,
            ..
        }
    ));
}

/// A rootfs directory holding only a copy of the host's dynamic `/bin/true` (no loader).
fn rootfs_with_a_dynamic_true() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    // cp in another process: see common::write_executable (ETXTBSY).
    let copied = std::process::Command::new("cp")
        .arg("/bin/true")
        .arg(dir.path().join("bin"))
        .status()
        .unwrap();
    assert!(copied.success());
    dir
}

#[test]
fn dynamic_binary_without_its_loader_names_the_elf_interpreter() {
    let _serial = common::exclusive();
    if !(common::root() && common::require("a dynamic /bin/true", !common::is_static_elf(Path::new("/bin/true")))) {
        return;
    }
    let rootfs = rootfs_with_a_dynamic_true();
    // By path and as a bare command found in PATH; with the init's launcher and without.
    for (command, init) in [("/bin/true", true), ("/bin/true", false), ("true", true)] {
        let err = setup_failure(
            Container::builder()
                .rootfs(Rootfs::dir(rootfs.path()))
                .init(init)
                .env("PATH", "/sbin:/bin")
                .command(command),
        );
        let setup = err.as_setup().unwrap();
        assert_eq!((setup.step, setup.errno), (SetupStep::Exec, Errno::ENOENT), "{err}");
        let Some(Hint::MissingInterpreter {
            program,
            interpreter,
            kind: InterpreterKind::Elf,
        }) = setup.hint()
        else {
            panic!(
                "{command}, init {init}: expected a missing ELF interpreter, got {:?}: {err}",
                setup.hint()
            );
        };
        assert_eq!(program, Path::new("/bin/true"), "{err}");
        // The loader the host's /bin/true names: there on the host, not in the rootfs.
        assert!(interpreter.is_absolute() && interpreter.exists(), "{err}");
        assert!(!rootfs.path().join(interpreter.strip_prefix("/").unwrap()).exists());
        let message = err.to_string();
        assert!(
            message.contains(&format!("ELF interpreter {} ", interpreter.display()))
                && message.contains("not found in the rootfs"),
            "{message}"
        );
    }
}

#[test]
fn script_whose_interpreter_is_missing_names_it() {
    let _serial = common::exclusive();
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    common::write_executable(&rootfs.path().join("bin/run.sh"), "#!/no/such/shell -e\necho hi\n");
    let err = setup_failure(
        Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .command("/bin/run.sh"),
    );
    let setup = err.as_setup().unwrap();
    assert_eq!((setup.step, setup.errno), (SetupStep::Exec, Errno::ENOENT), "{err}");
    assert_eq!(
        setup.hint(),
        Some(&Hint::MissingInterpreter {
            program: "/bin/run.sh".into(),
            interpreter: "/no/such/shell".into(),
            kind: InterpreterKind::Script,
        }),
        "{err}"
    );
    assert!(err.to_string().contains("script interpreter /no/such/shell"), "{err}");
}

#[test]
fn bare_command_not_found_names_the_path_searched() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let custom = "/nsbox/none:/usr/nsbox-nowhere/bin";
    let err = setup_failure(
        Container::builder()
            .env("PATH", custom)
            .command("nsbox-no-such-command"),
    );
    let setup = err.as_setup().unwrap();
    assert_eq!((setup.step, setup.errno), (SetupStep::Exec, Errno::ENOENT), "{err}");
    assert_eq!(
        setup.hint(),
        Some(&Hint::NotInPath {
            program: "nsbox-no-such-command".into(),
            path: custom.into(),
        }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("`nsbox-no-such-command` not found in PATH {custom}")),
        "{err}"
    );
    // Without a PATH of its own, nsbox's default is what was searched.
    let err = setup_failure(Container::builder().env_clear().command("nsbox-no-such-command"));
    assert!(
        matches!(err.as_setup().unwrap().hint(), Some(Hint::NotInPath { path, .. })
            if path == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{err}"
    );
}

#[test]
fn symlinked_proc_in_a_rootfs_is_named_as_a_symlink_in_the_mount_target() {
    let _serial = common::exclusive();
    if !common::root_and_busybox() {
        return;
    }
    let rootfs = common::busybox_rootfs();
    let decoy = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(decoy.path(), rootfs.path().join("proc")).unwrap();
    let err = setup_failure(
        Container::builder()
            .rootfs(Rootfs::dir(rootfs.path()))
            .command("/bin/true"),
    );
    let setup = err.as_setup().unwrap();
    assert_eq!(setup.errno, Errno::ELOOP, "{err}");
    assert_eq!(
        setup.hint(),
        Some(&Hint::SymlinkInMountTarget { target: "/proc".into() }),
        "{err}"
    );
    assert!(err.to_string().contains("holds a symlink"), "{err}");
}

#[test]
fn symlink_in_a_no_follow_bind_source_is_named() {
    let _serial = common::exclusive();
    if !common::root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("real")).unwrap();
    std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
    let source = dir.path().join("link");
    let err = setup_failure(true_builder().mount(Mount::bind(&source, "/data").no_follow()));
    let setup = err.as_setup().unwrap();
    assert_eq!((setup.step, setup.errno), (SetupStep::BindMount, Errno::ELOOP), "{err}");
    assert_eq!(setup.hint(), Some(&Hint::SymlinkInBindSource { source }), "{err}");
    assert!(err.to_string().contains("Mount::follow_symlinks()"), "{err}");
}

#[test]
fn exec_into_a_container_at_its_pids_limit_says_the_limit_is_reached() {
    let _serial = common::exclusive();
    if !(common::root()
        && common::require(
            "a usable pids controller (run the suite with scripts/test)",
            nsbox::preflight().can_use(Controller::Pids),
        ))
    {
        return;
    }
    let mut c = Container::builder()
        .pids_limit(1)
        .command("/bin/sleep")
        .arg("30")
        .spawn()
        .unwrap();
    let err = c.exec().command("/bin/true").status().unwrap_err();
    let setup = err.as_setup().unwrap_or_else(|| panic!("not a setup error: {err}"));
    assert_eq!(setup.errno, Errno::EAGAIN, "{err}");
    assert_eq!(setup.hint(), Some(&Hint::PidsLimitReached { limit: 1 }), "{err}");
    assert!(err.to_string().contains("pids limit (1) is reached"), "{err}");
    c.kill(nsbox::Signal::SIGKILL).unwrap();
    c.wait().unwrap();
}
