//! Idmapped bind mounts (issue 16): a bind whose files' owners are shown through id maps of
//! its own, as runc and crun make for an OCI mount's `uidMappings` and `gidMappings`
//! (`mount_setattr(MOUNT_ATTR_IDMAP)`, Linux 5.12). The parent makes the mount, detached,
//! before clone (`plan/rootfs/idmapped.rs`); the child only attaches it.

use crate::config::validate::check_maps;
use crate::error::ConfigError;
use crate::idmap::IdMap;
use crate::mount::{Mount, MountKind};
use crate::setting::Setting;

/// The maps of an idmapped bind, in the form of a user namespace's maps.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct MountIdMap {
    pub uid: Vec<IdMap>,
    pub gid: Vec<IdMap>,
    /// Every mount of a recursive bind (OCI `ridmap`), or only its top one (`idmap`).
    pub recursive: bool,
}

impl Mount {
    /// Shows the bind's files through id maps of its own (an *idmapped mount*, Linux 5.12;
    /// runc's and crun's OCI `mounts[].uidMappings`): a file whose owner on the source's
    /// filesystem is `inside` in a range is shown, and created, as the host id `outside`;
    /// writes through the bind store the host id back as the filesystem's. The maps have the
    /// form of a user namespace's, and the kernel reads them the same way: the filesystem's
    /// ids are the ids *inside*. An id the maps leave out is shown as the overflow id (65534)
    /// and a file cannot be given it (`EOVERFLOW`). For a recursive bind every mount below it
    /// is idmapped too (OCI `ridmap`); see [`idmap_top_only`](Self::idmap_top_only).
    ///
    /// A container in a user namespace then sees the host ids through its own maps: with
    /// container root at host 100000, mapping the source's 1000 to 100000 shows the files of
    /// host user 1000 as owned by the container's root, and the files that root creates land
    /// as 1000 on the host. No user namespace is needed (runc makes them without one too):
    /// the payload then sees the host ids.
    ///
    /// The mount is made by the calling process, detached, before the container starts (a
    /// short-lived helper process is born in a user namespace with these maps, lends them
    /// and is reaped), with every other flag of the bind ([`read_only`](Self::read_only),
    /// [`nosuid`](Self::nosuid)...); the container only attaches it. It needs a root caller
    /// (`CAP_SYS_ADMIN` over the source's filesystem) and a filesystem that can be idmapped
    /// (ext4, xfs, btrfs, tmpfs since Linux 6.3...; not procfs or sysfs): otherwise the spawn
    /// fails with [`SetupError`](crate::SetupError) at
    /// [`IdmapMount`](crate::SetupStep::IdmapMount) naming the source (`EINVAL`, `EPERM`).
    ///
    /// `build()` checks both maps: 1 to 340 ranges each, none empty or overflowing, none
    /// overlapping inside or outside, and that the mount is a bind.
    ///
    /// ```
    /// use nsbox::{Container, IdMap, Mount};
    /// // Container root is host 100000; the source's files of host user 1000 are root's.
    /// let mut b = Container::builder();
    /// b.uid_map([IdMap::new(0, 100000, 65536)])
    ///     .gid_map([IdMap::new(0, 100000, 65536)])
    ///     .mount(Mount::bind("/home/alice/src", "/src").idmap([IdMap::new(1000, 100000, 1)], [IdMap::new(1000, 100000, 1)]))
    ///     .command("/bin/true");
    /// ```
    pub fn idmap(self, uid: impl IntoIterator<Item = IdMap>, gid: impl IntoIterator<Item = IdMap>) -> Self {
        self.with_idmap(uid, gid, true)
    }

    /// Like [`idmap`](Self::idmap), but of a recursive bind only the top mount is idmapped;
    /// the mounts below it show their owners as they are (OCI `idmap` on an `rbind`).
    pub fn idmap_top_only(self, uid: impl IntoIterator<Item = IdMap>, gid: impl IntoIterator<Item = IdMap>) -> Self {
        self.with_idmap(uid, gid, false)
    }

    /// Whether the mount is idmapped ([`idmap`](Self::idmap)).
    pub fn is_idmapped(&self) -> bool {
        self.idmap.is_some()
    }

    fn with_idmap(
        mut self,
        uid: impl IntoIterator<Item = IdMap>,
        gid: impl IntoIterator<Item = IdMap>,
        recursive: bool,
    ) -> Self {
        self.idmap = Some(MountIdMap {
            uid: uid.into_iter().collect(),
            gid: gid.into_iter().collect(),
            recursive,
        });
        self
    }
}

/// `build()`'s checks of an idmapped mount: a bind, and maps the kernel takes (as a user
/// namespace's: 1 to 340 ranges, none empty, none overlapping).
pub(crate) fn check(mount: &Mount) -> Result<(), ConfigError> {
    let Some(idmap) = &mount.idmap else {
        return Ok(());
    };
    if !matches!(mount.kind, MountKind::Bind { .. }) {
        return Err(ConfigError::Conflict {
            setting: Setting::MountUidMap,
            with: Setting::Mount,
            why: "only a bind mount can be idmapped",
        });
    }
    check_maps(Setting::MountUidMap, &idmap.uid)?;
    check_maps(Setting::MountGidMap, &idmap.gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idmap_is_kept_on_a_bind_and_refused_elsewhere() {
        let one = [IdMap::new(1000, 100000, 1)];
        let bind = Mount::bind("/srv", "/srv").idmap(one, one);
        assert!(bind.is_idmapped());
        assert_eq!(check(&bind), Ok(()));
        let tmpfs = Mount::tmpfs("/t").idmap(one, one);
        assert!(matches!(
            check(&tmpfs),
            Err(ConfigError::Conflict {
                setting: Setting::MountUidMap,
                ..
            })
        ));
    }

    #[test]
    fn bad_maps_are_refused() {
        let one = [IdMap::new(1000, 100000, 1)];
        let empty = Mount::bind("/srv", "/srv").idmap([], one);
        assert!(matches!(
            check(&empty),
            Err(ConfigError::OutOfRange {
                setting: Setting::MountUidMap,
                value: 0,
                ..
            })
        ));
        let overlapping = Mount::bind("/srv", "/srv").idmap(one, [IdMap::new(0, 5, 10), IdMap::new(20, 9, 1)]);
        assert!(matches!(
            check(&overlapping),
            Err(ConfigError::OverlappingIdRanges {
                setting: Setting::MountGidMap,
                ..
            })
        ));
        let zero = Mount::bind("/srv", "/srv").idmap([IdMap::new(0, 0, 0)], one);
        assert!(matches!(check(&zero), Err(ConfigError::EmptyIdRange { .. })));
        let too_many: Vec<_> = (0..341).map(|i| IdMap::new(i, i, 1)).collect();
        let many = Mount::bind("/srv", "/srv").idmap(too_many, one);
        assert!(matches!(check(&many), Err(ConfigError::OutOfRange { value: 341, .. })));
    }
}
