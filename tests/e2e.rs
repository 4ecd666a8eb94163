//! End to end against a standalone Kafka-compatible broker (tansu) and a real redis-server:
//! the `outcry run` binary as a user runs it, fed and read by clients outcry didn't write.

mod common;

use common::{free_port, wait_for, RedisServer, Tansu};
use outcry::event::{AssignmentEvent, AssignmentOutcome};
use outcry::kafka::unique_suffix;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Topics {
    raw: String,
    customers: String,
    assignments: String,
    interactions: String,
    deadletter: String,
    feedback: String,
    alerts: String,
    group: String,
}

impl Topics {
    fn new() -> Topics {
        let s = unique_suffix();
        Topics {
            raw: format!("social.raw.{s}"),
            customers: format!("crm.customers.{s}"),
            assignments: format!("outcry.assignments.{s}"),
            interactions: format!("outcry.interactions.{s}"),
            deadletter: format!("outcry.deadletter.{s}"),
            feedback: format!("helpdesk.feedback.{s}"),
            alerts: format!("outcry.alerts.{s}"),
            group: format!("outcry-{s}"),
        }
    }
}

async fn create_topics(bootstrap: &str, t: &Topics) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let specs: Vec<NewTopic> = [
        (&t.raw, 3),
        (&t.customers, 1),
        (&t.assignments, 1),
        (&t.interactions, 1),
        (&t.deadletter, 1),
        (&t.feedback, 1),
        (&t.alerts, 1),
    ]
    .into_iter()
    .map(|(name, parts)| NewTopic::new(name, parts, TopicReplication::Fixed(1)))
    .collect();
    for r in admin
        .create_topics(&specs, &AdminOptions::new())
        .await
        .unwrap()
    {
        r.unwrap();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An `outcry run` process: killed on drop, and its log printed into the test output if the
/// test is failing.
struct Outcry {
    child: Option<Child>,
    log: PathBuf,
}

impl Drop for Outcry {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- outcry log ({}) ----\n{log}", self.log.display());
        }
    }
}

/// `outcry run` with the bundled config, pointed at these servers through the environment.
fn start_outcry(bootstrap: &str, redis: &str, http_port: u16, t: &Topics) -> Outcry {
    start_outcry_with(
        &repo().join("config/outcry.toml"),
        bootstrap,
        redis,
        http_port,
        t,
    )
}

fn start_outcry_with(
    config: &Path,
    bootstrap: &str,
    redis: &str,
    http_port: u16,
    t: &Topics,
) -> Outcry {
    start_outcry_env(config, bootstrap, redis, http_port, t, &[])
}

/// [`start_outcry_with`], with more `OUTCRY__…` settings from the environment.
fn start_outcry_env(
    config: &Path,
    bootstrap: &str,
    redis: &str,
    http_port: u16,
    t: &Topics,
    extra: &[(&str, &str)],
) -> Outcry {
    let log = std::env::temp_dir().join(format!("outcry-run-{}.log", unique_suffix()));
    let out = std::fs::File::create(&log).expect("outcry log file");
    let child = Command::new(env!("CARGO_BIN_EXE_outcry"))
        .envs(extra.iter().copied())
        .args(["run", "--config"])
        .arg(config)
        .env("OUTCRY__KAFKA__BROKERS", bootstrap)
        .env("OUTCRY__KAFKA__GROUP_ID", &t.group)
        .env("OUTCRY__KAFKA__TOPICS__RAW", &t.raw)
        .env("OUTCRY__KAFKA__TOPICS__CUSTOMERS", &t.customers)
        .env("OUTCRY__KAFKA__TOPICS__ASSIGNMENTS", &t.assignments)
        .env("OUTCRY__KAFKA__TOPICS__INTERACTIONS", &t.interactions)
        .env("OUTCRY__KAFKA__TOPICS__DEADLETTER", &t.deadletter)
        .env("OUTCRY__KAFKA__TOPICS__FEEDBACK", &t.feedback)
        .env("OUTCRY__KAFKA__TOPICS__ALERTS", &t.alerts)
        // Consumer lag (from librdkafka's statistics) shows up within a second.
        .env("OUTCRY__KAFKA__CONSUMER__STATISTICS.INTERVAL.MS", "500")
        .env("OUTCRY__REDIS__URL", redis)
        .env("OUTCRY__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
        .env("RUST_LOG", "info,librdkafka=info")
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("start outcry");
    Outcry {
        child: Some(child),
        log,
    }
}

/// A plain HTTP/1.0 GET: (status code, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Some((code, body))
}

