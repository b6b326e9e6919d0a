//! # nsbox-oci: OCI runtime bundles on nsbox
//!
//! An [OCI runtime bundle](https://github.com/opencontainers/runtime-spec/blob/main/bundle.md)
//! is a directory with a `config.json` and (usually) the root filesystem. [`Bundle::open`]
//! reads and checks the `config.json`; [`Bundle::builder`] maps every field runc and crun
//! honour on Linux onto nsbox's public [`ContainerBuilder`](nsbox::ContainerBuilder).
//!
//! The bundle says everything: none of nsbox's library defaults is left to apply (the
//! caller's environment, Podman's capabilities, Docker's seccomp profile, kill when the
//! caller dies, an init as PID 1). A field nsbox cannot honour exactly is an error naming
//! it ([`BundleError::Unsupported`]), never ignored. docs/oci.md has the whole mapping.
//!
//! ```no_run
//! use nsbox_oci::{Bundle, Options};
//! let bundle = Bundle::open("/run/bundles/web")?;
//! let mut builder = bundle.builder(&Options::probe())?;
//! let mut container = builder.spawn()?;
//! container.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Hooks are parsed and handed back ([`Bundle::hooks`]): running them, with the state on
//! their stdin, is the runtime binary's job.

#![warn(missing_docs)]

mod bundle;
mod devices;
mod error;
mod linux;
mod lsm;
mod mount_idmap;
mod mounts;
mod net_devices;
mod numa;
mod options;
mod process;
mod resources;
mod seccomp;
mod size;
mod unknown;

pub use bundle::Bundle;
pub use error::BundleError;
pub use linux::{NSBOX_MASKED_PATHS, NSBOX_READONLY_PATHS};
/// The `oci-spec` crate, whose runtime types [`Bundle::spec`] and [`Bundle::hooks`] return.
pub use oci_spec;
pub use options::Options;
pub use process::ProcessCapabilities;

/// Entry points for the fuzz targets in `fuzz/`. Not a stable API.
#[doc(hidden)]
pub mod __fuzz {
    /// Parses `json` as a bundle's `config.json` and maps it, as [`Bundle::open`] and
    /// [`Bundle::builder`] do, then lets nsbox check the result (nothing is spawned; the
    /// bundle directory does not exist, so a relative root path fails to resolve).
    pub fn config(json: &[u8]) {
        let dir = std::path::PathBuf::from("/nonexistent/nsbox-oci-fuzz");
        let Ok(bundle) = crate::Bundle::parse(dir.clone(), &dir.join("config.json"), json) else {
            return;
        };
        if let Ok(builder) = bundle.builder(&crate::Options::fixed()) {
            let _ = builder.build();
        }
    }
}
