//! `docker save` archives, both shapes: an OCI layout inside the tar (skopeo, Docker ≥ 25:
//! `oci-layout` + `index.json` + blobs, read as a layout) and the classic one (Docker 20.10:
//! `manifest.json` naming a config file and `<id>/layer.tar` files, possibly links within the
//! archive). Classic layers carry no media type: their compression is sniffed from the magic
//! bytes; their diff ids come from the config and are checked.

use super::ImageInput;
use super::archive::ArchiveFiles;
use super::files::Files;
use super::json::{self, DockerEntry};
use crate::store::LayerInput;
use crate::{Digest, Error, Reference};

/// Plans the import of the image of `archive` that `reference` names.
pub(crate) fn read<'a>(archive: &'a ArchiveFiles, reference: &Reference) -> Result<ImageInput<'a>, Error> {
    if archive.size("oci-layout")?.is_some() && archive.size("index.json")?.is_some() {
        return super::oci::read(archive, reference);
    }
    let entries: Vec<DockerEntry> = json::parse(archive, "manifest.json", &json::read_file(archive, "manifest.json")?)?;
    let entry = choose(archive, entries, reference)?;

    let config_bytes = json::read_file(archive, &entry.config)?;
    let config_digest = Digest::of(&config_bytes);
    if let Some(named) = digest_named_by(archive, &entry.config)
        && named != config_digest
    {
        return Err(crate::digest::VerifyError::Digest {
            expected: named,
            actual: config_digest,
        }
        .into());
    }
    let (_, diff_ids) = json::parse_config(archive, &config_bytes)?;
    if diff_ids.len() != entry.layers.len() {
        return Err(Error::format(
            archive.origin(),
            format!(
                "manifest.json lists {} layers, the config {} diff ids",
                entry.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (name, diff_id) in entry.layers.into_iter().zip(diff_ids) {
        let Some(size) = archive.size(&name)? else {
            if let Some(source) = entry.layer_sources.as_ref().and_then(|s| s.get(&diff_id.to_string())) {
                return Err(Error::ForeignLayer {
                    digest: source.digest()?,
                    urls: source.urls.clone().unwrap_or_default(),
                });
            }
            return Err(Error::format(archive.origin(), format!("layer {name} is missing")));
        };
        let blob = digest_named_by(archive, &name);
        layers.push(LayerInput {
            size: blob.as_ref().map(|_| size),
            length: size,
            blob,
            media_type: None,
            diff_id: Some(diff_id),
            open: Box::new(move || {
                archive
                    .open(&name)?
                    .ok_or_else(|| Error::format(archive.origin(), format!("layer {name} is missing")))
            }),
        });
    }
    Ok(ImageInput {
        manifest: None,
        config: Some((config_bytes, config_digest)),
        layers,
    })
}

/// The single image, or the one whose RepoTags hold `reference`.
fn choose(archive: &ArchiveFiles, entries: Vec<DockerEntry>, reference: &Reference) -> Result<DockerEntry, Error> {
    let count = entries.len();
    if count == 1 {
        return Ok(entries.into_iter().next().expect("one entry"));
    }
    let tagged = |e: &DockerEntry| {
        e.repo_tags
            .iter()
            .flatten()
            .any(|t| Reference::parse(t).is_ok_and(|t| t == *reference))
    };
    let mut matching: Vec<DockerEntry> = entries.into_iter().filter(tagged).collect();
    match matching.len() {
        1 => Ok(matching.remove(0)),
        0 if count == 0 => Err(Error::format(archive.origin(), "manifest.json lists no image")),
        _ => Err(Error::AmbiguousImage {
            source_path: archive.origin().to_owned(),
            count,
            candidates: matching
                .iter()
                .flat_map(|e| e.repo_tags.iter().flatten().cloned())
                .collect(),
        }),
    }
}

/// The digest a file's resolved name states: `blobs/sha256/<hex>`, `<hex>.json` or `<hex>.tar`
/// (Docker names configs, skopeo configs and layers so). Such a file is checked against it.
fn digest_named_by(archive: &ArchiveFiles, name: &str) -> Option<Digest> {
    let resolved = archive.resolve(name)?;
    let hex = match resolved.strip_prefix("blobs/sha256/") {
        Some(hex) => hex,
        None => resolved
            .strip_suffix(".json")
            .or_else(|| resolved.strip_suffix(".tar"))?,
    };
    Digest::from_hex(hex).ok()
}
