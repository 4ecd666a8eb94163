//! LinkedIn Organization Social Action Notifications: the webhook push
//! (`{"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS", "notifications": [..]}`), or one
//! notification on its own as the pull finder (`GET /rest/organizationalEntityNotifications`)
//! returns it in `elements` (a top-level `elements` list is read like `notifications`).
//!
//! outcry reads one event per message: a push holding more than one notification is a
//! batched delivery (`invalid_value`, to be split upstream); an empty one a `missing_field`.
//!
//! A notification names the organization (`organizationalEntity`), the `action`, the post
//! acted on (`sourcePost`), the activity it generated (`generatedActivity`, decorated in
//! `decoratedGeneratedActivity.comment` or `.share` with `entity`, `owner` and `text`) and
//! `lastModifiedAt` (unix milliseconds).
//!
//! - `COMMENT`: a [`Kind::Comment`] on `sourcePost` (its conversation and what it replies to).
//! - `SHARE_MENTION` (a post mentioning the organization, decorated as `share`) and
//!   `COMMENT_MENTION` (decorated as `comment`): a [`Kind::Mention`].
//!
//! The event id is the generated activity's URN (`linkedin:urn:li:comment:(..)`), stable
//! across redeliveries; the author is its `owner` (a `urn:li:person:..` URN; a top-level
//! `actor` is read when `owner` is absent). LinkedIn sends no names or handles. The URL is
//! `https://www.linkedin.com/feed/update/<post URN>`.
//!
//! What outcry deliberately does not route is an `unknown_shape` ending in "not a customer
//! message": `LIKE`, `SHARE` (a reshare), `ADMIN_COMMENT` and anything the organization
//! itself authored, `COMMENT_EDIT` and `COMMENT_DELETE`. Other actions are an
//! `unknown_shape` too.

use super::time::{rfc3339, unix_millis};
use super::{batched, json_error, missing, not_a_message, required, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "organizationalEntity")]
    organizational_entity: Option<String>,
    action: Option<String>,
    #[serde(rename = "sourcePost")]
    source_post: Option<String>,
    #[serde(rename = "generatedActivity")]
    generated_activity: Option<String>,
    #[serde(rename = "decoratedGeneratedActivity")]
    decorated_generated_activity: Option<Generated>,
    #[serde(rename = "lastModifiedAt")]
    last_modified_at: Option<Value>,
    actor: Option<String>,
}

#[derive(Deserialize)]
struct Generated {
    comment: Option<Activity>,
    share: Option<Activity>,
}

/// A decorated comment or share.
#[derive(Deserialize)]
struct Activity {
    entity: Option<String>,
    owner: Option<String>,
    text: Option<String>,
    /// Some API versions nest the text: `"message": {"text": ..}`.
    message: Option<MessageText>,
    /// What a comment is on.
    object: Option<String>,
}

#[derive(Deserialize)]
struct MessageText {
    text: Option<String>,
}

pub(super) fn normalize(text: &str) -> Result<CanonicalEvent, Rejection> {
    let top: Value = serde_json::from_str(text).map_err(json_error)?;
    let Value::Object(mut map) = top else {
        return Err(Rejection::new(
            Reason::UnknownShape,
            "linkedin: the payload is JSON but not an object",
        ));
    };
    let list = ["notifications", "elements"]
        .into_iter()
        .find_map(|key| map.remove(key).map(|v| (key, v)));
    let (notification, prefix) = match list {
        Some((key, Value::Array(items))) => {
            if items.len() > 1 {
                return Err(batched("linkedin notification delivery", items.len()));
            }
            let Some(first) = items.into_iter().next() else {
                return Err(Rejection::new(
                    Reason::MissingField,
                    format!("`{key}` is empty: the delivery holds no notification"),
                ));
            };
            (first, format!("{key}[0]."))
        }
        Some((key, _)) => {
            return Err(Rejection::new(
                Reason::UnknownShape,
                format!("linkedin: `{key}` is not a list"),
            ))
        }
        None => (Value::Object(map), String::new()),
    };
    let n: Notification = serde_json::from_value(notification).map_err(json_error)?;
    read(n, &prefix)
}

