//! Which root an image run gets: the layers as an overlay (copy-on-write, nothing copied), or,
//! where overlayfs cannot be mounted the way nsbox mounts it (no overlay in the kernel; a user
//! namespace on Linux < 5.11, or without `userxattr`), a private copy of the image's tree per
//! container, as Docker's `vfs` storage driver does.

/// How a container of an image gets its root filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RootStrategy {
    /// The layers as read-only overlayfs lower layers under a per-container upper
    /// ([`nsbox::Rootfs::overlay`]): nothing is copied, the spawn costs one mount.
    Overlay,
    /// The image's tree (whiteouts and opaque directories applied) copied into a private
    /// directory under the store's `roots/` for this container, bound as its root
    /// ([`nsbox::Rootfs::dir`]); removed when the container is reaped. Costs a copy of the
    /// image per container (file contents through `copy_file_range`, a reflink where the file
    /// system has them).
    Copy,
}

impl RootStrategy {
    /// The strategy an image run uses here unless told otherwise: [`Overlay`](Self::Overlay)
    /// where overlayfs serves [`nsbox::Rootfs::overlay`] (`overlay.usable`), else
    /// [`Copy`](Self::Copy).
    pub fn for_host(overlay: &nsbox::OverlaySupport) -> Self {
        decide(overlay.usable, None)
    }
}

/// What image runs do on this host, for a caller who wants to know before a spawn.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImagePreflight {
    /// The core's report (kernel, cgroups, user namespaces, overlayfs).
    pub host: nsbox::Preflight,
    /// The root an image run gets here by default.
    pub root: RootStrategy,
    /// Why not an overlay, when the copy is chosen.
    pub reason: Option<String>,
}

/// [`nsbox::preflight`] plus the root strategy an image run will use here.
///
/// ```no_run
/// let host = nsbox_image::run::preflight();
/// if host.root == nsbox_image::run::RootStrategy::Copy {
///     eprintln!("no overlayfs ({:?}): each container copies its image", host.reason);
/// }
/// ```
pub fn preflight() -> ImagePreflight {
    let host = nsbox::preflight();
    let root = RootStrategy::for_host(&host.overlay);
    let reason = (root == RootStrategy::Copy).then(|| {
        host.overlay
            .reason
            .clone()
            .unwrap_or_else(|| "overlayfs is not usable".into())
    });
    ImagePreflight { host, root, reason }
}

/// The decision: the caller's choice when it made one, else an overlay where it works.
pub(crate) fn decide(overlay_usable: bool, forced: Option<RootStrategy>) -> RootStrategy {
    match forced {
        Some(strategy) => strategy,
        None if overlay_usable => RootStrategy::Overlay,
        None => RootStrategy::Copy,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_where_it_works_the_copy_elsewhere_and_the_callers_choice_wins() {
        assert_eq!(decide(true, None), RootStrategy::Overlay);
        assert_eq!(decide(false, None), RootStrategy::Copy);
        assert_eq!(decide(true, Some(RootStrategy::Copy)), RootStrategy::Copy);
        assert_eq!(decide(false, Some(RootStrategy::Overlay)), RootStrategy::Overlay);
    }

    #[test]
    fn preflight_agrees_with_the_hosts_overlay_support() {
        let report = preflight();
        assert_eq!(report.root, RootStrategy::for_host(&report.host.overlay));
        assert_eq!(report.root == RootStrategy::Copy, report.reason.is_some());
    }
}
