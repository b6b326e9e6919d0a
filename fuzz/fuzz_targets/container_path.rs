//! Container paths (mount targets, the working directory): raw bytes, as `OsStr` allows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nsbox::__fuzz::container_path(data);
});
