//! demo: the whole pipeline on the embedded default, with no servers. An in-process Kafka
//! (librdkafka's mock cluster), the in-memory claim store (or a real Redis with `--redis`), the
//! bundled sample CRM and feed, the real worker; then the outputs are read back from Kafka and
//! summarised.

use crate::claim::{ClaimStore, MemoryClaimStore, RedisClaimStore};
use crate::config::{Config, Loaded};
use crate::event::AssignmentEvent;
use crate::kafka::embedded::EmbeddedKafka;
use crate::kafka::records::dlq;
use crate::kafka::unique_suffix;
use crate::telemetry::Metrics;
use crate::worker::{Status, Worker};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const CONFIG: &str = include_str!("../config/outcry.toml");
/// The generic customer-care pack `config/outcry.toml` names (learned: docs/rules.md).
pub const RULES: &str = include_str!("../config/rules/generic-learned.toml");
pub const CUSTOMERS: &str = include_str!("../config/sample/customers.jsonl");
pub const FEED: &str = include_str!("../config/sample/feed.jsonl");

/// The bundled configuration, with its files served from the binary.
pub fn embedded_config() -> Result<Loaded, crate::settings::ConfigErrors> {
    let config = Config::parse(CONFIG, std::iter::empty())?;
    config.resolve(|p: &Path| match p.to_str() {
        Some("rules/generic-learned.toml") => Ok(RULES.to_owned()),
        Some("sample/customers.jsonl") => Ok(CUSTOMERS.to_owned()),
        _ => Err(format!("{}: not bundled with the demo", p.display())),
    })
}

/// The feed's events, one message body per non-empty line.
pub fn feed_lines(feed: &str) -> Vec<&str> {
    feed.lines().filter(|l| !l.trim().is_empty()).collect()
}

pub struct DemoOptions {
    /// Use this Redis instead of the in-memory claim store.
    pub redis: Option<String>,
    /// Replay this JSONL file instead of the bundled feed.
    pub feed: Option<String>,
    pub partitions: i32,
    /// Print progress and the summary.
    pub verbose: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            redis: None,
            feed: None,
            partitions: 3,
            verbose: true,
        }
    }
}

/// What the demo saw, read back from the output topics.
#[derive(Debug, Default)]
pub struct DemoReport {
    pub events_in: usize,
    pub assignments: Vec<AssignmentEvent>,
    pub interactions: usize,
    pub dead_letters: BTreeMap<String, usize>,
    pub noise: u64,
    /// One customer bounced by the helpdesk until the escalation queue took them: each owner
    /// in turn (`department/queue`, token).
    pub bounce_trail: Vec<String>,
    /// Everything on `outcry.alerts` (incidents opened by the detectors, ...).
    pub alerts: Vec<crate::event::AlertEvent>,
    pub store: &'static str,
    pub elapsed: Duration,
}

impl DemoReport {
    pub fn dead_letter_count(&self) -> usize {
        self.dead_letters.values().sum()
    }

