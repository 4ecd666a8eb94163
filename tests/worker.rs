//! The real worker against librdkafka's mock cluster (the real Kafka protocol, in-process) and
//! a claim store (in-memory, and a real redis-server): events in, assignments out, offsets
//! committed; redelivery; a crash between claim and produce; CRM updates; poison input.

mod common;

use common::RedisServer;
use outcry::claim::{ClaimStore, MemoryClaimStore, RedisClaimStore};
use outcry::config::{Config, Loaded};
use outcry::event::{AssignmentEvent, AssignmentOutcome, Confidence};
use outcry::kafka::embedded::EmbeddedKafka;
use outcry::kafka::records::dlq;
use outcry::kafka::unique_suffix;
use outcry::telemetry::Metrics;
use outcry::worker::{Status, Worker, WorkerError};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

const RULES: &str = r#"
name = "t"
[[intent]]
name = "outage"
severity = 3
keywords = ["down"]
[[intent]]
name = "billing"
severity = 2
keywords = ["refund"]
[[intent]]
name = "lost_luggage"
severity = 2
keywords = ["lost my bag", "lost luggage"]
[[entity]]
name = "airport"
values = ["JFK", "LAX"]
aliases = { "kennedy" = "JFK" }
normalize = "upper"
[noise]
keywords = ["giveaway"]
"#;
const CRM: &str =
    r#"{"id":"C1","tier":"gold","identities":[{"platform":"x","user_id":"111","verified":true}]}"#;

fn tweet(id: u64, author: &str, text: &str) -> String {
    format!(
        r#"{{"data":{{"id":"{id}","text":"{text}","author_id":"{author}","created_at":"2026-11-20T09:00:00Z"}},"includes":{{"users":[{{"id":"{author}","username":"u{author}"}}]}}}}"#
    )
}

/// A config on fresh topics and a fresh group of `kafka`.
fn loaded(kafka: &EmbeddedKafka, crm: &str) -> Loaded {
    loaded_with(kafka, crm, |_| {})
}

/// [`loaded`], with `tweak` applied to the config before it is compiled.
fn loaded_with(kafka: &EmbeddedKafka, crm: &str, tweak: impl FnOnce(&mut Config)) -> Loaded {
    let mut c = Config::default();
    let s = unique_suffix();
    c.kafka.brokers = kafka.bootstrap_servers().to_owned();
    c.kafka.group_id = format!("g-{s}");
    let t = &mut c.kafka.topics;
    t.raw = format!("raw-{s}");
    t.customers = format!("crm-{s}");
    t.assignments = format!("assign-{s}");
    t.interactions = format!("inter-{s}");
    t.deadletter = format!("dlq-{s}");
    t.feedback = format!("feedback-{s}");
    t.alerts = format!("alerts-{s}");
    c.kafka.drain_timeout.0 = Duration::from_secs(5);
    c.kafka
        .producer
        .insert("message.timeout.ms".into(), "2000".into());
    // A restarted member waits for the old one's session to expire: keep that short here.
    c.kafka
        .consumer
        .insert("session.timeout.ms".into(), "6000".into());
    c.kafka
        .consumer
        .insert("heartbeat.interval.ms".into(), "500".into());
    c.http.listen = String::new();
    c.rules.packs = vec!["rules.toml".into()];
    c.crm.snapshot = Some("crm.jsonl".into());
    c.routing.route.insert(
        0,
        outcry::route::RouteConfig {
            name: "outage".into(),
            intents: vec!["outage".into()],
            candidates: vec![
                outcry::route::Target::parse("tech").unwrap(),
                outcry::route::Target::parse("support").unwrap(),
            ],
            ..Default::default()
        },
    );
    tweak(&mut c);
    let crm = crm.to_owned();
    let l = c
        .resolve(|p| {
            Ok(if p.ends_with("rules.toml") {
                RULES.into()
            } else {
                crm.clone()
            })
        })
        .unwrap();
    kafka.create_topic(&l.config.kafka.topics.raw, 3).unwrap();
    for t in [
        &l.config.kafka.topics.customers,
        &l.config.kafka.topics.assignments,
        &l.config.kafka.topics.interactions,
        &l.config.kafka.topics.deadletter,
        &l.config.kafka.topics.feedback,
        &l.config.kafka.topics.alerts,
    ] {
        kafka.create_topic(t, 1).unwrap();
    }
    l
}

async fn produce(bootstrap: &str, topic: &str, events: &[(Option<&str>, Vec<u8>, Option<&str>)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for (key, payload, platform) in events {
        let mut r = FutureRecord::<str, [u8]>::to(topic).payload(payload);
        if let Some(k) = key {
            r = r.key(*k);
        }
        if let Some(p) = platform {
            r = r.headers(OwnedHeaders::new().insert(Header {
                key: "platform",
                value: Some(*p),
            }));
        }
        producer
            .send(r, Timeout::After(Duration::from_secs(10)))
            .await
            .unwrap();
    }
}

struct Run {
    status: Arc<Status>,
    metrics: Arc<Metrics>,
    result: Result<(), WorkerError>,
}

/// Run a worker until `done` says so (or it stops by itself), then shut it down.
async fn run_worker(l: &Loaded, store: Arc<dyn ClaimStore>, done: impl Fn(&Status) -> bool) -> Run {
    run_worker_with(l, store, Metrics::new(), done).await
}

/// [`run_worker`] with the metrics given, so that `done` can look at them.
async fn run_worker_with(
    l: &Loaded,
    store: Arc<dyn ClaimStore>,
    metrics: Arc<Metrics>,
    done: impl Fn(&Status) -> bool,
) -> Run {
    common::logs();
    let status = Arc::new(Status::default());
    let worker = Worker {
        config: l.config.clone(),
        pipeline: l.pipeline().into(),
        index: Arc::new(RwLock::new(l.index.clone())),
        store,
        metrics: Arc::clone(&metrics),
        status: Arc::clone(&status),
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut task = tokio::spawn(worker.run(stop_rx));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if done(&status) {
            let _ = stop.send(true);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker did not get there in 30 s: {status:?}"
        );
        tokio::select! {
            r = &mut task => return Run { status, metrics, result: r.unwrap() },
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
    let result = task.await.unwrap();
    Run {
        status,
        metrics,
        result,
    }
}

fn finished(n: u64) -> impl Fn(&Status) -> bool {
    move |s: &Status| Status::get(&s.finished) >= n
}

fn assignments(bootstrap: &str, topic: &str) -> Vec<AssignmentEvent> {
    outcry::demo::read_all(bootstrap, topic)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect()
}

fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Committed offsets of the worker's group, summed over the partitions of `topic`.
fn committed_total(l: &Loaded) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &l.config.kafka.brokers)
        .set("group.id", &l.config.kafka.group_id)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&l.config.kafka.topics.raw, p);
    }
    let committed = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

fn mixed_events() -> Vec<(Option<&'static str>, Vec<u8>, Option<&'static str>)> {
    vec![
        (
            Some("111"),
            tweet(1, "111", "internet down").into_bytes(),
            None,
        ),
        (
            Some("111"),
            tweet(2, "111", "I want a refund").into_bytes(),
            None,
        ),
        (
            Some("222"),
            tweet(3, "222", "hello there").into_bytes(),
            Some("x"),
        ),
        (None, b"this is not json".to_vec(), Some("x")),
        (Some("333"), tweet(4, "333", "giveaway!").into_bytes(), None),
    ]
}

