//! What the daemon logs at info level (the production default), as JSON (`log.format = "json"`):
//! every line an object, the life of the worker in it — and never a customer's handle, email,
//! phone or message text, even when their records and posts are malformed.

use outcry::claim::MemoryClaimStore;
use outcry::kafka::embedded::EmbeddedKafka;
use outcry::telemetry::LogFormat;
use outcry::telemetry::Metrics;
use outcry::worker::{Status, Worker};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::ClientConfig;
use std::io::Write;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const SECRETS: [&str; 5] = [
    "secret_handle_7q",
    "secret.person@example.com",
    "+14155550177",
    "my router smells of burning toast",
    "leaked.crm@example.com",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_logs_are_json_and_carry_no_personal_data() {
    let captured = Captured::default();
    let sink = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(move || sink.clone())
        .json()
        .flatten_event(true)
        .init();
    assert_eq!(
        LogFormat::default(),
        LogFormat::Text,
        "text unless configured"
    );

    let kafka = EmbeddedKafka::start(1).unwrap();
    let mut l = outcry::demo::embedded_config().unwrap();
    let s = outcry::kafka::unique_suffix();
    l.config.kafka.brokers = kafka.bootstrap_servers().to_owned();
    l.config.kafka.group_id = format!("logs-{s}");
    let t = &mut l.config.kafka.topics;
    for (i, topic) in [
        &mut t.raw,
        &mut t.customers,
        &mut t.assignments,
        &mut t.interactions,
        &mut t.deadletter,
    ]
    .into_iter()
    .enumerate()
    {
        *topic = format!("{topic}-{s}");
        kafka
            .create_topic(topic, if i == 0 { 2 } else { 1 })
            .unwrap();
    }
    l.config.http.listen = String::new();
    let t = l.config.kafka.topics.clone();

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    let send = |topic: &str, key: &str, payload: String| {
        let producer = producer.clone();
        let topic = topic.to_owned();
        let key = key.to_owned();
        async move {
            producer
                .send(
                    FutureRecord::to(&topic).key(&key).payload(&payload),
                    Timeout::After(Duration::from_secs(10)),
                )
                .await
                .unwrap();
        }
    };
    // A CRM record with an email where a list belongs: the follower skips it with a warning.
    send(
        &t.customers,
        "C900",
        r#"{"id":"C900","emails":"leaked.crm@example.com"}"#.into(),
    )
    .await;
    let events = [
        format!(
            r#"{{"event_id":"forum:1","platform":"forum","kind":"dm","created_at":"2026-11-20T10:00:00Z","author":{{"id":"u1","handle":"{}","email":"{}","phone":"{}"}},"text":"{}"}}"#,
            SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3]
        ),
        format!(
            r#"{{"data":{{"id":"5","text":"{}","author_id":"77","created_at":"2099-01-01T00:00:00Z"}},"includes":{{"users":[{{"id":"77","username":"{}"}}]}}}}"#,
            SECRETS[3], SECRETS[0]
        ),
        format!(r#"{{"data":{{"id":"6","text":"{}""#, SECRETS[3]),
    ];
    for e in &events {
        send(&t.raw, "k", e.clone()).await;
    }

    let status = Arc::new(Status::default());
    let worker = Worker {
        config: l.config.clone(),
        pipeline: l.pipeline().into(),
        index: Arc::new(RwLock::new(l.index.clone())),
        store: Arc::new(MemoryClaimStore::new()),
        metrics: Metrics::new(),
        status: Arc::clone(&status),
    };
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(worker.run(stop_rx));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while Status::get(&status.finished) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "worker stuck: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The follower has read the bad record once the index caught up (before any event).
    stop.send(true).unwrap();
    task.await.unwrap().unwrap();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let messages: Vec<&str> = lines.iter().filter_map(|l| l["message"].as_str()).collect();
    for expected in [
        "identity index caught up",
        "consuming",
        "skipping bad customer record",
        "worker stopped",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "no {expected:?} in {messages:?}"
        );
    }
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked into the logs:\n{text}"
        );
    }
}
