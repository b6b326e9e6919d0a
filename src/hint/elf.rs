//! The interpreter a program names: an ELF file's `PT_INTERP` (its dynamic loader) or a
//! script's `#!` line, read as the kernel reads them (`fs/binfmt_elf.c`, `fs/binfmt_script.c`).
//!
//! The file may come from a hostile rootfs: every read is positioned and bounded (the first
//! 256 bytes, at most 4 KiB of program headers, an interpreter path of at most `PATH_MAX`),
//! every offset checked, and anything the kernel would refuse gives `None`.

use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// How a program names its interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InterpreterKind {
    /// An ELF program's dynamic loader (its `PT_INTERP` header), e.g.
    /// `/lib64/ld-linux-x86-64.so.2`.
    Elf,
    /// A script's `#!` line.
    Script,
}

/// What the kernel reads first: `BINPRM_BUF_SIZE`.
const HEAD: usize = 256;
/// The most program-header bytes the kernel reads (`ELF_MIN_ALIGN`, one page).
const MAX_PHDRS: usize = 4096;
/// `PATH_MAX`, with its NUL.
const MAX_INTERP: u64 = 4096;
const PT_INTERP: u32 = 3;

/// The interpreter `file` names, if it is an ELF program with one or a `#!` script.
pub(crate) fn interpreter(file: &File) -> Option<(PathBuf, InterpreterKind)> {
    let mut head = [0u8; HEAD];
    let len = read_at_most(file, &mut head, 0)?;
    let head = &head[..len];
    if let Some(line) = head.strip_prefix(b"#!") {
        return script(line).map(|path| (path, InterpreterKind::Script));
    }
    elf_interp(file, head).map(|path| (path, InterpreterKind::Elf))
}

/// `#!` then optional blanks, the interpreter up to the next blank or the line's end.
fn script(line: &[u8]) -> Option<PathBuf> {
    let line = line.split(|&b| b == b'\n').next()?;
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    let rest = &line[start..];
    let end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\t' || b == 0)
        .unwrap_or(rest.len());
    let path = &rest[..end];
    (!path.is_empty()).then(|| PathBuf::from(std::ffi::OsStr::from_bytes(path)))
}

/// The `PT_INTERP` path of an ELF file whose first bytes are `head`, of either class and
/// byte order.
fn elf_interp(file: &File, head: &[u8]) -> Option<PathBuf> {
    if head.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match head.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = match head.get(5)? {
        1 => true,
        2 => false,
        _ => return None,
    };
    let field = |bytes: &[u8], at: usize, size: usize| -> Option<u64> {
        let raw = bytes.get(at..at.checked_add(size)?)?;
        let mut value = 0u64;
        for i in 0..size {
            let byte = if little { raw[size - 1 - i] } else { raw[i] };
            value = (value << 8) | u64::from(byte);
        }
        Some(value)
    };
    // (e_phoff, e_phentsize, e_phnum) and, per header, (p_type, p_offset, p_filesz).
    let (phoff, phentsize, phnum) = match wide {
        true => (field(head, 0x20, 8)?, field(head, 0x36, 2)?, field(head, 0x38, 2)?),
        false => (field(head, 0x1c, 4)?, field(head, 0x2a, 2)?, field(head, 0x2c, 2)?),
    };
    let (min_entry, offset_at, filesz_at, word) = match wide {
        true => (56, 8, 0x20, 8),
        false => (32, 4, 0x10, 4),
    };
    let (phentsize, phnum) = (usize::try_from(phentsize).ok()?, usize::try_from(phnum).ok()?);
    let total = phentsize.checked_mul(phnum)?;
    if phentsize < min_entry || total == 0 || total > MAX_PHDRS {
        return None;
    }
    let mut phdrs = vec![0u8; total];
    if read_at_most(file, &mut phdrs, phoff)? != total {
        return None;
    }
    let interp = phdrs
        .chunks_exact(phentsize)
        .find(|h| field(h, 0, 4) == Some(u64::from(PT_INTERP)))?;
    let (offset, size) = (field(interp, offset_at, word)?, field(interp, filesz_at, word)?);
    // As the kernel: at least one byte and a NUL, at most PATH_MAX, NUL-terminated.
    if !(2..=MAX_INTERP).contains(&size) {
        return None;
    }
    let mut path = vec![0u8; size as usize];
    if read_at_most(file, &mut path, offset)? != path.len() || path.pop() != Some(0) {
        return None;
    }
    let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    path.truncate(end);
    (!path.is_empty()).then(|| PathBuf::from(std::ffi::OsString::from_vec(path)))
}

/// Reads up to `buf.len()` bytes at `offset` (fewer only at the end of the file).
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> Option<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], offset.checked_add(got as u64)?) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        f
    }

    /// A minimal little-endian ELF64 with one PT_INTERP header naming `interp`.
    fn elf64(interp: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56];
        b[..4].copy_from_slice(b"\x7fELF");
        (b[4], b[5]) = (2, 1);
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&1u16.to_le_bytes());
        b[64..68].copy_from_slice(&PT_INTERP.to_le_bytes());
        b[64 + 8..64 + 16].copy_from_slice(&120u64.to_le_bytes());
        b[64 + 0x20..64 + 0x28].copy_from_slice(&(interp.len() as u64).to_le_bytes());
        b.extend_from_slice(interp);
        b
    }

    #[test]
    fn elf_interpreter_is_read() {
        let f = file_with(&elf64(b"/lib64/ld-linux-x86-64.so.2\0"));
        assert_eq!(
            interpreter(&f),
            Some(("/lib64/ld-linux-x86-64.so.2".into(), InterpreterKind::Elf))
        );
    }

    #[test]
    fn this_test_binary_or_a_system_one_parses() {
        // Dynamic on Debian: /bin/true names its loader.
        if let Ok(f) = File::open("/bin/true")
            && let Some((path, kind)) = interpreter(&f)
        {
            assert_eq!(kind, InterpreterKind::Elf);
            assert!(path.is_absolute(), "{path:?}");
        }
    }

    #[test]
    fn hostile_elf_headers_give_nothing() {
        // No NUL at the end, an offset past the end, a huge size, a huge header count.
        assert_eq!(interpreter(&file_with(&elf64(b"/lib/ld.so"))), None);
        let mut far = elf64(b"/x\0");
        far[64 + 8..64 + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(interpreter(&file_with(&far)), None);
        let mut huge = elf64(b"/x\0");
        huge[64 + 0x20..64 + 0x28].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(interpreter(&file_with(&huge)), None);
        let mut many = elf64(b"/x\0");
        many[0x38..0x3a].copy_from_slice(&u16::MAX.to_le_bytes());
        assert_eq!(interpreter(&file_with(&many)), None);
        assert_eq!(interpreter(&file_with(b"\x7fELF")), None);
        assert_eq!(interpreter(&file_with(b"")), None);
    }

    #[test]
    fn script_interpreter_is_the_first_word() {
        let f = |s: &[u8]| interpreter(&file_with(s)).map(|(p, _)| p);
        assert_eq!(f(b"#!/bin/sh\necho"), Some("/bin/sh".into()));
        assert_eq!(f(b"#! \t/usr/bin/env python3 -u\n"), Some("/usr/bin/env".into()));
        assert_eq!(f(b"#!\n"), None);
        assert_eq!(f(b"#!/no/newline"), Some("/no/newline".into()));
    }
}
