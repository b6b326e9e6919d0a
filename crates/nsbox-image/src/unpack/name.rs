//! Entry names: normalised to components below the layer root, or refused.

use std::ffi::{CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::error::{Exceeded, LimitKind, Refusal};
use super::{Limits, MAX_DEPTH, UnpackError};

/// A normalised name below the root: components joined by `/`, no leading or trailing `/`, no
/// empty, `.` or `..` component. Empty is the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct EntryPath(Vec<u8>);

impl EntryPath {
    /// The root (a `./` or `/` entry).
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// Normalises `raw` (as the tar stream spells it): leading `/` and `./`, `//` and `/./`
    /// disappear; `..` anywhere, a NUL byte or an empty `raw` are refused; lengths are checked
    /// against `limits`.
    pub fn parse(raw: &[u8], limits: &Limits) -> Result<Self, UnpackError> {
        let refuse = |reason| UnpackError::Refused {
            path: PathBuf::from(OsStr::from_bytes(raw)),
            reason,
        };
        if raw.is_empty() {
            return Err(refuse(Refusal::EmptyName));
        }
        if raw.contains(&0) {
            return Err(refuse(Refusal::NulByte));
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut depth = 0;
        for component in raw.split(|&b| b == b'/') {
            match component {
                b"" | b"." => continue,
                b".." => return Err(refuse(Refusal::ParentDirectory)),
                _ => {}
            }
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(limit(LimitKind::Depth, MAX_DEPTH));
            }
            if component.len() > limits.max_name_len {
                return Err(limit(LimitKind::NameLength, limits.max_name_len));
            }
            if !out.is_empty() {
                out.push(b'/');
            }
            out.extend_from_slice(component);
        }
        if out.len() > limits.max_path_len {
            return Err(limit(LimitKind::PathLength, limits.max_path_len));
        }
        Ok(Self(out))
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The components, outermost first.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// The parent directory and the last component (`None` for the root).
    pub fn split_last(&self) -> Option<(EntryPath, &[u8])> {
        if self.is_root() {
            return None;
        }
        Some(match self.0.iter().rposition(|&b| b == b'/') {
            Some(at) => (Self(self.0[..at].to_vec()), &self.0[at + 1..]),
            None => (Self::root(), &self.0[..]),
        })
    }

    /// `self/name`.
    pub fn join(&self, name: &[u8]) -> Self {
        let mut out = self.0.clone();
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(name);
        Self(out)
    }

    /// For messages and reports.
    pub fn to_path_buf(&self) -> PathBuf {
        Path::new(OsStr::from_bytes(&self.0)).to_path_buf()
    }
}

/// A component as a C string (components never hold NUL: [`EntryPath::parse`] refused it).
pub(super) fn c_name(component: &[u8]) -> CString {
    CString::new(component).expect("components hold no NUL byte")
}

/// `.`: the directory itself, for `*at` calls on a directory fd.
pub(super) const DOT: &CStr = c".";

fn limit(kind: LimitKind, bound: usize) -> UnpackError {
    UnpackError::Limit(Exceeded {
        kind,
        bound: bound as u64,
    })
}

/// What a last component means to overlay-style layers.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Special<'a> {
    /// An ordinary name.
    None,
    /// `.wh..wh..opq`: the directory hides what lower layers hold in it.
    Opaque,
    /// `.wh.NAME`: NAME of lower layers is deleted.
    Whiteout(&'a [u8]),
    /// `.wh..wh.*` other than the opaque marker: aufs bookkeeping (`.wh..wh.plnk`,
    /// `.wh..wh.aufs`), ignored as Docker ignores it.
    AufsMeta,
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";
const AUFS_META_PREFIX: &[u8] = b".wh..wh.";

/// Classifies a last component; a whiteout of `` `.` `..` is refused.
pub(super) fn special(name: &[u8]) -> Result<Special<'_>, Refusal> {
    if name == OPAQUE {
        return Ok(Special::Opaque);
    }
    if name.starts_with(AUFS_META_PREFIX) {
        return Ok(Special::AufsMeta);
    }
    match name.strip_prefix(WHITEOUT_PREFIX) {
        None => Ok(Special::None),
        Some(b"" | b"." | b"..") => Err(Refusal::InvalidWhiteout),
        Some(target) => Ok(Special::Whiteout(target)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<String, UnpackError> {
        EntryPath::parse(raw.as_bytes(), &Limits::default()).map(|p| String::from_utf8(p.0).unwrap())
    }

    #[test]
    fn leading_slashes_and_dots_are_dropped() {
        assert_eq!(parse("./a/b").unwrap(), "a/b");
        assert_eq!(parse("/a//./b/").unwrap(), "a/b");
        assert_eq!(parse("///").unwrap(), "");
        assert_eq!(parse("./").unwrap(), "");
    }

    #[test]
    fn every_parent_component_is_refused() {
        for raw in ["../x", "a/../../x", "a/../b", "/..", "a/.."] {
            assert!(
                matches!(
                    parse(raw),
                    Err(UnpackError::Refused {
                        reason: Refusal::ParentDirectory,
                        ..
                    })
                ),
                "{raw}"
            );
        }
    }

    #[test]
    fn empty_and_nul_names_are_refused() {
        assert!(matches!(
            parse(""),
            Err(UnpackError::Refused {
                reason: Refusal::EmptyName,
                ..
            })
        ));
        assert!(matches!(
            parse("a\0b"),
            Err(UnpackError::Refused {
                reason: Refusal::NulByte,
                ..
            })
        ));
    }

    #[test]
    fn long_components_and_paths_are_limits() {
        let limits = Limits {
            max_name_len: 3,
            max_path_len: 7,
            ..Limits::default()
        };
        let kind = |raw: &str| match EntryPath::parse(raw.as_bytes(), &limits) {
            Err(UnpackError::Limit(e)) => Some(e.kind),
            _ => None,
        };
        assert_eq!(kind("abcd"), Some(LimitKind::NameLength));
        assert_eq!(kind("abc/abc/a"), Some(LimitKind::PathLength));
        assert_eq!(kind("abc/abc"), None);
    }

    #[test]
    fn split_last_gives_parent_and_name() {
        let p = EntryPath::parse(b"a/b/c", &Limits::default()).unwrap();
        let (parent, name) = p.split_last().unwrap();
        assert_eq!((parent.as_bytes(), name), (&b"a/b"[..], &b"c"[..]));
        let p = EntryPath::parse(b"c", &Limits::default()).unwrap();
        assert_eq!(p.split_last().unwrap().0, EntryPath::root());
        assert!(EntryPath::root().split_last().is_none());
    }

    #[test]
    fn whiteouts_are_classified() {
        assert_eq!(special(b".wh..wh..opq"), Ok(Special::Opaque));
        assert_eq!(special(b".wh.x"), Ok(Special::Whiteout(b"x")));
        assert_eq!(special(b".wh..wh.plnk"), Ok(Special::AufsMeta));
        assert_eq!(special(b"x.wh.y"), Ok(Special::None));
        for bad in [&b".wh."[..], b".wh..", b".wh..."] {
            assert_eq!(special(bad), Err(Refusal::InvalidWhiteout));
        }
    }
}
