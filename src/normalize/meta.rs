//! Meta webhooks: Facebook Pages (`object: "page"`) and Instagram (`object: "instagram"`).
//!
//! A delivery is `{"object": .., "entry": [{"id": <page or IG account id>, "time": ..,
//! "changes": [{"field": .., "value": {..}}] | "messaging": [{..}]}]}`. outcry reads one event
//! per message: exactly one entry holding exactly one change or messaging item. More than one
//! is a batched delivery (`invalid_value`, to be split upstream); none is a `missing_field`.
//!
//! What is read:
//!
//! - Facebook `feed` changes with `verb: "add"`: `item` `status`, `post`, `photo` or `video` is
//!   a [`Kind::Post`] (a [`Kind::Reply`] when it names a `parent_id`); `item: "comment"` is a
//!   [`Kind::Comment`] whose conversation is `post_id` and which replies to `parent_id` (the
//!   post itself for a top-level comment, the parent comment for a reply). `created_time` is
//!   unix seconds in webhooks; the Graph API's `2026-11-20T09:15:02+0000` form is accepted too.
//! - Messenger (`entry[].messaging[]`, or a `messages` change): a message with `text` is a
//!   private [`Kind::Dm`]; `timestamp` is unix milliseconds. Its conversation is
//!   `facebook:dm:<page id>:<PSID>` (the webhook carries no thread id); `message.reply_to.mid`
//!   becomes `in_reply_to`. A message without text (attachments only) is a `missing_field`.
//! - Instagram `comments` / `live_comments` changes: a [`Kind::Comment`] on `media.id` (the
//!   conversation), replying to `parent_id` or, top-level, to the media. The webhook carries no
//!   creation time: `value.timestamp` is used when a connector adds it, else `entry.time`
//!   (unix seconds here, milliseconds for messaging: told apart by magnitude).
//! - Instagram `mentions` changes: a [`Kind::Mention`]. Meta sends only `media_id` and
//!   `comment_id`; the connector must merge what `GET /{ig-user-id}?fields=mentioned_comment`
//!   (or `mentioned_media`) returns — `text` (or `caption`), `from {id, username}`,
//!   `timestamp` — into `value`, or the mention is a `missing_field` naming what is absent.
//! - Instagram messaging (`entry[].messaging[]`): a private [`Kind::Dm`], as for Messenger.
//!
//! What outcry deliberately does not route is an `unknown_shape` whose message says what it
//! was and ends in "not a customer message": reactions and likes, edits, removals and other
//! non-`add` verbs, posts and comments by the page or account itself (`from.id` is the entry
//! id), echoes of the page's own messages (`is_echo`), delivery and read receipts, message
//! reactions, postbacks and deletions. Other feed items and other webhook fields are an
//! `unknown_shape` too.

use super::time::{rfc3339, unix_millis};
use super::{batched, json_error, missing, not_a_message, required, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Platform {
    Facebook,
    Instagram,
}

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Platform::Facebook => "facebook",
            Platform::Instagram => "instagram",
        }
    }

    fn object(self) -> &'static str {
        match self {
            Platform::Facebook => "page",
            Platform::Instagram => "instagram",
        }
    }

    fn dm_name(self) -> &'static str {
        match self {
            Platform::Facebook => "messenger",
            Platform::Instagram => "instagram messaging",
        }
    }
}

#[derive(Deserialize)]
struct Delivery {
    object: Option<Value>,
    entry: Option<Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    time: Option<Value>,
    #[serde(default)]
    changes: Option<Vec<Change>>,
    #[serde(default)]
    messaging: Option<Vec<Messaging>>,
}

#[derive(Deserialize)]
struct Change {
    field: Option<String>,
    value: Option<Value>,
}

/// A person or page as Meta names them: `{"id": .., "name": ..}` (Facebook),
/// `{"id": .., "username": ..}` (Instagram).
#[derive(Deserialize, Default)]
struct Party {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    name: Option<String>,
    username: Option<String>,
}

#[derive(Deserialize)]
struct FeedValue {
    item: Option<String>,
    verb: Option<String>,
    from: Option<Party>,
    #[serde(default, deserialize_with = "lenient_id")]
    post_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_id")]
    comment_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_id")]
    parent_id: Option<String>,
    created_time: Option<Value>,
    message: Option<String>,
    post: Option<FeedPost>,
}

#[derive(Deserialize)]
struct FeedPost {
    permalink_url: Option<String>,
}

#[derive(Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    timestamp: Option<Value>,
    message: Option<Message>,
    delivery: Option<IgnoredAny>,
    read: Option<IgnoredAny>,
    reaction: Option<IgnoredAny>,
    postback: Option<IgnoredAny>,
    optin: Option<IgnoredAny>,
    referral: Option<IgnoredAny>,
    message_edit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Message {
    mid: Option<String>,
    text: Option<String>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    reply_to: Option<ReplyTo>,
}

