//! A bundle directory: its `config.json`, checked, and the root filesystem it names.

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use nsbox::{ContainerBuilder, Rootfs};
use oci_spec::runtime::{Hooks, Spec};

use crate::error::{BundleError, Result, invalid, unsupported};
use crate::options::Options;

/// An OCI runtime bundle: a directory with a `config.json`.
#[derive(Debug, Clone)]
pub struct Bundle {
    dir: PathBuf,
    spec: Spec,
}

/// The largest `config.json` read (Docker's are ~20 KiB; runc reads without a bound).
const MAX_CONFIG: u64 = 4 << 20;

impl Bundle {
    /// Reads `dir/config.json` and checks it: valid JSON of the runtime spec, an `ociVersion`
    /// of 1.x, no field oci-spec does not know, no Solaris, Windows, VM or z/OS section.
    /// What nsbox cannot run is found by [`builder`](Self::builder).
    pub fn open(dir: impl AsRef<Path>) -> Result<Bundle> {
        let dir = dir.as_ref();
        let dir = fs::canonicalize(dir).map_err(|source| BundleError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("config.json");
        let read_err = |source| BundleError::Read {
            path: path.clone(),
            source,
        };
        // Non-blocking: a FIFO named config.json must not hang the caller.
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map_err(read_err)?;
        if !file.metadata().map_err(read_err)?.is_file() {
            return Err(invalid("config.json", "not a regular file"));
        }
        let mut text = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_CONFIG + 1), &mut text).map_err(read_err)?;
        if text.len() as u64 > MAX_CONFIG {
            return Err(invalid("config.json", format!("larger than {MAX_CONFIG} bytes")));
        }
        Bundle::parse(dir, &path, &text)
    }

    /// The bundle in `dir` whose `config.json` (at `path`) holds `text`.
    pub(crate) fn parse(dir: PathBuf, path: &Path, text: &[u8]) -> Result<Bundle> {
        let parse_err = |e: serde_json::Error| BundleError::Parse {
            path: path.to_path_buf(),
            why: e.to_string(),
        };
        let value: serde_json::Value = serde_json::from_slice(text).map_err(parse_err)?;
        let spec: Spec = serde_json::from_value(value.clone()).map_err(parse_err)?;
        let again = serde_json::to_value(&spec).map_err(parse_err)?;
        crate::unknown::check(&value, &again)?;
        check_top_level(&spec)?;
        Ok(Bundle { dir, spec })
    }

    /// The bundle directory (absolute, symlinks resolved).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The parsed `config.json`.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The hooks, for the runtime to run at their points of the lifecycle with the state on
    /// their stdin; nsbox runs none of them.
    pub fn hooks(&self) -> Option<&Hooks> {
        self.spec.hooks().as_ref()
    }

    /// The root filesystem's directory: `root.path` relative to the bundle, or absolute as
    /// the engine gave it (Docker names its overlay mount there). A relative path must stay
    /// in the bundle: `..` or a symlink leading out of it is refused.
    pub fn root_dir(&self) -> Result<PathBuf> {
        let root = self.spec.root().as_ref().ok_or_else(|| invalid("root", "missing"))?;
        let path = root.path();
        if path.as_os_str().is_empty() {
            return Err(invalid("root.path", "empty"));
        }
        if path.is_absolute() {
            return Ok(path.clone());
        }
        inside(&self.dir, path, "root.path")
    }

    /// A builder for the container the bundle describes: every field mapped (docs/oci.md),
    /// none of nsbox's defaults left (no inherited environment, no default capabilities or
    /// seccomp profile, no init, detached so the container outlives the caller as runc's
    /// does). Stdio is inherited unless the caller sets it; `process.terminal` asks for a pty
    /// ([`nsbox::Container::take_pty`]).
    pub fn builder(&self, options: &Options) -> Result<ContainerBuilder> {
        let spec = &self.spec;
        let mut b = ContainerBuilder::new();
        b.detach().init(false).env_clear();
        let root = spec.root().as_ref().ok_or_else(|| invalid("root", "missing"))?;
        b.rootfs(Rootfs::dir(self.root_dir()?))
            .read_only_root(root.readonly().unwrap_or(false));
        let linux = spec.linux().as_ref().ok_or_else(|| invalid("linux", "missing"))?;
        let namespaces = crate::linux::namespaces(&mut b, linux)?;
        crate::linux::identity(&mut b, spec, linux, namespaces, options)?;
        crate::linux::time_offsets(&mut b, linux, namespaces)?;
        let process = spec.process().as_ref().ok_or_else(|| invalid("process", "missing"))?;
        let caps = crate::process::map(&mut b, process, options)?;
        crate::mounts::map(&mut b, self, namespaces)?;
        crate::mounts::paths(&mut b, linux)?;
        crate::mounts::root_propagation(&mut b, linux)?;
        crate::devices::map(&mut b, linux, caps, namespaces, options)?;
        crate::lsm::intel_rdt(linux, options)?;
        crate::numa::memory_policy(&mut b, linux)?;
        crate::net_devices::map(&mut b, linux, namespaces)?;
        crate::linux::rest(linux)?;
        crate::resources::cgroups_path(&mut b, linux)?;
        if let Some(resources) = linux.resources() {
            crate::resources::map(&mut b, resources, options)?;
        }
        crate::seccomp::map(&mut b, linux.seccomp().as_ref())?;
        Ok(b)
    }

    /// The path `relative` (a bind source) names in the bundle, refused if it leaves it.
    pub(crate) fn inside(&self, relative: &Path, field: &str) -> Result<PathBuf> {
        inside(&self.dir, relative, field)
    }
}

/// `dir/relative` with symlinks resolved, which must lie in `dir` (already canonical).
fn inside(dir: &Path, relative: &Path, field: &str) -> Result<PathBuf> {
    if relative.components().any(|c| c == Component::ParentDir) {
        return Err(invalid(
            field,
            format!("{} climbs out of the bundle with ..", relative.display()),
        ));
    }
    let joined = dir.join(relative);
    let resolved = fs::canonicalize(&joined).map_err(|source| BundleError::Read { path: joined, source })?;
    if !resolved.starts_with(dir) {
        return Err(invalid(
            field,
            format!(
                "{} leads out of the bundle (to {}) through a symlink",
                relative.display(),
                resolved.display()
            ),
        ));
    }
    Ok(resolved)
}

fn check_top_level(spec: &Spec) -> Result<()> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return Err(unsupported(
            "ociVersion",
            format!("{version:?}: nsbox reads runtime spec 1.x"),
        ));
    }
    let other = [
        ("solaris", spec.solaris().is_some()),
        ("windows", spec.windows().is_some()),
        ("vm", spec.vm().is_some()),
        ("zos", spec.zos().is_some()),
        ("uidMappings", spec.uid_mappings().is_some()),
        ("gidMappings", spec.gid_mappings().is_some()),
    ];
    for (field, given) in other {
        if given {
            return Err(unsupported(field, "not a Linux container setting"));
        }
    }
    Ok(())
}
