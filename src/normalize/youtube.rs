//! YouTube Data API v3: a `youtube#commentThread` (as `commentThreads.list` returns each item)
//! or a single `youtube#comment` (as `comments.list` returns a reply).
//!
//! A thread is one event: its top-level comment. The replies a thread may carry
//! (`replies.comments[]`, a subset of them) are context only; each reply reaches outcry as its
//! own `youtube#comment`, a Comment with `in_reply_to` = its `snippet.parentId`.
//!
//! `event_id` is `youtube:<comment id>`; `conversation_id` is `youtube:<videoId>` (every comment
//! on a video is one conversation), or none when the payload names no video (the documented
//! `comment` resource has no `videoId`, though the API does return it on video comments). The
//! author id is `authorChannelId.value` (`UC…`), the only stable one; the handle is the `@name`
//! when YouTube shows one. Text is `textOriginal` (plain); `textDisplay` is HTML and is only
//! read, tag-stripped, when `textOriginal` is absent (it is returned only to some callers).

use super::{json_error, missing, required, time, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use serde::Deserialize;

#[derive(Deserialize)]
struct Resource {
    kind: Option<String>,
    id: Option<String>,
    snippet: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ThreadSnippet {
    video_id: Option<String>,
    top_level_comment: Option<Comment>,
    total_reply_count: Option<i64>,
}

#[derive(Deserialize)]
struct Comment {
    id: Option<String>,
    snippet: Option<CommentSnippet>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CommentSnippet {
    author_display_name: Option<String>,
    author_channel_url: Option<String>,
    author_channel_id: Option<ChannelId>,
    video_id: Option<String>,
    text_display: Option<String>,
    text_original: Option<String>,
    parent_id: Option<String>,
    like_count: Option<i64>,
    published_at: Option<String>,
}

#[derive(Deserialize)]
struct ChannelId {
    value: Option<String>,
}

pub(super) fn normalize(text: &str) -> Result<CanonicalEvent, Rejection> {
    let r: Resource = serde_json::from_str(text).map_err(json_error)?;
    let kind = required(r.kind, "kind")?;
    let snippet = r.snippet.ok_or_else(|| missing("snippet"))?;
    match kind.as_str() {
        "youtube#commentThread" => {
            let thread: ThreadSnippet = serde_json::from_value(snippet).map_err(json_error)?;
            count(thread.total_reply_count, "snippet.totalReplyCount")?;
            let top = thread
                .top_level_comment
                .ok_or_else(|| missing("snippet.topLevelComment"))?;
            let id = match top.id {
                Some(id) => required(Some(id), "snippet.topLevelComment.id")?,
                None => required(r.id, "snippet.topLevelComment.id")?,
            };
            let snippet = top
                .snippet
                .ok_or_else(|| missing("snippet.topLevelComment.snippet"))?;
            comment(
                id,
                snippet,
                thread.video_id,
                "snippet.topLevelComment.snippet.",
            )
        }
        "youtube#comment" => {
            let snippet: CommentSnippet = serde_json::from_value(snippet).map_err(json_error)?;
            let id = required(r.id, "id")?;
            comment(id, snippet, None, "snippet.")
        }
        other => Err(Rejection::new(
            Reason::UnknownShape,
            format!(
                "YouTube resource {:?} is not a comment or comment thread",
                time::clip(other)
            ),
        )),
    }
}

/// Counts are unsigned in the API: a negative one is a corrupt payload.
fn count(n: Option<i64>, field: &str) -> Result<(), Rejection> {
    match n {
        Some(n) if n < 0 => Err(Rejection::new(
            Reason::InvalidValue,
            format!("`{field}` = {n} is negative"),
        )),
        _ => Ok(()),
    }
}

/// `at` is the JSON path of the comment's snippet, ending in `.`.
fn comment(
    id: String,
    s: CommentSnippet,
    thread_video_id: Option<String>,
    at: &str,
) -> Result<CanonicalEvent, Rejection> {
    count(s.like_count, &format!("{at}likeCount"))?;
    let author_id = required(
        s.author_channel_id.and_then(|c| c.value),
        &format!("{at}authorChannelId.value"),
    )?;
    let published_at = required(s.published_at, &format!("{at}publishedAt"))?;
    let created_at = time::rfc3339(&published_at, &format!("{at}publishedAt"))?;
    let text = match s.text_original {
        Some(t) => t,
        None => {
            let html = required(s.text_display, &format!("{at}textOriginal"))?;
            super::text::html_to_text(&html)
        }
    };
    if text.trim().is_empty() {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("`{at}textOriginal` is empty"),
        ));
    }
    let video_id = thread_video_id
        .or(s.video_id)
        .filter(|v| !v.trim().is_empty());
    let in_reply_to = s
        .parent_id
        .filter(|p| !p.trim().is_empty())
        .map(|p| format!("youtube:{p}"));
    let url = video_id
        .as_ref()
        .map(|v| format!("https://www.youtube.com/watch?v={v}&lc={id}"));
    let handle = handle(
        s.author_display_name.as_deref(),
        s.author_channel_url.as_deref(),
    );
    Ok(CanonicalEvent {
        event_id: format!("youtube:{id}"),
        platform: "youtube".to_owned(),
        kind: Kind::Comment,
        created_at,
        conversation_id: video_id.map(|v| format!("youtube:{v}")),
        in_reply_to,
        author: Author {
            id: author_id,
            handle,
            display_name: s.author_display_name.filter(|n| !n.trim().is_empty()),
            ..Author::default()
        },
        text,
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

/// The channel's `@handle`: the display name when it is one (YouTube shows handles there since
/// 2023), else the `/@name` segment of the channel URL. Legacy `/channel/UC…` URLs have none.
fn handle(display_name: Option<&str>, channel_url: Option<&str>) -> Option<String> {
    if let Some(name) = display_name.map(str::trim) {
        if name.len() > 1 && name.starts_with('@') && !name.contains(char::is_whitespace) {
            return Some(name.to_owned());
        }
    }
    let url = channel_url?;
    let (_, rest) = url.split_once("/@")?;
    let name = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!name.is_empty()).then(|| format!("@{name}"))
}

#[cfg(test)]
mod tests {
    use super::handle;
    use crate::event::{Community, Kind};
    use crate::normalize::{parse, Reason};

    const THREAD: &str = include_str!("../../tests/fixtures/youtube/comment_thread.json");
    const REPLY: &str = include_str!("../../tests/fixtures/youtube/reply_comment.json");
    const NEGATIVE: &str = include_str!("../../tests/fixtures/youtube/negative_count.json");

    #[test]
    fn thread_is_its_top_level_comment() {
        for header in [None, Some("youtube")] {
            let e = parse(THREAD, header).unwrap();
            assert_eq!(e.event_id, "youtube:UgxKp3vR7sT2mQ9wYb54AaABAg");
            assert_eq!(e.platform, "youtube");
            assert_eq!(e.kind, Kind::Comment);
            assert_eq!(e.author.id, "UC7xR2kPq9LmN4vB1sT8wZ3Q");
            assert_eq!(e.author.handle.as_deref(), Some("@misaki.tanabe"));
            assert_eq!(e.author.display_name.as_deref(), Some("@misaki.tanabe"));
            assert_eq!(
                e.text,
                "ルーターを再起動しても直りません😢 昨日の夜からずっと「接続なし」です。\n\
                 Router reboot doesn't help & the app says \"no outage\" <sigh>"
            );
            assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
            assert_eq!(e.conversation_id.as_deref(), Some("youtube:Qm3xT8aLw2E"));
            assert_eq!(e.in_reply_to, None);
            assert_eq!(
                e.url.as_deref(),
                Some("https://www.youtube.com/watch?v=Qm3xT8aLw2E&lc=UgxKp3vR7sT2mQ9wYb54AaABAg")
            );
            assert_eq!(e.community, Community::Public);
            assert_eq!(e.rating, None);
        }
    }

    #[test]
    fn reply_points_at_its_parent() {
        for header in [None, Some("youtube")] {
            let e = parse(REPLY, header).unwrap();
            assert_eq!(
                e.event_id,
                "youtube:UgxKp3vR7sT2mQ9wYb54AaABAg.A9xQ2mTzK4bA9xR0pLqW7c"
            );
            assert_eq!(e.kind, Kind::Comment);
            assert_eq!(
                e.in_reply_to.as_deref(),
                Some("youtube:UgxKp3vR7sT2mQ9wYb54AaABAg")
            );
            assert_eq!(e.conversation_id.as_deref(), Some("youtube:Qm3xT8aLw2E"));
            assert_eq!(e.author.id, "UCd4Fq1Zr8Wm2Kx7Pn3Ys5Tg");
            // Display name without a handle: the handle comes from the channel URL.
            assert_eq!(e.author.display_name.as_deref(), Some("Daniel Okoro"));
            assert_eq!(e.author.handle.as_deref(), Some("@danokoro"));
            assert_eq!(
                e.text,
                "@misaki.tanabe same in Lakeview, 3rd night in a row. Called support, 45 min on hold."
            );
            assert_eq!(e.mentions, vec!["misaki.tanabe"]);
            assert_eq!(e.created_at, "2026-11-20T10:02:47.000Z");
        }
    }

    #[test]
    fn negative_counts_are_invalid() {
        let err = parse(NEGATIVE, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("totalReplyCount"), "{}", err.message);
        let likes = REPLY.replace(r#""likeCount": 3"#, r#""likeCount": -3"#);
        assert_ne!(likes, REPLY);
        let err = parse(&likes, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(err.message.contains("snippet.likeCount"), "{}", err.message);
    }

    #[test]
    fn author_channel_id_is_required() {
        let raw = REPLY.replace(r#""value": "UCd4Fq1Zr8Wm2Kx7Pn3Ys5Tg""#, r#""other": 1"#);
        assert_ne!(raw, REPLY);
        let err = parse(&raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("snippet.authorChannelId.value"),
            "{}",
            err.message
        );
    }

    #[test]
    fn text_display_is_the_fallback_and_is_plain_text() {
        let raw = r#"{"kind":"youtube#comment","id":"Ugy1","snippet":{"authorDisplayName":"Ana","authorChannelId":{"value":"UC1"},"textDisplay":"Still down &amp; no ETA<br>see <a href=\"https://www.youtube.com/watch?v=Qm3xT8aLw2E&amp;t=42\">0:42</a>","publishedAt":"2026-11-20T09:15:02Z"}}"#;
        let e = parse(raw, None).unwrap();
        assert_eq!(e.text, "Still down & no ETA\nsee 0:42");
        assert_eq!(e.conversation_id, None);
        assert_eq!(e.url, None);
    }

    #[test]
    fn other_shapes_are_rejected() {
        let raw = r#"{"kind":"youtube#video","id":"x","snippet":{}}"#;
        assert_eq!(parse(raw, None).unwrap_err().reason, Reason::UnknownShape);
        let raw = r#"{"kind":"youtube#commentThread","id":"x"}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("`snippet`"), "{}", err.message);
        let raw = r#"{"kind":"youtube#commentThread","id":"x","snippet":{"videoId":"v"}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("topLevelComment"), "{}", err.message);
        for raw in [
            r#"{"kind":"youtube#comment","snippet":[]}"#,
            r#"{"kind":"youtube#comment","id":"a","snippet":{"likeCount":1.5}}"#,
            r#"{"kind":"youtube#comment","id":"a","snippet":{"likeCount":99999999999999999999}}"#,
            r#"{"kind":5}"#,
        ] {
            assert!(parse(raw, Some("youtube")).is_err(), "{raw}");
        }
    }

    #[test]
    fn handles() {
        assert_eq!(handle(Some("@ab"), None).as_deref(), Some("@ab"));
        assert_eq!(handle(Some("@"), None), None);
        assert_eq!(
            handle(Some("Jo"), Some("http://www.youtube.com/@jo_1")).as_deref(),
            Some("@jo_1")
        );
        assert_eq!(
            handle(None, Some("http://www.youtube.com/channel/UC1")),
            None
        );
        assert_eq!(handle(None, Some("https://youtube.com/@")), None);
    }
}
