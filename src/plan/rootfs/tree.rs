//! The container's mount tree as the plan lays it out, to decide for every mount point whether
//! it exists, where a missing one may be created, and which directories need a shadow.
//!
//! nsbox never creates anything in the host's tree or in a read-only rootfs directory (the
//! default): the directory is the caller's. (A writable one, `read_only_root(false)`, is the
//! payload's to write: mount points missing there are made in it, as runc makes them.) A mount point missing there is made in a
//! *shadow*: the nearest existing directory is covered by a small tmpfs holding its entries
//! bound back (the mounts under them too) and the new mount points; the tmpfs is sealed
//! read-only once they are made. A missing top-level name
//! shadows the root itself: the root becomes a tmpfs with the top-level entries bound in (the
//! host root's layout, bubblewrap's). nsbox's own tmpfs mounts (/tmp, /run, /dev, a caller's
//! tmpfs, a hidden path's cover) take new names directly; so does a caller's writable bind, as
//! Docker does.
//!
//! An overlay root ([`Rootfs::overlay`](crate::Rootfs::overlay)) is modelled as overlayfs merges
//! its layers (whiteouts, opaque directories) and, being the container's own, takes missing
//! mount points itself, in its upper layer, read-only root or not (it is sealed after them).
//!
//! Symlinks in a target are followed as the payload would see them, inside the root: an
//! absolute link starts again at the container's root. One that climbs above the root with
//! `..` is refused (ELOOP, naming the target), as are more than 40 links. The child resolves
//! the symlink-free path this yields (`RESOLVE_IN_ROOT`), creating only the components the
//! plan allows (`ContainerPath::create_from`), so a tree changed after planning fails a step
//! rather than get written to.

use std::ffi::{OsStr, OsString};
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use super::Leaf;
use crate::error::{Error, SetupError, SetupStep};
use crate::hint::Hint;

/// Symlinks followed in one target before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// What holds a container path at one point of the setup.
#[derive(Debug, Clone)]
enum Backing {
    /// A host directory tree: the root, a top-level host entry, a caller's bind. With
    /// `create`, missing mount points are made in it (a caller's writable bind only).
    Host { source: HostTree, create: bool },
    /// A tmpfs nsbox mounted: missing names are created in it when a step needs them.
    Fresh,
    /// A kernel filesystem: what is in it is the kernel's; nsbox creates nothing there.
    Kernel,
    /// A shadow: a tmpfs with `source`'s entries (but `skip`) bound back (no `source`: a
    /// caller's read-only tmpfs, empty). Other names are made in the tmpfs: by
    /// [`ShadowPlan::mount_points`] (`plan`), or when a step needs them (`None`: the root's
    /// shadow, sealed with the root at the end).
    Shadow {
        source: Option<HostTree>,
        skip: Vec<OsString>,
        plan: Option<usize>,
    },
}

/// A host tree behind a container path: a directory, or a path in the merged view of an
/// overlay root's layers (top first), as overlayfs merges them.
#[derive(Debug, Clone)]
pub(super) enum HostTree {
    Dir(PathBuf),
    Overlay { layers: Rc<[PathBuf]>, rel: PathBuf },
}

impl HostTree {
    fn join(&self, rel: &Path) -> HostTree {
        match self {
            HostTree::Dir(dir) => HostTree::Dir(dir.join(rel)),
            HostTree::Overlay { layers, rel: at } => HostTree::Overlay {
                layers: layers.clone(),
                rel: at.join(rel),
            },
        }
    }

    /// The host path that shows at this point: a directory's own, or the layer's entry the
    /// merged view shows (`None`: hidden by a whiteout, a file, an opaque directory, or absent).
    fn shown(&self) -> Option<PathBuf> {
        match self {
            HostTree::Dir(dir) => Some(dir.clone()),
            HostTree::Overlay { layers, rel } => overlay_lookup(layers, rel),
        }
    }
}

/// The layer entry overlayfs shows at `rel`: the first layer (top first) that has it, unless a
/// layer above hides it with a whiteout (a 0:0 character device), a non-directory on the way,
/// or an opaque directory (`user.overlay.opaque=y`, read with `userxattr`).
fn overlay_lookup(layers: &[PathBuf], rel: &Path) -> Option<PathBuf> {
    let names: Vec<_> = rel.components().collect();
    if names.is_empty() {
        return layers.first().cloned();
    }
    'layers: for layer in layers {
        let mut path = layer.clone();
        let mut opaque = false;
        for (i, name) in names.iter().enumerate() {
            path.push(name);
            match std::fs::symlink_metadata(&path) {
                Err(_) if opaque => return None,
                Err(_) => continue 'layers,
                Ok(m) if is_whiteout(&m) => return None,
                Ok(_) if i + 1 == names.len() => return Some(path),
                Ok(m) if !m.is_dir() => return None,
                Ok(_) => opaque |= is_opaque(&path),
            }
        }
    }
    None
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Whether the directory `path` is marked opaque for an overlay mounted with `userxattr`.
fn is_opaque(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut value = [0u8; 2];
    // SAFETY: path and the name are NUL-terminated; value is a live buffer of the given size.
    let len = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            c"user.overlay.opaque".as_ptr(),
            value.as_mut_ptr().cast(),
            value.len(),
        )
    };
    len == 1 && value[0] == b'y'
}

