//! Follows the compacted `crm.customers` topic into the identity index. Every worker reads the
//! whole topic (a throwaway group, explicit assignment from the beginning, no commits); the
//! worker waits for the first catch-up before consuming events.

use crate::config::Config;
use crate::identity::{parse_change, IdentityIndex};
use crate::telemetry::Metrics;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{oneshot, watch};

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
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &config.kafka.brokers)
        .set(
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
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = tick.tick(), if !pending.is_empty() => {
                if let Ok(positions) = consumer.position() {
                    for e in positions.elements_for_topic(&topic) {
                        if let (Offset::Offset(at), Some(high)) = (e.offset(), pending.get(&e.partition())) {
                            if at >= *high {
                                pending.remove(&e.partition());
                            }
                        }
                    }
                    if pending.is_empty() {
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
                if let Some(high) = pending.get(&msg.partition()) {
                    if msg.offset() + 1 >= *high {
                        pending.remove(&msg.partition());
                        if pending.is_empty() {
                            report(&mut caught_up);
                        }
                    }
                }
            }
        }
    }
}
