//! Reddit: a "thing" as the API returns it (`/api/info`, `/comments/…`, `/r/…/new`): a comment
//! `{"kind":"t1","data":{…}}` or a submission `{"kind":"t3","data":{…}}`.
//!
//! Ids are Reddit *fullnames* (`t1_k9x2m4p`, `t3_1gx7abc`), not the bare base-36 `id`: bare ids
//! are only unique within one type, and a comment's `parent_id` may name a comment or the
//! submission. So `event_id` is `reddit:<fullname>`, a comment's `conversation_id` is its
//! `link_id` (`reddit:t3_…`, which is the submission's own `event_id`, and a submission's
//! `conversation_id` is itself), and `in_reply_to` is its `parent_id` (`reddit:t1_…` or
//! `reddit:t3_…`).
//!
//! The author id is `author_fullname` (`t2_…`, stable across renames); the handle is `author`.
//! Reddit HTML-escapes `&`, `<` and `>` in `body`, `title` and `selftext` (unless the client
//! asked for `raw_json=1`): they are decoded. A deleted or removed comment or submission
//! (`[deleted]` author, `[deleted]`/`[removed]` body) is rejected: there is nothing to route.
//!
//! A `Listing` (reachable only through the `platform: reddit` header, as shape detection needs
//! `t1`/`t3`) of one thing is that thing; of several, a batch to split upstream.