fn read(n: Notification, p: &str) -> Result<CanonicalEvent, Rejection> {
    let action = required(n.action, &format!("{p}action"))?;
    let (kind, decorated) = match action.as_str() {
        "COMMENT" => (Kind::Comment, "comment"),
        "COMMENT_MENTION" => (Kind::Mention, "comment"),
        "SHARE_MENTION" => (Kind::Mention, "share"),
        "LIKE" => return Err(not_a_message("linkedin LIKE")),
        "SHARE" => return Err(not_a_message("linkedin SHARE (a reshare)")),
        "ADMIN_COMMENT" => {
            return Err(not_a_message(
                "linkedin ADMIN_COMMENT (the organization's own comment)",
            ))
        }
        "COMMENT_EDIT" => return Err(not_a_message("linkedin COMMENT_EDIT (an edit)")),
        "COMMENT_DELETE" => return Err(not_a_message("linkedin COMMENT_DELETE (a removal)")),
        other => {
            return Err(Rejection::new(
                Reason::UnknownShape,
                format!(
                    "linkedin action `{other}` is not one outcry reads \
                     (COMMENT, SHARE_MENTION, COMMENT_MENTION)"
                ),
            ))
        }
    };
    let path = format!("{p}decoratedGeneratedActivity.{decorated}");
    let generated = n
        .decorated_generated_activity
        .and_then(|g| match decorated {
            "share" => g.share,
            _ => g.comment,
        });
    let Some(activity) = generated else {
        return Err(missing(&path));
    };

    let Some(author_id) = activity.owner.or(n.actor).filter(|a| !a.trim().is_empty()) else {
        return Err(Rejection::new(
            Reason::MissingField,
            format!("missing field `{path}.owner` (the actor)"),
        ));
    };
    if n.organizational_entity.as_deref() == Some(author_id.as_str()) {
        return Err(not_a_message(format!(
            "linkedin {action} by the organization itself"
        )));
    }
    let id = match activity.entity.filter(|e| !e.trim().is_empty()) {
        Some(e) => e,
        None => required(n.generated_activity, &format!("{p}generatedActivity"))?,
    };
    let body = match activity.text {
        Some(t) => Some(t),
        None => activity.message.and_then(|m| m.text),
    };
    let body = required(body, &format!("{path}.text"))?;
    let Some(modified) = n.last_modified_at.filter(|v| !v.is_null()) else {
        return Err(missing(&format!("{p}lastModifiedAt")));
    };
    let created_at = millis(&modified, &format!("{p}lastModifiedAt"))?;

    // The post the activity belongs to: for a mention in a share, that share itself.
    let post = match decorated {
        "share" => Some(id.clone()),
        _ => n
            .source_post
            .or(activity.object)
            .filter(|s| !s.trim().is_empty()),
    };
    let in_reply_to = match decorated {
        "share" => None,
        _ => post.as_deref().map(|s| format!("linkedin:{s}")),
    };
    Ok(CanonicalEvent {
        event_id: format!("linkedin:{id}"),
        platform: "linkedin".to_owned(),
        kind,
        created_at,
        conversation_id: post.as_deref().map(|s| format!("linkedin:{s}")),
        in_reply_to,
        author: Author {
            id: author_id,
            ..Author::default()
        },
        text: body,
        lang: None,
        visibility: Visibility::Public,
        community: Community::Public,
        url: post.map(|s| format!("https://www.linkedin.com/feed/update/{s}")),
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: None,
        source: Default::default(),
    })
}

