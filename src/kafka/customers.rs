//! Follows the compacted `crm.customers` topic into the identity index. Every worker reads the
//! whole topic (a throwaway group, explicit assignment from the beginning, no commits); the
//! worker waits for the first catch-up before consuming events.
//!
//! The follower runs on a thread of its own (a blocking consumer, polled). The catch-up (up to
//! the end offsets the topic had at start) copies messages into batches that a second thread
//! feeds to one [`Loader`]: each batch is parsed on every core while the one before it goes
//! into the index, and batches are read while that happens — reading, parsing and inserting
//! overlap, in topic order. The index is sized from the end offsets first. After the catch-up,
//! changes are applied one at a time, as they come.
//!
//! It owns the `[crm]` section of the configuration ([`CrmConfig`]): the snapshot read at start
//! and whether (and how patiently) the topic is followed.

use super::KafkaConfig;
use crate::identity::{parse_change, ChangeBatch, IdentityIndex, Loader};
use crate::settings::HumanDuration;
use crate::telemetry::Metrics;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// A catch-up batch is handed to the loader when it holds this many messages or bytes, or when
/// the topic has nothing more for now.
const BATCH_MESSAGES: usize = 16_384;
const BATCH_BYTES: usize = 16 << 20;
/// Batches read ahead of the one being loaded.
const READ_AHEAD: usize = 4;
/// How long one poll waits for a message (and so how soon a shutdown is seen).
const POLL: Duration = Duration::from_millis(100);

/// The `[crm]` section: where the customers come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    /// JSONL (or `.csv`) customer snapshot loaded at start (relative paths: relative to the config file).
    pub snapshot: Option<PathBuf>,
    /// Read `crm.customers` from the beginning before consuming events.
    pub follow_topic: bool,
    /// While start-up reads the CRM topic to its end, log a warning this often (it keeps
    /// waiting: a worker is not ready and consumes no event before the index has caught up).
    pub catch_up_warn_after: HumanDuration,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            snapshot: None,
            follow_topic: true,
            catch_up_warn_after: HumanDuration::builtin("30s"),
        }
    }
}

/// Read the customers topic until `shutdown`; send on `caught_up` once every partition has been
/// read up to the high watermark it had when we started (or at once if the topic is missing
/// or empty).
pub async fn follow(
    config: KafkaConfig,
    index: Arc<RwLock<IdentityIndex>>,
    metrics: Arc<Metrics>,
    caught_up: oneshot::Sender<usize>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), KafkaError> {
    let follower = tokio::task::spawn_blocking(move || {
        Follower {
            config,
            index,
            metrics,
            shutdown,
        }
        .run(caught_up)
    });
    match follower.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Ok(()),
    }
}

struct Follower {
    config: KafkaConfig,
    index: Arc<RwLock<IdentityIndex>>,
    metrics: Arc<Metrics>,
    shutdown: watch::Receiver<bool>,
}

/// What the reading thread hands the loading one: messages, and where each came from (to log
/// the bad ones).
struct Batch {
    changes: ChangeBatch,
    coords: Vec<(i32, i64)>,
}

impl Follower {
    fn stopping(&self) -> bool {
        self.shutdown.has_changed().is_err() || *self.shutdown.borrow()
    }

    fn report(&self, caught_up: &mut Option<oneshot::Sender<usize>>) {
        if let Some(tx) = caught_up.take() {
            let n = self.index.read().map(|ix| ix.len()).unwrap_or(0);
            let _ = tx.send(n);
        }
    }

    fn run(self, caught_up: oneshot::Sender<usize>) -> Result<(), KafkaError> {
        let topic = self.config.topics.customers.clone();
        // The same brokers and security (SASL, TLS) as every other client of the worker.
        let mut cc = super::client_config(&self.config);
        cc.set(
            "group.id",
            format!("{}-crm-{}", self.config.group_id, super::unique_suffix()),
        )
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        // librdkafka stops fetching a partition for this long when its local queue is full
        // (default 1 s): reading faster than the index is built, the catch-up would stall on
        // every such pause (2M customers from tansu: 6.3 s with the default, 3.7 s with this).
        .set("fetch.queue.backoff.ms", "10");
        for (k, v) in &self.config.consumer {
            if k != "group.id" && k != "group.instance.id" {
                cc.set(k, v);
            }
        }
        let consumer: BaseConsumer = cc.create()?;
        let metadata = consumer.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut caught_up = Some(caught_up);
        if partitions.is_empty() {
            tracing::warn!(%topic, "customers topic not found; using the snapshot only");
            self.report(&mut caught_up);
            return Ok(());
        }
        let mut pending: HashMap<i32, i64> = HashMap::new();
        let mut tpl = TopicPartitionList::new();
        let mut records = 0;
        for &p in &partitions {
            let (low, high) = consumer.fetch_watermarks(&topic, p, Duration::from_secs(10))?;
            if high > low {
                pending.insert(p, high);
                records += high - low;
            }
            tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
        }
        // The catch-up reads at most this many records: size an empty index for them (updates
        // of one customer and compacted-away offsets make it an upper bound).
        {
            let mut ix = self.index.write().expect("identity index lock");
            if ix.is_empty() && records > 0 {
                ix.reserve(records as usize);
            }
        }
        consumer.assign(&tpl)?;
        if !pending.is_empty() && !self.catch_up(&consumer, &topic, pending, records)? {
            return Ok(()); // stopped first
        }
        self.report(&mut caught_up);
        self.live(&consumer)
    }

