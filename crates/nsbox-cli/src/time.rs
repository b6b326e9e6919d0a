//! Times as the command shows them: RFC 3339 in `inspect`, "2 minutes ago" in `ps`.

use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// `2026-12-05T23:45:13.123456789Z`.
pub fn rfc3339(unix: f64) -> String {
    nsbox::logs::rfc3339(UNIX_EPOCH + std::time::Duration::from_secs_f64(unix.max(0.0)))
}

/// Docker's human durations: "Less than a second", "5 seconds", "About a minute", "3 hours"…
pub fn human_duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0 => "Less than a second".into(),
        1..60 => format!("{s} seconds"),
        60..120 => "About a minute".into(),
        120..3600 => format!("{} minutes", s / 60),
        3600..7200 => "About an hour".into(),
        7200..172_800 => format!("{} hours", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// `--since`: a unix time, an RFC 3339 date (`2026-12-05T10:00:00Z`), or a duration back from
/// now (`10m`, `1h30m`, `45s`).
pub fn parse_since(text: &str) -> Option<SystemTime> {
    if let Ok(secs) = text.parse::<f64>() {
        return Some(UNIX_EPOCH + std::time::Duration::from_secs_f64(secs));
    }
    if let Some(d) = parse_duration(text) {
        return SystemTime::now().checked_sub(d);
    }
    parse_rfc3339(text)
}

pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut number = String::new();
    let mut any = false;
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let value: f64 = number.parse().ok()?;
        number.clear();
        total += value
            * match c {
                'h' => 3600.0,
                'm' => 60.0,
                's' => 1.0,
                _ => return None,
            };
        any = true;
    }
    (any && number.is_empty()).then(|| std::time::Duration::from_secs_f64(total))
}

fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    nsbox::logs::parse_rfc3339(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(rfc3339(0.0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339(1_796_514_313.0), "2026-12-05T23:45:13.000000000Z");
        let t = parse_since("2026-12-05T23:45:13Z").unwrap();
        assert_eq!(t.duration_since(UNIX_EPOCH).unwrap().as_secs(), 1_796_514_313);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("45s").unwrap().as_secs(), 45);
        assert!(parse_duration("10").is_none());
        assert!(parse_duration("5x").is_none());
        assert_eq!(human_duration(3.0), "3 seconds");
        assert_eq!(human_duration(7300.0), "2 hours");
    }
}
