//! nsbox's own errno: the kernel's error number, so that a caller matches setup failures
//! without depending on the version of nix (or libc) nsbox uses inside.

use std::fmt;
use std::io;
use std::str::FromStr;

use crate::unknown_value::UnknownValueError;

/// An error number the kernel returned (`errno(3)`), as in [`SetupError::errno`](crate::SetupError).
///
/// A thin wrapper around the raw `i32`: every Linux errno has a constant
/// ([`Errno::ENOENT`]…), usable in `match` patterns; any other number is kept as it is.
/// Converts to and from [`std::io::Error`] and the raw value (`libc::ENOENT` is
/// `Errno::ENOENT.raw()`).
///
/// ```
/// use nsbox::Errno;
/// let e = Errno::from_raw(2);
/// assert_eq!(e, Errno::ENOENT);
/// assert_eq!(e.to_string(), "ENOENT: No such file or directory");
/// assert_eq!("ELOOP".parse::<Errno>().unwrap(), Errno::ELOOP);
/// let io: std::io::Error = Errno::EACCES.into();
/// assert_eq!(io.kind(), std::io::ErrorKind::PermissionDenied);
/// assert_eq!(Errno::from(io), Errno::EACCES);
/// match e {
///     Errno::ENOENT | Errno::ENOTDIR => {}
///     other => panic!("{other}"),
/// }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Errno(i32);

impl Errno {
    /// The errno with this raw value (`libc::E*`); any number is kept.
    pub const fn from_raw(raw: i32) -> Self {
        Errno(raw)
    }

    /// The raw value, as `libc::E*` and `std::io::Error::raw_os_error` have it.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The calling thread's current `errno`, as left by the last failed libc call.
    pub fn last() -> Self {
        Errno::from(io::Error::last_os_error())
    }

    /// The symbolic name, e.g. `"ENOENT"`, for the errnos Linux defines.
    pub fn name(self) -> Option<&'static str> {
        name_and_desc(self.0).map(|(name, _)| name)
    }

    /// The C library's description (`strerror(3)`, glibc's wording), e.g.
    /// `"No such file or directory"`; `"Unknown error"` for a number Linux does not define.
    pub fn desc(self) -> &'static str {
        name_and_desc(self.0).map_or("Unknown error", |(_, desc)| desc)
    }

    /// The errno of nix's type, for the crate's internal code that uses nix.
    pub(crate) fn from_nix(errno: nix::errno::Errno) -> Self {
        Errno(errno as i32)
    }
}

