//! An overlay root ([`Rootfs::overlay`](crate::Rootfs::overlay)): its layers opened as
//! sources, its upper directory prepared, and the `StageOverlay` step.
//!
//! The layers are opened (`O_PATH`) by the setup process while it still has the caller's host
//! credentials, as every source is (see `Plan::new`), and reach the kernel as
//! `/proc/self/fd/N`: a root-owned 0700 store stays reachable once the container's root is
//! mapped to another host id, and no path is ever parsed as an option string.

use std::path::Path;

use super::{Plan, Result, SetupStep, Step, cstring};
use crate::config::Config;
use crate::error::Error;
use crate::rootfs::{Overlay, Upper};

/// The slots of an overlay root's layers (top first) and of its upper and work directories
/// (`Upper::Dir`).
pub(in crate::plan) struct OverlaySources {
    lower: Vec<usize>,
    /// The lower slots hold detached idmapped mounts (see `idmapped`).
    idmapped: bool,
    upper: Option<(usize, usize)>,
}

/// Opens the layers and the upper directory's halves into slots (`Upper::Dir`: `upper/` and
/// `work/` made first, given to the container's root).
pub(super) fn open_layers(plan: &mut Plan, config: &Config, overlay: &Overlay) -> Result<OverlaySources> {
    let idmapped = super::idmapped::needed(config);
    let lower = if idmapped {
        super::idmapped::open_layers(plan, config, &overlay.lower)?
    } else {
        let mut lower = Vec::with_capacity(overlay.lower.len());
        for dir in &overlay.lower {
            lower.push(plan.open_source(dir, SetupStep::PrepareRoot)?);
        }
        lower
    };
    let upper = match &overlay.upper {
        Upper::Dir(dir) => {
            refuse_shared_upper(dir)?;
            let (upper, work) = (dir.join("upper"), dir.join("work"));
            // upper/ is the container's root directory: 0755 as an image's root is (0700 would
            // lock every user but root out of the container's own root); the kept directory
            // around it is what keeps host users out.
            prepare_upper_dir(config, &upper, 0o755)?;
            prepare_upper_dir(config, &work, 0o700)?;
            // Finer: the top layer's root mode, as the image has it.
            root_mode_from_layers(dir, &upper, &overlay.lower)?;
            Some((
                plan.open_source(&upper, SetupStep::PrepareRoot)?,
                plan.open_source(&work, SetupStep::PrepareRoot)?,
            ))
        }
        Upper::Tmpfs { .. } => None,
    };
    Ok(OverlaySources { lower, idmapped, upper })
}

/// The error of preparing the upper directory `dir`.
fn upper_error(dir: &Path, e: std::io::Error) -> Error {
    Error::io(format!("prepare the overlay upper directory {}", dir.display()), e)
}

/// Makes `dir` (and its parents, 0700) if missing; its metadata, refused unless a directory.
fn private_dir(dir: &Path) -> Result<std::fs::Metadata> {
    use std::os::unix::fs::DirBuilderExt;
    let fail = |e| upper_error(dir, e);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let meta = std::fs::symlink_metadata(dir).map_err(fail)?;
    if !meta.is_dir() {
        return Err(fail(std::io::Error::other("not a directory")));
    }
    Ok(meta)
}

/// Refuses an upper directory others could tamper with: one group or others may write to
/// (they could swap `upper/` for a symlink), or a symlink itself. It is made (or set) 0700:
/// what the container writes there (a setuid-root copy of its binaries among it) must not be
/// reachable by host users (CVE-2021-41091).
fn refuse_shared_upper(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = private_dir(dir)?;
    if meta.mode() & 0o022 != 0 {
        return Err(upper_error(
            dir,
            std::io::Error::other(
                "it must be a directory only its owner can write to (its upper/ would hold the container's files, setuid ones too)",
            ),
        ));
    }
    if meta.mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| upper_error(dir, e))?;
    }
    Ok(())
}

/// Makes `dir` (and its parents) if missing, sets `mode`, and, in a user namespace, gives it
/// to the host ids the container's root is mapped to: overlayfs writes the upper as the
/// mounter, that root.
fn prepare_upper_dir(config: &Config, dir: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let fail = |e| upper_error(dir, e);
    private_dir(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(fail)?;
    if config.uid_map.is_empty() {
        return Ok(());
    }
    let uid = crate::idmap::IdMap::to_host(&config.uid_map, 0);
    let gid = crate::idmap::IdMap::to_host(&config.gid_map, 0);
    let meta = std::fs::symlink_metadata(dir).map_err(fail)?;
    use std::os::unix::fs::MetadataExt;
    if uid.is_some_and(|u| u != meta.uid()) || gid.is_some_and(|g| g != meta.gid()) {
        std::os::unix::fs::lchown(dir, uid, gid).map_err(fail)?;
    }
    Ok(())
}

/// Gives `upper/` the mode of the top layer's root: the merged root takes its attributes from
/// the upper's root, and a 0700 root would lock every user but root out of the container
/// (exec of any program fails with `EACCES`). Only where `dir` itself is private (no access
/// for group or others): `upper/` then stays out of host users' reach; otherwise it keeps 0700.
fn root_mode_from_layers(dir: &Path, upper: &Path, lower: &[std::path::PathBuf]) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let private = std::fs::symlink_metadata(dir).is_ok_and(|m| m.mode() & 0o077 == 0);
    let top = lower.first().and_then(|l| std::fs::symlink_metadata(l).ok());
    let Some(top) = top.filter(|m| private && m.is_dir()) else {
        return Ok(());
    };
    std::fs::set_permissions(upper, std::fs::Permissions::from_mode(top.mode() & 0o1777))
        .map_err(|e| upper_error(upper, e))
}

/// The `StageOverlay` step: the new root at `stage`; a tmpfs upper sized `size` (`Upper`'s,
/// else the profile's `/tmp` size).
pub(super) fn plan_stage(
    plan: &mut Plan,
    config: &Config,
    overlay: &Overlay,
    stage: &str,
    sources: OverlaySources,
) -> Result<()> {
    let size = match overlay.upper {
        Upper::Tmpfs { size } => size.or(config.bounds.tmp_size),
        _ => None,
    };
    let step = Step::StageOverlay {
        stage: cstring(stage.as_bytes())?,
        lower: sources.lower,
        upper: sources.upper,
        attach: sources.idmapped,
        tmpfs: cstring(crate::bounds::tmpfs_data("755", size).as_bytes())?,
    };
    let label = overlay.lower.first().cloned();
    plan.push(step, SetupStep::PrepareRoot, label);
    Ok(())
}
