//! COPY and ADD: files of the context laid out in a staging upper directory, committed as a
//! layer. ADD also unpacks a local tar archive (plain, gzip or zstd) into the destination, as
//! Docker does; a URL is refused (download it into the context).
//!
//! Docker's rules: the destination is relative to WORKDIR; several sources (or a wildcard)
//! need a destination ending in `/`; a directory's contents are copied, not the directory;
//! files belong to root unless `--chown=user[:group]` (names from the image's `/etc/passwd`
//! and `/etc/group`); `--chmod=OCTAL` sets the mode; the destination is resolved through the
//! image's symlinks inside its root.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use nsbox_image::commit::CommitOptions;
use nsbox_image::oci_spec::image::Config;

use super::dockerfile::Instruction;
use super::stage::{CopyOptions, Stage, is_regular};
use super::step::{normalise, refuse};
use super::{Build, StepError, cache};

impl Build<'_> {
    pub(super) fn copy(&mut self, i: &Instruction) -> Result<(), StepError> {
        let add = i.keyword == "ADD";
        let words = self.arg_words(i)?;
        let Some((dest, sources)) = words.split_last().filter(|(_, s)| !s.is_empty()) else {
            return Err(refuse(i, "requires at least two arguments: source(s) and destination"));
        };
        if let Some(url) = sources.iter().find(|s| s.contains("://")) {
            return Err(refuse(
                i,
                format!(
                    "{url}: remote sources are not supported by nsbox build: download the file into the context and ADD or COPY it"
                ),
            ));
        }
        let (lease, fs) = self.image_fs()?;
        let owner = i
            .flag("chown")
            .map(|spec| fs.owner(spec))
            .transpose()
            .map_err(|e| refuse(i, e))?;
        let chmod = i
            .flag("chmod")
            .map(|m| u32::from_str_radix(m, 8).ok().filter(|m| *m <= 0o7777))
            .map(|m| m.ok_or_else(|| refuse(i, "--chmod takes an octal mode (0644)")))
            .transpose()?;
        let options = CopyOptions { owner, chmod };

        let mut found = Vec::new();
        for src in sources {
            found.extend(self.context.sources(src).map_err(|e| refuse(i, e))?);
        }
        let workdir = self.config.working_dir().clone().unwrap_or_else(|| "/".into());
        let into_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
        if found.len() > 1 && !into_dir {
            return Err(refuse(
                i,
                "with more than one source file, the destination must be a directory and end with a /",
            ));
        }
        let dest_path = normalise(&Path::new(&workdir).join(dest));
        let resolved = fs.resolve(&dest_path, true).map_err(|e| refuse(i, e))?;
        let dest_is_dir = into_dir || fs.lstat(&resolved).is_some_and(|e| e.is_dir());

        let stage = Stage::new(self.work()).map_err(|e| refuse(i, format!("making its directory: {e}")))?;
        let io = |e: std::io::Error| refuse(i, e);
        for source in &found {
            if add && is_regular(&source.stat) {
                let mut file = source.open().map_err(io)?;
                if let Some(archive) = archive(&mut file).map_err(|e| refuse(i, format!("{}: {e}", source.rel)))? {
                    stage
                        .extract(&fs, archive, &resolved)
                        .map_err(|e| refuse(i, format!("unpacking {}: {e}", source.rel)))?;
                    continue;
                }
            }
            if source.is_dir() {
                stage.make_dir(&fs, &resolved, owner).map_err(io)?;
                stage.copy(&self.context, source, &resolved, options).map_err(io)?;
            } else {
                let target: PathBuf = match dest_is_dir {
                    true => resolved.join(source.name()),
                    false => resolved.clone(),
                };
                let parent = target.parent().unwrap_or(Path::new("/"));
                stage.make_dir(&fs, parent, owner).map_err(io)?;
                stage.copy(&self.context, source, &target, options).map_err(io)?;
            }
        }
        drop(lease);
        self.commit_layer(i, &stage, None)
    }

    /// A step that adds the files staged in `stage`: cached by their digest, or committed as
    /// a layer (with `config` if the step also changes it).
    pub(super) fn commit_layer(
        &mut self,
        i: &Instruction,
        stage: &Stage,
        config: Option<Config>,
    ) -> Result<(), StepError> {
        let upper = stage.upper();
        if !upper.exists() {
            std::fs::create_dir(&upper).map_err(|e| refuse(i, e))?;
        }
        let content = cache::tree_digest(&upper).map_err(|e| refuse(i, format!("reading what it adds: {e}")))?;
        let text = format!(
            "{} {}",
            i.display(),
            config.as_ref().map(cache::canonical).unwrap_or_default()
        );
        let key = cache::key(self.current(), &text, Some(&content));
        if self.use_cache(&key) {
            return Ok(());
        }
        let mut options = CommitOptions::default().created_by(i.display());
        if let Some(config) = config {
            options = options.config(config);
        }
        let image = self
            .store
            .commit(self.current(), &upper, &cache::reference(&key), &options)?;
        self.set_image(image, cache::REPOSITORY);
        Ok(())
    }
}

/// The uncompressed tar stream of `file` if it is a tar archive (plain, gzip, zstd), as ADD
/// unpacks; `None` for any other file (copied as it is).
fn archive(file: &mut std::fs::File) -> std::io::Result<Option<Box<dyn Read>>> {
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match file.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    file.rewind()?;
    let file = file.try_clone()?;
    let head = &head[..n];
    let is_tar = |h: &[u8]| h.len() >= 262 && &h[257..262] == b"ustar";
    if head.starts_with(&[0x1f, 0x8b]) {
        let mut probe = flate2::read::GzDecoder::new(file.try_clone()?);
        let mut inner = [0u8; 512];
        let got = read_full(&mut probe, &mut inner)?;
        let mut f = file;
        f.rewind()?;
        return Ok(is_tar(&inner[..got]).then(|| Box::new(flate2::read::GzDecoder::new(f)) as Box<dyn Read>));
    }
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let mut probe = zstd::stream::read::Decoder::new(file.try_clone()?)?;
        let mut inner = [0u8; 512];
        let got = read_full(&mut probe, &mut inner)?;
        let mut f = file;
        f.rewind()?;
        return is_tar(&inner[..got])
            .then(|| zstd::stream::read::Decoder::new(f).map(|d| Box::new(d) as Box<dyn Read>))
            .transpose();
    }
    if head.starts_with(b"BZh") || head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(std::io::Error::other(
            "bzip2 and xz archives are not supported by ADD here: use a plain, gzip or zstd tar",
        ));
    }
    Ok(is_tar(head).then(|| Box::new(file) as Box<dyn Read>))
}

fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            // Not a valid stream after all: not an archive.
            Err(_) => break,
        }
    }
    Ok(n)
}
