//! The state directory: one directory per container, found by later commands.
//!
//! ```text
//! <state>/                      0700
//!   lock                        flock: creating and removing containers and names
//!   names/<name>                the id of the container that holds the name (O_EXCL: one wins)
//!   sock/<id prefix>            the monitor's control socket (stop, kill, exec, stats…)
//!   containers/<id>/            0700, one per container (id: 64 hex digits)
//!     spec.json                 what `run` was asked (the image, flags), written once
//!     status.json               state, pids and start times, exit code; replaced atomically
//!     lock                      flock: held by the monitor while it runs the container
//!     monitor.log               what the monitor had to say
//! <store>/containers/<id>/      0700: the container's data, on disk
//!     upper/                    its writable layer (kept across restarts)
//!     logs/                     json-file logs of a detached container
//! ```

mod id;
mod names;
mod status;

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub use id::{new_id, random_name};
pub use names::validate_name;
pub use status::{Process, State, Status};

use crate::error::{CliError, Context, Result, bail};
use crate::lock::Lock;
use crate::spec::RunSpec;

/// The state directory, and where containers' data (writable layer, logs) lives.
pub struct StateRoot {
    dir: PathBuf,
    data: PathBuf,
}

impl StateRoot {
    /// Opens (creating it 0700 if missing) the state directory, and the data directory.
    pub fn open(paths: &crate::paths::Paths) -> Result<StateRoot> {
        let dir = paths.state.as_path();
        let data = paths.data();
        for path in ["", "names", "containers", "sock"]
            .map(|sub| dir.join(sub))
            .into_iter()
            .chain([data.clone()])
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&path)
                .context(|| format!("creating {}", path.display()))?;
        }
        // Everything in it is trusted: it must be ours (a directory someone else owns that we
        // were pointed at could be changed under us).
        for dir in [dir, data.as_path()] {
            let owner = std::os::unix::fs::MetadataExt::uid(&fs::symlink_metadata(dir)?);
            if owner != nix::unistd::geteuid().as_raw() {
                bail!("{} belongs to uid {owner}, not to this user", dir.display());
            }
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
                .context(|| format!("securing {}", dir.display()))?;
        }
        Ok(StateRoot {
            dir: dir.to_owned(),
            data,
        })
    }

    pub fn lock(&self) -> Result<Lock> {
        Lock::exclusive(&self.dir.join("lock"))
    }

    /// A new container of `spec`: its directory and its name, both or neither. The name is
    /// claimed first (exactly one of two racing claims wins).
    pub fn create(&self, spec: &RunSpec) -> Result<ContainerDir> {
        let _lock = self.lock()?;
        let id = new_id();
        let name = match &spec.name {
            Some(name) => name.clone(),
            None => self.unused_name()?,
        };
        names::claim(&self.dir.join("names"), &name, &id)?;
        let dir = ContainerDir {
            id: id.clone(),
            path: self.dir.join("containers").join(&id),
            data: self.data.join(&id),
        };
        let made = (|| {
            for path in [&dir.path, &dir.data] {
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(path)
                    .context(|| format!("creating {}", path.display()))?;
            }
            let mut spec = spec.clone();
            spec.name = Some(name.clone());
            write_atomic(
                &dir.path.join("spec.json"),
                &serde_json::to_vec_pretty(&spec).expect("a spec serializes"),
            )?;
            dir.write_status(&Status::created())
        })();
        if let Err(e) = made {
            let _ = fs::remove_dir_all(&dir.path);
            let _ = fs::remove_dir_all(&dir.data);
            names::release(&self.dir.join("names"), &name, &id);
            return Err(e);
        }
        Ok(dir)
    }

    fn unused_name(&self) -> Result<String> {
        for _ in 0..64 {
            let name = random_name();
            if !self.dir.join("names").join(&name).exists() {
                return Ok(name);
            }
        }
        bail!("no unused container name found")
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<ContainerDir>> {
        let dir = self.dir.join("containers");
        let mut found = Vec::new();
        for entry in fs::read_dir(&dir).context(|| format!("listing {}", dir.display()))? {
            let entry = entry?;
            let Some(id) = entry.file_name().to_str().filter(|n| id::is_id(n)).map(str::to_owned) else {
                continue;
            };
            let created = entry.metadata().and_then(|m| m.modified()).ok();
            let data = self.data.join(&id);
            found.push((
                created,
                ContainerDir {
                    id,
                    path: entry.path(),
                    data,
                },
            ));
        }
        found.sort_by_key(|(created, _)| *created);
        Ok(found.into_iter().map(|(_, c)| c).collect())
    }

    /// The container named `key`, or whose id is or starts with `key` (a unique prefix).
    pub fn find(&self, key: &str) -> Result<ContainerDir> {
        if let Some(id) = names::lookup(&self.dir.join("names"), key) {
            let path = self.dir.join("containers").join(&id);
            if path.is_dir() {
                let data = self.data.join(&id);
                return Ok(ContainerDir { id, path, data });
            }
        }
        if !key.is_empty() && key.len() <= 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            let key = key.to_ascii_lowercase();
            let matches: Vec<_> = self.list()?.into_iter().filter(|c| c.id.starts_with(&key)).collect();
            match matches.len() {
                1 => return Ok(matches.into_iter().next().expect("one match")),
                0 => {}
                _ => bail!("Error: multiple containers match the prefix {key:?}: give more of the id"),
            }
        }
        Err(CliError::new(format!("Error: No such container: {key}")))
    }

    /// Removes a container's directory and its name (the caller checked it is not running).
    pub fn remove(&self, container: &ContainerDir) -> Result<()> {
        let _lock = self.lock()?;
        if let Ok(spec) = container.spec()
            && let Some(name) = spec.name
        {
            names::release(&self.dir.join("names"), &name, &container.id);
        }
        // A killed monitor left its socket.
        let _ = fs::remove_file(container.control_socket());
        remove_tree(&container.data)?;
        remove_tree(&container.path)
    }
}

