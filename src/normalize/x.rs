//! X/Twitter:
//! - API v2 tweets: a tweet object in `data`, its author in `includes.users`
//!   (`expansions=author_id`), as returned by tweet lookup, search and the filtered stream.
//!   Replies (`referenced_tweets` `replied_to`) are `reply`; quotes and plain tweets `post`.
//! - Direct messages in the Account Activity API webhook shape: `for_user_id`,
//!   `direct_message_events` (one `message_create` per message on `social.raw`) and `users`.
//!   A message the subscribed account sent itself is not a customer message.

use super::{batched, json_error, required, time, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use crate::normalize::decode_html_entities;
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Deserialize)]
struct Envelope {
    data: Option<Tweet>,
    #[serde(default)]
    includes: Includes,
    for_user_id: Option<String>,
    direct_message_events: Option<Vec<DmEvent>>,
    #[serde(default)]
    users: HashMap<String, ActivityUser>,
}

#[derive(Deserialize)]
struct DmEvent {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    created_timestamp: Option<String>,
    message_create: Option<MessageCreate>,
}

#[derive(Deserialize)]
struct MessageCreate {
    sender_id: Option<String>,
    target: Option<Target>,
    message_data: Option<MessageData>,
}

#[derive(Deserialize)]
struct Target {
    recipient_id: Option<String>,
}

#[derive(Deserialize)]
struct MessageData {
    text: Option<String>,
}

#[derive(Deserialize)]
struct ActivityUser {
    name: Option<String>,
    screen_name: Option<String>,
    location: Option<String>,
    #[serde(default)]
    verified: bool,
    followers_count: Option<u64>,
}

#[derive(Deserialize)]
struct Tweet {
    id: Option<String>,
    text: Option<String>,
    author_id: Option<String>,
    created_at: Option<String>,
    conversation_id: Option<String>,
    lang: Option<String>,
    #[serde(default)]
    referenced_tweets: Vec<Reference>,
    #[serde(default)]
    entities: Entities,
}

#[derive(Deserialize)]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    id: String,
}

#[derive(Deserialize, Default)]
struct Entities {
    #[serde(default)]
    mentions: Vec<MentionEntity>,
    #[serde(default)]
    hashtags: Vec<HashtagEntity>,
    #[serde(default)]
    urls: Vec<UrlEntity>,
}

#[derive(Deserialize)]
struct UrlEntity {
    url: Option<String>,
    expanded_url: Option<String>,
}

#[derive(Deserialize)]
struct MentionEntity {
    username: String,
}

#[derive(Deserialize)]
struct HashtagEntity {
    tag: String,
}

#[derive(Deserialize, Default)]
struct Includes {
    #[serde(default)]
    users: Vec<User>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    username: Option<String>,
    name: Option<String>,
    #[serde(default)]
    verified: bool,
    location: Option<String>,
    public_metrics: Option<UserMetrics>,
}

#[derive(Deserialize)]
struct UserMetrics {
    followers_count: Option<u64>,
}

pub(super) fn normalize(text: &str) -> Result<CanonicalEvent, Rejection> {
    let envelope: Envelope = serde_json::from_str(text).map_err(json_error)?;
    let tweet = match envelope.data {
        Some(tweet) => tweet,
        None if envelope.direct_message_events.is_some() => return direct_message(envelope),
        None => {
            return Err(Rejection::new(
                Reason::MissingField,
                "missing field `data` (an X v2 tweet) or `direct_message_events`",
            ))
        }
    };
    let id = required(tweet.id, "data.id")?;
    let body = required(tweet.text, "data.text")?;
    let author_id = required(tweet.author_id, "data.author_id")?;
    let created_at = required(tweet.created_at, "data.created_at")?;

    let user = envelope
        .includes
        .users
        .into_iter()
        .find(|u| u.id == author_id);
    let in_reply_to = tweet
        .referenced_tweets
        .iter()
        .find(|r| r.kind == "replied_to")
        .map(|r| format!("x:{}", r.id));
    let kind = if in_reply_to.is_some() {
        Kind::Reply
    } else {
        Kind::Post
    };
    let handle = user.as_ref().and_then(|u| u.username.clone());
    let url = Some(match &handle {
        Some(h) => format!("https://x.com/{h}/status/{id}"),
        None => format!("https://x.com/i/web/status/{id}"),
    });
    let author = match user {
        Some(u) => Author {
            id: author_id,
            handle: u.username,
            display_name: u.name,
            followers: u.public_metrics.and_then(|m| m.followers_count),
            verified: u.verified,
            location: u.location,
            email: None,
            phone: None,
        },
        None => Author {
            id: author_id,
            ..Author::default()
        },
    };
    Ok(CanonicalEvent {
        event_id: format!("x:{id}"),
        platform: "x".to_owned(),
        kind,
        created_at,
        conversation_id: tweet.conversation_id.map(|c| format!("x:{c}")),
        in_reply_to,
        author,
        text: decode_html_entities(&body),
        lang: tweet.lang,
        visibility: Visibility::Public,
        community: Community::Public,
        url,
        mentions: tweet
            .entities
            .mentions
            .into_iter()
            .map(|m| m.username)
            .collect(),
        hashtags: tweet.entities.hashtags.into_iter().map(|h| h.tag).collect(),
        urls: tweet
            .entities
            .urls
            .into_iter()
            .filter_map(|u| u.expanded_url.or(u.url))
            .collect(),
        rating: None,
        source: Default::default(),
    })
}

