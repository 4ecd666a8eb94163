//! Output records, built purely from decisions: CloudEvents 1.0 Kafka binary binding
//! (`ce_*` headers, JSON body) for assignments and interactions; dead letters keep the original
//! bytes, key and headers and add `outcry.dlq.*` headers.
//!
//! Every record is bounded by construction: the builders of records whose size follows from an
//! input (dead letters, interactions) take the largest record the producer accepts
//! ([`record_size`] counts what librdkafka counts against `message.max.bytes`) and cut what
//! does not fit, saying so — a dead letter keeps a prefix of its input with the input's size and
//! SHA-256, an interaction keeps a prefix of the text. One input can never make a record the
//! producer refuses for its size.

use crate::event::{AlertEvent, AssignmentEvent, ExchangeEvent, InteractionEvent, SourceCoords};

/// One record to produce, owned so it can be retried.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Dead-letter header names.
pub mod dlq {
    pub const REASON: &str = "outcry.dlq.reason";
    pub const STAGE: &str = "outcry.dlq.stage";
    pub const MESSAGE: &str = "outcry.dlq.message";
    pub const TOPIC: &str = "outcry.dlq.source.topic";
    pub const PARTITION: &str = "outcry.dlq.source.partition";
    pub const OFFSET: &str = "outcry.dlq.source.offset";
    /// `true` when the dead letter carries only a prefix of its input (and none of its
    /// headers if they did not fit either).
    pub const TRUNCATED: &str = "outcry.dlq.truncated";
    /// The input's payload size in bytes, on a truncated dead letter.
    pub const ORIGINAL_BYTES: &str = "outcry.dlq.original.bytes";
    /// The hex SHA-256 of the input's whole payload, on a truncated dead letter: what to look
    /// the original up by upstream.
    pub const ORIGINAL_SHA256: &str = "outcry.dlq.original.sha256";
    /// How many of the input's headers were left out of a truncated dead letter.
    pub const HEADERS_DROPPED: &str = "outcry.dlq.original.headers_dropped";
}

/// The most of an input a truncated dead letter carries: enough to see what it was.
pub const DEAD_LETTER_PREFIX_BYTES: usize = 64 * 1024;

/// What librdkafka counts against `message.max.bytes` for one record: payload, key and headers
/// (each header's name and value plus its varint framing, at most 10 bytes).
pub fn record_size(o: &Output) -> usize {
    o.payload.len()
        + o.key.as_ref().map_or(0, Vec::len)
        + o.headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 10)
            .sum::<usize>()
}

