//! replay: publish a file of raw events into a topic, as a connector would — keyed by the
//! platform author id when the event is readable, with the `platform` header when asked.
//!
//! Two input formats:
//! - JSONL: one raw event per line, any shape outcry reads (blank lines skipped);
//! - CSV in the shape of the Customer Support on Twitter corpus (`tweet_id, author_id, inbound,
//!   created_at, text, response_tweet_id, in_response_to_tweet_id`): each inbound row (a
//!   customer writing to a brand) becomes an X API v2 tweet event with its reply threading
//!   (`referenced_tweets` and `conversation_id`, the root of its thread); brand replies are
//!   counted and skipped (they are outbound messages, not inbound events).

use crate::normalize::{self, Limits};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// One message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub key: Option<String>,
    pub payload: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jsonl,
    TwcsCsv,
}

impl Format {
    /// By file name: `.csv` is the CSV shape, anything else JSONL.
    pub fn of_path(path: &std::path::Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => Format::TwcsCsv,
            _ => Format::Jsonl,
        }
    }
}

/// What was read from a file.
#[derive(Debug, Default)]
pub struct Records {
    pub records: Vec<RawRecord>,
    /// CSV rows that are brand replies (outbound), not events.
    pub skipped_outbound: usize,
    /// CSV rows that could not be read: (the file line the row starts on, why).
    pub bad_rows: Vec<(usize, String)>,
}

/// The partition key of a raw event: its platform author id, when outcry can read it.
pub fn author_key(payload: &str) -> Option<String> {
    // A generous size limit and clock: this only picks a key, the worker judges the event.
    let limits = Limits {
        max_future_skew_ms: i64::MAX / 4,
        ..Limits::default()
    };
    normalize::normalize(payload.as_bytes(), None, &limits, normalize::time::now_ms())
        .ok()
        .map(|e| e.author.id)
}

/// JSONL: every non-blank line is one event, published as is (garbage too: the worker
/// dead-letters it, which is what a replay of a real feed should show).
pub fn read_jsonl(text: &str) -> Records {
    Records {
        records: text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| RawRecord {
                key: author_key(l),
                payload: l.to_owned(),
            })
            .collect(),
        ..Records::default()
    }
}

/// The Customer Support on Twitter CSV shape, inbound rows as X v2 events.
pub fn read_twcs_csv(input: impl std::io::Read) -> Result<Records, String> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let headers = reader.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| format!("the CSV has no `{name}` column (header: {headers:?})"))
    };
    let [id, author, inbound, created, text, parent] = [
        "tweet_id",
        "author_id",
        "inbound",
        "created_at",
        "text",
        "in_response_to_tweet_id",
    ]
    .map(col);
    let (id, author, inbound, created, text, parent) =
        (id?, author?, inbound?, created?, text?, parent?);

    struct Row {
        id: String,
        author: String,
        inbound: bool,
        created_at: String,
        text: String,
        parent: Option<String>,
    }
    let mut rows = Vec::new();
    let mut out = Records::default();
    for (n, rec) in reader.records().enumerate() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(n + 2, |p| p.line() as usize);
                out.bad_rows.push((line, e.to_string()));
                continue;
            }
        };
        // The file line a record starts on (texts may hold newlines).
        let row_no = rec.position().map_or(n + 2, |p| p.line() as usize);
        let get = |i: usize| rec.get(i).unwrap_or("").trim().to_owned();
        // Ids are written as floats in the reply column ("1.0").
        let parent = get(parent);
        let parent = parent.split('.').next().unwrap_or("").to_owned();
        let created_at =
            match chrono::DateTime::parse_from_str(&get(created), "%a %b %d %H:%M:%S %z %Y") {
                Ok(t) => normalize::time::format_millis(t.with_timezone(&chrono::Utc)),
                Err(e) => {
                    out.bad_rows
                        .push((row_no, format!("created_at {:?}: {e}", get(created))));
                    continue;
                }
            };
        rows.push(Row {
            id: get(id),
            author: get(author),
            inbound: get(inbound).eq_ignore_ascii_case("true"),
            created_at,
            text: rec.get(text).unwrap_or("").to_owned(),
            parent: (!parent.is_empty()).then_some(parent),
        });
    }
    let parent_of: HashMap<&str, &str> = rows
        .iter()
        .filter_map(|r| r.parent.as_deref().map(|p| (r.id.as_str(), p)))
        .collect();
    let ids: std::collections::HashSet<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    // The root of a thread: follow replies up while the parent is in the file (at most one
    // step per row, so a cycle in bad data ends).
    let root = |start: &str| {
        let mut id = start.to_owned();
        for _ in 0..rows.len() {
            match parent_of.get(id.as_str()) {
                Some(p) if ids.contains(p) => id = (*p).to_owned(),
                _ => break,
            }
        }
        id
    };
    for r in &rows {
        if !r.inbound {
            out.skipped_outbound += 1;
            continue;
        }
        let mut data = serde_json::json!({
            "id": r.id,
            "text": r.text,
            "author_id": r.author,
            "created_at": r.created_at,
            "conversation_id": root(&r.id),
        });
        if let Some(p) = &r.parent {
            data["referenced_tweets"] = serde_json::json!([{"type": "replied_to", "id": p}]);
        }
        let event = serde_json::json!({
            "data": data,
            "includes": {"users": [{"id": r.author, "username": format!("user{}", r.author)}]},
        });
        out.records.push(RawRecord {
            key: Some(r.author.clone()),
            payload: event.to_string(),
        });
    }
    Ok(out)
}

