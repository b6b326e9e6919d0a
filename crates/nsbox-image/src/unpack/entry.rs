//! One tar entry read into plain, validated data: its normalised name, kind, owner, mode, mtime
//! and xattrs. The body stays in the `tar::Entry` for the caller to read.

use std::ffi::{CString, OsStr};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use tar::EntryType;

use super::error::{Exceeded, LimitKind, Refusal};
use super::name::EntryPath;
use super::{Limits, UnpackError};

/// What an entry creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Kind {
    File,
    Directory,
    Symlink(CString),
    HardLink(EntryPath),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// A PAX global header: its records are ignored, as Docker ignores them.
    GlobalHeader,
}

/// Seconds and nanoseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Mtime {
    pub seconds: i64,
    pub nanoseconds: i64,
}

/// An entry's metadata, validated.
#[derive(Debug)]
pub(super) struct Header {
    pub path: EntryPath,
    pub kind: Kind,
    /// Permission bits, setuid/setgid/sticky included (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: Mtime,
    /// `SCHILY.xattr.*` PAX records, names checked for NUL.
    pub xattrs: Vec<(CString, Vec<u8>)>,
    /// The body's size (a sparse file's full size).
    pub size: u64,
}

const PAX_XATTR: &[u8] = b"SCHILY.xattr.";

