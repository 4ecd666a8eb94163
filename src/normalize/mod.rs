//! normalize: a platform's own JSON -> one [`CanonicalEvent`], or a [`Rejection`] that says why
//! not. Pure: no I/O, no clock.
//!
//! Which adapter reads a payload is decided by the `platform` header when it names one we have,
//! else by the payload's shape. A shape we don't recognise is rejected, never guessed.
//!
//! The `[limits]` section of the configuration ([`LimitsConfig`]) is defined here
//! (`normalize/config.rs`): normalize enforces it.

mod canonical;
mod config;
mod discourse;
mod linkedin;
mod meta;
mod reddit;
mod reviews;
mod text;
pub mod time;
mod x;
mod youtube;

pub use config::{LimitsConfig, LIBRDKAFKA_MAX_MESSAGE_BYTES, RECORD_HEADROOM_BYTES};
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

/// The adapters: one per platform. Each reads that platform's own payload shapes (see the
/// module docs) and returns a canonical event or a rejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// X/Twitter API v2 tweets (`data` + `includes`), and DMs in the Account Activity shape.
    X,
    /// Facebook Graph webhooks (`object: "page"`): feed posts and comments, Messenger.
    Facebook,
    /// Instagram Graph webhooks (`object: "instagram"`): comments, mentions, messaging.
    Instagram,
    /// LinkedIn organization social-action notifications (comments, mentions).
    LinkedIn,
    /// Reddit comments (`t1`) and submissions (`t3`) as the API returns them.
    Reddit,
    /// YouTube Data API `youtube#commentThread`, and a single `youtube#comment` (a reply).
    YouTube,
    /// Google Business Profile reviews.
    GoogleReviews,
    /// Trustpilot service reviews (the API's review object, or its webhook envelope).
    Trustpilot,
    /// The company's own community: the Discourse `post_created` webhook.
    Discourse,
    /// outcry's own canonical event, for connectors that already normalize.
    Canonical,
}

impl Shape {
    pub const ALL: [Shape; 10] = [
        Shape::X,
        Shape::Facebook,
        Shape::Instagram,
        Shape::LinkedIn,
        Shape::Reddit,
        Shape::YouTube,
        Shape::GoogleReviews,
        Shape::Trustpilot,
        Shape::Discourse,
        Shape::Canonical,
    ];

    /// The `platform` header value that selects this adapter (others are accepted too, see
    /// [`Shape::from_header`]).
    pub fn header(self) -> &'static str {
        match self {
            Shape::X => "x",
            Shape::Facebook => "facebook",
            Shape::Instagram => "instagram",
            Shape::LinkedIn => "linkedin",
            Shape::Reddit => "reddit",
            Shape::YouTube => "youtube",
            Shape::GoogleReviews => "google",
            Shape::Trustpilot => "trustpilot",
            Shape::Discourse => "discourse",
            Shape::Canonical => "canonical",
        }
    }

    /// The adapter a `platform` header value names, if we have one.
    pub fn from_header(value: &str) -> Option<Shape> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "x" | "twitter" | "x_v2" => Shape::X,
            "facebook" | "fb" | "messenger" => Shape::Facebook,
            "instagram" | "ig" => Shape::Instagram,
            "linkedin" => Shape::LinkedIn,
            "reddit" => Shape::Reddit,
            "youtube" => Shape::YouTube,
            "google" | "google_reviews" | "google_business_profile" | "gbp" => Shape::GoogleReviews,
            "trustpilot" => Shape::Trustpilot,
            "discourse" | "forum" | "community" => Shape::Discourse,
            "canonical" => Shape::Canonical,
            _ => return None,
        })
    }

    fn adapter(self) -> fn(&str) -> Result<CanonicalEvent, Rejection> {
        match self {
            Shape::X => x::normalize,
            Shape::Facebook => meta::facebook,
            Shape::Instagram => meta::instagram,
            Shape::LinkedIn => linkedin::normalize,
            Shape::Reddit => reddit::normalize,
            Shape::YouTube => youtube::normalize,
            Shape::GoogleReviews => reviews::google,
            Shape::Trustpilot => reviews::trustpilot,
            Shape::Discourse => discourse::normalize,
            Shape::Canonical => canonical::normalize,
        }
    }
}

/// Limits checked before anything is parsed, and sanity bounds on what is.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_payload_bytes: usize,
    /// `created_at` later than the time of reading by more than this is an absurd value.
    pub max_future_skew_ms: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_payload_bytes: 1024 * 1024,
            max_future_skew_ms: 24 * 3600 * 1000,
        }
    }
}

/// `created_at` before this (2000-01-01T00:00:00Z) is an absurd value.
pub const EARLIEST_CREATED_AT_MS: i64 = 946_684_800_000;

