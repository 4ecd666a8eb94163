//! worker: wires source -> pipeline -> claim -> sink.
//!
//! One consumer-group member. Input partitions are processed concurrently, and within a
//! partition the next batch is decided while the one before it claims; claims go one batch at a
//! time in read order (`Turn`), so a partition's events are claimed in their order. The
//! stages of an event are named steps: `read_batch` takes what has arrived (up to
//! `kafka.max_batch`) and enters each in the `OffsetTracker`; `decide` runs the pure stage on the batch (on every core when it is large);
//! `claim_all` claims the routed events in one round trip, in read order, so events of
//! one owner key (one partition) are decided in order; `emit` builds each event's
//! records; `deliver` produces them concurrently up to `kafka.max_in_flight`; and
//! `finish` makes an offset storable only once every output up to it was
//! acknowledged. On shutdown: stop reading, drain within `kafka.drain_timeout`, commit
//! synchronously.

use crate::claim::{Claim, ClaimError, ClaimRequest, ClaimStore, FeedbackOutcome};
use crate::config::Config;
use crate::event::{AssignmentEvent, AssignmentOutcome, InteractionEvent, SourceCoords};
use crate::identity::IdentityIndex;
use crate::kafka::offsets::OffsetTracker;
use crate::kafka::records::{self, Output};
use crate::kafka::{consumer_config, customers, producer_config, sink};
use crate::normalize::Reason;
use crate::pipeline::{Decision, OwnerKey, SharedPipeline, Verdict};
use crate::route::NoiseHandling;
/// A worker's live counters (defined in `telemetry`, beside the metrics, so that the HTTP edge
/// reads them without depending on the worker).
pub use crate::telemetry::Status;
use crate::telemetry::{Metrics, Stage};
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{FutureProducer, Producer};
use rdkafka::util::Timeout;
use rdkafka::{ClientContext, Message, TopicPartitionList};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("kafka: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the crm.customers follower stopped before the identity index caught up (its error is logged)")]
    CustomersFollower,
    #[error("the producer failed for good at {topic}/{partition}@{offset}: {reason}")]
    Delivery {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
}

/// Everything a worker runs with.
pub struct Worker {
    pub config: Config,
    /// Swapped between events by a rules reload.
    pub pipeline: SharedPipeline,
    pub index: Arc<RwLock<IdentityIndex>>,
    pub store: Arc<dyn ClaimStore>,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
}

/// Records partition assignment changes, so the worker forgets offsets it no longer owns, and
/// holds a revoke back until the worker has drained the partitions (`Worker::finish_revoke`).
struct WorkerContext {
    changed: Mutex<Vec<(String, i32)>>,
    metrics: Arc<Metrics>,
    /// A revoke the worker has not answered yet: librdkafka waits for the unassign call.
    pending_revoke: Mutex<Option<TopicPartitionList>>,
    revoke_ready: tokio::sync::Notify,
    /// Set once the worker is done: a revoke from then on (the consumer's close) is answered
    /// at once.
    closing: std::sync::atomic::AtomicBool,
}

impl WorkerContext {
    fn log_change(&self, what: &str, tpl: &TopicPartitionList) {
        let parts: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        tracing::info!(?parts, "partitions {what}");
        if let Ok(mut changed) = self.changed.lock() {
            changed.extend(parts);
        }
    }
}

impl ClientContext for WorkerContext {
    fn stats(&self, statistics: rdkafka::Statistics) {
        self.metrics.record_lag(&statistics);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics
            .kafka_errors
            .with_label_values(&["client"])
            .inc();
        tracing::warn!(error = %error, reason, "kafka client error");
    }
}

impl ConsumerContext for WorkerContext {
    /// An assignment is taken at once. A revoke is held back (librdkafka waits for the
    /// unassign call) until the worker has finished the revoked partitions' batches under way
    /// and committed their offsets, within `kafka.drain_timeout` (`Worker::finish_revoke`), so
    /// the next owner starts where this one stopped. A lost assignment (session timed out) or a
    /// revoke while closing is answered at once: there is nothing to commit then.
    fn rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        err: rdkafka::types::RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        use rdkafka::consumer::RebalanceProtocol;
        use rdkafka::types::RDKafkaRespErr as E;
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            E::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                self.log_change("assigned", tpl);
                r
            }
            E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS
                if !self.closing.load(Ordering::Relaxed) && !consumer.assignment_lost() =>
            {
                if let Ok(mut pending) = self.pending_revoke.lock() {
                    *pending = Some(tpl.clone());
                }
                self.revoke_ready.notify_one();
                return;
            }
            _ => {
                if err != E::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS {
                    tracing::warn!(error = ?err, "rebalance error");
                }
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                self.log_change("revoked", tpl);
                r
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "rebalance: the assignment change failed");
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        match result {
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => tracing::warn!(error = %e, "offset commit failed"),
        }
    }
}

/// One event's outputs, produced; resolves when all are acknowledged (or the producer failed
/// for good).
struct Finished {
    topic: String,
    partition: i32,
    offset: i64,
    result: Result<sink::Delivered, String>,
    /// What the event came to, if its outputs are delivered: [`outcome_of`].
    outcome: &'static str,
}

/// What an event came to, by the records it causes: `dead_letter` (any record to the
/// dead-letter topic), `feedback` (a message of `helpdesk.feedback`), `noise_dropped` (no
/// record), `noise_stored` (only an interaction), else `assigned`.
fn outcome_of(
    msg: &OwnedMessage,
    outputs: &[Output],
    topics: &crate::kafka::Topics,
) -> &'static str {
    if outputs.iter().any(|o| o.topic == topics.deadletter) {
        "dead_letter"
    } else if msg.topic() == topics.feedback {
        "feedback"
    } else if outputs.is_empty() {
        "noise_dropped"
    } else if outputs.iter().all(|o| o.topic == topics.interactions) {
        "noise_stored"
    } else {
        "assigned"
    }
}

/// How many batches of one partition may be under way at once: the next one is decided (the
/// pure stage, on the blocking pool) while the one before it claims; its claims wait for that
/// batch's turn to end (`Turn`), so a partition's events are still claimed in order.
const BATCHES_PER_PARTITION: usize = 2;

