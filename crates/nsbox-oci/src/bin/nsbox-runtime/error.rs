//! The runtime's error: one message, worded the way engines match on it ("does not exist",
//! "container not running", runc's exec texts), printed once to the log and to stderr.

use std::fmt;

/// An error of a verb: its message is what the engine reads.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Returns early with a formatted [`Error`].
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error(format!($($arg)*)))
    };
}
pub(crate) use fail;

/// `what: cause` for any displayable failure.
pub trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
}

impl From<nsbox_oci::BundleError> for Error {
    fn from(e: nsbox_oci::BundleError) -> Self {
        Error(e.to_string())
    }
}

/// An nsbox failure at `create`, in runc's words where Docker reads them: a command that
/// cannot be found or executed becomes `exec: "CMD": executable file not found in $PATH`
/// (Docker: exit 127) or `exec: "CMD": permission denied` (126).
pub fn spawn_error(e: &nsbox::Error, command: &str) -> Error {
    if let Some(setup) = e.as_setup()
        && setup.step == nsbox::SetupStep::Exec
    {
        match setup.errno.raw() {
            libc::ENOENT => return Error(format!("exec: {command:?}: executable file not found in $PATH ({e})")),
            libc::EACCES => return Error(format!("exec: {command:?}: permission denied ({e})")),
            _ => {}
        }
    }
    Error(e.to_string())
}
