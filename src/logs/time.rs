//! RFC 3339 timestamps in UTC with nanoseconds (`2026-12-05T20:55:54.123456789Z`), as
//! Docker's json-file driver writes them, without a date crate: days since the epoch to a
//! civil date and back (Howard Hinnant's algorithms, <https://howardhinnant.github.io/date_algorithms.html>).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `time` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` (always nine fraction digits; times before
/// 1970 are written as the epoch).
pub(crate) fn format(time: SystemTime, out: &mut Vec<u8>) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    let text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_nanos()
    );
    out.extend_from_slice(text.as_bytes());
}

/// Parses an RFC 3339 time: a fraction of 0 to 9 digits, `Z` or a `±HH:MM` offset.
pub(crate) fn parse(text: &[u8]) -> Option<SystemTime> {
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits.iter().try_fold(0i64, |acc, b| match b {
            b'0'..=b'9' => Some(acc * 10 + i64::from(b - b'0')),
            _ => None,
        })
    };
    let sep = |at: usize, chars: &[u8]| text.get(at).is_some_and(|c| chars.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut at = 19;
    let mut nanos: u32 = 0;
    if text.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while text.get(at).is_some_and(u8::is_ascii_digit) {
            if at - start < 9 {
                nanos = nanos * 10 + u32::from(text[at] - b'0');
            }
            at += 1;
        }
        if at == start {
            return None;
        }
        for _ in (at - start)..9 {
            nanos *= 10;
        }
    }
    let offset = match text.get(at..)? {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let hm = num(at + 1..at + 3)? * 3600 + num(at + 4..at + 6)? * 60;
            if *sign == b'+' { -hm } else { hm }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second + offset;
    let secs = u64::try_from(secs).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// (year, month, day) of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to the given civil date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(time: SystemTime) -> String {
        let mut out = Vec::new();
        format(time, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn known_instants_format_as_rfc3339_utc() {
        assert_eq!(text(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        // 2026-12-05T20:55:54.123456789Z, checked with `date -u -d @1796504154`.
        let t = UNIX_EPOCH + Duration::new(1_796_504_154, 123_456_789);
        assert_eq!(text(t), "2026-12-05T20:55:54.123456789Z");
        // A leap day.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(text(t), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn format_and_parse_round_trip_over_centuries() {
        for secs in (0..13_000_000_000u64).step_by(86_399 * 997 + 13) {
            let t = UNIX_EPOCH + Duration::new(secs, (secs % 1_000_000_000) as u32);
            assert_eq!(parse(text(t).as_bytes()), Some(t), "{}", text(t));
        }
    }

    #[test]
    fn docker_variants_parse() {
        let t = UNIX_EPOCH + Duration::new(1_796_504_154, 123_456_700);
        assert_eq!(parse(b"2026-12-05T20:55:54.1234567Z"), Some(t));
        assert_eq!(parse(b"2026-12-05T21:55:54.1234567+01:00"), Some(t));
        assert_eq!(
            parse(b"2026-12-05T20:55:54Z"),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_504_154))
        );
        for bad in [
            &b"2026-12-05"[..],
            b"2026-13-05T20:55:54Z",
            b"2026-12-05T20:55:54.Z",
            b"2026-12-05T20:55:54",
        ] {
            assert_eq!(parse(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
