//! An image config (OCI `config` of the image: Env, Entrypoint, Cmd, WorkingDir, User,
//! ExposedPorts, Volumes, StopSignal) turned into what a container of it runs, with the
//! caller's overrides applied the way Docker applies them.
//!
//! An image run starts from the image, not from nsbox's library defaults: an empty environment
//! plus the image's `Env` (and Docker's default `PATH` when the image sets none), the image's
//! working directory (`/` when unset), its user (root when unset). The image config is hostile
//! input like the layers: volume paths must be absolute and normalised (they are then placed
//! inside the root like every mount target), and the user's supplementary groups come from
//! the image's own `/etc/group`.

use std::path::{Component, Path, PathBuf};

use nsbox::{ContainerBuilder, Mount, Signal};
use oci_spec::image::Config;

use super::layers::LayerStack;
use super::user::{self, Credentials, UserError};

/// Docker's `PATH` for an image that sets none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The most of `/etc/passwd` or `/etc/group` read from an image.
const ACCOUNTS_LIMIT: u64 = 4 << 20;

/// The caller's overrides of an image's config, as `docker run` takes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Replaces the image's `Entrypoint` (`--entrypoint`); the image's `Cmd` is then dropped
    /// unless `cmd` is given too.
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's `Cmd` (the arguments after the image in `docker run`).
    pub cmd: Option<Vec<String>>,
    /// Replaces the image's `User` (`-u`).
    pub user: Option<String>,
    /// Replaces the image's `WorkingDir` (`-w`).
    pub working_dir: Option<String>,
    /// Added to (and overriding) the image's `Env` (`-e K=V`).
    pub env: Vec<(String, String)>,
    /// Volume paths the caller mounts something at itself: no anonymous tmpfs there.
    pub mounted: Vec<PathBuf>,
}