    /// department -> (new, attached)
    pub fn by_department(&self) -> BTreeMap<String, (usize, usize)> {
        let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for a in &self.assignments {
            let e = out.entry(a.department.clone()).or_default();
            match a.outcome {
                crate::event::AssignmentOutcome::New => e.0 += 1,
                crate::event::AssignmentOutcome::Attached => e.1 += 1,
                _ => {}
            }
        }
        out
    }

    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let new = self.by_department().values().map(|v| v.0).sum::<usize>();
        let attached = self.by_department().values().map(|v| v.1).sum::<usize>();
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let _ = writeln!(
            s,
            "outcry demo: {} events in (claim store: {})",
            self.events_in, self.store
        );
        let _ = writeln!(
            s,
            "  assigned      {:>5}  ({} new ownerships, {} attached to the current owner)",
            self.assignments.len(),
            new,
            attached
        );
        let _ = writeln!(
            s,
            "  noise         {:>5}  (counted and dropped)",
            self.noise
        );
        let _ = writeln!(s, "  dead letters  {:>5}", self.dead_letter_count());
        for (reason, n) in &self.dead_letters {
            let _ = writeln!(s, "      {reason:<20} {n:>4}");
        }
        let _ = writeln!(s, "  by department            new  attached");
        for (dept, (n, a)) in self.by_department() {
            let _ = writeln!(s, "      {dept:<20} {n:>4}  {a:>8}");
        }
        let customers = self
            .assignments
            .iter()
            .filter(|a| a.owner_key.starts_with("customer:"))
            .map(|a| a.owner_key.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let prospects = self
            .assignments
            .iter()
            .filter(|a| a.owner_key.starts_with("author:"))
            .map(|a| a.owner_key.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let _ = writeln!(
            s,
            "  owners: {customers} CRM customers, {prospects} unknown authors (prospects)"
        );
        let _ = writeln!(s, "  interactions stored: {}", self.interactions);
        if let Some((first, rest)) = self.bounce_trail.split_first() {
            let _ = writeln!(
                s,
                "  bounced by the helpdesk: {first} -> {} (the sag wagon, with the whole trail)",
                rest.join(" -> ")
            );
        }
        for a in self.alerts.iter().filter(|a| a.kind == "incident_opened") {
            let id = a.detail["incident_id"].as_str().unwrap_or_default();
            let mut linked: std::collections::BTreeSet<&str> = a.detail["window_events"]
                .as_array()
                .map(|v| v.iter().filter_map(|e| e.as_str()).collect())
                .unwrap_or_default();
            linked.extend(
                self.assignments
                    .iter()
                    .filter(|x| {
                        x.incident.as_ref().is_some_and(|i| i.incident_id == id)
                            && !x.owner_key.starts_with("incident:")
                    })
                    .map(|x| x.event_id.as_str()),
            );
            let owner = self
                .assignments
                .iter()
                .find(|x| x.owner_key == crate::incident::owner_key(id));
            let _ = writeln!(s, "  incident {id}: {}", a.summary);
            let _ = writeln!(
                s,
                "      {} posts linked; one assignment to {}",
                linked.len(),
                owner.map_or("?".into(), |o| format!(
                    "{}/{} (token {})",
                    o.department, o.queue, o.fencing_token
                ))
            );
        }
        let _ = writeln!(
            s,
            "  throughput: {:.0} events/s end to end ({:.2} s, Kafka round trips included)",
            self.events_in as f64 / secs,
            secs
        );
        s
    }
}

fn topic_names(cfg: &Config) -> [&str; 7] {
    let t = &cfg.kafka.topics;
    [
        &t.raw,
        &t.customers,
        &t.assignments,
        &t.interactions,
        &t.deadletter,
        &t.feedback,
        &t.alerts,
    ]
}

/// Run the demo end to end.
pub async fn run(
    opts: DemoOptions,
) -> Result<DemoReport, Box<dyn std::error::Error + Send + Sync>> {
    let feed_text = match &opts.feed {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => FEED.to_owned(),
    };
    let lines = feed_lines(&feed_text);
    let kafka = EmbeddedKafka::start(1)?;
    let mut loaded = embedded_config().map_err(|e| e.to_string())?;
    loaded.config.kafka.brokers = kafka.bootstrap_servers().to_owned();
    loaded.config.kafka.group_id = "outcry-demo".into();
    loaded.config.http.listen = String::new();
    loaded.config.kafka.drain_timeout.0 = Duration::from_secs(5);
    for (i, topic) in topic_names(&loaded.config).into_iter().enumerate() {
        kafka.create_topic(topic, if i == 0 { opts.partitions } else { 1 })?;
    }

    // Publish the feed as a connector would: keyed by the platform author id when readable.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()?;
    let records = crate::replay::read_jsonl(&feed_text).records;
    let (_, error) = crate::replay::publish(
        &producer,
        &loaded.config.kafka.topics.raw,
        &records,
        None,
        None,
        |_| {},
    )
    .await;
    if let Some(e) = error {
        return Err(e.into());
    }

    let store: Arc<dyn ClaimStore> = match &opts.redis {
        Some(url) => Arc::new(
            RedisClaimStore::connect(url, &format!("outcry-demo-{}", unique_suffix())).await?,
        ),
        None => Arc::new(MemoryClaimStore::new()),
    };
    let store_name = store.name();
    let status = Arc::new(Status::default());
    let metrics = Metrics::new();
    let worker = Worker {
        config: loaded.config.clone(),
        pipeline: loaded.pipeline().into(),
        index: Arc::new(RwLock::new(loaded.index)),
        store,
        metrics,
        status: Arc::clone(&status),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let started = Instant::now();
    let mut worker_task = tokio::spawn(worker.run(stop_rx));
    let total = lines.len() as u64;
    let deadline = started + Duration::from_secs(60);
    let mut last_print = Instant::now();
    let mut finished_early = None;
    while Status::get(&status.finished) < total {
        if Instant::now() > deadline {
            let _ = stop_tx.send(true);
            return Err(format!(
                "demo did not finish in 60 s: {} of {total} events done",
                Status::get(&status.finished)
            )
            .into());
        }
        tokio::select! {
            r = &mut worker_task => { finished_early = Some(r); break; }
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if opts.verbose && last_print.elapsed() > Duration::from_secs(1) {
            eprintln!(
                "  … {} / {total} events done",
                Status::get(&status.finished)
            );
            last_print = Instant::now();
        }
    }
    let elapsed = started.elapsed();
    // The helpdesk bounces one customer around until the sag wagon takes them: feedback on
    // helpdesk.feedback, read by the same worker, with the token of each new owner.
    let mut bounce_trail = Vec::new();
    if finished_early.is_none() {
        bounce_trail = bounce_one_customer(
            kafka.bootstrap_servers(),
            &loaded.config,
            &producer,
            &status,
            total,
        )
        .await?;
    }
    let _ = stop_tx.send(true);
    match finished_early {
        Some(r) => r??,
        None => worker_task.await??,
    }
    if Status::get(&status.finished) < total {
        return Err("worker stopped before finishing the feed".into());
    }

    // Read every output back from Kafka.
    let t = &loaded.config.kafka.topics;
    let mut report = DemoReport {
        bounce_trail,
        events_in: lines.len(),
        noise: Status::get(&status.noise),
        store: store_name,
        elapsed,
        ..DemoReport::default()
    };
    for msg in read_all(kafka.bootstrap_servers(), &t.assignments)? {
        report
            .assignments
            .push(serde_json::from_slice(msg.payload().unwrap_or_default())?);
    }
    report.interactions = read_all(kafka.bootstrap_servers(), &t.interactions)?.len();
    for msg in read_all(kafka.bootstrap_servers(), &t.alerts)? {
        report
            .alerts
            .push(serde_json::from_slice(msg.payload().unwrap_or_default())?);
    }
    for msg in read_all(kafka.bootstrap_servers(), &t.deadletter)? {
        let reason = msg
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == dlq::REASON)
                    .and_then(|h| h.value)
                    .map(|v| String::from_utf8_lossy(v).into_owned())
            })
            .unwrap_or_else(|| "?".into());
        *report.dead_letters.entry(reason).or_default() += 1;
    }
    if opts.verbose {
        print!("{}", report.render());
    }
    Ok(report)
}

