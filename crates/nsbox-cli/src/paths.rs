//! Where the command keeps its state and its images.

use std::path::PathBuf;

use crate::error::{CliError, Result};

/// The state directory (one directory per container) and the image store.
#[derive(Debug, Clone)]
pub struct Paths {
    pub state: PathBuf,
    pub store: PathBuf,
}

impl Paths {
    /// `--state-dir` / `--store` when given, else `/run/nsbox` and `/var/lib/nsbox` as root,
    /// `$XDG_RUNTIME_DIR/nsbox` and `$XDG_DATA_HOME/nsbox` otherwise.
    pub fn resolve(state: Option<PathBuf>, store: Option<PathBuf>) -> Result<Paths> {
        let state = match state {
            Some(dir) => dir,
            None if nix::unistd::geteuid().is_root() => PathBuf::from("/run/nsbox"),
            None => match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
                Some(dir) => PathBuf::from(dir).join("nsbox"),
                None => {
                    return Err(CliError::new(
                        "XDG_RUNTIME_DIR is not set: give --state-dir (or NSBOX_STATE_DIR)",
                    ));
                }
            },
        };
        let store = match store.or_else(nsbox_image::Store::default_path) {
            Some(dir) => dir,
            None => return Err(CliError::new("no image store: give --store (or NSBOX_STORE)")),
        };
        Ok(Paths {
            state: absolute(state)?,
            store: absolute(store)?,
        })
    }

    /// Containers' data (writable layers, logs): `<store>/containers`, on disk beside the
    /// images (nsbox-image leaves directories it does not know alone).
    pub fn data(&self) -> PathBuf {
        self.store.join("containers")
    }

    pub fn open_store(&self) -> Result<nsbox_image::Store> {
        Ok(nsbox_image::Store::open(&self.store)?)
    }
}

fn absolute(path: PathBuf) -> Result<PathBuf> {
    Ok(std::path::absolute(&path)?)
}
