//! nsbox's own resource-limit type, for [`ContainerBuilder::rlimit`](crate::ContainerBuilder::rlimit).

use std::fmt;
use std::str::FromStr;

use crate::unknown_value::{UnknownValueError, strip_prefix_ignore_case};

/// A resource limited by `setrlimit(2)`: the Linux `RLIMIT_*` values.
///
/// Converts to and from the raw number (`libc::RLIMIT_NOFILE` is
/// `Resource::RLIMIT_NOFILE.as_raw()`) and to and from names:
///
/// ```
/// use nsbox::Resource;
/// assert_eq!("nofile".parse::<Resource>(), Ok(Resource::RLIMIT_NOFILE));
/// assert_eq!("RLIMIT_CORE".parse::<Resource>(), Ok(Resource::RLIMIT_CORE));
/// assert_eq!(Resource::RLIMIT_NOFILE.to_string(), "RLIMIT_NOFILE");
/// assert_eq!(Resource::try_from(7), Ok(Resource::RLIMIT_NOFILE));
/// ```
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
#[repr(i32)]
pub enum Resource {
    /// CPU time, in seconds.
    RLIMIT_CPU = libc::RLIMIT_CPU as i32,
    /// The largest file the process may create, in bytes.
    RLIMIT_FSIZE = libc::RLIMIT_FSIZE as i32,
    /// The data segment (heap), in bytes.
    RLIMIT_DATA = libc::RLIMIT_DATA as i32,
    /// The main thread's stack, in bytes.
    RLIMIT_STACK = libc::RLIMIT_STACK as i32,
    /// The largest core dump, in bytes (0: none).
    RLIMIT_CORE = libc::RLIMIT_CORE as i32,
    /// Resident set size, in bytes (ignored by Linux).
    RLIMIT_RSS = libc::RLIMIT_RSS as i32,
    /// Processes and threads of the real user id.
    RLIMIT_NPROC = libc::RLIMIT_NPROC as i32,
    /// One more than the highest file descriptor number the process may open.
    RLIMIT_NOFILE = libc::RLIMIT_NOFILE as i32,
    /// Memory locked in RAM, in bytes.
    RLIMIT_MEMLOCK = libc::RLIMIT_MEMLOCK as i32,
    /// The address space (virtual memory), in bytes.
    RLIMIT_AS = libc::RLIMIT_AS as i32,
    /// File locks (ignored by Linux).
    RLIMIT_LOCKS = libc::RLIMIT_LOCKS as i32,
    /// Signals queued for the real user id.
    RLIMIT_SIGPENDING = libc::RLIMIT_SIGPENDING as i32,
    /// Bytes in POSIX message queues of the real user id.
    RLIMIT_MSGQUEUE = libc::RLIMIT_MSGQUEUE as i32,
    /// The ceiling of the nice value, as 20 - nice.
    RLIMIT_NICE = libc::RLIMIT_NICE as i32,
    /// The ceiling of the real-time priority.
    RLIMIT_RTPRIO = libc::RLIMIT_RTPRIO as i32,
    /// CPU time under a real-time policy without a blocking call, in microseconds.
    RLIMIT_RTTIME = libc::RLIMIT_RTTIME as i32,
}

/// Every resource, by number.
const ALL: [Resource; 16] = {
    use Resource::*;
    [
        RLIMIT_CPU,
        RLIMIT_FSIZE,
        RLIMIT_DATA,
        RLIMIT_STACK,
        RLIMIT_CORE,
        RLIMIT_RSS,
        RLIMIT_NPROC,
        RLIMIT_NOFILE,
        RLIMIT_MEMLOCK,
        RLIMIT_AS,
        RLIMIT_LOCKS,
        RLIMIT_SIGPENDING,
        RLIMIT_MSGQUEUE,
        RLIMIT_NICE,
        RLIMIT_RTPRIO,
        RLIMIT_RTTIME,
    ]
};

impl Resource {
    /// The raw number, as `libc::RLIMIT_*` and `prlimit(2)` have it.
    pub const fn as_raw(self) -> i32 {
        self as i32
    }

    /// The C name, e.g. `"RLIMIT_NOFILE"`.
    pub const fn name(self) -> &'static str {
        match self {
            Resource::RLIMIT_CPU => "RLIMIT_CPU",
            Resource::RLIMIT_FSIZE => "RLIMIT_FSIZE",
            Resource::RLIMIT_DATA => "RLIMIT_DATA",
            Resource::RLIMIT_STACK => "RLIMIT_STACK",
            Resource::RLIMIT_CORE => "RLIMIT_CORE",
            Resource::RLIMIT_RSS => "RLIMIT_RSS",
            Resource::RLIMIT_NPROC => "RLIMIT_NPROC",
            Resource::RLIMIT_NOFILE => "RLIMIT_NOFILE",
            Resource::RLIMIT_MEMLOCK => "RLIMIT_MEMLOCK",
            Resource::RLIMIT_AS => "RLIMIT_AS",
            Resource::RLIMIT_LOCKS => "RLIMIT_LOCKS",
            Resource::RLIMIT_SIGPENDING => "RLIMIT_SIGPENDING",
            Resource::RLIMIT_MSGQUEUE => "RLIMIT_MSGQUEUE",
            Resource::RLIMIT_NICE => "RLIMIT_NICE",
            Resource::RLIMIT_RTPRIO => "RLIMIT_RTPRIO",
            Resource::RLIMIT_RTTIME => "RLIMIT_RTTIME",
        }
    }
}

impl TryFrom<i32> for Resource {
    type Error = UnknownValueError;

    /// The resource with this raw number.
    fn try_from(raw: i32) -> Result<Self, Self::Error> {
        ALL.into_iter()
            .find(|r| r.as_raw() == raw)
            .ok_or_else(|| UnknownValueError::new("resource limit", raw))
    }
}

impl fmt::Display for Resource {
    /// The C name, e.g. `"RLIMIT_NOFILE"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Resource {
    type Err = UnknownValueError;

    /// The C name, with or without `RLIMIT_`, in any case: `"RLIMIT_NOFILE"`, `"nofile"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let short = strip_prefix_ignore_case(s, "RLIMIT_");
        ALL.into_iter()
            .find(|r| r.name()["RLIMIT_".len()..].eq_ignore_ascii_case(short))
            .ok_or_else(|| UnknownValueError::new("resource limit", s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_round_trips_through_number_and_name() {
        for r in ALL {
            assert_eq!(Resource::try_from(r.as_raw()), Ok(r));
            assert_eq!(r.name().parse::<Resource>(), Ok(r));
        }
        assert_eq!(Resource::RLIMIT_RTTIME.as_raw(), libc::RLIMIT_RTTIME as i32);
        assert!(Resource::try_from(16).is_err());
        assert!(Resource::try_from(-1).is_err());
    }

    #[test]
    fn resource_names_parse_without_prefix_in_any_case() {
        assert_eq!("nofile".parse::<Resource>(), Ok(Resource::RLIMIT_NOFILE));
        assert_eq!("Rlimit_As".parse::<Resource>(), Ok(Resource::RLIMIT_AS));
        assert!("RLIMIT_".parse::<Resource>().is_err());
        assert!("nofiles".parse::<Resource>().is_err());
    }
}
