//! Reviews: Google Business Profile (`accounts.locations.reviews`, the Review resource) and
//! Trustpilot service reviews (the API's review object, or the webhook envelope around it).
//! Both are Reviews in the public community, with a 1.0..=5.0 rating; a review may be a rating
//! with no text (text ""). A review is the root of its own conversation (the business's reply
//! attaches to it): `conversation_id` is the review's own `event_id`.
//!
//! **Google** gives no reviewer id at all. The author id is derived: `photo:` and a 64-bit
//! FNV-1a hash (16 hex digits) of the reviewer's `profilePhotoUrl` without its `=s120-…` size
//! options (the same Google account keeps the same photo URL across reviews; the hash keeps
//! owner keys short and free of `/` and `:`), or, for an anonymous reviewer or one without a
//! photo, `review:<reviewId>` (so one review, one "author"). Identity matching on Google reviews can
//! therefore only ever be weak (display name), never a platform link. `event_id` is
//! `google:<reviewId>`.
//!
//! **Trustpilot**: `event_id` is `trustpilot:<id>`, the author id `consumer.id`, text the
//! `title` and the `text` separated by a blank line. The webhook delivery
//! `{"events":[{"eventName":"service-review-created","eventData":{…}}]}` carries the same
//! review (its consumer has `name` where the API has `displayName`); one event is that review,
//! several are a batch to split upstream, and any other event (`service-review-deleted`,
//! `-updated`) is not a new review.

