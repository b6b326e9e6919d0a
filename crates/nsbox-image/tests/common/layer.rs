//! Layer archives built in memory. Ordinary entries go through `tar::Builder`; hostile names
//! (`..`, absolute, NUL) are written into the header bytes by hand, since the builder refuses
//! them, and `Builder::append` writes a header verbatim.

use tar::{EntryType, Header};

pub struct Layer {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for Layer {
    fn default() -> Self {
        Self::new()
    }
}

/// A header with every numeric field set (mode 0644, ids 0, mtime 1_000_000_000).
pub fn header(kind: EntryType, size: u64) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == EntryType::Directory { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_000_000_000);
    h.set_device_major(0).unwrap();
    h.set_device_minor(0).unwrap();
    h
}

/// Writes `name` (any bytes, up to 100) into the header's name field, as a hostile writer would.
pub fn set_raw_name(h: &mut Header, name: &[u8]) {
    let field = &mut h.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name);
}

pub fn set_raw_link(h: &mut Header, target: &[u8]) {
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    field[..target.len()].copy_from_slice(target);
}

impl Layer {
    pub fn new() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// An entry with a raw name (and link target), body `data`; `edit` adjusts the header.
    pub fn raw(
        mut self,
        kind: EntryType,
        name: &[u8],
        link: &[u8],
        data: &[u8],
        edit: impl FnOnce(&mut Header),
    ) -> Self {
        let mut h = header(kind, data.len() as u64);
        set_raw_name(&mut h, name);
        set_raw_link(&mut h, link);
        edit(&mut h);
        h.set_cksum();
        self.builder.append(&h, data).unwrap();
        self
    }

    pub fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(EntryType::Regular, name.as_bytes(), b"", data, |_| {})
    }

    pub fn file_with(self, name: &str, data: &[u8], edit: impl FnOnce(&mut Header)) -> Self {
        self.raw(EntryType::Regular, name.as_bytes(), b"", data, edit)
    }

    pub fn dir(self, name: &str) -> Self {
        self.raw(EntryType::Directory, name.as_bytes(), b"", b"", |_| {})
    }

    pub fn dir_with(self, name: &str, edit: impl FnOnce(&mut Header)) -> Self {
        self.raw(EntryType::Directory, name.as_bytes(), b"", b"", edit)
    }

    pub fn symlink(self, name: &str, target: &str) -> Self {
        self.raw(EntryType::Symlink, name.as_bytes(), target.as_bytes(), b"", |_| {})
    }

    pub fn hard_link(self, name: &str, target: &str) -> Self {
        self.raw(EntryType::Link, name.as_bytes(), target.as_bytes(), b"", |_| {})
    }

    pub fn device(self, name: &str, kind: EntryType, major: u32, minor: u32) -> Self {
        self.raw(kind, name.as_bytes(), b"", b"", |h| {
            h.set_device_major(major).unwrap();
            h.set_device_minor(minor).unwrap();
        })
    }

    /// A PAX extended header (`x`) with `records`, describing the next entry.
    pub fn pax(mut self, records: &[(&str, &[u8])]) -> Self {
        self.builder
            .append_pax_extensions(records.iter().map(|(k, v)| (*k, *v)))
            .unwrap();
        self
    }

    /// Raw bytes appended as they are (a smuggled header, garbage).
    pub fn bytes(mut self, bytes: &[u8]) -> Self {
        self.builder.get_mut().extend_from_slice(bytes);
        self
    }

    pub fn finish(self) -> Vec<u8> {
        self.builder.into_inner().unwrap()
    }
}

/// One PAX record, `"<len> key=value\n"`, its length counting itself.
pub fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + 1;
    while len.to_string().len() + rest != len {
        len += 1;
    }
    let mut out = format!("{len} {key}=").into_bytes();
    out.extend_from_slice(value);
    out.push(b'\n');
    out
}
