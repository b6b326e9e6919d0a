//! `/etc/subuid` and `/etc/subgid` lines, as read for a root caller's default id maps.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nsbox::__fuzz::subordinate_ids(&String::from_utf8_lossy(data));
});
