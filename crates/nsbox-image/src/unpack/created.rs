//! What this layer created: whiteouts and opaque markers act only on what lower layers put
//! there (the OCI layer spec), and in [`Mode::OverlayLayer`](super::Mode::OverlayLayer) a hard
//! link may only point at an entry of its own layer. Bounded by the layer's limits (one record
//! per entry and per directory above it).

use std::collections::HashMap;

use super::name::EntryPath;

/// What a created path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Created {
    /// A directory (an entry, or one created on the way to an entry).
    Directory,
    /// Anything a hard link may point at: a file, symlink, device or fifo.
    Linkable,
    /// An overlay whiteout (a 0:0 character device).
    Whiteout,
}

#[derive(Debug, Default)]
pub(super) struct CreatedSet(HashMap<EntryPath, Created>);

impl CreatedSet {
    /// Records `path` and every directory above it.
    pub fn insert(&mut self, path: &EntryPath, what: Created) {
        self.0.insert(path.clone(), what);
        let mut above = path.split_last().map(|(parent, _)| parent);
        while let Some(dir) = above {
            if dir.is_root() || self.0.get(&dir) == Some(&Created::Directory) {
                break;
            }
            above = dir.split_last().map(|(parent, _)| parent);
            self.0.insert(dir, Created::Directory);
        }
    }

    pub fn get(&self, path: &EntryPath) -> Option<Created> {
        self.0.get(path).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::Limits;

    fn path(raw: &str) -> EntryPath {
        EntryPath::parse(raw.as_bytes(), &Limits::default()).unwrap()
    }

    #[test]
    fn ancestors_are_recorded_as_directories() {
        let mut set = CreatedSet::default();
        set.insert(&path("a/b/c"), Created::Linkable);
        assert_eq!(set.get(&path("a/b/c")), Some(Created::Linkable));
        assert_eq!(set.get(&path("a/b")), Some(Created::Directory));
        assert_eq!(set.get(&path("a")), Some(Created::Directory));
        assert_eq!(set.get(&path("b")), None);
    }
}