fn sigterm_and_wait(mut outcry: Outcry) -> std::process::ExitStatus {
    let child = outcry.child.as_mut().expect("running");
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            outcry.child = None;
            return status;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("outcry did not exit within 30 s of SIGTERM");
}

fn metric(text: &str, line_prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric line starting with {line_prefix:?}"))
}

/// Every message of `topic` from the beginning, which must be exactly `n`: waits up to 60 s for
/// the n-th, then polls one more second for any extra. (Not through watermarks: tansu 0.6.0
/// reports a partition's high watermark as the last batch's base offset + 1, short of the end
/// when a batch holds several records.)
fn read_exactly(bootstrap: &str, topic: &str, n: usize) -> Vec<OwnedMessage> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("e2e-reader-{}", unique_suffix()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < n && Instant::now() < deadline {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            out.push(m.expect("consume").detach());
        }
    }
    assert_eq!(out.len(), n, "messages on {topic} within 60 s");
    let extra_until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < extra_until {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            out.push(m.expect("consume").detach());
        }
    }
    assert_eq!(out.len(), n, "no more than {n} messages on {topic}");
    out
}

fn committed(bootstrap: &str, t: &Topics) -> i64 {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &t.group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition(&t.raw, p);
    }
    c.committed_offsets(tpl, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .map(|e| {
            if let Offset::Offset(o) = e.offset() {
                o
            } else {
                0
            }
        })
        .sum()
}

const EVENTS: [&str; 4] = [
    r#"{"data":{"id":"7001","text":"@acme my internet is down","author_id":"4242","created_at":"2026-11-20T09:00:00Z"},"includes":{"users":[{"id":"4242","username":"dora"}]}}"#,
    r#"{"data":{"id":"7002","text":"@acme and I was charged twice &amp; want a refund","author_id":"4242","created_at":"2026-11-20T09:05:00Z"},"includes":{"users":[{"id":"4242","username":"dora"}]}}"#,
    r#"{"data":{"id":"7003","text":"how much is the new plan?","author_id":"5151","created_at":"2026-11-20T09:06:00Z"}}"#,
    "not json at all",
];

/// One record to partition 0 of `topic`; its offset.
async fn produce_to_0(producer: &FutureProducer, topic: &str, payload: &str) -> i64 {
    producer
        .send(
            FutureRecord::<(), _>::to(topic)
                .partition(0)
                .payload(payload),
            Timeout::After(Duration::from_secs(10)),
        )
        .await
        .map(|d| d.offset)
        .unwrap()
}

/// A consumer of partition 0 of `topic` from `start`, outside any group's offsets, with these
/// client settings on top.
fn consumer_at(
    bootstrap: &str,
    topic: &str,
    start: i64,
    settings: &[(&str, &str)],
) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("mid-batch-{}", unique_suffix()))
        .set("enable.auto.commit", "false");
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let c: BaseConsumer = config.create().unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Offset(start))
        .unwrap();
    c.assign(&tpl).unwrap();
    c
}

