//! `nsbox info`: `preflight()` as a report, with what to do about each missing piece.

use crate::error::Result;
use crate::paths::Paths;

pub fn info(paths: &Paths) -> Result<i32> {
    let p = nsbox::preflight();
    println!("State directory: {}", paths.state.display());
    println!("Image store: {}", paths.store.display());
    println!("{p:#?}");
    Ok(0)
}
