//! `/proc/self/mountinfo` and `/proc/self/cgroup` as the cgroup code reads them.
//!
//! The input is the two texts joined by a NUL byte (mountinfo first); both are converted
//! lossily to UTF-8, as `std::fs::read_to_string` would refuse anything else.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (mountinfo, proc_cgroup) = match data.iter().position(|&b| b == 0) {
        Some(nul) => (&data[..nul], &data[nul + 1..]),
        None => (data, &[][..]),
    };
    let mountinfo = String::from_utf8_lossy(mountinfo);
    let proc_cgroup = String::from_utf8_lossy(proc_cgroup);
    nsbox::__fuzz::cgroup_layout(&mountinfo, &proc_cgroup);
});