/// Just enough of a payload to tell its shape: which top-level keys are present, and the two
/// discriminating strings. Unknown keys are skipped without allocating.
#[derive(Deserialize)]
struct Probe {
    data: Option<IgnoredAny>,
    event_id: Option<IgnoredAny>,
    author: Option<IgnoredAny>,
    kind: Option<serde_json::Value>,
    object: Option<serde_json::Value>,
    for_user_id: Option<IgnoredAny>,
    direct_message_events: Option<IgnoredAny>,
    notifications: Option<IgnoredAny>,
    #[serde(rename = "organizationalEntity")]
    organizational_entity: Option<IgnoredAny>,
    #[serde(rename = "reviewId")]
    review_id: Option<IgnoredAny>,
    #[serde(rename = "starRating")]
    star_rating: Option<IgnoredAny>,
    stars: Option<IgnoredAny>,
    consumer: Option<IgnoredAny>,
    events: Option<IgnoredAny>,
    post: Option<IgnoredAny>,
}

/// Raw bytes (and the optional `platform` header) to a canonical event. `now_ms` is the time
/// of reading (unix ms), the reference for "far in the future"; it is a parameter so that this
/// stays a pure function.
pub fn normalize(
    raw: &[u8],
    platform_header: Option<&str>,
    limits: &Limits,
    now_ms: i64,
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
    finish(shape.adapter()(text)?, limits, now_ms)
}

/// Tell a payload's shape from its top-level keys. Never a guess: a payload that matches no
/// adapter's markers is an unknown shape.
pub fn detect(text: &str) -> Result<Shape, Rejection> {
    if !text.trim_start().starts_with('{') {
        // Valid JSON that is not an object is no shape of ours; anything else is not JSON.
        serde_json::from_str::<IgnoredAny>(text).map_err(json_error)?;
        return Err(Rejection::new(
            Reason::UnknownShape,
            "the payload is JSON but not an object",
        ));
    }
    let p: Probe = serde_json::from_str(text).map_err(json_error)?;
    let kind = p.kind.as_ref().and_then(|k| k.as_str()).unwrap_or("");
    let object = p.object.as_ref().and_then(|o| o.as_str()).unwrap_or("");
    Ok(if p.event_id.is_some() && p.author.is_some() {
        Shape::Canonical
    } else if p.for_user_id.is_some() && p.direct_message_events.is_some() {
        Shape::X
    } else if object == "page" {
        Shape::Facebook
    } else if object == "instagram" {
        Shape::Instagram
    } else if p.data.is_some() && (kind == "t1" || kind == "t3") {
        Shape::Reddit
    } else if kind.starts_with("youtube#comment") {
        Shape::YouTube
    } else if p.data.is_some() && p.kind.is_none() {
        Shape::X
    } else if p.notifications.is_some() || p.organizational_entity.is_some() {
        Shape::LinkedIn
    } else if p.review_id.is_some() || p.star_rating.is_some() {
        Shape::GoogleReviews
    } else if (p.stars.is_some() && p.consumer.is_some()) || p.events.is_some() {
        Shape::Trustpilot
    } else if p.post.is_some() {
        Shape::Discourse
    } else {
        return Err(Rejection::new(
            Reason::UnknownShape,
            "no adapter recognises this payload (send a `platform` header, or see README, \
             \"Input shapes\")",
        ));
    })
}

/// What every adapter's output goes through: one canonical timestamp form and its sanity
/// bounds, the rating range, mentions, hashtags and URLs taken from the text when the platform
/// did not list them, and no duplicates among them.
fn finish(
    mut e: CanonicalEvent,
    limits: &Limits,
    now_ms: i64,
) -> Result<CanonicalEvent, Rejection> {
    let (created_at, at) = time::rfc3339_with_millis(&e.created_at, "created_at")?;
    e.created_at = created_at;
    if at > now_ms.saturating_add(limits.max_future_skew_ms) {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("created_at {} is in the future", e.created_at),
        ));
    }
    if at < EARLIEST_CREATED_AT_MS {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("created_at {} is before 2000", e.created_at),
        ));
    }
    if let Some(rating) = e.rating {
        if !(0.0..=5.0).contains(&rating) {
            return Err(Rejection::new(
                Reason::InvalidValue,
                format!("rating {rating} outside 0..=5"),
            ));
        }
    }
    if let Some(f) = e.author.followers {
        // Deserialized as u64, so never negative; an i64-overflowing count is still absurd.
        if f > i64::MAX as u64 {
            return Err(Rejection::new(
                Reason::InvalidValue,
                format!("author.followers {f} is absurd"),
            ));
        }
    }
    let found = text::extract(&e.text);
    if e.mentions.is_empty() {
        e.mentions = found.mentions;
    }
    if e.hashtags.is_empty() {
        e.hashtags = found.hashtags;
    }
    if e.urls.is_empty() {
        e.urls = found.urls;
    }
    for list in [&mut e.mentions, &mut e.hashtags] {
        for item in list.iter_mut() {
            let trimmed = item.trim_start_matches(['@', '#']);
            if trimmed.len() != item.len() {
                *item = trimmed.to_owned();
            }
        }
    }
    for list in [&mut e.mentions, &mut e.hashtags, &mut e.urls] {
        dedupe(list);
    }
    Ok(e)
}

