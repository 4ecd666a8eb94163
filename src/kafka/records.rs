//! Output records, built purely from decisions: CloudEvents 1.0 Kafka binary binding
//! (`ce_*` headers, JSON body) for assignments and interactions; dead letters keep the original
//! bytes, key and headers and add `outcry.dlq.*` headers.

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
        payload: serde_json::to_vec(a).expect("assignment serializes"),
        headers: cloudevent_headers(
            &format!("{}/assignment", a.event_id),
            &ce_type,
            &a.owner_key,
            time,
        ),
    }
}

/// The interaction record for the CRM's communication history, keyed by owner key.
pub fn interaction(topic: &str, i: &InteractionEvent, time: &str) -> Output {
    Output {
        topic: topic.to_owned(),
        key: Some(i.owner_key.as_bytes().to_vec()),
        payload: serde_json::to_vec(i).expect("interaction serializes"),
        headers: cloudevent_headers(
            &format!("{}/interaction", i.event.event_id),
            "io.outcry.interaction",
            &i.owner_key,
            time,
        ),
    }
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

/// A dead letter: the original bytes, key and headers, plus why and where from.
pub fn dead_letter(
    topic: &str,
    original_key: Option<&[u8]>,
    original_payload: &[u8],
    original_headers: &[(String, Vec<u8>)],
    cause: Cause<'_>,
    source: &SourceCoords,
) -> Output {
    let mut headers = original_headers.to_vec();
    for (k, v) in [
        (dlq::REASON, cause.reason.to_owned()),
        (dlq::STAGE, cause.stage.to_owned()),
        (dlq::MESSAGE, cause.message.chars().take(512).collect()),
        (dlq::TOPIC, source.topic.clone()),
        (dlq::PARTITION, source.partition.to_string()),
        (dlq::OFFSET, source.offset.to_string()),
    ] {
        headers.push((k.to_owned(), v.into_bytes()));
    }
    Output {
        topic: topic.to_owned(),
        key: original_key.map(<[u8]>::to_vec),
        payload: original_payload.to_vec(),
        headers,
    }
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
