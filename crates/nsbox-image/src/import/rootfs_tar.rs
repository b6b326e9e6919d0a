//! A plain root filesystem tar as a one-layer image: blob digest, diff id and config are all
//! computed, the compression sniffed.

use std::fs::File;
use std::path::Path;

use super::ImageInput;
use crate::Error;
use crate::store::{LayerInput, LayerRecord};

pub(crate) fn read(path: &Path) -> Result<ImageInput<'static>, Error> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("inspecting", path, e))?;
    if !meta.is_file() {
        return Err(Error::format(path, "not a regular file"));
    }
    let owned = path.to_owned();
    Ok(ImageInput {
        manifest: None,
        config: None,
        layers: vec![LayerInput {
            blob: None,
            size: None,
            length: meta.len(),
            media_type: None,
            diff_id: None,
            open: Box::new(move || {
                let file = File::open(&owned).map_err(|e| Error::io("opening", &owned, e))?;
                Ok(Box::new(file) as Box<dyn std::io::Read>)
            }),
        }],
    })
}

/// `{"architecture", "os", "config": {}, "rootfs": {...}}` for this host.
pub(crate) fn minimal_config(layers: &[LayerRecord]) -> Vec<u8> {
    let (os, architecture) = super::oci::host_platform();
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.to_string()).collect();
    let config = serde_json::json!({
        "architecture": architecture,
        "os": os,
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
        "history": [{ "created_by": "nsbox-image: imported from a rootfs tar" }],
    });
    serde_json::to_vec(&config).expect("a config serializes")
}