    /// Read up to the start-time end offsets (`pending`), loading in bulk. False: stopped first.
    fn catch_up(
        &self,
        consumer: &BaseConsumer,
        topic: &str,
        mut pending: HashMap<i32, i64>,
        records: i64,
    ) -> Result<bool, KafkaError> {
        let started = Instant::now();
        let (to_loader, batches) = mpsc::sync_channel::<Batch>(READ_AHEAD);
        let (recycle, emptied) = mpsc::channel::<Batch>();
        std::thread::scope(|s| {
            let loader = std::thread::Builder::new()
                .name("crm-loader".into())
                .spawn_scoped(s, move || self.load(batches, recycle))
                .expect("crm loader thread");
            let fresh = || {
                emptied.try_recv().unwrap_or_else(|_| Batch {
                    changes: ChangeBatch::new(),
                    coords: Vec::new(),
                })
            };
            let mut batch = fresh();
            let mut read = 0u64;
            let mut checked = Instant::now();
            let mut progress = Instant::now();
            let mut stopped = false;
            while !pending.is_empty() {
                if self.stopping() {
                    stopped = true;
                    break;
                }
                match consumer.poll(POLL) {
                    Some(Ok(msg)) => {
                        batch.changes.push(msg.key(), msg.payload());
                        batch.coords.push((msg.partition(), msg.offset()));
                        read += 1;
                        if let Some(high) = pending.get(&msg.partition()) {
                            if msg.offset() + 1 >= *high {
                                pending.remove(&msg.partition());
                            }
                        }
                    }
                    Some(Err(e)) => tracing::warn!(error = %e, "customers topic read failed"),
                    None => {}
                }
                let idle = batch.changes.is_empty();
                // A full batch goes to the loader; so does a partial one when the topic is
                // slow (checked below, every 200 ms — the clock read every 256 messages at
                // most), so that it still makes progress.
                let tick = (idle || read.is_multiple_of(256))
                    && checked.elapsed() >= Duration::from_millis(200);
                let send = !idle
                    && (batch.changes.len() >= BATCH_MESSAGES
                        || batch.changes.byte_len() >= BATCH_BYTES
                        || pending.is_empty()
                        || tick);
                if send
                    && to_loader
                        .send(std::mem::replace(&mut batch, fresh()))
                        .is_err()
                {
                    break; // the loader died; its panic is raised below
                }
                if tick {
                    checked = Instant::now();
                    // The position passes what is never delivered (transaction markers,
                    // compacted-away records), so it is checked too, not only the offsets of
                    // the messages read.
                    if let Ok(positions) = consumer.position() {
                        for e in positions.elements_for_topic(topic) {
                            if let (Offset::Offset(at), Some(high)) =
                                (e.offset(), pending.get(&e.partition()))
                            {
                                if at >= *high {
                                    pending.remove(&e.partition());
                                }
                            }
                        }
                    }
                    if progress.elapsed() >= Duration::from_secs(5) {
                        progress = Instant::now();
                        tracing::info!(
                            read,
                            of_at_most = records,
                            partitions_left = pending.len(),
                            "reading crm.customers"
                        );
                    }
                }
            }
            if !stopped && !batch.changes.is_empty() {
                let _ = to_loader.send(batch);
            }
            drop(to_loader);
            if let Err(panic) = loader.join() {
                std::panic::resume_unwind(panic);
            }
            if !stopped {
                let customers = self.index.read().map(|ix| ix.len()).unwrap_or(0);
                let seconds = started.elapsed().as_secs_f64();
                tracing::info!(
                    records = read,
                    customers,
                    seconds,
                    per_second = (read as f64 / seconds.max(1e-9)) as u64,
                    "read crm.customers to its end"
                );
            }
            Ok(!stopped)
        })
    }

    /// The loading thread of the catch-up: every batch through one loader, in order.
    fn load(&self, batches: mpsc::Receiver<Batch>, recycle: mpsc::Sender<Batch>) {
        let mut loader = Loader::new();
        let changes = &self.metrics.customer_changes;
        for mut batch in batches {
            let report = {
                let mut ix = self.index.write().expect("identity index lock");
                let report = ix.load_batch(&mut loader, &batch.changes);
                self.metrics.identity_customers.set(ix.len() as i64);
                report
            };
            changes
                .with_label_values(&["applied"])
                .inc_by(report.applied as u64);
            changes
                .with_label_values(&["invalid"])
                .inc_by(report.problems.len() as u64);
            for (i, error) in report.problems {
                let (partition, offset) = batch.coords[i];
                tracing::warn!(partition, offset, %error, "skipping bad customer record");
            }
            batch.changes.clear();
            batch.coords.clear();
            let _ = recycle.send(batch);
        }
        let mut ix = self.index.write().expect("identity index lock");
        ix.finish_load(&mut loader);
        self.metrics.identity_customers.set(ix.len() as i64);
    }

    /// After the catch-up: one change at a time, as they come.
    fn live(&self, consumer: &BaseConsumer) -> Result<(), KafkaError> {
        while !self.stopping() {
            let msg = match consumer.poll(POLL) {
                None => continue,
                Some(Ok(m)) => m,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "customers topic read failed");
                    continue;
                }
            };
            match parse_change(msg.key(), msg.payload()) {
                Ok(change) => {
                    let mut ix = self.index.write().expect("identity index lock");
                    ix.apply(change);
                    self.metrics.identity_customers.set(ix.len() as i64);
                    self.metrics
                        .customer_changes
                        .with_label_values(&["applied"])
                        .inc();
                }
                Err(e) => {
                    self.metrics
                        .customer_changes
                        .with_label_values(&["invalid"])
                        .inc();
                    tracing::warn!(partition = msg.partition(), offset = msg.offset(), error = %e, "skipping bad customer record");
                }
            }
        }
        Ok(())
    }
}
