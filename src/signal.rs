//! nsbox's own signal type, for [`Container::kill`](crate::Container::kill) and
//! [`ExitStatus::signal`](crate::ExitStatus::signal).

use std::fmt;
use std::str::FromStr;

use crate::unknown_value::{UnknownValueError, strip_prefix_ignore_case};

/// A Linux signal (`signal(7)`).
///
/// The standard signals are variants named as in C; the real-time ones are
/// [`Realtime(n)`](Signal::Realtime), `SIGRTMIN+n`. Converts to and from the raw number
/// (`libc::SIGTERM` is `Signal::SIGTERM.as_raw()`) and to and from names:
///
/// ```
/// use nsbox::Signal;
/// assert_eq!("TERM".parse::<Signal>(), Ok(Signal::SIGTERM));
/// assert_eq!("sigkill".parse::<Signal>(), Ok(Signal::SIGKILL));
/// assert_eq!("15".parse::<Signal>(), Ok(Signal::SIGTERM));
/// assert_eq!("RTMIN+2".parse::<Signal>(), Ok(Signal::Realtime(2)));
/// assert_eq!(Signal::Realtime(2).as_raw(), 36);
/// assert_eq!(Signal::try_from(9), Ok(Signal::SIGKILL));
/// assert_eq!(Signal::SIGKILL.to_string(), "SIGKILL");
/// ```
///
/// Real-time signals are counted as glibc's `kill -l`, Docker's and Podman's `--signal`
/// count them: `SIGRTMIN` is 34, because glibc (like musl) keeps the kernel's first two, 32
/// and 33, for its threads; those two have no `Signal`.
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// Hangup (1).
    SIGHUP,
    /// Interrupt from the keyboard (2).
    SIGINT,
    /// Quit from the keyboard (3).
    SIGQUIT,
    /// Illegal instruction (4).
    SIGILL,
    /// Trace or breakpoint trap (5).
    SIGTRAP,
    /// Abort, also `SIGIOT` (6).
    SIGABRT,
    /// Bus error (7).
    SIGBUS,
    /// Floating-point exception (8).
    SIGFPE,
    /// Kill, which cannot be caught or ignored (9).
    SIGKILL,
    /// User-defined signal 1 (10).
    SIGUSR1,
    /// Invalid memory reference (11).
    SIGSEGV,
    /// User-defined signal 2 (12).
    SIGUSR2,
    /// Write to a pipe with no readers (13).
    SIGPIPE,
    /// Timer signal from `alarm(2)` (14).
    SIGALRM,
    /// Termination (15).
    SIGTERM,
    /// Stack fault on the coprocessor, unused (16).
    SIGSTKFLT,
    /// Child stopped or terminated, also `SIGCLD` (17).
    SIGCHLD,
    /// Continue if stopped (18).
    SIGCONT,
    /// Stop, which cannot be caught or ignored (19).
    SIGSTOP,
    /// Stop typed at the terminal (20).
    SIGTSTP,
    /// Terminal input for a background process (21).
    SIGTTIN,
    /// Terminal output for a background process (22).
    SIGTTOU,
    /// Urgent condition on a socket (23).
    SIGURG,
    /// CPU time limit exceeded (24).
    SIGXCPU,
    /// File size limit exceeded (25).
    SIGXFSZ,
    /// Virtual alarm clock (26).
    SIGVTALRM,
    /// Profiling timer expired (27).
    SIGPROF,
    /// Window resize (28).
    SIGWINCH,
    /// I/O now possible, also `SIGPOLL` (29).
    SIGIO,
    /// Power failure (30).
    SIGPWR,
    /// Bad system call, also what a seccomp `SECCOMP_RET_TRAP` sends (31).
    SIGSYS,
    /// The real-time signal `SIGRTMIN+n`, raw number `34 + n`; `n` is at most 30
    /// (`SIGRTMAX`, 64): beyond it the kernel refuses the signal.
    Realtime(u8),
}

/// glibc's `SIGRTMIN` (the kernel's is 32) and `SIGRTMAX`.
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// Every standard signal, by number.
const STANDARD: [Signal; 31] = {
    use Signal::*;
    [
        SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV, SIGUSR2, SIGPIPE,
        SIGALRM, SIGTERM, SIGSTKFLT, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGXCPU, SIGXFSZ,
        SIGVTALRM, SIGPROF, SIGWINCH, SIGIO, SIGPWR, SIGSYS,
    ]
};