/// Events in, assignments out, offsets committed — for any store.
async fn end_to_end(store: Arc<dyn ClaimStore>) {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    produce(kafka.bootstrap_servers(), &t.raw, &mixed_events()).await;
    let run = run_worker(&l, store, finished(5)).await;
    run.result.unwrap();
    assert_eq!(Status::get(&run.status.noise), 1);
    assert_eq!(Status::get(&run.status.dead_letters), 1);

    let mut a = assignments(kafka.bootstrap_servers(), &t.assignments);
    a.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    let summary: Vec<(&str, &str, AssignmentOutcome, &str)> = a
        .iter()
        .map(|a| {
            (
                a.event_id.as_str(),
                a.owner_key.as_str(),
                a.outcome,
                a.department.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("x:1", "customer:C1", AssignmentOutcome::New, "tech"),
            // routing said billing; the customer already has an owner
            ("x:2", "customer:C1", AssignmentOutcome::Attached, "tech"),
            ("x:3", "author:x:222", AssignmentOutcome::New, "support"),
        ]
    );
    assert_eq!(a[1].routed_department, "support");
    assert_eq!(a[0].fencing_token, a[1].fencing_token);
    assert_eq!(
        a[0].identity.as_ref().unwrap().confidence,
        Confidence::Verified
    );

    let inter = outcry::demo::read_all(kafka.bootstrap_servers(), &t.interactions).unwrap();
    assert_eq!(inter.len(), 3);
    assert_eq!(header(&inter[0], "ce_specversion").as_deref(), Some("1.0"));
    let raw = outcry::demo::read_all(kafka.bootstrap_servers(), &t.assignments).unwrap();
    assert!(raw.iter().all(|m| header(m, "ce_type")
        .unwrap()
        .starts_with("io.outcry.assignment.")));
    assert!(raw
        .iter()
        .all(|m| m.key() == Some(header(m, "ce_subject").unwrap().as_bytes())));

    let dl = outcry::demo::read_all(kafka.bootstrap_servers(), &t.deadletter).unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0].payload(), Some(&b"this is not json"[..]));
    assert_eq!(header(&dl[0], dlq::REASON).as_deref(), Some("invalid_json"));
    assert_eq!(
        header(&dl[0], "platform").as_deref(),
        Some("x"),
        "original headers kept"
    );

    // Every input's offset was committed: five events, five offsets.
    assert_eq!(committed_total(&l), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_with_memory_store() {
    end_to_end(Arc::new(MemoryClaimStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_with_redis() {
    let redis = RedisServer::start(false);
    end_to_end(Arc::new(
        RedisClaimStore::connect(&redis.url(), "w").await.unwrap(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_events_get_the_same_decision() {
    let redis = RedisServer::start(false);
    let store: Arc<dyn ClaimStore> =
        Arc::new(RedisClaimStore::connect(&redis.url(), "r").await.unwrap());
    let kafka = EmbeddedKafka::start(1).unwrap();
    let mut l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    produce(kafka.bootstrap_servers(), &t.raw, &mixed_events()).await;
    run_worker(&l, Arc::clone(&store), finished(5))
        .await
        .result
        .unwrap();
    let first = assignments(kafka.bootstrap_servers(), &t.assignments);

    // A new group reads everything again, as after a lost commit.
    l.config.kafka.group_id = format!("g2-{}", unique_suffix());
    let again = run_worker(&l, store, finished(5)).await;
    again.result.unwrap();
    assert_eq!(Status::get(&again.status.replayed), 3);
    assert_eq!(
        Status::get(&again.status.assigned_new) + Status::get(&again.status.assigned_attached),
        0
    );
    // Metrics count decisions, not deliveries: a replay is a claim-stage outcome of its own and
    // adds nothing to the assignments counter.
    let text = again.metrics.render();
    assert!(
        text.contains(r#"outcry_stage_events_total{outcome="replayed",stage="claim"} 3"#),
        "{text}"
    );
    assert!(!text.contains("outcry_assignments_total{"), "{text}");
    let all = assignments(kafka.bootstrap_servers(), &t.assignments);
    assert_eq!(all.len(), 6);
    let by_id: HashMap<&str, &AssignmentEvent> =
        first.iter().map(|a| (a.event_id.as_str(), a)).collect();
    for a in &all[3..] {
        let b = by_id[a.event_id.as_str()];
        assert!(a.replayed);
        assert_eq!(
            (a.outcome, &a.department, a.fencing_token, a.sla_deadline_ms),
            (b.outcome, &b.department, b.fencing_token, b.sla_deadline_ms)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_between_claim_and_produce_loses_nothing() {
    let redis = RedisServer::start(false);
    let store: Arc<dyn ClaimStore> =
        Arc::new(RedisClaimStore::connect(&redis.url(), "c").await.unwrap());
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    let events = vec![
        (
            Some("111"),
            tweet(10, "111", "internet down").into_bytes(),
            None,
        ),
        (
            Some("444"),
            tweet(11, "444", "refund please").into_bytes(),
            None,
        ),
    ];
    produce(kafka.bootstrap_servers(), &t.raw, &events).await;

    // Every produce request fails with a retriable error: the worker claims, keeps sending
    // again (the offsets wait), and is stopped while it still cannot deliver; its drain times
    // out.
    kafka
        .fail_requests(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 10_000],
        )
        .unwrap();
    let metrics = Metrics::new();
    let retried = Arc::clone(&metrics);
    let crashed = run_worker_with(&l, Arc::clone(&store), metrics, move |s| {
        Status::get(&s.assigned_new) == 2
            && retried.kafka_errors.with_label_values(&["produce"]).get() >= 2
    })
    .await;
    crashed.result.unwrap();
    assert_eq!(
        Status::get(&crashed.status.assigned_new),
        2,
        "both events were claimed"
    );
    assert_eq!(Status::get(&crashed.status.finished), 0);
    assert_eq!(
        committed_total(&l),
        0,
        "no offset stored for undelivered outputs"
    );

    // The broker recovers; the worker restarts in the same group and reads both again.
    kafka.clear_request_errors(RDKafkaApiKey::Produce).unwrap();
    let restarted = run_worker(&l, store, finished(2)).await;
    restarted.result.unwrap();
    assert_eq!(
        Status::get(&restarted.status.replayed),
        2,
        "the same decisions, not new ones"
    );
    let a = assignments(kafka.bootstrap_servers(), &t.assignments);
    assert_eq!(a.len(), 2, "{a:?}");
    assert!(a
        .iter()
        .all(|a| a.replayed && a.outcome == AssignmentOutcome::New && a.fencing_token == 1));
    assert_eq!(committed_total(&l), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_topic_updates_the_index_before_events_are_read() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded(&kafka, "");
    let t = l.config.kafka.topics.clone();
    let crm =
        br#"{"id":"C9","identities":[{"platform":"x","user_id":"999","verified":false}]}"#.to_vec();
    let gone = br#"{"id":"C8","identities":[{"platform":"x","user_id":"888"}]}"#.to_vec();
    produce(
        kafka.bootstrap_servers(),
        &t.customers,
        &[(Some("C9"), crm, None), (Some("C8"), gone, None)],
    )
    .await;
    // A tombstone deletes C8 again.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<str, [u8]>::to(&t.customers).key("C8"),
            Timeout::After(Duration::from_secs(5)),
        )
        .await
        .unwrap();
    produce(
        kafka.bootstrap_servers(),
        &t.raw,
        &[
            (Some("999"), tweet(20, "999", "hello").into_bytes(), None),
            (Some("888"), tweet(21, "888", "hello").into_bytes(), None),
        ],
    )
    .await;
    run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(2))
        .await
        .result
        .unwrap();
    let mut a = assignments(kafka.bootstrap_servers(), &t.assignments);
    a.sort_by(|x, y| x.event_id.cmp(&y.event_id));
    assert_eq!(a[0].owner_key, "customer:C9");
    assert_eq!(
        a[0].identity.as_ref().unwrap().confidence,
        Confidence::Strong
    );
    assert_eq!(
        a[1].owner_key, "author:x:888",
        "deleted customer no longer matches"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dead_letter_topic_with_its_coordinates() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let mut l = loaded(&kafka, CRM);
    l.config.limits.max_payload_bytes = 1000;
    let t = l.config.kafka.topics.clone();
    let events = vec![
        (Some("k1"), vec![b'x'; 5000], None),
        (Some("k2"), b"\xff\xfe not utf-8".to_vec(), None),
        (Some("k3"), br#"{"hello":"world"}"#.to_vec(), None),
        (
            Some("k4"),
            br#"{"data":{"id":"1","author_id":"2","created_at":"2026-11-20T09:00:00Z"}}"#.to_vec(),
            None,
        ),
    ];
    produce(kafka.bootstrap_servers(), &t.raw, &events).await;
    run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(4))
        .await
        .result
        .unwrap();
    let dl = outcry::demo::read_all(kafka.bootstrap_servers(), &t.deadletter).unwrap();
    let mut got: Vec<(String, String)> = dl
        .iter()
        .map(|m| {
            (
                String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                header(m, dlq::REASON).unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("k1".into(), "payload_too_large".into()),
            ("k2".into(), "invalid_utf8".into()),
            ("k3".into(), "unknown_shape".into()),
            ("k4".into(), "missing_field".into()),
        ]
    );
    for m in &dl {
        let original = events
            .iter()
            .find(|e| e.0.map(str::as_bytes) == m.key())
            .unwrap();
        assert_eq!(m.payload().unwrap(), &original.1[..], "original bytes kept");
        assert_eq!(header(m, dlq::STAGE).as_deref(), Some("normalize"));
        assert_eq!(header(m, dlq::TOPIC).as_deref(), Some(t.raw.as_str()));
        assert!(header(m, dlq::PARTITION).unwrap().parse::<i32>().unwrap() < 3);
        assert!(header(m, dlq::OFFSET).unwrap().parse::<i64>().unwrap() >= 0);
        assert!(!header(m, dlq::MESSAGE).unwrap().is_empty());
    }
    assert_eq!(committed_total(&l), 4);
}

/// Accounting through the real worker: a mixed stream — every fixture of every platform, the
/// sample feed, and every kind of poison — and each input is accounted for exactly once, by its
/// coordinates and event id: assigned (and stored), dead-lettered with the reason the pure
/// stage gives, or counted as noise. Nothing lost, nothing doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_is_assigned_dead_lettered_or_noise_exactly_once() {
    use outcry::pipeline::Verdict;
    let kafka = EmbeddedKafka::start(1).unwrap();
    let mut l = loaded(&kafka, CRM);
    l.config.limits.max_payload_bytes = 64 * 1024;
    let t = l.config.kafka.topics.clone();

    let mut inputs: Vec<(String, Vec<u8>, Option<&str>)> = common::fixtures()
        .into_iter()
        .map(|(name, raw)| (name, raw, None))
        .collect();
    let poison: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("too large", vec![b'{'; 70 * 1024], None),
        ("invalid utf-8", b"{\"data\":\"\xff\xfe\"}".to_vec(), None),
        ("invalid json", b"{\"data\": {".to_vec(), None),
        ("unknown shape", br#"{"hello":"world"}"#.to_vec(), None),
        (
            "wrong header",
            tweet(90, "9", "hi").into_bytes(),
            Some("reddit"),
        ),
        (
            "missing field",
            br#"{"data":{"id":"91","author_id":"9"}}"#.to_vec(),
            None,
        ),
        (
            "far future",
            tweet(92, "9", "hi")
                .replace("2026-11-20", "2099-11-20")
                .into_bytes(),
            None,
        ),
        (
            "negative count",
            tweet(93, "9", "hi")
                .replace(
                    r#""username":"u9""#,
                    r#""username":"u9","public_metrics":{"followers_count":-3}"#,
                )
                .into_bytes(),
            None,
        ),
        ("noise", tweet(94, "9", "giveaway time").into_bytes(), None),
    ];
    inputs.extend(poison.into_iter().map(|(n, r, h)| (n.to_owned(), r, h)));

    // Publish, remembering where each input landed.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    let mut at: HashMap<(i32, i64), usize> = HashMap::new();
    for (i, (_, raw, platform)) in inputs.iter().enumerate() {
        let mut r = FutureRecord::<str, [u8]>::to(&t.raw).payload(raw);
        if let Some(p) = platform {
            r = r.headers(OwnedHeaders::new().insert(Header {
                key: "platform",
                value: Some(*p),
            }));
        }
        let delivery = producer
            .send(r, Timeout::After(Duration::from_secs(10)))
            .await
            .unwrap();
        at.insert((delivery.partition, delivery.offset), i);
    }
    let n = inputs.len() as u64;
    let run = run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(n)).await;
    run.result.unwrap();

    // What the pure stage says of each input: the reference.
    let pipeline = l.pipeline();
    let expected: Vec<Result<Verdict, outcry::normalize::Rejection>> = inputs
        .iter()
        .map(|(_, raw, h)| pipeline.process(&l.index, raw, *h, outcry::normalize::time::now_ms()))
        .collect();

    let mut seen: HashMap<usize, &str> = HashMap::new();
    let mut account = |coords: (i32, i64), how: &'static str| {
        let i = *at
            .get(&coords)
            .unwrap_or_else(|| panic!("output for unknown input {coords:?}"));
        if let Some(before) = seen.insert(i, how) {
            panic!("{} accounted twice: {before} and {how}", inputs[i].0);
        }
        i
    };
    let mut platforms = std::collections::BTreeSet::new();
    for a in assignments(kafka.bootstrap_servers(), &t.assignments) {
        let i = account((a.source.partition, a.source.offset), "assigned");
        match &expected[i] {
            Ok(Verdict::Routed(d)) => assert_eq!(d.event.event_id, a.event_id, "{}", inputs[i].0),
            other => panic!("{} was assigned, but the stage says {other:?}", inputs[i].0),
        }
        platforms.insert(a.platform.clone());
    }
    let stored = outcry::demo::read_all(kafka.bootstrap_servers(), &t.interactions).unwrap();
    for m in outcry::demo::read_all(kafka.bootstrap_servers(), &t.deadletter).unwrap() {
        let coords = (
            header(&m, dlq::PARTITION).unwrap().parse().unwrap(),
            header(&m, dlq::OFFSET).unwrap().parse().unwrap(),
        );
        let i = account(coords, "dead-lettered");
        let reason = header(&m, dlq::REASON).unwrap();
        match &expected[i] {
            Err(r) => assert_eq!(r.reason.as_str(), reason, "{}", inputs[i].0),
            other => panic!(
                "{} was dead-lettered ({reason}), but the stage says {other:?}",
                inputs[i].0
            ),
        }
        assert_eq!(
            m.payload().unwrap_or_default(),
            &inputs[i].1[..],
            "original bytes kept"
        );
        if let Some(p) = inputs[i].2 {
            assert_eq!(
                header(&m, "platform").as_deref(),
                Some(p),
                "original headers kept"
            );
        }
    }
    let mut noise = 0;
    for (i, e) in expected.iter().enumerate() {
        if seen.contains_key(&i) {
            continue;
        }
        assert!(
            matches!(e, Ok(Verdict::Noise { .. })),
            "{} has no output and is not noise: {e:?}",
            inputs[i].0
        );
        noise += 1;
    }
    assert_eq!(Status::get(&run.status.noise), noise, "noise counted");
    assert_eq!(
        seen.len() as u64 + noise,
        n,
        "in = assigned + dead letters + noise"
    );
    // The operator's view of the same accounting: one counter per input partition and
    // outcome, summing to the same numbers.
    let finished = |outcome: &str| -> u64 {
        (0..3)
            .map(|p| {
                run.metrics
                    .events_finished
                    .with_label_values(&[&t.raw, &p.to_string(), outcome])
                    .get()
            })
            .sum()
    };
    let count = |how: &str| seen.values().filter(|h| **h == how).count() as u64;
    assert_eq!(finished("assigned"), count("assigned"));
    assert_eq!(finished("dead_letter"), count("dead-lettered"));
    assert_eq!(finished("noise_dropped"), noise);
    assert_eq!(finished("noise_stored"), 0);
    assert_eq!(
        stored.len(),
        seen.values().filter(|h| **h == "assigned").count()
    );
    for p in [
        "x",
        "facebook",
        "instagram",
        "linkedin",
        "reddit",
        "youtube",
        "google",
        "trustpilot",
        "forum",
    ] {
        assert!(
            platforms.contains(p),
            "no {p} event was assigned: {platforms:?}"
        );
    }
    let reasons: std::collections::BTreeSet<&str> = expected
        .iter()
        .filter_map(|e| e.as_ref().err().map(|r| r.reason.as_str()))
        .collect();
    for r in [
        "payload_too_large",
        "invalid_utf8",
        "invalid_json",
        "unknown_shape",
        "missing_field",
        "invalid_value",
    ] {
        assert!(reasons.contains(r), "no {r} poison in the stream");
    }
    assert_eq!(committed_total(&l), n as i64, "every offset committed");
}

/// `routing.noise = "store"`: noise becomes an interaction marked `noise`, owned by no one and
/// never assigned; with the default (`drop`) it leaves no output at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noise_is_stored_as_an_interaction_when_configured_and_never_assigned() {
    for store in [false, true] {
        let kafka = EmbeddedKafka::start(1).unwrap();
        let mut l = loaded(&kafka, CRM);
        if store {
            l.config.routing.noise = outcry::route::NoiseHandling::Store;
        }
        let t = l.config.kafka.topics.clone();
        let events = vec![
            (
                Some("111"),
                tweet(1, "111", "giveaway time!").into_bytes(),
                None,
            ),
            (
                Some("222"),
                tweet(2, "222", "internet down").into_bytes(),
                None,
            ),
        ];
        produce(kafka.bootstrap_servers(), &t.raw, &events).await;
        let run = run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(2)).await;
        run.result.unwrap();
        assert_eq!(Status::get(&run.status.noise), 1);
        let a = assignments(kafka.bootstrap_servers(), &t.assignments);
        assert_eq!(a.len(), 1, "noise is never assigned");
        assert_eq!(a[0].event_id, "x:2");
        let inter: Vec<serde_json::Value> =
            outcry::demo::read_all(kafka.bootstrap_servers(), &t.interactions)
                .unwrap()
                .iter()
                .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
                .collect();
        let noise: Vec<&serde_json::Value> = inter.iter().filter(|i| i["noise"] == true).collect();
        if store {
            assert_eq!(inter.len(), 2);
            assert_eq!(noise.len(), 1);
            assert_eq!(noise[0]["event"]["event_id"], "x:1");
            assert_eq!(noise[0]["intent"]["intent"], "noise");
            assert_eq!(noise[0]["intent"]["keywords"][0], "giveaway");
            assert_eq!(noise[0]["department"], "");
            assert_eq!(noise[0]["owner_key"], "customer:C1");
        } else {
            assert_eq!(inter.len(), 1);
            assert!(noise.is_empty());
        }
        assert_eq!(committed_total(&l), 2);
    }
}

fn feedback(id: &str, owner: &str, kind: &str, token: u64) -> Vec<u8> {
    format!(
        r#"{{"feedback_id":"{id}","owner_key":"{owner}","type":"{kind}","fencing_token":{token},"note":"not ours"}}"#
    )
    .into_bytes()
}

/// Feedback through the real worker: a bounce moves the customer to the next candidate (an
/// assignment event with the trail), the same feedback again changes nothing, a stale token is
/// refused with a policy alert, malformed feedback is a dead letter; then nobody responds and
/// the SLA sweep moves the case to the escalation queue within seconds, once.
async fn feedback_and_sla(store: Arc<dyn ClaimStore>) {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded_with(&kafka, CRM, |c| {
        for p in [&mut c.sla.p1, &mut c.sla.p2, &mut c.sla.p3, &mut c.sla.p4] {
            p.first_response = Duration::from_secs(2);
            p.resolution = Duration::from_secs(3600);
        }
        c.sla.sweep_every.0 = Duration::from_millis(200);
    });
    let t = l.config.kafka.topics.clone();
    let b = kafka.bootstrap_servers().to_owned();
    produce(
        &b,
        &t.raw,
        &[(
            Some("111"),
            tweet(1, "111", "internet down").into_bytes(),
            None,
        )],
    )
    .await;

    let status = Arc::new(Status::default());
    let metrics = Metrics::new();
    let worker = Worker {
        config: l.config.clone(),
        pipeline: l.pipeline().into(),
        index: Arc::new(RwLock::new(l.index.clone())),
        store,
        metrics: Arc::clone(&metrics),
        status: Arc::clone(&status),
    };
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(worker.run(stop_rx));
    let secs = Duration::from_secs(30);
    common::wait_until("the event to be assigned", secs, || async {
        Status::get(&status.finished) >= 1
    })
    .await;
    let a = assignments(&b, &t.assignments);
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].department.as_str(), a[0].outcome),
        ("tech", AssignmentOutcome::New)
    );
    let token = a[0].fencing_token;

    produce(
        &b,
        &t.feedback,
        &[
            (
                Some("customer:C1"),
                feedback("f1", "customer:C1", "bounced", token),
                None,
            ),
            (
                Some("customer:C1"),
                feedback("f1", "customer:C1", "bounced", token),
                None,
            ),
            (
                Some("customer:C1"),
                feedback("f2", "customer:C1", "responded", token),
                None,
            ),
            (
                Some("customer:C1"),
                b"{\"type\":\"bounced\"}".to_vec(),
                None,
            ),
        ],
    )
    .await;
    common::wait_until("the feedback to be applied", secs, || async {
        Status::get(&status.finished) >= 5
    })
    .await;

    // The SLA of the new owner (2 s, no response): the sweep moves it to the sag wagon.
    common::wait_until("the sla breach", secs, || async {
        assignments(&b, &t.assignments).len() >= 4
    })
    .await;
    let _ = stop.send(true);
    task.await.unwrap().unwrap();

    let all = assignments(&b, &t.assignments);
    // The duplicate feedback repeats the same decision (flagged replayed: a redelivery after a
    // crash must be able to produce what was lost); it moves nothing.
    let (replays, a): (Vec<_>, Vec<_>) = all.into_iter().partition(|a| a.replayed);
    assert_eq!(replays.len(), 1);
    assert_eq!(replays[0].event_id, "feedback:f1");
    let summary: Vec<(AssignmentOutcome, &str, &str)> = a
        .iter()
        .map(|a| (a.outcome, a.department.as_str(), a.event_id.as_str()))
        .collect();
    assert_eq!(
        summary[1..],
        [
            (AssignmentOutcome::Rerouted, "support", "feedback:f1"),
            (
                AssignmentOutcome::SlaBreached,
                "escalations",
                a[2].event_id.as_str()
            ),
        ],
        "exactly one reroute and one breach"
    );
    assert_eq!(replays[0].fencing_token, a[1].fencing_token);
    let rerouted = &a[1];
    assert!(rerouted.fencing_token > token);
    assert_eq!(rerouted.bounces, 1);
    assert_eq!(rerouted.previous.as_ref().unwrap().department, "tech");
    assert_eq!(rerouted.trail.len(), 1);
    let breach = &a[2];
    assert!(breach.fencing_token > rerouted.fencing_token);
    assert_eq!(breach.previous.as_ref().unwrap().department, "support");
    assert_eq!(breach.trail.len(), 2, "{:?}", breach.trail);

    // The stale `responded` is a policy alert; the breach is an alert too.
    let alerts: Vec<serde_json::Value> = outcry::demo::read_all(&b, &t.alerts)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    let kinds: Vec<&str> = alerts.iter().map(|a| a["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["policy_violation", "sla_breached"], "{alerts:?}");
    assert_eq!(alerts[0]["detail"]["refused"], "stale_token");

    // Malformed feedback: a dead letter that says why.
    let dl = outcry::demo::read_all(&b, &t.deadletter).unwrap();
    assert_eq!(dl.len(), 1);
    assert_eq!(
        header(&dl[0], dlq::REASON).as_deref(),
        Some("invalid_feedback")
    );
    assert_eq!(header(&dl[0], dlq::STAGE).as_deref(), Some("feedback"));

    // Every applied feedback is an exchange on the interactions topic (1 event + the bounce,
    // repeated for its duplicate).
    let inter = outcry::demo::read_all(&b, &t.interactions).unwrap();
    assert_eq!(inter.len(), 3);
    assert_eq!(
        header(&inter[1], "ce_type").as_deref(),
        Some("io.outcry.exchange.bounced")
    );
    let m = metrics.render();
    for line in [
        "outcry_bounces_total 1",
        "outcry_sla_breaches_total{kind=\"first_response\"} 1",
        "outcry_feedback_total{outcome=\"refused\",type=\"responded\"} 1",
        "outcry_feedback_total{outcome=\"applied\",type=\"bounced\"} 1",
        "outcry_dead_letters_total{reason=\"invalid_feedback\"} 1",
    ] {
        assert!(m.contains(line), "{line} not in\n{m}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_and_sla_with_memory_store() {
    feedback_and_sla(Arc::new(MemoryClaimStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_and_sla_with_redis() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), &format!("t{}", unique_suffix()))
        .await
        .unwrap();
    feedback_and_sla(Arc::new(store)).await;
}

/// Run `n` workers of one group until `done(total finished)`, then stop them all.
async fn run_workers(
    l: &Loaded,
    store: Arc<dyn ClaimStore>,
    n: usize,
    done: impl Fn(u64) -> bool,
) -> Vec<Arc<Metrics>> {
    common::logs();
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut statuses = Vec::new();
    let mut metrics = Vec::new();
    for _ in 0..n {
        let status = Arc::new(Status::default());
        let m = Metrics::new();
        let worker = Worker {
            config: l.config.clone(),
            pipeline: l.pipeline().into(),
            index: Arc::new(RwLock::new(l.index.clone())),
            store: Arc::clone(&store),
            metrics: Arc::clone(&m),
            status: Arc::clone(&status),
        };
        tasks.push(tokio::spawn(worker.run(stop_rx.clone())));
        statuses.push(status);
        metrics.push(m);
    }
    common::wait_until(
        "the workers to finish the stream",
        Duration::from_secs(60),
        || {
            let total: u64 = statuses.iter().map(|s| Status::get(&s.finished)).sum();
            let ok = done(total);
            async move { ok }
        },
    )
    .await;
    let _ = stop.send(true);
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    metrics
}

fn alerts(bootstrap: &str, topic: &str) -> Vec<serde_json::Value> {
    outcry::demo::read_all(bootstrap, topic)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect()
}

fn with_bag_detector(c: &mut Config) {
    c.detector = vec![toml::from_str(
        r#"
name = "bags"
intents = ["lost_luggage"]
entities = ["airport"]
window = "5m"
threshold = { events = 20 }
team = "incidents/baggage"
reply_template = "baggage-incident"
"#,
    )
    .unwrap()];
}

/// A burst — 40 "lost luggage" posts among normal traffic, one of them delivered twice, read
/// by two workers of one group — is exactly one incident: one `incident_opened` alert, one
/// assignment to the incident team, and exactly the 40 posts linked to it.
async fn a_burst_is_one_incident(store: Arc<dyn ClaimStore>) {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded_with(&kafka, "", with_bag_detector);
    let t = l.config.kafka.topics.clone();
    let b = kafka.bootstrap_servers().to_owned();
    let mut events: Vec<(Option<String>, Vec<u8>)> = Vec::new();
    let mut bag_ids = std::collections::BTreeSet::new();
    for i in 0..40u64 {
        let author = format!("{}", 5000 + i);
        events.push((
            Some(author.clone()),
            tweet(
                7000 + i,
                &author,
                if i % 3 == 0 {
                    "lost luggage at Kennedy again, nobody answers"
                } else {
                    "lost luggage at JFK again, nobody answers"
                },
            )
            .into_bytes(),
        ));
        bag_ids.insert(format!("x:{}", 7000 + i));
        if i % 2 == 0 {
            // Normal traffic, the same complaint at another airport (another key), and lost
            // luggage with no airport at all (no key): none of it is part of the incident.
            let other = format!("{}", 6000 + i);
            let text = match i % 8 {
                0 => "internet down",
                2 => "lost luggage at LAX",
                4 => "lost my bag somewhere",
                _ => "hello there",
            };
            events.push((
                Some(other.clone()),
                tweet(8000 + i, &other, text).into_bytes(),
            ));
        }
    }
    // A redelivered post: the same event again.
    events.push(events[5].clone());
    let total = events.len() as u64;
    let refs: Vec<(Option<&str>, Vec<u8>, Option<&str>)> = events
        .iter()
        .map(|(k, v)| (k.as_deref(), v.clone(), None))
        .collect();
    produce(&b, &t.raw, &refs).await;
    let store_again = Arc::clone(&store);
    run_workers(&l, store, 2, |n| n >= total).await;

    let alerts = alerts(&b, &t.alerts);
    // At least once: a batch redelivered after a rebalance (its commit refused meanwhile) emits
    // its records again, the same alert with the same id; consumers keep one per id. One
    // incident is one alert id.
    let mut opened: Vec<&serde_json::Value> = alerts
        .iter()
        .filter(|a| a["kind"] == "incident_opened")
        .collect();
    opened.dedup_by(|a, b| a["alert_id"] == b["alert_id"]);
    let ids: std::collections::BTreeSet<&str> = opened
        .iter()
        .filter_map(|a| a["alert_id"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{alerts:#?}");
    assert!(
        opened.iter().all(|a| a["detail"] == opened[0]["detail"]),
        "every copy of the alert is the same decision: {opened:#?}"
    );
    let id = opened[0]["detail"]["incident_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(opened[0]["detail"]["events"], 20);
    let all = assignments(&b, &t.assignments);
    let incident_owned: Vec<&AssignmentEvent> = all
        .iter()
        .filter(|a| a.owner_key.starts_with("incident:"))
        .collect();
    // One assignment for the incident team: one decision (owner key and token). A batch read
    // again after a rebalance emits it again, the same decision; consumers keep one per token.
    let decisions: std::collections::BTreeSet<(&str, u64, &str)> = incident_owned
        .iter()
        .map(|a| (a.owner_key.as_str(), a.fencing_token, a.department.as_str()))
        .collect();
    assert_eq!(
        decisions.len(),
        1,
        "the incident team gets one assignment: {incident_owned:#?}"
    );
    assert_eq!(incident_owned[0].owner_key, format!("incident:{id}"));
    assert_eq!(incident_owned[0].department, "incidents");
    assert_eq!(incident_owned[0].outcome, AssignmentOutcome::New);
    assert!(id.starts_with("bags:lost_luggage|JFK:"), "{id}");
    // Linked: the posts that opened it (in the alert) and every later one (in its assignment).
    let mut linked: std::collections::BTreeSet<String> = opened[0]["detail"]["window_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    for a in all.iter().filter(|a| !a.owner_key.starts_with("incident:")) {
        if let Some(link) = &a.incident {
            assert_eq!(link.incident_id, id);
            assert_eq!(link.reply_template, "baggage-incident");
            linked.insert(a.event_id.clone());
        }
    }
    assert_eq!(
        linked, bag_ids,
        "exactly the 40 lost-luggage posts are linked"
    );
    // The redelivered post is one post: 40 distinct bag posts were counted, not 41.
    let counted: u64 = all
        .iter()
        .filter(|a| bag_ids.contains(&a.event_id) && !a.replayed)
        .count() as u64;
    assert_eq!(counted, 40);

    // The team resolves the incident (feedback with its token): closed, once.
    let token = incident_owned[0].fencing_token;
    let owner = incident_owned[0].owner_key.clone();
    produce(
        &b,
        &t.feedback,
        &[(
            Some(owner.as_str()),
            feedback("inc-done", &owner, "resolved", token),
            None,
        )],
    )
    .await;
    let l2 = l.clone();
    let store2 = store_again;
    run_workers(&l2, store2, 1, |n| n >= 1).await;
    let after = self::alerts(&b, &t.alerts);
    let closed: Vec<&serde_json::Value> = after
        .iter()
        .filter(|a| a["kind"] == "incident_closed")
        .collect();
    assert_eq!(closed.len(), 1, "{after:#?}");
    assert_eq!(closed[0]["detail"]["incident_id"], id.as_str());
    assert_eq!(closed[0]["detail"]["reason"], "resolved");
    assert_eq!(closed[0]["detail"]["linked"], 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_is_one_incident_with_redis() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), &format!("t{}", unique_suffix()))
        .await
        .unwrap();
    a_burst_is_one_incident(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_is_one_incident_with_memory_store() {
    a_burst_is_one_incident(Arc::new(MemoryClaimStore::new())).await;
}

/// Fewer posts than the threshold: no incident, nothing linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_stream_raises_no_incident() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded_with(&kafka, "", with_bag_detector);
    let t = l.config.kafka.topics.clone();
    let b = kafka.bootstrap_servers().to_owned();
    let events: Vec<(Option<&str>, Vec<u8>, Option<&str>)> = (0..19u64)
        .map(|i| {
            (
                None,
                tweet(9000 + i, &format!("{}", 100 + i), "lost luggage at JFK").into_bytes(),
                None,
            )
        })
        .collect();
    produce(&b, &t.raw, &events).await;
    let run = run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(19)).await;
    run.result.unwrap();
    assert!(alerts(&b, &t.alerts).is_empty());
    let all = assignments(&b, &t.assignments);
    assert_eq!(all.len(), 19);
    assert!(all.iter().all(|a| a.incident.is_none()));
    assert!(run
        .metrics
        .render()
        .contains("outcry_incidents_total{event=\"opened\"} 0"));
}

/// Produce raw events of any size (up to 20 MB) with a producer that allows them, each to the
/// partition its index picks (the mock cluster keeps only ~5 MiB per partition: spread them).
async fn produce_large(bootstrap: &str, topic: &str, events: &[(String, Vec<u8>)]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("message.max.bytes", "20000000")
        .create()
        .unwrap();
    for (i, (key, payload)) in events.iter().enumerate() {
        producer
            .send(
                FutureRecord::<str, [u8]>::to(topic)
                    .key(key.as_str())
                    .partition(i as i32 % 3)
                    .payload(payload),
                Timeout::After(Duration::from_secs(30)),
            )
            .await
            .unwrap();
    }
}

/// A valid tweet of exactly `size` bytes (its text padded).
fn tweet_of_size(id: u64, author: &str, size: usize) -> Vec<u8> {
    let base = tweet(id, author, "refund ").len();
    assert!(size >= base);
    tweet(id, author, &format!("refund {}", "a".repeat(size - base))).into_bytes()
}

/// No single input can stop a worker: events at every size boundary — the payload limit ± 1,
/// the producer's record limit ± 1 — are each assigned or dead-lettered (cut to fit, with the
/// size and hash of what was cut), and the worker goes on to the next event. (10 MB: the mock
/// cluster drops a partition's log past ~5 MiB, so that size runs against tansu, in
/// tests/e2e.rs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_size_stops_the_worker() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    let limit = l.config.limits.max_payload_bytes;
    let record_limit = l.config.limits.max_record_bytes();
    assert_eq!(limit, 1 << 20, "the default limit");
    let sizes = [
        limit - 1,
        limit,
        limit + 1,
        record_limit - 1,
        record_limit,
        record_limit + 1,
    ];
    let mut events: Vec<(String, Vec<u8>)> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let author = (500 + i).to_string();
            (format!("k{i}"), tweet_of_size(100 + i as u64, &author, n))
        })
        .collect();
    events.push((
        "last".into(),
        tweet(200, "600", "refund please").into_bytes(),
    ));
    produce_large(kafka.bootstrap_servers(), &t.raw, &events).await;

    let run = run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(7)).await;
    run.result.unwrap();
    assert_eq!(Status::get(&run.status.finished), 7);
    assert_eq!(Status::get(&run.status.assigned_new), 3, "{:?}", run.status);
    assert_eq!(Status::get(&run.status.dead_letters), 4);

    let assigned: Vec<String> = assignments(kafka.bootstrap_servers(), &t.assignments)
        .into_iter()
        .map(|a| a.event_id)
        .collect();
    assert_eq!(assigned.len(), 3, "{assigned:?}");
    for id in ["x:100", "x:101", "x:200"] {
        assert!(assigned.contains(&id.to_owned()), "{id} in {assigned:?}");
    }
    let interactions = outcry::demo::read_all(kafka.bootstrap_servers(), &t.interactions).unwrap();
    assert_eq!(interactions.len(), 3);
    for m in &interactions {
        assert!(m.payload().unwrap().len() <= record_limit);
    }

    let dl = outcry::demo::read_all(kafka.bootstrap_servers(), &t.deadletter).unwrap();
    assert_eq!(dl.len(), 4);
    let mut cut = 0;
    for m in &dl {
        let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
        let i: usize = key[1..].parse().unwrap();
        let original = &events[i].1;
        assert_eq!(
            header(m, dlq::REASON).as_deref(),
            Some("payload_too_large"),
            "{key}"
        );
        let payload = m.payload().unwrap();
        assert!(
            payload.len() + 1000 <= record_limit,
            "{key}: {}",
            payload.len()
        );
        if original.len() + 1000 < record_limit {
            assert_eq!(payload, &original[..], "{key}: small enough to carry whole");
            assert_eq!(header(m, dlq::TRUNCATED), None);
        } else {
            assert_eq!(header(m, dlq::TRUNCATED).as_deref(), Some("true"), "{key}");
            assert_eq!(
                header(m, dlq::ORIGINAL_BYTES),
                Some(original.len().to_string())
            );
            assert_eq!(header(m, dlq::ORIGINAL_SHA256).map(|h| h.len()), Some(64));
            assert!(original.starts_with(payload) && !payload.is_empty());
            cut += 1;
        }
    }
    assert_eq!(
        cut, 3,
        "the inputs at and past the record limit, less its headers"
    );
    assert_eq!(committed_total(&l), 7, "every offset moved on");
}

/// An output the broker refuses for good (here: "message too large" on the first produce
/// requests) is not retried for ever and does not stop the worker: the event becomes an
/// `output_rejected` dead letter of its original bytes and the partition moves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_refused_for_good_makes_a_dead_letter_not_an_exit() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    let events: Vec<(Option<&str>, Vec<u8>, Option<&str>)> = (0..5)
        .map(|i| {
            (
                Some("111"),
                tweet(300 + i, "111", "refund").into_bytes(),
                None,
            )
        })
        .collect();
    produce(kafka.bootstrap_servers(), &t.raw, &events).await;
    kafka
        .fail_requests(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 1],
        )
        .unwrap();
    let run = run_worker(&l, Arc::new(MemoryClaimStore::new()), finished(5)).await;
    run.result.unwrap();
    let dl = outcry::demo::read_all(kafka.bootstrap_servers(), &t.deadletter).unwrap();
    assert!(!dl.is_empty(), "the refused event is a dead letter");
    for m in &dl {
        assert_eq!(header(m, dlq::REASON).as_deref(), Some("output_rejected"));
        assert_eq!(header(m, dlq::STAGE).as_deref(), Some("produce"));
        let original = events
            .iter()
            .find(|e| {
                header(m, dlq::OFFSET).unwrap().parse::<usize>().unwrap() < events.len()
                    && e.1 == m.payload().unwrap()
            })
            .is_some();
        assert!(original, "the original bytes");
    }
    assert_eq!(
        run.metrics
            .dead_letters
            .with_label_values(&["output_rejected"])
            .get() as usize,
        dl.len()
    );
    assert_eq!(committed_total(&l), 5, "the partition moved on");
}

/// Batched claims through the real worker while Redis restarts mid-stream (on its AOF): every
/// event is decided exactly once — an event delivered twice carries the same decision — each
/// owner key has one ownership and one token, and every offset is committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_batch_decides_nothing_twice() {
    let mut redis = RedisServer::start(true);
    let store: Arc<dyn ClaimStore> =
        Arc::new(RedisClaimStore::connect(&redis.url(), "b").await.unwrap());
    let kafka = EmbeddedKafka::start(1).unwrap();
    let l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    const N: u64 = 3000;
    let events: Vec<(String, Vec<u8>)> = (0..N)
        .map(|i| {
            let author = (700 + i % 40).to_string();
            (
                author.clone(),
                tweet(10_000 + i, &author, "refund").into_bytes(),
            )
        })
        .collect();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    let sends = events.iter().map(|(k, p)| {
        producer.send(
            FutureRecord::<str, [u8]>::to(&t.raw).key(k).payload(p),
            Timeout::After(Duration::from_secs(30)),
        )
    });
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }

    let status = Arc::new(Status::default());
    let metrics = Metrics::new();
    let worker = Worker {
        config: l.config.clone(),
        pipeline: l.pipeline().into(),
        index: Arc::new(RwLock::new(l.index.clone())),
        store,
        metrics: Arc::clone(&metrics),
        status: Arc::clone(&status),
    };
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(worker.run(stop_rx));
    common::wait_until("some events claimed", Duration::from_secs(30), || {
        let s = Arc::clone(&status);
        async move { Status::get(&s.assigned_new) + Status::get(&s.assigned_attached) > 200 }
    })
    .await;
    redis.restart();
    common::wait_until("every event finished", Duration::from_secs(60), || {
        let s = Arc::clone(&status);
        async move { Status::get(&s.finished) >= N }
    })
    .await;
    let _ = stop.send(true);
    task.await.unwrap().unwrap();

    let a = assignments(kafka.bootstrap_servers(), &t.assignments);
    let mut by_event: HashMap<String, (String, u64, AssignmentOutcome)> = HashMap::new();
    for x in &a {
        let d = (x.department.clone(), x.fencing_token, x.outcome);
        if let Some(prev) = by_event.insert(x.event_id.clone(), d.clone()) {
            assert_eq!(prev, d, "{} decided twice differently", x.event_id);
        }
    }
    assert_eq!(by_event.len() as u64, N, "every event assigned");
    // One decision per event (above), counted once whichever copy carries it: a batch whose
    // claims Redis applied before the restart cut its reply is claimed again and answers
    // `replayed`, so the only record of a `new` decision may be the replayed one.
    let mut owners: HashMap<String, Vec<(u64, AssignmentOutcome)>> = HashMap::new();
    let mut counted = std::collections::HashSet::new();
    for x in a.iter().filter(|x| counted.insert(x.event_id.clone())) {
        owners
            .entry(x.owner_key.clone())
            .or_default()
            .push((x.fencing_token, x.outcome));
    }
    assert_eq!(owners.len(), 40);
    for (k, v) in &owners {
        let new = v
            .iter()
            .filter(|(_, o)| *o == AssignmentOutcome::New)
            .count();
        assert_eq!(new, 1, "{k}: one ownership");
        assert!(v.iter().all(|(tok, _)| *tok == 1), "{k}: one token");
    }
    assert!(
        metrics.claim_batch.get_sample_sum() / metrics.claim_batch.get_sample_count() as f64 > 1.0,
        "claims were batched"
    );
    assert!(
        metrics.claim_retries.get() > 0,
        "the restart was an outage the worker saw"
    );
    assert_eq!(committed_total(&l), N as i64);
}

/// Broker faults tansu cannot give, on the mock cluster (three brokers), mid-stream while
/// events keep arriving: produce, fetch and offset-commit requests failing with retriable
/// errors, the group coordinator moving to another broker, a broker down then up. The worker
/// rides them out: every event decided once (however often delivered), every owner key one
/// ownership, every offset committed, and the worker never exits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_faults_mid_stream_lose_nothing() {
    let kafka = Arc::new(EmbeddedKafka::start(3).unwrap());
    let l = loaded(&kafka, CRM);
    let t = l.config.kafka.topics.clone();
    const N: u64 = 3000;
    let stream = {
        let kafka = Arc::clone(&kafka);
        let raw = t.raw.clone();
        tokio::spawn(async move {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", kafka.bootstrap_servers())
                .create()
                .unwrap();
            // Enqueued at a steady pace, deliveries awaited at the end: while broker 2 is down
            // the records for its partitions wait in the producer and the others go on (a
            // stream that waited for each chunk would stall with it, and the worker with it).
            let mut deliveries = Vec::new();
            for chunk in 0..N / 100 {
                for i in chunk * 100..chunk * 100 + 100 {
                    let author = (800 + i % 30).to_string();
                    let p = tweet(50_000 + i, &author, "internet down").into_bytes();
                    let record = FutureRecord::<str, [u8]>::to(&raw).key(&author).payload(&p);
                    deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            for d in deliveries {
                d.await.unwrap().unwrap();
            }
        })
    };

    let status = Arc::new(Status::default());
    let metrics = Metrics::new();
    let worker = Worker {
        config: l.config.clone(),
        pipeline: l.pipeline().into(),
        index: Arc::new(RwLock::new(l.index.clone())),
        store: Arc::new(MemoryClaimStore::new()),
        metrics: Arc::clone(&metrics),
        status: Arc::clone(&status),
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut task = tokio::spawn(worker.run(stop_rx));
    let progressed = |n: u64| {
        let s = Arc::clone(&status);
        move || {
            let s = Arc::clone(&s);
            async move { Status::get(&s.finished) >= n }
        }
    };
    use RDKafkaRespErr as E;
    type Fault = (&'static str, Box<dyn Fn() + Send>);
    let faults: [Fault; 5] = [
        (
            "produce errors",
            Box::new({
                let k = Arc::clone(&kafka);
                move || {
                    k.fail_requests(
                        RDKafkaApiKey::Produce,
                        &[
                            E::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                            E::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                            E::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                        ],
                    )
                    .unwrap()
                }
            }),
        ),
        (
            "fetch errors",
            Box::new({
                let k = Arc::clone(&kafka);
                move || {
                    k.fail_requests(
                        RDKafkaApiKey::Fetch,
                        &[
                            E::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                            E::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART,
                            E::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                        ],
                    )
                    .unwrap()
                }
            }),
        ),
        (
            "offset commit errors",
            Box::new({
                let k = Arc::clone(&kafka);
                move || {
                    k.fail_requests(
                        RDKafkaApiKey::OffsetCommit,
                        &[
                            E::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                            E::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                            E::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                        ],
                    )
                    .unwrap()
                }
            }),
        ),
        (
            "the group coordinator moves",
            Box::new({
                let k = Arc::clone(&kafka);
                let g = l.config.kafka.group_id.clone();
                move || k.move_group_coordinator(&g, 3).unwrap()
            }),
        ),
        (
            "broker 2 down",
            Box::new({
                let k = Arc::clone(&kafka);
                move || k.set_broker_up(2, false).unwrap()
            }),
        ),
    ];
    for (i, (what, inject)) in faults.iter().enumerate() {
        common::wait_until(
            what,
            Duration::from_secs(60),
            progressed(300 * (i as u64 + 1)),
        )
        .await;
        assert!(!task.is_finished(), "the worker stopped before {what}");
        inject();
    }
    // Broker 2 comes back once the others have moved on without it.
    common::wait_until(
        "progress while broker 2 is down",
        Duration::from_secs(60),
        progressed(1700),
    )
    .await;
    kafka.set_broker_up(2, true).unwrap();
    stream.await.unwrap();
    // Not `finished >= N`: redeliveries after the faults count too, so that can hold while
    // some events still wait to be read or decided.
    common::wait_until("every offset committed", Duration::from_secs(90), || {
        let total = committed_total(&l);
        async move { total == N as i64 }
    })
    .await;
    let _ = stop.send(true);
    let result = tokio::time::timeout(Duration::from_secs(30), &mut task)
        .await
        .expect("the worker drained and stopped")
        .unwrap();
    result.unwrap();

    let a = assignments(kafka.bootstrap_servers(), &t.assignments);
    let mut by_event: HashMap<String, (String, u64, AssignmentOutcome)> = HashMap::new();
    for x in a.iter().filter(|x| !x.owner_key.starts_with("incident:")) {
        let d = (x.department.clone(), x.fencing_token, x.outcome);
        if let Some(prev) = by_event.insert(x.event_id.clone(), d.clone()) {
            assert_eq!(prev, d, "{} decided twice differently", x.event_id);
        }
    }
    assert_eq!(by_event.len() as u64, N, "every event decided");
    let new = by_event
        .values()
        .filter(|(_, _, o)| *o == AssignmentOutcome::New)
        .count();
    assert_eq!(new, 30, "one ownership per owner key");
    assert_eq!(committed_total(&l), N as i64, "every offset committed");
}

/// A second worker joins the group while the first drains a preloaded stream: the first gives
/// up every partition with batches read, queued, claimed and in flight, gets some back, and the
/// second starts where the first's committed offsets say (in the middle of its batches). Every
/// event is still decided (by its coordinates, against the preloaded ones), one decision per
/// event however often it was delivered, one ownership per owner key, every offset committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_joining_mid_stream_loses_nothing() {
    let redis = RedisServer::start(false);
    let store: Arc<dyn ClaimStore> = Arc::new(
        RedisClaimStore::connect(&redis.url(), &format!("j{}", unique_suffix()))
            .await
            .unwrap(),
    );
    let kafka = EmbeddedKafka::start(1).unwrap();
    // Small batches: many of them under way, queued and in flight when the rebalance comes.
    let l = loaded_with(&kafka, CRM, |c| c.kafka.max_batch = 50);
    let t = l.config.kafka.topics.clone();
    const N: u64 = 20_000;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let mut preloaded = std::collections::HashSet::new();
    for chunk in (0..N).collect::<Vec<u64>>().chunks(2_000) {
        let sends = chunk.iter().map(|i| {
            let author = (900 + i % 300).to_string();
            let text = if i % 2 == 0 {
                "refund"
            } else {
                "internet down"
            };
            let payload = tweet(50_000 + i, &author, text);
            let producer = producer.clone();
            let topic = t.raw.clone();
            async move {
                producer
                    .send(
                        FutureRecord::<str, str>::to(&topic)
                            .key(&author)
                            .payload(&payload),
                        Timeout::After(Duration::from_secs(30)),
                    )
                    .await
                    .map(|d| (d.partition, d.offset))
            }
        });
        for r in futures::future::join_all(sends).await {
            preloaded.insert(r.unwrap());
        }
    }
    assert_eq!(preloaded.len() as u64, N);

    common::logs();
    let (stop, stop_rx) = watch::channel(false);
    let start = |status: &Arc<Status>| {
        let worker = Worker {
            config: l.config.clone(),
            pipeline: l.pipeline().into(),
            index: Arc::new(RwLock::new(l.index.clone())),
            store: Arc::clone(&store),
            metrics: Metrics::new(),
            status: Arc::clone(status),
        };
        tokio::spawn(worker.run(stop_rx.clone()))
    };
    let (first, second) = (Arc::new(Status::default()), Arc::new(Status::default()));
    let first_task = start(&first);
    common::wait_until(
        "the first worker to be under way",
        Duration::from_secs(30),
        || {
            let s = Arc::clone(&first);
            async move { Status::get(&s.finished) >= 500 }
        },
    )
    .await;
    // Mid-stream: not everything committed yet when the second worker starts. (Not "the
    // first finished fewer than N": its count includes what it read again after the
    // rebalance, and can pass N though it never finished alone.)
    let committed_at_join = committed_total(&l);
    let second_task = start(&second);
    common::wait_until("every offset committed", Duration::from_secs(90), || {
        let total = committed_total(&l);
        async move { total == N as i64 }
    })
    .await;
    let (a, b) = (Status::get(&first.finished), Status::get(&second.finished));
    let _ = stop.send(true);
    first_task.await.unwrap().unwrap();
    second_task.await.unwrap().unwrap();
    eprintln!("first worker finished {a}, second {b}");
    assert!(
        committed_at_join < N as i64,
        "the second worker joined mid-stream ({committed_at_join} of {N} committed)"
    );
    assert!(b > 0, "the second worker took part");

    let mut decided: HashMap<(i32, i64), (String, String, u64)> = HashMap::new();
    let mut copies = 0u64;
    for x in assignments(kafka.bootstrap_servers(), &t.assignments) {
        let d = (x.event_id.clone(), x.department.clone(), x.fencing_token);
        if let Some(prev) = decided.insert((x.source.partition, x.source.offset), d.clone()) {
            assert_eq!(prev, d, "{} decided twice differently", x.event_id);
            copies += 1;
        }
    }
    eprintln!("assignment records emitted twice: {copies}");
    let mut missing: Vec<&(i32, i64)> = preloaded
        .iter()
        .filter(|c| !decided.contains_key(c))
        .collect();
    missing.sort();
    assert!(
        missing.is_empty(),
        "{} of {N} events never decided, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(decided.len() as u64, N, "no decision for an event not sent");
    let mut owners: HashMap<String, std::collections::HashSet<(String, u64)>> = HashMap::new();
    for x in assignments(kafka.bootstrap_servers(), &t.assignments) {
        owners
            .entry(x.owner_key.clone())
            .or_default()
            .insert((x.department.clone(), x.fencing_token));
    }
    assert_eq!(owners.len(), 300);
    for (k, v) in &owners {
        assert_eq!(v.len(), 1, "{k}: one owner, one token: {v:?}");
    }
}