impl fmt::Display for Errno {
    /// `"ENOENT: No such file or directory"`; `"errno 4095: Unknown error"` for an unknown one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}: {}", self.desc()),
            None => write!(f, "errno {}: {}", self.0, self.desc()),
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl From<io::Error> for Errno {
    /// The OS error code; `EIO` for an error that did not come from the OS.
    fn from(error: io::Error) -> Self {
        Errno(error.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<Errno> for io::Error {
    fn from(errno: Errno) -> Self {
        io::Error::from_raw_os_error(errno.0)
    }
}

impl FromStr for Errno {
    type Err = UnknownValueError;

    /// A symbolic name such as `"ENOENT"` (any case, aliases such as `EWOULDBLOCK` included)
    /// or a decimal number.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(raw) = s.parse::<i32>() {
            return Ok(Errno(raw));
        }
        let named = |name: &str| name.eq_ignore_ascii_case(s);
        ALL.iter()
            .copied()
            .find(|errno| errno.name().is_some_and(named))
            .or_else(|| ALIASES.iter().find(|(name, _)| named(name)).map(|(_, errno)| *errno))
            .ok_or_else(|| UnknownValueError::new("errno", s))
    }
}

/// Second names of errnos (same value on Linux); parsed, never printed.
const ALIASES: [(&str, Errno); 3] = [
    ("EWOULDBLOCK", Errno::EAGAIN),
    ("EDEADLOCK", Errno::EDEADLK),
    ("ENOTSUP", Errno::EOPNOTSUPP),
];

/// Declares the constants, the `ALL` list and the name and description of each errno.
macro_rules! errnos {
    ($($name:ident = $desc:literal,)*) => {
        impl Errno {
            $(
                #[doc = concat!("`", stringify!($name), "`: ", $desc, ".")]
                pub const $name: Errno = Errno(libc::$name);
            )*
        }

        /// Every errno Linux defines, by number.
        const ALL: &[Errno] = &[$(Errno::$name),*];

        fn name_and_desc(raw: i32) -> Option<(&'static str, &'static str)> {
            match raw {
                $(libc::$name => Some((stringify!($name), $desc)),)*
                _ => None,
            }
        }
    };
}

// Names and glibc's strerror(3) wording for Linux errnos 1..=133 (kernel names where glibc
// has two: EDEADLK, EOPNOTSUPP).
errnos! {
    EPERM = "Operation not permitted",
    ENOENT = "No such file or directory",
    ESRCH = "No such process",
    EINTR = "Interrupted system call",
    EIO = "Input/output error",
    ENXIO = "No such device or address",
    E2BIG = "Argument list too long",
    ENOEXEC = "Exec format error",
    EBADF = "Bad file descriptor",
    ECHILD = "No child processes",
    EAGAIN = "Resource temporarily unavailable",
    ENOMEM = "Cannot allocate memory",
    EACCES = "Permission denied",
    EFAULT = "Bad address",
    ENOTBLK = "Block device required",
    EBUSY = "Device or resource busy",
    EEXIST = "File exists",
    EXDEV = "Invalid cross-device link",
    ENODEV = "No such device",
    ENOTDIR = "Not a directory",
    EISDIR = "Is a directory",
    EINVAL = "Invalid argument",
    ENFILE = "Too many open files in system",
    EMFILE = "Too many open files",
    ENOTTY = "Inappropriate ioctl for device",
    ETXTBSY = "Text file busy",
    EFBIG = "File too large",
    ENOSPC = "No space left on device",
    ESPIPE = "Illegal seek",
    EROFS = "Read-only file system",
    EMLINK = "Too many links",
    EPIPE = "Broken pipe",
    EDOM = "Numerical argument out of domain",
    ERANGE = "Numerical result out of range",
    EDEADLK = "Resource deadlock avoided",
    ENAMETOOLONG = "File name too long",
    ENOLCK = "No locks available",
    ENOSYS = "Function not implemented",
    ENOTEMPTY = "Directory not empty",
    ELOOP = "Too many levels of symbolic links",
    ENOMSG = "No message of desired type",
    EIDRM = "Identifier removed",
    ECHRNG = "Channel number out of range",
    EL2NSYNC = "Level 2 not synchronized",
    EL3HLT = "Level 3 halted",
    EL3RST = "Level 3 reset",
    ELNRNG = "Link number out of range",
    EUNATCH = "Protocol driver not attached",
    ENOCSI = "No CSI structure available",
    EL2HLT = "Level 2 halted",
    EBADE = "Invalid exchange",
    EBADR = "Invalid request descriptor",
    EXFULL = "Exchange full",
    ENOANO = "No anode",
    EBADRQC = "Invalid request code",
    EBADSLT = "Invalid slot",
    EBFONT = "Bad font file format",
    ENOSTR = "Device not a stream",
    ENODATA = "No data available",
    ETIME = "Timer expired",
    ENOSR = "Out of streams resources",
    ENONET = "Machine is not on the network",
    ENOPKG = "Package not installed",
    EREMOTE = "Object is remote",
    ENOLINK = "Link has been severed",
    EADV = "Advertise error",
    ESRMNT = "Srmount error",
    ECOMM = "Communication error on send",
    EPROTO = "Protocol error",
    EMULTIHOP = "Multihop attempted",
    EDOTDOT = "RFS specific error",
    EBADMSG = "Bad message",
    EOVERFLOW = "Value too large for defined data type",
    ENOTUNIQ = "Name not unique on network",
    EBADFD = "File descriptor in bad state",
    EREMCHG = "Remote address changed",
    ELIBACC = "Can not access a needed shared library",
    ELIBBAD = "Accessing a corrupted shared library",
    ELIBSCN = ".lib section in a.out corrupted",
    ELIBMAX = "Attempting to link in too many shared libraries",
    ELIBEXEC = "Cannot exec a shared library directly",
    EILSEQ = "Invalid or incomplete multibyte or wide character",
    ERESTART = "Interrupted system call should be restarted",
    ESTRPIPE = "Streams pipe error",
    EUSERS = "Too many users",
    ENOTSOCK = "Socket operation on non-socket",
    EDESTADDRREQ = "Destination address required",
    EMSGSIZE = "Message too long",
    EPROTOTYPE = "Protocol wrong type for socket",
    ENOPROTOOPT = "Protocol not available",
    EPROTONOSUPPORT = "Protocol not supported",
    ESOCKTNOSUPPORT = "Socket type not supported",
    EOPNOTSUPP = "Operation not supported",
    EPFNOSUPPORT = "Protocol family not supported",
    EAFNOSUPPORT = "Address family not supported by protocol",
    EADDRINUSE = "Address already in use",
    EADDRNOTAVAIL = "Cannot assign requested address",
    ENETDOWN = "Network is down",
    ENETUNREACH = "Network is unreachable",
    ENETRESET = "Network dropped connection on reset",
    ECONNABORTED = "Software caused connection abort",
    ECONNRESET = "Connection reset by peer",
    ENOBUFS = "No buffer space available",
    EISCONN = "Transport endpoint is already connected",
    ENOTCONN = "Transport endpoint is not connected",
    ESHUTDOWN = "Cannot send after transport endpoint shutdown",
    ETOOMANYREFS = "Too many references: cannot splice",
    ETIMEDOUT = "Connection timed out",
    ECONNREFUSED = "Connection refused",
    EHOSTDOWN = "Host is down",
    EHOSTUNREACH = "No route to host",
    EALREADY = "Operation already in progress",
    EINPROGRESS = "Operation now in progress",
    ESTALE = "Stale file handle",
    EUCLEAN = "Structure needs cleaning",
    ENOTNAM = "Not a XENIX named type file",
    ENAVAIL = "No XENIX semaphores available",
    EISNAM = "Is a named type file",
    EREMOTEIO = "Remote I/O error",
    EDQUOT = "Disk quota exceeded",
    ENOMEDIUM = "No medium found",
    EMEDIUMTYPE = "Wrong medium type",
    ECANCELED = "Operation canceled",
    ENOKEY = "Required key not available",
    EKEYEXPIRED = "Key has expired",
    EKEYREVOKED = "Key has been revoked",
    EKEYREJECTED = "Key was rejected by service",
    EOWNERDEAD = "Owner died",
    ENOTRECOVERABLE = "State not recoverable",
    ERFKILL = "Operation not possible due to RF-kill",
    EHWPOISON = "Memory page has hardware error",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_errno_matches_libc_and_has_glibc_description() {
        for errno in ALL {
            let text = io::Error::from(*errno).to_string();
            assert!(text.starts_with(errno.desc()), "{errno:?}: {text}");
        }
        assert_eq!(ALL.len(), 131);
        assert_eq!(Errno::ELOOP.raw(), libc::ELOOP);
    }

    #[test]
    fn errno_names_parse_back() {
        for errno in ALL {
            assert_eq!(errno.name().unwrap().parse::<Errno>(), Ok(*errno));
        }
        assert_eq!("ewouldblock".parse::<Errno>(), Ok(Errno::EAGAIN));
        assert_eq!("2".parse::<Errno>(), Ok(Errno::ENOENT));
        assert!("ENOSUCHTHING".parse::<Errno>().is_err());
    }

    #[test]
    fn unknown_errno_keeps_its_number() {
        let e = Errno::from_raw(4095);
        assert_eq!((e.raw(), e.name()), (4095, None));
        assert_eq!(e.to_string(), "errno 4095: Unknown error");
        assert_eq!(format!("{e:?}"), "Errno(4095)");
    }

    #[test]
    fn io_error_without_os_code_becomes_eio() {
        assert_eq!(Errno::from(io::Error::other("x")), Errno::EIO);
    }

    #[test]
    fn nix_errno_converts_by_value() {
        assert_eq!(Errno::from_nix(nix::errno::Errno::ENOENT), Errno::ENOENT);
    }
}
