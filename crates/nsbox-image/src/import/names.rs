//! The names a source gives its images (`docker load` tags what the archive names): a classic
//! `docker save` archive's `RepoTags`, an OCI layout's (or a newer Docker archive's) index
//! annotations `io.containerd.image.name`, else `org.opencontainers.image.ref.name` when it is
//! a whole reference (a bare tag names nothing by itself).

use super::Source;
use super::archive::ArchiveFiles;
use super::files::{DirFiles, Files};
use super::json::{self, DockerEntry, Index};
use crate::{Error, Reference};

impl Source {
    /// The references the source names its images by, in its order, each once; empty for a
    /// rootfs tarball and for a source whose images carry no names. A name that is not a valid
    /// reference is left out.
    ///
    /// ```no_run
    /// use nsbox_image::Source;
    /// for name in Source::docker_archive("nginx.tar").names()? {
    ///     println!("{name}");
    /// }
    /// # Ok::<(), nsbox_image::Error>(())
    /// ```
    pub fn names(&self) -> Result<Vec<Reference>, Error> {
        let raw = match self {
            Source::RootfsTar(_) => Vec::new(),
            Source::OciLayout(path) => index_names(&DirFiles::new(path))?,
            Source::DockerArchive(path) => {
                let archive = ArchiveFiles::open(path)?;
                if archive.size("oci-layout")?.is_some() && archive.size("index.json")?.is_some() {
                    index_names(&archive)?
                } else {
                    let entries: Vec<DockerEntry> =
                        json::parse(&archive, "manifest.json", &json::read_file(&archive, "manifest.json")?)?;
                    entries
                        .into_iter()
                        .flat_map(|e| e.repo_tags.unwrap_or_default())
                        .collect()
                }
            }
            #[allow(unreachable_patterns)]
            _ => Vec::new(),
        };
        let mut names: Vec<Reference> = Vec::new();
        for name in raw {
            if let Ok(reference) = Reference::parse(&name)
                && !names.contains(&reference)
            {
                names.push(reference);
            }
        }
        Ok(names)
    }
}

fn index_names(files: &dyn Files) -> Result<Vec<String>, Error> {
    let index: Index = json::parse(files, "index.json", &json::read_file(files, "index.json")?)?;
    Ok(index
        .manifests
        .iter()
        .filter_map(|d| {
            d.annotation("io.containerd.image.name")
                .or_else(|| {
                    d.annotation("org.opencontainers.image.ref.name")
                        .filter(|n| n.contains(':') || n.contains('/'))
                })
                .map(str::to_owned)
        })
        .collect())
}
