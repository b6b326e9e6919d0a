//! Hints: what a setup failure means where its errno alone would mislead (an `ENOENT` at exec
//! for a program that is there, an `ELOOP` from a mount). Computed by the parent after the
//! child reported `(step, errno)`, never in the child: the child stays a list of raw syscalls,
//! and the parent looks at the container's files (hostile ones included: see `view`).

mod elf;
mod view;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use elf::InterpreterKind;
pub(crate) use view::View;
use view::{Lookup, in_container};

use crate::config::Config;
use crate::errno::Errno;
use crate::error::SetupStep;
use crate::plan::Step;

/// What a [`SetupError`](crate::SetupError) means, where the step and errno alone would
/// mislead; printed after them, and inspectable through
/// [`SetupError::hint`](crate::SetupError::hint).
///
/// ```no_run
/// use nsbox::{Container, Hint};
/// let err = Container::builder()
///     .env("PATH", "/opt/tools")
///     .command("mytool")
///     .spawn()
///     .unwrap_err();
/// match err.as_setup().and_then(|e| e.hint()) {
///     Some(Hint::NotInPath { program, path }) => println!("{program:?} is not in {path:?}"),
///     other => println!("{other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// `ENOENT` at exec, but the program is there: the interpreter it names is not (a dynamic
    /// binary copied into a rootfs without its loader, a script whose `#!` program is missing).
    MissingInterpreter {
        /// The program found (the PATH candidate, for a bare command), in the container.
        program: PathBuf,
        /// The interpreter it names, which the container's root does not have.
        interpreter: PathBuf,
        /// Whether it is an ELF loader or a `#!` line's.
        kind: InterpreterKind,
    },
    /// `ENOENT` at exec for a command without a `/`: no directory of the `PATH` searched has it.
    NotInPath {
        /// The command.
        program: OsString,
        /// The directories searched, `:`-separated: the payload's `PATH`, or nsbox's default
        /// when it has none (never the caller's unless passed on).
        path: OsString,
    },
    /// `EACCES` at exec: the program has no execute permission at all.
    NotExecutable {
        /// The program, in the container.
        program: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// `EACCES` at exec: the program is not a regular file (a directory, say).
    NotAFile {
        /// The path, in the container.
        program: PathBuf,
    },
    /// `EACCES` at exec: the program lies on a filesystem mounted `noexec`.
    NoexecMount {
        /// The program, in the container.
        program: PathBuf,
    },
    /// `ELOOP` while making a mount: the target path holds a symlink where nsbox follows none
    /// (see docs/architecture.md, "Mount points").
    SymlinkInMountTarget {
        /// The mount target, in the container.
        target: PathBuf,
    },
    /// A mount target whose path goes through a symlink climbing above the container's root
    /// with `..` (refused before anything starts; symlinks are followed inside the root).
    SymlinkLeavesRoot {
        /// The mount target, in the container.
        target: PathBuf,
        /// The symlink met on the way, in the container.
        symlink: PathBuf,
    },
    /// `ELOOP` opening a bind source that must hold no symlink (`Mount::no_follow`, the
    /// `Sandbox` default).
    SymlinkInBindSource {
        /// The source, on the host.
        source: PathBuf,
    },
    /// The overlay root ([`Rootfs::overlay`](crate::Rootfs::overlay)) did not mount: what
    /// [`preflight`](crate::preflight)'s overlayfs probe says, or what the error means.
    Overlayfs {
        /// Why, in words.
        reason: String,
    },
    /// `EAGAIN` starting a process in a container with a pids limit: the limit is reached.
    PidsLimitReached {
        /// The container's [`pids_limit`](crate::ContainerBuilder::pids_limit).
        limit: u64,
    },
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::MissingInterpreter {
                program,
                interpreter,
                kind: InterpreterKind::Elf,
            } => write!(
                f,
                "ELF interpreter {} (of {}) not found in the rootfs",
                interpreter.display(),
                program.display()
            ),
            Hint::MissingInterpreter {
                program, interpreter, ..
            } => write!(
                f,
                "script interpreter {} (the #! line of {}) not found in the rootfs",
                interpreter.display(),
                program.display()
            ),
            Hint::NotInPath { program, path } => write!(
                f,
                "`{}` not found in PATH {}",
                program.to_string_lossy(),
                path.to_string_lossy()
            ),
            Hint::NotExecutable { program, mode } => {
                write!(f, "{} has no execute permission (mode {mode:o})", program.display())
            }
            Hint::NotAFile { program } => write!(f, "{} is not a regular file", program.display()),
            Hint::NoexecMount { program } => write!(f, "{} is on a noexec mount", program.display()),
            Hint::SymlinkInMountTarget { target } => write!(
                f,
                "the mount target {} holds a symlink, which is not followed there",
                target.display()
            ),
            Hint::SymlinkLeavesRoot { target, symlink } => write!(
                f,
                "the mount target {} goes through the symlink {}, which climbs above the container's root",
                target.display(),
                symlink.display()
            ),
            Hint::SymlinkInBindSource { source } => write!(
                f,
                "the bind source {} holds a symlink, refused by a no-follow bind (Mount::follow_symlinks() allows it)",
                source.display()
            ),
            Hint::PidsLimitReached { limit } => write!(f, "the container's pids limit ({limit}) is reached"),
            Hint::Overlayfs { reason } => write!(f, "overlayfs: {reason}"),
        }
    }
}