use super::{json_error, required, time, Reason, Rejection};
use crate::event::{Author, CanonicalEvent, Community, Kind, Visibility};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoogleReview {
    name: Option<String>,
    review_id: Option<String>,
    reviewer: Option<Reviewer>,
    star_rating: Option<String>,
    comment: Option<String>,
    create_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reviewer {
    display_name: Option<String>,
    profile_photo_url: Option<String>,
    #[serde(default)]
    is_anonymous: bool,
}

pub(super) fn google(text: &str) -> Result<CanonicalEvent, Rejection> {
    let r: GoogleReview = serde_json::from_str(text).map_err(json_error)?;
    let name = r.name.filter(|n| !n.trim().is_empty());
    let review_id = match r.review_id {
        Some(id) => required(Some(id), "reviewId")?,
        // The resource name ends in the review id.
        None => required(
            name.as_deref()
                .and_then(|n| n.rsplit_once("/reviews/"))
                .map(|(_, id)| id.to_owned()),
            "reviewId",
        )?,
    };
    let stars = required(r.star_rating, "starRating")?;
    let rating = match stars.trim() {
        "ONE" => 1.0,
        "TWO" => 2.0,
        "THREE" => 3.0,
        "FOUR" => 4.0,
        "FIVE" => 5.0,
        other => {
            return Err(Rejection::new(
                Reason::InvalidValue,
                format!("`starRating` {:?} is not ONE..FIVE", time::clip(other)),
            ))
        }
    };
    let created_at = time::rfc3339(&required(r.create_time, "createTime")?, "createTime")?;
    let reviewer = r.reviewer.unwrap_or(Reviewer {
        display_name: None,
        profile_photo_url: None,
        is_anonymous: true,
    });
    let photo = reviewer
        .profile_photo_url
        .as_deref()
        .map(str::trim)
        .filter(|p| !reviewer.is_anonymous && p.starts_with("http"))
        .map(without_size_options);
    let author_id = match photo {
        Some(p) => format!("photo:{:016x}", fnv1a64(p)),
        None => {
            required(name, "name")?;
            format!("review:{review_id}")
        }
    };
    let event_id = format!("google:{review_id}");
    Ok(CanonicalEvent {
        conversation_id: Some(event_id.clone()),
        event_id,
        platform: "google".to_owned(),
        kind: Kind::Review,
        created_at,
        in_reply_to: None,
        author: Author {
            id: author_id,
            display_name: reviewer
                .display_name
                .filter(|n| !reviewer.is_anonymous && !n.trim().is_empty()),
            ..Author::default()
        },
        text: r.comment.unwrap_or_default(),
        lang: None,
        visibility: Visibility::Public,
        community: Community::Public,
        url: None,
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: Some(rating),
        source: Default::default(),
    })
}

/// 64-bit FNV-1a: stable across versions and platforms (unlike std's hasher), for derived ids.
fn fnv1a64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A googleusercontent photo URL without the `=s120-c-rp-mo-br100` options after its last path
/// segment: the options vary with the requested size, the rest names the account's photo.
fn without_size_options(url: &str) -> &str {
    let last_slash = url.rfind('/').unwrap_or(0);
    match url[last_slash..].find('=') {
        Some(eq) => &url[..last_slash + eq],
        None => url,
    }
}

#[derive(Deserialize)]
struct Webhook {
    events: Vec<WebhookEvent>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WebhookEvent {
    event_name: Option<String>,
    event_data: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TrustpilotReview {
    id: Option<String>,
    stars: Option<f64>,
    title: Option<String>,
    text: Option<String>,
    language: Option<String>,
    created_at: Option<String>,
    consumer: Option<Consumer>,
    country_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Consumer {
    id: Option<String>,
    display_name: Option<String>,
    /// The webhook's spelling of `displayName`.
    name: Option<String>,
    display_location: Option<String>,
    country_code: Option<String>,
}

pub(super) fn trustpilot(text: &str) -> Result<CanonicalEvent, Rejection> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(json_error)?;
    if value.get("events").is_none() {
        let review: TrustpilotReview = serde_json::from_value(value).map_err(json_error)?;
        return trustpilot_review(review, "");
    }
    let webhook: Webhook = serde_json::from_value(value).map_err(json_error)?;
    let mut events = webhook.events;
    match events.len() {
        0 => Err(Rejection::new(
            Reason::UnknownShape,
            "trustpilot webhook holds no events",
        )),
        1 => {
            let event = events.swap_remove(0);
            let name = required(event.event_name, "events[0].eventName")?;
            if name != "service-review-created" {
                return Err(Rejection::new(
                    Reason::UnknownShape,
                    format!(
                        "trustpilot event {:?} is not a new review",
                        time::clip(&name)
                    ),
                ));
            }
            let data = event.event_data.ok_or_else(|| {
                Rejection::new(Reason::MissingField, "missing field `events[0].eventData`")
            })?;
            let review: TrustpilotReview = serde_json::from_value(data).map_err(json_error)?;
            trustpilot_review(review, "events[0].eventData.")
        }
        n => Err(super::batched("trustpilot webhook", n)),
    }
}

/// `at` is the JSON path of the review, ending in `.` (`""` at the top level).
fn trustpilot_review(r: TrustpilotReview, at: &str) -> Result<CanonicalEvent, Rejection> {
    let id = required(r.id, &format!("{at}id"))?;
    let stars = r.stars.ok_or_else(|| {
        Rejection::new(Reason::MissingField, format!("missing field `{at}stars`"))
    })?;
    if !(1.0..=5.0).contains(&stars) || stars.fract() != 0.0 {
        return Err(Rejection::new(
            Reason::InvalidValue,
            format!("`{at}stars` = {stars} is not a whole number in 1..=5"),
        ));
    }
    let created_at = time::rfc3339(
        &required(r.created_at, &format!("{at}createdAt"))?,
        &format!("{at}createdAt"),
    )?;
    let consumer = r.consumer.ok_or_else(|| {
        Rejection::new(
            Reason::MissingField,
            format!("missing field `{at}consumer`"),
        )
    })?;
    let author_id = required(consumer.id, &format!("{at}consumer.id"))?;
    let nonblank = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let title = nonblank(r.title);
    let body = nonblank(r.text);
    let text = match (title, body) {
        (Some(t), Some(b)) => format!("{t}\n\n{b}"),
        (Some(t), None) => t,
        (None, Some(b)) => b,
        (None, None) => String::new(),
    };
    let event_id = format!("trustpilot:{id}");
    Ok(CanonicalEvent {
        conversation_id: Some(event_id.clone()),
        event_id,
        platform: "trustpilot".to_owned(),
        kind: Kind::Review,
        created_at,
        in_reply_to: None,
        author: Author {
            id: author_id,
            display_name: nonblank(consumer.display_name).or(nonblank(consumer.name)),
            location: nonblank(consumer.display_location)
                .or(nonblank(consumer.country_code))
                .or(nonblank(r.country_code)),
            ..Author::default()
        },
        text,
        lang: nonblank(r.language),
        visibility: Visibility::Public,
        community: Community::Public,
        url: Some(format!("https://www.trustpilot.com/reviews/{id}")),
        mentions: Vec::new(),
        hashtags: Vec::new(),
        urls: Vec::new(),
        rating: Some(stars),
        source: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::without_size_options;
    use crate::event::{Community, Kind};
    use crate::normalize::{parse, Reason};

    const G_REVIEW: &str = include_str!("../../tests/fixtures/google/review.json");
    const G_RATING_ONLY: &str = include_str!("../../tests/fixtures/google/rating_only.json");
    const G_UNSPECIFIED: &str = include_str!("../../tests/fixtures/google/unspecified_rating.json");
    const T_REVIEW: &str = include_str!("../../tests/fixtures/trustpilot/review.json");
    const T_CREATED: &str = include_str!("../../tests/fixtures/trustpilot/webhook_created.json");
    const T_TWO: &str = include_str!("../../tests/fixtures/trustpilot/webhook_two_events.json");
    const T_STARS: &str = include_str!("../../tests/fixtures/trustpilot/stars_out_of_range.json");

    #[test]
    fn google_review() {
        for header in [None, Some("google")] {
            let e = parse(G_REVIEW, header).unwrap();
            assert_eq!(e.event_id, "google:AbFvOqnT7kR2xW9pLm4sYc8Zq1VdE3hJ");
            assert_eq!(e.platform, "google");
            assert_eq!(e.kind, Kind::Review);
            assert_eq!(e.rating, Some(2.0));
            assert_eq!(e.community, Community::Public);
            // FNV-1a of "https://lh3.googleusercontent.com/a-/ALV-UjW8qTz3Xk1mPv5Rn2Lc9Hs7Dg4Fb6Yt0Ew"
            assert_eq!(e.author.id, "photo:dc77c1aed08cc90d");
            assert_eq!(e.author.display_name.as_deref(), Some("Priya Raman"));
            assert_eq!(e.author.handle, None);
            assert_eq!(
                e.text,
                "Waited 50 minutes at the Alder St store to swap a faulty XR-200 gateway. \
                 Staff were friendly but the \"same-day replacement\" took 3 visits. 2 stars \
                 because the tech who finally came was great 👍"
            );
            assert_eq!(e.created_at, "2026-11-20T09:15:02.481Z");
            assert_eq!(
                e.conversation_id.as_deref(),
                Some("google:AbFvOqnT7kR2xW9pLm4sYc8Zq1VdE3hJ")
            );
            assert_eq!(e.in_reply_to, None);
            assert_eq!(e.url, None);
        }
    }

    #[test]
    fn google_rating_only_anonymous_review() {
        let e = parse(G_RATING_ONLY, None).unwrap();
        assert_eq!(e.event_id, "google:AbFvOqmK2pW8zR5tNc1xLq7Ys4HbG9uE");
        assert_eq!(e.text, "");
        assert_eq!(e.rating, Some(1.0));
        // Anonymous: all anonymous reviewers share the default photo, so the review names the
        // author, and no display name is kept.
        assert_eq!(e.author.id, "review:AbFvOqmK2pW8zR5tNc1xLq7Ys4HbG9uE");
        assert_eq!(e.author.display_name, None);
        assert_eq!(e.created_at, "2026-11-20T10:41:09.000Z");
    }

    #[test]
    fn google_unspecified_rating_is_invalid() {
        for header in [None, Some("google")] {
            let err = parse(G_UNSPECIFIED, header).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidValue);
            assert!(
                err.message.contains("STAR_RATING_UNSPECIFIED"),
                "{}",
                err.message
            );
            assert!(err.message.contains("starRating"), "{}", err.message);
        }
    }

    #[test]
    fn google_missing_fields() {
        let raw = r#"{"starRating":"FIVE","createTime":"2026-11-20T09:15:02Z"}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("reviewId"), "{}", err.message);
        // The id is taken from the resource name when `reviewId` is absent.
        let raw = r#"{"name":"accounts/1/locations/2/reviews/Abc","starRating":"FIVE","createTime":"2026-11-20T09:15:02Z"}"#;
        let e = parse(raw, None).unwrap();
        assert_eq!(e.event_id, "google:Abc");
        assert_eq!(e.author.id, "review:Abc");
        let raw = r#"{"reviewId":"Abc","starRating":"FIVE"}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("createTime"), "{}", err.message);
        let raw = r#"{"reviewId":"Abc","starRating":5,"createTime":"2026-11-20T09:15:02Z"}"#;
        assert!(parse(raw, None).is_err());
    }

    #[test]
    fn photo_size_options_are_dropped() {
        assert_eq!(
            without_size_options("https://lh3.googleusercontent.com/a/ACg8oc=s120-c-rp"),
            "https://lh3.googleusercontent.com/a/ACg8oc"
        );
        assert_eq!(
            without_size_options("https://lh3.googleusercontent.com/a/ACg8oc"),
            "https://lh3.googleusercontent.com/a/ACg8oc"
        );
        assert_eq!(without_size_options("=é/ü=x"), "=é/ü");
    }

    #[test]
    fn trustpilot_review_object() {
        for header in [None, Some("trustpilot")] {
            let e = parse(T_REVIEW, header).unwrap();
            assert_eq!(e.event_id, "trustpilot:6a3f1c9e2b7d4e0012ab34cd");
            assert_eq!(e.platform, "trustpilot");
            assert_eq!(e.kind, Kind::Review);
            assert_eq!(e.rating, Some(1.0));
            assert_eq!(e.author.id, "5f8e2a1b9c3d4e0011223344");
            assert_eq!(e.author.display_name.as_deref(), Some("Hannah Weiß"));
            assert_eq!(e.author.location.as_deref(), Some("DE"));
            assert_eq!(
                e.text,
                "Kündigung ignoriert – 3 Monate weiter abgebucht\n\n\
                 Ich habe im August schriftlich gekündigt & eine Bestätigung bekommen. \
                 Trotzdem wurden September, Oktober und November abgebucht. Der Chat sagt \
                 \"wir leiten es weiter\". Ich will mein Geld zurück!"
            );
            assert_eq!(e.lang.as_deref(), Some("de"));
            assert_eq!(e.created_at, "2026-11-20T09:15:02.000Z");
            assert_eq!(
                e.conversation_id.as_deref(),
                Some("trustpilot:6a3f1c9e2b7d4e0012ab34cd")
            );
            assert_eq!(
                e.url.as_deref(),
                Some("https://www.trustpilot.com/reviews/6a3f1c9e2b7d4e0012ab34cd")
            );
            assert_eq!(e.community, Community::Public);
        }
    }

    #[test]
    fn trustpilot_webhook_with_one_new_review() {
        for header in [None, Some("trustpilot")] {
            let e = parse(T_CREATED, header).unwrap();
            assert_eq!(e.event_id, "trustpilot:6a3f2d0471c8e90013cd56ef");
            assert_eq!(e.kind, Kind::Review);
            assert_eq!(e.rating, Some(4.0));
            assert_eq!(e.author.id, "60a1b2c3d4e5f60012345678");
            assert_eq!(e.author.display_name.as_deref(), Some("Marcus Lee"));
            assert_eq!(
                e.text,
                "Fast install, one hiccup\n\n\
                 Technician arrived on time and the fibre was live in an hour. Lost a star \
                 because the welcome email had the wrong wifi password."
            );
            assert_eq!(e.created_at, "2026-11-20T11:02:33.000Z");
            assert_eq!(e.lang.as_deref(), Some("en"));
        }
    }

    #[test]
    fn trustpilot_webhook_batches_and_other_events() {
        let err = parse(T_TWO, None).unwrap_err();
        assert_eq!(err.reason, Reason::InvalidValue);
        assert!(
            err.message.contains("trustpilot webhook holds 2 events"),
            "{}",
            err.message
        );
        let deleted = T_CREATED.replace("service-review-created", "service-review-deleted");
        let err = parse(&deleted, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        assert!(err.message.contains("not a new review"), "{}", err.message);
        let err = parse(r#"{"events":[]}"#, None).unwrap_err();
        assert_eq!(err.reason, Reason::UnknownShape);
        let err = parse(r#"{"events":{}}"#, None).unwrap_err();
        assert_ne!(err.reason, Reason::InternalError);
        let raw = r#"{"events":[{"eventName":"service-review-created"}]}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("events[0].eventData"),
            "{}",
            err.message
        );
    }

    #[test]
    fn trustpilot_stars_out_of_range() {
        for header in [None, Some("trustpilot")] {
            let err = parse(T_STARS, header).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidValue);
            assert!(err.message.contains("stars"), "{}", err.message);
            assert!(err.message.contains("1..=5"), "{}", err.message);
        }
        for stars in ["0", "4.5", "-1"] {
            let raw = T_REVIEW.replace(r#""stars": 1"#, &format!(r#""stars": {stars}"#));
            assert_ne!(raw, T_REVIEW);
            let err = parse(&raw, None).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidValue, "{stars}");
        }
    }

    #[test]
    fn trustpilot_missing_fields_name_their_path() {
        let raw = T_CREATED.replace(r#""id": "60a1b2c3d4e5f60012345678","#, "");
        assert_ne!(raw, T_CREATED);
        let err = parse(&raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(
            err.message.contains("events[0].eventData.consumer.id"),
            "{}",
            err.message
        );
        let raw = r#"{"id":"a","stars":3,"consumer":{"id":"c"}}"#;
        let err = parse(raw, None).unwrap_err();
        assert_eq!(err.reason, Reason::MissingField);
        assert!(err.message.contains("`createdAt`"), "{}", err.message);
    }
}
