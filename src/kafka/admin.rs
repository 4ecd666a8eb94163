//! admin: create the topics a configuration names (`outcry topics`), with rdkafka's
//! AdminClient. Topics that exist already are reported, never altered; the CRM topic is
//! compacted (`cleanup.policy=compact`: the latest record per customer is the CRM's state).

use super::{KafkaConfig, Topics};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// One topic to create: its name, which `kafka.topics` keys name it, and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicPlan {
    pub name: String,
    /// The `kafka.topics` keys that name this topic (several if the config reuses a name).
    pub roles: Vec<&'static str>,
    pub partitions: i32,
    /// Topic-level configuration (`cleanup.policy`, ...).
    pub config: Vec<(&'static str, &'static str)>,
}

/// What happened to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    /// It was there already, with this many partitions; left as it is.
    Exists {
        partitions: usize,
    },
    /// `--dry-run`: it is missing and would be created.
    WouldCreate,
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("kafka admin client: {0}")]
    Client(KafkaError),
    #[error("cannot reach the brokers at {brokers} within {timeout:?}: {error} (are `kafka.brokers` and the security settings right?)")]
    Unreachable {
        brokers: String,
        timeout: Duration,
        error: KafkaError,
    },
    #[error("--partitions {0}: give at least 1")]
    Partitions(i32),
    #[error("--replication {0}: give at least 1")]
    Replication(i32),
}

/// Every topic of `kafka.topics`, each once, in the order of the config's keys.
pub fn plan(topics: &Topics, partitions: i32) -> Vec<TopicPlan> {
    let named = [
        ("raw", &topics.raw),
        ("customers", &topics.customers),
        ("feedback", &topics.feedback),
        ("assignments", &topics.assignments),
        ("interactions", &topics.interactions),
        ("alerts", &topics.alerts),
        ("deadletter", &topics.deadletter),
    ];
    let mut out: Vec<TopicPlan> = Vec::new();
    for (role, name) in named {
        if let Some(p) = out.iter_mut().find(|p| &p.name == name) {
            p.roles.push(role);
        } else {
            out.push(TopicPlan {
                name: name.clone(),
                roles: vec![role],
                partitions,
                config: Vec::new(),
            });
        }
        if role == "customers" {
            let p = out
                .iter_mut()
                .find(|p| &p.name == name)
                .expect("just added");
            p.config.push(("cleanup.policy", "compact"));
        }
    }
    out
}

/// The replication factor to use: the one asked for, else 3, or the number of brokers when
/// the cluster has fewer (a single development broker gets 1).
pub fn default_replication(asked: Option<i32>, brokers: usize) -> i32 {
    asked.unwrap_or_else(|| (brokers.clamp(1, 3)) as i32)
}

/// What [`ensure_topics`] found and did.
#[derive(Debug)]
pub struct Report {
    pub brokers: usize,
    pub replication: i32,
    pub topics: Vec<(TopicPlan, TopicOutcome)>,
}

impl Report {
    pub fn failed(&self) -> usize {
        self.topics
            .iter()
            .filter(|(_, o)| matches!(o, TopicOutcome::Failed(_)))
            .count()
    }

    /// One line per topic, for people.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (p, o) in &self.topics {
            let settings = p
                .config
                .iter()
                .map(|(k, v)| format!(", {k}={v}"))
                .collect::<String>();
            let what = match o {
                TopicOutcome::Created => format!(
                    "created ({} partitions, replication {}{settings})",
                    p.partitions, self.replication
                ),
                TopicOutcome::WouldCreate => format!(
                    "missing: would create ({} partitions, replication {}{settings})",
                    p.partitions, self.replication
                ),
                TopicOutcome::Exists { partitions } if *partitions as i32 != p.partitions => {
                    format!(
                        "exists with {partitions} partitions (not {}); left as it is",
                        p.partitions
                    )
                }
                TopicOutcome::Exists { partitions } => {
                    format!("exists ({partitions} partitions); left as it is")
                }
                TopicOutcome::Failed(e) => format!("FAILED: {e}"),
            };
            s.push_str(&format!(
                "{:<24} {:<22} {what}\n",
                p.name,
                format!("[{}]", p.roles.join(", "))
            ));
        }
        s
    }
}

/// The partition count of every topic in the cluster, and the number of brokers.
fn cluster_topics(
    admin: &AdminClient<DefaultClientContext>,
    timeout: Duration,
) -> Result<(BTreeMap<String, usize>, usize), KafkaError> {
    // All topics (None): asking for named topics could auto-create them on some brokers.
    let md = admin.inner().fetch_metadata(None, timeout)?;
    let topics = md
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_owned(), t.partitions().len()))
        .collect();
    Ok((topics, md.brokers().len()))
}

