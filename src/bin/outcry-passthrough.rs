//! outcry-passthrough: the yardstick of `scripts/bench-e2e.sh`. What the worker does with
//! Kafka, and nothing else: a consumer-group member on the raw topic that produces two records
//! per message (one to the assignments topic, one to the interactions topic, each the input
//! payload, keyed like the input), and stores a message's offset only after both deliveries are
//! acknowledged (the worker's [`OffsetTracker`]). Same client settings as the worker
//! (`consumer_config`, `producer_config` from the config file), same bound on events in flight
//! (`kafka.max_in_flight`).
//!
//! It stops after `--events` messages are finished (or after `--idle` without a message), and
//! prints its count and rate; with `--json`, one JSON object on stdout for scripts.

use clap::Parser;

// The worker's allocator, so that the yardstick differs from it only by the work it skips.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use outcry::config::Config;
use outcry::kafka::offsets::OffsetTracker;
use outcry::kafka::KafkaConfig;
use outcry::kafka::{consumer_config, producer_config};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    name = "outcry-passthrough",
    about = "Kafka passthrough with the worker's client settings: the yardstick of scripts/bench-e2e.sh",
    long_about = "Consumes the configured raw topic in a consumer group and, for each message, \
produces two records (to the assignments and the interactions topic, the input payload each), \
storing the message's offset only after both are acknowledged, as `outcry run` does. It measures \
what the broker and librdkafka cost with outcry's settings and no processing at all."
)]
struct Args {
    /// Configuration file: brokers, security, topics, group and librdkafka settings.
    #[arg(long, short, default_value = "config/outcry.toml")]
    config: PathBuf,
    /// Kafka bootstrap servers (overrides the config).
    #[arg(long)]
    brokers: Option<String>,
    /// Consumer group (overrides the config's `kafka.group_id`).
    #[arg(long)]
    group: Option<String>,
    /// Stop once this many messages are finished (both outputs acknowledged).
    #[arg(long)]
    events: Option<u64>,
    /// Stop after this long without a message (once the first one arrived).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    idle: Duration,
    /// Print the result as one JSON object on stdout (for scripts).
    #[arg(long)]
    json: bool,
}

fn unix_ms(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or_default()
}

fn kafka_config(a: &Args) -> Result<KafkaConfig, String> {
    let text =
        std::fs::read_to_string(&a.config).map_err(|e| format!("{}: {e}", a.config.display()))?;
    let mut k = Config::parse(&text, std::env::vars())
        .map_err(|e| format!("{}: {e}", a.config.display()))?
        .kafka;
    if let Some(b) = &a.brokers {
        k.brokers = b.clone();
    }
    if let Some(g) = &a.group {
        k.group_id = g.clone();
    }
    Ok(k)
}

struct Done {
    topic: String,
    partition: i32,
    offset: i64,
    result: Result<(), String>,
}

async fn deliver(producer: FutureProducer, msg: OwnedMessage, to: [String; 2]) -> Done {
    let payload = msg.payload().unwrap_or_default();
    let key = msg.key().unwrap_or_default();
    let sends = to.iter().map(|topic| {
        producer.send(
            FutureRecord::to(topic).payload(payload).key(key),
            Timeout::After(Duration::from_secs(60)),
        )
    });
    let result = futures::future::join_all(sends)
        .await
        .into_iter()
        .find_map(|r| r.err().map(|(e, _)| e.to_string()))
        .map_or(Ok(()), Err);
    Done {
        topic: msg.topic().to_owned(),
        partition: msg.partition(),
        offset: msg.offset(),
        result,
    }
}

