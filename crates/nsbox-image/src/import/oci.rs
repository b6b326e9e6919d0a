//! Images of an OCI layout (`oci-layout`, `index.json`, `blobs/sha256/*`), in a directory or
//! inside a docker-save archive. An index may list several images: the one whose
//! `org.opencontainers.image.ref.name` (or containerd's `io.containerd.image.name`) names the
//! reference is preferred, then the one for this host's platform; nested indexes are followed.

use super::ImageInput;
use super::files::Files;
use super::json::{self, DOCKER_LIST, DOCKER_MANIFEST, Descriptor, Index, Manifest, OCI_INDEX, OCI_MANIFEST};
use crate::store::LayerInput;
use crate::{Error, Reference};

/// How deep nested indexes may go.
const MAX_INDEX_DEPTH: usize = 4;
/// Descriptors looked at while choosing an image, all indexes together: an index listing
/// another many times over cannot make the choice grow without bound (each nested index is
/// also read once only).
const MAX_DESCRIPTORS: usize = 4096;

/// What choosing an image has cost so far, and the nested indexes already read.
#[derive(Default)]
struct Walk {
    descriptors: usize,
    indexes: std::collections::HashMap<String, Option<Descriptor>>,
}

/// The platform images are picked for: this host's (Go's names, as in image indexes).
pub(crate) fn host_platform() -> (&'static str, &'static str) {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    ("linux", arch)
}

/// Reads the layout and plans the import of the image it holds for `reference`.
pub(crate) fn read<'a>(files: &'a dyn Files, reference: &Reference) -> Result<ImageInput<'a>, Error> {
    let layout: serde_json::Value = json::parse(files, "oci-layout", &json::read_file(files, "oci-layout")?)?;
    if layout.get("imageLayoutVersion").and_then(|v| v.as_str()).is_none() {
        return Err(Error::format(files.origin(), "oci-layout has no imageLayoutVersion"));
    }
    let index: Index = json::parse(files, "index.json", &json::read_file(files, "index.json")?)?;
    let chosen = select(files, &index.manifests, Some(reference), 0, &mut Walk::default())?;
    let (manifest_bytes, manifest_digest) = json::read_blob(files, &chosen)?;
    let manifest: Manifest = json::parse(files, "image manifest", &manifest_bytes)?;
    if let Some(media_type) = manifest
        .media_type
        .as_deref()
        .filter(|m| ![OCI_MANIFEST, DOCKER_MANIFEST].contains(m))
    {
        return Err(Error::format(
            files.origin(),
            format!("{manifest_digest} is a {media_type}, not an image manifest"),
        ));
    }
    let (config_bytes, config_digest) = json::read_blob(files, &manifest.config)?;
    let (_, diff_ids) = json::parse_config(files, &config_bytes)?;
    if diff_ids.len() != manifest.layers.len() {
        return Err(Error::format(
            files.origin(),
            format!(
                "manifest {manifest_digest} has {} layers, its config {} diff ids",
                manifest.layers.len(),
                diff_ids.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (descriptor, diff_id) in manifest.layers.iter().zip(diff_ids) {
        let digest = descriptor.digest()?;
        let path = json::blob_path(&digest);
        // Checked before anything is stored: a missing blob fails the import up front.
        if files.size(&path)?.is_none() {
            if descriptor.is_foreign() {
                return Err(Error::ForeignLayer {
                    digest,
                    urls: descriptor.urls.clone().unwrap_or_default(),
                });
            }
            return Err(Error::BlobMissing {
                source_path: files.origin().to_owned(),
                digest,
            });
        }
        let media_type = descriptor
            .media_type
            .clone()
            .ok_or_else(|| Error::format(files.origin(), format!("layer {digest} has no mediaType")))?;
        let blob = digest.clone();
        layers.push(LayerInput {
            blob: Some(digest),
            size: Some(descriptor.size),
            length: descriptor.size,
            media_type: Some(media_type),
            diff_id: Some(diff_id),
            open: Box::new(move || {
                files.open(&path)?.ok_or_else(|| Error::BlobMissing {
                    source_path: files.origin().to_owned(),
                    digest: blob.clone(),
                })
            }),
        });
    }
    Ok(ImageInput {
        manifest: Some((manifest_bytes, manifest_digest)),
        config: Some((config_bytes, config_digest)),
        layers,
    })
}

/// The one image manifest `descriptors` offer for the reference and this platform.
fn select(
    files: &dyn Files,
    descriptors: &[Descriptor],
    reference: Option<&Reference>,
    depth: usize,
    walk: &mut Walk,
) -> Result<Descriptor, Error> {
    walk.descriptors += descriptors.len();
    if walk.descriptors > MAX_DESCRIPTORS {
        return Err(Error::TooLarge {
            what: format!("the image indexes of {}", files.origin().display()),
            limit: MAX_DESCRIPTORS as u64,
        });
    }
    let (os, arch) = host_platform();
    let platform = format!("{os}/{arch}");
    let mut candidates: Vec<&Descriptor> = descriptors.iter().collect();
    if let Some(reference) = reference {
        let full = reference.to_string();
        let named: Vec<&Descriptor> = candidates
            .iter()
            .copied()
            .filter(|d| {
                let ref_name = d.annotation("org.opencontainers.image.ref.name");
                ref_name.is_some_and(|n| Some(n) == reference.tag() || n == full)
                    || d.annotation("io.containerd.image.name") == Some(full.as_str())
            })
            .collect();
        if !named.is_empty() {
            candidates = named;
        }
    }
    let mut manifests = Vec::new();
    for descriptor in candidates {
        descriptor.digest()?;
        match descriptor.media_type.as_deref() {
            Some(OCI_INDEX | DOCKER_LIST) => {
                if depth >= MAX_INDEX_DEPTH {
                    return Err(Error::format(files.origin(), "image indexes nested too deep"));
                }
                let found = match walk.indexes.get(&descriptor.digest) {
                    Some(found) => found.clone(),
                    None => {
                        let (data, _) = json::read_blob(files, descriptor)?;
                        let nested: Index = json::parse(files, "image index", &data)?;
                        let found = match select(files, &nested.manifests, None, depth + 1, walk) {
                            Ok(found) => Some(found),
                            Err(Error::NoMatchingPlatform { .. }) => None,
                            Err(e) => return Err(e),
                        };
                        walk.indexes.insert(descriptor.digest.clone(), found.clone());
                        found
                    }
                };
                if let Some(found) = found {
                    manifests.push((found, true));
                }
            }
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => {
                let fits = descriptor
                    .platform
                    .as_ref()
                    .map(|p| p.os == os && p.architecture == arch);
                match fits {
                    Some(false) => {}
                    Some(true) => manifests.push((descriptor.clone(), true)),
                    None => manifests.push((descriptor.clone(), false)),
                }
            }
            // Attestations, signatures and other artifacts are not images.
            _ => {}
        }
    }
    // The same image reached through several entries is one candidate.
    let mut seen = std::collections::HashSet::new();
    manifests.retain(|(m, _)| seen.insert(m.digest.clone()));
    // A manifest that names this platform beats one that names none.
    if manifests.iter().any(|(_, exact)| *exact) {
        manifests.retain(|(_, exact)| *exact);
    }
    match manifests.len() {
        0 => Err(Error::NoMatchingPlatform {
            source_path: files.origin().to_owned(),
            platform,
        }),
        1 => Ok(manifests.remove(0).0),
        count => Err(Error::AmbiguousImage {
            source_path: files.origin().to_owned(),
            count,
            candidates: manifests.iter().map(|(d, _)| d.digest.clone()).collect(),
        }),
    }
}
