#![no_main]
//! The cgroup statistics parsers (cpu.stat / memory.events / io.stat / blkio files) on
//! arbitrary text: no panic, no overflow.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nsbox::__fuzz::cgroup_stats(&String::from_utf8_lossy(data));
});