/// Which step of the plan a shadow follows: the layer holding the directory it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Anchor {
    /// The root (and the host's top-level entries).
    Root,
    /// The caller's mount at this index of `Config::mounts`.
    Mount(usize),
    /// Another shadow (one of its entries bound back holds this one).
    Shadow(usize),
    /// A mount nsbox makes (/tmp, /dev, a cover): never holds a shadow.
    Own,
}

#[derive(Debug)]
struct Layer {
    target: PathBuf,
    backing: Backing,
    anchor: Anchor,
}

/// A directory to shadow, and the mount points to make in its tmpfs before it is sealed.
/// Without `fill`, the caller's read-only tmpfs at `after`: mounted writable until the mount
/// points under it are made.
#[derive(Debug)]
pub(super) struct ShadowPlan {
    pub path: PathBuf,
    pub after: Anchor,
    pub seal: bool,
    pub fill: bool,
    pub mount_points: Vec<(PathBuf, Leaf)>,
}

/// Where a mount goes: its symlink-free path and how many leading components must exist.
#[derive(Debug)]
pub(super) struct Placement {
    pub path: PathBuf,
    pub create_from: usize,
    /// What a missing last component is made as.
    pub leaf: Leaf,
}

/// A placement needs a missing name at the top of a root that cannot take it: lay the root
/// out as a shadow and plan again.
#[derive(Debug)]
pub(super) struct NeedsRootShadow;

/// What a container path is at this point of the setup.
enum Node {
    Missing(Place),
    Dir,
    Other,
    Symlink(PathBuf),
    /// In a kernel filesystem, or unreadable on the host: left to the child.
    Unknown,
}

/// Who would create a missing name.
#[derive(Clone, Copy)]
enum Place {
    /// nsbox's own tmpfs, or the root's shadow: the child makes it when a step needs it.
    Lazy,
    /// A planned shadow's tmpfs: made by the shadow's `MountPoint` steps.
    Planned(usize),
    /// The host tree in layer `layer`: only with `create` (a caller's writable bind).
    Host { layer: usize, create: bool },
}

/// Why a target cannot be placed.
pub(super) enum PlaceError {
    NeedsRootShadow,
    Refused(Error),
}

impl From<NeedsRootShadow> for PlaceError {
    fn from(_: NeedsRootShadow) -> Self {
        PlaceError::NeedsRootShadow
    }
}