/// Unix milliseconds, as a number or a numeric string; an RFC 3339 string is accepted too.
fn millis(v: &Value, field: &str) -> Result<String, Rejection> {
    let invalid = || {
        Rejection::new(
            Reason::InvalidValue,
            format!("`{field}` is not a unix time in milliseconds"),
        )
    };
    match v {
        Value::Number(n) => unix_millis(n.as_i64().ok_or_else(invalid)?, field),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(ms) => unix_millis(ms, field),
            Err(_) => rfc3339(s, field),
        },
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Kind, Visibility};
    use crate::normalize::{parse, Reason};

    const COMMENT: &str = include_str!("../../tests/fixtures/linkedin/comment.json");
    const MENTION: &str = include_str!("../../tests/fixtures/linkedin/mention.json");
    const LIKE: &str = include_str!("../../tests/fixtures/linkedin/like.json");
    const MISSING_ACTOR: &str = include_str!("../../tests/fixtures/linkedin/missing_actor.json");

    const COMMENT_URN: &str =
        "urn:li:comment:(urn:li:activity:7396514202871345152,7397105561183920128)";

    #[test]
    fn comment_notification() {
        let e = parse(COMMENT, None).unwrap();
        assert_eq!(e, parse(COMMENT, Some("linkedin")).unwrap());
        assert_eq!(e.event_id, format!("linkedin:{COMMENT_URN}"));
        assert_eq!(e.platform, "linkedin");
        assert_eq!(e.kind, Kind::Comment);
        assert_eq!(e.author.id, "urn:li:person:Qm7xR2vLp9");
        assert_eq!(e.author.handle, None);
        assert_eq!(
            e.text,
            "Same-day? My B2B order has been \"in transit\" for 9 days. Account manager isn't \
             answering \u{2014} can someone from Acme Logistics reach out?"
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("linkedin:urn:li:activity:7396514202871345152")
        );
        assert_eq!(
            e.in_reply_to.as_deref(),
            Some("linkedin:urn:li:activity:7396514202871345152")
        );
        assert_eq!(e.visibility, Visibility::Public);
        assert_eq!(
            e.url.as_deref(),
            Some("https://www.linkedin.com/feed/update/urn:li:activity:7396514202871345152")
        );
    }

    #[test]
    fn share_mention() {
        let e = parse(MENTION, None).unwrap();
        assert_eq!(e, parse(MENTION, Some("linkedin")).unwrap());
        assert_eq!(e.event_id, "linkedin:urn:li:share:7397110948823552000");
        assert_eq!(e.kind, Kind::Mention);
        assert_eq!(e.author.id, "urn:li:person:Hx2pK8wQ4d");
        assert!(
            e.text.starts_with("Huge thanks to Acme Logistics"),
            "{}",
            e.text
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("linkedin:urn:li:share:7397110948823552000")
        );
        assert_eq!(e.in_reply_to, None);
        assert_eq!(
            e.url.as_deref(),
            Some("https://www.linkedin.com/feed/update/urn:li:share:7397110948823552000")
        );
        assert_eq!(e.hashtags, vec!["logistics", "events"]);
    }

    #[test]
    fn comment_mention_is_a_mention_on_the_post() {
        let raw = COMMENT.replace(r#""action": "COMMENT""#, r#""action": "COMMENT_MENTION""#);
        let e = parse(&raw, None).unwrap();
        assert_eq!(e.kind, Kind::Mention);
        assert_eq!(e.event_id, format!("linkedin:{COMMENT_URN}"));
        assert_eq!(
            e.in_reply_to.as_deref(),
            Some("linkedin:urn:li:activity:7396514202871345152")
        );
    }

    #[test]
    fn a_like_is_not_a_message() {
        let err = parse(LIKE, None).unwrap_err();
        assert_eq!(err, parse(LIKE, Some("linkedin")).unwrap_err());
        assert_eq!(err.reason, Reason::UnknownShape);
        assert_eq!(err.message, "linkedin LIKE: not a customer message");
    }

    #[test]
    fn missing_actor_is_a_missing_field() {
        let err = parse(MISSING_ACTOR, None).unwrap_err();
        assert_eq!(err, parse(MISSING_ACTOR, Some("linkedin")).unwrap_err());
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message
                .contains("notifications[0].decoratedGeneratedActivity.comment.owner"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_top_level_actor_stands_in_for_the_owner() {
        let raw = MISSING_ACTOR.replace(
            r#""action": "COMMENT","#,
            r#""action": "COMMENT", "actor": "urn:li:person:Lw4sD9kP2m","#,
        );
        let e = parse(&raw, None).unwrap();
        assert_eq!(e.author.id, "urn:li:person:Lw4sD9kP2m");
    }

    #[test]
    fn other_actions_are_not_routed() {
        for (action, what) in [
            ("SHARE", "reshare"),
            ("ADMIN_COMMENT", "organization's own"),
            ("COMMENT_EDIT", "edit"),
            ("COMMENT_DELETE", "removal"),
        ] {
            let raw = COMMENT.replace(
                r#""action": "COMMENT""#,
                &format!(r#""action": "{action}""#),
            );
            let err = parse(&raw, None).unwrap_err();
            assert_eq!(err.reason, Reason::UnknownShape, "{action}");
            assert!(err.message.contains(what), "{}", err.message);
            assert!(
                err.message.ends_with("not a customer message"),
                "{}",
                err.message
            );
        }
        let own = COMMENT.replace("urn:li:person:Qm7xR2vLp9", "urn:li:organization:74120036");
        let err = parse(&own, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(
            err.message.contains("by the organization itself"),
            "{}",
            err.message
        );
        let odd = COMMENT.replace(r#""action": "COMMENT""#, r#""action": "FOLLOW""#);
        let err = parse(&odd, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(err.message.contains("`FOLLOW`"), "{}", err.message);
    }

    #[test]
    fn batches_and_empty_deliveries() {
        let v: serde_json::Value = serde_json::from_str(COMMENT).unwrap();
        let one = v["notifications"][0].clone();
        let two = serde_json::json!({
            "type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
            "notifications": [one.clone(), one.clone()],
        });
        let err = parse(&two.to_string(), None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(
            err.message
                .contains("linkedin notification delivery holds 2 events"),
            "{}",
            err.message
        );
        let empty = r#"{"type":"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS","notifications":[]}"#;
        assert_eq!(parse(empty, None).unwrap_err().reason, Reason::MissingField);

        // One notification on its own (a pull-finder element) is detected by its
        // `organizationalEntity` and read the same way.
        let e = parse(&one.to_string(), None).unwrap();
        assert_eq!(e.event_id, format!("linkedin:{COMMENT_URN}"));
        let err = parse(&MISSING_ACTOR_ALONE.replace('\n', " "), None).unwrap_err();
        assert!(
            err.message
                .contains("`decoratedGeneratedActivity.comment.owner`"),
            "{}",
            err.message
        );
        // The pull finder's envelope, under the header.
        let pulled = serde_json::json!({"elements": [one], "paging": {"start": 0, "count": 10}});
        let e = parse(&pulled.to_string(), Some("linkedin")).unwrap();
        assert_eq!(e.kind, Kind::Comment);
    }

    const MISSING_ACTOR_ALONE: &str = r#"{"organizationalEntity":"urn:li:organization:1",
        "action":"COMMENT","sourcePost":"urn:li:activity:2","lastModifiedAt":1795166102000,
        "decoratedGeneratedActivity":{"comment":{"entity":"urn:li:comment:(urn:li:activity:2,3)",
        "text":"hello"}}}"#;

    #[test]
    fn required_fields_and_garbage() {
        let no_text = COMMENT.replace(r#""text": "Same-day?"#, r#""note": "Same-day?"#);
        let no_time = COMMENT.replace(r#""lastModifiedAt": 1795166102000,"#, "");
        let no_action = COMMENT.replace(r#""action": "COMMENT","#, "");
        for (raw, path) in [
            (
                no_text.as_str(),
                "notifications[0].decoratedGeneratedActivity.comment.text",
            ),
            (no_time.as_str(), "notifications[0].lastModifiedAt"),
            (no_action.as_str(), "notifications[0].action"),
        ] {
            let err = parse(raw, None).unwrap_err();
            assert_eq!(err.reason, Reason::MissingField, "{path}: {}", err.message);
            assert!(err.message.contains(path), "{}", err.message);
        }
        let nested = COMMENT
            .replace(r#""text": "Same-day?"#, r#""message": {"text": "Same-day?"#)
            .replace(r#"reach out?""#, r#"reach out?"}"#);
        assert!(parse(&nested, None).unwrap().text.starts_with("Same-day?"));
        for raw in [
            r#"{"notifications":"x"}"#,
            r#"{"notifications":[null]}"#,
            r#"{"notifications":[{"action":"COMMENT","decoratedGeneratedActivity":[]}]}"#,
            r#"{"organizationalEntity":"x","action":"COMMENT","lastModifiedAt":1e300,"decoratedGeneratedActivity":{"comment":{"entity":"e","owner":"o","text":"t"}}}"#,
            r#"{"organizationalEntity":"x","action":"COMMENT","lastModifiedAt":"someday","decoratedGeneratedActivity":{"comment":{"entity":"e","owner":"o","text":"t"}}}"#,
            r#"{"organizationalEntity":"x","action":"COMMENT","lastModifiedAt":9223372036854775807,"decoratedGeneratedActivity":{"comment":{"entity":"e","owner":"o","text":"t"}}}"#,
            "[1,2]",
        ] {
            let err = parse(raw, Some("linkedin")).unwrap_err();
            assert_ne!(err.reason, Reason::InternalError, "{raw}");
        }
    }
}
