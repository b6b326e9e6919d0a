//! Container names: `names/<name>` holds the id; created with O_EXCL, so of two commands that
//! claim one name at once exactly one wins.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{CliError, Result};

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 128 characters (and a leading `/` is
/// ignored, as Docker prints names).
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    match ok {
        true => Ok(()),
        false => Err(CliError::new(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))),
    }
}

pub fn claim(dir: &Path, name: &str, id: &str) -> Result<()> {
    validate_name(name)?;
    let path = dir.join(name);
    match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut file) => {
            file.write_all(id.as_bytes())?;
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let holder = lookup(dir, name).unwrap_or_default();
            Err(CliError::new(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{holder}\". You have to remove (or rename) that container to be able to reuse that name."
            )))
        }
        Err(e) => Err(CliError::new(format!("claiming the name {name}: {e}"))),
    }
}

pub fn lookup(dir: &Path, name: &str) -> Option<String> {
    let name = name.strip_prefix('/').unwrap_or(name);
    validate_name(name).ok()?;
    let id = fs::read_to_string(dir.join(name)).ok()?;
    super::id::is_id(&id).then_some(id)
}

/// Frees `name` if `id` still holds it.
pub fn release(dir: &Path, name: &str, id: &str) {
    if lookup(dir, name).as_deref() == Some(id) {
        let _ = fs::remove_file(dir.join(name));
    }
}
