//! RFC 3339 timestamps in UTC with nanoseconds, as Go's `time.RFC3339Nano` writes them
//! (runc's `created` and its log lines), without a date crate.

use std::time::SystemTime;

/// `2026-12-06T02:45:46.123456789Z` (trailing zeros of the fraction dropped, as Go does).
pub fn rfc3339(t: SystemTime) -> String {
    let full = nsbox::logs::rfc3339(t);
    let (whole, fraction) = full.trim_end_matches('Z').split_once('.').unwrap_or((&full, ""));
    match fraction.trim_end_matches('0') {
        "" => format!("{whole}Z"),
        kept => format!("{whole}.{kept}Z"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(951_782_400, 500_000_000); // leap day 2000
        assert_eq!(rfc3339(t), "2000-02-29T00:00:00.5Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_438_746);
        assert_eq!(rfc3339(t), "2026-12-05T02:45:46Z");
    }
}