/// Why an image config cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum RunConfigError {
    #[error("the image has no command to run: no Entrypoint or Cmd, and none given")]
    NoCommand,
    #[error("the image's user: {0}")]
    User(#[from] UserError),
    #[error("the image's volume {0:?} is not an absolute, normalised path")]
    BadVolume(String),
    #[error("the image's working directory {0:?} is not an absolute path")]
    BadWorkingDir(String),
    #[error("the image's stop signal {0:?} is not a signal")]
    BadStopSignal(String),
    #[error("the image's environment entry {0:?} has no '='")]
    BadEnv(String),
    #[error("reading {path} in the image: {source}")]
    Read {
        path: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// What a container of an image runs, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: PathBuf,
    pub credentials: Credentials,
    /// The image's volumes not overridden by a caller's mount: an anonymous tmpfs each.
    pub volumes: Vec<PathBuf>,
    /// The image's exposed ports as written (`80/tcp`); publishing stays explicit.
    pub exposed_ports: Vec<String>,
    pub stop_signal: Option<Signal>,
    /// How the container gets its root: set by [`ImageRun::apply`](super::ImageRun::apply)
    /// (`Overlay` until then).
    pub root: super::RootStrategy,
    /// A detached container's directory under the store's `roots/` (its root copy, or its
    /// overlay upper on the store's disk where a tmpfs keeps no `user.*` xattrs), left in place
    /// for the caller to remove once the container is gone (see
    /// [`RootCopy::keep`](super::RootCopy::keep), [`Store::remove_root_copies`](crate::Store::remove_root_copies)).
    pub kept_root_copy: Option<PathBuf>,
}

impl RunConfig {
    /// Resolves `config` (absent: an image without one) with `overrides`, reading the user's
    /// accounts from the image's `layers`.
    pub fn resolve(
        config: Option<&Config>,
        overrides: &Overrides,
        layers: &LayerStack,
    ) -> Result<Self, RunConfigError> {
        let empty = Config::default();
        let config = config.unwrap_or(&empty);
        let list = |v: &Option<Vec<String>>| v.clone().unwrap_or_default();
        let entrypoint = overrides
            .entrypoint
            .clone()
            .unwrap_or_else(|| list(config.entrypoint()));
        let cmd = match (&overrides.entrypoint, &overrides.cmd) {
            (_, Some(cmd)) => cmd.clone(),
            (Some(_), None) => Vec::new(),
            (None, None) => list(config.cmd()),
        };
        let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
        if argv.first().is_none_or(|p| p.is_empty()) {
            return Err(RunConfigError::NoCommand);
        }

        let mut env: Vec<(String, String)> = Vec::new();
        let mut set = |key: String, value: String| match env.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => env.push((key, value)),
        };
        for entry in list(config.env()) {
            let (k, v) = entry
                .split_once('=')
                .ok_or_else(|| RunConfigError::BadEnv(entry.clone()))?;
            set(k.to_string(), v.to_string());
        }
        for (k, v) in &overrides.env {
            set(k.clone(), v.clone());
        }
        if !env.iter().any(|(k, _)| k == "PATH") {
            env.push(("PATH".into(), DEFAULT_PATH.into()));
        }

        let working_dir = overrides
            .working_dir
            .clone()
            .or_else(|| config.working_dir().clone())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "/".into());
        if !working_dir.starts_with('/') {
            return Err(RunConfigError::BadWorkingDir(working_dir));
        }

        let user = overrides
            .user
            .clone()
            .or_else(|| config.user().clone())
            .unwrap_or_default();
        let read = |path: &'static str| {
            layers
                .read(Path::new(path), ACCOUNTS_LIMIT)
                .map_err(|source| RunConfigError::Read { path, source })
                .map(|bytes| bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
        };
        let (passwd, group) = (read("/etc/passwd")?, read("/etc/group")?);
        let credentials = user::resolve(&user, passwd.as_deref(), group.as_deref())?;

        let mut volumes = Vec::new();
        for volume in list(config.volumes()) {
            let path = normalised(&volume).ok_or_else(|| RunConfigError::BadVolume(volume.clone()))?;
            if !overrides.mounted.contains(&path) && !volumes.contains(&path) {
                volumes.push(path);
            }
        }
        let stop_signal = config
            .stop_signal()
            .as_deref()
            .map(|s| s.parse().map_err(|_| RunConfigError::BadStopSignal(s.into())))
            .transpose()?;
        Ok(RunConfig {
            argv,
            env,
            working_dir: PathBuf::from(working_dir),
            credentials,
            volumes,
            exposed_ports: list(config.exposed_ports()),
            stop_signal,
            root: super::RootStrategy::Overlay,
            kept_root_copy: None,
        })
    }

    /// Sets what this config runs on `builder`: command and arguments, the environment (the
    /// caller's cleared), the working directory, user and supplementary groups (when the user
    /// has any besides its primary group), a tmpfs per volume.
    pub fn apply(&self, builder: &mut ContainerBuilder) {
        let (program, args) = self.argv.split_first().expect("resolve() refuses an empty argv");
        builder.command(program).args(args).env_clear();
        for (k, v) in &self.env {
            builder.env(k, v);
        }
        builder
            .current_dir(&self.working_dir)
            .user(self.credentials.uid, self.credentials.gid);
        // Supplementary groups beyond the primary one are set (the image gives them; leaving
        // them out was CVE-2022-36109); a user with none needs no setgroups, which an
        // unprivileged caller's user namespace refuses.
        if self.credentials.groups.iter().any(|g| *g != self.credentials.gid) {
            builder.groups(self.credentials.groups.iter().copied());
        }
        for volume in &self.volumes {
            builder.mount(Mount::tmpfs(volume));
        }
    }
}

