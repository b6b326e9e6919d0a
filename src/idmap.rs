//! User namespace id maps: what the defaults are and how the parent writes them.
//!
//! The parent writes the maps after clone and before it lets the child go on, so the child's
//! first step already runs as a mapped root. A root caller writes any map itself; an
//! unprivileged caller writes its own single id and needs `newuidmap`/`newgidmap` (setuid
//! helpers that check /etc/subuid) for anything more.

use std::fs;
use std::io::Write;
use std::process::Command;

use nix::unistd::{Gid, Pid, Uid};

use crate::error::{Errno, SetupError, SetupStep};

/// One contiguous range of a uid or gid map: ids `inside..inside+count` in the container are
/// `outside..outside+count` on the host.
///
/// ```
/// use nsbox::IdMap;
/// let root_is_me = IdMap::new(0, 1000, 1);
/// assert_eq!(root_is_me.count, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct IdMap {
    /// First id inside the container.
    pub inside: u32,
    /// First id on the host.
    pub outside: u32,
    /// Number of ids in the range.
    pub count: u32,
}

impl IdMap {
    /// A range of `count` ids starting at `inside` in the container and `outside` on the host.
    pub fn new(inside: u32, outside: u32, count: u32) -> Self {
        IdMap { inside, outside, count }
    }

    pub(crate) fn maps_inside(maps: &[IdMap], id: u32) -> bool {
        IdMap::to_host(maps, id).is_some()
    }

    /// The host id that `id` inside maps to, if any.
    pub(crate) fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
        maps.iter()
            .find(|m| id >= m.inside && (id - m.inside) < m.count)
            .map(|m| m.outside + (id - m.inside))
    }
}

/// Both maps of a user namespace and whether `setgroups(2)` stays allowed inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdMaps {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
    pub allow_setgroups: bool,
}

/// How many ids a root caller's container gets: enough for every system user of a distribution
/// (nginx's `www-data`, postgres…) and `nobody` (65534).
const ROOT_RANGE: u32 = 65536;

/// Where the search for an unused host id starts when container root must not be host root
/// ([`IdMaps::unprivileged_for_caller`]): 0x70000000, the start of the range
/// <https://systemd.io/UIDS-GIDS/> leaves unused between systemd-nspawn's container ranges
/// (which end at 0x6FFFFFFF) and its foreign range (0x7FFE0000), far above shadow's default
/// subordinate ids (100000 to 600100000) and below 2^31, which some tools misread as negative.
pub(crate) const UNPRIVILEGED_ID_BASE: u32 = 0x7000_0000;

/// The end (exclusive) of that search: 2^31.
const UNPRIVILEGED_ID_END: u64 = 0x8000_0000;

impl IdMaps {
    /// The default maps for the calling process: root gets a 65536-id range (its subordinate
    /// range from /etc/subuid and /etc/subgid if configured, else identity); anyone else is
    /// mapped to root alone, with setgroups denied as the kernel requires.
    pub fn default_for_caller() -> IdMaps {
        let (uid, gid) = (Uid::effective(), Gid::effective());
        if uid.is_root() {
            IdMaps {
                uid: vec![subordinate_range("/etc/subuid", "root", 0).unwrap_or(IdMap::new(0, 0, ROOT_RANGE))],
                gid: vec![subordinate_range("/etc/subgid", "root", 0).unwrap_or(IdMap::new(0, 0, ROOT_RANGE))],
                allow_setgroups: true,
            }
        } else {
            IdMaps {
                uid: vec![IdMap::new(0, uid.as_raw(), 1)],
                gid: vec![IdMap::new(0, gid.as_raw(), 1)],
                allow_setgroups: false,
            }
        }
    }