#[derive(Deserialize)]
struct ReplyTo {
    mid: Option<String>,
}

#[derive(Deserialize)]
struct IgComment {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
    text: Option<String>,
    from: Option<Party>,
    media: Option<IgMedia>,
    #[serde(default, deserialize_with = "lenient_id")]
    parent_id: Option<String>,
    timestamp: Option<Value>,
}

#[derive(Deserialize)]
struct IgMedia {
    #[serde(default, deserialize_with = "lenient_id")]
    id: Option<String>,
}

#[derive(Deserialize)]
struct IgMention {
    #[serde(default, deserialize_with = "lenient_id")]
    media_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_id")]
    comment_id: Option<String>,
    // Not in Meta's webhook: merged in by the connector from `mentioned_comment` /
    // `mentioned_media`.
    text: Option<String>,
    caption: Option<String>,
    from: Option<Party>,
    username: Option<String>,
    timestamp: Option<Value>,
}

/// Ids are strings in Meta's documentation, but some deliveries carry them as numbers.
fn lenient_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!(
            "an id must be a string or a number, not {other}"
        ))),
    }
}

/// The entry's own fields, kept once its one item has been taken out.
struct Head {
    /// The page (Facebook) or professional account (Instagram) the delivery is for.
    id: Option<String>,
    time: Option<Value>,
}

enum Item {
    Change(Change),
    Messaging(Box<Messaging>),
}

pub(super) fn facebook(text: &str) -> Result<CanonicalEvent, Rejection> {
    let (head, item) = single(text, Platform::Facebook)?;
    match item {
        Item::Change(c) => match c.field.as_deref() {
            Some("feed") => feed(&head, c.value),
            Some("messages") => {
                let m = value_of(c.value, "entry[0].changes[0].value")?;
                direct(Platform::Facebook, &head, m, "entry[0].changes[0].value")
            }
            Some(other) => Err(unsupported_field(
                Platform::Facebook,
                other,
                "feed, messages",
            )),
            None => Err(missing("entry[0].changes[0].field")),
        },
        Item::Messaging(m) => direct(Platform::Facebook, &head, *m, "entry[0].messaging[0]"),
    }
}

pub(super) fn instagram(text: &str) -> Result<CanonicalEvent, Rejection> {
    let (head, item) = single(text, Platform::Instagram)?;
    match item {
        Item::Change(c) => match c.field.as_deref() {
            Some("comments") | Some("live_comments") => ig_comment(&head, c.value),
            Some("mentions") => ig_mention(&head, c.value),
            Some("messages") => {
                let m = value_of(c.value, "entry[0].changes[0].value")?;
                direct(Platform::Instagram, &head, m, "entry[0].changes[0].value")
            }
            Some(other) => Err(unsupported_field(
                Platform::Instagram,
                other,
                "comments, live_comments, mentions, messages",
            )),
            None => Err(missing("entry[0].changes[0].field")),
        },
        Item::Messaging(m) => direct(Platform::Instagram, &head, *m, "entry[0].messaging[0]"),
    }
}

/// The delivery's one entry and its one item, or why there is not exactly one.
fn single(text: &str, platform: Platform) -> Result<(Head, Item), Rejection> {
    if !text.trim_start().starts_with('{') {
        // serde would read a JSON array as the struct's fields in order: not our shape.
        serde_json::from_str::<IgnoredAny>(text).map_err(json_error)?;
        return Err(Rejection::new(
            Reason::UnknownShape,
            format!(
                "{} webhook: the payload is JSON but not an object",
                platform.name()
            ),
        ));
    }
    let delivery: Delivery = serde_json::from_str(text).map_err(json_error)?;
    if let Some(object) = &delivery.object {
        if object.as_str() != Some(platform.object()) {
            return Err(Rejection::new(
                Reason::UnknownShape,
                format!(
                    "{} webhook: `object` is {object}, expected {:?}",
                    platform.name(),
                    platform.object()
                ),
            ));
        }
    }
    let entries = delivery.entry.ok_or_else(|| missing("entry"))?;
    let items: usize = entries
        .iter()
        .map(|e| e.changes.as_ref().map_or(0, Vec::len) + e.messaging.as_ref().map_or(0, Vec::len))
        .sum();
    if entries.len() > 1 || items > 1 {
        let what = format!("{} webhook delivery", platform.name());
        return Err(batched(&what, items.max(entries.len())));
    }
    let Some(entry) = entries.into_iter().next() else {
        return Err(Rejection::new(
            Reason::MissingField,
            "`entry` is empty: the delivery holds no event",
        ));
    };
    let head = Head {
        id: entry.id,
        time: entry.time,
    };
    let change = entry.changes.and_then(|c| c.into_iter().next());
    let messaging = entry.messaging.and_then(|m| m.into_iter().next());
    let item = match (change, messaging) {
        (Some(c), _) => Item::Change(c),
        (None, Some(m)) => Item::Messaging(Box::new(m)),
        (None, None) => return Err(Rejection::new(
            Reason::MissingField,
            "missing field `entry[0].changes` or `entry[0].messaging`: the entry holds no event",
        )),
    };
    Ok((head, item))
}