/// Remove repeats (case-insensitively), keeping the first spelling and the order.
fn dedupe(list: &mut Vec<String>) {
    if list.len() < 2 {
        return;
    }
    let mut seen = std::collections::HashSet::new();
    list.retain(|s| seen.insert(s.to_lowercase()));
}

/// A payload that batches several events (a webhook delivery with several entries): outcry
/// reads one event per message, so the connector must split deliveries. Lossless: the whole
/// delivery goes to the dead-letter topic with this reason, to be split and replayed.
pub(crate) fn batched(what: &str, n: usize) -> Rejection {
    Rejection::new(
        Reason::InvalidValue,
        format!("{what} holds {n} events; social.raw carries one event per message: split the delivery upstream"),
    )
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

/// A required field is absent; `path` names it (`entry[0].changes[0].value.from.id`).
fn missing(path: &str) -> Rejection {
    Rejection::new(Reason::MissingField, format!("missing field `{path}`"))
}

/// Platform activity outcry deliberately does not route (a reaction, a receipt, the brand's
/// own message): `what` says what it was.
fn not_a_message(what: impl fmt::Display) -> Rejection {
    Rejection::new(
        Reason::UnknownShape,
        format!("{what}: not a customer message"),
    )
}

/// A required string field: present and not blank.
fn required(value: Option<String>, field: &str) -> Result<String, Rejection> {
    match value {
        Some(v) if !v.trim().is_empty() => Ok(v),
        Some(_) => Err(Rejection::new(
            Reason::InvalidValue,
            format!("`{field}` is empty"),
        )),
        None => Err(missing(field)),
    }
}

/// For tests across the crate: "now" is 2026-11-25T00:00:00Z.
#[cfg(test)]
pub(crate) const TEST_NOW_MS: i64 = 1_795_564_800_000;

/// For tests across the crate: normalize with the default limits at [`TEST_NOW_MS`].
#[cfg(test)]
pub(crate) fn parse(raw: &str, header: Option<&str>) -> Result<CanonicalEvent, Rejection> {
    normalize(raw.as_bytes(), header, &Limits::default(), TEST_NOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(raw: &[u8]) -> Reason {
        normalize(raw, None, &Limits::default(), TEST_NOW_MS)
            .unwrap_err()
            .reason
    }

    #[test]
    fn size_is_checked_before_parsing() {
        let limits = Limits {
            max_payload_bytes: 8,
            ..Limits::default()
        };
        let err = normalize(b"{not even json}", None, &limits, TEST_NOW_MS).unwrap_err();
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

    fn canonical(created_at: &str, extra: &str) -> String {
        format!(
            r#"{{"event_id":"forum:1","platform":"forum","kind":"post","created_at":"{created_at}","author":{{"id":"9"}},"text":"hi @Acme see https://acme.example/status #Outage #outage"{extra}}}"#
        )
    }

    #[test]
    fn absurd_values_are_invalid() {
        let ok = parse(&canonical("2026-11-20T10:00:00+01:00", ""), None).unwrap();
        assert_eq!(ok.created_at, "2026-11-20T09:00:00.000Z");
        for (created_at, extra, why) in [
            ("2030-01-01T00:00:00Z", "", "in the future"),
            ("1970-01-01T00:00:00Z", "", "before 2000"),
            ("last tuesday", "", "RFC 3339"),
            ("2026-11-20T10:00:00Z", r#","rating":-1"#, "rating"),
            ("2026-11-20T10:00:00Z", r#","rating":6"#, "rating"),
        ] {
            let err = parse(&canonical(created_at, extra), None).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidValue, "{created_at} {extra}");
            assert!(err.message.contains(why), "{}", err.message);
        }
        let negative = canonical("2026-11-20T10:00:00Z", "")
            .replace(r#""id":"9""#, r#""id":"9","followers":-5"#);
        assert_eq!(
            parse(&negative, None).unwrap_err().reason,
            Reason::InvalidValue
        );
    }

    #[test]
    fn mentions_hashtags_and_urls_come_from_the_text_when_not_listed() {
        let e = parse(&canonical("2026-11-20T10:00:00Z", ""), None).unwrap();
        assert_eq!(e.mentions, vec!["Acme"]);
        assert_eq!(
            e.hashtags,
            vec!["Outage"],
            "repeats in another case are dropped"
        );
        assert_eq!(e.urls, vec!["https://acme.example/status"]);
    }

    #[test]
    fn header_overrides_shape_detection() {
        // A canonical payload forced through the X adapter is judged as X, and fails.
        let canonical = canonical("2026-11-20T10:00:00Z", "");
        assert!(parse(&canonical, None).is_ok());
        let err = parse(&canonical, Some("x")).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("`data`"), "{}", err.message);
        assert!(parse(&canonical, Some("canonical")).is_ok());
        // A header naming no adapter we have falls back to the shape.
        assert!(parse(&canonical, Some("myspace")).is_ok());
    }

    #[test]
    fn every_adapter_has_a_header_name() {
        for shape in Shape::ALL {
            assert_eq!(Shape::from_header(shape.header()), Some(shape));
        }
    }

    #[test]
    fn reason_codes_are_distinct() {
        let mut seen: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), Reason::ALL.len());
    }
}