impl Signal {
    /// The raw signal number, as `libc::SIG*` and `kill(2)` have it.
    pub fn as_raw(self) -> i32 {
        use Signal::*;
        match self {
            SIGHUP => libc::SIGHUP,
            SIGINT => libc::SIGINT,
            SIGQUIT => libc::SIGQUIT,
            SIGILL => libc::SIGILL,
            SIGTRAP => libc::SIGTRAP,
            SIGABRT => libc::SIGABRT,
            SIGBUS => libc::SIGBUS,
            SIGFPE => libc::SIGFPE,
            SIGKILL => libc::SIGKILL,
            SIGUSR1 => libc::SIGUSR1,
            SIGSEGV => libc::SIGSEGV,
            SIGUSR2 => libc::SIGUSR2,
            SIGPIPE => libc::SIGPIPE,
            SIGALRM => libc::SIGALRM,
            SIGTERM => libc::SIGTERM,
            SIGSTKFLT => libc::SIGSTKFLT,
            SIGCHLD => libc::SIGCHLD,
            SIGCONT => libc::SIGCONT,
            SIGSTOP => libc::SIGSTOP,
            SIGTSTP => libc::SIGTSTP,
            SIGTTIN => libc::SIGTTIN,
            SIGTTOU => libc::SIGTTOU,
            SIGURG => libc::SIGURG,
            SIGXCPU => libc::SIGXCPU,
            SIGXFSZ => libc::SIGXFSZ,
            SIGVTALRM => libc::SIGVTALRM,
            SIGPROF => libc::SIGPROF,
            SIGWINCH => libc::SIGWINCH,
            SIGIO => libc::SIGIO,
            SIGPWR => libc::SIGPWR,
            SIGSYS => libc::SIGSYS,
            Realtime(n) => RTMIN + i32::from(n),
        }
    }

    /// The C name of a standard signal without the `SIG` prefix, e.g. `"TERM"`, as `kill -l`
    /// prints it; `None` for a real-time one.
    fn standard_name(self) -> Option<&'static str> {
        Some(match self {
            Signal::SIGHUP => "HUP",
            Signal::SIGINT => "INT",
            Signal::SIGQUIT => "QUIT",
            Signal::SIGILL => "ILL",
            Signal::SIGTRAP => "TRAP",
            Signal::SIGABRT => "ABRT",
            Signal::SIGBUS => "BUS",
            Signal::SIGFPE => "FPE",
            Signal::SIGKILL => "KILL",
            Signal::SIGUSR1 => "USR1",
            Signal::SIGSEGV => "SEGV",
            Signal::SIGUSR2 => "USR2",
            Signal::SIGPIPE => "PIPE",
            Signal::SIGALRM => "ALRM",
            Signal::SIGTERM => "TERM",
            Signal::SIGSTKFLT => "STKFLT",
            Signal::SIGCHLD => "CHLD",
            Signal::SIGCONT => "CONT",
            Signal::SIGSTOP => "STOP",
            Signal::SIGTSTP => "TSTP",
            Signal::SIGTTIN => "TTIN",
            Signal::SIGTTOU => "TTOU",
            Signal::SIGURG => "URG",
            Signal::SIGXCPU => "XCPU",
            Signal::SIGXFSZ => "XFSZ",
            Signal::SIGVTALRM => "VTALRM",
            Signal::SIGPROF => "PROF",
            Signal::SIGWINCH => "WINCH",
            Signal::SIGIO => "IO",
            Signal::SIGPWR => "PWR",
            Signal::SIGSYS => "SYS",
            Signal::Realtime(_) => return None,
        })
    }
}

impl TryFrom<i32> for Signal {
    type Error = UnknownValueError;

    /// The signal with this raw number: 1..=31, or 34..=64 as [`Realtime`](Signal::Realtime).
    fn try_from(raw: i32) -> Result<Self, Self::Error> {
        if let Some(signal) = STANDARD.iter().find(|s| s.as_raw() == raw) {
            return Ok(*signal);
        }
        match raw {
            RTMIN..=RTMAX => Ok(Signal::Realtime((raw - RTMIN) as u8)),
            _ => Err(UnknownValueError::new("signal", raw)),
        }
    }
}

