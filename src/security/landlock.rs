//! Landlock: limiting which files the payload may touch, below the mount level (Linux 5.13+).

use std::path::{Path, PathBuf};

/// A Landlock filesystem policy: the payload may use only the listed hierarchies, each
/// read-only or read-write. Paths are container paths, opened after pivot_root.
///
/// The ruleset is enforced just before the payload's execve, so list what the payload needs to
/// run too (its binary and libraries: `/usr`, `/lib`…).
///
/// ```no_run
/// use nsbox::{Container, Landlock};
/// let status = Container::builder()
///     .landlock(Landlock::new().read_only(["/usr", "/etc"]).read_write(["/tmp"]))
///     .command("/usr/bin/ls").arg("/tmp")
///     .status()?;
/// # Ok::<(), nsbox::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Landlock {
    #[cfg_attr(feature = "serde", serde(with = "crate::config::wire::landlock_rules"))]
    pub(crate) rules: Vec<(PathBuf, bool)>,
}

impl Landlock {
    /// A policy that allows nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows reading and executing below each path.
    pub fn read_only<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.rules
            .extend(paths.into_iter().map(|p| (p.as_ref().to_path_buf(), false)));
        self
    }

    /// Allows everything Landlock governs below each path (read, write, create, remove…).
    pub fn read_write<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        self.rules
            .extend(paths.into_iter().map(|p| (p.as_ref().to_path_buf(), true)));
        self
    }
}

/// LANDLOCK_ACCESS_FS_* (uapi/linux/landlock.h).
pub(crate) mod access {
    pub const EXECUTE: u64 = 1 << 0;
    pub const WRITE_FILE: u64 = 1 << 1;
    pub const READ_FILE: u64 = 1 << 2;
    pub const READ_DIR: u64 = 1 << 3;
    /// Everything up to MAKE_SYM (ABI 1).
    pub const ABI1: u64 = (1 << 13) - 1;
    pub const REFER: u64 = 1 << 13;
    pub const TRUNCATE: u64 = 1 << 14;
    /// What a rule on a file (not a directory) may grant.
    pub const FILE: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE;
    pub const READ_ONLY: u64 = EXECUTE | READ_FILE | READ_DIR;
}

/// The access rights this kernel's Landlock handles (by ABI version), or the errno that says it
/// has none.
pub(crate) fn handled_access() -> Result<u64, crate::Errno> {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a NULL attribute only reports the ABI.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, std::ptr::null::<u8>(), 0usize, 1u32) };
    if abi < 0 {
        return Err(crate::Errno::last());
    }
    let mut handled = access::ABI1;
    if abi >= 2 {
        handled |= access::REFER;
    }
    if abi >= 3 {
        handled |= access::TRUNCATE;
    }
    Ok(handled)
}
