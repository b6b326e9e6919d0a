//! Running an image: its layers as a root, its config as what runs.

pub mod config;
pub(crate) mod copy;
pub mod image;
pub mod layers;
pub mod root_copy;
pub mod strategy;
pub mod user;

pub use config::{Overrides, RunConfig, RunConfigError};
pub use image::{ImageRun, RunError};
pub use layers::LayerStack;
pub use root_copy::RootCopy;
pub use strategy::{ImagePreflight, RootStrategy, preflight};
pub use user::{Credentials, UserError};
