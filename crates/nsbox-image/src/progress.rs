//! Progress of an import, reported through a callback so a command line can draw a bar.

/// How far an import is. Bytes count the layer blobs as stored (compressed) across all layers;
/// layers already in the store count as done at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Progress {
    /// Bytes of layer blobs read (or found already stored) so far.
    pub bytes_done: u64,
    /// Bytes of all the image's layer blobs.
    pub bytes_total: u64,
    /// Layers stored and unpacked so far.
    pub layers_done: usize,
    /// Layers of the image.
    pub layers_total: usize,
}

/// Reports progress no more often than every `STEP` bytes, and always at layer boundaries.
pub(crate) struct Reporter<'a> {
    callback: &'a mut dyn FnMut(Progress),
    pub(crate) state: Progress,
    last_reported: u64,
}

const STEP: u64 = 256 * 1024;

impl<'a> Reporter<'a> {
    pub(crate) fn new(callback: &'a mut dyn FnMut(Progress), bytes_total: u64, layers_total: usize) -> Self {
        let state = Progress {
            bytes_done: 0,
            bytes_total,
            layers_done: 0,
            layers_total,
        };
        Self {
            callback,
            state,
            last_reported: 0,
        }
    }

    pub(crate) fn report(&mut self) {
        self.last_reported = self.state.bytes_done;
        (self.callback)(self.state);
    }

    pub(crate) fn add_bytes(&mut self, n: u64) {
        self.state.bytes_done += n;
        if self.state.bytes_done - self.last_reported >= STEP {
            self.report();
        }
    }

    /// One more layer done; its bytes are set to the full `size` whatever was counted.
    pub(crate) fn layer_done(&mut self, bytes_before: u64, size: u64) {
        self.state.bytes_done = bytes_before + size;
        self.state.layers_done += 1;
        self.report();
    }
}

/// A reader that reports the bytes it passes on.
pub(crate) struct CountingReader<'r, 'a, R> {
    pub(crate) inner: R,
    pub(crate) reporter: &'r mut Reporter<'a>,
}

impl<R: std::io::Read> std::io::Read for CountingReader<'_, '_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.reporter.add_bytes(n as u64);
        Ok(n)
    }
}
