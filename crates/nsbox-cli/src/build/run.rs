//! RUN: the command in a container of the current image, its changes committed as a layer.
//!
//! The container is the image's, as `nsbox run` would make it (its env, user, working
//! directory; the build's ARGs added to its environment as Docker does), with its writes in
//! a private upper directory (`Upper::Dir`) and the host's network and `/etc/resolv.conf`
//! (read-only) for package downloads, as `docker build --network host`. A command that fails
//! fails the build (nothing committed); the step's directory is removed either way.

use std::fs::File;

use nsbox::{Container, Mount, Network, Stdio, Upper};
use nsbox_image::commit::CommitOptions;
use nsbox_image::run::{ImageRun, Overrides};

use super::dockerfile::Instruction;
use super::stage::Stage;
use super::step::refuse;
use super::{Build, StepError, cache};
use crate::error::CliError;

impl Build<'_> {
    pub(super) fn run(&mut self, i: &Instruction) -> Result<(), StepError> {
        let argv = self.command(i);
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(refuse(i, "requires a command"));
        }
        // The ARGs in scope reach the command's environment, unless ENV set the same name.
        let image_env = self.config.env().clone().unwrap_or_default();
        let env: Vec<(String, String)> = self
            .args
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
            .filter(|(k, _)| !image_env.iter().any(|e| e.split_once('=').is_some_and(|(n, _)| n == k)))
            .collect();
        let text = format!(
            "RUN {} {}",
            serde_json::to_string(&argv).unwrap_or_default(),
            serde_json::to_string(&env).unwrap_or_default()
        );
        let key = cache::key(self.current(), &text, None);
        if self.use_cache(&key) {
            return Ok(());
        }
        let stage = Stage::new(self.work()).map_err(|e| refuse(i, format!("making its directory: {e}")))?;
        let name = stage
            .dir()
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        self.say(&format!(" ---> Running in {name}"));

        let mut builder = Container::builder();
        let overrides = Overrides {
            entrypoint: Some(Vec::new()),
            cmd: Some(argv.clone()),
            env,
            ..Default::default()
        };
        ImageRun::new(self.store, &self.reference)
            .map_err(|e| refuse(i, e))?
            .overrides(overrides)
            .upper(Upper::Dir(stage.dir().to_owned()))
            .apply(&mut builder)
            .map_err(|e| refuse(i, e))?;
        builder.network(Network::Host).stdin(Stdio::null());
        if std::path::Path::new("/etc/resolv.conf").exists() {
            builder.mount(Mount::bind("/etc/resolv.conf", "/etc/resolv.conf").read_only());
        }
        let log = stage.scratch("output.log");
        if self.quiet {
            let file = File::create(&log).map_err(|e| refuse(i, format!("{}: {e}", log.display())))?;
            let copy = file.try_clone().map_err(|e| refuse(i, e))?;
            builder.stdout(Stdio::from(file)).stderr(Stdio::from(copy));
        }
        let status = builder.status();
        drop(builder);
        let failed = |what: String| {
            if self.quiet {
                eprint!("{}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            StepError::Failed(format!("{}: {}: {what}", i.location(), i.display()))
        };
        let status = status.map_err(|e| failed(CliError::from(e).message))?;
        if !status.success() {
            return Err(failed(match (status.code(), status.signal()) {
                (Some(code), _) => format!("the command {argv:?} returned a non-zero code: {code}"),
                (None, Some(signal)) => format!("the command {argv:?} was killed by {signal:?}"),
                _ => format!("the command {argv:?} failed: {status}"),
            }));
        }
        let options = CommitOptions::default().created_by(i.display());
        let image = self
            .store
            .commit(self.current(), stage.upper(), &cache::reference(&key), &options)?;
        self.set_image(image, cache::REPOSITORY);
        Ok(())
    }
}
