//! `nsbox build`: an image from a Dockerfile and a context directory, without a daemon.
//!
//! The Dockerfile is parsed ([`dockerfile`]) and checked whole before anything runs (an
//! unsupported instruction is an error naming its line, exit code 125, nothing made). Each
//! instruction then makes one image in the store ([`step`]): RUN ([`run`]) a layer of what a
//! container of the current image changed, COPY and ADD ([`copy`]) a layer of the files they
//! add, every other instruction a new config on the same layers. Each step image is cached
//! ([`cache`]); the last one is tagged with every `-t`. Step work happens in
//! `<store>/build/`, removed as each step ends.
//!
//! See docs/cli.md ("Build") for what is supported and how it differs from Docker.

mod cache;
mod context;
mod copy;
mod dockerfile;
mod ignore;
mod imagefs;
mod run;
mod stage;
mod step;
mod substitute;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use nsbox_image::oci_spec::image::Config;
use nsbox_image::{Image, Reference, Store};

use crate::cli::BuildArgs;
use crate::error::{CliError, Result, bail};
use crate::paths::Paths;

pub use cache::REPOSITORY as CACHE_REPOSITORY;

/// Docker's exit code for a failed build step (a RUN that fails): the build's, not the
/// command line's.
const STEP_FAILED: i32 = 1;

/// `nsbox build`.
pub fn build(paths: &Paths, args: BuildArgs) -> Result<i32> {
    for tag in &args.tag {
        Reference::parse(tag).map_err(|e| CliError::new(format!("invalid tag {tag:?}: {e}")))?;
        if tag.starts_with(cache::REPOSITORY) {
            bail!("invalid tag {tag:?}: {} is the build cache's", cache::REPOSITORY);
        }
    }
    let context_dir = std::path::absolute(&args.context)?;
    if !context_dir.is_dir() {
        bail!(
            "unable to prepare context: path {:?} not found",
            args.context.display().to_string()
        );
    }
    let dockerfile_path = args.file.clone().unwrap_or_else(|| context_dir.join("Dockerfile"));
    let text = std::fs::read_to_string(&dockerfile_path)
        .map_err(|e| CliError::new(format!("reading the Dockerfile {}: {e}", dockerfile_path.display())))?;
    let dockerfile = dockerfile::parse(&text)?;
    dockerfile::check(&dockerfile)?;
    let ignore = match std::fs::read_to_string(context_dir.join(".dockerignore")) {
        Ok(text) => ignore::Ignore::parse(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => ignore::Ignore::default(),
        Err(e) => bail!("reading .dockerignore: {e}"),
    };
    let mut build_args = BTreeMap::new();
    for arg in &args.build_arg {
        match arg.split_once('=') {
            Some((k, v)) => build_args.insert(k.to_owned(), Some(v.to_owned())),
            // `--build-arg NAME`: the value of NAME in the command's environment.
            None => build_args.insert(arg.clone(), std::env::var(arg).ok()),
        };
    }
    let store = paths.open_store()?;
    let context = context::Context::open(&context_dir, ignore).map_err(CliError::new)?;
    let mut build = Build {
        store: &store,
        escape: dockerfile.escape,
        context,
        work: paths.store.join("build"),
        image: None,
        reference: String::new(),
        config: Config::default(),
        global_args: BTreeMap::new(),
        args: BTreeMap::new(),
        build_args,
        used_args: BTreeSet::new(),
        shell: vec!["/bin/sh".into(), "-c".into()],
        cmd_set: false,
        no_cache: args.no_cache,
        quiet: args.quiet,
    };
    let total = dockerfile.instructions.len();
    for (n, instruction) in dockerfile.instructions.iter().enumerate() {
        build.say(&format!("Step {}/{total} : {}", n + 1, instruction.display()));
        if let Err(e) = build.step(instruction) {
            return Err(match e {
                StepError::Cli(e) => e,
                StepError::Failed(message) => CliError::with_code(STEP_FAILED, message),
            });
        }
    }
    let image = build.image.clone().expect("check() requires a FROM");
    let unused: Vec<&String> = build
        .build_args
        .keys()
        .filter(|k| !build.used_args.contains(*k))
        .collect();
    if !unused.is_empty() && !build.quiet {
        eprintln!("[Warning] One or more build-args {unused:?} were not consumed");
    }
    let id = image.config_digest().hex().to_owned();
    build.say(&format!("Successfully built {}", &id[..12]));
    for tag in &args.tag {
        store.tag(&image, tag)?;
        let shown = Reference::parse(tag)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| tag.clone());
        build.say(&format!("Successfully tagged {shown}"));
    }
    if args.quiet {
        println!("sha256:{id}");
    }
    Ok(0)
}

/// `nsbox builder prune`: every cached step image untagged, then what only they used freed.
pub fn prune(paths: &Paths) -> Result<i32> {
    let store = paths.open_store()?;
    let mut removed = 0;
    for image in store.list()? {
        for reference in image.references().iter().filter(|r| r.name() == cache::REPOSITORY) {
            match store.remove(&reference.to_string()) {
                Ok(()) | Err(nsbox_image::Error::ImageNotFound { .. }) => removed += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }
    let report = store.gc()?;
    println!(
        "Deleted build cache objects: {removed} (layers removed: {})",
        report.layers_removed.len()
    );
    Ok(0)
}

/// Why a step failed: the command's own error (125) or the build's (a RUN's exit code).
pub enum StepError {
    Cli(CliError),
    Failed(String),
}

impl From<CliError> for StepError {
    fn from(e: CliError) -> Self {
        StepError::Cli(e)
    }
}

impl From<nsbox_image::Error> for StepError {
    fn from(e: nsbox_image::Error) -> Self {
        StepError::Cli(e.into())
    }
}

impl From<nsbox_image::commit::CommitError> for StepError {
    fn from(e: nsbox_image::commit::CommitError) -> Self {
        StepError::Cli(CliError::new(e.to_string()))
    }
}

/// A build in progress.
pub struct Build<'s> {
    store: &'s Store,
    escape: char,
    context: context::Context,
    /// Where steps stage their files (`<store>/build`).
    work: PathBuf,
    /// The image so far (set by FROM).
    image: Option<Image>,
    /// A reference that names exactly `image` (`name@sha256:…`).
    reference: String,
    /// `image`'s run config.
    config: Config,
    /// ARGs declared before FROM (usable in FROM only).
    global_args: BTreeMap<String, Option<String>>,
    /// ARGs declared since FROM, with their values.
    args: BTreeMap<String, Option<String>>,
    /// `--build-arg`s.
    build_args: BTreeMap<String, Option<String>>,
    used_args: BTreeSet<String>,
    /// The shell of shell-form RUN, CMD and ENTRYPOINT (`SHELL`).
    shell: Vec<String>,
    /// Whether CMD was set by this Dockerfile (ENTRYPOINT then keeps it).
    cmd_set: bool,
    no_cache: bool,
    quiet: bool,
}

impl Build<'_> {
    /// A line of build output (stdout, as Docker's; nothing with `-q`).
    fn say(&self, line: &str) {
        if !self.quiet {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    fn work(&self) -> &Path {
        &self.work
    }
}