fn feed(head: &Head, value: Option<Value>) -> Result<CanonicalEvent, Rejection> {
    const P: &str = "entry[0].changes[0].value";
    let v: FeedValue = value_of(value, P)?;
    let item = required(v.item, &format!("{P}.item"))?;
    let verb = required(v.verb, &format!("{P}.verb"))?;
    match item.as_str() {
        "reaction" | "like" => {
            return Err(not_a_message(format!("facebook feed {item} ({verb})")));
        }
        "comment" | "status" | "post" | "photo" | "video" => {}
        other => {
            return Err(Rejection::new(
                Reason::UnknownShape,
                format!(
                    "facebook feed item `{other}` is not one outcry reads \
                     (status, post, photo, video, comment)"
                ),
            ))
        }
    }
    if verb != "add" {
        return Err(not_a_message(format!("facebook feed {item} `{verb}`")));
    }
    let from = v.from.unwrap_or_default();
    let author_id = required(from.id, &format!("{P}.from.id"))?;
    if head.id.as_deref() == Some(author_id.as_str()) {
        return Err(not_a_message(format!(
            "facebook feed {item} by the page itself"
        )));
    }
    let body = required(v.message, &format!("{P}.message"))?;
    let created_at = match &v.created_time {
        Some(t) => timestamp(t, &format!("{P}.created_time"), Unit::Seconds)?,
        None => entry_time(head, &format!("{P}.created_time"))?,
    };
    let permalink = v.post.and_then(|p| p.permalink_url);
    let prefixed = |id: &str| format!("facebook:{id}");

    let (event_id, kind, conversation_id, in_reply_to, url) = if item == "comment" {
        let comment_id = required(v.comment_id, &format!("{P}.comment_id"))?;
        let url = permalink.map(|p| {
            let sep = if p.contains('?') { '&' } else { '?' };
            format!("{p}{sep}comment_id={comment_id}")
        });
        (
            prefixed(&comment_id),
            Kind::Comment,
            v.post_id.as_deref().map(prefixed),
            v.parent_id.or(v.post_id).as_deref().map(prefixed),
            url,
        )
    } else {
        let post_id = required(v.post_id, &format!("{P}.post_id"))?;
        let parent = v.parent_id.filter(|p| *p != post_id);
        let kind = if parent.is_some() {
            Kind::Reply
        } else {
            Kind::Post
        };
        let url = permalink.or_else(|| Some(format!("https://www.facebook.com/{post_id}")));
        (
            prefixed(&post_id),
            kind,
            Some(prefixed(&post_id)),
            parent.as_deref().map(prefixed),
            url,
        )
    };
    Ok(CanonicalEvent {
        event_id,
        platform: "facebook".to_owned(),
        kind,
        created_at,
        conversation_id,
        in_reply_to,
        author: Author {
            id: author_id,
            display_name: from.name,
            ..Author::default()
        },
        text: body,
        lang: None,
        visibility: Visibility::Public,
        community: Community::Public,
        url,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: None,
        source: Default::default(),
    })
}