/// `path` if it is absolute and has no `.`, `..` or empty components (a trailing `/` is fine),
/// and is not the root or a kernel filesystem's mount point (a tmpfs over either would hide
/// the image or the container's own `/proc`, `/sys`, `/dev`).
fn normalised(path: &str) -> Option<PathBuf> {
    if ["/", "/proc", "/sys", "/dev"].contains(&path.trim_end_matches('/').max("/")) {
        return None;
    }
    let p = Path::new(path);
    let ok = p.is_absolute()
        && !path.contains("//")
        && p.components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)))
        && !path.split('/').any(|c| c == "." || c == "..");
    ok.then(|| p.components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    fn run(c: &Config, o: &Overrides) -> Result<RunConfig, RunConfigError> {
        RunConfig::resolve(Some(c), o, &LayerStack::new(Vec::new()))
    }

    #[test]
    fn entrypoint_and_cmd_are_overridden_as_docker_does() {
        let c = config(r#"{"Entrypoint":["/docker-entrypoint.sh"],"Cmd":["nginx","-g","daemon off;"]}"#);
        let argv = |o: Overrides| run(&c, &o).unwrap().argv;
        assert_eq!(
            argv(Overrides::default()),
            ["/docker-entrypoint.sh", "nginx", "-g", "daemon off;"]
        );
        let cmd = Overrides {
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        };
        assert_eq!(argv(cmd), ["/docker-entrypoint.sh", "sh"]);
        let entry = Overrides {
            entrypoint: Some(vec!["/bin/true".into()]),
            ..Default::default()
        };
        assert_eq!(argv(entry), ["/bin/true"]);
        let both = Overrides {
            entrypoint: Some(vec!["/bin/echo".into()]),
            cmd: Some(vec!["hi".into()]),
            ..Default::default()
        };
        assert_eq!(argv(both), ["/bin/echo", "hi"]);
        assert!(matches!(
            run(&config("{}"), &Overrides::default()),
            Err(RunConfigError::NoCommand)
        ));
    }

    #[test]
    fn the_environment_is_the_images_with_a_default_path_and_the_overrides() {
        let c = config(r#"{"Cmd":["x"],"Env":["A=1","B=2=3"]}"#);
        let o = Overrides {
            env: vec![("A".into(), "9".into())],
            ..Default::default()
        };
        let env = run(&c, &o).unwrap().env;
        assert_eq!(
            env,
            [
                ("A".into(), "9".into()),
                ("B".into(), "2=3".into()),
                ("PATH".into(), DEFAULT_PATH.into())
            ]
        );
        let c = config(r#"{"Cmd":["x"],"Env":["PATH=/bin"]}"#);
        assert_eq!(
            run(&c, &Overrides::default()).unwrap().env,
            [("PATH".to_string(), "/bin".to_string())]
        );
        assert!(matches!(
            run(&config(r#"{"Cmd":["x"],"Env":["NOEQUALS"]}"#), &Overrides::default()),
            Err(RunConfigError::BadEnv(_))
        ));
    }

    #[test]
    fn volumes_must_be_normalised_and_the_callers_mounts_replace_them() {
        let c = config(r#"{"Cmd":["x"],"Volumes":{"/data":{},"/var/cache/":{}}}"#);
        let o = Overrides {
            mounted: vec!["/data".into()],
            ..Default::default()
        };
        assert_eq!(run(&c, &o).unwrap().volumes, [PathBuf::from("/var/cache")]);
        for bad in ["relative", "/a/../../etc", "/a/./b", "//x", "/", "/proc", "/dev/"] {
            let c = config(&format!(r#"{{"Cmd":["x"],"Volumes":{{"{bad}":{{}}}}}}"#));
            assert!(
                matches!(run(&c, &Overrides::default()), Err(RunConfigError::BadVolume(v)) if v == bad),
                "{bad}"
            );
        }
    }

    #[test]
    fn working_dir_user_stop_signal_and_ports() {
        let c = config(
            r#"{"Cmd":["x"],"WorkingDir":"/srv","User":"0:0","StopSignal":"SIGQUIT","ExposedPorts":{"80/tcp":{}}}"#,
        );
        let r = run(&c, &Overrides::default()).unwrap();
        assert_eq!(r.working_dir, PathBuf::from("/srv"));
        assert_eq!((r.credentials.uid, r.credentials.gid), (0, 0));
        assert_eq!(r.stop_signal, Some(Signal::SIGQUIT));
        assert_eq!(r.exposed_ports, ["80/tcp"]);
        let r = run(&config(r#"{"Cmd":["x"]}"#), &Overrides::default()).unwrap();
        assert_eq!((r.working_dir, r.stop_signal), (PathBuf::from("/"), None));
        assert!(matches!(
            run(&config(r#"{"Cmd":["x"],"WorkingDir":"srv"}"#), &Overrides::default()),
            Err(RunConfigError::BadWorkingDir(_))
        ));
        assert!(matches!(
            run(
                &config(r#"{"Cmd":["x"],"StopSignal":"SIGNOPE"}"#),
                &Overrides::default()
            ),
            Err(RunConfigError::BadStopSignal(_))
        ));
    }
}