/// Reads the header of `entry` (its name first, so that refusals name it).
pub(super) fn read_header<R: Read>(entry: &mut tar::Entry<'_, R>, limits: &Limits) -> Result<Header, UnpackError> {
    let raw_path = entry.path_bytes().into_owned();
    let path = EntryPath::parse(&raw_path, limits)?;
    let refuse = |reason| UnpackError::Refused {
        path: PathBuf::from(OsStr::from_bytes(&raw_path)),
        reason,
    };
    let header = entry.header();
    let old = header.as_old();
    let field = |value: std::io::Result<u64>, raw: &[u8], name| {
        number(value, raw).ok_or_else(|| refuse(Refusal::MalformedHeader(name)))
    };
    let kind = kind(entry, limits).map_err(|r| r.map_refusal(&raw_path))?;
    let mode = field(header.mode().map(u64::from), &old.mode, "mode")? as u32 & 0o7777;
    let uid = field(header.uid(), &old.uid, "uid")?;
    let gid = field(header.gid(), &old.gid, "gid")?;
    let owner = |id: u64| {
        u32::try_from(id)
            .ok()
            .filter(|&id| id != u32::MAX)
            .ok_or_else(|| refuse(Refusal::Owner(id)))
    };
    let (uid, gid) = (owner(uid)?, owner(gid)?);
    let header_mtime = field(header.mtime(), &old.mtime, "mtime")?;
    let mut mtime = Mtime {
        seconds: i64::try_from(header_mtime).unwrap_or(i64::MAX),
        nanoseconds: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(records) = entry
        .pax_extensions()
        .map_err(|_| refuse(Refusal::MalformedHeader("pax")))?
    {
        for record in records {
            let record = record.map_err(|_| refuse(Refusal::MalformedHeader("pax")))?;
            if let Some(name) = record.key_bytes().strip_prefix(PAX_XATTR) {
                let name = CString::new(name).map_err(|_| refuse(Refusal::NulByte))?;
                xattrs.push((name, record.value_bytes().to_vec()));
            } else if record.key_bytes() == b"mtime" {
                mtime =
                    parse_pax_time(record.value_bytes()).ok_or_else(|| refuse(Refusal::MalformedHeader("mtime")))?;
            }
        }
    }
    Ok(Header {
        path,
        kind,
        mode,
        uid,
        gid,
        mtime,
        xattrs,
        size: entry.size(),
    })
}

/// A refusal before the entry's name is known to the caller of [`kind`].
enum KindError {
    Refused(Refusal),
    Limit(Exceeded),
    Other(UnpackError),
}

impl KindError {
    fn map_refusal(self, raw_path: &[u8]) -> UnpackError {
        match self {
            Self::Refused(reason) => UnpackError::Refused {
                path: PathBuf::from(OsStr::from_bytes(raw_path)),
                reason,
            },
            Self::Limit(e) => UnpackError::Limit(e),
            Self::Other(e) => e,
        }
    }
}

fn kind<R: Read>(entry: &tar::Entry<'_, R>, limits: &Limits) -> Result<Kind, KindError> {
    let header = entry.header();
    let device = || -> Result<(u32, u32), KindError> {
        let bad = |_| KindError::Refused(Refusal::MalformedHeader("device"));
        let raw = (header.as_ustar().map(|u| (u.dev_major, u.dev_minor)))
            .or_else(|| header.as_gnu().map(|g| (g.dev_major, g.dev_minor)));
        let Some((raw_major, raw_minor)) = raw else {
            return Ok((0, 0));
        };
        let parsed = |v: std::io::Result<Option<u32>>| v.map(|n| u64::from(n.unwrap_or(0)));
        let major = number(parsed(header.device_major()), &raw_major).ok_or_else(|| bad(()))?;
        let minor = number(parsed(header.device_minor()), &raw_minor).ok_or_else(|| bad(()))?;
        Ok((
            u32::try_from(major).map_err(|_| bad(()))?,
            u32::try_from(minor).map_err(|_| bad(()))?,
        ))
    };
    let link = || -> Result<Vec<u8>, KindError> {
        let target = entry.link_name_bytes().map(|t| t.into_owned()).unwrap_or_default();
        if target.is_empty() {
            return Err(KindError::Refused(Refusal::EmptyName));
        }
        if target.len() > limits.max_path_len {
            return Err(KindError::Limit(Exceeded {
                kind: LimitKind::PathLength,
                bound: limits.max_path_len as u64,
            }));
        }
        Ok(target)
    };
    Ok(match header.entry_type() {
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => Kind::File,
        EntryType::Directory => Kind::Directory,
        EntryType::Symlink => Kind::Symlink(CString::new(link()?).map_err(|_| KindError::Refused(Refusal::NulByte))?),
        EntryType::Link => Kind::HardLink(EntryPath::parse(&link()?, limits).map_err(KindError::Other)?),
        EntryType::Char => {
            let (major, minor) = device()?;
            Kind::CharDevice { major, minor }
        }
        EntryType::Block => {
            let (major, minor) = device()?;
            Kind::BlockDevice { major, minor }
        }
        EntryType::Fifo => Kind::Fifo,
        EntryType::XGlobalHeader => Kind::GlobalHeader,
        other => return Err(KindError::Refused(Refusal::UnsupportedType(other.as_byte()))),
    })
}

/// A numeric header field; an empty one (all NUL or spaces) is 0, as Go's archive/tar (Docker)
/// reads it.
fn number(parsed: std::io::Result<u64>, raw: &[u8]) -> Option<u64> {
    match parsed {
        Ok(n) => Some(n),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Some(0),
        Err(_) => None,
    }
}

/// A PAX time: `[-]seconds[.fraction]` (fraction to nanoseconds, extra digits dropped).
fn parse_pax_time(value: &[u8]) -> Option<Mtime> {
    let text = std::str::from_utf8(value).ok()?;
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i64 = whole.parse().unwrap_or(i64::MAX);
    let digits = &fraction[..fraction.len().min(9)];
    let nanoseconds = if digits.is_empty() {
        0
    } else {
        digits.parse::<i64>().ok()? * 10i64.pow(9 - digits.len() as u32)
    };
    Some(if negative && (seconds, nanoseconds) != (0, 0) {
        // -1.25 is 1.25 s before the epoch: seconds -2, nanoseconds 0.75e9.
        if nanoseconds == 0 {
            Mtime {
                seconds: -seconds,
                nanoseconds: 0,
            }
        } else {
            Mtime {
                seconds: -seconds - 1,
                nanoseconds: 1_000_000_000 - nanoseconds,
            }
        }
    } else {
        Mtime { seconds, nanoseconds }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_times_parse_with_fractions_and_signs() {
        let t = |s: &str| parse_pax_time(s.as_bytes()).map(|m| (m.seconds, m.nanoseconds));
        assert_eq!(t("1700000000"), Some((1_700_000_000, 0)));
        assert_eq!(t("1700000000.5"), Some((1_700_000_000, 500_000_000)));
        assert_eq!(t("1.1234567891"), Some((1, 123_456_789)));
        assert_eq!(t("-1.25"), Some((-2, 750_000_000)));
        assert_eq!(t("-3"), Some((-3, 0)));
        assert_eq!(t("x"), None);
        assert_eq!(t(""), None);
        assert_eq!(t("1.2.3"), None);
    }
}