    /// The maps for containers whose root must not be host root ([`Profile::Sandbox`](crate::Profile)):
    /// root gets its /etc/subuid and /etc/subgid ranges if it has them, else container root
    /// alone is mapped to one host uid and gid that nothing on the host uses
    /// ([`unused_host_id`]); anyone else, already unprivileged, gets
    /// [`default_for_caller`](Self::default_for_caller).
    pub fn unprivileged_for_caller() -> std::io::Result<IdMaps> {
        if !Uid::effective().is_root() {
            return Ok(IdMaps::default_for_caller());
        }
        let ranges = (
            subordinate_range("/etc/subuid", "root", 0),
            subordinate_range("/etc/subgid", "root", 0),
        );
        let (uid, gid) = match ranges {
            (Some(uid), Some(gid)) => (uid, gid),
            (uid, gid) => {
                let one = IdMap::new(0, unused_host_id()?, 1);
                (uid.unwrap_or(one), gid.unwrap_or(one))
            }
        };
        Ok(IdMaps {
            uid: vec![uid],
            gid: vec![gid],
            allow_setgroups: true,
        })
    }

    /// Whether the caller may let the container call setgroups (root; see
    /// [`IdMaps::default_for_caller`]).
    pub fn default_allows_setgroups() -> bool {
        Uid::effective().is_root()
    }

    /// Whether `setgroups(2)` stays allowed in a namespace with this gid map: always for root;
    /// for anyone else when newgidmap writes it with a subordinate range (newgidmap then leaves
    /// setgroups allowed), not when the map is the caller's own gid alone (the kernel, or
    /// newgidmap, denies it then).
    pub fn allows_setgroups(gid: &[IdMap]) -> bool {
        let own = Gid::effective().as_raw();
        Self::default_allows_setgroups() || !matches!(gid, [m] if m.count == 1 && m.outside == own)
    }

    /// Writes both maps for the process `pid`, still waiting in a fresh user namespace.
    pub fn write(&self, pid: Pid) -> Result<(), SetupError> {
        let privileged = Uid::effective().is_root();
        let own_only = |maps: &[IdMap], own: u32| matches!(maps, [m] if m.count == 1 && m.outside == own);
        let simple = own_only(&self.uid, Uid::effective().as_raw()) && own_only(&self.gid, Gid::effective().as_raw());
        if privileged || simple {
            if !self.allow_setgroups {
                write_proc(pid, "setgroups", "deny")?;
            }
            write_proc(pid, "uid_map", &format_map(&self.uid))?;
            write_proc(pid, "gid_map", &format_map(&self.gid))?;
            Ok(())
        } else {
            run_helper("newuidmap", pid, &self.uid)?;
            run_helper("newgidmap", pid, &self.gid)
        }
    }
}

fn format_map(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.inside, m.outside, m.count))
        .collect()
}

fn write_proc(pid: Pid, file: &str, content: &str) -> Result<(), SetupError> {
    let path = format!("/proc/{pid}/{file}");
    let fail = |e: std::io::Error| {
        SetupError::new(
            SetupStep::IdMap,
            Some(path.clone().into()),
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        )
    };
    // The kernel wants the whole map in a single write(2).
    let mut file = fs::OpenOptions::new().write(true).open(&path).map_err(fail)?;
    let written = file.write(content.as_bytes()).map_err(fail)?;
    if written != content.len() {
        return Err(fail(std::io::Error::from_raw_os_error(libc::EINVAL)));
    }
    Ok(())
}

fn run_helper(helper: &str, pid: Pid, maps: &[IdMap]) -> Result<(), SetupError> {
    let mut cmd = Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.inside.to_string(), m.outside.to_string(), m.count.to_string()]);
    }
    let fail = |errno| SetupError::new(SetupStep::IdMap, Some(helper.into()), errno);
    let status = cmd
        .stdin(std::process::Stdio::null())
        .status()
        .map_err(|e| fail(Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT))))?;
    if !status.success() {
        tracing::warn!(%helper, %status, "id map helper failed");
        return Err(fail(Errno::EPERM));
    }
    Ok(())
}

/// The first id from [`UNPRIVILEGED_ID_BASE`] up that no entry of /etc/passwd, /etc/group,
/// /etc/subuid or /etc/subgid covers, used as both uid and gid: no host user or group owns its
/// files, and no subordinate range hands it to another user's containers. Users known only
/// to NSS (LDAP, sssd) are not seen: keep them below 0x70000000.
pub(crate) fn unused_host_id() -> std::io::Result<u32> {
    let read = |file: &str| match fs::read_to_string(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        other => other,
    };
    let mut taken = Vec::new();
    for file in ["/etc/passwd", "/etc/group"] {
        taken.extend(account_ids(&read(file)?));
    }
    for file in ["/etc/subuid", "/etc/subgid"] {
        taken.extend(subordinate_ranges(&read(file)?));
    }
    first_unused(&taken).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EOVERFLOW))
}