/// Messenger and Instagram direct messages: the same `messaging` item on both.
fn direct(
    platform: Platform,
    head: &Head,
    m: Messaging,
    p: &str,
) -> Result<CanonicalEvent, Rejection> {
    let what = platform.dm_name();
    let Some(message) = m.message else {
        let kind = if m.delivery.is_some() {
            "delivery receipt"
        } else if m.read.is_some() {
            "read receipt"
        } else if m.reaction.is_some() {
            "message reaction"
        } else if m.postback.is_some() {
            "postback (a button tap)"
        } else if m.optin.is_some() {
            "opt-in"
        } else if m.referral.is_some() {
            "referral"
        } else if m.message_edit.is_some() {
            "message edit"
        } else {
            "event without a `message`"
        };
        return Err(not_a_message(format!("{what} {kind}")));
    };
    if message.is_echo {
        return Err(not_a_message(format!(
            "{what} echo of the {}'s own message",
            owner_word(platform)
        )));
    }
    if message.is_deleted {
        return Err(not_a_message(format!("{what} message deletion")));
    }
    let sender = m.sender.unwrap_or_default();
    let sender_id = required(sender.id, &format!("{p}.sender.id"))?;
    let owner = m.recipient.and_then(|r| r.id).or_else(|| head.id.clone());
    if owner.as_deref() == Some(sender_id.as_str()) {
        return Err(not_a_message(format!(
            "{what} message sent by the {} itself",
            owner_word(platform)
        )));
    }
    let mid = required(message.mid, &format!("{p}.message.mid"))?;
    let body = required(message.text, &format!("{p}.message.text"))?;
    let created_at = match &m.timestamp {
        Some(t) => timestamp(t, &format!("{p}.timestamp"), Unit::Millis)?,
        None => entry_time(head, &format!("{p}.timestamp"))?,
    };
    let name = platform.name();
    let conversation_id = Some(match &owner {
        Some(owner) => format!("{name}:dm:{owner}:{sender_id}"),
        None => format!("{name}:dm:{sender_id}"),
    });
    Ok(CanonicalEvent {
        event_id: format!("{name}:{mid}"),
        platform: name.to_owned(),
        kind: Kind::Dm,
        created_at,
        conversation_id,
        in_reply_to: message
            .reply_to
            .and_then(|r| r.mid)
            .filter(|mid| !mid.trim().is_empty())
            .map(|mid| format!("{name}:{mid}")),
        author: Author {
            id: sender_id,
            handle: sender.username,
            display_name: sender.name,
            ..Author::default()
        },
        text: body,
        lang: None,
        visibility: Visibility::Private,
        community: Community::Public,
        url: None,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: None,
        source: Default::default(),
    })
}

fn ig_comment(head: &Head, value: Option<Value>) -> Result<CanonicalEvent, Rejection> {
    const P: &str = "entry[0].changes[0].value";
    let v: IgComment = value_of(value, P)?;
    let from = v.from.unwrap_or_default();
    let author_id = required(from.id, &format!("{P}.from.id"))?;
    if head.id.as_deref() == Some(author_id.as_str()) {
        return Err(not_a_message("instagram comment by the account itself"));
    }
    let id = required(v.id, &format!("{P}.id"))?;
    let body = required(v.text, &format!("{P}.text"))?;
    let created_at = match &v.timestamp {
        Some(t) => timestamp(t, &format!("{P}.timestamp"), Unit::Auto)?,
        None => entry_time(head, "entry[0].time")?,
    };
    let media = v.media.and_then(|m| m.id);
    Ok(CanonicalEvent {
        event_id: format!("instagram:{id}"),
        platform: "instagram".to_owned(),
        kind: Kind::Comment,
        created_at,
        conversation_id: media.as_deref().map(|m| format!("instagram:{m}")),
        in_reply_to: v.parent_id.or(media).map(|p| format!("instagram:{p}")),
        author: Author {
            id: author_id,
            handle: from.username,
            display_name: from.name,
            ..Author::default()
        },
        text: body,
        lang: None,
        visibility: Visibility::Public,
        community: Community::Public,
        url: None,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: None,
        source: Default::default(),
    })
}

fn ig_mention(head: &Head, value: Option<Value>) -> Result<CanonicalEvent, Rejection> {
    const P: &str = "entry[0].changes[0].value";
    const ENRICH: &str = "Instagram's mentions webhook carries only `media_id` and `comment_id`: \
                          the connector must merge the `mentioned_comment` or `mentioned_media` \
                          lookup (text, from, timestamp) into `value`";
    let v: IgMention = value_of(value, P)?;
    let id = match (&v.comment_id, &v.media_id) {
        (Some(c), _) if !c.trim().is_empty() => c.clone(),
        (_, Some(m)) if !m.trim().is_empty() => m.clone(),
        _ => return Err(missing(&format!("{P}.comment_id"))),
    };
    let from = v.from.unwrap_or_default();
    let Some(author_id) = from.id.filter(|i| !i.trim().is_empty()) else {
        return Err(Rejection::new(
            Reason::MissingField,
            format!("missing field `{P}.from.id` ({ENRICH})"),
        ));
    };
    if head.id.as_deref() == Some(author_id.as_str()) {
        return Err(not_a_message("instagram mention by the account itself"));
    }
    let Some(body) = v.text.or(v.caption).filter(|t| !t.trim().is_empty()) else {
        return Err(Rejection::new(
            Reason::MissingField,
            format!("missing field `{P}.text` ({ENRICH})"),
        ));
    };
    let created_at = match &v.timestamp {
        Some(t) => timestamp(t, &format!("{P}.timestamp"), Unit::Auto)?,
        None => entry_time(head, "entry[0].time")?,
    };
    Ok(CanonicalEvent {
        event_id: format!("instagram:{id}"),
        platform: "instagram".to_owned(),
        kind: Kind::Mention,
        created_at,
        conversation_id: v.media_id.map(|m| format!("instagram:{m}")),
        in_reply_to: None,
        author: Author {
            id: author_id,
            handle: from.username.or(v.username),
            display_name: from.name,
            ..Author::default()
        },
        text: body,
        lang: None,
        visibility: Visibility::Public,
        community: Community::Public,
        url: None,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: None,
        source: Default::default(),
    })
}

