//! Follows the compacted `crm.customers` topic into the identity index. Every worker reads the
//! whole topic (a throwaway group, explicit assignment from the beginning, no commits); the
//! worker waits for the first catch-up before consuming events.
//!
//! The catch-up (up to the end offsets the topic had at start) reads messages into batches
//! that the index parses on every core and applies in topic order
//! ([`IdentityIndex::apply_batch`]), one batch being applied while the next one is read; the
//! index is sized from the end offsets first. After it, changes are applied one at a time.

use crate::config::Config;
use crate::identity::{parse_change, ChangeBatch, IdentityIndex};
use crate::telemetry::Metrics;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A catch-up batch is applied when it holds this many messages or bytes.
const BATCH_MESSAGES: usize = 65_536;
const BATCH_BYTES: usize = 64 << 20;

/// The catch-up batch being read, and the one being applied.
struct CatchUp {
    index: Arc<RwLock<IdentityIndex>>,
    metrics: Arc<Metrics>,
    batch: ChangeBatch,
    /// Partition and offset of each message of `batch`, to log the bad ones.
    coords: Vec<(i32, i64)>,
    applying: Option<JoinHandle<()>>,
}

impl CatchUp {
    fn full(&self) -> bool {
        self.batch.len() >= BATCH_MESSAGES || self.batch.byte_len() >= BATCH_BYTES
    }

    /// Start applying the batch read so far, after the one before it (topic order).
    async fn flush(&mut self) {
        self.wait().await;
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let coords = std::mem::take(&mut self.coords);
        let index = Arc::clone(&self.index);
        let metrics = Arc::clone(&self.metrics);
        self.applying = Some(tokio::task::spawn_blocking(move || {
            let report = {
                let mut ix = index.write().expect("identity index lock");
                let report = ix.apply_batch(&batch);
                metrics.identity_customers.set(ix.len() as i64);
                report
            };
            let changes = &metrics.customer_changes;
            changes
                .with_label_values(&["applied"])
                .inc_by(report.applied as u64);
            changes
                .with_label_values(&["invalid"])
                .inc_by(report.problems.len() as u64);
            for (i, error) in report.problems {
                let (partition, offset) = coords[i];
                tracing::warn!(partition, offset, %error, "skipping bad customer record");
            }
        }));
    }

    /// Wait until the batch being applied is in the index.
    async fn wait(&mut self) {
        if let Some(h) = self.applying.take() {
            h.await.expect("identity batch task");
        }
    }

    /// Apply everything read so far and wait for it.
    async fn finish(&mut self) {
        self.flush().await;
        self.wait().await;
    }
}

/// Read the customers topic until `shutdown`; send on `caught_up` once every partition has been
/// read up to the high watermark it had when we started (or at once if the topic is missing
/// or empty).
pub async fn follow(
    config: Config,
    index: Arc<RwLock<IdentityIndex>>,
    metrics: Arc<Metrics>,
    caught_up: oneshot::Sender<usize>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), rdkafka::error::KafkaError> {
    let topic = config.kafka.topics.customers.clone();
    // The same brokers and security (SASL, TLS) as every other client of the worker.
    let mut cc = super::client_config(&config.kafka);
    cc.set(
        "group.id",
        format!("{}-crm-{}", config.kafka.group_id, super::unique_suffix()),
    )
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false");
    for (k, v) in &config.kafka.consumer {
        if k != "group.id" && k != "group.instance.id" {
            cc.set(k, v);
        }
    }
    let consumer: Arc<StreamConsumer> = Arc::new(cc.create()?);
    // Metadata and watermark calls block: keep them off the async threads.
    let (partitions, watermarks) = {
        let c = Arc::clone(&consumer);
        let topic = topic.clone();
        let index = Arc::clone(&index);
        tokio::task::spawn_blocking(move || -> Result<_, rdkafka::error::KafkaError> {
            let metadata = c.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic && t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            let mut watermarks = Vec::new();
            for &p in &partitions {
                watermarks.push((p, c.fetch_watermarks(&topic, p, Duration::from_secs(10))?));
            }
            // The catch-up reads at most this many records: size an empty index for them
            // (updates of one customer and compacted-away offsets make it an upper bound).
            let records: i64 = watermarks.iter().map(|(_, (low, high))| high - low).sum();
            let mut ix = index.write().expect("identity index lock");
            if ix.is_empty() && records > 0 {
                ix.reserve(records as usize);
            }
            drop(ix);
            Ok((partitions, watermarks))
        })
        .await
        .expect("metadata task")?
    };
    let mut caught_up = Some(caught_up);
    let mut pending: HashMap<i32, i64> = HashMap::new();
    let mut tpl = TopicPartitionList::new();
    for (p, (low, high)) in watermarks {
        if high > low {
            pending.insert(p, high);
        }
        tpl.add_partition_offset(&topic, p, Offset::Beginning)?;
    }
    let report = |caught_up: &mut Option<oneshot::Sender<usize>>| {
        if let Some(tx) = caught_up.take() {
            let n = index.read().map(|ix| ix.len()).unwrap_or(0);
            let _ = tx.send(n);
        }
    };
    if partitions.is_empty() {
        tracing::warn!(%topic, "customers topic not found; using the snapshot only");
        report(&mut caught_up);
        return Ok(());
    }
    consumer.assign(&tpl)?;
    if pending.is_empty() {
        report(&mut caught_up);
    }
    // The position passes what is never delivered (transaction markers, compacted-away
    // records), so it is checked too, not only the offsets of the messages read.
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut catch_up = CatchUp {
        index: Arc::clone(&index),
        metrics: Arc::clone(&metrics),
        batch: ChangeBatch::new(),
        coords: Vec::new(),
        applying: None,
    };
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = tick.tick(), if !pending.is_empty() => {
                // What was read so far goes into the index (a slow topic still makes progress).
                catch_up.flush().await;
                if let Ok(positions) = consumer.position() {
                    for e in positions.elements_for_topic(&topic) {
                        if let (Offset::Offset(at), Some(high)) = (e.offset(), pending.get(&e.partition())) {
                            if at >= *high {
                                pending.remove(&e.partition());
                            }
                        }
                    }
                    if pending.is_empty() {
                        catch_up.finish().await;
                        report(&mut caught_up);
                    }
                }
            }
            msg = consumer.recv() => {
                let msg = match msg {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "customers topic read failed");
                        continue;
                    }
                };
                if !pending.is_empty() {
                    // Catching up: read into the batch; applied in order, in bulk.
                    catch_up.batch.push(msg.key(), msg.payload());
                    catch_up.coords.push((msg.partition(), msg.offset()));
                    if let Some(high) = pending.get(&msg.partition()) {
                        if msg.offset() + 1 >= *high {
                            pending.remove(&msg.partition());
                        }
                    }
                    drop(msg);
                    if pending.is_empty() {
                        catch_up.finish().await;
                        report(&mut caught_up);
                    } else if catch_up.full() {
                        catch_up.flush().await;
                    }
                    continue;
                }
                // Live: one change at a time.
                match parse_change(msg.key(), msg.payload()) {
                    Ok(change) => {
                        let mut ix = index.write().expect("identity index lock");
                        ix.apply(change);
                        metrics.identity_customers.set(ix.len() as i64);
                        metrics.customer_changes.with_label_values(&["applied"]).inc();
                    }
                    Err(e) => {
                        metrics.customer_changes.with_label_values(&["invalid"]).inc();
                        tracing::warn!(partition = msg.partition(), offset = msg.offset(), error = %e, "skipping bad customer record");
                    }
                }
            }
        }
    }
}
