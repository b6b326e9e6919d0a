//! Fields oci-spec does not know. serde skips unknown keys; the spec's own rule is that a
//! runtime may ignore them, but an ignored field is a setting silently dropped. So the parsed
//! spec is serialized again and every key of the file that did not survive is refused.

use serde_json::Value;

use crate::error::{Result, unsupported};

/// The first key of `original` (the file) missing from `parsed` (the spec serialized again),
/// by its JSON path. A `null` in the file is "not given" and passes.
pub(crate) fn check(original: &Value, parsed: &Value) -> Result<()> {
    walk(original, parsed, "")
}

fn walk(original: &Value, parsed: &Value, at: &str) -> Result<()> {
    match (original, parsed) {
        (Value::Object(file), Value::Object(known)) => {
            for (key, value) in file {
                let path = if at.is_empty() {
                    key.clone()
                } else {
                    format!("{at}.{key}")
                };
                match known.get(key) {
                    Some(again) => walk(value, again, &path)?,
                    None if value.is_null() => {}
                    None => return Err(unsupported(path, "not a field of the runtime spec nsbox knows")),
                }
            }
            Ok(())
        }
        (Value::Array(file), Value::Array(known)) => {
            for (i, (value, again)) in file.iter().zip(known).enumerate() {
                walk(value, again, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
