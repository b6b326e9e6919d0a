//! A container of an image from the store: the image's layers as a copy-on-write overlay root
//! (held by a lease, so `gc` never frees them while the container runs), the image's config as
//! what runs, with the caller's overrides.
//!
//! ```no_run
//! use nsbox::Container;
//! use nsbox_image::{Store, run::{ImageRun, Overrides}};
//! let store = Store::open("/var/lib/nsbox")?;
//! let mut builder = Container::builder();
//! let run = ImageRun::new(&store, "busybox:latest")?.apply(&mut builder)?;
//! println!("exposes {:?}", run.exposed_ports);
//! let out = builder.args(["echo", "hi"]).output()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use nsbox::{ContainerBuilder, Rootfs, Upper};

use super::config::{Overrides, RunConfig, RunConfigError};
use super::copy::CopyOptions;
use super::layers::LayerStack;
use super::root_copy::RootCopy;
use super::strategy::{RootStrategy, decide};
use crate::store::{Image, Lease, Store};

/// Why an image cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error(transparent)]
    Config(#[from] RunConfigError),
    /// An upper only an overlay root has, asked of a [`RootStrategy::Copy`] root: a kept
    /// `Upper::Dir` (its `upper/` in overlayfs' format, for `commit`) or a sized tmpfs (a copy
    /// is written on the store's file system, where that size cannot be enforced).
    #[error(
        "{what} needs an overlay root; this run copies the image (overlayfs is not usable here, or the copy was asked for)"
    )]
    NeedsOverlay { what: &'static str },
}

/// An image of the store, leased, about to configure a container.
pub struct ImageRun {
    image: Image,
    lease: Lease,
    overrides: Overrides,
    upper: Upper,
    id_maps: Option<crate::store::StoreIdMaps>,
    store: Store,
    strategy: Option<RootStrategy>,
}

impl ImageRun {
    /// The image `reference` of `store`, its layers leased from now on.
    pub fn new(store: &Store, reference: &str) -> Result<Self, RunError> {
        let image = store.inspect(reference)?;
        let lease = store.lease(&image)?;
        Ok(ImageRun {
            image,
            lease,
            overrides: Overrides::default(),
            upper: Upper::Tmpfs { size: None },
            id_maps: store.id_maps().cloned(),
            store: store.clone(),
            strategy: None,
        })
    }

