//! When a published TCP port listens on the host: only once a connect to the container port
//! succeeded inside, so that a host connect that succeeds means something listened inside (see
//! docs/ports.md).
//!
//! Until then the forwarder probes: it asks for a container-side connection exactly as for a
//! client (through the connector, with the same checks and deadlines), every 10 ms at first and
//! less often the longer nothing listens (up to every 100 ms). A probe that connects is closed
//! at once, as a healthcheck's would be: the server inside sees one connection that sends
//! nothing. The port then listens until a client's inside connect is refused, which means the
//! server stopped listening: the port stops listening (clients still in its accept queue are
//! reset) and probing starts again. Once the connector is gone nothing can reach inside: the
//! port never listens again, and stays reserved until the container exits.
//!
//! Pure logic; the relay carries out the [`Change`]s.

use std::time::{Duration, Instant};

/// The delay before the first probe after a refused one.
pub(super) const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest delay between two probes.
pub(super) const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Where one published TCP port stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Bound, not listening. The next probe is due at `next`; `None` while one is in flight.
    Probing { next: Option<Instant>, backoff: Duration },
    /// Listening: a probe connected inside and no client's connect was refused since.
    Open,
    /// Bound, never listening again: the connector is gone.
    Shut,
}

/// What the socket must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Nothing,
    Listen,
    Unlisten,
}

impl Gate {
    /// Probing, the first probe due at `now`.
    pub fn new(now: Instant) -> Gate {
        Gate::Probing {
            next: Some(now),
            backoff: FIRST_BACKOFF,
        }
    }

    pub fn is_open(&self) -> bool {
        *self == Gate::Open
    }

    /// Whether a probe should be sent now.
    pub fn probe_due(&self, now: Instant) -> bool {
        matches!(self, Gate::Probing { next: Some(at), .. } if *at <= now)
    }

    /// When the next probe is due, if one is waiting to be sent.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Gate::Probing { next, .. } => *next,
            _ => None,
        }
    }

    /// A probe was sent: none other until it is done.
    pub fn probe_sent(&mut self) {
        if let Gate::Probing { next, .. } = self {
            *next = None;
        }
    }

    /// The probe in flight connected (`true`) or failed: listen, or try again later.
    pub fn probe_done(&mut self, connected: bool, now: Instant) -> Change {
        let Gate::Probing {
            next: next @ None,
            backoff,
        } = self
        else {
            return Change::Nothing; // shut meanwhile
        };
        if connected {
            *self = Gate::Open;
            return Change::Listen;
        }
        *next = Some(now + *backoff);
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        Change::Nothing
    }

    /// Listening failed after a probe connected: try again after the longest delay.
    pub fn listen_failed(&mut self, now: Instant) {
        if *self == Gate::Open {
            *self = Gate::Probing {
                next: Some(now + MAX_BACKOFF),
                backoff: MAX_BACKOFF,
            };
        }
    }

    /// A client's inside connect was refused: nothing listens inside any more.
    pub fn refused(&mut self, now: Instant) -> Change {
        if *self != Gate::Open {
            return Change::Nothing;
        }
        *self = Gate::Probing {
            next: Some(now + FIRST_BACKOFF),
            backoff: FIRST_BACKOFF * 2,
        };
        Change::Unlisten
    }

    /// The connector is gone: never listen again.
    pub fn shut(&mut self) -> Change {
        let was_open = self.is_open();
        *self = Gate::Shut;
        if was_open { Change::Unlisten } else { Change::Nothing }
    }
}