/// A batch's place in its partition's order: it claims after `wait` resolves (the batch before
/// it has applied its claims and built its records) and resolves `done` when it has. A batch
/// that ends without claiming (shutdown while the store was unavailable) drops `done`, and the
/// batch after it ends too.
struct Turn {
    wait: Option<tokio::sync::oneshot::Receiver<()>>,
    done: tokio::sync::oneshot::Sender<()>,
}

/// Messages read and waiting, per input partition, and the batches under way per partition
/// (at most [`BATCHES_PER_PARTITION`], claiming one after another in read order).
#[derive(Default)]
struct Partitions {
    waiting: std::collections::HashMap<(String, i32), std::collections::VecDeque<OwnedMessage>>,
    busy: std::collections::HashMap<(String, i32), usize>,
    /// The `done` side of each partition's newest batch under way: the next batch waits on it.
    last: std::collections::HashMap<(String, i32), tokio::sync::oneshot::Receiver<()>>,
}

impl Partitions {
    fn push(&mut self, m: OwnedMessage) {
        self.waiting
            .entry((m.topic().to_owned(), m.partition()))
            .or_default()
            .push_back(m);
    }

    /// The next batch (at most `max` messages) of every partition that has messages waiting
    /// and room for one more batch under way, each with its turn; until [`Partitions::done`]
    /// the batch counts as under way.
    fn start(&mut self, max: usize) -> Vec<((String, i32), Vec<OwnedMessage>, Turn)> {
        let mut out = Vec::new();
        for (part, q) in &mut self.waiting {
            let busy = self.busy.entry(part.clone()).or_default();
            if q.is_empty() || *busy >= BATCHES_PER_PARTITION {
                continue;
            }
            *busy += 1;
            let n = q.len().min(max);
            let (done, next) = tokio::sync::oneshot::channel();
            let wait = self.last.insert(part.clone(), next);
            out.push((part.clone(), q.drain(..n).collect(), Turn { wait, done }));
        }
        self.waiting.retain(|_, q| !q.is_empty());
        out
    }

    fn done(&mut self, part: &(String, i32)) {
        if let Some(busy) = self.busy.get_mut(part) {
            *busy = busy.saturating_sub(1);
            if *busy == 0 {
                self.busy.remove(part);
                self.last.remove(part);
            }
        }
    }
}

/// One detector key an event hit, the request counting it, and the store's answer.
struct Detection {
    hit: crate::incident::Hit,
    request: crate::claim::DetectRequest,
    answer: Result<crate::claim::DetectDecision, String>,
}

/// Where an event of a batch stands between deciding and emitting.
enum Step {
    /// Its records are known: a dead letter, stored noise, or nothing (dropped noise).
    Done(Vec<Output>),
    /// Routed: waits for its claim.
    Claim(Box<Decision>),
    /// A message of `helpdesk.feedback`, processed after the batch's claims.
    Feedback,
}

/// Where a message came from.
fn source_of(msg: &OwnedMessage) -> SourceCoords {
    SourceCoords {
        topic: msg.topic().to_owned(),
        partition: msg.partition(),
        offset: msg.offset(),
    }
}

/// A message's headers, owned.
fn headers_of(msg: &OwnedMessage) -> Vec<(String, Vec<u8>)> {
    msg.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default()
}

/// The pure stage for every message of `batch` that is not from `feedback` (those are None),
/// split across the machine's cores when the batch is large; in read order.
fn decide_all(
    pipeline: &crate::pipeline::Pipeline,
    index: &IdentityIndex,
    metrics: &Metrics,
    feedback: &str,
    batch: &[OwnedMessage],
) -> Vec<Option<Result<Verdict, crate::normalize::Rejection>>> {
    const PER_THREAD: usize = 64;
    let one = |msg: &OwnedMessage| {
        (msg.topic() != feedback).then(|| decide_one(pipeline, index, metrics, msg))
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(batch.len() / PER_THREAD)
        .max(1);
    if threads == 1 {
        return batch.iter().map(one).collect();
    }
    let chunk = batch.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let one = &one;
        let mut parts = batch.chunks(chunk);
        let first = parts.next().unwrap_or_default();
        let others: Vec<_> = parts
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<_> = first.iter().map(one).collect();
        for h in others {
            all.extend(
                h.join()
                    .expect("the pure stage does not panic (it is guarded)"),
            );
        }
        all
    })
}

/// The pure stage for one raw event, and its metrics. Runs on any thread.
fn decide_one(
    pipeline: &crate::pipeline::Pipeline,
    index: &IdentityIndex,
    metrics: &Metrics,
    msg: &OwnedMessage,
) -> Result<Verdict, crate::normalize::Rejection> {
    let platform = msg.headers().and_then(|h| {
        h.iter()
            .find(|h| h.key == "platform")
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    });
    let started = Instant::now();
    let mut timings = crate::pipeline::StageTimings::default();
    let verdict = pipeline.process_timed(
        index,
        msg.payload().unwrap_or_default(),
        platform,
        crate::normalize::time::now_ms(),
        Some(&mut timings),
    );
    metrics
        .match_duration
        .observe(started.elapsed().as_secs_f64());
    metrics.observe_stages(&timings);
    match &verdict {
        Ok(Verdict::Routed(d)) => {
            metrics.identity_band(d.identity.confidence);
            metrics
                .intents
                .with_label_values(&[d.intent.intent.as_str()])
                .inc();
        }
        Ok(Verdict::Noise { identity, .. }) => {
            metrics.identity_band(identity.confidence);
            metrics.intents.with_label_values(&["noise"]).inc();
        }
        Err(_) => {}
    }
    verdict
}

/// What processing one message produced.
enum Processed {
    Outputs(Vec<Output>),
    /// Shutdown arrived while the claim store was unavailable: leave the event unfinished so
    /// it is read again.
    Abandoned,
}

impl Worker {
    /// Run until `shutdown` turns true (or its sender is dropped), then drain and commit.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), WorkerError> {
        let cfg = &self.config;
        self.metrics
            .set_rules_version(&self.pipeline.current().rules_version);
        self.metrics
            .identity_customers
            .set(self.index.read().map(|ix| ix.len() as i64).unwrap_or(0));

