//! A read budget on an archive being scanned. The `tar` crate reads GNU long names, long link
//! names and PAX records whole into memory while it looks for the next entry: a header
//! claiming a 64 MiB long name would make it allocate as much as the archive holds. Between
//! entries the scan may read only [`MAX_ENTRY_METADATA`](crate::unpack::MAX_ENTRY_METADATA)
//! bytes, as the unpacker allows its own reader; bodies are skipped by seeking, not read.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};

/// Shared between the scan (which sets the budget) and the reader the archive owns.
#[derive(Debug)]
pub(super) struct Budget {
    read: Cell<u64>,
    until: Cell<u64>,
    exceeded: Cell<bool>,
}

impl Budget {
    pub fn new() -> Self {
        Self {
            read: Cell::new(0),
            until: Cell::new(u64::MAX),
            exceeded: Cell::new(false),
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

/// `inner`, its reads counted against `budget`; seeks are free.
pub(super) struct Budgeted<'b, R> {
    pub inner: R,
    pub budget: &'b Budget,
}

impl<R: Read> Read for Budgeted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.until.get().saturating_sub(self.budget.read.get());
        if left == 0 && !buf.is_empty() {
            self.budget.exceeded.set(true);
            return Err(io::Error::other("the archive's metadata budget is spent"));
        }
        let take = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..take])?;
        self.budget.read.set(self.budget.read.get() + n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for Budgeted<'_, R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stop_at_the_budget_and_seeks_are_free() {
        let budget = Budget::new();
        let mut r = Budgeted {
            inner: io::Cursor::new([7u8; 100]),
            budget: &budget,
        };
        budget.allow(10);
        let mut buf = [0u8; 64];
        assert_eq!(r.read(&mut buf).unwrap(), 10);
        r.seek(SeekFrom::Start(0)).unwrap();
        assert!(r.read(&mut buf).is_err());
        assert!(budget.exceeded());
        budget.allow(u64::MAX);
        assert_eq!(r.read(&mut buf).unwrap(), 64);
    }
}
