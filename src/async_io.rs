//! Containers in tokio programs (feature `tokio`): waits that park no thread, output collected
//! concurrently, and stdio handles implementing tokio's `AsyncRead`/`AsyncWrite`.
//!
//! A wait registers the container's pidfd with tokio's reactor (a pidfd becomes readable when
//! its process exits) and reaps only once it is ready, so every future here is cancel-safe:
//! dropped before it completes, it leaves the container as it was. Spawning itself stays a
//! short blocking call (a few milliseconds); since a container lives as long as the process,
//! not the thread that spawned it, it may be spawned from any runtime or `spawn_blocking`
//! thread.
//!
//! ```no_run
//! # async fn run() -> nsbox::Result<()> {
//! let out = nsbox::Container::builder()
//!     .command("/bin/echo").arg("hi")
//!     .output_async()
//!     .await?;
//! assert_eq!(out.stdout, b"hi\n");
//! # Ok(())
//! # }
//! ```

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, Interest};
use tokio::net::unix::pipe;

use crate::capture::Captured;
use crate::error::{Error, Result};
use crate::status::{ExitStatus, Output};
use crate::stdio::{ChildStderr, ChildStdin, ChildStdout, Stdio};
use crate::{Container, ContainerBuilder, Signal};

impl Container {
    /// [`wait`](Container::wait) without blocking a thread. Cancel-safe.
    pub async fn wait_async(&mut self) -> Result<ExitStatus> {
        self.close_stdin();
        // SAFETY: the AsyncFd owns the duplicate pidfd, open and the same for its whole life.
        let pidfd = unsafe { AsyncFd::register_with_interest(self.owned_pidfd()?, Interest::READABLE) }
            .map_err(|e| Error::io("register the container's pidfd with tokio", e.into_parts().1))?;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(status);
            }
            let mut ready = pidfd
                .readable()
                .await
                .map_err(|e| Error::io("wait for the container's pidfd", e))?;
            ready.clear_ready();
        }
    }

    /// [`wait_timeout`](Container::wait_timeout) without blocking a thread: `None` if the
    /// payload still runs after `timeout`. Cancel-safe.
    pub async fn wait_timeout_async(&mut self, timeout: Duration) -> Result<Option<ExitStatus>> {
        match tokio::time::timeout(timeout, self.wait_async()).await {
            Ok(status) => status.map(Some),
            Err(_elapsed) => Ok(None),
        }
    }

    /// [`stop`](Container::stop) without blocking a thread.
    pub async fn stop_async(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.kill(Signal::SIGTERM)?;
        if let Some(status) = self.wait_timeout_async(timeout).await? {
            return Ok(status);
        }
        self.kill(Signal::SIGKILL)?;
        self.wait_async().await
    }

    /// [`wait_with_output`](Container::wait_with_output) without blocking a thread: stdout
    /// and stderr are read concurrently, each up to the output limit.
    pub async fn wait_with_output_async(mut self) -> Result<Output> {
        self.close_stdin();
        let limit = self.output_limit();
        let (out, err) = (self.take_stdout(), self.take_stderr());
        let read = |e: io::Error| Error::io("read the container's output", e);
        let (out, err) = tokio::try_join!(
            collect(out.map(OwnedFd::from), limit),
            collect(err.map(OwnedFd::from), limit)
        )
        .map_err(read)?;
        let status = self.wait_async().await?;
        Ok(Output {
            status,
            stdout: out.bytes,
            stderr: err.bytes,
            stdout_truncated: out.truncated,
            stderr_truncated: err.truncated,
        })
    }
}

impl ContainerBuilder {
    /// [`output`](ContainerBuilder::output) for tokio programs: spawns (a short blocking call),
    /// then collects the output and waits without blocking a thread.
    pub async fn output_async(&mut self) -> Result<Output> {
        let mut config = self.build()?;
        config.stdin.get_or_insert_with(Stdio::null);
        config.stdout.get_or_insert_with(Stdio::piped);
        config.stderr.get_or_insert_with(Stdio::piped);
        config.spawn()?.wait_with_output_async().await
    }
}

impl ChildStdin {
    /// This pipe end as a tokio `AsyncWrite` (made non-blocking).
    pub fn into_async(self) -> io::Result<pipe::Sender> {
        pipe::Sender::from_owned_fd(self.into())
    }
}

impl ChildStdout {
    /// This pipe end as a tokio `AsyncRead` (made non-blocking).
    pub fn into_async(self) -> io::Result<pipe::Receiver> {
        pipe::Receiver::from_owned_fd(self.into())
    }
}

impl ChildStderr {
    /// This pipe end as a tokio `AsyncRead` (made non-blocking).
    pub fn into_async(self) -> io::Result<pipe::Receiver> {
        pipe::Receiver::from_owned_fd(self.into())
    }
}

/// Reads `pipe` (if any) to EOF, keeping at most `limit` bytes; the rest is read and
/// discarded, so the payload never blocks.
async fn collect(pipe: Option<OwnedFd>, limit: Option<u64>) -> io::Result<Captured> {
    let mut kept = Captured::default();
    let Some(fd) = pipe else { return Ok(kept) };
    let mut reader = pipe::Receiver::from_owned_fd(fd)?;
    let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = read_some(&mut reader, &mut chunk).await?;
        if n == 0 {
            return Ok(kept);
        }
        let room = limit.saturating_sub(kept.bytes.len());
        kept.bytes.extend_from_slice(&chunk[..n.min(room)]);
        kept.truncated |= n > room;
    }
}

async fn read_some<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    reader.read(buf).await
}

impl Container {
    fn owned_pidfd(&self) -> Result<OwnedFd> {
        self.pidfd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::io("duplicate the pidfd", e))
    }
}
