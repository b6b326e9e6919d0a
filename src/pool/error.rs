//! What a warm pool refuses: a template it cannot park, a run's setting it cannot apply.

use crate::Setting;

/// A [`Pool`](crate::Pool) refused its template or the settings of one run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The template has a setting a parked container cannot have: the builder method named.
    #[error("a pool template cannot use {method}: {why}")]
    Template {
        /// The builder method (`tty`, `logs`, `detach`, `start_gate`).
        method: &'static str,
        /// Why a pooled container cannot have it.
        why: &'static str,
    },
    /// A run asked for a limit that is not tighter than the template's (or one the template
    /// does not set: a pooled container's cgroup has only the template's limits, and a run may
    /// only narrow them).
    #[error("{setting} of {asked} for one run is not within the pool template's ({})", template.as_deref().unwrap_or("none: set one on the template to tighten it per run"))]
    LimitNotTighter {
        /// The limit.
        setting: Setting,
        /// The template's value, if it sets one.
        template: Option<String>,
        /// The run's value.
        asked: String,
    },
    /// The run's working directory, program paths, argv and environment take more bytes
    /// than a pooled launcher takes in its one message.
    #[error(
        "the command, arguments, environment and working directory of one run take {bytes} bytes, more than a pooled container takes ({max})"
    )]
    TooLarge {
        /// What they take, NULs included.
        bytes: usize,
        /// The most a run's message holds.
        max: usize,
    },
    /// The pool's size is 0: nothing could ever be parked.
    #[error("a pool must park at least one container")]
    Empty,
    /// A [`NamespacePool`](crate::NamespacePool)'s template does not make the namespaces it
    /// pre-makes, or its size is 0.
    #[error("a namespace pool {why}")]
    NamespaceTemplate {
        /// What its template or size lacks.
        why: &'static str,
    },
    /// A [`CgroupPool`](crate::CgroupPool)'s template wants no cgroup it could make ahead,
    /// or its size is 0.
    #[error("a cgroup pool {why}")]
    CgroupTemplate {
        /// What its template or size lacks.
        why: &'static str,
    },
}
