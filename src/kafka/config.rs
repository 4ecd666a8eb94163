//! The `[kafka]` section of the configuration, owned by the Kafka edge: the brokers and their
//! security settings, the topics (`[kafka.topics]`), extra librdkafka properties for the
//! consumer and the producer, and the worker's in-flight and batch bounds. Every value has a
//! default; [`KafkaConfig::validate`] and [`KafkaConfig::validate_security`] list what is wrong,
//! all at once.

use crate::settings::{HumanDuration, Secret};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `bootstrap.servers`.
    pub brokers: String,
    pub group_id: String,
    pub topics: Topics,
    /// Extra librdkafka properties for the consumer (override outcry's own).
    #[serde(deserialize_with = "librdkafka_properties")]
    pub consumer: BTreeMap<String, String>,
    /// Extra librdkafka properties for the producer.
    #[serde(deserialize_with = "librdkafka_properties")]
    pub producer: BTreeMap<String, String>,
    /// Events read but whose outputs are not yet acknowledged, at most.
    pub max_in_flight: usize,
    /// Events decided and claimed together, at most: what has arrived when the worker reads
    /// joins one batch, claimed in one round trip to Redis.
    pub max_batch: usize,
    /// On shutdown or revoke, how long to wait for in-flight outputs.
    pub drain_timeout: HumanDuration,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl` (librdkafka `security.protocol`).
    pub security_protocol: SecurityProtocol,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`, for the `sasl_*` protocols.
    pub sasl_mechanism: String,
    pub sasl_username: Secret,
    pub sasl_password: Secret,
    /// CA bundle (PEM) that signs the brokers' certificates; empty: the system's.
    pub ssl_ca_location: String,
    /// Client certificate and key (PEM) for mutual TLS.
    pub ssl_certificate_location: String,
    pub ssl_key_location: String,
    pub ssl_key_password: Secret,
}

/// librdkafka properties are strings; the config may write them as TOML numbers and booleans
/// too (`"fetch.max.bytes" = 52428800`, or from the environment, where `500` reads as a number).
fn librdkafka_properties<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, toml::Value>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "librdkafka property {k:?} must be a string, number or boolean, not {}",
                        other.type_str()
                    )))
                }
            };
            Ok((k, s))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SecurityProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }

    fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "localhost:9092".into(),
            group_id: "outcry".into(),
            topics: Topics::default(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            max_in_flight: 1000,
            max_batch: 500,
            drain_timeout: HumanDuration::builtin("20s"),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: "SCRAM-SHA-512".into(),
            sasl_username: Secret::default(),
            sasl_password: Secret::default(),
            ssl_ca_location: String::new(),
            ssl_certificate_location: String::new(),
            ssl_key_location: String::new(),
            ssl_key_password: Secret::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topics {
    pub raw: String,
    pub customers: String,
    pub assignments: String,
    pub interactions: String,
    pub deadletter: String,
    /// Helpdesk feedback in: accepted, responded, resolved, bounced, outbound (docs/feedback.md).
    pub feedback: String,
    /// SLA breaches and policy violations out.
    pub alerts: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            raw: "social.raw".into(),
            customers: "crm.customers".into(),
            assignments: "outcry.assignments".into(),
            interactions: "outcry.interactions".into(),
            deadletter: "outcry.deadletter".into(),
            feedback: "helpdesk.feedback".into(),
            alerts: "outcry.alerts".into(),
        }
    }
}

impl KafkaConfig {
    /// The brokers, the group, the worker's bounds and the topics: every problem, not the first.
    pub fn validate(&self, p: &mut Vec<String>) {
        if self.brokers.trim().is_empty() {
            p.push("kafka.brokers is empty".into());
        }
        if self.group_id.trim().is_empty() {
            p.push("kafka.group_id is empty".into());
        }
        if self.max_batch == 0 {
            p.push("kafka.max_batch must be at least 1".into());
        }
        if self.max_in_flight == 0 {
            p.push("kafka.max_in_flight must be at least 1".into());
        }
        self.topics.validate(p);
    }

    /// The security settings: SASL mechanism and credentials, TLS files.
    pub fn validate_security(&self, p: &mut Vec<String>) {
        let k = self;
        if k.security_protocol.sasl() {
            if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&k.sasl_mechanism.as_str()) {
                p.push(format!(
                    "kafka.sasl_mechanism {:?}: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512",
                    k.sasl_mechanism
                ));
            }
            if k.sasl_username.is_empty() || k.sasl_password.is_empty() {
                p.push(format!(
                    "kafka.security_protocol = {:?} needs kafka.sasl_username and kafka.sasl_password (or *_file)",
                    k.security_protocol.as_str()
                ));
            }
        } else if !k.sasl_username.is_empty() || !k.sasl_password.is_empty() {
            p.push("kafka.sasl_username/sasl_password are set but kafka.security_protocol is not sasl_plaintext or sasl_ssl".into());
        }
        let any_ssl_file = !(k.ssl_ca_location.is_empty()
            && k.ssl_certificate_location.is_empty()
            && k.ssl_key_location.is_empty());
        if any_ssl_file && !k.security_protocol.tls() {
            p.push(
                "kafka.ssl_* locations are set but kafka.security_protocol is not ssl or sasl_ssl"
                    .into(),
            );
        }
        for (key, path) in [
            ("ssl_ca_location", &k.ssl_ca_location),
            ("ssl_certificate_location", &k.ssl_certificate_location),
            ("ssl_key_location", &k.ssl_key_location),
        ] {
            if !path.is_empty() && !Path::new(path).exists() {
                p.push(format!("kafka.{key} {path:?} does not exist"));
            }
        }
    }
}

impl Topics {
    /// No topic is empty, and no output topic is the input topic.
    pub fn validate(&self, p: &mut Vec<String>) {
        let t = self;
        let topics = [
            ("raw", &t.raw),
            ("customers", &t.customers),
            ("assignments", &t.assignments),
            ("interactions", &t.interactions),
            ("deadletter", &t.deadletter),
            ("alerts", &t.alerts),
            ("feedback", &t.feedback),
        ];
        for (name, topic) in topics {
            if topic.trim().is_empty() {
                p.push(format!("kafka.topics.{name} is empty"));
            }
        }
        for (name, topic) in &topics[2..6] {
            if *topic == &t.raw {
                p.push(format!(
                    "kafka.topics.{name} is the input topic {:?}: outcry would read its own output",
                    t.raw
                ));
            }
        }
    }
}