/// Bounce the first customer who got a new owner until the escalation queue takes them; returns
/// each owner in turn.
async fn bounce_one_customer(
    bootstrap: &str,
    config: &Config,
    producer: &FutureProducer,
    status: &Status,
    mut finished: u64,
) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync>> {
    let t = &config.kafka.topics;
    let read = || -> Result<Vec<AssignmentEvent>, Box<dyn std::error::Error + Send + Sync>> {
        let mut out = Vec::new();
        for m in read_all(bootstrap, &t.assignments)? {
            out.push(serde_json::from_slice(m.payload().unwrap_or_default())?);
        }
        Ok(out)
    };
    let Some(first) = read()?.into_iter().find(|a| {
        a.outcome == crate::event::AssignmentOutcome::New && a.owner_key.starts_with("customer:")
    }) else {
        return Ok(Vec::new());
    };
    let owner = first.owner_key.clone();
    let mut trail = vec![format!(
        "{}/{} (token {})",
        first.department, first.queue, first.fencing_token
    )];
    let mut token = first.fencing_token;
    for round in 1..=config.routing.bounce_limit {
        let feedback = serde_json::json!({
            "feedback_id": format!("demo-bounce-{round}"),
            "owner_key": owner,
            "type": "bounced",
            "fencing_token": token,
            "note": "not for us",
        });
        producer
            .send(
                FutureRecord::to(&t.feedback)
                    .key(owner.as_str())
                    .payload(&feedback.to_string()),
                Duration::from_secs(5),
            )
            .await
            .map_err(|(e, _)| e)?;
        finished += 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while Status::get(&status.finished) < finished {
            if Instant::now() > deadline {
                return Err("the demo's bounce feedback was not processed in 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let Some(moved) = read()?
            .into_iter()
            .find(|a| a.event_id == format!("feedback:demo-bounce-{round}"))
        else {
            break;
        };
        trail.push(format!(
            "{}/{} (token {})",
            moved.department, moved.queue, moved.fencing_token
        ));
        token = moved.fencing_token;
        if moved.outcome == crate::event::AssignmentOutcome::Escalated {
            break;
        }
    }
    Ok(trail)
}

/// Every message of a topic, from the beginning to the high watermark at the time of the call.
pub fn read_all(
    bootstrap: &str,
    topic: &str,
) -> Result<Vec<rdkafka::message::OwnedMessage>, rdkafka::error::KafkaError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("outcry-reader-{}", unique_suffix()))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0i64;
    for t in metadata.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            let (low, high) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
            remaining += high - low;
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (out.len() as i64) < remaining && Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            out.push(m?.detach());
        }
    }
    if (out.len() as i64) < remaining {
        return Err(rdkafka::error::KafkaError::MessageConsumption(
            rdkafka::types::RDKafkaErrorCode::MessageTimedOut,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's first command: the bundled feed through the real worker on the mock
    /// cluster shows every part of the product — assignments, dead letters, noise, the
    /// incident the regional outage raises, a customer bounced to the sag wagon.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_shows_the_whole_product() {
        let r = run(DemoOptions {
            verbose: false,
            ..DemoOptions::default()
        })
        .await
        .unwrap();
        assert_eq!(r.events_in, 300);
        assert!(r.dead_letter_count() > 0 && r.noise > 0, "{r:?}");
        let (new, attached): (usize, usize) = r
            .by_department()
            .values()
            .fold((0, 0), |(n, a), (x, y)| (n + x, a + y));
        assert!(new > 0 && attached > 0);
        // Every input is accounted for: assigned, dead-lettered or noise.
        assert_eq!(
            new + attached - 1 + r.dead_letter_count() + r.noise as usize,
            300,
            "one of the new ownerships is the incident's own"
        );
        let incidents: Vec<_> = r
            .alerts
            .iter()
            .filter(|a| a.kind == "incident_opened")
            .collect();
        assert_eq!(incidents.len(), 1, "{:?}", r.alerts);
        assert!(r
            .bounce_trail
            .last()
            .is_some_and(|t| t.starts_with("escalations/sag-wagon")));
        assert!(r.render().contains("incident outage-spike:outage:1"));
    }
}
