//! Ready-made security settings for the crate's two kinds of users.

/// A named set of defaults, applied by [`ContainerBuilder::profile`](crate::ContainerBuilder::profile);
/// later builder calls override single settings.
///
/// | setting | `Sandbox` (untrusted code) | `Fixture` (tests, services; the builder's default) |
/// |---|---|---|
/// | namespaces | all | all |
/// | root filesystem | read-only | read-only host root; a directory may be made writable |
/// | host root view | [`Rootfs::SANDBOX_HIDDEN`](crate::Rootfs::SANDBOX_HIDDEN) hidden | everything, read-only |
/// | container root on the host (root caller, no explicit maps) | its /etc/subuid range, else one unused id (from 0x70000000) | its /etc/subuid range, else host root (identity) |
/// | capabilities | none | Podman's 11 |
/// | seccomp | Docker's default, TIOCSTI/TIOCLINUX refused | the same |
/// | no_new_privs | on | on |
/// | environment | cleared | inherited |
/// | session | new (no controlling terminal) | new (no controlling terminal) |
/// | rlimits | core 0, nofile 1024 | inherited |
/// | bind sources | no symlink in any component ([`Mount::no_follow`](crate::Mount::no_follow)) | symlinks followed |
/// | `/tmp`, `/run`, `/dev/shm` size | 64 MiB, 8 MiB, 64 MiB | kernel default, kernel default, 64 MiB |
/// | captured output (`output()`) | 16 MiB per stream, the rest discarded and flagged | unbounded |
/// | pids | 1024 where a pids controller is usable | none |
/// | PID 1, port connector | confined: not dumpable, own session, a fixed seccomp filter | the same |
///
/// See [`crate::bounds`] for the bounds and docs/security.md for what each setting defends.
///
/// A root caller's Sandbox without /etc/subuid maps only container root, so
/// [`user`](crate::ContainerBuilder::user) with another id needs an explicit
/// [`uid_map`](crate::ContainerBuilder::uid_map) and `gid_map` (on unused host ids).
///
/// ```no_run
/// use nsbox::{Container, Profile};
/// let status = Container::builder()
///     .profile(Profile::Sandbox)
///     .command("/usr/bin/python3").args(["-c", "print(1 + 1)"])
///     .status()?;
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// For running untrusted code: deny by default.
    Sandbox,
    /// For test fixtures and services: Docker-like defaults.
    Fixture,
}
