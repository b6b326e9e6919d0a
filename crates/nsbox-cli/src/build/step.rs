//! One instruction of a build: FROM, ARG, and the instructions that only change the image's
//! config (ENV, LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, CMD, ENTRYPOINT, SHELL,
//! MAINTAINER). RUN is in `run.rs`, COPY and ADD in `copy.rs`.

use std::path::{Component, Path, PathBuf};

use nsbox_image::Image;
use nsbox_image::oci_spec::image::Config;

use super::dockerfile::{Args, Instruction};
use super::imagefs::ImageFs;
use super::substitute;
use super::{Build, StepError, cache};
use crate::error::CliError;

/// An error of this instruction, naming its line.
pub fn refuse(i: &Instruction, what: impl std::fmt::Display) -> StepError {
    StepError::Cli(CliError::new(format!("{}: {} {what}", i.location(), i.keyword)))
}

impl Build<'_> {
    pub(super) fn step(&mut self, i: &Instruction) -> Result<(), StepError> {
        match i.keyword.as_str() {
            "FROM" => self.from(i),
            "ARG" => self.arg(i),
            "RUN" => self.run(i),
            "COPY" | "ADD" => self.copy(i),
            "WORKDIR" => self.workdir(i),
            _ => {
                let mut config = self.config.clone();
                self.change_config(i, &mut config)?;
                self.commit_config(i, config, None)
            }
        }
    }

    /// The value of `name` for substitution: the image's ENV first, then the ARGs in scope.
    pub(super) fn variable(&self, name: &str) -> Option<String> {
        let env = self.config.env().clone().unwrap_or_default();
        if let Some(value) = env
            .iter()
            .find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        {
            return Some(value.to_owned());
        }
        let args = if self.image.is_none() {
            &self.global_args
        } else {
            &self.args
        };
        args.get(name).cloned().flatten()
    }

    pub(super) fn expand(&self, i: &Instruction, text: &str) -> Result<String, StepError> {
        substitute::expand(text, self.escape, &|n| self.variable(n)).map_err(|e| refuse(i, e))
    }

    pub(super) fn words(&self, i: &Instruction, text: &str) -> Result<Vec<String>, StepError> {
        substitute::words(text, self.escape, &|n| self.variable(n)).map_err(|e| refuse(i, e))
    }

    /// The instruction's arguments as words: a JSON array's items each expanded, or the
    /// shell form split.
    pub(super) fn arg_words(&self, i: &Instruction) -> Result<Vec<String>, StepError> {
        match &i.args {
            Args::Exec(items) => items.iter().map(|w| self.expand(i, w)).collect(),
            Args::Shell(text) => self.words(i, text),
        }
    }

    /// Makes `image` the current image (after a cache hit or a commit).
    pub(super) fn set_image(&mut self, image: Image, name: &str) {
        self.reference = format!("{name}@{}", image.manifest_digest());
        self.config = image.config().config().clone().unwrap_or_default();
        self.say(&format!(" ---> {}", &image.config_digest().hex()[..12]));
        self.image = Some(image);
    }

    pub(super) fn current(&self) -> &Image {
        self.image.as_ref().expect("check() requires FROM first")
    }

    /// The cached image of `key` (unless `--no-cache`), made current.
    pub(super) fn use_cache(&mut self, key: &str) -> bool {
        if self.no_cache {
            return false;
        }
        match cache::lookup(self.store, key) {
            Some(image) => {
                self.say(" ---> Using cache");
                self.set_image(image, cache::REPOSITORY);
                true
            }
            None => false,
        }
    }

    /// A step that changes the config only: cached, or a config commit on the same layers.
    pub(super) fn commit_config(
        &mut self,
        i: &Instruction,
        config: Config,
        content: Option<&str>,
    ) -> Result<(), StepError> {
        let text = format!("{} {}", i.display(), cache::canonical(&config));
        let key = cache::key(self.current(), &text, content);
        if self.use_cache(&key) {
            return Ok(());
        }
        let image = self
            .store
            .commit_config(self.current(), config, &i.display(), &cache::reference(&key))?;
        self.set_image(image, cache::REPOSITORY);
        Ok(())
    }

    /// The current image's files, for lookups (hold the lease while using them).
    pub(super) fn image_fs(&self) -> Result<(nsbox_image::Lease, ImageFs), StepError> {
        let lease = self.store.lease(self.current())?;
        let layers = lease.layers().iter().rev().cloned().collect();
        Ok((lease, ImageFs::new(layers)))
    }

    fn from(&mut self, i: &Instruction) -> Result<(), StepError> {
        let Args::Shell(text) = &i.args else {
            unreachable!("FROM has no JSON form")
        };
        let name = self.expand(i, text.trim())?;
        let image = match name.as_str() {
            "scratch" => self.scratch()?,
            _ => match self.store.inspect(&name) {
                Ok(image) => image,
                Err(nsbox_image::Error::ImageNotFound { .. }) => {
                    return Err(refuse(
                        i,
                        format!("{name}: unable to find the image locally (load, import, pull or build it first)"),
                    ));
                }
                Err(e) => return Err(e.into()),
            },
        };
        let repository = match name.as_str() {
            "scratch" => cache::REPOSITORY.to_owned(),
            _ => nsbox_image::Reference::parse(&name)?.name().to_owned(),
        };
        self.set_image(image, &repository);
        Ok(())
    }

    /// `FROM scratch`: an image of one empty layer (stored once, in the cache's repository).
    fn scratch(&mut self) -> Result<Image, StepError> {
        let reference = cache::reference("scratch");
        if let Ok(image) = self.store.inspect(&reference) {
            return Ok(image);
        }
        let stage =
            super::stage::Stage::new(self.work()).map_err(|e| CliError::new(format!("build directory: {e}")))?;
        let tar = stage.scratch("empty.tar");
        std::fs::write(&tar, [0u8; 1024]).map_err(|e| CliError::new(format!("{}: {e}", tar.display())))?;
        Ok(self
            .store
            .import(&nsbox_image::Source::rootfs_tar(&tar), &reference, |_| {})?)
    }

    fn arg(&mut self, i: &Instruction) -> Result<(), StepError> {
        let Args::Shell(text) = &i.args else {
            unreachable!("ARG has no JSON form")
        };
        if text.trim().is_empty() {
            return Err(refuse(i, "requires at least one argument"));
        }
        for word in self.words(i, text)? {
            let (name, default) = match word.split_once('=') {
                Some((n, d)) => (n.to_owned(), Some(d.to_owned())),
                None => (word.clone(), None),
            };
            if !valid_name(&name) {
                return Err(refuse(i, format!("{name:?} is not a valid name")));
            }
            let given = self.build_args.get(&name).cloned();
            if given.is_some() {
                self.used_args.insert(name.clone());
            }
            let inherited = self.global_args.get(&name).cloned().flatten();
            let value = given.flatten().or(default).or(inherited);
            match self.image {
                None => self.global_args.insert(name, value),
                Some(_) => self.args.insert(name, value),
            };
        }
        if let Some(image) = &self.image {
            self.say(&format!(" ---> {}", &image.config_digest().hex()[..12]));
        }
        Ok(())
    }

    /// ENV, LABEL, EXPOSE, VOLUME, USER, STOPSIGNAL, CMD, ENTRYPOINT, SHELL, MAINTAINER.
    fn change_config(&mut self, i: &Instruction, config: &mut Config) -> Result<(), StepError> {
        let shell_text = match &i.args {
            Args::Shell(text) => Some(text.as_str()),
            Args::Exec(_) => None,
        };
        match i.keyword.as_str() {
            "ENV" => {
                let mut env = config.env().clone().unwrap_or_default();
                for (k, v) in self.pairs(i, shell_text.unwrap_or_default())? {
                    env.retain(|e| e.split_once('=').is_none_or(|(name, _)| name != k));
                    env.push(format!("{k}={v}"));
                }
                config.set_env(Some(env));
            }
            "LABEL" => {
                let mut labels = config.labels().clone().unwrap_or_default();
                for (k, v) in self.pairs(i, shell_text.unwrap_or_default())? {
                    labels.insert(k, v);
                }
                config.set_labels(Some(labels));
            }
            "MAINTAINER" => {
                let name = self.expand(i, shell_text.unwrap_or_default().trim())?;
                let mut labels = config.labels().clone().unwrap_or_default();
                labels.insert("maintainer".into(), name);
                config.set_labels(Some(labels));
            }
            "EXPOSE" => {
                let mut ports = config.exposed_ports().clone().unwrap_or_default();
                for word in self.arg_words(i)? {
                    for port in expose(&word).map_err(|e| refuse(i, e))? {
                        if !ports.contains(&port) {
                            ports.push(port);
                        }
                    }
                }
                config.set_exposed_ports(Some(ports));
            }
            "VOLUME" => {
                let mut volumes = config.volumes().clone().unwrap_or_default();
                for word in self.arg_words(i)? {
                    if !word.starts_with('/') {
                        return Err(refuse(i, format!("{word:?}: a volume must be an absolute path")));
                    }
                    if !volumes.contains(&word) {
                        volumes.push(word);
                    }
                }
                config.set_volumes(Some(volumes));
            }
            "USER" => {
                let user = self.expand(i, shell_text.unwrap_or_default().trim())?;
                if user.is_empty() {
                    return Err(refuse(i, "requires a user"));
                }
                config.set_user(Some(user));
            }
            "STOPSIGNAL" => {
                let signal = self.expand(i, shell_text.unwrap_or_default().trim())?;
                if signal.parse::<nsbox::Signal>().is_err() {
                    return Err(refuse(i, format!("{signal:?} is not a signal")));
                }
                config.set_stop_signal(Some(signal));
            }
            "CMD" => {
                config.set_cmd(Some(self.command(i)));
                self.cmd_set = true;
            }
            "ENTRYPOINT" => {
                config.set_entrypoint(Some(self.command(i)));
                // Docker: an ENTRYPOINT resets a CMD inherited from the base image.
                if !self.cmd_set {
                    config.set_cmd(None);
                }
            }
            "SHELL" => match &i.args {
                Args::Exec(words) if !words.is_empty() => self.shell = words.clone(),
                _ => {
                    return Err(refuse(
                        i,
                        "requires the JSON form: SHELL [\"executable\", \"parameters\"]",
                    ));
                }
            },
            other => return Err(refuse(i, format!("unexpected instruction {other}"))),
        }
        Ok(())
    }

    /// CMD/ENTRYPOINT/RUN's argv: the JSON form as written, the shell form run by the shell.
    pub(super) fn command(&self, i: &Instruction) -> Vec<String> {
        match &i.args {
            Args::Exec(words) => words.clone(),
            Args::Shell(text) => self.shell.iter().cloned().chain([text.clone()]).collect(),
        }
    }

    /// ENV and LABEL's `key=value …` (or the old `key value with spaces`).
    fn pairs(&self, i: &Instruction, text: &str) -> Result<Vec<(String, String)>, StepError> {
        let text = text.trim();
        let first = text.split_whitespace().next().unwrap_or_default();
        if first.is_empty() {
            return Err(refuse(i, "requires at least one argument"));
        }
        if !first.contains('=') {
            let rest = text[first.len()..].trim_start();
            if rest.is_empty() {
                return Err(refuse(i, format!("{first}: requires a value")));
            }
            return Ok(vec![(self.expand(i, first)?, self.expand(i, rest)?)]);
        }
        let mut pairs = Vec::new();
        for word in self.words(i, text)? {
            let Some((k, v)) = word.split_once('=') else {
                return Err(refuse(i, format!("{word:?}: expected key=value")));
            };
            if k.is_empty() {
                return Err(refuse(i, "names can not be blank"));
            }
            pairs.push((k.to_owned(), v.to_owned()));
        }
        Ok(pairs)
    }

    /// WORKDIR: the config's working directory (relative to the previous one), and the
    /// directory made in a layer when the image lacks it.
    fn workdir(&mut self, i: &Instruction) -> Result<(), StepError> {
        let Args::Shell(text) = &i.args else {
            unreachable!("WORKDIR has no JSON form")
        };
        let dir = self.expand(i, text.trim())?;
        if dir.is_empty() {
            return Err(refuse(i, "requires a directory"));
        }
        let previous = self.config.working_dir().clone().unwrap_or_else(|| "/".into());
        let path = normalise(&Path::new(&previous).join(&dir));
        let mut config = self.config.clone();
        config.set_working_dir(Some(path.display().to_string()));
        let (_lease, fs) = self.image_fs()?;
        let resolved = fs.resolve(&path, true).map_err(|e| refuse(i, e))?;
        if fs.lstat(&resolved).is_some_and(|e| e.is_dir()) {
            return self.commit_config(i, config, None);
        }
        let stage = super::stage::Stage::new(self.work()).map_err(|e| refuse(i, e))?;
        stage.make_dir(&fs, &resolved, None).map_err(|e| refuse(i, e))?;
        drop(_lease);
        self.commit_layer(i, &stage, Some(config))
    }
}

/// `path` without `.` and `..` (which stops at the root).
pub fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// An EXPOSE word (`80`, `80/tcp`, `53/udp`, `8000-8002`) as the config's `port/proto` keys.
pub fn expose(word: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match word.split_once('/') {
        Some((p, proto)) => (p, proto.to_ascii_lowercase()),
        None => (word, "tcp".to_owned()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto {proto:?} in {word:?}"));
    }
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("invalid port {word:?}"))
    };
    let (lo, hi) = match ports.split_once('-') {
        Some((lo, hi)) => (port(lo)?, port(hi)?),
        None => (port(ports)?, port(ports)?),
    };
    if lo > hi {
        return Err(format!("invalid port range {word:?}"));
    }
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}
