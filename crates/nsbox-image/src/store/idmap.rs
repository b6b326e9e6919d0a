//! The id map of a rootless store with subordinate ids: chosen when the store is created,
//! recorded in `<root>/idmap`, and checked on every open.
//!
//! For an unprivileged caller with ranges in both /etc/subuid and /etc/subgid (and
//! newuidmap/newgidmap installed), container root is the caller and ids `1..=N` are the first
//! `N` subordinate ids (N at most 65536), as podman maps a rootless container. The store's
//! layers hold those host ids ([`shift`](super::shift)), and [`ImageRun`](crate::run::ImageRun)
//! gives the container the same map, so `/etc/shadow` shows `0 42` inside. Anyone else (root,
//! or a caller without a range) gets no map: root unpacks with the image's ids, and a rootless
//! store without a range keeps every file the caller's.

use std::fs;
use std::path::Path;

use nsbox::IdMap;

use super::files::write_atomic;
use crate::Error;

/// The name of the record under the store's root.
const RECORD: &str = "idmap";

/// The most subordinate ids a store maps (enough for every system user and `nobody`, 65534;
/// the core maps as many for root).
pub const MAX_SUBORDINATE_IDS: u32 = 65536;

/// A store's uid and gid maps: ids inside the container (as the image says them) to host ids
/// (as the store's files hold them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreIdMaps {
    /// The uid map, as [`ContainerBuilder::uid_map`](nsbox::ContainerBuilder::uid_map) takes it.
    pub uid: Vec<IdMap>,
    /// The gid map.
    pub gid: Vec<IdMap>,
}

impl StoreIdMaps {
    /// The maps for the calling user: `None` for root, or without a range in /etc/subuid and
    /// /etc/subgid, or without newuidmap/newgidmap.
    pub fn for_caller() -> Option<StoreIdMaps> {
        let (uid, gid) = (nix::unistd::geteuid(), nix::unistd::getegid());
        if uid.is_root() || !helpers_installed() {
            return None;
        }
        let name = nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name);
        let range = |file: &str| {
            let text = fs::read_to_string(file).ok()?;
            subordinate(&text, name.as_deref(), uid.as_raw())
        };
        let (uids, gids) = (range("/etc/subuid")?, range("/etc/subgid")?);
        Some(StoreIdMaps {
            uid: vec![IdMap::new(0, uid.as_raw(), 1), IdMap::new(1, uids.0, uids.1)],
            gid: vec![IdMap::new(0, gid.as_raw(), 1), IdMap::new(1, gids.0, gids.1)],
        })
    }

    /// The host uid of `inside`, if mapped.
    pub fn host_uid(&self, inside: u32) -> Option<u32> {
        to_host(&self.uid, inside)
    }

    /// The host gid of `inside`, if mapped.
    pub fn host_gid(&self, inside: u32) -> Option<u32> {
        to_host(&self.gid, inside)
    }

    /// The id inside of the host uid `host`, if mapped.
    pub fn inside_uid(&self, host: u32) -> Option<u32> {
        to_inside(&self.uid, host)
    }

    /// The id inside of the host gid `host`, if mapped.
    pub fn inside_gid(&self, host: u32) -> Option<u32> {
        to_inside(&self.gid, host)
    }

    fn to_text(&self) -> String {
        let mut text = String::new();
        for (kind, maps) in [("uid", &self.uid), ("gid", &self.gid)] {
            for m in maps {
                text.push_str(&format!("{kind} {} {} {}\n", m.inside, m.outside, m.count));
            }
        }
        text
    }

    fn parse(text: &str) -> Option<Option<StoreIdMaps>> {
        let mut maps = StoreIdMaps {
            uid: Vec::new(),
            gid: Vec::new(),
        };
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let mut parts = line.split_whitespace();
            let kind = parts.next()?;
            let mut num = || parts.next()?.parse::<u32>().ok();
            let m = IdMap::new(num()?, num()?, num()?);
            match kind {
                "uid" => maps.uid.push(m),
                "gid" => maps.gid.push(m),
                _ => return None,
            }
        }
        match (maps.uid.is_empty(), maps.gid.is_empty()) {
            (true, true) => Some(None),
            (false, false) => Some(Some(maps)),
            _ => None,
        }
    }

    fn describe(maps: &Option<StoreIdMaps>) -> String {
        match maps {
            None => "no subordinate ids".into(),
            Some(m) => m.to_text().trim_end().replace('\n', ", "),
        }
    }
}

