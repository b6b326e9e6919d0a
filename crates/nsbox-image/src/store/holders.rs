//! Leases that outlive their handle: a [`detach`](nsbox::ContainerBuilder::detach)ed container
//! runs on after the [`Lease`](super::Lease) in its handle is dropped (and after the process
//! that spawned it exits), so the lease is also written down as a record naming the process
//! that holds the layers. [`Store::gc`](super::Store::gc) keeps a layer while a recorded
//! holder lives, and removes the records of holders that are gone.
//!
//! ```text
//! <root>/leases/<container id>.json   {"pid", "start_time", "pid_ns", "boot_id", "image", "layers"}
//! ```
//!
//! A holder is the process the record names only if its start time (`/proc/<pid>/stat`) and the
//! boot match: a pid reused after the container exited, or a reboot, makes the record stale. A
//! gc running in another PID namespace than the one the pid was read in cannot tell, and keeps
//! the layers (it says so in [`GcReport::layers_in_use`](super::GcReport::layers_in_use)).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::files::{remove_tree, write_atomic};
use crate::{Digest, Error};

/// The layers a process holds, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    pid: u32,
    start_time: u64,
    pid_ns: u64,
    boot_id: String,
    image: Digest,
    layers: Vec<Digest>,
}

/// What a lease writes down when a container outlives its handle.
#[derive(Debug, Clone)]
pub(crate) struct HolderRecord {
    pub root: PathBuf,
    pub image: Digest,
    pub layers: Vec<Digest>,
}

impl HolderRecord {
    /// Records that the process `pid` (a container's first process, in this process's PID
    /// namespace), of the container `id`, holds the layers. A process already gone (a payload
    /// that exited at once, before this ran) holds nothing: no record, as gc would find it
    /// stale at once.
    pub fn write(&self, id: &str, pid: u32) -> Result<(), Error> {
        if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::Corrupt {
                path: self.root.join("leases"),
                what: format!("container id {id:?} cannot name a lease record"),
            });
        }
        let Some(start_time) = start_time(pid) else {
            return Ok(());
        };
        let record = Record {
            pid,
            start_time,
            pid_ns: own_pid_ns(),
            boot_id: boot_id(),
            image: self.image.clone(),
            layers: self.layers.clone(),
        };
        let json = serde_json::to_vec(&record).expect("a lease record serializes");
        let target = leases_dir(&self.root).join(format!("{id}.json"));
        write_atomic(&self.root.join("tmp"), &target, &json)
    }
}

/// The store's lease records directory (made on demand by `Store::open`).
pub(crate) fn leases_dir(root: &Path) -> PathBuf {
    root.join("leases")
}

/// The layers recorded holders still hold; removes the records of holders that are gone.
/// Called by gc with the store locked.
pub(crate) fn held_layers(root: &Path) -> Result<BTreeSet<Digest>, Error> {
    let dir = leases_dir(root);
    let mut held = BTreeSet::new();
    let (own_ns, boot) = (own_pid_ns(), boot_id());
    for entry in fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))? {
        let path = entry.map_err(|e| Error::io("listing", &dir, e))?.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
        // A record that cannot be read is not guessed at: its layers may be in use.
        let record: Record = serde_json::from_slice(&text).map_err(|e| Error::Corrupt {
            path: path.clone(),
            what: format!("lease record: {e} (remove it once no container uses its image)"),
        })?;
        if record.alive(own_ns, &boot) {
            held.extend(record.layers);
        } else {
            remove_tree(&path)?;
        }
    }
    Ok(held)
}

impl Record {
    /// Whether the recorded process may still run: same boot, and, seen from the same PID
    /// namespace, the pid names a process started at the recorded time. From another PID
    /// namespace it cannot be told: assumed alive.
    fn alive(&self, own_ns: u64, boot: &str) -> bool {
        if self.boot_id != boot {
            return false;
        }
        if self.pid_ns != own_ns {
            return true;
        }
        start_time(self.pid) == Some(self.start_time)
    }
}

/// The start time of process `pid` (clock ticks after boot, `/proc/<pid>/stat` field 22), if
/// it exists and has not exited (a zombie holds no mounts).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold anything: count after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

fn own_pid_ns() -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id").map_or_else(|_| String::new(), |s| s.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_time_reads_past_a_command_name_with_parentheses_and_spaces() {
        let own = start_time(std::process::id()).unwrap();
        assert!(own > 0);
        assert_eq!(start_time(std::process::id()), Some(own));
        assert_eq!(start_time(u32::MAX), None);
    }

    #[test]
    fn a_record_is_alive_only_for_its_own_process_and_boot() {
        let (ns, boot) = (own_pid_ns(), boot_id());
        let me = Record {
            pid: std::process::id(),
            start_time: start_time(std::process::id()).unwrap(),
            pid_ns: ns,
            boot_id: boot.clone(),
            image: Digest::of(b"image"),
            layers: vec![],
        };
        assert!(me.alive(ns, &boot));
        assert!(
            !Record {
                start_time: me.start_time + 1,
                ..me.clone()
            }
            .alive(ns, &boot),
            "a reused pid"
        );
        assert!(
            !Record {
                boot_id: "other".into(),
                ..me.clone()
            }
            .alive(ns, &boot),
            "another boot"
        );
        assert!(
            Record {
                pid: u32::MAX,
                pid_ns: ns + 1,
                ..me.clone()
            }
            .alive(ns, &boot),
            "another pid ns: kept"
        );
        assert!(!Record { pid: u32::MAX, ..me }.alive(ns, &boot), "a pid that is gone");
    }

    /// A container whose process exited before its spawn's hook wrote the record (a payload
    /// such as `true`) holds nothing: no record, no error; a live one gets its record.
    #[test]
    fn a_process_gone_before_its_record_gets_none() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(leases_dir(root.path())).unwrap();
        fs::create_dir_all(root.path().join("tmp")).unwrap();
        let holder = HolderRecord {
            root: root.path().to_path_buf(),
            image: Digest::of(b"image"),
            layers: vec![Digest::of(b"layer")],
        };
        holder.write("gone", u32::MAX).unwrap();
        assert!(!leases_dir(root.path()).join("gone.json").exists());
        holder.write("alive", std::process::id()).unwrap();
        assert!(leases_dir(root.path()).join("alive.json").is_file());
    }
}
