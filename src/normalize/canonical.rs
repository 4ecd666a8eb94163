//! The canonical shape itself, for connectors that already normalize.

use super::{json_error, required, Rejection};
use crate::event::CanonicalEvent;

pub(super) fn normalize(text: &str) -> Result<CanonicalEvent, Rejection> {
    let mut event: CanonicalEvent = serde_json::from_str(text).map_err(json_error)?;
    event.event_id = required(Some(event.event_id), "event_id")?;
    event.platform = required(Some(event.platform), "platform")?;
    event.author.id = required(Some(event.author.id), "author.id")?;
    event.created_at = required(Some(event.created_at), "created_at")?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    use crate::event::{Community, Kind};
    use crate::normalize::{parse, Reason};

    #[test]
    fn canonical_round_trips() {
        let raw = r#"{"event_id":"forum:42","platform":"forum","kind":"post","created_at":"2026-11-20T10:00:00Z","author":{"id":"u9","display_name":"Zoë"},"text":"Überweisung fehlgeschlagen 💸","community":"owned","mentions":[],"hashtags":[]}"#;
        let e = parse(raw, None).unwrap();
        assert_eq!(e.event_id, "forum:42");
        assert_eq!(e.kind, Kind::Post);
        assert_eq!(e.community, Community::Owned);
        assert_eq!(e.author.display_name.as_deref(), Some("Zoë"));
    }

    #[test]
    fn blank_required_fields_are_invalid() {
        let raw = r#"{"event_id":" ","platform":"forum","kind":"post","created_at":"2026-11-20T10:00:00Z","author":{"id":"u9"},"text":"x"}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
    }

    #[test]
    fn unknown_kind_is_invalid_value_and_missing_text_is_missing_field() {
        let raw = r#"{"event_id":"a:1","platform":"a","kind":"shout","created_at":"t","author":{"id":"u"},"text":"x"}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        let raw = r#"{"event_id":"a:1","platform":"a","kind":"post","created_at":"t","author":{"id":"u"}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
    }

    #[test]
    fn rating_out_of_range_is_invalid() {
        let raw = r#"{"event_id":"r:1","platform":"review","kind":"review","created_at":"2026-11-20T10:00:00Z","author":{"id":"u"},"text":"meh","rating":9}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
    }
}