/// The ids of /etc/passwd or /etc/group lines (the third field), as one-id ranges.
pub(crate) fn account_ids(text: &str) -> Vec<(u64, u64)> {
    let id = |line: &str| line.split(':').nth(2)?.parse::<u32>().ok();
    text.lines().filter_map(id).map(|i| (i as u64, i as u64 + 1)).collect()
}

/// Every range of /etc/subuid or /etc/subgid, whoever it belongs to.
pub(crate) fn subordinate_ranges(text: &str) -> Vec<(u64, u64)> {
    let range = |line: &str| {
        let mut parts = line.trim().split(':').skip(1);
        let start = parts.next()?.parse::<u32>().ok()? as u64;
        Some((start, start + parts.next()?.parse::<u32>().ok()? as u64))
    };
    text.lines().filter_map(range).collect()
}

/// The first id in `UNPRIVILEGED_ID_BASE..2^31` that no `[start, end)` range covers.
pub(crate) fn first_unused(taken: &[(u64, u64)]) -> Option<u32> {
    let mut id = UNPRIVILEGED_ID_BASE as u64;
    while id < UNPRIVILEGED_ID_END {
        match taken.iter().find(|(start, end)| (*start..*end).contains(&id)) {
            Some((_, end)) => id = *end,
            None => return u32::try_from(id).ok(),
        }
    }
    None
}

/// The first range /etc/subuid (or /etc/subgid) gives `user` (or its numeric id), capped at
/// [`ROOT_RANGE`] ids and mapped to `inside`.
fn subordinate_range(file: &str, user: &str, numeric: u32) -> Option<IdMap> {
    let text = fs::read_to_string(file).ok()?;
    parse_subordinate(&text, user, numeric)
}

pub(crate) fn parse_subordinate(text: &str, user: &str, numeric: u32) -> Option<IdMap> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let (name, start, count) = (parts.next()?, parts.next()?, parts.next()?);
        if name != user && name.parse::<u32>().ok() != Some(numeric) {
            return None;
        }
        let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
        (count > 0).then(|| IdMap::new(0, start, count.min(ROOT_RANGE)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_range_for_root_is_found_by_name_or_number() {
        let text = "alice:100000:65536\nroot:200000:131072\n";
        assert_eq!(parse_subordinate(text, "root", 0), Some(IdMap::new(0, 200000, 65536)));
        assert_eq!(
            parse_subordinate("0:300000:10\n", "root", 0),
            Some(IdMap::new(0, 300000, 10))
        );
        assert_eq!(parse_subordinate("alice:1:2\nbad line\n", "root", 0), None);
    }

    #[test]
    fn unused_host_id_skips_accounts_and_subordinate_ranges() {
        let base = UNPRIVILEGED_ID_BASE as u64;
        assert_eq!(first_unused(&[]), Some(UNPRIVILEGED_ID_BASE));
        let mut taken = account_ids(&format!("root:x:0:0::/root:/bin/sh\nsvc:x:{base}:1::/:/bin/false\n"));
        assert_eq!(taken, [(0, 1), (base, base + 1)]);
        taken.extend(subordinate_ranges(&format!("alice:{}:65536\nbad\n", base + 1)));
        assert_eq!(first_unused(&taken), Some(UNPRIVILEGED_ID_BASE + 65537));
        assert_eq!(first_unused(&[(0, 1 << 32)]), None);
    }

    #[test]
    fn maps_inside_checks_ranges() {
        let maps = [IdMap::new(0, 1000, 1), IdMap::new(100, 5000, 10)];
        assert!(IdMap::maps_inside(&maps, 0));
        assert!(IdMap::maps_inside(&maps, 109));
        assert!(!IdMap::maps_inside(&maps, 110));
        assert!(!IdMap::maps_inside(&maps, 1));
    }
}