        if cfg.crm.follow_topic {
            let (tx, rx) = oneshot::channel();
            let follower = customers::follow(
                cfg.kafka.clone(),
                Arc::clone(&self.index),
                Arc::clone(&self.metrics),
                tx,
                shutdown.clone(),
            );
            tokio::spawn(async move {
                if let Err(e) = follower.await {
                    tracing::error!(error = %e, "customers topic follower stopped");
                }
            });
            // Not ready, and no event consumed, until the index holds the whole CRM topic as it
            // was at start: routing with half an index would treat customers as prospects.
            let started = std::time::Instant::now();
            let mut rx = rx;
            loop {
                tokio::select! {
                    r = &mut rx => match r {
                        Ok(n) => {
                            tracing::info!(customers = n, "identity index caught up");
                            break;
                        }
                        Err(_) => return Err(WorkerError::CustomersFollower),
                    },
                    _ = tokio::time::sleep(cfg.crm.catch_up_warn_after.0) => tracing::warn!(
                        waited = ?started.elapsed(),
                        "still reading crm.customers to its end; not ready and not consuming events until then"
                    ),
                    _ = shutdown.changed() => return Ok(()),
                }
            }
        }

        let max_record_bytes = cfg.limits.max_record_bytes();
        let topics = Arc::new(cfg.kafka.topics.clone());
        let producer: FutureProducer = producer_config(&cfg.kafka, max_record_bytes).create()?;
        let consumer: StreamConsumer<WorkerContext> = consumer_config(&cfg.kafka)
            // Consumer lag per partition comes from librdkafka's statistics.
            .set(
                "statistics.interval.ms",
                cfg.kafka
                    .consumer
                    .get("statistics.interval.ms")
                    .map_or("5000", String::as_str),
            )
            .create_with_context(WorkerContext {
                changed: Mutex::new(Vec::new()),
                metrics: Arc::clone(&self.metrics),
                pending_revoke: Mutex::new(None),
                revoke_ready: tokio::sync::Notify::new(),
                closing: std::sync::atomic::AtomicBool::new(false),
            })?;
        consumer.subscribe(&[&cfg.kafka.topics.raw, &cfg.kafka.topics.feedback])?;
        {
            let producer = producer.clone();
            let metrics = Arc::clone(&self.metrics);
            tokio::spawn(crate::sla::sweep(
                Arc::clone(&self.store),
                cfg.clone(),
                Arc::clone(&self.metrics),
                move |o| {
                    let producer = producer.clone();
                    let metrics = Arc::clone(&metrics);
                    async move {
                        let on_retry = |_: &KafkaError| {
                            metrics.kafka_errors.with_label_values(&["produce"]).inc()
                        };
                        sink::send(&producer, &o, max_record_bytes, &on_retry)
                            .await
                            .map_err(|e| e.to_string())
                    }
                },
                shutdown.clone(),
            ));
        }
        self.status.ready.store(true, Ordering::Relaxed);
        self.metrics.ready.set(1);
        tracing::info!(topic = %cfg.kafka.topics.raw, feedback = %cfg.kafka.topics.feedback, group = %cfg.kafka.group_id, "consuming");

        let mut tracker = OffsetTracker::new();
        let mut in_flight: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
        // Partitions are processed concurrently, and within a partition the next batch is
        // decided while the one before it claims; claims go one batch at a time, in read order
        // (`Turn`): while one batch waits for Redis, others are decided and emitted.
        let mut partitions = Partitions::default();
        let mut batches = FuturesUnordered::new();
        let mut failure: Option<WorkerError> = None;
        let metrics = Arc::clone(&self.metrics);
        let deliver_all = |in_flight: &mut FuturesUnordered<BoxFuture<'static, Finished>>,
                           decided: Vec<(OwnedMessage, Vec<Output>)>| {
            for (msg, outputs) in decided {
                in_flight.push(Box::pin(deliver(
                    producer.clone(),
                    Arc::clone(&metrics),
                    Arc::clone(&topics),
                    max_record_bytes,
                    msg,
                    outputs,
                )));
            }
        };
        let this = &self;
        let batch_shutdown = shutdown.clone();
        let start = |batches: &mut FuturesUnordered<_>, partitions: &mut Partitions| {
            for (part, batch, turn) in partitions.start(cfg.kafka.max_batch) {
                let mut shutdown = batch_shutdown.clone();
                batches.push(async move {
                    (part, this.process_batch(batch, turn, &mut shutdown).await)
                });
            }
        };

        // A revoke being drained: its partitions and until when (no reads meanwhile).
        let mut revoking: Option<(TopicPartitionList, Instant)> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if let Some((tpl, until)) = &revoking {
                if self.revoke_drained(&tracker, tpl) || Instant::now() >= *until {
                    self.finish_revoke(&consumer, tpl);
                    revoking = None;
                }
            }
            let can_read = revoking.is_none() && tracker.in_flight() < cfg.kafka.max_in_flight;
            let revoke_tick = async {
                match &revoking {
                    Some((_, until)) => tokio::time::sleep_until((*until).into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                _ = consumer.context().revoke_ready.notified(), if revoking.is_none() => {
                    let pending = consumer.context().pending_revoke.lock().ok().and_then(|mut p| p.take());
                    if let Some(tpl) = pending {
                        self.begin_revoke(&tpl, &mut partitions, &mut tracker);
                        revoking = Some((tpl, Instant::now() + cfg.kafka.drain_timeout.0));
                    }
                }
                _ = revoke_tick => {}
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    if let Err(e) = self.finish(&consumer, &mut tracker, done) {
                        failure = Some(e);
                        break;
                    }
                }
                Some((part, decided)) = batches.next(), if !batches.is_empty() => {
                    partitions.done(&part);
                    // None: shutdown while the claim store was unavailable.
                    let Some(decided) = decided else { break };
                    deliver_all(&mut in_flight, decided);
                    start(&mut batches, &mut partitions);
                }
                msg = consumer.recv(), if can_read => {
                    for m in self.read_batch(&consumer, &mut tracker, msg) {
                        partitions.push(m);
                    }
                    start(&mut batches, &mut partitions);
                }
            }
        }

