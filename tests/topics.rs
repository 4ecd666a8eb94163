//! `outcry topics` against the standalone broker tansu (librdkafka's mock cluster does not answer
//! CreateTopics): the configured topics exist afterwards with the partitions asked for, and a
//! second run changes nothing and still succeeds.

mod common;

use outcry::kafka::admin::{self, TopicOutcome};
use outcry::kafka::unique_suffix;
use outcry::kafka::{KafkaConfig, Topics};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn partitions_in_cluster(bootstrap: &str) -> BTreeMap<String, usize> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = c.fetch_metadata(None, Duration::from_secs(10)).unwrap();
    md.topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect()
}

fn topics_with_suffix() -> Topics {
    let s = unique_suffix();
    Topics {
        raw: format!("social.raw.{s}"),
        customers: format!("crm.customers.{s}"),
        assignments: format!("outcry.assignments.{s}"),
        interactions: format!("outcry.interactions.{s}"),
        deadletter: format!("outcry.deadletter.{s}"),
        feedback: format!("helpdesk.feedback.{s}"),
        alerts: format!("outcry.alerts.{s}"),
    }
}

#[tokio::test]
async fn creates_every_configured_topic_and_a_second_run_is_idempotent() {
    let kafka = common::Tansu::start();
    let bootstrap = kafka.bootstrap();
    let k = KafkaConfig {
        brokers: bootstrap.clone(),
        topics: topics_with_suffix(),
        ..KafkaConfig::default()
    };
    let plan = admin::plan(&k.topics, 3);
    assert_eq!(plan.len(), 7);
    let timeout = Duration::from_secs(10);

    let dry = admin::ensure_topics(&k, &plan, None, true, timeout)
        .await
        .unwrap();
    assert!(dry
        .topics
        .iter()
        .all(|(_, o)| *o == TopicOutcome::WouldCreate));
    let before = partitions_in_cluster(&bootstrap);
    assert!(
        plan.iter().all(|p| !before.contains_key(&p.name)),
        "a dry run creates nothing: {before:?}"
    );

    let first = admin::ensure_topics(&k, &plan, None, false, timeout)
        .await
        .unwrap();
    assert_eq!(first.replication, 1, "one broker: one replica by default");
    for (p, o) in &first.topics {
        assert_eq!(*o, TopicOutcome::Created, "{}", p.name);
    }
    let after = partitions_in_cluster(&bootstrap);
    for p in &plan {
        assert_eq!(after.get(&p.name), Some(&3), "{} with 3 partitions", p.name);
    }

    // Again, with another partition count: everything exists and is left as it is.
    let plan6 = admin::plan(&k.topics, 6);
    let second = admin::ensure_topics(&k, &plan6, None, false, timeout)
        .await
        .unwrap();
    assert_eq!(second.failed(), 0);
    for (p, o) in &second.topics {
        assert_eq!(*o, TopicOutcome::Exists { partitions: 3 }, "{}", p.name);
    }
    assert!(second.render().contains("exists with 3 partitions (not 6)"));
    assert_eq!(partitions_in_cluster(&bootstrap), after);
}

#[test]
fn unreachable_brokers_are_reported_as_such() {
    let k = KafkaConfig {
        brokers: format!("127.0.0.1:{}", free_port()),
        ..KafkaConfig::default()
    };
    let plan = admin::plan(&k.topics, 1);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(admin::ensure_topics(
            &k,
            &plan,
            None,
            false,
            Duration::from_secs(2),
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("cannot reach the brokers"),
        "{err}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// The subcommand as a user runs it: a config file naming the topics, then the same again.
#[test]
fn the_subcommand_creates_then_reports_existing_topics() {
    let kafka = common::Tansu::start();
    let bootstrap = kafka.bootstrap();
    let t = topics_with_suffix();
    let dir = std::env::temp_dir().join(format!("outcry-topics-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("outcry.toml");
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbrokers = \"{}\"\n[kafka.topics]\nraw = \"{}\"\ncustomers = \"{}\"\n\
             assignments = \"{}\"\ninteractions = \"{}\"\ndeadletter = \"{}\"\nfeedback = \"{}\"\n\
             alerts = \"{}\"\n",
            bootstrap,
            t.raw,
            t.customers,
            t.assignments,
            t.interactions,
            t.deadletter,
            t.feedback,
            t.alerts
        ),
    )
    .unwrap();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_outcry"))
            .args(["topics", "--partitions", "2", "--config"])
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, stdout, stderr) = run();
    assert!(ok, "{stdout}{stderr}");
    assert_eq!(
        stdout.matches("created (2 partitions").count(),
        7,
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{:<24} [customers]", t.customers))
            && stdout.contains("cleanup.policy=compact"),
        "{stdout}"
    );
    let md = partitions_in_cluster(&bootstrap);
    assert_eq!(md.get(&t.raw), Some(&2));
    assert_eq!(md.get(&t.customers), Some(&2));

    let (ok, stdout, stderr) = run();
    assert!(ok, "a second run succeeds: {stdout}{stderr}");
    assert_eq!(
        stdout.matches("exists (2 partitions)").count(),
        7,
        "{stdout}"
    );
    assert!(!stdout.contains("created"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
