//! The company's own community: the Discourse `post_created` webhook body, `{"post":{…}}`
//! (Discourse's `WebHookPostSerializer`). Platform `forum`, community Owned.
//!
//! - `event_id` is `forum:<post id>`; `conversation_id` is `forum:topic:<topic_id>` (every post
//!   of a topic, the first included).
//! - Post number 1 opens a topic: a Post. Any other post is a Reply whose `in_reply_to` is
//!   `forum:topic:<topic_id>/<n>`, `n` being `reply_to_post_number`, or 1 when that is null (a
//!   reply to the topic rather than to one post answers its opening post). The payload names
//!   the parent by its number in the topic, not by its post id, so `in_reply_to` is not the
//!   parent's `event_id`: a consumer wanting the parent looks it up by topic and number.
//! - A post in a private-message topic (`topic_archetype: "private_message"`) is a Dm with
//!   private visibility, never a public post.
//! - Text is `raw` (Markdown, as typed); when the webhook omits it, `cooked` (HTML) with the
//!   tags stripped and entities decoded. An opening post's text starts with its topic's title
//!   and a blank line (as a Reddit submission's does).
//! - The author id is `user_id` as a string, the handle `username`, the display name `name`.
//!   Posts by Discourse's own users (`system` -1, `discobot` -2, any id <= 0) and non-regular
//!   posts (`post_type` != 1: moderator actions, small actions such as "closed the topic",
//!   whispers) are not a member's message and are rejected as an unknown shape.
//! - `url` is none: the payload carries no base URL (the instance is only in the
//!   `X-Discourse-Instance` header).