fn cloudevent_headers(
    id: &str,
    ce_type: &str,
    subject: &str,
    time: &str,
) -> Vec<(String, Vec<u8>)> {
    [
        ("ce_specversion", "1.0"),
        ("ce_id", id),
        ("ce_source", "outcry"),
        ("ce_type", ce_type),
        ("ce_subject", subject),
        ("ce_time", time),
        ("content-type", "application/json"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect()
}

/// The assignment event, keyed by owner key. `ce_type` is `io.outcry.assignment.<outcome>`.
pub fn assignment(topic: &str, a: &AssignmentEvent, time: &str) -> Output {
    let ce_type = format!("io.outcry.assignment.{}", a.outcome.as_str());
    Output {
        topic: topic.to_owned(),
        key: Some(a.owner_key.as_bytes().to_vec()),
        payload: to_json(a, 1024),
        headers: cloudevent_headers(
            &format!("{}/assignment", a.event_id),
            &ce_type,
            &a.owner_key,
            time,
        ),
    }
}

/// A record's JSON, written into a buffer of about its size (not grown from empty, copying
/// as it goes).
fn to_json(value: &impl serde::Serialize, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut out, value).expect("records serialize");
    out
}

/// A claimed event's two records: its assignment and its interaction. Pure, so the matching
/// benchmark measures what the worker pays for them (`outcry bench`).
pub fn decision_records(
    topics: &super::Topics,
    decision: crate::pipeline::Decision,
    claim: &crate::claim::Claim,
    incident: Option<crate::event::IncidentLink>,
    rules_version: &str,
    time: &str,
    max_bytes: usize,
) -> [Output; 2] {
    let crate::pipeline::Decision {
        event,
        identity,
        intent,
        owner_key,
        route,
    } = decision;
    // The interaction is serialized first, so that what both records carry (the intent, the
    // identity, the event's coordinates) then moves into the assignment instead of being cloned.
    let interaction = InteractionEvent {
        owner_key: owner_key.0.clone(),
        event,
        identity,
        intent,
        department: claim.department.clone(),
        fencing_token: claim.token,
        rules_version: rules_version.to_owned(),
        noise: false,
        truncated: None,
    };
    let interaction_out = self::interaction(&topics.interactions, &interaction, time, max_bytes);
    let InteractionEvent {
        owner_key,
        event,
        identity,
        intent,
        rules_version,
        ..
    } = interaction;
    let assignment = AssignmentEvent {
        event_id: event.event_id,
        owner_key,
        outcome: claim.outcome,
        department: claim.department.clone(),
        queue: claim.queue.clone(),
        priority: claim.priority.as_str().to_owned(),
        priority_score: route.score,
        fencing_token: claim.token,
        sla_deadline_ms: claim.sla_deadline_ms,
        resolution_due_ms: claim.resolution_due_ms,
        lease_until_ms: claim.lease_until_ms,
        routed_department: route.department().to_owned(),
        route: route.rule.to_string(),
        reasons: route.reasons,
        candidates: route.candidates.iter().map(ToString::to_string).collect(),
        priority_bumped: claim.bumped,
        replayed: claim.replayed,
        intent: Some(intent),
        identity: Some(identity),
        platform: event.platform,
        author_id: event.author.id,
        created_at: event.created_at,
        source: event.source,
        rules_version,
        previous: None,
        bounces: 0,
        trail: Vec::new(),
        incident,
    };
    [
        self::assignment(&topics.assignments, &assignment, time),
        interaction_out,
    ]
}

/// The interaction record for the CRM's communication history, keyed by owner key, within
/// `max_bytes`: when the whole event does not fit, the record keeps a prefix of the text (cut
/// at a character boundary) and says so in `truncated`. The lists derived from the text
/// (mentions, hashtags, urls) go too if the text alone was not enough. If even that does not
/// fit, the record is returned as it is and the producer's size check refuses it (the event
/// then becomes a dead letter).
pub fn interaction(topic: &str, i: &InteractionEvent, time: &str, max_bytes: usize) -> Output {
    let mut out = Output {
        topic: topic.to_owned(),
        key: Some(i.owner_key.as_bytes().to_vec()),
        payload: to_json(i, 768 + i.event.text.len() * 5 / 4),
        headers: cloudevent_headers(
            &format!("{}/interaction", i.event.event_id),
            "io.outcry.interaction",
            &i.owner_key,
            time,
        ),
    };
    if record_size(&out) <= max_bytes {
        return out;
    }
    let mut cut = i.clone();
    let original = i.event.text.len();
    // Escaping makes the serialized text longer than its bytes (up to 6x, for `\u00XX`): cut
    // in proportion, measure again, until it fits or nothing is left.
    loop {
        let over = record_size(&out).saturating_sub(max_bytes);
        if over == 0 || cut.event.text.is_empty() {
            break;
        }
        // Bytes of text to drop: the overshoot in serialized bytes, over how many serialized
        // bytes a byte of this text takes.
        let len = cut.event.text.len();
        let escaped = serde_json::to_vec(&cut.event.text).map_or(len, |v| v.len() - 2);
        let drop = (over as f64 * len as f64 / escaped.max(1) as f64).ceil() as usize + 8;
        let keep = floor_char_boundary(&cut.event.text, len.saturating_sub(drop));
        cut.event.text.truncate(keep);
        cut.truncated = Some(crate::event::Truncated {
            text_bytes: original,
            kept_bytes: keep,
        });
        out.payload = serde_json::to_vec(&cut).expect("interaction serializes");
    }
    if record_size(&out) > max_bytes {
        cut.event.mentions.clear();
        cut.event.hashtags.clear();
        cut.event.urls.clear();
        out.payload = serde_json::to_vec(&cut).expect("interaction serializes");
    }
    out
}

/// The largest index `<= at` that is a character boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// An exchange with a customer reported by a helpdesk tool (a response, an outbound message, a
/// bounce...), for the CRM's communication history, keyed by owner key.
pub fn exchange(topic: &str, x: &ExchangeEvent, time: &str) -> Output {
    Output {
        topic: topic.to_owned(),
        key: Some(x.owner_key.as_bytes().to_vec()),
        payload: serde_json::to_vec(x).expect("exchange serializes"),
        headers: cloudevent_headers(
            &format!("{}/exchange", x.id),
            &format!("io.outcry.exchange.{}", x.kind),
            &x.owner_key,
            time,
        ),
    }
}

/// An alert, keyed by owner key. `ce_type` is `io.outcry.alert.<kind>`.
pub fn alert(topic: &str, a: &AlertEvent, time: &str) -> Output {
    Output {
        topic: topic.to_owned(),
        key: Some(a.owner_key.as_bytes().to_vec()),
        payload: serde_json::to_vec(a).expect("alert serializes"),
        headers: cloudevent_headers(
            &a.alert_id,
            &format!("io.outcry.alert.{}", a.kind),
            &a.owner_key,
            time,
        ),
    }
}

/// Why an event became a dead letter: a reason code from the closed set, the stage that refused
/// it, and a short message for people.
#[derive(Debug, Clone, Copy)]
pub struct Cause<'a> {
    pub reason: &'a str,
    pub stage: &'a str,
    pub message: &'a str,
}

