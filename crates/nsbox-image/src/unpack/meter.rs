//! A byte budget on the tar stream. The `tar` crate reads PAX records and GNU long names whole
//! into memory while it looks for the next entry: a header claiming a 1 TiB PAX record would
//! make it allocate as much as the stream holds. Between entries the reader is allowed only
//! [`MAX_ENTRY_METADATA`](super::MAX_ENTRY_METADATA) bytes; entry bodies are bounded by the
//! header sizes the unpacker checked first.

use std::cell::Cell;
use std::io::{self, Read};

/// Shared between the unpacker (which sets the budget) and the reader the archive owns.
#[derive(Debug, Default)]
pub(super) struct Meter {
    read: Cell<u64>,
    until: Cell<u64>,
    exceeded: Cell<bool>,
}

impl Meter {
    pub fn new() -> Self {
        Self {
            until: Cell::new(u64::MAX),
            ..Self::default()
        }
    }

    /// From now on at most `bytes` more may be read.
    pub fn allow(&self, bytes: u64) {
        self.until.set(self.read.get().saturating_add(bytes));
    }

    /// Whether a read failed because the budget ran out.
    pub fn exceeded(&self) -> bool {
        self.exceeded.get()
    }
}

/// `inner`, counted against `meter`.
pub(super) struct Metered<'m, R> {
    pub inner: R,
    pub meter: &'m Meter,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.meter.until.get().saturating_sub(self.meter.read.get());
        if left == 0 && !buf.is_empty() {
            self.meter.exceeded.set(true);
            return Err(io::Error::other("the layer's metadata budget is spent"));
        }
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.meter.read.set(self.meter.read.get() + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_budget() {
        let meter = Meter::new();
        let mut r = Metered {
            inner: &[7u8; 100][..],
            meter: &meter,
        };
        meter.allow(10);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        assert!(r.read(&mut buf).is_err());
        assert!(meter.exceeded());
        meter.allow(u64::MAX);
        assert_eq!(r.read(&mut buf).unwrap(), 64);
    }
}