use super::{json_error, missing, required, time, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use serde::Deserialize;

#[derive(Deserialize)]
struct Body {
    post: Option<Post>,
}

#[derive(Deserialize)]
struct Post {
    id: Option<u64>,
    name: Option<String>,
    username: Option<String>,
    created_at: Option<String>,
    cooked: Option<String>,
    raw: Option<String>,
    post_number: Option<u64>,
    post_type: Option<i64>,
    topic_id: Option<u64>,
    topic_title: Option<String>,
    topic_archetype: Option<String>,
    reply_to_post_number: Option<u64>,
    user_id: Option<i64>,
}

/// Discourse's `Post.types[:regular]`.
const REGULAR: i64 = 1;

pub(super) fn normalize(text: &str) -> Result<CanonicalEvent, Rejection> {
    let body: Body = serde_json::from_str(text).map_err(json_error)?;
    let p = body.post.ok_or_else(|| missing("post"))?;
    let id = p.id.ok_or_else(|| missing("post.id"))?;
    let post_type = p.post_type.unwrap_or(REGULAR);
    if post_type != REGULAR {
        return Err(Rejection::new(
            Reason::UnknownShape,
            format!("post {id} has post_type {post_type}, not a member's message"),
        ));
    }
    let user_id = p.user_id.ok_or_else(|| missing("post.user_id"))?;
    if user_id <= 0 {
        return Err(Rejection::new(
            Reason::UnknownShape,
            format!("post {id} is by Discourse's own user {user_id}, not a member's message"),
        ));
    }
    let topic_id = p.topic_id.ok_or_else(|| missing("post.topic_id"))?;
    let post_number = p.post_number.ok_or_else(|| missing("post.post_number"))?;
    let created_at = time::rfc3339(
        &required(p.created_at, "post.created_at")?,
        "post.created_at",
    )?;
    let text = match p.raw.filter(|r| !r.trim().is_empty()) {
        Some(raw) => raw,
        None => super::text::html_to_text(&required(p.cooked, "post.cooked")?),
    };
    if text.trim().is_empty() {
        return Err(Rejection::new(
            Reason::InvalidValue,
            "`post.cooked` holds no text",
        ));
    }
    // An opening post is read with its topic's title, as a Reddit submission is.
    let text = match p
        .topic_title
        .filter(|t| post_number <= 1 && !t.trim().is_empty())
    {
        Some(title) => format!("{}\n\n{text}", title.trim()),
        None => text,
    };
    let private = p.topic_archetype.as_deref() == Some("private_message");
    let conversation_id = format!("forum:topic:{topic_id}");
    let (kind, in_reply_to) = if private {
        (Kind::Dm, None)
    } else if post_number <= 1 {
        (Kind::Post, None)
    } else {
        let to = p.reply_to_post_number.filter(|n| *n >= 1).unwrap_or(1);
        (Kind::Reply, Some(format!("{conversation_id}/{to}")))
    };
    Ok(CanonicalEvent {
        event_id: format!("forum:{id}"),
        platform: "forum".to_owned(),
        kind,
        created_at,
        conversation_id: Some(conversation_id),
        in_reply_to,
        author: Author {
            id: user_id.to_string(),
            handle: p.username.filter(|u| !u.trim().is_empty()),
            display_name: p.name.filter(|n| !n.trim().is_empty()),
            ..Author::default()
        },
        text,
        lang: None,
        visibility: if private {
            Visibility::Private
        } else {
            Visibility::Public
        },
        community: Community::Owned,
        url: None,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: None,
        source: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use crate::event::{Community, Kind, Visibility};
    use crate::normalize::text::html_to_text;
    use crate::normalize::{parse, Reason};

    const REPLY: &str = include_str!("../../tests/fixtures/discourse/post_created.json");
    const COOKED: &str =
        include_str!("../../tests/fixtures/discourse/post_created_cooked_only.json");
    const SMALL_ACTION: &str = include_str!("../../tests/fixtures/discourse/small_action.json");

    #[test]
    fn reply_with_raw() {
        for header in [None, Some("discourse"), Some("forum")] {
            let e = parse(REPLY, header).unwrap();
            assert_eq!(e.event_id, "forum:48213");
            assert_eq!(e.platform, "forum");
            assert_eq!(e.kind, Kind::Reply);
            assert_eq!(e.community, Community::Owned);
            assert_eq!(e.visibility, Visibility::Public);
            assert_eq!(e.author.id, "3127");
            assert_eq!(e.author.handle.as_deref(), Some("camila.duarte"));
            assert_eq!(e.author.display_name.as_deref(), Some("Camila Duarte"));
            assert_eq!(
                e.text,
                "@acme_mod thanks, but the firmware update did **not** fix it.\n\n\
                 Still dropping every ~10 minutes on the XR-200 & the log shows `T3 timeout`. \
                 Ticket #58213 is still open 😞"
            );
            assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
            assert_eq!(e.conversation_id.as_deref(), Some("forum:topic:9120"));
            assert_eq!(e.in_reply_to.as_deref(), Some("forum:topic:9120/2"));
            assert_eq!(e.url, None);
            assert_eq!(e.mentions, vec!["acme_mod"]);
            assert_eq!(e.rating, None);
        }
    }

    #[test]
    fn cooked_only_opening_post() {
        let e = parse(COOKED, None).unwrap();
        assert_eq!(e.event_id, "forum:48190");
        assert_eq!(e.kind, Kind::Post);
        assert_eq!(e.in_reply_to, None);
        assert_eq!(e.conversation_id.as_deref(), Some("forum:topic:9120"));
        assert_eq!(e.author.id, "1045");
        assert_eq!(e.author.handle.as_deref(), Some("jkowalski"));
        assert_eq!(e.author.display_name, None);
        assert_eq!(
            e.text,
            "Internet drops every evening since the XR-200 firmware 4.2 update\n\n\
             Since Tuesday my connection drops every ~10 minutes between 7 & 10 pm.\n\n\
             What I tried:\n\n\
             - rebooting the gateway\n\
             - a factory reset :slightly_frowning_face:\n\n\
             Log says <T3 timeout>. Anyone else? @acme_mod"
        );
        assert_eq!(e.created_at, "2026-11-20T08:02:11.412Z");
        assert_eq!(e.mentions, vec!["acme_mod"]);
    }

    #[test]
    fn small_action_is_not_a_message() {
        for header in [None, Some("discourse")] {
            let err = parse(SMALL_ACTION, header).unwrap_err();
            assert_eq!(err.reason, Reason::UnknownShape);
            assert!(
                err.message.contains("not a member's message"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn system_user_is_not_a_member() {
        let raw = REPLY.replace(r#""user_id": 3127"#, r#""user_id": -1"#);
        assert_ne!(raw, REPLY);
        let err = parse(&raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(
            err.message.contains("not a member's message"),
            "{}",
            err.message
        );
    }

    #[test]
    fn private_message_is_a_private_dm() {
        let raw = REPLY.replace(
            r#""topic_archetype": "regular""#,
            r#""topic_archetype": "private_message""#,
        );
        assert_ne!(raw, REPLY);
        let e = parse(&raw, None).unwrap();
        assert_eq!(e.kind, Kind::Dm);
        assert_eq!(e.visibility, Visibility::Private);
        assert_eq!(e.community, Community::Owned);
    }

    #[test]
    fn reply_to_the_topic_answers_post_one() {
        let raw = REPLY.replace(
            r#""reply_to_post_number": 2"#,
            r#""reply_to_post_number": null"#,
        );
        assert_ne!(raw, REPLY);
        let e = parse(&raw, None).unwrap();
        assert_eq!(e.in_reply_to.as_deref(), Some("forum:topic:9120/1"));
    }

    #[test]
    fn missing_fields_name_their_path() {
        let raw = REPLY.replace(r#""user_id": 3127,"#, "");
        assert_ne!(raw, REPLY);
        let err = parse(&raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("post.user_id"), "{}", err.message);
        let raw = r#"{"post":{"id":1,"user_id":5,"topic_id":2,"post_number":1,"post_type":1,"created_at":"2026-11-20T09:15:02Z"}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("post.cooked"), "{}", err.message);
        let err = parse(r#"{"post":"hello"}"#, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        let err = parse(r#"{"topic":{"id":1}}"#, Some("discourse")).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("`post`"), "{}", err.message);
    }

    #[test]
    fn html_to_text_never_panics_and_keeps_text() {
        assert_eq!(html_to_text("<p>a &amp; b</p><p>c</p>"), "a & b\n\nc");
        assert_eq!(html_to_text("1 < 2 and é<b>ü</b>"), "1 < 2 and éü");
        assert_eq!(
            html_to_text("<p>unclosed <a href=\"x\""),
            "unclosed <a href=\"x\""
        );
        assert_eq!(
            html_to_text("hi <img src=\"/e.png\" class=\"emoji only-emoji\" alt=\":wave:\">"),
            "hi :wave:"
        );
        assert_eq!(html_to_text("<img src=\"/u.png\" alt=\"photo\">x"), "x");
        assert_eq!(html_to_text(""), "");
        for s in [
            "<",
            ">",
            "<<>>",
            "<ß",
            "😭<😭>😭",
            "<img alt=\"",
            "<img class=\"emoji\" alt=",
        ] {
            let _ = html_to_text(s);
        }
    }
}
