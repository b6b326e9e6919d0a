//! Registry credentials, by default from the Docker config file (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`): its `auths` entries, keyed by registry host (Docker Hub's as
//! `https://index.docker.io/v1/`), with a base64 `user:password` in `auth` (or `username` and
//! `password`). See docker-config-json(5) / `docker login`.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

use super::endpoint::Endpoint;
use crate::Error;

/// The most bytes of a Docker config file read.
const MAX_CONFIG: u64 = 1 << 20;

/// Where a pull's credentials come from.
#[derive(Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// The Docker config file (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`):
    /// the `auths` entry for the registry, anonymous when there is no file or no entry. An
    /// entry that defers to a credential helper (`credHelpers`, or an empty entry beside
    /// `credsStore`) or holds only an `identitytoken` is an [`Error::DockerConfig`]: helpers
    /// are not run.
    #[default]
    DockerConfig,
    /// That Docker config file, read the same way.
    DockerConfigFile(PathBuf),
    /// No credentials.
    Anonymous,
    /// HTTP basic credentials (also what registries' token services take).
    Basic { username: String, password: String },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DockerConfig => f.write_str("DockerConfig"),
            Self::DockerConfigFile(path) => f.debug_tuple("DockerConfigFile").field(path).finish(),
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// What is sent: nothing, or a user name and password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    Anonymous,
    Basic(String, String),
}

impl Credentials {
    /// The credentials for `endpoint`.
    pub(crate) fn resolve(&self, endpoint: &Endpoint) -> Result<Auth, Error> {
        match self {
            Self::Anonymous => Ok(Auth::Anonymous),
            Self::Basic { username, password } => Ok(Auth::Basic(username.clone(), password.clone())),
            Self::DockerConfigFile(path) => from_config_file(path, endpoint),
            Self::DockerConfig => match default_config_path() {
                Some(path) => from_config_file(&path, endpoint),
                None => Ok(Auth::Anonymous),
            },
        }
    }
}

/// `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
fn default_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker/config.json"))
}

fn from_config_file(path: &Path, endpoint: &Endpoint) -> Result<Auth, Error> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Auth::Anonymous),
        Err(e) => return Err(Error::io("opening", path, e)),
    };
    let mut data = Vec::new();
    file.take(MAX_CONFIG + 1)
        .read_to_end(&mut data)
        .map_err(|e| Error::io("reading", path, e))?;
    if data.len() as u64 > MAX_CONFIG {
        return Err(Error::TooLarge {
            what: format!("{}", path.display()),
            limit: MAX_CONFIG,
        });
    }
    from_config(&data, endpoint).map_err(|what| Error::DockerConfig {
        path: path.to_owned(),
        what,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: HashMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// The credentials a config file's bytes give `endpoint`; the reason as text when unusable.
fn from_config(data: &[u8], endpoint: &Endpoint) -> Result<Auth, String> {
    let config: ConfigFile = serde_json::from_slice(data).map_err(|e| format!("not a Docker config file: {e}"))?;
    let keys = endpoint.config_keys();
    let registry = &endpoint.registry;
    if let Some(helper) = keys.iter().find_map(|k| config.cred_helpers.get(k)) {
        return Err(format!(
            "credHelpers names docker-credential-{helper} for {registry}; credential helpers are not run: \
             put an `auth` entry in `auths` or pass Credentials::Basic"
        ));
    }
    let Some(entry) = keys.iter().find_map(|k| config.auths.get(k)) else {
        return Ok(Auth::Anonymous);
    };
    if let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|_| format!("the auth entry for {registry} is not base64"))?;
        let decoded = String::from_utf8(decoded).map_err(|_| format!("the auth entry for {registry} is not UTF-8"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("the auth entry for {registry} is not user:password"))?;
        return Ok(Auth::Basic(username.to_owned(), password.to_owned()));
    }
    if let (Some(username), Some(password)) = (&entry.username, &entry.password) {
        return Ok(Auth::Basic(username.clone(), password.clone()));
    }
    if entry.identitytoken.is_some() {
        return Err(format!(
            "the entry for {registry} holds only an identity token, which is not supported"
        ));
    }
    match &config.creds_store {
        Some(store) => Err(format!(
            "the credentials for {registry} are in the credsStore docker-credential-{store}; credential helpers \
             are not run: put an `auth` entry in `auths` or pass Credentials::Basic"
        )),
        None => Ok(Auth::Anonymous),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reference;

    fn endpoint(s: &str) -> Endpoint {
        Endpoint::of(&Reference::parse(s).unwrap(), false)
    }

    fn basic(user: &str, password: &str) -> Auth {
        Auth::Basic(user.into(), password.into())
    }

    #[test]
    fn auths_entries_decode_base64_user_and_password() {
        // "alice:s3cr:et" — the password may hold colons.
        let config = br#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcjpldA=="}}}"#;
        assert!(from_config(config, &endpoint("127.0.0.1:5000/x")) == Ok(basic("alice", "s3cr:et")));
        assert!(from_config(config, &endpoint("127.0.0.1:5001/x")) == Ok(Auth::Anonymous));
    }

    #[test]
    fn docker_hub_credentials_are_filed_under_its_v1_url() {
        let config = br#"{"auths": {"https://index.docker.io/v1/": {"username": "bob", "password": "pw"}}}"#;
        assert!(from_config(config, &endpoint("busybox")) == Ok(basic("bob", "pw")));
    }

    #[test]
    fn credential_helpers_are_refused_not_skipped() {
        let helper = br#"{"credHelpers": {"example.com": "pass"}}"#;
        let e = from_config(helper, &endpoint("example.com/x")).err().unwrap();
        assert!(e.contains("docker-credential-pass"), "{e}");
        let store = br#"{"auths": {"example.com": {}}, "credsStore": "desktop"}"#;
        assert!(from_config(store, &endpoint("example.com/x")).is_err());
        // A store with no entry for this registry: anonymous, as Docker when the helper has none.
        assert!(from_config(store, &endpoint("other.example.com/x")) == Ok(Auth::Anonymous));
    }

    #[test]
    fn malformed_entries_are_errors() {
        for bad in [
            &br#"{"auths": {"r.io": {"auth": "!!"}}}"#[..],
            br#"{"auths": {"r.io": {"auth": "bm9jb2xvbg=="}}}"#,
            b"[1",
        ] {
            assert!(from_config(bad, &endpoint("r.io/x")).is_err());
        }
    }

    #[test]
    fn debug_never_shows_a_password() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
