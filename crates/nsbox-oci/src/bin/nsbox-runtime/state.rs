//! What the runtime remembers of a container between invocations: `<root>/<id>/state.json`,
//! written atomically (a temporary file renamed over it) in 0700 directories, and the status
//! worked out from it and the kernel each time it is asked.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result, fail};

/// The runtime spec version the state JSON says.
pub const OCI_VERSION: &str = "1.2.0";

/// The record of one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// The bundle directory, absolute.
    pub bundle: PathBuf,
    /// The root filesystem, as the config names it (absolute).
    pub rootfs: PathBuf,
    /// The payload's host pid.
    pub pid: u32,
    /// Its start time (`/proc/PID/stat` field 22): a different one means the pid was reused.
    pub pid_start: u64,
    /// RFC 3339.
    pub created: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The container's cgroup, absolute (`nsbox::CgroupHandle::open` finds it again).
    pub cgroup_path: PathBuf,
    /// The uid that created it (runc's `owner`).
    pub owner_uid: u32,
    /// The config's hooks, kept for `start` and `delete` (the bundle may be gone by then).
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
}

/// A container's status, as runc reports it (`paused` is runc's addition to the spec's four).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// runc's rule for container ids: `^[\w+\-.]+$`, and not `.` or `..` (they would name the root
/// or its parent).
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.'));
    if !ok {
        fail!("invalid container id {id:?}: only letters, digits, '_', '+', '-' and '.'");
    }
    Ok(())
}

/// The state directory `--root`.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The gate's FIFO of `id`.
    pub fn fifo(&self, id: &str) -> PathBuf {
        self.dir(id).join("exec.fifo")
    }

    /// Makes `<root>/<id>` (and the root), both 0700; fails if the container exists.
    pub fn make(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .context(format_args!("cannot create the state root {}", self.root.display()))?;
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => fail!("container with id exists: {id}"),
            Err(e) => fail!("cannot create {}: {e}", dir.display()),
        }
    }

    /// The state of `id`; `container "ID" does not exist` if there is none.
    pub fn load(&self, id: &str) -> Result<State> {
        check_id(id)?;
        let path = self.dir(id).join("state.json");
        let text = match fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fail!("container \"{id}\" does not exist"),
            Err(e) => fail!("cannot read {}: {e}", path.display()),
        };
        serde_json::from_slice(&text).context(format_args!("{} is corrupt", path.display()))
    }

    /// Writes `state` atomically.
    pub fn save(&self, state: &State) -> Result<()> {
        let text = serde_json::to_vec(state).map_err(|e| Error(e.to_string()))?;
        write_atomic(&self.dir(&state.id).join("state.json"), &text, 0o600)
    }

    /// The ids under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => fail!("cannot list {}: {e}", self.root.display()),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| check_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// The status of `state` now.
    pub fn status(&self, state: &State) -> Status {
        if !crate::process::alive(state.pid, state.pid_start) {
            return Status::Stopped;
        }
        if self.fifo(&state.id).exists() {
            return Status::Created;
        }
        let frozen = crate::cgroup::open(&state.cgroup_path).is_ok_and(|c| c.is_frozen().unwrap_or(false));
        if frozen {
            return Status::Paused;
        }
        Status::Running
    }
}

/// Writes `path` through a temporary file in the same directory renamed over it, so a reader
/// sees the old or the new content, never part of it.
pub fn write_atomic(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let written = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        fail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// The state JSON runc's `state` prints, in its field order: the spec's fields plus runc's
/// `rootfs`, `created` and `owner` (`annotations` only when there are some, as runc omits
/// it). The pid of a stopped container is 0, as runc says.
#[derive(Debug, Serialize)]
pub struct RuncState<'a> {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: &'a str,
    pub pid: u32,
    pub status: &'static str,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub created: &'a str,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
    /// `""` in `state` for a container root made (runc leaves it unset there); the user name
    /// in `list`.
    pub owner: String,
}

pub fn runc_state(state: &State, status: Status) -> RuncState<'_> {
    RuncState {
        oci_version: OCI_VERSION,
        id: &state.id,
        pid: if status == Status::Stopped { 0 } else { state.pid },
        status: status.as_str(),
        bundle: &state.bundle,
        rootfs: &state.rootfs,
        created: &state.created,
        annotations: &state.annotations,
        owner: String::new(),
    }
}

/// The state the spec gives hooks on their stdin.
pub fn hook_json(state: &State, status: Status) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "id": state.id,
        "status": status.as_str(),
        "pid": state.pid,
        "bundle": state.bundle,
        "annotations": state.annotations,
    })
}

/// The name of user `uid` (its number if it has none), as `list` shows the owner.
pub fn owner_name(uid: u32) -> String {
    if uid == 0 {
        return "root".into();
    }
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)?.parse::<u32>().ok()? == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runcs_rule() {
        for ok in ["a", "web-1", "x.y_z+1", "ABC"] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "../x"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }
}
