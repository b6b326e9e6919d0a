//! Pulling images from an OCI distribution registry (the `pull` feature): `name:tag` or
//! `name@sha256:…`, through [`oci-client`](https://docs.rs/oci-client).
//!
//! A pull is an import like the others: the registry is read as if it were an OCI layout (its
//! manifest or index is the layout's `index.json`, its blobs the layout's blobs), so the same
//! code picks the platform, checks the manifest, the config and every layer against their
//! digests while they stream in, unpacks the layers and writes the image record. A failure at
//! any step leaves no reference moved and no temporary file behind.
//!
//! - **Names**: a reference without a registry host means Docker Hub (`docker.io`, with
//!   `library/` before a one-component name), as Docker does; the image is stored under the
//!   reference as written. Plain HTTP is used for `localhost` and `127.0.0.1` (any port), and
//!   for any registry when [`PullOptions::insecure_http`] says so; HTTPS otherwise.
//! - **Platform**: from an index, the manifest for this host (linux/amd64 on x86-64).
//! - **Foreign layers** (non-distributable, or with `urls`) are never fetched, neither from their
//!   URLs nor from the registry: such an image fails with [`Error::ForeignLayer`].
//! - **Credentials**: see [`Credentials`]; by default the Docker config file, anonymous when it
//!   has no entry for the registry. Credential helpers are not run (a library should not start
//!   programs a config file names): a registry whose credentials live in a helper is an
//!   [`Error::DockerConfig`] that says so, rather than a silent anonymous pull.
//! - **Threads**: the blocking API runs its own single-threaded tokio runtime on one helper
//!   thread for the duration of the call, so it may be called from any thread, also from inside
//!   an async runtime (from async code, prefer `tokio::task::spawn_blocking`: it blocks).
//!
//! Limits: a manifest is read whole by oci-client before its size can be checked against the
//! 8 MiB bound (a hostile registry can make one pull hold a large manifest in memory once);
//! blobs stream and stop at the first byte past their declared size.

mod credentials;
mod endpoint;
mod fetcher;
mod files;

use std::fmt;

pub use credentials::Credentials;
pub(crate) use files::RegistryFiles;

use crate::{Error, Image, Progress, Reference, Source, Store};

/// How to reach a registry.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PullOptions {
    /// Where credentials come from (default: the Docker config file).
    pub credentials: Credentials,
    /// Talk plain HTTP to this registry even if it is not on the loopback (like Docker's
    /// `insecure-registries`): anyone on the path can then read the credentials and swap what
    /// is not pinned by digest.
    pub insecure_http: bool,
}

impl PullOptions {
    /// Credentials from the Docker config file, HTTPS unless the registry is on the loopback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these credentials.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// Allows plain HTTP to any registry.
    pub fn insecure_http(mut self, insecure: bool) -> Self {
        self.insecure_http = insecure;
        self
    }
}

impl fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PullOptions")
            .field("credentials", &self.credentials)
            .field("insecure_http", &self.insecure_http)
            .finish()
    }
}

/// An image in a registry: what [`Source::Registry`] holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySource {
    pub(crate) reference: Reference,
    pub(crate) options: PullOptions,
}

impl RegistrySource {
    /// The image `reference` names, reached with `options`.
    pub fn new(reference: Reference, options: PullOptions) -> Self {
        Self { reference, options }
    }

    /// The image's reference in the registry.
    pub fn reference(&self) -> &Reference {
        &self.reference
    }
}

impl Source {
    /// An image in a registry (`registry/name:tag` or `registry/name@sha256:…`).
    ///
    /// ```no_run
    /// use nsbox_image::{PullOptions, Source, Store};
    /// let store = Store::open("/var/lib/nsbox")?;
    /// let source = Source::registry("127.0.0.1:5000/tools/busybox:1.36".parse()?, PullOptions::new());
    /// store.import(&source, "busybox:1.36", |_| {})?;
    /// # Ok::<(), nsbox_image::Error>(())
    /// ```
    pub fn registry(reference: Reference, options: PullOptions) -> Self {
        Self::Registry(RegistrySource::new(reference, options))
    }
}

impl Store {
    /// Pulls `reference` from its registry and stores it under the same reference: the blocking
    /// equivalent of `docker pull`. `progress` is called as layer bytes arrive and after each
    /// layer, as for [`import`](Self::import).
    ///
    /// ```no_run
    /// use nsbox_image::{PullOptions, Store};
    /// let store = Store::open("/var/lib/nsbox")?;
    /// let image = store.pull("127.0.0.1:5000/busybox:latest", &PullOptions::new(), |p| {
    ///     eprintln!("{}/{} bytes, {}/{} layers", p.bytes_done, p.bytes_total, p.layers_done, p.layers_total)
    /// })?;
    /// println!("pulled {}", image.manifest_digest());
    /// # Ok::<(), nsbox_image::Error>(())
    /// ```
    pub fn pull(&self, reference: &str, options: &PullOptions, progress: impl FnMut(Progress)) -> Result<Image, Error> {
        let parsed = Reference::parse(reference)?;
        self.import(&Source::registry(parsed, options.clone()), reference, progress)
    }
}