        // Draining: no more reads; finish the batches under way and wait for what is in
        // flight, then commit what is stored.
        self.status.ready.store(false, Ordering::Relaxed);
        self.metrics.ready.set(0);
        let drain = async {
            while let Some((_, decided)) = batches.next().await {
                if let Some(decided) = decided {
                    deliver_all(&mut in_flight, decided);
                }
            }
            while let Some(done) = in_flight.next().await {
                if let Err(e) = self.finish(&consumer, &mut tracker, done) {
                    failure.get_or_insert(e);
                }
            }
        };
        if tokio::time::timeout(cfg.kafka.drain_timeout.0, drain)
            .await
            .is_err()
        {
            tracing::warn!("drain timed out; unfinished events will be read again");
        }
        self.commit_stored(&consumer, "final commit failed");
        // From here on a revoke (the consumer's close) is answered at once; one held back is
        // answered now, its offsets committed above.
        consumer.context().closing.store(true, Ordering::Relaxed);
        let held = revoking.map(|(tpl, _)| tpl).or_else(|| {
            consumer
                .context()
                .pending_revoke
                .lock()
                .ok()
                .and_then(|mut p| p.take())
        });
        if let Some(tpl) = held {
            self.finish_revoke(&consumer, &tpl);
        }
        let _ = producer.flush(Timeout::After(Duration::from_secs(5)));
        tracing::info!(
            consumed = Status::get(&self.status.consumed),
            finished = Status::get(&self.status.finished),
            "worker stopped"
        );
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A revoke arrived: the revoked partitions' messages not yet in a batch are dropped (the
    /// next owner reads them) and leave the offset tracker; their batches under way and their
    /// outputs in flight finish, so their offsets can be stored and committed.
    fn begin_revoke(
        &self,
        tpl: &TopicPartitionList,
        partitions: &mut Partitions,
        tracker: &mut OffsetTracker,
    ) {
        for e in tpl.elements() {
            let part = (e.topic().to_owned(), e.partition());
            if let Some(dropped) = partitions.waiting.remove(&part) {
                if let Some(first) = dropped.front() {
                    tracker.abandon_from(&part.0, part.1, first.offset());
                }
            }
        }
        tracing::info!(
            parts = tpl.count(),
            "partitions revoked: finishing their batches under way before letting them go"
        );
    }

    /// Every event of the revoked partitions that this worker still means to finish is done.
    fn revoke_drained(&self, tracker: &OffsetTracker, tpl: &TopicPartitionList) -> bool {
        tpl.elements()
            .iter()
            .all(|e| tracker.in_flight_of(e.topic(), e.partition()) == 0)
    }

    /// Commit the stored offsets synchronously; a failure is counted and logged as `failed`
    /// says (nothing stored is not a failure).
    fn commit_stored(&self, consumer: &StreamConsumer<WorkerContext>, failed: &str) {
        match consumer.commit_consumer_state(CommitMode::Sync) {
            Ok(())
            | Err(KafkaError::ConsumerCommit(rdkafka::types::RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                self.metrics
                    .kafka_errors
                    .with_label_values(&["commit"])
                    .inc();
                tracing::warn!(error = %e, "{failed}")
            }
        }
    }

    /// Commit what is stored and let the revoked partitions go (the unassign librdkafka waits
    /// for); the offset tracker forgets them at the next read.
    fn finish_revoke(&self, consumer: &StreamConsumer<WorkerContext>, tpl: &TopicPartitionList) {
        self.commit_stored(
            consumer,
            "commit on revoke failed; the next owner reads the unfinished events again",
        );
        let result = if matches!(
            consumer.rebalance_protocol(),
            rdkafka::consumer::RebalanceProtocol::Cooperative
        ) {
            consumer.incremental_unassign(tpl)
        } else {
            consumer.unassign()
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "rebalance: the unassign failed");
        }
        consumer.context().log_change("revoked", tpl);
    }

    fn apply_rebalances(
        &self,
        consumer: &StreamConsumer<WorkerContext>,
        tracker: &mut OffsetTracker,
    ) {
        let changed = match consumer.context().changed.lock() {
            Ok(mut c) => std::mem::take(&mut *c),
            Err(_) => return,
        };
        for (topic, partition) in changed {
            tracker.forget(&topic, partition);
        }
    }

