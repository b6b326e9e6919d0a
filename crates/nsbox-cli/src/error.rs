//! What a command ends with when it fails: one line on stderr and Docker's exit codes (125 for
//! the command's own errors, 126 when the container's command cannot be invoked, 127 when it
//! is not found).

use std::fmt;

/// Docker's code for an error of the command itself (bad flag, missing image, name in use…).
pub const USAGE: i32 = 125;
/// The container's command exists but cannot be invoked.
pub const CANNOT_INVOKE: i32 = 126;
/// The container's command is not found.
pub const NOT_FOUND: i32 = 127;

/// A failed command: its message and exit code.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    pub message: String,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> Self {
        CliError {
            code: USAGE,
            message: message.into(),
        }
    }

    pub fn with_code(code: i32, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `Err(CliError::new(format!(...)))`.
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::CliError::new(format!($($arg)*))) };
}
pub(crate) use bail;

pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl From<nsbox_image::Error> for CliError {
    fn from(e: nsbox_image::Error) -> Self {
        CliError::new(e.to_string())
    }
}

impl From<nsbox_image::run::RunError> for CliError {
    fn from(e: nsbox_image::run::RunError) -> Self {
        CliError::new(e.to_string())
    }
}

impl From<nsbox::Error> for CliError {
    /// A setup failure at the exec step is Docker's 126/127; everything else 125.
    fn from(e: nsbox::Error) -> Self {
        let code = match e.as_setup() {
            Some(setup) if setup.step == nsbox::SetupStep::Exec => match setup.errno.raw() {
                libc::ENOENT => NOT_FOUND,
                _ => CANNOT_INVOKE,
            },
            _ => USAGE,
        };
        CliError::with_code(code, e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::new(e.to_string())
    }
}

/// Adds what was being done to an I/O error.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| CliError::new(format!("{}: {e}", what())))
    }
}
