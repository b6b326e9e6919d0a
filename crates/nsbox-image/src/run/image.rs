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
use super::layers::LayerStack;
use crate::store::{Image, Lease, Store};

/// Why an image cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error(transparent)]
    Config(#[from] RunConfigError),
}

/// An image of the store, leased, about to configure a container.
pub struct ImageRun {
    image: Image,
    lease: Lease,
    overrides: Overrides,
    upper: Upper,
    id_maps: Option<crate::store::StoreIdMaps>,
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

    /// The image.
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Configures `builder`: the overlay root of the image's layers (top first) and the lease
    /// kept alive with the container, then what the image's config runs (see [`RunConfig`]),
    /// and its stop signal. Returns the resolved config (its exposed ports, for publishing).
    ///
    /// For a store with subordinate ids ([`Store::id_maps`]) it also sets the container's uid
    /// and gid maps to the store's, so the ids inside are the image's (`/etc/shadow` 0:42).
    pub fn apply(self, builder: &mut ContainerBuilder) -> Result<RunConfig, RunError> {
        let layers: Vec<_> = self.lease.layers().iter().rev().cloned().collect();
        let stack = LayerStack::new(layers.clone());
        let run = RunConfig::resolve(self.image.config().config().as_ref(), &self.overrides, &stack)?;
        builder.rootfs(Rootfs::overlay(layers, self.upper));
        if let Some(maps) = &self.id_maps {
            builder.uid_map(maps.uid.iter().copied());
            builder.gid_map(maps.gid.iter().copied());
        }
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
        builder.keep_alive(self.lease);
        Ok(run)
    }
}
