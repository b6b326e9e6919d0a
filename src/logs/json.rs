//! The one JSON shape of a log line, written and read by hand (the library has no JSON
//! dependency): `{"log":"text\n","stream":"stdout","time":"2026-12-05T20:55:54.123456789Z"}`.
//!
//! Writing escapes what JSON requires (`"`, `\`, control characters) and replaces bytes that
//! are not UTF-8 with U+FFFD, as Docker's driver (Go's `encoding/json`) does. Reading accepts
//! any JSON object whose `log`, `stream` and `time` members are strings, members in any
//! order, unknown members skipped (Docker's `attrs`), every JSON string escape.

use std::time::SystemTime;

use super::{LogEntry, Stream};

/// Appends the JSON line (with its `\n`) for `bytes` read from `stream` at `time`.
pub(crate) fn encode(stream: Stream, time: SystemTime, bytes: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"log\":\"");
    for chunk in bytes.utf8_chunks() {
        escape(chunk.valid(), out);
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.extend_from_slice(b"\",\"stream\":\"");
    out.extend_from_slice(stream.name().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    super::time::format(time, out);
    out.extend_from_slice(b"\"}\n");
}

fn escape(text: &str, out: &mut Vec<u8>) {
    let bytes = text.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        // The run of bytes that need no escape, copied at once.
        out.extend_from_slice(&bytes[plain..i]);
        plain = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    out.extend_from_slice(&bytes[plain..]);
}

/// Parses one line (without its `\n`); `None` if it is not a log entry.
pub(crate) fn decode(line: &[u8]) -> Option<LogEntry> {
    let mut p = Parser { text: line, at: 0 };
    let (mut log, mut stream, mut time) = (None, None, None);
    p.expect(b'{')?;
    if !p.eat(b'}') {
        loop {
            let key = p.string()?;
            p.expect(b':')?;
            match key.as_slice() {
                b"log" => log = Some(p.string()?),
                b"stream" => stream = Some(p.string()?),
                b"time" => time = Some(p.string()?),
                _ => p.skip_value(0)?,
            }
            if p.eat(b'}') {
                break;
            }
            p.expect(b',')?;
        }
    }
    p.ws();
    if p.at != line.len() {
        return None;
    }
    Some(LogEntry {
        stream: Stream::from_name(&stream?)?,
        time: super::time::parse(&time?)?,
        bytes: log?,
    })
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.text.get(self.at).is_some_and(|b| b" \t\r\n".contains(b)) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.text.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        self.at += 4;
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    }

    /// A JSON string, decoded to UTF-8 bytes.
    fn string(&mut self) -> Option<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let b = *self.text.get(self.at)?;
            self.at += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    let e = *self.text.get(self.at)?;
                    self.at += 1;
                    let simple = match e {
                        b'"' | b'\\' | b'/' => Some(e),
                        b'n' => Some(b'\n'),
                        b'r' => Some(b'\r'),
                        b't' => Some(b'\t'),
                        b'b' => Some(8),
                        b'f' => Some(12),
                        b'u' => None,
                        _ => return None,
                    };
                    if let Some(c) = simple {
                        out.push(c);
                        continue;
                    }
                    let mut code = self.hex4()?;
                    if (0xd800..0xdc00).contains(&code) && self.text.get(self.at..self.at + 2) == Some(b"\\u") {
                        let back = self.at;
                        self.at += 2;
                        match self.hex4()? {
                            low @ 0xdc00..0xe000 => code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00),
                            _ => self.at = back,
                        }
                    }
                    let c = char::from_u32(code).unwrap_or('\u{fffd}');
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => out.push(b),
            }
        }
    }

    /// Skips any JSON value (nested at most 32 deep).
    fn skip_value(&mut self, depth: u32) -> Option<()> {
        if depth > 32 {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            open @ (b'{' | b'[') => {
                self.at += 1;
                let close = if open == b'{' { b'}' } else { b']' };
                if self.eat(close) {
                    return Some(());
                }
                loop {
                    if open == b'{' {
                        self.string()?;
                        self.expect(b':')?;
                    }
                    self.skip_value(depth + 1)?;
                    if self.eat(close) {
                        return Some(());
                    }
                    self.expect(b',')?;
                }
            }
            _ => {
                let start = self.at;
                while self
                    .text
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
                {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn line(stream: Stream, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(
            stream,
            UNIX_EPOCH + Duration::new(1_796_504_154, 123_456_789),
            bytes,
            &mut out,
        );
        out
    }

    #[test]
    fn writes_dockers_shape() {
        assert_eq!(
            line(Stream::Stdout, b"hi \"there\"\n"),
            b"{\"log\":\"hi \\\"there\\\"\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-05T20:55:54.123456789Z\"}\n"
        );
        assert_eq!(
            line(Stream::Stderr, b"\x01\\\t"),
            b"{\"log\":\"\\u0001\\\\\\t\",\"stream\":\"stderr\",\"time\":\"2026-12-05T20:55:54.123456789Z\"}\n"
        );
    }

    #[test]
    fn round_trips_and_replaces_invalid_utf8() {
        let all: Vec<u8> = (0..=255u8).collect();
        for bytes in [
            &b"plain\n"[..],
            "h\u{e9}llo \u{1f600}\n".as_bytes(),
            b"a\xffb\xc3",
            &all,
        ] {
            let l = line(Stream::Stderr, bytes);
            assert!(std::str::from_utf8(&l).is_ok());
            let entry = decode(&l[..l.len() - 1]).unwrap();
            assert_eq!(entry.stream, Stream::Stderr);
            assert_eq!(entry.bytes, String::from_utf8_lossy(bytes).as_bytes());
            assert_eq!(entry.time, UNIX_EPOCH + Duration::new(1_796_504_154, 123_456_789));
        }
    }

    #[test]
    fn reads_other_writers_lines() {
        let docker = br#"{"log":"caf\u00e9 \ud83d\ude00\n","stream":"stdout","attrs":{"a":[1,true,null]},"time":"2026-12-05T20:55:54.1Z"}"#;
        let entry = decode(docker).unwrap();
        assert_eq!(entry.bytes, "caf\u{e9} \u{1f600}\n".as_bytes());
        let reordered = br#" { "time" : "2026-12-05T20:55:54Z" , "stream":"stderr", "log":"x" } "#;
        assert_eq!(decode(reordered).unwrap().bytes, b"x");
        for bad in [
            &br#"{"log":"x","stream":"stdin","time":"2026-12-05T20:55:54Z"}"#[..],
            b"{",
            b"",
            br#"{"log":"x"}"#,
        ] {
            assert!(decode(bad).is_none(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