/// A dead letter: the original bytes, key and headers, plus why and where from — within
/// `max_bytes`. An input too large to carry whole is cut: the dead letter carries its first
/// bytes (at most [`DEAD_LETTER_PREFIX_BYTES`]), its size and its SHA-256, and says
/// `outcry.dlq.truncated: true`; the original headers stay if they fit beside that, the key if
/// it is no longer than 1 KiB.
pub fn dead_letter(
    topic: &str,
    original_key: Option<&[u8]>,
    original_payload: &[u8],
    original_headers: &[(String, Vec<u8>)],
    cause: Cause<'_>,
    source: &SourceCoords,
    max_bytes: usize,
) -> Output {
    let ours: Vec<(String, Vec<u8>)> = [
        (dlq::REASON, cause.reason.to_owned()),
        (dlq::STAGE, cause.stage.to_owned()),
        (dlq::MESSAGE, cause.message.chars().take(512).collect()),
        (dlq::TOPIC, source.topic.clone()),
        (dlq::PARTITION, source.partition.to_string()),
        (dlq::OFFSET, source.offset.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_bytes()))
    .collect();
    let whole = Output {
        topic: topic.to_owned(),
        key: original_key.map(<[u8]>::to_vec),
        payload: original_payload.to_vec(),
        headers: original_headers
            .iter()
            .cloned()
            .chain(ours.clone())
            .collect(),
    };
    if record_size(&whole) <= max_bytes {
        return whole;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(original_payload);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut headers = ours;
    for (k, v) in [
        (dlq::TRUNCATED, "true".to_owned()),
        (dlq::ORIGINAL_BYTES, original_payload.len().to_string()),
        (dlq::ORIGINAL_SHA256, hex),
    ] {
        headers.push((k.to_owned(), v.into_bytes()));
    }
    let mut cut = Output {
        topic: topic.to_owned(),
        key: original_key.filter(|k| k.len() <= 1024).map(<[u8]>::to_vec),
        payload: Vec::new(),
        headers,
    };
    let original_headers_size: usize = original_headers
        .iter()
        .map(|(k, v)| k.len() + v.len() + 10)
        .sum();
    if record_size(&cut) + original_headers_size + 40 <= max_bytes {
        cut.headers.splice(0..0, original_headers.iter().cloned());
    } else if !original_headers.is_empty() {
        cut.headers.push((
            dlq::HEADERS_DROPPED.to_owned(),
            original_headers.len().to_string().into_bytes(),
        ));
    }
    let room = max_bytes
        .saturating_sub(record_size(&cut))
        .min(DEAD_LETTER_PREFIX_BYTES);
    cut.payload = original_payload[..room.min(original_payload.len())].to_vec();
    cut
}

/// Now, as RFC 3339 with milliseconds (`ce_time`).
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letter_keeps_everything_and_says_why() {
        let src = SourceCoords {
            topic: "social.raw".into(),
            partition: 2,
            offset: 99,
        };
        let orig = vec![("platform".to_owned(), b"x".to_vec())];
        let out = dead_letter(
            "dlq",
            Some(b"k"),
            b"\xffraw",
            &orig,
            Cause {
                reason: "invalid_utf8",
                stage: "normalize",
                message: "bad",
            },
            &src,
            1 << 20,
        );
        assert_eq!(out.payload, b"\xffraw");
        assert_eq!(out.key.as_deref(), Some(&b"k"[..]));
        let h = |name: &str| {
            out.headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        };
        assert_eq!(h("platform").as_deref(), Some("x"));
        assert_eq!(h(dlq::REASON).as_deref(), Some("invalid_utf8"));
        assert_eq!(h(dlq::STAGE).as_deref(), Some("normalize"));
        assert_eq!(h(dlq::TOPIC).as_deref(), Some("social.raw"));
        assert_eq!(h(dlq::PARTITION).as_deref(), Some("2"));
        assert_eq!(h(dlq::OFFSET).as_deref(), Some("99"));
    }
}

