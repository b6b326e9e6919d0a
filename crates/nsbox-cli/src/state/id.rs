//! Container ids (64 hex digits, as Docker's) and generated names.

use std::io::Read;

pub fn new_id() -> String {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

const ADJECTIVES: [&str; 16] = [
    "brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud",
    "quiet", "swift", "tender", "witty",
];
const NAMES: [&str; 16] = [
    "babbage", "curie", "dijkstra", "euler", "feynman", "gauss", "hopper", "knuth", "lamport", "lovelace", "noether",
    "pascal", "ritchie", "shannon", "thompson", "turing",
];

/// `adjective_name_NNNN`, like Docker's.
pub fn random_name() -> String {
    let id = new_id();
    let byte = |i: usize| u8::from_str_radix(&id[i * 2..i * 2 + 2], 16).expect("hex");
    format!(
        "{}_{}_{}",
        ADJECTIVES[(byte(0) % 16) as usize],
        NAMES[(byte(1) % 16) as usize],
        u16::from(byte(2)) * 256 + u16::from(byte(3))
    )
}