fn owner_word(platform: Platform) -> &'static str {
    match platform {
        Platform::Facebook => "page",
        Platform::Instagram => "account",
    }
}

/// A change's `value` read as `T`; absent is a missing field.
fn value_of<T: DeserializeOwned>(value: Option<Value>, path: &str) -> Result<T, Rejection> {
    match value {
        None | Some(Value::Null) => Err(missing(path)),
        Some(v) => serde_json::from_value(v).map_err(|e| {
            let r = json_error(e);
            Rejection::new(r.reason, format!("`{path}`: {}", r.message))
        }),
    }
}

fn unsupported_field(platform: Platform, field: &str, read: &str) -> Rejection {
    Rejection::new(
        Reason::UnknownShape,
        format!(
            "{} webhook field `{field}` is not one outcry reads ({read})",
            platform.name()
        ),
    )
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
    /// Seconds or milliseconds, told apart by magnitude: 1e11 seconds is the year 5138,
    /// 1e11 milliseconds is 1973, so no time outcry accepts is ambiguous.
    Auto,
}

/// A Meta timestamp: unix time as a number (or a numeric string) in `unit`, or an ISO 8601
/// string with a zone (`2026-11-20T09:15:02+0000`).
fn timestamp(v: &Value, field: &str, unit: Unit) -> Result<String, Rejection> {
    let invalid = || {
        Rejection::new(
            Reason::InvalidValue,
            format!("`{field}` is not a timestamp: {}", clip(&v.to_string())),
        )
    };
    let number = match v {
        Value::Number(n) => n.as_i64().map(|i| i as f64).or_else(|| n.as_f64()),
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => Some(f),
            Err(_) => return rfc3339(s, field),
        },
        _ => return Err(invalid()),
    };
    let Some(n) = number.filter(|n| n.is_finite()) else {
        return Err(invalid());
    };
    let millis = match unit {
        Unit::Millis => n,
        Unit::Seconds => n * 1000.0,
        Unit::Auto if n.abs() >= 1e11 => n,
        Unit::Auto => n * 1000.0,
    };
    if millis.abs() > 1e17 {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("`{field}` = {n} is not a representable time"),
        ));
    }
    unix_millis(millis.round() as i64, field)
}

