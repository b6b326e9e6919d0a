//! Images that differ from a stored one only in their config or their name: a build's `ENV`,
//! `CMD`, `EXPOSE`… step ([`Store::commit_config`], an "empty layer" history entry as Docker
//! writes one) and a second reference to an image ([`Store::tag`], `docker tag`). Neither
//! copies or unpacks a layer: the base's layers are already in the store.

use std::fs::{self, File};

use super::{CommitError, created_now};
use crate::import::ImageInput;
use crate::store::{Kind, LayerInput, LockFile};
use crate::{Digest, Error, Image, Reference, Store};

impl Store {
    /// Stores a new image `reference`: the layers of `base` (an image of this store) with the
    /// run config `config` and a history entry `created_by` marked `empty_layer`.
    ///
    /// ```no_run
    /// use nsbox_image::Store;
    /// let store = Store::open("/var/lib/nsbox")?;
    /// let base = store.inspect("busybox:latest")?;
    /// let mut config = base.config().config().clone().unwrap_or_default();
    /// config.set_cmd(Some(vec!["sh".into()]));
    /// store.commit_config(&base, config, "CMD [\"sh\"]", "busybox:sh")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_config(
        &self,
        base: &Image,
        config: oci_spec::image::Config,
        created_by: &str,
        reference: &str,
    ) -> Result<Image, CommitError> {
        let reference = Reference::parse(reference)?;
        let _no_gc = LockFile::acquire(&self.path().join("gc.lock"), Kind::Shared)?;
        let mut document = self.base_config(base)?;
        let object = document.as_object_mut().expect("base_config checks it is an object");
        let created = created_now();
        let entry = serde_json::json!({ "created": created, "created_by": created_by, "empty_layer": true });
        match object.get_mut("history").and_then(|h| h.as_array_mut()) {
            Some(history) => history.push(entry),
            None => {
                object.insert("history".into(), serde_json::Value::Array(vec![entry]));
            }
        }
        object.insert("created".into(), created.into());
        object.insert(
            "config".into(),
            serde_json::to_value(&config).expect("a config serializes"),
        );
        let bytes = serde_json::to_vec(&document).expect("a config serializes");
        let digest = Digest::of(&bytes);
        let input = ImageInput {
            manifest: None,
            config: Some((bytes, digest)),
            layers: self.stored_layers(base),
        };
        Ok(self.store_image(&reference, input, &mut |_| {})?)
    }

    /// Names `image` (an image of this store) `reference` too, as `docker tag` does; the image
    /// (its manifest, config and layers) is unchanged. A reference that named another image
    /// now names this one.
    pub fn tag(&self, image: &Image, reference: &str) -> Result<Image, Error> {
        let reference = Reference::parse(reference)?;
        let _no_gc = LockFile::acquire(&self.path().join("gc.lock"), Kind::Shared)?;
        let read = |digest: &Digest| -> Result<(Vec<u8>, Digest), Error> {
            let path = self.blob_path(digest);
            let bytes = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
            Ok((bytes, digest.clone()))
        };
        let input = ImageInput {
            manifest: Some(read(image.manifest_digest())?),
            config: Some(read(image.config_digest())?),
            layers: self.stored_layers(image),
        };
        self.store_image(&reference, input, &mut |_| {})
    }

    /// The config document of `base` as stored (fields this crate does not know are kept),
    /// checked against its digest.
    fn base_config(&self, base: &Image) -> Result<serde_json::Value, Error> {
        let path = self.blob_path(base.config_digest());
        let data = fs::read(&path).map_err(|e| Error::io("reading image config", &path, e))?;
        let corrupt = |what: String| Error::Corrupt {
            path: path.clone(),
            what,
        };
        if Digest::of(&data) != *base.config_digest() {
            return Err(corrupt("the config blob does not hash to its name".into()));
        }
        let value: serde_json::Value = serde_json::from_slice(&data).map_err(|e| corrupt(e.to_string()))?;
        if !value.is_object() {
            return Err(corrupt("not a JSON object".into()));
        }
        Ok(value)
    }

    /// The layers of `image`, as inputs the store finds already stored and unpacked.
    pub(super) fn stored_layers(&self, image: &Image) -> Vec<LayerInput<'static>> {
        image
            .layers()
            .iter()
            .map(|layer| {
                let path = self.blob_path(layer.blob());
                LayerInput {
                    blob: Some(layer.blob().clone()),
                    size: Some(layer.size()),
                    length: layer.size(),
                    media_type: Some(layer.media_type().to_owned()),
                    diff_id: Some(layer.diff_id().clone()),
                    open: Box::new(move || {
                        let file = File::open(&path).map_err(|e| Error::io("opening blob", &path, e))?;
                        Ok(Box::new(file) as Box<dyn std::io::Read>)
                    }),
                }
            })
            .collect()
    }
}
