//! The `crm.customers` follower against a real Kafka protocol peer (librdkafka's mock cluster):
//! the start-up catch-up reads a topic of many batches — updates of a customer across batch
//! boundaries, tombstones, bad records — and the index it reports ready is exactly the topic
//! applied in order; after it, live changes go in one at a time; a shutdown stops it.

use outcry::identity::{parse_change, IdentityIndex};
use outcry::kafka::embedded::EmbeddedKafka;
use outcry::kafka::{KafkaConfig, Topics};
use outcry::telemetry::Metrics;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

fn record(i: usize, generation: usize) -> String {
    format!(
        r#"{{"id":"C{i}","name":"Person {i}","emails":["p{i}.{generation}@example.com"],"phones":["+1415{:07}"],"identities":[{{"platform":"x","user_id":"{}","handle":"p{i}g{generation}","verified":true}}],"tier":"{}"}}"#,
        i * 3 + generation,
        1_000_000 + i,
        ["gold", "silver", "standard"][(i + generation) % 3]
    )
}

/// The topic's messages, in the order they are produced (and so, per key, read).
fn messages(n: usize) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push((format!("C{i}"), Some(record(i, 0))));
    }
    // Later changes of the same customers: far behind their first record, so in other batches.
    for i in (0..n).step_by(7) {
        out.push((format!("C{i}"), Some(record(i, 1))));
    }
    for i in (0..n).step_by(11) {
        out.push((format!("C{i}"), None)); // tombstone
    }
    for i in (0..n).step_by(1_000) {
        out.push((format!("bad{i}"), Some("{not json".to_owned())));
    }
    // Deleted, then back.
    for i in (0..n).step_by(77) {
        out.push((format!("C{i}"), Some(record(i, 2))));
    }
    out
}

fn produce(bootstrap: &str, topic: &str, messages: &[(String, Option<String>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()
        .unwrap();
    for (key, payload) in messages {
        let mut rec = BaseRecord::<String, String>::to(topic).key(key);
        if let Some(p) = payload {
            rec = rec.payload(p);
        }
        while let Err((_, r)) = producer.send(rec) {
            producer.poll(Duration::from_millis(10));
            rec = r;
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

async fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catch_up_is_the_topic_applied_in_order_then_changes_go_live() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let topic = "crm.customers";
    kafka.create_topic(topic, 4).unwrap();
    // Over 40,000 messages: several catch-up batches (16,384 messages each).
    let n = 36_000;
    let msgs = messages(n);
    produce(kafka.bootstrap_servers(), topic, &msgs);

    // What the topic means, applied one change at a time in order.
    let mut expected = IdentityIndex::new();
    let mut bad = 0;
    for (key, payload) in &msgs {
        match parse_change(Some(key.as_bytes()), payload.as_deref().map(str::as_bytes)) {
            Ok(change) => expected.apply(change),
            Err(_) => bad += 1,
        }
    }
    assert_eq!(bad, n.div_ceil(1_000));

    let config = follow_config(kafka.bootstrap_servers(), topic);
    let index = Arc::new(RwLock::new(IdentityIndex::new()));
    let metrics = Metrics::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let follower = tokio::spawn(outcry::kafka::customers::follow(
        config,
        Arc::clone(&index),
        Arc::clone(&metrics),
        tx,
        stopped,
    ));
    let reported = tokio::time::timeout(Duration::from_secs(60), rx)
        .await
        .expect("caught up in time")
        .expect("caught up");

    // Ready means everything up to the start-time end is in the index: nothing still on its
    // way, every later change and tombstone won, bad records skipped and counted.
    {
        let ix = index.read().unwrap();
        assert_eq!(reported, expected.len());
        assert_eq!(ix.len(), expected.len());
        for i in 0..n {
            let id = format!("C{i}");
            assert_eq!(ix.get(&id), expected.get(&id), "{id}");
        }
        assert!(ix.get("C11").is_none(), "a tombstone deletes");
        assert!(ix.get("C77").is_some(), "deleted, then back");
    }
    let changes = |what: &str| metrics.customer_changes.with_label_values(&[what]).get();
    assert_eq!(changes("invalid"), bad as u64);
    assert_eq!(changes("applied"), (msgs.len() - bad) as u64);

    // After the catch-up: changes apply as they come.
    produce(
        kafka.bootstrap_servers(),
        topic,
        &[
            ("C1".into(), None),
            (
                "C-live".into(),
                Some(record(7_777_777, 0).replace("C7777777", "C-live")),
            ),
        ],
    );
    wait_until("the live changes", || {
        let ix = index.read().unwrap();
        ix.get("C-live").is_some() && ix.get("C1").is_none()
    })
    .await;
    assert_eq!(index.read().unwrap().len(), expected.len());

    // A shutdown stops it.
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("the follower stops on shutdown")
        .unwrap()
        .unwrap();
}

/// A shutdown during the catch-up stops the follower without reporting it caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_during_the_catch_up_stops_it() {
    let kafka = EmbeddedKafka::start(1).unwrap();
    let topic = "crm.customers";
    kafka.create_topic(topic, 2).unwrap();
    produce(kafka.bootstrap_servers(), topic, &messages(5_000));
    let config = follow_config(kafka.bootstrap_servers(), topic);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::watch::channel(true); // already stopping
    let follower = tokio::spawn(outcry::kafka::customers::follow(
        config,
        Arc::new(RwLock::new(IdentityIndex::new())),
        Metrics::new(),
        tx,
        stopped,
    ));
    tokio::time::timeout(Duration::from_secs(10), follower)
        .await
        .expect("stops")
        .unwrap()
        .unwrap();
    assert!(rx.await.is_err(), "never reported caught up");
    drop(stop);
}

/// The worker's Kafka section, pointed at this broker and customers topic.
fn follow_config(brokers: &str, topic: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_owned(),
        topics: Topics {
            customers: topic.to_owned(),
            ..Default::default()
        },
        ..Default::default()
    }
}