#[cfg(test)]
mod bounds {
    use super::*;
    use crate::event::{CanonicalEvent, IdentityMatch, IntentMatch};

    fn cause() -> Cause<'static> {
        Cause {
            reason: "payload_too_large",
            stage: "normalize",
            message: "too large",
        }
    }

    fn header<'a>(o: &'a Output, name: &str) -> Option<&'a [u8]> {
        o.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// A dead letter of any size fits its bound; it carries its input whole exactly when the
    /// whole fits, and otherwise a prefix, the size and the hash.
    #[test]
    fn dead_letters_fit_their_bound_at_every_size() {
        let src = SourceCoords {
            topic: "social.raw".into(),
            partition: 0,
            offset: 7,
        };
        let hdrs = vec![("platform".to_owned(), b"x".to_vec())];
        let max = 100_000;
        for len in [0, 1, 99_000, 99_600, 99_700, 100_000, 100_001, 1_000_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let out = dead_letter("dlq", Some(b"k"), &payload, &hdrs, cause(), &src, max);
            assert!(record_size(&out) <= max, "len {len}: {}", record_size(&out));
            let whole_size = payload.len() + 1 + 11 + hdrs.len() * 10 + 700;
            if out.payload == payload {
                assert_eq!(header(&out, dlq::TRUNCATED), None);
            } else {
                assert!(whole_size > max - 1000, "len {len} was cut though it fits");
                assert_eq!(header(&out, dlq::TRUNCATED), Some(&b"true"[..]));
                assert_eq!(
                    header(&out, dlq::ORIGINAL_BYTES),
                    Some(len.to_string().as_bytes())
                );
                assert!(payload.starts_with(&out.payload));
                assert!(!out.payload.is_empty());
                use sha2::Digest;
                let hex: String = sha2::Sha256::digest(&payload)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(header(&out, dlq::ORIGINAL_SHA256), Some(hex.as_bytes()));
                assert_eq!(header(&out, "platform"), Some(&b"x"[..]));
            }
            assert_eq!(header(&out, dlq::REASON), Some(&b"payload_too_large"[..]));
        }
    }

    /// Headers too large to carry are left out and counted; a huge key is left out too.
    #[test]
    fn huge_headers_and_keys_are_left_out_of_a_cut_dead_letter() {
        let hdrs = vec![("big".to_owned(), vec![b'h'; 50_000])];
        let key = vec![b'k'; 5000];
        let out = dead_letter(
            "dlq",
            Some(&key),
            &[b'p'; 10],
            &hdrs,
            cause(),
            &SourceCoords::default(),
            20_000,
        );
        assert!(record_size(&out) <= 20_000);
        assert_eq!(header(&out, "big"), None);
        assert_eq!(header(&out, dlq::HEADERS_DROPPED), Some(&b"1"[..]));
        assert_eq!(out.key, None);
        assert_eq!(out.payload, b"pppppppppp");
    }

    fn interaction_of(text: String) -> InteractionEvent {
        InteractionEvent {
            owner_key: "x:1".into(),
            event: CanonicalEvent::bare("x", "1", &text),
            identity: IdentityMatch::unknown(""),
            intent: IntentMatch {
                intent: "general".into(),
                severity: 0,
                keywords: Vec::new(),
                sentiment: 0.0,
                language: None,
                entities: Vec::new(),
            },
            department: "support".into(),
            fencing_token: 1,
            rules_version: String::new(),
            noise: false,
            truncated: None,
        }
    }

    /// An interaction fits its bound whatever its text (multi-byte characters and characters
    /// that escape to six bytes included); a cut one keeps a prefix and says how much.
    #[test]
    fn interactions_fit_their_bound() {
        let max = 20_000;
        for text in [
            "short".to_owned(),
            "é".repeat(30_000),
            "\u{1}".repeat(30_000),
            "a".repeat(19_000),
            "🙂".repeat(10_000),
        ] {
            let i = interaction_of(text.clone());
            let out = interaction("inter", &i, "t", max);
            assert!(record_size(&out) <= max, "{}", record_size(&out));
            let back: InteractionEvent = serde_json::from_slice(&out.payload).unwrap();
            assert!(text.starts_with(&back.event.text));
            match back.truncated {
                None => assert_eq!(back.event.text, text),
                Some(t) => {
                    assert_eq!(t.text_bytes, text.len());
                    assert_eq!(t.kept_bytes, back.event.text.len());
                    assert!(t.kept_bytes < text.len());
                    assert!(t.kept_bytes > 0);
                }
            }
        }
    }
}