    /// The caller's overrides of the image's config (`docker run`'s `--entrypoint`, command,
    /// `-u`, `-w`, `-e`, and the volumes it mounts itself).
    pub fn overrides(mut self, overrides: Overrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Where the container's writes go (a tmpfs by default).
    pub fn upper(mut self, upper: Upper) -> Self {
        self.upper = upper;
        self
    }

    /// How the container gets its root, instead of the host's default
    /// ([`RootStrategy::for_host`]: an overlay where overlayfs works, else a copy). Forcing
    /// [`RootStrategy::Overlay`] where it does not work fails at spawn (`Hint::Overlayfs`).
    pub fn root_strategy(mut self, strategy: RootStrategy) -> Self {
        self.strategy = Some(strategy);
        self
    }

    /// The image.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Configures `builder`: the root (the overlay of the image's layers, top first, or a copy
    /// of them: see [`root_strategy`](Self::root_strategy)) and the lease kept alive with the
    /// container, then what the image's config runs (see [`RunConfig`]), and its stop signal.
    /// Returns the resolved config (its exposed ports, for publishing; the root it got).
    ///
    /// For a copy, set the builder's profile, id maps, `read_only_root` and `detach` before:
    /// the copy is made here, owned by the container's root, and kept past the handle of a
    /// detached container. One copy serves one container: apply an `ImageRun` per container.
    ///
    /// For a store with subordinate ids ([`Store::id_maps`]) it also sets the container's uid
    /// and gid maps to the store's, so the ids inside are the image's (`/etc/shadow` 0:42).
    pub fn apply(self, builder: &mut ContainerBuilder) -> Result<RunConfig, RunError> {
        let layers: Vec<_> = self.lease.layers().iter().rev().cloned().collect();
        let stack = LayerStack::new(layers.clone());
        let mut run = RunConfig::resolve(self.image.config().config().as_ref(), &self.overrides, &stack)?;
        run.root = match self.strategy {
            Some(forced) => forced,
            None => decide(nsbox::OverlaySupport::detect().usable, None),
        };
        if run.root == RootStrategy::Copy {
            // The caller could neither read the image's private files owned by subordinate ids
            // nor give the copy their owners, nor remove what the container's users made in it.
            if self.id_maps.is_some() {
                return Err(RunError::NeedsOverlay {
                    what: "a store with subordinate ids",
                });
            }
            match self.upper {
                Upper::Dir(_) => {
                    return Err(RunError::NeedsOverlay {
                        what: "a kept upper (Upper::Dir)",
                    });
                }
                Upper::Tmpfs { size: Some(_) } => {
                    return Err(RunError::NeedsOverlay {
                        what: "a sized upper (Upper::Tmpfs with a size)",
                    });
                }
                _ => {}
            }
        }
        let mut upper = self.upper;
        let mut disk_upper = None;
        if run.root == RootStrategy::Overlay
            && upper == (Upper::Tmpfs { size: None })
            && !nsbox::OverlaySupport::detect().tmpfs_upper_xattrs
        {
            // A tmpfs before Linux 6.6 keeps no user.* xattrs: overlayfs could not mark a
            // replaced directory opaque (EIO). The upper goes on the store's file system.
            let dir = RootCopy::empty(&self.store)?;
            upper = Upper::Dir(dir.dir().to_path_buf());
            disk_upper = Some(dir);
        }
        if let Some(maps) = &self.id_maps {
            builder.uid_map(maps.uid.iter().copied());
            builder.gid_map(maps.gid.iter().copied());
        }
        builder.rootfs(Rootfs::overlay(layers, upper));
        run.apply(builder);
        if let Some(signal) = run.stop_signal {
            builder.stop_signal(signal);
        }
        // A detached container outlives its handle, and the lease in it: its process holds the
        // layers from then on (see store/holders.rs).
        let holder = self.lease.holder();
        builder.on_spawn(move |container| match container.is_detached() {
            true => holder
                .write(container.id(), container.pid())
                .map_err(std::io::Error::other),
            false => Ok(()),
        });
        if run.root == RootStrategy::Copy {
            let mut copy = copy_root(&self.store, &self.lease, builder)?;
            if builder.build().is_ok_and(|c| c.is_detached()) {
                copy.keep();
                run.kept_root_copy = Some(copy.dir().to_path_buf());
            }
            builder.rootfs(Rootfs::dir(copy.root()));
            builder.keep_alive(copy);
            // One copy is one container's root: a second spawn would share it, and a container
            // detached after `apply` would lose it when its handle drops. Both refused.
            let kept = run.kept_root_copy.is_some();
            let spawned = std::sync::atomic::AtomicBool::new(false);
            builder.on_spawn(move |container| {
                if spawned.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    return Err(std::io::Error::other(
                        "an image's root copy serves one container: apply an ImageRun per container",
                    ));
                }
                if container.is_detached() && !kept {
                    return Err(std::io::Error::other(
                        "detach() after ImageRun::apply on a root copy: detach the builder first",
                    ));
                }
                Ok(())
            });
        }
        if let Some(mut dir) = disk_upper {
            if builder.build().is_ok_and(|c| c.is_detached()) {
                dir.keep();
                run.kept_root_copy = Some(dir.dir().to_path_buf());
            }
            builder.keep_alive(dir);
        }
        builder.keep_alive(self.lease);
        Ok(run)
    }
}

/// The image's tree copied for the container `builder` configures, which becomes a directory
/// root: writable unless the caller asked for a read-only root (an overlay root's default),
/// owned by the container's root (a privileged copy shifts ids through its maps).
fn copy_root(store: &Store, lease: &Lease, builder: &mut ContainerBuilder) -> Result<RootCopy, RunError> {
    // What the caller configured, resolved as a spawn resolves it; a builder that does not
    // build yet fails the same way at spawn.
    let config = builder.build().ok();
    let privileged = store.privileged() && nix::unistd::geteuid().is_root();
    let shift = config
        .as_ref()
        .filter(|c| privileged && !c.uid_map().is_empty())
        .map(|c| (c.uid_map().to_vec(), c.gid_map().to_vec()));
    builder.read_only_root(config.as_ref().is_some_and(|c| c.is_read_only_root()));
    let options = CopyOptions { privileged, shift };
    Ok(RootCopy::make(store, lease.layers(), &options)?)
}