/// The hint for step `label` failing with `errno` while running `step` (the planned step, when
/// known) of a container of `config`, its files seen through `view`.
pub(crate) fn for_failure(
    config: &Config,
    view: &View<'_>,
    label: SetupStep,
    path: Option<&Path>,
    errno: Errno,
    step: Option<&Step>,
) -> Option<Hint> {
    match (label, errno, step) {
        (SetupStep::Exec, Errno::ENOENT | Errno::EACCES, Some(Step::Exec { candidates, .. })) => {
            let candidates: Vec<&Path> = candidates
                .iter()
                .map(|c| Path::new(OsStr::from_bytes(c.to_bytes())))
                .collect();
            exec_hint(config, view, &candidates, errno)
        }
        (_, Errno::ELOOP, Some(Step::OpenSource { no_follow: Some(_), .. })) => Some(Hint::SymlinkInBindSource {
            source: path?.to_path_buf(),
        }),
        (SetupStep::Mount | SetupStep::BindMount, Errno::ELOOP, step) => Some(Hint::SymlinkInMountTarget {
            // A mount step's label names its target as the caller gave it.
            target: path.map(Path::to_path_buf).or_else(|| step.and_then(target_of))?,
        }),
        (_, errno, Some(Step::StageOverlay { .. })) => Some(Hint::Overlayfs {
            reason: overlay_reason(errno),
        }),
        (SetupStep::Clone | SetupStep::Init, Errno::EAGAIN, _) => {
            config.resources.pids.map(|limit| Hint::PidsLimitReached { limit })
        }
        _ => None,
    }
}

/// What an overlay root's failure with `errno` means here.
fn overlay_reason(errno: Errno) -> String {
    let support = crate::overlay_support::support();
    match (errno, support.reason) {
        (Errno::ENODEV, _) => "overlayfs is not available in this kernel (not in /proc/filesystems)".into(),
        (_, Some(reason)) if !support.usable => reason,
        (Errno::E2BIG, _) => "too many layers for one mount(2) option page (Linux < 6.8)".into(),
        _ => format!(
            "the kernel refused the overlay ({errno}): each layer must be a directory on a filesystem overlayfs takes, the upper one writable (not itself an overlay)"
        ),
    }
}

/// The container path a mount step makes: the last prefix of its resolved target.
fn target_of(step: &Step) -> Option<PathBuf> {
    let target = match step {
        Step::Bind { target, .. } | Step::Mount { target, .. } => target,
        Step::OpenMountDir { path, .. } | Step::Symlink { path, .. } | Step::Shadow { path, .. } => path,
        _ => return None,
    };
    let last = target.prefixes.last()?;
    Some(PathBuf::from(OsStr::from_bytes(last.to_bytes())))
}

/// `ENOENT` or `EACCES` from trying `candidates` in turn, as the launcher did.
pub(crate) fn exec_hint(config: &Config, view: &View<'_>, candidates: &[&Path], errno: Errno) -> Option<Hint> {
    let mut all_missing = true;
    for &candidate in candidates {
        let lookup = view.lookup(&in_container(&config.cwd, candidate));
        match lookup {
            Lookup::Missing => continue,
            Lookup::Unknown => {
                all_missing = false;
                continue;
            }
            Lookup::Found(_) => all_missing = false,
        }
        let program = candidate.to_path_buf();
        let stat = lookup.stat()?;
        if errno == Errno::EACCES {
            if stat.st_mode & libc::S_IFMT != libc::S_IFREG {
                return Some(Hint::NotAFile { program });
            }
            if stat.st_mode & 0o111 == 0 {
                return Some(Hint::NotExecutable {
                    program,
                    mode: stat.st_mode & 0o7777,
                });
            }
            if let Lookup::Found(fd) = &lookup
                && nix::sys::statvfs::fstatvfs(fd)
                    .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
            {
                return Some(Hint::NoexecMount { program });
            }
            continue;
        }
        let Some((interpreter, kind)) = lookup.open_regular().and_then(|f| elf::interpreter(&f)) else {
            continue;
        };
        if matches!(view.lookup(&in_container(&config.cwd, &interpreter)), Lookup::Missing) {
            return Some(Hint::MissingInterpreter {
                program,
                interpreter,
                kind,
            });
        }
    }
    let bare = !config.program.as_bytes().contains(&b'/');
    (errno == Errno::ENOENT && bare && all_missing).then(|| Hint::NotInPath {
        program: config.program.clone(),
        path: searched(candidates),
    })
}

/// The `PATH` a bare command's candidates came from (each is a directory joined with it).
fn searched(candidates: &[&Path]) -> OsString {
    let dirs: Vec<&[u8]> = candidates
        .iter()
        .map(|c| c.parent().map_or(b".".as_slice(), |d| d.as_os_str().as_bytes()))
        .collect();
    OsString::from(OsStr::from_bytes(&dirs.join(&b':')))
}
