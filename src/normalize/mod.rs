//! normalize: a platform's own JSON -> one [`CanonicalEvent`], or a [`Rejection`] that says why
//! not. Pure: no I/O, no clock.
//!
//! Which adapter reads a payload is decided by the `platform` header when it names one we have,
//! else by the payload's shape. A shape we don't recognise is rejected, never guessed.

mod canonical;
mod text;
mod x;

pub use text::{decode_html_entities, matching_text};

use crate::event::CanonicalEvent;
use serde::de::IgnoredAny;
use serde::Deserialize;
use std::fmt;

/// Why an input could not become a canonical event. The set is bounded and documented
/// (README, "Dead letters"): each value is a `outcry.dlq.reason` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    PayloadTooLarge,
    InvalidUtf8,
    InvalidJson,
    UnknownShape,
    MissingField,
    InvalidValue,
    /// The matching stage panicked on this input: a bug in outcry, caught so that one poison
    /// event becomes a dead letter instead of a crash loop.
    InternalError,
}

impl Reason {
    pub const ALL: [Reason; 7] = [
        Reason::PayloadTooLarge,
        Reason::InvalidUtf8,
        Reason::InvalidJson,
        Reason::UnknownShape,
        Reason::MissingField,
        Reason::InvalidValue,
        Reason::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::PayloadTooLarge => "payload_too_large",
            Reason::InvalidUtf8 => "invalid_utf8",
            Reason::InvalidJson => "invalid_json",
            Reason::UnknownShape => "unknown_shape",
            Reason::MissingField => "missing_field",
            Reason::InvalidValue => "invalid_value",
            Reason::InternalError => "internal_error",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refused input: the reason code plus a short human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: Reason,
    pub message: String,
}

impl Rejection {
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Rejection {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Rejection {}

/// The payload shapes outcry reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// X/Twitter API v2 tweet lookup or stream payload (`data` + `includes.users`).
    XV2,
    /// outcry's own canonical event, for connectors that already normalize.
    Canonical,
}

impl Shape {
    /// The adapter a `platform` header value names, if we have one.
    fn from_header(value: &str) -> Option<Shape> {
        match value.trim().to_ascii_lowercase().as_str() {
            "x" | "twitter" | "x_v2" => Some(Shape::XV2),
            "canonical" => Some(Shape::Canonical),
            _ => None,
        }
    }
}

/// Limits checked before anything is parsed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_payload_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 1024 * 1024,
        }
    }
}

/// Just enough of a payload to tell its shape, read without allocating.
#[derive(Deserialize)]
struct Probe {
    data: Option<IgnoredAny>,
    event_id: Option<IgnoredAny>,
    author: Option<IgnoredAny>,
}

/// Raw bytes (and the optional `platform` header) to a canonical event.
pub fn normalize(
    raw: &[u8],
    platform_header: Option<&str>,
    limits: &Limits,
) -> Result<CanonicalEvent, Rejection> {
    if raw.len() > limits.max_payload_bytes {
        return Err(Rejection::new(
            Reason::PayloadTooLarge,
            format!(
                "payload is {} bytes, limit is {}",
                raw.len(),
                limits.max_payload_bytes
            ),
        ));
    }
    let text = std::str::from_utf8(raw).map_err(|e| {
        Rejection::new(
            Reason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    let shape = match platform_header.and_then(Shape::from_header) {
        Some(shape) => shape,
        None => detect(text)?,
    };
    match shape {
        Shape::XV2 => x::normalize(text),
        Shape::Canonical => canonical::normalize(text),
    }
}

/// Tell a payload's shape from its top-level keys.
pub fn detect(text: &str) -> Result<Shape, Rejection> {
    let probe: Probe = serde_json::from_str(text).map_err(json_error)?;
    if probe.data.is_some() {
        Ok(Shape::XV2)
    } else if probe.event_id.is_some() && probe.author.is_some() {
        Ok(Shape::Canonical)
    } else {
        Err(Rejection::new(
            Reason::UnknownShape,
            "not a shape outcry reads (expected X v2 `data` or canonical `event_id`+`author`)",
        ))
    }
}

/// serde_json's error, classified: syntax errors are invalid JSON, the rest are shape problems.
fn json_error(e: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    let reason = match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => Reason::InvalidJson,
        Category::Data => {
            let msg = e.to_string();
            if msg.starts_with("missing field") {
                Reason::MissingField
            } else if msg.starts_with("invalid type: sequence")
                || msg.starts_with("invalid type: string")
                || msg.starts_with("invalid type: integer")
                || msg.starts_with("invalid type: floating")
                || msg.starts_with("invalid type: boolean")
                || msg.starts_with("invalid type: null")
            {
                // The top level (or a required object) was not an object at all.
                Reason::UnknownShape
            } else {
                Reason::InvalidValue
            }
        }
    };
    Rejection::new(reason, e.to_string())
}

/// A required string field: present and not blank.
fn required(value: Option<String>, field: &str) -> Result<String, Rejection> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(Rejection::new(
            Reason::InvalidValue,
            format!("`{field}` is empty"),
        )),
        None => Err(Rejection::new(
            Reason::MissingField,
            format!("missing field `{field}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(raw: &[u8]) -> Reason {
        normalize(raw, None, &Limits::default()).unwrap_err().reason
    }

    #[test]
    fn size_is_checked_before_parsing() {
        let limits = Limits {
            max_payload_bytes: 8,
        };
        let err = normalize(b"{not even json}", None, &limits).unwrap_err();
        assert_eq!(err.reason, Reason::PayloadTooLarge);
    }

    #[test]
    fn each_kind_of_garbage_has_its_reason() {
        assert_eq!(reason(b"\xff\xfe{}"), Reason::InvalidUtf8);
        assert_eq!(reason(b"this is not json"), Reason::InvalidJson);
        assert_eq!(reason(b"{\"data\":{\"id\":\"1\""), Reason::InvalidJson);
        assert_eq!(reason(b"{\"hello\":\"world\"}"), Reason::UnknownShape);
        assert_eq!(reason(b"[1,2,3]"), Reason::UnknownShape);
        assert_eq!(reason(b"42"), Reason::UnknownShape);
    }

    #[test]
    fn header_overrides_shape_detection() {
        // A canonical-looking payload forced through the X adapter is judged as X, and fails.
        let canonical = br#"{"event_id":"fb:1","platform":"facebook","kind":"comment","created_at":"2026-11-20T10:00:00Z","author":{"id":"9"},"text":"hi"}"#;
        assert!(normalize(canonical, None, &Limits::default()).is_ok());
        let err = normalize(canonical, Some("x"), &Limits::default()).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("`data`"), "{}", err.message);
        // A header naming a platform without its own adapter falls back to the shape.
        assert!(normalize(canonical, Some("facebook"), &Limits::default()).is_ok());
    }

    #[test]
    fn reason_codes_are_distinct() {
        let mut seen: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), Reason::ALL.len());
    }
}