/// How a publish went.
#[derive(Debug, Default, Clone, Copy)]
pub struct Progress {
    pub sent: usize,
    pub acknowledged: usize,
    pub failed: usize,
    pub elapsed: Duration,
}

/// Publish records to `topic`, at most `rate` per second when given, calling `progress` about
/// once a second and at the end. Each record is handed to librdkafka when it is due (so its
/// `CreateTime` is when it was due, and a paced replay leaves evenly, not in bursts). Every
/// send is awaited: the result counts what the broker acknowledged, and the first error is
/// returned with the counts.
pub async fn publish(
    producer: &FutureProducer,
    topic: &str,
    records: &[RawRecord],
    platform: Option<&str>,
    rate: Option<f64>,
    mut progress: impl FnMut(Progress),
) -> (Progress, Option<KafkaError>) {
    let started = Instant::now();
    let mut p = Progress::default();
    let mut first_error = None;
    let mut in_flight = FuturesUnordered::new();
    let mut last_report = Instant::now();
    let settle = |r: Result<(), KafkaError>, p: &mut Progress, first_error: &mut Option<_>| match r
    {
        Ok(()) => p.acknowledged += 1,
        Err(e) => {
            p.failed += 1;
            first_error.get_or_insert(e);
        }
    };
    for (i, rec) in records.iter().enumerate() {
        if let Some(rate) = rate.filter(|r| *r > 0.0) {
            let due = started + Duration::from_secs_f64(i as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let mut record = FutureRecord::<String, str>::to(topic).payload(&rec.payload);
        if let Some(k) = &rec.key {
            record = record.key(k);
        }
        if let Some(platform) = platform {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "platform",
                value: Some(platform),
            }));
        }
        // `send_result` enqueues now. (`FutureProducer::send` is an async fn: a future of it
        // pushed here would enqueue nothing until polled, and records would leave in bursts.)
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    in_flight.push(delivery.map(|r| match r {
                        Ok(Ok(_)) => Ok(()),
                        Ok(Err((e, _))) => Err(e),
                        Err(_) => Err(KafkaError::Canceled),
                    }));
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    // librdkafka's queue is full: wait for a delivery, then enqueue again.
                    record = r;
                    match in_flight.next().await {
                        Some(r) => settle(r, &mut p, &mut first_error),
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
                Err((e, _)) => {
                    settle(Err(e), &mut p, &mut first_error);
                    break;
                }
            }
        }
        p.sent += 1;
        // Settle what has finished, and bound what is in flight.
        while let Some(Some(r)) = in_flight.next().now_or_never() {
            settle(r, &mut p, &mut first_error);
        }
        while in_flight.len() >= 10_000 {
            if let Some(r) = in_flight.next().await {
                settle(r, &mut p, &mut first_error);
            }
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            p.elapsed = started.elapsed();
            progress(p);
            last_report = Instant::now();
        }
    }
    while let Some(r) = in_flight.next().await {
        settle(r, &mut p, &mut first_error);
    }
    p.elapsed = started.elapsed();
    progress(p);
    (p, first_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "\
,tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id
0,1,sprintcare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 I understand.,2,3.0
1,2,115712,True,Tue Oct 31 22:11:45 +0000 2017,@sprintcare and how do you propose we do that,,1.0
2,3,115712,True,Tue Oct 31 22:08:27 +0000 2017,\"@sprintcare I have sent several private messages
and no one is responding as usual\",1,4.0
3,4,sprintcare,False,Tue Oct 31 21:54:49 +0000 2017,@115712 Please send us a Private Message,3,5.0
4,5,115712,True,Tue Oct 31 21:49:35 +0000 2017,@sprintcare I did.,4,
5,6,99,True,not a date,hello,,
";

    #[test]
    fn twcs_rows_become_threaded_x_events() {
        let r = read_twcs_csv(CSV.as_bytes()).unwrap();
        assert_eq!(r.skipped_outbound, 2);
        assert_eq!(r.bad_rows.len(), 1);
        assert_eq!(r.bad_rows[0].0, 8, "the file line the bad row starts on");
        assert_eq!(r.records.len(), 3);
        let events: Vec<_> = r
            .records
            .iter()
            .map(|rec| {
                crate::normalize::parse(&rec.payload, None).expect("an X event outcry reads")
            })
            .collect();
        assert_eq!(events[0].event_id, "x:2");
        assert_eq!(events[0].in_reply_to.as_deref(), Some("x:1"));
        assert_eq!(events[0].created_at, "2017-10-31T22:11:45.000Z");
        // 2 -> 1 -> 3 -> 4 -> 5: the whole thread shares the root's id.
        for e in &events {
            assert_eq!(e.conversation_id.as_deref(), Some("x:5"), "{}", e.event_id);
        }
        assert!(events[1].text.contains("private messages\nand no one"));
        assert_eq!(r.records[0].key.as_deref(), Some("115712"));
    }

    #[test]
    fn a_csv_without_the_columns_is_refused() {
        let err = read_twcs_csv("a,b\n1,2\n".as_bytes()).unwrap_err();
        assert!(err.contains("tweet_id"), "{err}");
    }

    #[test]
    fn jsonl_keys_by_author_and_keeps_garbage() {
        let text = "{\"data\":{\"id\":\"1\",\"text\":\"hi\",\"author_id\":\"42\",\"created_at\":\"2026-11-20T09:00:00Z\"}}\n\nnot json\n";
        let r = read_jsonl(text);
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[0].key.as_deref(), Some("42"));
        assert_eq!(r.records[1].key, None);
        assert_eq!(r.records[1].payload, "not json");
    }
}