/// The standalone broker serves a fetch that starts inside a record batch from that offset, as
/// Kafka does (it returns the whole batch; the client drops the records below the offset). A
/// worker resumes at its committed offset, which after a rebalance or a restart is usually in
/// the middle of a batch: tansu 0.6.0 unpatched answered with the *next* batch, and the rest
/// was skipped without an error (scripts/tansu/fetch-mid-batch.patch, docs/operations.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_serves_a_fetch_from_the_middle_of_a_batch() {
    let tansu = Tansu::start();
    let topic = format!("mid-batch.{}", unique_suffix());
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap()
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    // Two batches of ten: a long linger puts each burst in one produce request and one batch.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("linger.ms", "1000")
        .create()
        .unwrap();
    for burst in 0..2 {
        let payloads: Vec<String> = (0..10).map(|i| format!("m{}", burst * 10 + i)).collect();
        let sends = payloads.iter().map(|p| produce_to_0(&producer, &topic, p));
        let offsets: Vec<i64> = futures::future::join_all(sends).await;
        assert_eq!(offsets, (burst * 10..burst * 10 + 10).collect::<Vec<i64>>());
    }
    for start in [0, 1, 5, 9, 10, 15, 19] {
        let c = consumer_at(&tansu.bootstrap(), &topic, start, &[]);
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            assert!(
                Instant::now() < deadline,
                "nothing read from offset {start} in 10 s"
            );
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                let m = m.expect("consume");
                break (m.offset(), m.payload().map(|p| p.to_vec()));
            }
        };
        assert_eq!(
            first,
            (start, Some(format!("m{start}").into_bytes())),
            "a fetch from offset {start} starts there"
        );
    }

    // Then thirty batches of one record each. A fetch from inside the first batch, answered in
    // several rounds (a small fetch.max.bytes makes each round short), must go on from where
    // the last batch it returned ends: tansu 0.6.0 moved on by the records it returned, ran
    // ahead by the distance into the first batch, and the client skipped the batches in that
    // stretch without an error (scripts/tansu/fetch-advance.patch, docs/reliability.md).
    let singles: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("linger.ms", "0")
        .create()
        .unwrap();
    for i in 20..50 {
        let delivered = produce_to_0(&singles, &topic, &format!("m{i}")).await;
        assert_eq!(delivered, i, "one record per produce, in order");
    }
    for start in [1, 5, 9, 15] {
        let small_fetches = [("fetch.max.bytes", "1000"), ("message.max.bytes", "1000")];
        let c = consumer_at(&tansu.bootstrap(), &topic, start, &small_fetches);
        let mut read = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while read.last() != Some(&49) && Instant::now() < deadline {
            if let Some(m) = c.poll(Duration::from_millis(100)) {
                read.push(m.expect("consume").offset());
            }
        }
        assert_eq!(
            read,
            (start..50).collect::<Vec<i64>>(),
            "every offset from {start} to the end, none skipped"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcry_run_against_tansu_and_redis() {
    common::logs();
    let tansu = Tansu::start();
    let redis = RedisServer::start(false);
    let t = Topics::new();
    create_topics(&tansu.bootstrap(), &t).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    for e in EVENTS {
        producer
            .send(
                FutureRecord::<str, str>::to(&t.raw).payload(e),
                Timeout::After(Duration::from_secs(10)),
            )
            .await
            .unwrap();
    }

    let http = free_port();
    let outcry = start_outcry(&tansu.bootstrap(), &redis.url(), http, &t);
    wait_for("/readyz to answer 200", Duration::from_secs(60), || {
        http_get(http, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    assert_eq!(http_get(http, "/healthz").map(|r| r.0), Some(200));

    let bootstrap = tansu.bootstrap();
    let mut assignments: Vec<AssignmentEvent> = read_exactly(&bootstrap, &t.assignments, 3)
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap()).unwrap())
        .collect();
    assignments.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    let got: Vec<(&str, AssignmentOutcome, &str)> = assignments
        .iter()
        .map(|a| (a.event_id.as_str(), a.outcome, a.department.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("x:7001", AssignmentOutcome::New, "tech-support"),
            ("x:7002", AssignmentOutcome::Attached, "tech-support"),
            ("x:7003", AssignmentOutcome::New, "sales"),
        ]
    );
    read_exactly(&bootstrap, &t.deadletter, 1);

    let (code, metrics) = http_get(http, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert_eq!(
        metric(
            &metrics,
            "outcry_dead_letters_total{reason=\"invalid_json\"}"
        ),
        1.0
    );
    assert_eq!(metric(&metrics, "outcry_match_duration_seconds_count"), 4.0);
    assert_eq!(
        metric(
            &metrics,
            "outcry_stage_events_total{outcome=\"new\",stage=\"claim\"}"
        ),
        2.0
    );

    // Every metric docs/metrics.md documents is exported (consumer lag once librdkafka has
    // reported statistics for the assigned partitions).
    let mut metrics = metrics;
    wait_for(
        "consumer lag to be exported",
        Duration::from_secs(20),
        || {
            metrics = http_get(http, "/metrics")
                .map(|(_, m)| m)
                .unwrap_or_default();
            metrics.contains("outcry_consumer_lag_messages{")
        },
    );
    let doc = std::fs::read_to_string(repo().join("docs/metrics.md")).unwrap();
    let documented: Vec<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|n| n.starts_with("outcry_"))
        .collect();
    assert!(documented.len() >= 10, "{documented:?}");
    for name in documented {
        assert!(
            metrics.contains(&format!("# TYPE {name} ")),
            "{name} is documented in docs/metrics.md but not exported"
        );
    }

    let status = sigterm_and_wait(outcry);
    assert!(status.success(), "outcry exited with {status}");
    assert_eq!(
        committed(&bootstrap, &t),
        4,
        "every input's offset committed at shutdown"
    );
}

/// A 10 MB message on `social.raw` (ten times `limits.max_payload_bytes`, and past the
/// producer's record limit) does not stop `outcry run`: it becomes a cut dead letter (a prefix,
/// its size and hash) and the event behind it on the same partition is assigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_mb_event_is_a_dead_letter_not_an_exit() {
    common::logs();
    let tansu = Tansu::start();
    let redis = RedisServer::start(false);
    let t = Topics::new();
    create_topics(&tansu.bootstrap(), &t).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("message.max.bytes", "20000000")
        .create()
        .unwrap();
    let huge = format!("{{\"data\":\"{}\"}}", "a".repeat(10_000_000));
    for payload in [huge.as_str(), EVENTS[2]] {
        producer
            .send(
                FutureRecord::<str, str>::to(&t.raw)
                    .partition(0)
                    .key("5151")
                    .payload(payload),
                Timeout::After(Duration::from_secs(30)),
            )
            .await
            .unwrap();
    }
    let http = free_port();
    let outcry = start_outcry(&tansu.bootstrap(), &redis.url(), http, &t);
    let bootstrap = tansu.bootstrap();
    let a = read_exactly(&bootstrap, &t.assignments, 1);
    let a: AssignmentEvent = serde_json::from_slice(a[0].payload().unwrap()).unwrap();
    assert_eq!(a.event_id, "x:7003");
    let dl = read_exactly(&bootstrap, &t.deadletter, 1);
    let header = |name: &str| {
        use rdkafka::message::Headers;
        dl[0]
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == name))
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(
        header("outcry.dlq.reason").as_deref(),
        Some("payload_too_large")
    );
    assert_eq!(header("outcry.dlq.truncated").as_deref(), Some("true"));
    assert_eq!(
        header("outcry.dlq.original.bytes"),
        Some(huge.len().to_string())
    );
    let payload = dl[0].payload().unwrap();
    assert!(!payload.is_empty() && huge.as_bytes().starts_with(payload));
    assert!(payload.len() <= 64 * 1024);
    let status = sigterm_and_wait(outcry);
    assert!(status.success(), "outcry exited with {status}");
    assert_eq!(committed(&bootstrap, &t), 2);
}

fn python_client(args: &[&str]) -> std::process::Output {
    let script = repo().join("tests/kafka_python_client.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "kafka_python_client.py {args:?} failed: {}\n(install kafka-python with `pip install kafka-python`; scripts/test.sh does)",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_in_outcry_run_out() {
    common::logs();
    let tansu = Tansu::start();
    let redis = RedisServer::start(false);
    let t = Topics::new();
    create_topics(&tansu.bootstrap(), &t).await;
    let feed = std::env::temp_dir().join(format!("outcry-e2e-{}.jsonl", unique_suffix()));
    std::fs::write(&feed, EVENTS.join("\n")).unwrap();
    python_client(&[
        "produce",
        "--bootstrap",
        &tansu.bootstrap(),
        "--topic",
        &t.raw,
        path(&feed),
    ]);
    let _ = std::fs::remove_file(&feed);

    let http = free_port();
    let outcry = start_outcry(&tansu.bootstrap(), &redis.url(), http, &t);
    let out = python_client(&[
        "consume",
        "--bootstrap",
        &tansu.bootstrap(),
        "--topic",
        &t.assignments,
        "--count",
        "3",
        "--timeout",
        "90",
    ]);
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let mut ids: Vec<&str> = lines
        .iter()
        .map(|l| l["value"]["event_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["x:7001", "x:7002", "x:7003"]);
    for l in &lines {
        assert_eq!(l["headers"]["ce_specversion"], "1.0");
        assert_eq!(l["key"], l["value"]["owner_key"]);
    }
    assert!(sigterm_and_wait(outcry).success());
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `outcry replay` as a user runs it: a CSV export in the Customer Support on Twitter shape
/// published into tansu, keyed by author, with a summary; the events read back are the ones
/// outcry's own normalizer reads as threaded X tweets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_publishes_a_csv_export() {
    let tansu = Tansu::start();
    let t = Topics::new();
    create_topics(&tansu.bootstrap(), &t).await;
    let csv = std::env::temp_dir().join(format!("outcry-e2e-{}.csv", unique_suffix()));
    std::fs::write(
        &csv,
        ",tweet_id,author_id,inbound,created_at,text,response_tweet_id,in_response_to_tweet_id\n\
         0,1,acmecare,False,Tue Oct 31 22:10:47 +0000 2017,@115712 Sorry to hear that!,2,3.0\n\
         1,2,115712,True,Tue Oct 31 22:11:45 +0000 2017,@acmecare still down &amp; no answer,,1.0\n\
         2,3,115712,True,Tue Oct 31 22:08:27 +0000 2017,\"@acmecare my internet\nis down\",1,\n\
         3,4,777,True,Tue Oct 31 23:00:00 +0000 2017,@acmecare how much is fiber?,,\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_outcry"))
        .args([
            "replay",
            "--brokers",
            &tansu.bootstrap(),
            "--topic",
            &t.raw,
            "--rate",
            "100",
        ])
        .arg(&csv)
        .output()
        .expect("run outcry replay");
    let _ = std::fs::remove_file(&csv);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "outcry replay failed: {stderr}");
    assert!(
        stderr.contains("read 3 events") && stderr.contains("1 brand replies skipped"),
        "{stderr}"
    );
    assert!(stderr.contains("replayed 3 events"), "{stderr}");

    let mut got: Vec<(String, String, Option<String>)> = Vec::new();
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .set("group.id", format!("e2e-reader-{}", unique_suffix()))
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(&t.raw, p, Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while got.len() < 3 && Instant::now() < until {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let ev = outcry::normalize::normalize(
                m.payload().unwrap(),
                None,
                &outcry::normalize::Limits::default(),
                outcry::normalize::time::now_ms(),
            )
            .unwrap();
            assert_eq!(m.key(), Some(ev.author.id.as_bytes()), "keyed by author");
            got.push((ev.event_id, ev.text, ev.in_reply_to));
        }
    }
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "x:2".into(),
                "@acmecare still down & no answer".into(),
                Some("x:1".into())
            ),
            ("x:3".into(), "@acmecare my internet\nis down".into(), None),
            ("x:4".into(), "@acmecare how much is fiber?".into(), None),
        ]
    );
}

