//! `mounts[].uidMappings`, `gidMappings` and the `idmap`/`ridmap` options: an idmapped bind
//! ([`nsbox::Mount::idmap`]), as runc 1.2 and crun make one.
//!
//! The mappings have the form of `linux.uidMappings`, and runc writes them as they are into
//! the uid_map of the user namespace that lends them to the mount: `containerID` is the id
//! stored on the source's filesystem, `hostID` the id the mount shows for it (which a
//! container in a user namespace sees through its own maps). No user namespace is needed.
//! `idmap` (or mappings without an option) idmaps a bind's top mount; `ridmap` every mount of
//! an `rbind`. `idmap` or `ridmap` without mappings uses the container's user namespace maps.

use nsbox::{IdMap, Mount};
use oci_spec::runtime::{LinuxIdMapping, Mount as OciMount};

use crate::bundle::Bundle;
use crate::error::{Result, invalid, unsupported};

/// The maps of an idmapped bind and whether every mount of it gets them.
pub(crate) struct Idmap {
    uid: Vec<IdMap>,
    gid: Vec<IdMap>,
    recursive: bool,
}

/// The bind options this module takes.
pub(crate) const OPTIONS: [&str; 2] = ["idmap", "ridmap"];

fn maps(list: &[LinuxIdMapping]) -> Vec<IdMap> {
    list.iter()
        .map(|m| IdMap::new(m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The idmapping mount `m` (at `field`) asks for, if any; `bind`: whether it is a bind.
pub(crate) fn of(bundle: &Bundle, m: &OciMount, options: &[&str], bind: bool, field: &str) -> Result<Option<Idmap>> {
    let asked = options.iter().any(|o| OPTIONS.contains(o));
    let (uid, gid) = match (m.uid_mappings(), m.gid_mappings()) {
        (None, None) if !asked => return Ok(None),
        (Some(uid), Some(gid)) => (maps(uid), maps(gid)),
        (Some(_), None) => {
            return Err(invalid(
                format!("{field}.gidMappings"),
                "uidMappings needs gidMappings as well",
            ));
        }
        (None, Some(_)) => {
            return Err(invalid(
                format!("{field}.uidMappings"),
                "gidMappings needs uidMappings as well",
            ));
        }
        (None, None) => {
            // runc and crun: the container's own maps.
            let linux = bundle.spec().linux().as_ref();
            let uid = linux.and_then(|l| l.uid_mappings().as_deref()).unwrap_or_default();
            let gid = linux.and_then(|l| l.gid_mappings().as_deref()).unwrap_or_default();
            if uid.is_empty() || gid.is_empty() {
                return Err(invalid(
                    field,
                    "idmap without uidMappings takes the user namespace's: the container has none",
                ));
            }
            (maps(uid), maps(gid))
        }
    };
    if !bind {
        return Err(unsupported(
            format!("{field}.uidMappings"),
            "an idmapped mount that is not a bind: nsbox idmaps binds only",
        ));
    }
    Ok(Some(Idmap {
        uid,
        gid,
        recursive: options.contains(&"ridmap"),
    }))
}

impl Idmap {
    /// `mount` idmapped: every mount of it for `ridmap`, its top one for `idmap`.
    pub(crate) fn apply(self, mount: Mount) -> Mount {
        match self.recursive {
            true => mount.idmap(self.uid, self.gid),
            false => mount.idmap_top_only(self.uid, self.gid),
        }
    }
}
