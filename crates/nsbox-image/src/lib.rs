//! Container images for nsbox: import into a content-addressed store, unpack layers safely,
//! and run them as copy-on-write root filesystems.
//!
//! The core crate (`nsbox`) stays small: it knows root filesystems (a directory, an overlay of
//! layer directories); this crate knows images, their archives and their store.

pub mod run;
pub mod unpack;
