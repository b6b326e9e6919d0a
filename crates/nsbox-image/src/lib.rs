//! Container images for nsbox: import into a content-addressed store, unpack layers safely,
//! and run them as copy-on-write root filesystems.
//!
//! The core crate (`nsbox`) stays small: it knows root filesystems (a directory, an overlay of
//! layer directories); this crate knows images, their archives and their store.
//!
//! [`oci_spec`] is a public dependency: [`Image::config`] is its `ImageConfiguration`.
//!
//! ```no_run
//! use nsbox_image::{Source, Store};
//! let store = Store::open("/var/lib/nsbox")?;
//! let image = store.import(&Source::docker_archive("busybox.tar"), "busybox:latest", |_| {})?;
//! println!("{} layers, config {}", image.layers().len(), image.config_digest());
//! for image in store.list()? {
//!     println!("{:?} {}", image.references(), image.manifest_digest());
//! }
//! # Ok::<(), nsbox_image::Error>(())
//! ```

pub mod commit;
pub mod digest;
mod error;
mod import;
mod progress;
#[cfg(feature = "pull")]
pub mod pull;
mod reference;
pub mod run;
pub mod store;
pub mod unpack;

pub use digest::{Digest, VerifyError, VerifyingReader};
pub use error::Error;
pub use import::Source;
pub use oci_spec;
pub use progress::Progress;
#[cfg(feature = "pull")]
pub use pull::{Credentials, PullOptions, RegistrySource};
pub use reference::{DEFAULT_TAG, Reference};
pub use store::{GcReport, Image, Layer, Lease, MAX_SUBORDINATE_IDS, Store, StoreIdMaps};