async fn run(a: Args, k: KafkaConfig) -> Result<(), String> {
    // The worker's record bound at the default payload limit (the passthrough copies payloads).
    let max_record = outcry::normalize::LimitsConfig::default().max_record_bytes();
    let producer: FutureProducer = producer_config(&k, max_record)
        .create()
        .map_err(|e| format!("kafka producer: {e}"))?;
    // Learn the output topics' partitions before the first message, as the worker's producer
    // has by the time it sends: otherwise the first deliveries wait for them (and the latency
    // run of scripts/bench-e2e.sh counts that wait).
    for topic in [&k.topics.assignments, &k.topics.interactions] {
        if let Err(e) = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(10))
        {
            eprintln!("passthrough: warning: no metadata for {topic} yet: {e}");
        }
    }
    let consumer: StreamConsumer = consumer_config(&k)
        .create()
        .map_err(|e| format!("kafka consumer: {e}"))?;
    consumer
        .subscribe(&[&k.topics.raw])
        .map_err(|e| format!("subscribe to {}: {e}", k.topics.raw))?;
    eprintln!(
        "passthrough: {} -> {} + {} on {} (group {})",
        k.topics.raw, k.topics.assignments, k.topics.interactions, k.brokers, k.group_id
    );
    let to = [k.topics.assignments.clone(), k.topics.interactions.clone()];
    let mut tracker = OffsetTracker::new();
    let mut in_flight = FuturesUnordered::new();
    let (mut read, mut finished) = (0u64, 0u64);
    let mut first: Option<(Instant, SystemTime)> = None;
    let mut last_finish = Instant::now();
    let mut last_read = Instant::now();
    let mut last_report = Instant::now();
    let target = a.events.unwrap_or(u64::MAX);
    let mut failure = None;
    while finished < target {
        let can_read = in_flight.len() < k.max_in_flight && read < target;
        let idle = tokio::time::sleep_until((last_read.max(last_finish) + a.idle).into());
        tokio::select! {
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let done: Done = done;
                if let Err(e) = done.result {
                    failure = Some(format!(
                        "outputs of {}/{}@{} not delivered: {e}",
                        done.topic, done.partition, done.offset
                    ));
                    break;
                }
                finished += 1;
                last_finish = Instant::now();
                if let Some(next) = tracker.finish(&done.topic, done.partition, done.offset) {
                    let mut tpl = TopicPartitionList::new();
                    if tpl.add_partition_offset(&done.topic, done.partition, Offset::Offset(next)).is_ok() {
                        // A revoked partition refuses the store; its next owner reads again.
                        let _ = consumer.store_offsets(&tpl);
                    }
                }
            }
            msg = consumer.recv(), if can_read => {
                let msg = match msg {
                    Ok(m) => m.detach(),
                    Err(e) => {
                        eprintln!("passthrough: consume error: {e}");
                        continue;
                    }
                };
                if first.is_none() {
                    first = Some((Instant::now(), SystemTime::now()));
                    // scripts/bench-e2e.sh samples CPU counters at this line.
                    eprintln!("passthrough: first message read");
                }
                last_read = Instant::now();
                read += 1;
                tracker.begin(msg.topic(), msg.partition(), msg.offset());
                in_flight.push(deliver(producer.clone(), msg, to.clone()));
            }
            _ = idle, if first.is_some() => {
                eprintln!("passthrough: idle for {:?}; stopping", a.idle);
                break;
            }
        }
        if last_report.elapsed() >= Duration::from_secs(2) {
            last_report = Instant::now();
            eprintln!(
                "passthrough: {finished} finished, {} in flight",
                in_flight.len()
            );
        }
    }
    let end = (Instant::now(), SystemTime::now());
    // Whatever is still in flight (idle stop, failure) is drained before the final commit.
    while let Some(done) = in_flight.next().await {
        if done.result.is_ok() {
            tracker.finish(&done.topic, done.partition, done.offset);
        }
    }
    let _ = consumer.commit_consumer_state(CommitMode::Sync);
    let _ = producer.flush(Timeout::After(Duration::from_secs(10)));
    if let Some(f) = failure {
        return Err(f);
    }
    let Some((t0, wall0)) = first else {
        return Err("no message was read".into());
    };
    // From the first message read to the last one finished (an idle stop does not count the
    // idle wait).
    let seconds = if finished >= target {
        end.0.duration_since(t0)
    } else {
        last_finish.duration_since(t0)
    }
    .as_secs_f64()
    .max(1e-6);
    let rate = finished as f64 / seconds;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "events": finished,
                "seconds": seconds,
                "events_per_s": rate,
                "first_read_unix_ms": unix_ms(wall0),
                "end_unix_ms": unix_ms(end.1),
            })
        );
    }
    eprintln!("passthrough: {finished} events in {seconds:.2} s: {rate:.0} events/s");
    Ok(())
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.events == Some(0) {
        eprintln!("error: --events 0: give at least 1");
        return ExitCode::from(2);
    }
    let k = match kafka_config(&a) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(a, k)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