    /// An event's outputs were acknowledged (or failed for good): move its partition's stored
    /// offset forward if that is now safe.
    fn finish(
        &self,
        consumer: &StreamConsumer<WorkerContext>,
        tracker: &mut OffsetTracker,
        done: Finished,
    ) -> Result<(), WorkerError> {
        let outcome = match done.result {
            Ok(sink::Delivered::All) => done.outcome,
            Ok(sink::Delivered::DeadLettered(why)) => {
                self.metrics.stage(Stage::Produce, "dead_letter");
                self.metrics
                    .dead_letters
                    .with_label_values(&["output_rejected"])
                    .inc();
                self.status.dead_letters.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(topic = %done.topic, partition = done.partition, offset = done.offset, reason = %why, "an output was refused for good; the event is a dead letter");
                "dead_letter"
            }
            Err(reason) => {
                self.metrics.stage(Stage::Produce, "error");
                return Err(WorkerError::Delivery {
                    topic: done.topic,
                    partition: done.partition,
                    offset: done.offset,
                    reason,
                });
            }
        };
        self.metrics
            .events_finished
            .with_label_values(&[&done.topic, &done.partition.to_string(), outcome])
            .inc();
        self.status.finished.fetch_add(1, Ordering::Relaxed);
        if let Some(next) = tracker.finish(&done.topic, done.partition, done.offset) {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&done.topic, done.partition, rdkafka::Offset::Offset(next))?;
            match consumer.store_offsets(&tpl) {
                Ok(()) => self.metrics.offsets_stored.inc(),
                // The partition was revoked meanwhile: its new owner reads the event again and
                // the claim store repeats the same decision.
                Err(e) => {
                    tracing::debug!(error = %e, partition = done.partition, "offset not stored")
                }
            }
        }
        self.metrics.inflight.set(tracker.in_flight() as i64);
        Ok(())
    }

    /// An input's dead letter: its original bytes, key and headers (cut to the record bound if
    /// they do not fit), why, and where from; counted.
    fn dead_letter(&self, msg: &OwnedMessage, reason: &str, stage: Stage, message: &str) -> Output {
        self.metrics.stage(stage, "dead_letter");
        self.metrics.dead_letters.with_label_values(&[reason]).inc();
        self.status.dead_letters.fetch_add(1, Ordering::Relaxed);
        records::dead_letter(
            &self.config.kafka.topics.deadletter,
            msg.key(),
            msg.payload().unwrap_or_default(),
            &headers_of(msg),
            records::Cause {
                reason,
                stage: stage.as_str(),
                message,
            },
            &source_of(msg),
            self.config.limits.max_record_bytes(),
        )
    }

    /// Step 1, read: the message `recv` returned and whatever else has already arrived, up to
    /// `kafka.max_batch` — under load batches fill, when traffic is quiet no event waits for
    /// others. Each is entered in the offset tracker, after the rebalances that ran inside
    /// these polls (so a new assignment is tracked from scratch).
    fn read_batch(
        &self,
        consumer: &StreamConsumer<WorkerContext>,
        tracker: &mut OffsetTracker,
        first: rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'_>>,
    ) -> Vec<OwnedMessage> {
        let mut batch = Vec::new();
        let mut take =
            |m: rdkafka::error::KafkaResult<rdkafka::message::BorrowedMessage<'_>>| match m {
                Ok(m) => batch.push(m.detach()),
                Err(e) => {
                    self.metrics
                        .kafka_errors
                        .with_label_values(&["consume"])
                        .inc();
                    tracing::warn!(error = %e, "consume error");
                }
            };
        take(first);
        for _ in 1..self.config.kafka.max_batch {
            match consumer.recv().now_or_never() {
                Some(m) => take(m),
                None => break,
            }
        }
        self.apply_rebalances(consumer, tracker);
        for m in &batch {
            tracker.begin(m.topic(), m.partition(), m.offset());
        }
        self.status
            .consumed
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.metrics.inflight.set(tracker.in_flight() as i64);
        batch
    }

    /// Steps 2–4 for a batch: decide every raw event (the pure stage, on every core when the
    /// batch is large), claim the routed ones in one round trip, count the claimed ones
    /// towards the incident detectors in one more, then build each event's records. Feedback
    /// messages follow, one by one in their order. Deciding needs no turn; from the claims on
    /// the batch waits for the one before it in its partition (`turn`). Returns each message
    /// with the records it causes, in read order; None when shutdown arrived while the claim
    /// store was unavailable (the batch is left unfinished, to be read again).
    async fn process_batch(
        &self,
        batch: Vec<OwnedMessage>,
        turn: Turn,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Vec<(OwnedMessage, Vec<Output>)>> {
        let pipeline = self.pipeline.current();
        let feedback_topic = &self.config.kafka.topics.feedback;
        let (batch, verdicts) = self.decide(Arc::clone(&pipeline), batch).await;
        // Decided while the batch before it claimed; now its turn (None: that batch ended
        // without claiming, so this one does not claim either and is read again).
        if let Some(wait) = turn.wait {
            wait.await.ok()?;
        }
        let mut steps: Vec<Step> = Vec::with_capacity(batch.len());
        let mut requests = Vec::new();
        for (msg, verdict) in batch.iter().zip(verdicts) {
            steps.push(match verdict {
                None => Step::Feedback,
                Some(v) => match self.settle(&pipeline, msg, v) {
                    Ok(outputs) => Step::Done(outputs),
                    Err(decision) => {
                        requests.push(self.claim_request(&decision));
                        Step::Claim(decision)
                    }
                },
            });
        }
        let claims = self.claim_all(&requests, shutdown).await?;
        let mut detections = self
            .detect_all(&steps, &claims, shutdown)
            .await?
            .into_iter();
        let mut claims = claims.into_iter();
        let mut out = Vec::with_capacity(batch.len());
        for (msg, step) in batch.into_iter().zip(steps) {
            let outputs = match step {
                Step::Done(outputs) => outputs,
                Step::Claim(decision) => {
                    let claim = claims.next().expect("one claim per request");
                    let found = detections.next().expect("detections per claimed event");
                    match self
                        .emit(&pipeline, &msg, decision, claim, found, shutdown)
                        .await
                    {
                        Processed::Outputs(o) => o,
                        Processed::Abandoned => return None,
                    }
                }
                Step::Feedback => {
                    debug_assert_eq!(msg.topic(), feedback_topic.as_str());
                    match self.process_feedback(&msg, shutdown).await {
                        Processed::Outputs(o) => o,
                        Processed::Abandoned => return None,
                    }
                }
            };
            out.push((msg, outputs));
        }
        let _ = turn.done.send(());
        Some(out)
    }

    /// Step 2, decide: the pure stage for every raw event of the batch (None for feedback
    /// messages), on a blocking-pool thread (split across the machine's cores when the batch
    /// is large), so that meanwhile the worker's task goes on with other partitions' claims,
    /// records, deliveries and reads. Results keep read order; the batch comes back with them.
    async fn decide(
        &self,
        pipeline: Arc<crate::pipeline::Pipeline>,
        batch: Vec<OwnedMessage>,
    ) -> (
        Vec<OwnedMessage>,
        Vec<Option<Result<Verdict, crate::normalize::Rejection>>>,
    ) {
        let index = Arc::clone(&self.index);
        let metrics = Arc::clone(&self.metrics);
        let feedback = self.config.kafka.topics.feedback.clone();
        tokio::task::spawn_blocking(move || {
            let index = index.read().expect("identity index lock");
            let verdicts = decide_all(&pipeline, &index, &metrics, &feedback, &batch);
            (batch, verdicts)
        })
        .await
        .expect("the pure stage does not panic (it is guarded)")
    }

    /// A raw event's verdict: its records when it needs no claim (a dead letter, noise), or
    /// the routing decision to claim.
    fn settle(
        &self,
        pipeline: &crate::pipeline::Pipeline,
        msg: &OwnedMessage,
        verdict: Result<Verdict, crate::normalize::Rejection>,
    ) -> Result<Vec<Output>, Box<Decision>> {
        let topics = &self.config.kafka.topics;
        match verdict {
            Err(rejection) => {
                tracing::debug!(%rejection, topic = msg.topic(), partition = msg.partition(), offset = msg.offset(), "dead letter");
                let stage = match rejection.reason {
                    Reason::InternalError => Stage::Match,
                    _ => Stage::Normalize,
                };
                Ok(vec![self.dead_letter(
                    msg,
                    rejection.reason.as_str(),
                    stage,
                    &rejection.message,
                )])
            }
            Ok(Verdict::Noise {
                mut event,
                keywords,
                identity,
            }) => {
                self.metrics.stage(Stage::Normalize, "ok");
                self.metrics.stage(Stage::Classify, "noise");
                self.status.noise.fetch_add(1, Ordering::Relaxed);
                if self.config.routing.noise == NoiseHandling::Drop {
                    return Ok(Vec::new());
                }
                event.source = source_of(msg);
                let interaction = InteractionEvent {
                    owner_key: OwnerKey::for_event(&event, &identity).0,
                    event: *event,
                    identity: *identity,
                    intent: crate::event::IntentMatch {
                        intent: "noise".into(),
                        severity: 0,
                        keywords,
                        sentiment: 0.0,
                        language: None,
                        entities: Vec::new(),
                    },
                    department: String::new(),
                    fencing_token: 0,
                    rules_version: pipeline.rules_version.clone(),
                    noise: true,
                    truncated: None,
                };
                Ok(vec![records::interaction(
                    &topics.interactions,
                    &interaction,
                    &records::now_rfc3339(),
                    self.config.limits.max_record_bytes(),
                )])
            }
            Ok(Verdict::Routed(d)) => {
                self.metrics.stage(Stage::Normalize, "ok");
                self.metrics.stage(
                    Stage::Identity,
                    if d.identity.customer_id.is_some() {
                        "matched"
                    } else {
                        "unknown"
                    },
                );
                self.metrics.stage(Stage::Classify, "ok");
                self.metrics.stage(Stage::Route, "ok");
                Err(d)
            }
        }
    }

    fn claim_request(&self, decision: &Decision) -> ClaimRequest {
        let route = &decision.route;
        ClaimRequest {
            owner_key: decision.owner_key.0.clone(),
            event_id: decision.event.event_id.clone(),
            candidates: route.candidates.to_vec(),
            escalation: (*route.escalation).clone(),
            on_breach: (*route.on_breach).clone(),
            priority: route.priority,
            now_ms: crate::normalize::time::now_ms(),
            lease: self.config.claim.lease.0,
            sla: route.sla,
            resolution: route.resolution,
            remember: self.config.claim.remember_events.0,
        }
    }

    /// Step 3, claim: the batch's claims in one call to the store, retried as a whole while
    /// the store is unavailable (what was applied before the outage answers `replayed`, so
    /// nothing is decided twice). None: shutdown arrived meanwhile.
    async fn claim_all(
        &self,
        requests: &[ClaimRequest],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Vec<Result<Claim, String>>> {
        if requests.is_empty() {
            return Some(Vec::new());
        }
        let started = Instant::now();
        let results = self
            .batch_with_retry(requests.len(), shutdown, || {
                self.store.claim_batch(requests)
            })
            .await?;
        self.metrics
            .claim_duration
            .observe(started.elapsed().as_secs_f64());
        self.metrics.claim_batch.observe(requests.len() as f64);
        Some(self.protocol_errors(results))
    }

    /// Step 3b, detect: every claimed event of the batch counted towards the incident
    /// detector keys it hits, in one call to the store (retried as a whole like the claims).
    /// One list per claimed event (`claims`: one per `Step::Claim`, in order), each hit with
    /// its request and the store's answer.
    async fn detect_all(
        &self,
        steps: &[Step],
        claims: &[Result<Claim, String>],
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Vec<Vec<Detection>>> {
        let claimed = steps.iter().filter_map(|s| match s {
            Step::Claim(d) => Some(d),
            _ => None,
        });
        let mut per_event: Vec<Vec<(crate::incident::Hit, crate::claim::DetectRequest)>> = claimed
            .zip(claims)
            .map(|(d, claim)| match claim {
                Ok(_) => self.detect_requests(&d.event, &d.intent),
                Err(_) => Vec::new(),
            })
            .collect();
        let requests: Vec<crate::claim::DetectRequest> =
            per_event.iter().flatten().map(|(_, r)| r.clone()).collect();
        let mut answers = if requests.is_empty() {
            Vec::new()
        } else {
            let found = self
                .batch_with_retry(requests.len(), shutdown, || {
                    self.store.detect_batch(&requests)
                })
                .await?;
            self.protocol_errors(found)
        }
        .into_iter();
        Some(
            per_event
                .iter_mut()
                .map(|hits| {
                    hits.drain(..)
                        .map(|(hit, request)| Detection {
                            hit,
                            request,
                            answer: answers.next().expect("one answer per detection"),
                        })
                        .collect()
                })
                .collect(),
        )
    }

    /// Call a batch operation of the store until no part of it finds the store unavailable,
    /// with backoff (what was applied before an outage answers `replayed` when retried, so
    /// nothing is decided twice). None: shutdown arrived meanwhile.
    async fn batch_with_retry<'a, T>(
        &self,
        events: usize,
        shutdown: &mut watch::Receiver<bool>,
        op: impl Fn() -> BoxFuture<'a, Vec<Result<T, ClaimError>>>,
    ) -> Option<Vec<Result<T, ClaimError>>> {
        let mut backoff = Duration::from_millis(50);
        loop {
            let results = op().await;
            let unavailable = results.iter().find_map(|r| match r {
                Err(ClaimError::Unavailable(e)) => Some(e.clone()),
                _ => None,
            });
            let Some(e) = unavailable else {
                return Some(results);
            };
            self.metrics.claim_retries.inc();
            self.metrics
                .claim_errors
                .with_label_values(&["unavailable"])
                .inc();
            tracing::warn!(error = %e, events, retry_in = ?backoff, "claim store unavailable");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return None,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// A batch's answers with the refusals (protocol errors) counted and put in words.
    fn protocol_errors<T>(&self, results: Vec<Result<T, ClaimError>>) -> Vec<Result<T, String>> {
        results
            .into_iter()
            .map(|r| {
                r.map_err(|e| {
                    self.metrics
                        .claim_errors
                        .with_label_values(&["protocol"])
                        .inc();
                    e.to_string()
                })
            })
            .collect()
    }

    /// Step 4, emit: a claimed event's records — its assignment and interaction, and what
    /// the incident detectors add.
    async fn emit(
        &self,
        pipeline: &crate::pipeline::Pipeline,
        msg: &OwnedMessage,
        decision: Box<Decision>,
        claim: Result<Claim, String>,
        found: Vec<Detection>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Processed {
        let topics = &self.config.kafka.topics;
        let source = source_of(msg);
        let claim = match claim {
            Ok(claim) => claim,
            Err(e) => {
                return Processed::Outputs(vec![self.dead_letter(
                    msg,
                    "claim_failed",
                    Stage::Claim,
                    &e,
                )])
            }
        };
        let outcome = if claim.replayed {
            "replayed"
        } else {
            claim.outcome.as_str()
        };
        self.metrics.stage(Stage::Claim, outcome);
        // A replay repeats a decision already counted: count decisions, not deliveries.
        if !claim.replayed {
            self.metrics
                .assignments
                .with_label_values(&[&claim.department, claim.outcome.as_str()])
                .inc();
        }
        match (claim.replayed, claim.outcome) {
            (true, _) => &self.status.replayed,
            (false, AssignmentOutcome::Attached) => &self.status.assigned_attached,
            (false, _) => &self.status.assigned_new,
        }
        .fetch_add(1, Ordering::Relaxed);

        let mut decision = decision;
        decision.event.source = source.clone();
        let (incident, mut incident_outputs) = match self
            .incident_records(pipeline, &decision.intent, &source, found, shutdown)
            .await
        {
            Ok(found) => found,
            Err(stop) => return stop,
        };
        let mut outputs = records::decision_records(
            topics,
            *decision,
            &claim,
            incident,
            &pipeline.rules_version,
            &records::now_rfc3339(),
            self.config.limits.max_record_bytes(),
        )
        .into_iter()
        .collect::<Vec<_>>();
        outputs.append(&mut incident_outputs);
        Processed::Outputs(outputs)
    }

    /// The detector keys a routed event counts towards (docs/incidents.md), each with its
    /// request to the store.
    fn detect_requests(
        &self,
        event: &crate::event::CanonicalEvent,
        intent: &crate::event::IntentMatch,
    ) -> Vec<(crate::incident::Hit, crate::claim::DetectRequest)> {
        let detectors = &self.config.detector;
        crate::incident::hits(detectors, event, intent)
            .into_iter()
            .map(|hit| {
                let d = &detectors[hit.detector];
                let req = crate::claim::DetectRequest {
                    detector: d.name.clone(),
                    group: hit.group.clone(),
                    event_id: event.event_id.clone(),
                    author: format!("{}:{}", event.platform, event.author.id),
                    now_ms: crate::normalize::time::now_ms(),
                    window: d.window.0,
                    threshold: d.threshold,
                    cooldown: d.cooldown.0,
                    expire_after: d.expire_after.0,
                    remember: self.config.claim.remember_events.0,
                };
                (hit, req)
            })
            .collect()
    }

    /// What an event's detections cause: the incident the event is part of, and the records
    /// an opening or closing causes: the `incident_opened` alert and the incident's own
    /// assignment (its owner claimed like a customer's), or `incident_closed`.
    async fn incident_records(
        &self,
        pipeline: &crate::pipeline::Pipeline,
        intent: &crate::event::IntentMatch,
        source: &SourceCoords,
        found: Vec<Detection>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(Option<crate::event::IncidentLink>, Vec<Output>), Processed> {
        let detectors = &self.config.detector;
        let mut link = None;
        let mut outputs = Vec::new();
        let topics = &self.config.kafka.topics;
        let time = records::now_rfc3339();
        for Detection {
            hit,
            request,
            answer,
        } in found
        {
            let d = &detectors[hit.detector];
            let now = request.now_ms;
            let decision = match answer {
                Ok(x) => x,
                Err(e) => {
                    // Counting is best effort against a broken script: the post is still assigned.
                    tracing::error!(error = %e, detector = %d.name, "incident detection failed");
                    continue;
                }
            };
            if let Some(closed) = &decision.closed {
                if !decision.replayed {
                    self.metrics.incidents.with_label_values(&["closed"]).inc();
                }
                outputs.push(records::alert(
                    &topics.alerts,
                    &crate::incident::closed_alert(closed),
                    &time,
                ));
            }
            let Some(id) = decision.incident_id.clone() else {
                continue;
            };
            let this = crate::event::IncidentLink {
                incident_id: id.clone(),
                detector: d.name.clone(),
                reply_template: d.reply_template.clone(),
            };
            if !decision.replayed {
                self.metrics.incident_links.inc();
            }
            if decision.outcome == crate::claim::DetectOutcome::Opened {
                if !decision.replayed {
                    self.metrics.incidents.with_label_values(&["opened"]).inc();
                    tracing::info!(incident_id = %id, detector = %d.name, events = decision.events, authors = decision.authors, "incident opened");
                }
                outputs.push(records::alert(
                    &topics.alerts,
                    &crate::incident::opened_alert(d, &hit.group, &decision, now),
                    &time,
                ));
                let policy = pipeline.router.sla_policy(d.priority);
                let owner = crate::incident::owner_key(&id);
                let request = ClaimRequest {
                    owner_key: owner.clone(),
                    event_id: format!("incident:{id}:opened"),
                    candidates: vec![d.team.clone()],
                    escalation: pipeline.router.escalation().clone(),
                    on_breach: pipeline.router.on_breach(d.priority).clone(),
                    priority: d.priority,
                    now_ms: now,
                    lease: self.config.claim.lease.0,
                    sla: policy.first_response,
                    resolution: policy.resolution,
                    remember: self.config.claim.remember_events.0,
                };
                let claim = match self
                    .with_retry(shutdown, || self.store.claim(&request))
                    .await
                {
                    Ok(c) => c,
                    Err(None) => return Err(Processed::Abandoned),
                    Err(Some(e)) => {
                        tracing::error!(error = %e, incident_id = %id, "incident owner claim failed");
                        continue;
                    }
                };
                if !claim.replayed {
                    self.metrics
                        .assignments
                        .with_label_values(&[&claim.department, claim.outcome.as_str()])
                        .inc();
                }
                let assignment = AssignmentEvent {
                    sla_deadline_ms: claim.sla_deadline_ms,
                    resolution_due_ms: claim.resolution_due_ms,
                    lease_until_ms: claim.lease_until_ms,
                    routed_department: d.team.department.clone(),
                    route: format!("detector {}", d.name),
                    reasons: vec![format!(
                        "{} events from {} authors within {} for {} (threshold {:?})",
                        decision.events,
                        decision.authors,
                        humantime::format_duration(d.window.0),
                        hit.group,
                        d.threshold
                    )],
                    candidates: vec![d.team.to_string()],
                    replayed: claim.replayed,
                    intent: Some(intent.clone()),
                    source: source.clone(),
                    rules_version: pipeline.rules_version.clone(),
                    incident: Some(this.clone()),
                    ..AssignmentEvent::of_owner(
                        format!("incident:{id}"),
                        owner,
                        claim.outcome,
                        &claim.department,
                        &claim.queue,
                        claim.priority.as_str(),
                        claim.token,
                    )
                };
                outputs.push(records::assignment(&topics.assignments, &assignment, &time));
            }
            // An event hitting several keys is linked to the first incident it is part of.
            link.get_or_insert(this);
        }
        Ok((link, outputs))
    }
}

impl Worker {
    /// Call the claim store until it answers: an unavailable store is retried with backoff
    /// (the event waits; nothing is lost). `Err(None)`: shutting down; `Err(Some(why))`: the
    /// store refused for good (a protocol error).
    async fn with_retry<'a, T>(
        &self,
        shutdown: &mut watch::Receiver<bool>,
        op: impl Fn() -> BoxFuture<'a, Result<T, ClaimError>>,
    ) -> Result<T, Option<String>> {
        let mut backoff = Duration::from_millis(50);
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(ClaimError::Unavailable(e)) => {
                    self.metrics.claim_retries.inc();
                    self.metrics
                        .claim_errors
                        .with_label_values(&["unavailable"])
                        .inc();
                    tracing::warn!(error = %e, retry_in = ?backoff, "claim store unavailable");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => return Err(None),
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e @ ClaimError::Protocol(_)) => {
                    self.metrics
                        .claim_errors
                        .with_label_values(&["protocol"])
                        .inc();
                    return Err(Some(e.to_string()));
                }
            }
        }
    }

    /// One message from `helpdesk.feedback`: applied to its owner (or refused), recorded.
    async fn process_feedback(
        &self,
        msg: &OwnedMessage,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Processed {
        let payload = msg.payload().unwrap_or_default();
        let source = source_of(msg);
        let dead_letter =
            |reason: &str, message: &str| self.dead_letter(msg, reason, Stage::Feedback, message);
        let m = match crate::feedback::parse(payload) {
            Ok(m) => m,
            Err(e) => return Processed::Outputs(vec![dead_letter("invalid_feedback", &e)]),
        };
        let now = crate::normalize::time::now_ms();
        let request = m.request(&self.config, now);
        let r = match self
            .with_retry(shutdown, || self.store.feedback(&request))
            .await
        {
            Ok(r) => r,
            Err(None) => return Processed::Abandoned,
            Err(Some(e)) => return Processed::Outputs(vec![dead_letter("claim_failed", &e)]),
        };
        let applied = r.outcome != FeedbackOutcome::Refused;
        self.metrics.stage(Stage::Feedback, r.outcome.as_str());
        if !r.replayed {
            self.metrics
                .feedback
                .with_label_values(&[m.kind.as_str(), if applied { "applied" } else { "refused" }])
                .inc();
            match r.outcome {
                FeedbackOutcome::Rerouted => self.metrics.bounces.inc(),
                FeedbackOutcome::Escalated => {
                    self.metrics.bounces.inc();
                    self.metrics
                        .escalations
                        .with_label_values(&["bounce_limit"])
                        .inc();
                }
                _ => {}
            }
            if let Some(ms) = r.first_response_ms {
                self.metrics
                    .first_response
                    .observe(ms.max(0) as f64 / 1000.0);
            }
            if matches!(
                r.outcome,
                FeedbackOutcome::Rerouted | FeedbackOutcome::Escalated
            ) {
                self.metrics
                    .assignments
                    .with_label_values(&[&r.department, r.outcome.as_str()])
                    .inc();
            }
        }
        let mut outputs = Vec::new();
        if r.outcome == FeedbackOutcome::Resolved {
            if let Some(id) = m.owner_key.strip_prefix("incident:") {
                match self
                    .with_retry(shutdown, || self.store.close_incident(id, now, "resolved"))
                    .await
                {
                    Ok(Some(closed)) => {
                        self.metrics.incidents.with_label_values(&["closed"]).inc();
                        tracing::info!(incident_id = %id, "incident resolved");
                        outputs.push(records::alert(
                            &self.config.kafka.topics.alerts,
                            &crate::incident::closed_alert(&closed),
                            &records::now_rfc3339(),
                        ));
                    }
                    Ok(None) => {}
                    Err(None) => return Processed::Abandoned,
                    Err(Some(e)) => {
                        tracing::error!(error = %e, incident_id = %id, "closing the incident failed")
                    }
                }
            }
        }
        tracing::info!(
            feedback_id = %m.feedback_id,
            owner_key = %m.owner_key,
            r#type = m.kind.as_str(),
            outcome = r.outcome.as_str(),
            refused = r.refused.map(|x| x.as_str()),
            token = r.token,
            replayed = r.replayed,
            "feedback"
        );
        let mut all = crate::feedback::outputs(&m, &r, &self.config, &source, now);
        all.append(&mut outputs);
        Processed::Outputs(all)
    }
}

/// Produce every output of one event (`kafka::sink`): retriable errors are retried; an output
/// refused for good makes the event a dead letter (`output_rejected`) of its original message.
async fn deliver(
    producer: FutureProducer,
    metrics: Arc<Metrics>,
    topics: Arc<crate::kafka::Topics>,
    max_record_bytes: usize,
    msg: OwnedMessage,
    outputs: Vec<Output>,
) -> Finished {
    let on_retry = |_: &KafkaError| metrics.kafka_errors.with_label_values(&["produce"]).inc();
    let source = SourceCoords {
        topic: msg.topic().to_owned(),
        partition: msg.partition(),
        offset: msg.offset(),
    };
    let dead_letter = |bound: usize, why: &str| {
        let headers = headers_of(&msg);
        records::dead_letter(
            &topics.deadletter,
            msg.key(),
            msg.payload().unwrap_or_default(),
            &headers,
            records::Cause {
                reason: "output_rejected",
                stage: Stage::Produce.as_str(),
                message: why,
            },
            &source,
            bound,
        )
    };
    let outcome = outcome_of(&msg, &outputs, &topics);
    let result = sink::deliver(
        &producer,
        &outputs,
        max_record_bytes,
        dead_letter,
        &on_retry,
    )
    .await
    .map_err(|e| e.to_string());
    Finished {
        topic: source.topic.clone(),
        partition: source.partition,
        offset: source.offset,
        result,
        outcome,
    }
}
