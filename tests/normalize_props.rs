//! Property tests of the normalizers: no input panics, and every input yields either a
//! canonical event with its required fields or a rejection with a documented reason.
//!
//! Inputs: arbitrary bytes; real fixtures (tests/fixtures/**, the bundled sample feed) cut,
//! flipped and spliced; and JSON built from the keys the adapters look for, so that the
//! generator reaches deep into every adapter rather than stopping at "not JSON".

mod common;

use outcry::normalize::{normalize, Limits, Reason, Shape};
use proptest::prelude::*;

/// 2026-11-25T00:00:00Z, after every fixture.
const NOW_MS: i64 = 1_795_564_800_000;

fn fixtures() -> Vec<Vec<u8>> {
    let all: Vec<Vec<u8>> = common::fixtures().into_iter().map(|(_, raw)| raw).collect();
    assert!(all.len() > 50, "fixtures and sample feed found");
    all
}

/// The property itself.
fn check(raw: &[u8], header: Option<&str>) -> Result<(), TestCaseError> {
    let limits = Limits {
        max_payload_bytes: 64 * 1024,
        ..Limits::default()
    };
    match normalize(raw, header, &limits, NOW_MS) {
        Ok(e) => {
            prop_assert!(!e.event_id.trim().is_empty());
            prop_assert!(!e.platform.trim().is_empty());
            prop_assert!(!e.author.id.trim().is_empty());
            prop_assert!(
                e.created_at.ends_with('Z'),
                "canonical time: {}",
                e.created_at
            );
            prop_assert!(e.rating.is_none_or(|r| (0.0..=5.0).contains(&r)));
        }
        Err(r) => {
            prop_assert!(Reason::ALL.contains(&r.reason));
            prop_assert!(
                r.reason != Reason::InternalError,
                "normalize never says internal_error"
            );
            prop_assert!(!r.message.is_empty());
        }
    }
    Ok(())
}

fn header() -> impl Strategy<Value = Option<&'static str>> {
    let mut names: Vec<Option<&'static str>> =
        Shape::ALL.iter().map(|s| Some(s.header())).collect();
    names.push(None);
    names.push(None);
    names.push(Some("myspace"));
    proptest::sample::select(names)
}

/// A fixture, damaged one of several ways.
fn mutated(fixtures: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    let n = fixtures.len();
    (
        0..n,
        0usize..4,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        any::<u8>(),
        0..n,
    )
        .prop_map(move |(i, how, a, b, byte, j)| {
            let mut f = fixtures[i].clone();
            if f.is_empty() {
                return f;
            }
            let (a, b) = (a.index(f.len()), b.index(f.len()));
            match how {
                0 => f.truncate(a), // cut short
                1 => f[a] = byte,   // one byte changed
                2 => {
                    // a piece of another fixture spliced in
                    let other = &fixtures[j];
                    let (lo, hi) = (a.min(b), a.max(b));
                    let piece = &other[lo.min(other.len())..hi.min(other.len())];
                    f.splice(a..a, piece.iter().copied());
                }
                _ => {
                    f.drain(a.min(b)..a.max(b)); // a range removed
                }
            }
            f
        })
}

/// JSON made of the keys and values the adapters look for.
fn shaped_json() -> impl Strategy<Value = Vec<u8>> {
    let keys = prop::sample::select(vec![
        "data",
        "includes",
        "users",
        "id",
        "text",
        "author_id",
        "created_at",
        "conversation_id",
        "referenced_tweets",
        "type",
        "for_user_id",
        "direct_message_events",
        "message_create",
        "sender_id",
        "message_data",
        "created_timestamp",
        "object",
        "entry",
        "changes",
        "field",
        "value",
        "messaging",
        "message",
        "from",
        "time",
        "kind",
        "body",
        "author_fullname",
        "created_utc",
        "snippet",
        "topLevelComment",
        "authorChannelId",
        "textOriginal",
        "publishedAt",
        "reviewId",
        "starRating",
        "reviewer",
        "comment",
        "createTime",
        "stars",
        "consumer",
        "events",
        "eventData",
        "post",
        "raw",
        "cooked",
        "user_id",
        "username",
        "event_id",
        "author",
        "platform",
        "rating",
        "notifications",
        "actor",
        "action",
        "organizationalEntity",
        "followers",
        "verified",
    ]);
    let scalar = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        prop::sample::select(vec![
            "page",
            "instagram",
            "t1",
            "t3",
            "youtube#commentThread",
            "youtube#comment",
            "message_create",
            "comment",
            "FIVE",
            "2026-11-20T09:15:02Z",
            "1795166102000",
            "2026-11-20T09:15:02+0000",
            "",
            " ",
            "x",
            "📦 &amp; #tag @who https://a.b/c",
        ])
        .prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    let value = scalar.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::vec((keys.clone(), inner), 0..8).prop_map(|kv| {
                serde_json::Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    });
    value.prop_map(|v| v.to_string().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(raw in prop::collection::vec(any::<u8>(), 0..512), h in header()) {
        check(&raw, h)?;
    }

    #[test]
    fn damaged_fixtures(raw in mutated(fixtures()), h in header()) {
        check(&raw, h)?;
    }

    #[test]
    fn json_built_from_adapter_keys(raw in shaped_json(), h in header()) {
        check(&raw, h)?;
    }
}

/// Every fixture as it is: an event or a rejection, never a panic; and most of them events.
#[test]
fn every_fixture_is_an_event_or_a_rejection() {
    let all = fixtures();
    let mut events = 0;
    for raw in &all {
        check(raw, None).unwrap();
        if normalize(raw, None, &Limits::default(), NOW_MS).is_ok() {
            events += 1;
        }
    }
    assert!(
        events * 2 > all.len(),
        "{events} of {} fixtures are events",
        all.len()
    );
}