fn to_host(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.inside && id - m.inside < m.count)
        .map(|m| m.outside + (id - m.inside))
}

fn to_inside(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.outside && id - m.outside < m.count)
        .map(|m| m.inside + (id - m.outside))
}

fn helpers_installed() -> bool {
    let on_path = |program: &str| {
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
    };
    on_path("newuidmap") && on_path("newgidmap")
}

/// The first range of /etc/subuid (or subgid) text for `name` or the numeric `id`: (start,
/// count) with the count capped at [`MAX_SUBORDINATE_IDS`].
pub(crate) fn subordinate(text: &str, name: Option<&str>, id: u32) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut parts = line.trim().split(':');
        let (who, start, count) = (parts.next()?, parts.next()?, parts.next()?);
        if Some(who) != name && who.parse::<u32>().ok() != Some(id) {
            return None;
        }
        let (start, count) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
        (count > 0).then(|| (start, count.min(MAX_SUBORDINATE_IDS)))
    })
}

/// Reads the store's record, writing `current` first if there is none and the store has no
/// layers yet: a new store (or one all of whose layers gc freed) records the caller's maps. A
/// store without a record and with layers has none (its files are the caller's, right under
/// any map) and keeps it so; root's and range-less callers' stores never get a record. A
/// recorded map other than `current` is refused (`Error::IdMapChanged`): its layers hold ids
/// for the recorded map, and another would mis-own every file.
pub(super) fn load(root: &Path, current: Option<StoreIdMaps>) -> Result<Option<StoreIdMaps>, Error> {
    let path = root.join(RECORD);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let Some(maps) = &current else { return Ok(None) };
            let layers = root.join("layers/sha256");
            let empty = fs::read_dir(&layers)
                .map_err(|e| Error::io("listing", &layers, e))?
                .next()
                .is_none();
            if !empty {
                return Ok(None);
            }
            write_atomic(&root.join("tmp"), &path, maps.to_text().as_bytes())?;
            // Another opener may have written it first: what is on disk counts.
            fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?
        }
        Err(e) => return Err(Error::io("reading", &path, e)),
    };
    let recorded = StoreIdMaps::parse(&text).ok_or_else(|| Error::Corrupt {
        path: path.clone(),
        what: "malformed id map record".into(),
    })?;
    if recorded.is_some() && recorded != current {
        return Err(Error::IdMapChanged {
            path: root.to_owned(),
            recorded: StoreIdMaps::describe(&recorded),
            current: StoreIdMaps::describe(&current),
        });
    }
    Ok(recorded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subordinate_ranges_by_name_or_number_capped() {
        let text = "alice:100000:65536\n1000:200000:200000\n";
        assert_eq!(subordinate(text, Some("alice"), 7), Some((100000, 65536)));
        assert_eq!(subordinate(text, Some("bob"), 1000), Some((200000, 65536)));
        assert_eq!(subordinate(text, Some("bob"), 1001), None);
        assert_eq!(subordinate("bob:1:0\n", Some("bob"), 1), None);
    }

    #[test]
    fn record_round_trips_and_maps_both_ways() {
        let maps = StoreIdMaps {
            uid: vec![IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)],
            gid: vec![IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)],
        };
        assert_eq!(StoreIdMaps::parse(&maps.to_text()), Some(Some(maps.clone())));
        assert_eq!(StoreIdMaps::parse(""), Some(None));
        assert_eq!(StoreIdMaps::parse("uid 0 1 1\n"), None);
        assert_eq!(maps.host_uid(0), Some(1000));
        assert_eq!(maps.host_gid(42), Some(100041));
        assert_eq!(maps.host_uid(65537), None);
        assert_eq!(maps.inside_uid(100999), Some(1000));
        assert_eq!(maps.inside_gid(1000), Some(0));
        assert_eq!(maps.inside_uid(5), None);
    }
}