/// The entry's `time`, for payloads that carry no time of their own; `field` names what was
/// looked for first.
fn entry_time(head: &Head, field: &str) -> Result<String, Rejection> {
    match &head.time {
        Some(t) if !t.is_null() => timestamp(t, "entry[0].time", Unit::Auto),
        _ => Err(missing(field)),
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(40) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use crate::event::{Kind, Visibility};
    use crate::normalize::{parse, Reason};

    const FB_POST: &str = include_str!("../../tests/fixtures/facebook/feed_post.json");
    const FB_COMMENT: &str = include_str!("../../tests/fixtures/facebook/feed_comment.json");
    const FB_DM: &str = include_str!("../../tests/fixtures/facebook/messenger_message.json");
    const FB_ATTACHMENT: &str =
        include_str!("../../tests/fixtures/facebook/messenger_attachment_only.json");
    const FB_REACTION: &str = include_str!("../../tests/fixtures/facebook/feed_reaction.json");
    const FB_BATCHED: &str = include_str!("../../tests/fixtures/facebook/batched_two_entries.json");
    const IG_COMMENT: &str = include_str!("../../tests/fixtures/instagram/comment.json");
    const IG_REPLY: &str = include_str!("../../tests/fixtures/instagram/comment_reply.json");
    const IG_MENTION: &str = include_str!("../../tests/fixtures/instagram/mention.json");
    const IG_MENTION_IDS: &str =
        include_str!("../../tests/fixtures/instagram/mention_ids_only.json");
    const IG_DM: &str = include_str!("../../tests/fixtures/instagram/messaging.json");

    /// Parsed by shape and by header: the same event either way.
    fn both(raw: &str, header: &str) -> crate::event::CanonicalEvent {
        let by_shape = parse(raw, None).unwrap();
        let by_header = parse(raw, Some(header)).unwrap();
        assert_eq!(by_shape, by_header);
        by_shape
    }

    fn rejected(raw: &str, header: &str) -> crate::normalize::Rejection {
        let by_shape = parse(raw, None).unwrap_err();
        assert_eq!(by_shape, parse(raw, Some(header)).unwrap_err());
        by_shape
    }

    #[test]
    fn facebook_visitor_post() {
        let e = both(FB_POST, "facebook");
        assert_eq!(e.event_id, "facebook:104857392011846_122118340551203");
        assert_eq!(e.platform, "facebook");
        assert_eq!(e.kind, Kind::Post);
        assert_eq!(e.author.id, "7311029483365120");
        assert_eq!(e.author.display_name.as_deref(), Some("Maria Gonzalez"));
        assert_eq!(e.author.handle, None);
        assert_eq!(
            e.text,
            "My order 58213 arrived smashed. Third time this month \u{2014} who do I talk to? \
             @AcmeSupport"
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("facebook:104857392011846_122118340551203")
        );
        assert_eq!(e.in_reply_to, None);
        assert_eq!(e.visibility, Visibility::Public);
        assert_eq!(
            e.url.as_deref(),
            Some("https://www.facebook.com/104857392011846/posts/122118340551203")
        );
        assert_eq!(e.mentions, vec!["AcmeSupport"]);
    }

    #[test]
    fn facebook_reply_to_a_comment_keeps_emoji_and_unicode() {
        let e = both(FB_COMMENT, "fb");
        assert_eq!(e.event_id, "facebook:122118340551203_1093847562201938");
        assert_eq!(e.kind, Kind::Comment);
        assert_eq!(e.author.id, "6620394817734401");
        assert_eq!(e.author.display_name.as_deref(), Some("Zoë Ångström"));
        assert_eq!(
            e.text,
            "Same here \u{1f621} the café in Kraków never got my order either. Ça suffit ! \
             \u{1f64f}\u{1f3fd}"
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("facebook:104857392011846_122118340551203")
        );
        assert_eq!(
            e.in_reply_to.as_deref(),
            Some("facebook:122118340551203_884712093345120")
        );
        assert_eq!(
            e.url.as_deref(),
            Some(
                "https://www.facebook.com/104857392011846/posts/122118340551203\
                 ?comment_id=122118340551203_1093847562201938"
            )
        );
        assert_eq!(e.visibility, Visibility::Public);
    }

    #[test]
    fn top_level_comment_replies_to_the_post_and_graph_time_is_accepted() {
        let raw = FB_COMMENT
            .replace(
                r#""parent_id": "122118340551203_884712093345120""#,
                r#""parent_id": "104857392011846_122118340551203""#,
            )
            .replace(
                r#""created_time": 1795166102"#,
                r#""created_time": "2026-11-20T10:15:02+0100""#,
            );
        let e = parse(&raw, None).unwrap();
        assert_eq!(
            e.in_reply_to.as_deref(),
            Some("facebook:104857392011846_122118340551203")
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
    }

    #[test]
    fn messenger_message_is_a_private_dm() {
        let e = both(FB_DM, "messenger");
        assert_eq!(
            e.event_id,
            "facebook:m_AaQx7Rk2Lp9Vt3NwYc5Hs8Jd1Fg4Zb6Mq0Tr2Uv7We9Xy3Ci5Ok8Pl1Sn4Gh6Je"
        );
        assert_eq!(e.kind, Kind::Dm);
        assert_eq!(e.visibility, Visibility::Private);
        assert_eq!(e.author.id, "25178365019283746");
        assert_eq!(
            e.text,
            "Hi, I was charged twice for my subscription (invoice INV-20931). Can someone refund one?"
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.517Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("facebook:dm:104857392011846:25178365019283746")
        );
        assert_eq!(e.in_reply_to, None);
        assert_eq!(e.url, None);
    }

    #[test]
    fn messenger_attachment_without_text_is_a_missing_field() {
        let err = rejected(FB_ATTACHMENT, "facebook");
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("entry[0].messaging[0].message.text"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_reaction_is_not_a_message() {
        let err = rejected(FB_REACTION, "facebook");
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(err.message.contains("reaction"), "{}", err.message);
        assert!(
            err.message.ends_with("not a customer message"),
            "{}",
            err.message
        );
    }

    #[test]
    fn two_entries_are_a_batched_delivery() {
        let err = rejected(FB_BATCHED, "facebook");
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(
            err.message
                .contains("facebook webhook delivery holds 2 events"),
            "{}",
            err.message
        );
        // Two changes in one entry are batched too.
        let v: serde_json::Value = serde_json::from_str(FB_BATCHED).unwrap();
        let second = v["entry"][1]["changes"][0].clone();
        let mut one = v.clone();
        one["entry"] = serde_json::json!([v["entry"][0].clone()]);
        one["entry"][0]["changes"]
            .as_array_mut()
            .unwrap()
            .push(second);
        let err = parse(&one.to_string(), None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("holds 2 events"), "{}", err.message);
    }

    #[test]
    fn empty_deliveries_are_missing_fields() {
        for raw in [
            r#"{"object":"page","entry":[]}"#,
            r#"{"object":"page"}"#,
            r#"{"object":"page","entry":[{"id":"1","time":1795166102,"changes":[]}]}"#,
            r#"{"object":"page","entry":[{"id":"1","time":1795166102}]}"#,
            r#"{"object":"page","entry":[{"id":"1","changes":[{"field":"feed"}]}]}"#,
        ] {
            let err = parse(raw, None).unwrap_err();
            assert_eq!(err.reason, Reason::MissingField, "{raw}: {}", err.message);
            assert!(err.message.contains("entry"), "{}", err.message);
        }
    }

    #[test]
    fn what_outcry_does_not_route_is_said_so() {
        let page_post =
            FB_POST.replace(r#""id": "7311029483365120""#, r#""id": "104857392011846""#);
        let edit = FB_COMMENT.replace(r#""verb": "add""#, r#""verb": "edited""#);
        let remove = FB_COMMENT.replace(r#""verb": "add""#, r#""verb": "remove""#);
        let like = FB_REACTION.replace(r#""item": "reaction""#, r#""item": "like""#);
        let echo = FB_DM.replace(r#""mid":"#, r#""is_echo": true, "mid":"#);
        let delivery = r#"{"object":"page","entry":[{"id":"104857392011846","time":1795166102517,"messaging":[{"sender":{"id":"25178365019283746"},"recipient":{"id":"104857392011846"},"delivery":{"mids":["m_1"],"watermark":1795166102517}}]}]}"#;
        let read = delivery.replace(r#""delivery":{"mids":["m_1"],"#, r#""read":{"#);
        for (raw, what) in [
            (page_post.as_str(), "by the page itself"),
            (edit.as_str(), "`edited`"),
            (remove.as_str(), "`remove`"),
            (like.as_str(), "like"),
            (echo.as_str(), "echo"),
            (delivery, "delivery receipt"),
            (read.as_str(), "read receipt"),
        ] {
            let err = parse(raw, None).unwrap_err();
            assert_eq!(err.reason, Reason::UnknownShape, "{what}: {}", err.message);
            assert!(err.message.contains(what), "{}", err.message);
            assert!(
                err.message.ends_with("not a customer message"),
                "{}",
                err.message
            );
        }
        let share = FB_POST.replace(r#""item": "status""#, r#""item": "share""#);
        let err = parse(&share, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(err.message.contains("`share`"), "{}", err.message);
    }

    #[test]
    fn required_fields_name_their_path() {
        let no_from = FB_COMMENT.replace(r#""from""#, r#""sender""#);
        let no_message = FB_POST.replace(r#""message""#, r#""caption""#);
        let no_time = FB_DM
            .replace(r#""timestamp": 1795166102517,"#, "")
            .replace(r#""time": 1795166102600,"#, "");
        for (raw, path) in [
            (no_from.as_str(), "entry[0].changes[0].value.from.id"),
            (no_message.as_str(), "entry[0].changes[0].value.message"),
            (no_time.as_str(), "entry[0].messaging[0].timestamp"),
        ] {
            let err = parse(raw, None).unwrap_err();
            assert_eq!(err.reason, Reason::MissingField, "{path}: {}", err.message);
            assert!(err.message.contains(path), "{}", err.message);
        }
    }

    #[test]
    fn garbage_never_panics() {
        for raw in [
            r#"{"object":"page","entry":"nope"}"#,
            r#"{"object":"page","entry":[null]}"#,
            r#"{"object":"page","entry":[{"changes":[{"field":"feed","value":[1]}]}]}"#,
            r#"{"object":"page","entry":[{"changes":[{"field":"feed","value":{"item":"comment","verb":"add","from":{"id":{}}}}]}]}"#,
            r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"timestamp":1e308,"message":{"mid":"m","text":"hi"}}]}]}"#,
            r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"timestamp":"soon","message":{"mid":"m","text":"hi"}}]}]}"#,
            r#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"timestamp":-99999999999999999999,"message":{"mid":"m","text":"hi"}}]}]}"#,
            r#"{"object":"page","entry":[{"messaging":[{"message":{"is_echo":"yes"}}]}]}"#,
        ] {
            let err = parse(raw, None).unwrap_err();
            assert_ne!(err.reason, Reason::InternalError, "{raw}");
        }
        // A payload of the wrong product under a forced header is refused, not misread.
        let err = parse(IG_DM, Some("facebook")).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(err.message.contains("`object`"), "{}", err.message);
        let err = parse("[1]", Some("facebook")).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
    }

    #[test]
    fn instagram_comment() {
        let e = both(IG_COMMENT, "instagram");
        assert_eq!(e.event_id, "instagram:17998246031561027");
        assert_eq!(e.platform, "instagram");
        assert_eq!(e.kind, Kind::Comment);
        assert_eq!(e.author.id, "6729102843317652");
        assert_eq!(e.author.handle.as_deref(), Some("lena.k_travels"));
        assert_eq!(
            e.text,
            "Ordered the blue one two weeks ago and still no tracking number @acme.store \u{1f615} #help"
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("instagram:18034521567099213")
        );
        assert_eq!(
            e.in_reply_to.as_deref(),
            Some("instagram:18034521567099213")
        );
        assert_eq!(e.visibility, Visibility::Public);
        assert_eq!(e.url, None);
        assert_eq!(e.mentions, vec!["acme.store"]);
        assert_eq!(e.hashtags, vec!["help"]);
    }

    #[test]
    fn instagram_reply_to_a_comment() {
        let e = both(IG_REPLY, "ig");
        assert_eq!(e.event_id, "instagram:17862213490475309");
        assert_eq!(e.kind, Kind::Comment);
        assert_eq!(e.author.handle.as_deref(), Some("tomas.ferreira_"));
        assert_eq!(
            e.text,
            "@lena.k_travels same!! Still waiting since the 3rd 🙄📦"
        );
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("instagram:18034521567099213")
        );
        assert_eq!(
            e.in_reply_to.as_deref(),
            Some("instagram:17998246031561027")
        );
        assert_eq!(e.created_at, "2026-11-20T09:41:17.000Z");
    }

    #[test]
    fn instagram_own_comment_is_not_a_customer_message() {
        let own = IG_REPLY.replace(
            r#""id": "6101927735519028""#,
            r#""id": "17841400008460056""#,
        );
        let err = parse(&own, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(
            err.message.contains("by the account itself"),
            "{}",
            err.message
        );
    }

    #[test]
    fn instagram_mention_enriched_by_the_connector() {
        let e = both(IG_MENTION, "instagram");
        assert_eq!(e.event_id, "instagram:17920487315640988");
        assert_eq!(e.kind, Kind::Mention);
        assert_eq!(e.author.id, "5830117264498215");
        assert_eq!(e.author.handle.as_deref(), Some("nguyen.minh.anh"));
        assert_eq!(
            e.text,
            "@acme.store is this jacket still under warranty? the zip broke after a week"
        );
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("instagram:18027741922053876")
        );
        assert_eq!(e.in_reply_to, None);
        assert_eq!(e.visibility, Visibility::Public);
    }

    #[test]
    fn instagram_mention_with_ids_only_says_what_is_missing() {
        let err = rejected(IG_MENTION_IDS, "instagram");
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("entry[0].changes[0].value.from.id"),
            "{}",
            err.message
        );
        assert!(err.message.contains("mentioned_comment"), "{}", err.message);
    }

    #[test]
    fn instagram_direct_message_long_non_latin() {
        let e = both(IG_DM, "instagram");
        let want: serde_json::Value = serde_json::from_str(IG_DM).unwrap();
        let want = want["entry"][0]["messaging"][0]["message"]["text"]
            .as_str()
            .unwrap();
        assert_eq!(e.text, want);
        assert!(e.text.chars().count() > 1400, "{}", e.text.chars().count());
        assert!(e.text.starts_with("Здравствуйте!"), "{}", e.text);
        assert_eq!(e.kind, Kind::Dm);
        assert_eq!(e.visibility, Visibility::Private);
        assert_eq!(e.event_id, "instagram:aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAwMDA4NDYwMDU2OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI3NjAxMjM4Nzg3MjA0MjU2MTozMjQ1NjE4NzQ2MjIwMzQ0Mzg0NzE1OTE2OTQ4MzY0NjQ2NAZDZD");
        assert_eq!(e.author.id, "1873306624715598");
        assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
        assert_eq!(
            e.conversation_id.as_deref(),
            Some("instagram:dm:17841400008460056:1873306624715598")
        );
        assert_eq!(e.in_reply_to, None);
    }

    #[test]
    fn instagram_fields_outcry_does_not_read() {
        let insights = r#"{"object":"instagram","entry":[{"id":"17841400008460056","time":1795166102,"changes":[{"field":"story_insights","value":{"media_id":"1","impressions":4}}]}]}"#;
        let err = parse(insights, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(err.message.contains("story_insights"), "{}", err.message);
        let seen = r#"{"object":"instagram","entry":[{"id":"17841400008460056","time":1795166102000,"messaging":[{"sender":{"id":"1873306624715598"},"recipient":{"id":"17841400008460056"},"timestamp":1795166102000,"read":{"mid":"aWdf"}}]}]}"#;
        let err = parse(seen, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(
            err.message.contains("instagram messaging read receipt"),
            "{}",
            err.message
        );
    }
}
