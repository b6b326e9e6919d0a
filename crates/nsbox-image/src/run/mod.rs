//! Running an image: its layers as a root, its config as what runs.

pub mod config;
pub mod image;
pub mod layers;
pub mod user;

pub use config::{Overrides, RunConfig, RunConfigError};
pub use image::{ImageRun, RunError};
pub use layers::LayerStack;
pub use user::{Credentials, UserError};