/// Create every topic of `plan` that the cluster lacks; report the others. With `dry_run`,
/// only look. Waits (within `timeout`) until created topics show in the metadata, so that a
/// client started next finds them.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    plan: &[TopicPlan],
    replication: Option<i32>,
    dry_run: bool,
    timeout: Duration,
) -> Result<Report, AdminError> {
    if let Some(p) = plan.iter().find(|p| p.partitions < 1) {
        return Err(AdminError::Partitions(p.partitions));
    }
    if let Some(r) = replication.filter(|r| *r < 1) {
        return Err(AdminError::Replication(r));
    }
    let admin: AdminClient<DefaultClientContext> = super::client_config(kafka)
        .set("log_level", "3")
        .create()
        .map_err(AdminError::Client)?;
    // Metadata requests block briefly; an admin command has nothing else to run meanwhile.
    let (existing, brokers) =
        cluster_topics(&admin, timeout).map_err(|error| AdminError::Unreachable {
            brokers: kafka.brokers.clone(),
            timeout,
            error,
        })?;
    let replication = default_replication(replication, brokers);
    let mut outcomes: Vec<TopicOutcome> = plan
        .iter()
        .map(|p| match existing.get(&p.name) {
            Some(n) => TopicOutcome::Exists { partitions: *n },
            None if dry_run => TopicOutcome::WouldCreate,
            None => TopicOutcome::Created,
        })
        .collect();
    let missing: Vec<usize> = (0..plan.len())
        .filter(|i| outcomes[*i] == TopicOutcome::Created)
        .collect();
    if !missing.is_empty() {
        let specs: Vec<NewTopic> = missing
            .iter()
            .map(|i| {
                let p = &plan[*i];
                p.config.iter().fold(
                    NewTopic::new(&p.name, p.partitions, TopicReplication::Fixed(replication)),
                    |t, (k, v)| t.set(k, v),
                )
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(timeout));
        let results = admin
            .create_topics(&specs, &opts)
            .await
            .map_err(AdminError::Client)?;
        for r in results {
            let (name, outcome) = match r {
                Ok(name) => (name, TopicOutcome::Created),
                // Created by someone else meanwhile: as good as existing.
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    let partitions = plan
                        .iter()
                        .find(|p| p.name == name)
                        .map_or(0, |p| p.partitions as usize);
                    (name, TopicOutcome::Exists { partitions })
                }
                Err((name, code)) => (name, TopicOutcome::Failed(describe(code))),
            };
            if let Some(i) = plan.iter().position(|p| p.name == name) {
                outcomes[i] = outcome;
            }
        }
        // Created topics take a moment to show in every broker's metadata.
        let deadline = Instant::now() + timeout;
        loop {
            let seen = cluster_topics(&admin, timeout)
                .map(|(t, _)| t)
                .unwrap_or_default();
            let pending: Vec<&TopicPlan> = plan
                .iter()
                .zip(&outcomes)
                .filter(|(p, o)| **o == TopicOutcome::Created && !seen.contains_key(&p.name))
                .map(|(p, _)| p)
                .collect();
            if pending.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                for (p, o) in plan.iter().zip(outcomes.iter_mut()) {
                    if pending.iter().any(|q| q.name == p.name) {
                        *o = TopicOutcome::Failed(format!(
                            "created, but not in the cluster's metadata after {timeout:?}"
                        ));
                    }
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(Report {
        brokers,
        replication,
        topics: plan.iter().cloned().zip(outcomes).collect(),
    })
}

fn describe(code: RDKafkaErrorCode) -> String {
    let hint = match code {
        RDKafkaErrorCode::InvalidReplicationFactor => {
            " (more replicas than brokers? see --replication)"
        }
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            " (the principal needs the CREATE permission on the cluster or topic)"
        }
        RDKafkaErrorCode::PolicyViolation => " (refused by the cluster's topic policy)",
        RDKafkaErrorCode::InvalidConfig => " (a topic setting the broker does not accept)",
        _ => "",
    };
    format!("{code}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_every_topic_once_with_the_crm_topic_compacted() {
        let p = plan(&Topics::default(), 4);
        let names: Vec<&str> = p.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "social.raw",
                "crm.customers",
                "helpdesk.feedback",
                "outcry.assignments",
                "outcry.interactions",
                "outcry.alerts",
                "outcry.deadletter"
            ]
        );
        assert!(p.iter().all(|t| t.partitions == 4));
        for t in &p {
            let compact = t.config.contains(&("cleanup.policy", "compact"));
            assert_eq!(compact, t.name == "crm.customers", "{}", t.name);
        }
    }

    #[test]
    fn a_name_used_twice_is_planned_once_and_keeps_compaction() {
        let topics = Topics {
            customers: "shared".into(),
            deadletter: "shared".into(),
            ..Topics::default()
        };
        let p = plan(&topics, 1);
        assert_eq!(p.len(), 6);
        let shared = p.iter().find(|t| t.name == "shared").unwrap();
        assert_eq!(shared.roles, ["customers", "deadletter"]);
        assert_eq!(shared.config, [("cleanup.policy", "compact")]);
    }

    #[test]
    fn replication_defaults_to_three_or_the_brokers_there_are() {
        assert_eq!(default_replication(None, 1), 1);
        assert_eq!(default_replication(None, 2), 2);
        assert_eq!(default_replication(None, 5), 3);
        assert_eq!(default_replication(None, 0), 1);
        assert_eq!(default_replication(Some(2), 1), 2);
    }
}
