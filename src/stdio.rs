//! Where a container's stdin, stdout and stderr go, and the parent's ends of piped streams.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// Describes what to connect to one of the container's standard streams, like
/// [`std::process::Stdio`].
///
/// ```
/// use nsbox::Stdio;
/// let _ = Stdio::piped();
/// let _ = Stdio::from(std::fs::File::open("/dev/null").unwrap());
/// ```
#[derive(Debug, Clone)]
pub struct Stdio(pub(crate) StdioKind);

#[derive(Debug, Clone)]
pub(crate) enum StdioKind {
    Inherit,
    Null,
    Piped,
    Fd(Arc<OwnedFd>),
}

impl Stdio {
    /// The container uses the caller's stream.
    pub fn inherit() -> Self {
        Stdio(StdioKind::Inherit)
    }
    /// The stream is connected to `/dev/null`.
    pub fn null() -> Self {
        Stdio(StdioKind::Null)
    }
    /// A pipe is created; the caller gets its end from the [`Container`](crate::Container).
    pub fn piped() -> Self {
        Stdio(StdioKind::Piped)
    }
}

impl<T: Into<OwnedFd>> From<T> for Stdio {
    fn from(fd: T) -> Self {
        Stdio(StdioKind::Fd(Arc::new(fd.into())))
    }
}

macro_rules! parent_end {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(pub(crate) File);

        impl $name {
            pub(crate) fn new(fd: OwnedFd) -> Self {
                $name(File::from(fd))
            }
        }
        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.as_fd()
            }
        }
        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }
        impl IntoRawFd for $name {
            fn into_raw_fd(self) -> RawFd {
                self.0.into_raw_fd()
            }
        }
        impl From<$name> for OwnedFd {
            fn from(s: $name) -> OwnedFd {
                s.0.into()
            }
        }
        impl FromRawFd for $name {
            unsafe fn from_raw_fd(fd: RawFd) -> Self {
                // SAFETY: the caller hands over ownership of an open fd, as the trait demands.
                $name(unsafe { File::from_raw_fd(fd) })
            }
        }
    };
}

parent_end!(
    /// The caller's (writing) end of a container's piped stdin.
    ChildStdin
);
parent_end!(
    /// The caller's (reading) end of a container's piped stdout.
    ChildStdout
);
parent_end!(
    /// The caller's (reading) end of a container's piped stderr.
    ChildStderr
);

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}