impl fmt::Display for Signal {
    /// The C name: `"SIGTERM"`, `"SIGRTMIN+2"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.standard_name(), self) {
            (Some(name), _) => write!(f, "SIG{name}"),
            (None, Signal::Realtime(0)) => f.write_str("SIGRTMIN"),
            (None, Signal::Realtime(n)) => write!(f, "SIGRTMIN+{n}"),
            (None, _) => write!(f, "signal {}", self.as_raw()),
        }
    }
}

impl FromStr for Signal {
    type Err = UnknownValueError;

    /// A name with or without `SIG`, in any case (`"SIGTERM"`, `"term"`), the aliases `IOT`,
    /// `CLD` and `POLL`, `RTMIN`, `RTMIN+n` and `RTMAX-n`, or a raw number (`"15"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownValueError::new("signal", s);
        if let Ok(raw) = s.parse::<i32>() {
            return Signal::try_from(raw).map_err(|_| unknown());
        }
        let name = strip_prefix_ignore_case(s, "SIG");
        let offset = |rest: &str| rest.parse::<u8>().ok().filter(|n| i32::from(*n) <= RTMAX - RTMIN);
        let rtmin = strip_prefix_ignore_case(name, "RTMIN");
        if rtmin.len() < name.len() {
            return match rtmin {
                "" => Ok(Signal::Realtime(0)),
                _ => rtmin
                    .strip_prefix('+')
                    .and_then(offset)
                    .map(Signal::Realtime)
                    .ok_or_else(unknown),
            };
        }
        let rtmax = strip_prefix_ignore_case(name, "RTMAX");
        if rtmax.len() < name.len() {
            let below = match rtmax {
                "" => Some(0),
                _ => rtmax.strip_prefix('-').and_then(offset),
            };
            return below
                .map(|n| Signal::Realtime((RTMAX - RTMIN) as u8 - n))
                .ok_or_else(unknown);
        }
        let alias = match name.to_ascii_uppercase().as_str() {
            "IOT" => Some(Signal::SIGABRT),
            "CLD" => Some(Signal::SIGCHLD),
            "POLL" => Some(Signal::SIGIO),
            _ => None,
        };
        alias
            .or_else(|| {
                STANDARD
                    .into_iter()
                    .find(|s| s.standard_name().is_some_and(|n| n.eq_ignore_ascii_case(name)))
            })
            .ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_number_round_trips() {
        for raw in (1..=31).chain(34..=64) {
            let signal = Signal::try_from(raw).unwrap();
            assert_eq!(signal.as_raw(), raw);
            assert_eq!(signal.to_string().parse::<Signal>(), Ok(signal), "{signal}");
        }
        for raw in [0, 32, 33, 65, -1] {
            assert!(Signal::try_from(raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn standard_signals_match_libc_and_nix() {
        for signal in STANDARD {
            let nix = nix::sys::signal::Signal::try_from(signal.as_raw()).unwrap();
            assert_eq!(signal.to_string(), nix.as_str());
        }
        assert_eq!(Signal::Realtime(0).as_raw(), libc::SIGRTMIN());
        assert_eq!(Signal::Realtime(30).as_raw(), libc::SIGRTMAX());
    }

    #[test]
    fn signal_names_parse_like_kill() {
        let cases = [
            ("SIGTERM", Signal::SIGTERM),
            ("term", Signal::SIGTERM),
            ("Hup", Signal::SIGHUP),
            ("IOT", Signal::SIGABRT),
            ("SIGRTMIN", Signal::Realtime(0)),
            ("rtmin+3", Signal::Realtime(3)),
            ("RTMAX", Signal::Realtime(30)),
            ("SIGRTMAX-1", Signal::Realtime(29)),
            ("64", Signal::Realtime(30)),
        ];
        for (name, signal) in cases {
            assert_eq!(name.parse::<Signal>(), Ok(signal), "{name}");
        }
        for bad in [
            "", "SIG", "TREM", "RTMIN+31", "RTMAX-31", "RTMIN-1", "32", "SIGTERM ", "0",
        ] {
            assert!(bad.parse::<Signal>().is_err(), "{bad:?}");
        }
    }
}
