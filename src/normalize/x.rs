//! X/Twitter API v2: a tweet object in `data`, its author in `includes.users`
//! (`expansions=author_id`), as returned by tweet lookup, search and the filtered stream.

use super::{json_error, required, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use crate::normalize::decode_html_entities;
use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope {
    data: Tweet,
    #[serde(default)]
    includes: Includes,
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
    let tweet = envelope.data;
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