/// The root as the plan lays it out.
pub(super) enum RootLayout<'a> {
    /// One bind of a host tree (`/`, or a rootfs directory).
    Bind(&'a Path),
    /// A tmpfs with the tree's top-level entries bound in, but `skip`.
    Shadow(&'a Path, Vec<OsString>),
    /// An overlay of these layers (top first): the container's own, it takes mount points in
    /// its upper layer, read-only root or not (the root is sealed after them).
    Overlay(&'a [PathBuf]),
}

#[derive(Debug)]
pub(super) struct Tree {
    layers: Vec<Layer>,
    pub shadows: Vec<ShadowPlan>,
    read_only_root: bool,
}

impl Tree {
    /// The tree on `root`. A writable root (a rootfs directory the payload may write) takes
    /// missing mount points itself, as runc makes them; a read-only one never does.
    pub fn new(root: RootLayout<'_>, read_only_root: bool) -> Self {
        let backing = match root {
            RootLayout::Bind(source) => Backing::Host {
                source: HostTree::Dir(source.to_path_buf()),
                create: !read_only_root,
            },
            RootLayout::Overlay(layers) => Backing::Host {
                source: HostTree::Overlay {
                    layers: layers.into(),
                    rel: PathBuf::new(),
                },
                create: true,
            },
            RootLayout::Shadow(source, skip) => Backing::Shadow {
                source: Some(HostTree::Dir(source.to_path_buf())),
                skip,
                plan: None,
            },
        };
        Tree {
            layers: vec![Layer {
                target: PathBuf::from("/"),
                backing,
                anchor: Anchor::Root,
            }],
            shadows: Vec::new(),
            read_only_root,
        }
    }

    /// A tmpfs nsbox mounts at `target` (an existing or creatable mount point).
    pub fn fresh(&mut self, target: &Path) {
        self.push(target, Backing::Fresh, Anchor::Own);
    }

    /// A kernel filesystem nsbox mounts at `target`.
    pub fn kernel(&mut self, target: &Path) {
        self.push(target, Backing::Kernel, Anchor::Own);
    }

    /// A caller's bind of host `source` at the placed `target`.
    pub fn bind(&mut self, target: &Path, source: &Path, writable: bool, index: usize) {
        let backing = Backing::Host {
            source: HostTree::Dir(source.to_path_buf()),
            create: writable,
        };
        self.push(target, backing, Anchor::Mount(index));
    }

    /// A caller's tmpfs (`fresh`, `read_only`) or procfs at the placed `target`. Mount points
    /// under a read-only tmpfs are planned, to be made before it is sealed.
    pub fn own(&mut self, target: &Path, fresh: bool, read_only: bool, index: usize) {
        let backing = match (fresh, read_only) {
            (true, false) => Backing::Fresh,
            (true, true) => {
                self.shadows.push(ShadowPlan {
                    path: target.to_path_buf(),
                    after: Anchor::Mount(index),
                    seal: true,
                    fill: false,
                    mount_points: Vec::new(),
                });
                Backing::Shadow {
                    source: None,
                    skip: Vec::new(),
                    plan: Some(self.shadows.len() - 1),
                }
            }
            (false, _) => Backing::Kernel,
        };
        self.push(target, backing, Anchor::Mount(index));
    }

    /// The plan for the caller's read-only tmpfs at index `index` of `Config::mounts`, if one
    /// is to hold mount points.
    pub fn sealed_tmpfs(&self, index: usize) -> Option<&ShadowPlan> {
        self.shadows
            .iter()
            .find(|s| !s.fill && s.after == Anchor::Mount(index) && !s.mount_points.is_empty())
    }

    fn push(&mut self, target: &Path, backing: Backing, anchor: Anchor) {
        self.layers.push(Layer {
            target: target.to_path_buf(),
            backing,
            anchor,
        });
    }

    /// Whether the top-level directory `name` of a bound root is there for a mount (`/proc`,
    /// `/dev`, `/sys`, which the child resolves without following symlinks).
    pub fn check_top_level(&self, name: &str) -> Result<(), NeedsRootShadow> {
        match self.node(&Path::new("/").join(name)) {
            Node::Missing(Place::Host { create: false, .. }) => Err(NeedsRootShadow),
            _ => Ok(()),
        }
    }

    /// Places a mount at `target`: follows its symlinks inside the root, and plans the
    /// shadow that makes a missing mount point where nsbox may not create one.
    pub fn place(&mut self, target: &Path, leaf: Leaf, step: SetupStep) -> Result<Placement, PlaceError> {
        let (path, exists, missing) = self.resolve(target, step).map_err(PlaceError::Refused)?;
        let all = path.components().count() - 1;
        let create_from = match missing {
            None => all,
            Some(Place::Lazy | Place::Host { create: true, .. }) => exists,
            Some(Place::Planned(shadow)) => {
                self.shadows[shadow].mount_points.push((path.clone(), leaf));
                all
            }
            Some(Place::Host { layer, create: false }) => {
                let dir: PathBuf = path.components().take(exists + 1).collect();
                if exists == 0 {
                    return Err(PlaceError::NeedsRootShadow);
                }
                let shadow = self.shadow(layer, &dir);
                self.shadows[shadow].mount_points.push((path.clone(), leaf));
                all
            }
        };
        Ok(Placement {
            path,
            create_from,
            leaf,
        })
    }

    /// Plans a shadow of the existing directory `dir`, held by layer `layer`.
    fn shadow(&mut self, layer: usize, dir: &Path) -> usize {
        let holder = &self.layers[layer];
        let source = host_path(holder, dir);
        let after = holder.anchor;
        let seal = match after {
            Anchor::Root | Anchor::Own => self.read_only_root,
            // Only a read-only bind of the caller's is shadowed (a writable one takes the
            // mount point), so the shadow is read-only like the bind.
            Anchor::Mount(_) => true,
            Anchor::Shadow(outer) => self.shadows[outer].seal,
        };
        let index = self.shadows.len();
        self.shadows.push(ShadowPlan {
            path: dir.to_path_buf(),
            after,
            seal,
            fill: true,
            mount_points: Vec::new(),
        });
        let backing = Backing::Shadow {
            source: Some(source),
            skip: Vec::new(),
            plan: Some(index),
        };
        let layer_of_shadow = Layer {
            target: dir.to_path_buf(),
            backing,
            anchor: Anchor::Shadow(index),
        };
        self.layers.insert(layer + 1, layer_of_shadow);
        index
    }

    /// The symlink-free form of `target`, how many of its components exist, and who would
    /// create the first missing one.
    fn resolve(&self, target: &Path, step: SetupStep) -> Result<(PathBuf, usize, Option<Place>), Error> {
        let refuse = |errno| Error::Setup(SetupError::new(step, Some(target.to_path_buf()), errno));
        let mut todo: Vec<OsString> = names(target).into_iter().rev().collect();
        let mut done = PathBuf::from("/");
        let mut links = 0;
        let mut last_link = None;
        while let Some(name) = todo.pop() {
            if name == ".." {
                // Only a symlink's text brings `..` (targets are normalised).
                if !done.pop() {
                    let hint = Hint::SymlinkLeavesRoot {
                        target: target.to_path_buf(),
                        symlink: last_link.clone().unwrap_or_default(),
                    };
                    let error = SetupError::new(step, Some(target.to_path_buf()), crate::Errno::ELOOP);
                    return Err(Error::Setup(error.with_hint(Some(hint))));
                }
                continue;
            }
            let next = done.join(&name);
            match self.node(&next) {
                Node::Dir | Node::Unknown => done = next,
                Node::Other if todo.is_empty() => done = next,
                Node::Other => return Err(refuse(crate::Errno::ENOTDIR)),
                Node::Symlink(link) => {
                    last_link = Some(next);
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(refuse(crate::Errno::ELOOP));
                    }
                    if link.is_absolute() {
                        done = PathBuf::from("/");
                    }
                    todo.extend(names(&link).into_iter().rev());
                }
                Node::Missing(place) => {
                    let exists = done.components().count() - 1;
                    let mut path = next;
                    while let Some(rest) = todo.pop() {
                        // Below a missing name nothing can be resolved: `..` there is refused.
                        if rest == ".." {
                            return Err(refuse(crate::Errno::ENOENT));
                        }
                        path.push(rest);
                    }
                    return Ok((path, exists, Some(place)));
                }
            }
        }
        let exists = done.components().count() - 1;
        Ok((done, exists, None))
    }

    fn node(&self, path: &Path) -> Node {
        let Some((index, layer)) = self
            .layers
            .iter()
            .enumerate()
            .rev()
            .find(|(_, l)| path.starts_with(&l.target))
        else {
            return Node::Unknown;
        };
        let rel = path.strip_prefix(&layer.target).unwrap_or(path);
        if rel.as_os_str().is_empty() {
            return Node::Dir;
        }
        match &layer.backing {
            Backing::Fresh => Node::Missing(Place::Lazy),
            Backing::Kernel => Node::Unknown,
            Backing::Host { source, create } => host_node(
                &source.join(rel),
                Place::Host {
                    layer: index,
                    create: *create,
                },
            ),
            Backing::Shadow { source, skip, plan } => {
                let first = rel.components().next().map(|c| c.as_os_str().to_os_string());
                let made_here = match plan {
                    Some(shadow) => Place::Planned(*shadow),
                    None => Place::Lazy,
                };
                let source = source
                    .as_ref()
                    .filter(|_| first.as_ref().is_some_and(|f| !skip.contains(f)));
                match (first, source) {
                    (Some(first), Some(source)) if exists(&source.join(Path::new(&first))) => host_node(
                        &source.join(rel),
                        Place::Host {
                            layer: index,
                            create: false,
                        },
                    ),
                    _ => Node::Missing(made_here),
                }
            }
        }
    }
}

/// The host tree behind the container path `path` in `layer` (a host tree or a shadow).
fn host_path(layer: &Layer, path: &Path) -> HostTree {
    let rel = path.strip_prefix(&layer.target).unwrap_or(path);
    match &layer.backing {
        Backing::Host { source, .. }
        | Backing::Shadow {
            source: Some(source), ..
        } => source.join(rel),
        Backing::Fresh | Backing::Kernel | Backing::Shadow { source: None, .. } => HostTree::Dir(path.to_path_buf()),
    }
}

fn exists(tree: &HostTree) -> bool {
    tree.shown().is_some_and(|path| std::fs::symlink_metadata(path).is_ok())
}

fn host_node(tree: &HostTree, missing: Place) -> Node {
    let Some(path) = tree.shown() else {
        return Node::Missing(missing);
    };
    let path = path.as_path();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(link) => Node::Symlink(link),
            Err(_) => Node::Unknown,
        },
        Ok(m) if m.is_dir() => Node::Dir,
        Ok(_) => Node::Other,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Node::Missing(missing),
        Err(_) => Node::Unknown,
    }
}

/// A path's names, `..` and `.` kept as names (a symlink's text is not normalised).
fn names(path: &Path) -> Vec<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsStr::new("..").to_os_string()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}