/// Copy a directory tree (the bundled config, to change it under a running daemon).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn metric_value(http: u16, line_prefix: &str) -> Option<f64> {
    let (_, body) = http_get(http, "/metrics")?;
    body.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Hot reload against a running `outcry run`: a changed pack is picked up without a restart
/// (the file watch; then SIGHUP), the new version is in the assignments, and an invalid pack is
/// refused while the running rules keep routing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_reload_while_running() {
    let tansu = Tansu::start();
    let redis = RedisServer::start(false);
    let t = Topics::new();
    create_topics(&tansu.bootstrap(), &t).await;
    let dir = std::env::temp_dir().join(format!("outcry-e2e-config-{}", unique_suffix()));
    copy_dir(&repo().join("config"), &dir);
    // The shipped (learned) generic pack; its version line is the learning date.
    let pack = dir.join("rules/generic-learned.toml");
    let original = std::fs::read_to_string(&pack).unwrap();
    let version_line = regex::Regex::new(r#"(?m)^version = "(.*)"$"#).unwrap();
    let version = version_line.captures(&original).expect("a version line")[1].to_owned();

    let http = free_port();
    let outcry = start_outcry_with(
        &dir.join("outcry.toml"),
        &tansu.bootstrap(),
        &redis.url(),
        http,
        &t,
    );
    wait_for("/readyz to answer 200", Duration::from_secs(60), || {
        http_get(http, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    let send = |id: u32, text: &'static str| {
        let event = format!(
            r#"{{"data":{{"id":"{id}","text":"{text}","author_id":"a{id}","created_at":"2026-11-20T09:00:00Z"}}}}"#
        );
        let producer = producer.clone();
        let topic = t.raw.clone();
        async move {
            producer
                .send(
                    FutureRecord::<str, str>::to(&topic).payload(&event),
                    Timeout::After(Duration::from_secs(10)),
                )
                .await
                .unwrap();
        }
    };
    send(8001, "the flux capacitor is kaput").await;

    // The file watch: a new version of the pack whose outage intent weighs "kaput".
    let outage = original
        .find("name = \"outage\"")
        .expect("an outage intent");
    let weights = outage
        + original[outage..]
            .find("[intent.weights]")
            .expect("outage weights");
    let line_end = weights + original[weights..].find('\n').unwrap() + 1;
    let v2 = version_line
        .replace(
            &format!(
                "{}\"kaput\" = 20.0\n{}",
                &original[..line_end],
                &original[line_end..]
            ),
            r#"version = "reloaded""#,
        )
        .into_owned();
    assert_ne!(v2, original, "the pack edit applies");
    std::fs::write(&pack, &v2).unwrap();
    wait_for("the reload to apply", Duration::from_secs(30), || {
        metric_value(http, "outcry_rules_reloads_total{outcome=\"applied\"}") == Some(1.0)
    });
    send(8002, "the flux capacitor is kaput").await;

    // An invalid pack (a regex that does not compile) is refused; the running rules stay.
    std::fs::write(
        &pack,
        v2.replacen("[[intent]]", "[[intent]]\npatterns = [\"(unclosed\"]", 1),
    )
    .unwrap();
    wait_for("the reload to be refused", Duration::from_secs(30), || {
        metric_value(http, "outcry_rules_reloads_total{outcome=\"refused\"}") == Some(1.0)
    });
    // SIGHUP reloads too (and refuses again: the file is still invalid).
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(outcry.child.as_ref().unwrap().id().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    wait_for("SIGHUP to reload", Duration::from_secs(30), || {
        metric_value(http, "outcry_rules_reloads_total{outcome=\"refused\"}") == Some(2.0)
    });
    send(8003, "the flux capacitor is kaput").await;

    let mut got: Vec<(String, String, String)> =
        read_exactly(&tansu.bootstrap(), &t.assignments, 3)
            .iter()
            .map(|m| {
                let a: AssignmentEvent = serde_json::from_slice(m.payload().unwrap()).unwrap();
                (a.event_id, a.department, a.rules_version)
            })
            .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (
                "x:8001".into(),
                "support".into(),
                format!("customer-care@{version}")
            ),
            (
                "x:8002".into(),
                "tech-support".into(),
                "customer-care@reloaded".into()
            ),
            (
                "x:8003".into(),
                "tech-support".into(),
                "customer-care@reloaded".into()
            ),
        ]
    );
    assert!(sigterm_and_wait(outcry).success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Send a signal to an `outcry run` process.
fn signal(outcry: &Outcry, sig: &str) {
    let pid = outcry.child.as_ref().expect("running").id().to_string();
    assert!(Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

/// An X v2 post from `author` about an outage, keyed by its author.
fn outage_tweet(id: usize, author: usize) -> (String, String) {
    let payload = format!(
        r#"{{"data":{{"id":"{id}","text":"my internet is down again","author_id":"{author}","created_at":"2026-11-20T09:00:00Z"}}}}"#
    );
    (author.to_string(), payload)
}

/// Produce keyed records to `topic` and wait for every one to be acknowledged.
async fn produce_keyed(producer: &FutureProducer, topic: &str, records: &[(String, String)]) {
    let sends = records.iter().map(|(k, p)| {
        producer.send(
            FutureRecord::<str, str>::to(topic).key(k).payload(p),
            Timeout::After(Duration::from_secs(30)),
        )
    });
    for r in futures::future::join_all(sends).await {
        r.unwrap();
    }
}

/// A worker paused (SIGSTOP) past its session timeout while it holds decided, uncommitted
/// events; the group moves its partitions to a second worker, which decides the same events
/// again; then the first resumes and delivers what it held. On librdkafka's mock cluster, which
/// enforces session timeouts (tansu 0.6.0 does not: docs/operations.md). What holds: every
/// event has one decision however many times it is delivered, every owner key one ownership
/// and one fencing token, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_that_resumes_cannot_contradict_the_new_owner() {
    common::logs();
    let kafka = outcry::kafka::embedded::EmbeddedKafka::start(1).unwrap();
    let bootstrap = kafka.bootstrap_servers().to_owned();
    let redis = RedisServer::start(false);
    let t = Topics::new();
    kafka.create_topic(&t.raw, 3).unwrap();
    // The mock cluster keeps ~5 MiB per partition: spread the outputs.
    kafka.create_topic(&t.assignments, 4).unwrap();
    kafka.create_topic(&t.interactions, 4).unwrap();
    for name in [&t.customers, &t.deadletter, &t.feedback, &t.alerts] {
        kafka.create_topic(name, 1).unwrap();
    }
    // A steady stream, 200 events/s for 12 s, many per hot customer: the pause, the takeover
    // and the resume all happen mid-stream.
    const N: usize = 2400;
    let stream = {
        let bootstrap = bootstrap.clone();
        let raw = t.raw.clone();
        tokio::spawn(async move {
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .unwrap();
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            for chunk in 0..N / 10 {
                tick.tick().await;
                let tweets: Vec<_> = (chunk * 10..chunk * 10 + 10)
                    .map(|i| outage_tweet(80_000 + i, 9000 + i % 50))
                    .collect();
                produce_keyed(&producer, &raw, &tweets).await;
            }
        })
    };
    let settings = [
        ("OUTCRY__KAFKA__CONSUMER__SESSION.TIMEOUT.MS", "6000"),
        ("OUTCRY__KAFKA__CONSUMER__HEARTBEAT.INTERVAL.MS", "500"),
        // Small batches and slow commits: the paused worker holds decided, uncommitted events.
        ("OUTCRY__KAFKA__MAX_BATCH", "20"),
        ("OUTCRY__KAFKA__CONSUMER__AUTO.COMMIT.INTERVAL.MS", "5000"),
        ("OUTCRY__CRM__FOLLOW_TOPIC", "false"),
    ];
    let config = repo().join("config/outcry.toml");
    let (h1, h2) = (free_port(), free_port());
    let first = start_outcry_env(&config, &bootstrap, &redis.url(), h1, &t, &settings);
    wait_for(
        "the first worker to decide events",
        Duration::from_secs(60),
        || metric_value(h1, "outcry_events_finished_total{").is_some(),
    );
    signal(&first, "-STOP");
    assert!(!stream.is_finished(), "paused mid-stream");

    let second = start_outcry_env(&config, &bootstrap, &redis.url(), h2, &t, &settings);
    wait_for(
        "the second worker to take over",
        Duration::from_secs(60),
        || metric_value(h2, "outcry_events_finished_total{").is_some(),
    );
    stream.await.unwrap();
    wait_for(
        "the second worker to finish",
        Duration::from_secs(60),
        || committed(&bootstrap, &t) >= N as i64,
    );
    signal(&first, "-CONT");
    // The resumed worker answers again; on SIGTERM it drains what it held (delivering those
    // outputs) and finds its partitions gone.
    wait_for(
        "the resumed worker to answer",
        Duration::from_secs(60),
        || http_get(h1, "/metrics").is_some_and(|(_, m)| m.contains("outcry_offsets_stored_total")),
    );
    assert!(sigterm_and_wait(first).success());
    assert!(sigterm_and_wait(second).success());

    // Incidents the outage burst raised have owners of their own: not the customers'.
    let all: Vec<AssignmentEvent> = outcry::demo::read_all(&bootstrap, &t.assignments)
        .unwrap()
        .iter()
        .map(|m| serde_json::from_slice::<AssignmentEvent>(m.payload().unwrap()).unwrap())
        .filter(|a| !a.owner_key.starts_with("incident:"))
        .collect();
    let mut decision = std::collections::HashMap::new();
    for a in &all {
        let d = (a.outcome, a.department.clone(), a.fencing_token);
        if let Some(before) = decision.insert(a.event_id.clone(), d.clone()) {
            assert_eq!(before, d, "{}: two different decisions", a.event_id);
        }
    }
    assert_eq!(decision.len(), N, "every event decided, none lost");
    assert!(
        all.len() > N,
        "some events were delivered twice ({} for {N}): the takeover was exercised",
        all.len()
    );
    let mut owners: std::collections::HashMap<&str, std::collections::BTreeSet<u64>> =
        Default::default();
    for a in &all {
        owners
            .entry(&a.owner_key)
            .or_default()
            .insert(a.fencing_token);
    }
    assert_eq!(owners.len(), 50);
    assert!(
        owners.values().all(|tokens| tokens.len() == 1),
        "one token per owner key"
    );
    let new = decision
        .values()
        .filter(|(o, _, _)| *o == AssignmentOutcome::New)
        .count();
    assert_eq!(new, 50, "one ownership per owner key");
    assert_eq!(committed(&bootstrap, &t), N as i64);
}

/// A second worker joins while the first has batches under way: the first lets its partitions
/// go only once those batches are decided, delivered and committed (within
/// `kafka.drain_timeout`), and drops what it read but had not started, so the next owner starts
/// exactly where it stopped. No event is emitted twice. (Before the revoke was held back, every
/// event in flight at the rebalance was emitted again by the partition's next owner.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_joining_takes_over_where_the_first_stopped() {
    common::logs();
    let tansu = Tansu::start();
    let redis = RedisServer::start(false);
    let t = Topics::new();
    let bootstrap = tansu.bootstrap();
    create_topics(&bootstrap, &t).await;
    const N: usize = 30_000;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .create()
        .unwrap();
    let tweets: Vec<_> = (0..N)
        .map(|i| outage_tweet(90_000 + i, 9000 + i % 200))
        .collect();
    for chunk in tweets.chunks(1000) {
        produce_keyed(&producer, &t.raw, chunk).await;
    }
    // One event per claim: a slow worker, still under way when the second one joins, with up to
    // `kafka.max_in_flight` events read ahead of what it has finished.
    let settings = [
        ("OUTCRY__KAFKA__MAX_BATCH", "1"),
        ("OUTCRY__KAFKA__CONSUMER__AUTO.COMMIT.INTERVAL.MS", "1000"),
        ("OUTCRY__CRM__FOLLOW_TOPIC", "false"),
    ];
    let config = repo().join("config/outcry.toml");
    let (h1, h2) = (free_port(), free_port());
    let first = start_outcry_env(&config, &bootstrap, &redis.url(), h1, &t, &settings);
    // The second starts as soon as the first works: joining the group takes tansu seconds, and
    // the first must still have most of the backlog ahead of it then.
    wait_for(
        "the first worker under way",
        Duration::from_secs(60),
        || metric_value(h1, "outcry_events_finished_total{").is_some_and(|n| n >= 1.0),
    );
    let second = start_outcry_env(&config, &bootstrap, &redis.url(), h2, &t, &settings);
    wait_for("every offset committed", Duration::from_secs(120), || {
        committed(&bootstrap, &t) >= N as i64
    });
    let joined = metric_value(h2, "outcry_events_finished_total{").unwrap_or(0.0);
    assert!(sigterm_and_wait(first).success());
    assert!(sigterm_and_wait(second).success());

    // Read to the end (not by watermarks, which tansu reports short: `read_exactly`): until
    // every event has its assignment, then a quiet second for any copies.
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", format!("e2e-reader-{}", unique_suffix()))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&t.assignments, 0, Offset::Beginning)
        .unwrap();
    c.assign(&tpl).unwrap();
    let mut all: Vec<AssignmentEvent> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline
        && (ids.len() < N || quiet_since.elapsed() < Duration::from_secs(1))
    {
        if let Some(m) = c.poll(Duration::from_millis(100)) {
            let a: AssignmentEvent =
                serde_json::from_slice(m.expect("consume").payload().unwrap()).unwrap();
            quiet_since = Instant::now();
            if !a.owner_key.starts_with("incident:") {
                ids.insert(a.event_id.clone());
                all.push(a);
            }
        }
    }
    assert_eq!(ids.len(), N, "every event decided");
    assert!(joined > 0.0, "the second worker took partitions over");
    assert_eq!(
        all.len(),
        N,
        "no event emitted twice ({} assignment records for {N} events)",
        all.len()
    );
}

/// A worker started while Redis is down waits for it (not ready, consuming nothing) instead of
/// exiting, and works once Redis is back: a Redis restart does not crash-loop the workers being
/// restarted meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outcry_run_waits_for_a_redis_that_is_down_at_start() {
    common::logs();
    let tansu = Tansu::start();
    let mut redis = RedisServer::start(false);
    redis.stop();
    let t = Topics::new();
    create_topics(&tansu.bootstrap(), &t).await;
    let http = free_port();
    let mut outcry = start_outcry(&tansu.bootstrap(), &redis.url(), http, &t);
    wait_for(
        "the worker to say it waits for Redis",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&outcry.log)
                .is_ok_and(|l| l.contains("the claim store is not reachable yet"))
        },
    );
    let child = outcry.child.as_mut().expect("started");
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running, not exited"
    );
    redis.restart();
    wait_for("/readyz to answer 200", Duration::from_secs(60), || {
        http_get(http, "/readyz").is_some_and(|(code, _)| code == 200)
    });
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", tansu.bootstrap())
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::<str, str>::to(&t.raw).payload(EVENTS[0]),
            Timeout::After(Duration::from_secs(10)),
        )
        .await
        .unwrap();
    read_exactly(&tansu.bootstrap(), &t.assignments, 1);
    assert!(sigterm_and_wait(outcry).success());
}
