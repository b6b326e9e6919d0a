//! The error of parsing or converting a name or number that nsbox's own value types
//! ([`Signal`](crate::Signal), [`Resource`](crate::Resource), [`Capability`](crate::Capability),
//! [`Errno`](crate::Errno)) do not know.

use std::fmt;

/// A name or number that is not a known signal, resource limit, capability or errno.
///
/// ```
/// use nsbox::Signal;
/// let err = "SIGTREM".parse::<Signal>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown signal \"SIGTREM\"");
/// assert!(Signal::try_from(99).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValueError {
    kind: &'static str,
    value: String,
}

impl UnknownValueError {
    pub(crate) fn new(kind: &'static str, value: impl fmt::Debug) -> Self {
        UnknownValueError {
            kind,
            value: format!("{value:?}"),
        }
    }

    /// What was asked for: `"signal"`, `"resource limit"`, `"capability"` or `"errno"`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl fmt::Display for UnknownValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} {}", self.kind, self.value)
    }
}

impl std::error::Error for UnknownValueError {}

/// `name` without `prefix`, compared without regard to ASCII case; `name` itself when it does
/// not start with it.
pub(crate) fn strip_prefix_ignore_case<'a>(name: &'a str, prefix: &str) -> &'a str {
    match name.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => &name[prefix.len()..],
        _ => name,
    }
}
