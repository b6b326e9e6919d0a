//! The resource bounds each [`Profile`](crate::Profile) starts from: the sizes of the tmpfs
//! nsbox mounts at `/tmp`, `/run` and `/dev/shm`, the cap on what
//! [`output`](crate::ContainerBuilder::output) keeps of each stream, and the pids limit set
//! where the host has a usable pids controller.
//!
//! `Fixture` (the builder's default) keeps the kernel's defaults, as Docker does: a tmpfs
//! without `size=` may grow to half of RAM, output is buffered whole, no pids limit unless
//! asked for. `Sandbox` bounds each; every bound has a builder setting to change or lift it.

/// `/tmp` under `Sandbox`: 64 MiB, as Docker's `/dev/shm`. Enough for a compiler's or a test
/// runner's scratch files; a payload that needs more gets a [`Mount::tmpfs`](crate::Mount::tmpfs)
/// of the size the caller chooses.
pub const SANDBOX_TMP_SIZE: u64 = 64 << 20;

/// `/run` under `Sandbox`: 8 MiB. Sockets, pid files and locks: tiny files.
pub const SANDBOX_RUN_SIZE: u64 = 8 << 20;

/// `/dev/shm` in both profiles: 64 MiB, Docker's `--shm-size` default (nsbox's since the start).
pub const SHM_SIZE: u64 = 64 << 20;

/// What [`output`](crate::ContainerBuilder::output) keeps of each stream under `Sandbox`:
/// 16 MiB of stdout and 16 MiB of stderr. Beyond it the rest is read and thrown away (the
/// payload never blocks on a full pipe) and [`Output::stdout_truncated`](crate::Output::stdout_truncated)
/// or `stderr_truncated` says so.
pub const SANDBOX_OUTPUT_LIMIT: u64 = 16 << 20;

/// The pids limit (the payload's processes and threads; nsbox's own are added as for
/// [`pids_limit`](crate::ContainerBuilder::pids_limit)) of a `Sandbox` container on a host
/// with a usable pids controller: 1024, far above what a build or a test suite runs at once,
/// far below what exhausts the host's pid space (`kernel.pid_max`, 4 million at most).
pub const SANDBOX_PIDS_LIMIT: u64 = 1024;

/// The bounds a configuration carries; set as a whole by a profile, one by one by the builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Bounds {
    /// `size=` of the fresh `/tmp` (host root only); `None`: the kernel's default.
    pub tmp_size: Option<u64>,
    /// `size=` of the fresh `/run` (host root only).
    pub run_size: Option<u64>,
    /// `size=` of `/dev/shm`.
    pub shm_size: Option<u64>,
    /// Bytes of each stream `output()` and `wait_with_output()` keep.
    pub output_limit: Option<u64>,
    /// A pids limit used only where the pids controller is usable, and only when the caller
    /// set no [`pids_limit`](crate::ContainerBuilder::pids_limit) of their own.
    pub pids_where_available: Option<u64>,
}

impl Bounds {
    pub const FIXTURE: Bounds = Bounds {
        tmp_size: None,
        run_size: None,
        shm_size: Some(SHM_SIZE),
        output_limit: None,
        pids_where_available: None,
    };

    pub const SANDBOX: Bounds = Bounds {
        tmp_size: Some(SANDBOX_TMP_SIZE),
        run_size: Some(SANDBOX_RUN_SIZE),
        shm_size: Some(SHM_SIZE),
        output_limit: Some(SANDBOX_OUTPUT_LIMIT),
        pids_where_available: Some(SANDBOX_PIDS_LIMIT),
    };

    /// The bounds `profile` starts from.
    pub fn of(profile: crate::Profile) -> Bounds {
        match profile {
            crate::Profile::Sandbox => Bounds::SANDBOX,
            crate::Profile::Fixture => Bounds::FIXTURE,
        }
    }

    pub fn validate(&self) -> Result<(), crate::error::ConfigError> {
        use crate::error::Setting;
        let sizes = [
            (Setting::TmpSize, self.tmp_size),
            (Setting::RunSize, self.run_size),
            (Setting::ShmSize, self.shm_size),
            (Setting::PidsLimitWhereAvailable, self.pids_where_available),
        ];
        // 0 is refused: `None` lifts a bound.
        match sizes.into_iter().find(|(_, v)| *v == Some(0)) {
            Some((setting, _)) => Err(crate::error::ConfigError::OutOfRange {
                setting,
                value: 0,
                allowed: 1..=u64::MAX,
            }),
            None => Ok(()),
        }
    }
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds::FIXTURE
    }
}

/// The mount data of a tmpfs of permission bits `mode`, limited to `size` bytes if given.
pub(crate) fn tmpfs_data(mode: &str, size: Option<u64>) -> String {
    match size {
        Some(bytes) => format!("mode={mode},size={bytes}"),
        None => format!("mode={mode}"),
    }
}
