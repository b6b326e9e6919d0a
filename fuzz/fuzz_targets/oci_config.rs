//! An OCI bundle's `config.json` as nsbox-oci reads it: parsed, checked for unknown fields,
//! mapped onto nsbox's builder and built (nothing is spawned).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nsbox_oci::__fuzz::config(data);
});