use super::{json_error, required, time, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use crate::normalize::decode_html_entities;
use serde::Deserialize;

#[derive(Deserialize)]
struct Thing {
    kind: Option<String>,
    data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ListingData {
    #[serde(default)]
    children: Vec<serde_json::Value>,
}

/// The fields of a `t1` or `t3` we read (the two share most of them).
#[derive(Deserialize)]
struct Data {
    id: Option<String>,
    name: Option<String>,
    author: Option<String>,
    author_fullname: Option<String>,
    created_utc: Option<f64>,
    permalink: Option<String>,
    // t1
    body: Option<String>,
    link_id: Option<String>,
    parent_id: Option<String>,
    // t3
    title: Option<String>,
    selftext: Option<String>,
    url: Option<String>,
    #[serde(default)]
    is_self: bool,
}

const DELETED: [&str; 2] = ["[deleted]", "[removed]"];

pub(super) fn normalize(text: &str) -> Result<CanonicalEvent, Rejection> {
    let thing: Thing = serde_json::from_str(text).map_err(json_error)?;
    thing_to_event(thing, "")
}

/// `at` is the JSON path of the thing, for messages (`""` at the top level).
fn thing_to_event(thing: Thing, at: &str) -> Result<CanonicalEvent, Rejection> {
    let kind = required(thing.kind, &format!("{at}kind"))?;
    let Some(data) = thing.data else {
        return Err(Rejection::new(
            Reason::MissingField,
            format!("missing field `{at}data`"),
        ));
    };
    match kind.as_str() {
        "t1" | "t3" => {
            let data: Data = serde_json::from_value(data).map_err(json_error)?;
            thing_data(&kind, data, &format!("{at}data."))
        }
        "Listing" if at.is_empty() => {
            let listing: ListingData = serde_json::from_value(data).map_err(json_error)?;
            let mut children = listing.children;
            match children.len() {
                0 => Err(Rejection::new(
                    Reason::UnknownShape,
                    "reddit listing holds no things",
                )),
                1 => {
                    let child: Thing =
                        serde_json::from_value(children.swap_remove(0)).map_err(json_error)?;
                    thing_to_event(child, "data.children[0].")
                }
                n => Err(super::batched("reddit listing", n)),
            }
        }
        other => Err(Rejection::new(
            Reason::UnknownShape,
            format!(
                "reddit thing of kind {:?} is not a comment (t1) or submission (t3)",
                time::clip(other)
            ),
        )),
    }
}

fn thing_data(kind: &str, d: Data, at: &str) -> Result<CanonicalEvent, Rejection> {
    let is_comment = kind == "t1";
    let what = if is_comment { "comment" } else { "submission" };
    let body_field = if is_comment { "body" } else { "selftext" };
    let body = if is_comment {
        d.body.as_deref()
    } else {
        d.selftext.as_deref()
    };
    if d.author.as_deref().is_some_and(|a| DELETED.contains(&a))
        || body.is_some_and(|b| DELETED.contains(&b.trim()))
    {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("{what} was deleted (author or {body_field} is [deleted]/[removed])"),
        ));
    }
    let fullname = match d.name {
        Some(name) if !name.trim().is_empty() => name,
        _ => format!("{kind}_{}", required(d.id, &format!("{at}id"))?),
    };
    let author_id = required(d.author_fullname, &format!("{at}author_fullname"))?;
    let created_utc = d.created_utc.ok_or_else(|| {
        Rejection::new(
            Reason::MissingField,
            format!("missing field `{at}created_utc`"),
        )
    })?;
    let created_at = time::unix_seconds(created_utc, &format!("{at}created_utc"))?;
    let url = d.permalink.filter(|p| !p.trim().is_empty()).map(|p| {
        if p.starts_with("http://") || p.starts_with("https://") {
            p
        } else {
            format!("https://www.reddit.com{p}")
        }
    });
    let prefixed = |id: String| format!("reddit:{id}");

    let (kind, text, conversation_id, in_reply_to, urls) = if is_comment {
        let body = required(d.body, &format!("{at}body"))?;
        (
            Kind::Comment,
            decode_html_entities(&body),
            d.link_id.filter(|l| !l.trim().is_empty()).map(prefixed),
            d.parent_id.filter(|p| !p.trim().is_empty()).map(prefixed),
            Vec::new(),
        )
    } else {
        let title = decode_html_entities(&required(d.title, &format!("{at}title"))?);
        let selftext = decode_html_entities(d.selftext.as_deref().unwrap_or(""));
        let text = if selftext.trim().is_empty() {
            title
        } else {
            format!("{title}\n\n{selftext}")
        };
        // A link post's target is one of its URLs, with any in the text (`finish` only looks
        // in the text when the list is empty).
        let mut urls = Vec::new();
        if let Some(link) = d.url.filter(|u| !d.is_self && u.starts_with("http")) {
            urls.push(decode_html_entities(&link));
            urls.extend(super::text::extract(&text).urls);
        }
        (
            Kind::Post,
            text,
            Some(prefixed(fullname.clone())),
            None,
            urls,
        )
    };

    Ok(CanonicalEvent {
        event_id: prefixed(fullname),
        platform: "reddit".to_owned(),
        kind,
        created_at,
        conversation_id,
        in_reply_to,
        author: Author {
            id: author_id,
            handle: d.author.filter(|a| !a.trim().is_empty()),
            ..Author::default()
        },
        text,
        lang: None,
        visibility: Visibility::Public,
        community: Community::Public,
        url,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls,
        rating: None,
        source: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use crate::event::{Community, Kind};
    use crate::normalize::{parse, Reason};

    const COMMENT: &str = include_str!("../../tests/fixtures/reddit/comment.json");
    const SUBMISSION: &str = include_str!("../../tests/fixtures/reddit/submission.json");
    const DELETED: &str = include_str!("../../tests/fixtures/reddit/deleted_comment.json");

    #[test]
    fn comment_by_shape_and_by_header() {
        for header in [None, Some("reddit")] {
            let e = parse(COMMENT, header).unwrap();
            assert_eq!(e.event_id, "reddit:t1_m7q2x9k");
            assert_eq!(e.platform, "reddit");
            assert_eq!(e.kind, Kind::Comment);
            assert_eq!(e.author.id, "t2_8f3kq2lm");
            assert_eq!(e.author.handle.as_deref(), Some("lena_fixes_things"));
            assert_eq!(
                e.text,
                "Same here since the AT&T <-> Acme peering change on Tuesday \u{1f62d} \
                 modem shows \"online\" but nothing loads.\n\n@AcmeSupport any ETA? #outage"
            );
            assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
            assert_eq!(e.conversation_id.as_deref(), Some("reddit:t3_1h4zq8c"));
            assert_eq!(e.in_reply_to.as_deref(), Some("reddit:t1_m7q1a0b"));
            assert_eq!(
                e.url.as_deref(),
                Some("https://www.reddit.com/r/acmeisp/comments/1h4zq8c/internet_down_in_riverside/m7q2x9k/")
            );
            assert_eq!(e.community, Community::Public);
            assert_eq!(e.rating, None);
            assert_eq!(e.mentions, vec!["AcmeSupport"]);
            assert_eq!(e.hashtags, vec!["outage"]);
        }
    }

    #[test]
    fn submission_is_a_post_with_title_and_selftext() {
        let e = parse(SUBMISSION, None).unwrap();
        assert_eq!(e.event_id, "reddit:t3_1h4zq8c");
        assert_eq!(e.kind, Kind::Post);
        assert_eq!(e.author.id, "t2_5rk1pw0d");
        assert_eq!(e.author.handle.as_deref(), Some("riverside_renter"));
        assert_eq!(e.created_at, "2026-11-20T08:41:37.000Z");
        // A submission is the root of its comments' conversation.
        assert_eq!(e.conversation_id.as_deref(), Some("reddit:t3_1h4zq8c"));
        assert_eq!(e.in_reply_to, None);
        let (title, selftext) = e.text.split_once("\n\n").unwrap();
        assert_eq!(
            title,
            "Internet down in Riverside for 3rd time this week & support says \"no outage\""
        );
        assert!(selftext.starts_with("Long post, sorry. I've been an Acme customer"));
        assert!(selftext.ends_with("Thanks in advance <3"), "{selftext}");
        assert!(e.text.chars().count() > 2000, "{}", e.text.chars().count());
        assert!(!e.text.contains("&amp;") && !e.text.contains("&lt;"));
        assert_eq!(
            e.url.as_deref(),
            Some("https://www.reddit.com/r/acmeisp/comments/1h4zq8c/internet_down_in_riverside/")
        );
        assert_eq!(
            e.urls,
            vec!["https://status.acme.example.com/incidents/8812"]
        );
    }

    #[test]
    fn title_only_link_post_keeps_its_link() {
        let raw = r#"{"kind":"t3","data":{"id":"1h50000","name":"t3_1h50000","author":"x_y","author_fullname":"t2_1","title":"Acme &amp; the outage map","selftext":"","url":"https://news.example.com/acme-outage","is_self":false,"permalink":"/r/acmeisp/comments/1h50000/acme/","created_utc":1795166102.0}}"#;
        let e = parse(raw, None).unwrap();
        assert_eq!(e.text, "Acme & the outage map");
        assert_eq!(e.urls, vec!["https://news.example.com/acme-outage"]);
    }

    #[test]
    fn deleted_comment_is_invalid() {
        for header in [None, Some("reddit")] {
            let err = parse(DELETED, header).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidValue);
            assert!(
                err.message.contains("comment was deleted"),
                "{}",
                err.message
            );
        }
        let removed = COMMENT.replace(
            r#""body": "Same here"#,
            r#""body": "[removed]", "was": "Same here"#,
        );
        let err = parse(&removed, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("was deleted"), "{}", err.message);
    }

    #[test]
    fn missing_author_fullname_is_a_missing_field() {
        let raw = COMMENT.replace(r#""author_fullname": "t2_8f3kq2lm","#, "");
        assert_ne!(raw, COMMENT);
        let err = parse(&raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("data.author_fullname"),
            "{}",
            err.message
        );
    }

    #[test]
    fn missing_or_absurd_created_utc() {
        let raw =
            r#"{"kind":"t1","data":{"id":"a","author":"u","author_fullname":"t2_1","body":"hi"}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("data.created_utc"), "{}", err.message);
        let raw = r#"{"kind":"t1","data":{"id":"a","author":"u","author_fullname":"t2_1","body":"hi","created_utc":1e300}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
    }

    #[test]
    fn listings_through_the_header() {
        let one = format!(r#"{{"kind":"Listing","data":{{"after":null,"children":[{COMMENT}]}}}}"#);
        let e = parse(&one, Some("reddit")).unwrap();
        assert_eq!(e.event_id, "reddit:t1_m7q2x9k");
        let two = format!(r#"{{"kind":"Listing","data":{{"children":[{COMMENT},{SUBMISSION}]}}}}"#);
        let err = parse(&two, Some("reddit")).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("2 events"), "{}", err.message);
        let none = r#"{"kind":"Listing","data":{"children":[]}}"#;
        assert_eq!(
            parse(none, Some("reddit")).unwrap_err().reason,
            Reason::UnknownShape
        );
        // Without the header a listing is no shape we know.
        assert_eq!(parse(&one, None).unwrap_err().reason, Reason::UnknownShape);
    }

    #[test]
    fn other_kinds_and_garbage_never_panic() {
        let pm = r#"{"kind":"t4","data":{"id":"x"}}"#;
        assert_eq!(
            parse(pm, Some("reddit")).unwrap_err().reason,
            Reason::UnknownShape
        );
        for raw in [
            r#"{"kind":"t1","data":[]}"#,
            r#"{"kind":"t1","data":{"body":5}}"#,
            r#"{"kind":"t1"}"#,
            r#"{"kind":"t1","data":{"id":"a","author":"u","author_fullname":"t2_1","body":"&#xFFFFFFFF; &amp","created_utc":"soon"}}"#,
            "[]",
            "",
        ] {
            assert!(parse(raw, Some("reddit")).is_err(), "{raw}");
        }
    }
}
