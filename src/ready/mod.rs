//! Readiness waits, the ones test fixtures reach for: until a port of the container accepts a
//! connection, until a line of its output matches, until a command run inside succeeds. Each
//! has a timeout, and ends at once if the container exits; a wait that fails says what it
//! waited for and what it saw last ([`ReadyError`](crate::ReadyError)).
//!
//! ```no_run
//! use std::time::Duration;
//! use nsbox::{Container, Port, Ready};
//! let mut web = Container::builder()
//!     .publish(Port::tcp(0, 80))
//!     .command("/bin/busybox").args(["httpd", "-f", "-p", "80"])
//!     .spawn()?;
//! web.wait_for(Ready::port(80).timeout(Duration::from_secs(30)))?;
//! # Ok::<(), nsbox::Error>(())
//! ```

mod exec;
mod output;
mod port;
mod replay;

use std::ffi::OsString;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use replay::{Seen, replay};

use crate::container::Container;
use crate::error::{NotReadyReason, ReadyError, Result};
use crate::logs::Stream;

/// Something to wait for, with its timeout; given to [`Container::wait_for`].
///
/// - [`port`](Self::port): a TCP port of the container accepts a connection. A published port
///   is tried from the host, through nsbox's forwarder, so a success means the whole path
///   works; a port that is not published is tried from a thread that joins the container's
///   network namespace (that needs `CAP_SYS_ADMIN`, as root has; otherwise publish the port
///   or wait with [`exec`](Self::exec)).
/// - [`output_contains`](Self::output_contains), [`output_matches`](Self::output_matches): a
///   line of stdout or stderr matches. With [`logs`](crate::ContainerBuilder::logs) the log
///   files are followed; otherwise the piped streams are read, and what the wait read stays
///   readable: [`take_stdout`](Container::take_stdout) and
///   [`wait_with_output`](Container::wait_with_output) still yield everything from the start.
/// - [`exec`](Self::exec): a command run in the container exits 0, tried again until then.
#[derive(Clone)]
pub struct Ready {
    kind: Kind,
    timeout: Duration,
    interval: Duration,
}

/// What an output wait asks of each line.
type LineMatcher = dyn Fn(&[u8]) -> bool + Send + Sync;

#[derive(Clone)]
enum Kind {
    Port(u16),
    Output {
        description: String,
        matches: Arc<LineMatcher>,
        stream: Option<Stream>,
    },
    Exec(Vec<OsString>),
}

impl Ready {
    /// The timeout unless [`timeout`](Self::timeout) says otherwise: 60 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
    /// The pause between tries of a port or a command unless [`interval`](Self::interval)
    /// says otherwise: 100 ms.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

    fn new(kind: Kind) -> Ready {
        Ready {
            kind,
            timeout: Self::DEFAULT_TIMEOUT,
            interval: Self::DEFAULT_INTERVAL,
        }
    }

    /// Until the container's TCP port `container_port` accepts a connection that is not
    /// closed or reset at once. A refused, reset or at once closed connection is "not yet".
    pub fn port(container_port: u16) -> Ready {
        Ready::new(Kind::Port(container_port))
    }

    /// Until a line of stdout or stderr contains `text` (bytes, compared as they are).
    pub fn output_contains(text: impl AsRef<[u8]>) -> Ready {
        let text = text.as_ref().to_vec();
        let description = format!("a line containing {:?}", String::from_utf8_lossy(&text));
        Ready::output_matches(description, move |line| {
            text.is_empty() || line.windows(text.len()).any(|w| w == text.as_slice())
        })
    }

    /// Until `matches` returns true for a line of stdout or stderr (without its `\n`; a line
    /// longer than [`MAX_LINE`](crate::logs::MAX_LINE) is offered in pieces of that size).
    /// `description` says what it looks for, in errors.
    pub fn output_matches(
        description: impl Into<String>,
        matches: impl Fn(&[u8]) -> bool + Send + Sync + 'static,
    ) -> Ready {
        Ready::new(Kind::Output {
            description: description.into(),
            matches: Arc::new(matches),
            stream: None,
        })
    }