/// One container's directory, and its data directory (`<store>/containers/<id>`: its
/// writable layer and logs on disk, not on `/run`'s tmpfs, which a container writing its root
/// full would fill, and which goes at reboot).
#[derive(Debug, Clone)]
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    pub data: PathBuf,
}

impl ContainerDir {
    pub fn spec(&self) -> Result<RunSpec> {
        let path = self.path.join("spec.json");
        let text = fs::read(&path).context(|| format!("reading {}", path.display()))?;
        serde_json::from_slice(&text).context(|| format!("reading {}", path.display()))
    }

    pub fn name(&self) -> String {
        self.spec().ok().and_then(|s| s.name).unwrap_or_default()
    }

    /// The recorded status, checked against the processes it names: a running container whose
    /// monitor is gone is `Dead` (its container died with it).
    pub fn status(&self) -> Result<Status> {
        let path = self.path.join("status.json");
        let text = fs::read(&path).context(|| format!("reading {}", path.display()))?;
        let mut status: Status = serde_json::from_slice(&text).context(|| format!("reading {}", path.display()))?;
        status.check_alive();
        Ok(status)
    }

    pub fn write_status(&self, status: &Status) -> Result<()> {
        write_atomic(
            &self.path.join("status.json"),
            &serde_json::to_vec_pretty(status).expect("a status serializes"),
        )
    }

    /// The monitor's lock: held while a monitor runs the container.
    pub fn lock_path(&self) -> PathBuf {
        self.path.join("lock")
    }

    /// `<state>/sock/<id prefix>`: a Unix socket path must fit in 108 bytes, a container's
    /// directory path may not.
    pub fn control_socket(&self) -> PathBuf {
        let state = self.path.parent().and_then(Path::parent).unwrap_or(Path::new("/"));
        state.join("sock").join(&self.id[..24])
    }

    pub fn upper(&self) -> PathBuf {
        self.data.join("upper")
    }

    pub fn logs(&self) -> PathBuf {
        self.data.join("logs")
    }

    pub fn monitor_log(&self) -> PathBuf {
        self.path.join("monitor.log")
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// Writes `data` to `path` through a temporary file and a rename: readers see all or nothing.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    // Unique per process and per write: the monitor's threads write status.json too.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    fs::write(&tmp, data).context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).context(|| format!("writing {}", path.display()))
}

/// Removes a tree; directories a container left without write permission are made writable.
pub fn remove_tree(path: &Path) -> Result<()> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            make_writable(path);
            fs::remove_dir_all(path).context(|| format!("removing {}", path.display()))
        }
    }
}

fn make_writable(dir: &Path) {
    let Ok(meta) = fs::symlink_metadata(dir) else { return };
    if !meta.is_dir() {
        return;
    }
    let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o700));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_writable(&entry.path());
        }
    }
}
