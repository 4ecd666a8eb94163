//! Platform timestamps to the one form canonical events carry: RFC 3339 in UTC with
//! milliseconds, `2026-11-20T09:15:02.000Z`. Platforms send RFC 3339 with `Z` or an offset
//! (`+00:00`, Facebook's `+0000`), unix seconds (Reddit, as a float) or unix milliseconds
//! (Messenger, LinkedIn).

use super::{Reason, Rejection};
use chrono::{DateTime, SecondsFormat, TimeZone, Utc};

/// The wall clock in unix milliseconds: read by the adapters (worker, demo, bench) and passed
/// into the pure stage.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The canonical string of an instant.
pub fn format_millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Unix milliseconds of a canonical (or any RFC 3339) timestamp.
pub fn unix_millis_of(s: &str) -> Option<i64> {
    parse_instant(s).map(|t| t.timestamp_millis())
}

fn parse_instant(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
}

/// An RFC 3339 / ISO 8601 timestamp with a zone (`Z`, `+01:00`, `+0000`).
pub fn rfc3339(s: &str, field: &str) -> Result<String, Rejection> {
    rfc3339_with_millis(s, field).map(|(s, _)| s)
}

/// [`rfc3339`], and the instant in unix milliseconds.
pub fn rfc3339_with_millis(s: &str, field: &str) -> Result<(String, i64), Rejection> {
    parse_instant(s)
        .map(|t| (format_millis(t), t.timestamp_millis()))
        .ok_or_else(|| {
            Rejection::new(
                Reason::InvalidValue,
                format!("`{field}` is not an RFC 3339 timestamp: {:?}", clip(s)),
            )
        })
}

/// Unix time in seconds (a float: Reddit's `created_utc` is `1732100000.0`).
pub fn unix_seconds(secs: f64, field: &str) -> Result<String, Rejection> {
    if !secs.is_finite() {
        return Err(out_of_range(field, secs));
    }
    unix_millis((secs * 1000.0).round() as i64, field)
}

/// Unix time in milliseconds.
pub fn unix_millis(ms: i64, field: &str) -> Result<String, Rejection> {
    match Utc.timestamp_millis_opt(ms) {
        chrono::LocalResult::Single(t) => Ok(format_millis(t)),
        _ => Err(out_of_range(field, ms)),
    }
}

fn out_of_range(field: &str, v: impl std::fmt::Display) -> Rejection {
    Rejection::new(
        Reason::InvalidValue,
        format!("`{field}` = {v} is not a representable time"),
    )
}

/// At most 40 characters of a value, for messages.
pub(super) fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_form_becomes_utc_millis() {
        let want = "2026-11-20T09:15:02.000Z";
        assert_eq!(rfc3339("2026-11-20T09:15:02Z", "t").unwrap(), want);
        assert_eq!(rfc3339("2026-11-20T09:15:02.000Z", "t").unwrap(), want);
        assert_eq!(rfc3339("2026-11-20T10:15:02+01:00", "t").unwrap(), want);
        assert_eq!(rfc3339("2026-11-20T09:15:02+0000", "t").unwrap(), want);
        assert_eq!(
            unix_seconds(1_763_630_102.0, "t").unwrap(),
            "2025-11-20T09:15:02.000Z"
        );
        assert_eq!(
            unix_millis(1_763_630_102_000, "t").unwrap(),
            "2025-11-20T09:15:02.000Z"
        );
        assert_eq!(unix_millis_of(want), Some(1_795_166_102_000));
    }

    #[test]
    fn nonsense_is_an_invalid_value() {
        for bad in ["yesterday", "2026-13-01T00:00:00Z", "2026-11-20", ""] {
            assert_eq!(
                rfc3339(bad, "t").unwrap_err().reason,
                Reason::InvalidValue,
                "{bad}"
            );
        }
        assert!(unix_seconds(f64::NAN, "t").is_err());
        assert!(unix_seconds(1e300, "t").is_err());
        assert!(unix_millis(i64::MAX, "t").is_err());
    }
}