/// An Account Activity `message_create` event.
fn direct_message(envelope: Envelope) -> Result<CanonicalEvent, Rejection> {
    let mut events = envelope.direct_message_events.unwrap_or_default();
    if events.len() > 1 {
        return Err(batched("X account activity delivery", events.len()));
    }
    let Some(event) = events.pop() else {
        return Err(Rejection::new(
            Reason::MissingField,
            "`direct_message_events` is empty",
        ));
    };
    let kind = event.kind.unwrap_or_default();
    if kind != "message_create" {
        return Err(Rejection::new(
            Reason::UnknownShape,
            format!("X direct message event `{kind}`: not a customer message"),
        ));
    }
    let id = required(event.id, "direct_message_events[0].id")?;
    let at = required(
        event.created_timestamp,
        "direct_message_events[0].created_timestamp",
    )?;
    let ms: i64 = at.trim().parse().map_err(|_| {
        Rejection::new(
            Reason::InvalidValue,
            format!(
                "`direct_message_events[0].created_timestamp` is not unix milliseconds: {:?}",
                time::clip(&at)
            ),
        )
    })?;
    let created_at = time::unix_millis(ms, "direct_message_events[0].created_timestamp")?;
    let create = event.message_create.ok_or_else(|| {
        Rejection::new(
            Reason::MissingField,
            "missing field `direct_message_events[0].message_create`",
        )
    })?;
    let sender = required(create.sender_id, "message_create.sender_id")?;
    let recipient = create.target.and_then(|t| t.recipient_id);
    let body = required(
        create.message_data.and_then(|d| d.text),
        "message_create.message_data.text",
    )?;
    if envelope.for_user_id.as_deref() == Some(sender.as_str()) {
        return Err(Rejection::new(
            Reason::UnknownShape,
            "X direct message sent by the subscribed account itself: not a customer message",
        ));
    }
    let conversation_id = recipient.map(|r| {
        let (a, b) = if r < sender {
            (&r, &sender)
        } else {
            (&sender, &r)
        };
        format!("x:dm:{a}-{b}")
    });
    let user = envelope.users.get(&sender);
    let author = Author {
        id: sender.clone(),
        handle: user.and_then(|u| u.screen_name.clone()),
        display_name: user.and_then(|u| u.name.clone()),
        followers: user.and_then(|u| u.followers_count),
        verified: user.is_some_and(|u| u.verified),
        location: user.and_then(|u| u.location.clone()),
        email: None,
        phone: None,
    };
    Ok(CanonicalEvent {
        event_id: format!("x:dm:{id}"),
        platform: "x".to_owned(),
        kind: Kind::Dm,
        created_at,
        conversation_id,
        in_reply_to: None,
        author,
        text: decode_html_entities(&body),
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

#[cfg(test)]
mod tests {
    use crate::event::Kind;
    use crate::normalize::{parse, Reason};

    const REPLY: &str = r#"{"data":{"id":"1860000000000000002","text":"@acmehelp AT&amp;T is down again \ud83d\ude21 #outage","author_id":"1500000001","created_at":"2026-11-20T09:15:02.000Z","conversation_id":"1860000000000000001","lang":"en","entities":{"mentions":[{"start":0,"end":9,"username":"acmehelp","id":"1400000000"}],"hashtags":[{"start":40,"end":47,"tag":"outage"}]},"referenced_tweets":[{"type":"replied_to","id":"1860000000000000001"}],"in_reply_to_user_id":"1400000000"},"includes":{"users":[{"id":"1500000001","name":"Maria Gonzalez","username":"mariag","verified":true,"location":"Austin, TX","public_metrics":{"followers_count":210}}]}}"#;

    #[test]
    fn reply_with_includes() {
        let e = parse(REPLY, None).unwrap();
        assert_eq!(e.event_id, "x:1860000000000000002");
        assert_eq!(e.kind, Kind::Reply);
        assert_eq!(e.in_reply_to.as_deref(), Some("x:1860000000000000001"));
        assert_eq!(e.conversation_id.as_deref(), Some("x:1860000000000000001"));
        assert_eq!(e.author.handle.as_deref(), Some("mariag"));
        assert_eq!(e.author.followers, Some(210));
        assert!(e.author.verified);
        assert_eq!(e.text, "@acmehelp AT&T is down again \u{1f621} #outage");
        assert_eq!(e.mentions, vec!["acmehelp"]);
        assert_eq!(e.hashtags, vec!["outage"]);
        assert_eq!(
            e.url.as_deref(),
            Some("https://x.com/mariag/status/1860000000000000002")
        );
    }

    const DM: &str = r#"{"for_user_id":"4337869213","direct_message_events":[{"type":"message_create","id":"954491830116155396","created_timestamp":"1795166102000","message_create":{"target":{"recipient_id":"4337869213"},"sender_id":"3001969357","message_data":{"text":"Hi, my order #A-1001 never arrived 📦 &amp; nobody answers","entities":{"hashtags":[],"symbols":[],"user_mentions":[],"urls":[]}}}}],"users":{"3001969357":{"id":"3001969357","created_timestamp":"1422556069340","name":"Jordan Brinks","screen_name":"furiousf","location":"Boulder, CO","protected":false,"verified":false,"followers_count":22},"4337869213":{"id":"4337869213","name":"Acme Care","screen_name":"acmecare"}}}"#;

    #[test]
    fn account_activity_direct_message() {
        for header in [None, Some("x")] {
            let e = parse(DM, header).unwrap();
            assert_eq!(e.event_id, "x:dm:954491830116155396");
            assert_eq!(e.kind, Kind::Dm);
            assert_eq!(e.visibility, crate::event::Visibility::Private);
            assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
            assert_eq!(e.author.id, "3001969357");
            assert_eq!(e.author.handle.as_deref(), Some("furiousf"));
            assert_eq!(e.author.followers, Some(22));
            assert_eq!(
                e.text,
                "Hi, my order #A-1001 never arrived 📦 & nobody answers"
            );
            assert_eq!(
                e.conversation_id.as_deref(),
                Some("x:dm:3001969357-4337869213")
            );
        }
    }

    #[test]
    fn direct_message_poison_and_non_messages() {
        let own = DM.replace(r#""sender_id":"3001969357""#, r#""sender_id":"4337869213""#);
        let err = parse(&own, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(
            err.message.contains("subscribed account"),
            "{}",
            err.message
        );
        let bad_time = DM.replace("1795166102000", "yesterday");
        let err = parse(&bad_time, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("created_timestamp"), "{}", err.message);
        let no_text = DM.replace(
            r#""text":"Hi, my order #A-1001 never arrived 📦 &amp; nobody answers","#,
            "",
        );
        let err = parse(&no_text, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("message_data.text"), "{}", err.message);
        let start = DM.find(r#"{"type""#).unwrap();
        let end = DM.find(r#"],"users""#).unwrap();
        let one = &DM[start..end];
        let two = DM.replace(one, &format!("{one},{one}"));
        let err = parse(&two, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("holds 2 events"), "{}", err.message);
        let typing = DM.replace(r#""type":"message_create""#, r#""type":"typing_indicator""#);
        assert_eq!(
            parse(&typing, None).unwrap_err().reason,
            Reason::UnknownShape
        );
    }

    #[test]
    fn a_quote_is_a_post_in_its_own_conversation() {
        let raw = r#"{"data":{"id":"20","text":"Look what @acme did this time 🙄 https://t.co/abc","author_id":"77","created_at":"2026-11-20T09:15:02Z","conversation_id":"20","referenced_tweets":[{"type":"quoted","id":"19"}],"entities":{"urls":[{"start":38,"end":61,"url":"https://t.co/abc","expanded_url":"https://x.com/acme/status/19"}]}},"includes":{"users":[{"id":"77","username":"zed"}]}}"#;
        let e = parse(raw, None).unwrap();
        assert_eq!(e.kind, Kind::Post);
        assert_eq!(e.in_reply_to, None);
        assert_eq!(e.conversation_id.as_deref(), Some("x:20"));
        assert_eq!(e.urls, vec!["https://x.com/acme/status/19"]);
        assert_eq!(
            e.mentions,
            vec!["acme"],
            "taken from the text: the payload lists none"
        );
    }

    #[test]
    fn author_missing_from_includes_keeps_the_id() {
        let raw = r#"{"data":{"id":"5","text":"hello","author_id":"77","created_at":"2026-11-20T09:15:02.000Z"}}"#;
        let e = parse(raw, Some("x")).unwrap();
        assert_eq!(e.author.id, "77");
        assert_eq!(e.author.handle, None);
        assert_eq!(e.kind, Kind::Post);
    }

    #[test]
    fn missing_text_is_a_missing_field() {
        let raw = r#"{"data":{"id":"5","author_id":"77","created_at":"2026-11-20T09:15:02.000Z"}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("data.text"), "{}", err.message);
    }

    #[test]
    fn data_of_the_wrong_type_is_rejected() {
        let raw = r#"{"data":[1,2]}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
    }
}