    /// Until the command `argv` (the program, then its arguments), run in the container
    /// with [`Container::exec`], exits 0. Its stdio is null; the last status is what the
    /// error shows.
    pub fn exec<I, S>(argv: I) -> Ready
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        Ready::new(Kind::Exec(
            argv.into_iter().map(|a| a.as_ref().to_os_string()).collect(),
        ))
    }

    /// Only lines of `stream` count (output waits; ignored by the others).
    pub fn stream(mut self, stream: Stream) -> Self {
        if let Kind::Output { stream: s, .. } = &mut self.kind {
            *s = Some(stream);
        }
        self
    }

    /// How long to wait at most (default [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The pause between tries of a port or a command (default
    /// [`DEFAULT_INTERVAL`](Self::DEFAULT_INTERVAL)).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }
}

impl fmt::Display for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Port(port) => write!(f, "tcp port {port} to accept a connection"),
            Kind::Output {
                description, stream, ..
            } => {
                let on = stream.map_or("stdout or stderr", Stream::name);
                write!(f, "{description} on {on}")
            }
            Kind::Exec(argv) => write!(f, "{argv:?} to exit 0"),
        }
    }
}

impl fmt::Debug for Ready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ready")
            .field("awaited", &self.to_string())
            .field("timeout", &self.timeout)
            .field("interval", &self.interval)
            .finish()
    }
}

/// One wait in progress: its deadline and what it saw last.
pub(crate) struct Waiting {
    started: Instant,
    deadline: Instant,
    awaited: String,
    pub last_seen: Option<String>,
}

impl Waiting {
    fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    fn timed_out(&self) -> bool {
        self.left().is_zero()
    }

    /// The error that ends the wait.
    fn fail(&self, reason: NotReadyReason) -> crate::Error {
        ReadyError {
            awaited: self.awaited.clone(),
            reason,
            last_seen: self.last_seen.clone(),
            waited: self.started.elapsed(),
        }
        .into()
    }

    /// `text` as last seen, shortened to 200 characters.
    fn saw(&mut self, text: impl AsRef<[u8]>) {
        let text = String::from_utf8_lossy(text.as_ref());
        let mut shown: String = text.chars().take(200).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        self.last_seen = Some(shown);
    }

    /// Sleeps `interval`, or less if the deadline comes first.
    fn pause(&self, interval: Duration) {
        std::thread::sleep(interval.min(self.left()));
    }
}

/// The container's status if it has exited (reaping it, which also lets its log writer
/// finish), else `None`.
fn exited(container: &mut Container) -> Result<Option<crate::ExitStatus>> {
    match container.has_exited() {
        true => container.try_wait(),
        false => Ok(None),
    }
}

impl Container {
    /// Waits until `ready` holds (see [`Ready`]): `Ok` once it does, else
    /// [`Error::NotReady`](crate::Error::NotReady) with a [`ReadyError`] saying what was
    /// awaited, why the wait ended (the timeout, the container's exit with its status, or
    /// output that cannot be observed) and what was seen last.
    ///
    /// ```no_run
    /// use nsbox::{Container, Error, NotReadyReason, Ready, Stdio};
    /// use std::time::Duration;
    /// let mut c = Container::builder()
    ///     .command("/bin/sh").args(["-c", "echo starting; sleep 1; echo ready; sleep 60"])
    ///     .stdout(Stdio::piped())
    ///     .spawn()?;
    /// c.wait_for(Ready::output_contains("ready").timeout(Duration::from_secs(10)))?;
    /// match c.wait_for(Ready::exec(["/bin/false"]).timeout(Duration::from_secs(1))) {
    ///     Err(Error::NotReady(e)) => assert_eq!(e.reason, NotReadyReason::TimedOut),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), nsbox::Error>(())
    /// ```
    pub fn wait_for(&mut self, ready: Ready) -> Result<()> {
        let started = Instant::now();
        let mut waiting = Waiting {
            started,
            deadline: started + ready.timeout,
            awaited: ready.to_string(),
            last_seen: None,
        };
        match &ready.kind {
            Kind::Port(port) => port::wait(self, *port, ready.interval, &mut waiting),
            Kind::Output { matches, stream, .. } => output::wait(self, &**matches, *stream, &mut waiting),
            Kind::Exec(argv) => exec::wait(self, argv, ready.interval, &mut waiting),
        }
    }
}
