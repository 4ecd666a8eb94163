//! config: built-in defaults, then the user's TOML file, then `OUTCRY__SECTION__KEY`
//! environment overrides. [`Config::load`] reports every problem at once.

use crate::identity::{load_snapshot, IdentityConfig, IdentityIndex};
use crate::intent::{Classifier, RulePack};
use crate::route::Router;
pub use crate::route::{NoiseHandling, PriorityConfig, RoutingConfig, SlaConfig};
pub use crate::settings::{ConfigErrors, HumanDuration, Secret};
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn dur(s: &str) -> HumanDuration {
    HumanDuration::builtin(s)
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub kafka: KafkaConfig,
    pub redis: RedisConfig,
    pub crm: CrmConfig,
    pub rules: RulesConfig,
    /// The ordered routing table, the sag wagon, the noise policy (docs/routing.md).
    pub routing: RoutingConfig,
    /// Priority points per factor and the class thresholds.
    pub priority: PriorityConfig,
    /// First-response and resolution targets per priority class, and where a breach goes.
    pub sla: SlaConfig,
    pub claim: ClaimConfig,
    pub http: HttpConfig,
    pub limits: LimitsConfig,
    /// Identity matching: key normalization, weights and thresholds (docs/identity.md).
    pub identity: IdentityConfig,
    pub log: LogConfig,
    /// Per-customer communication history kept in the claim store.
    pub history: HistoryConfig,
    /// The outbound gate's contact policy.
    pub outbound: OutboundConfig,
    /// Incident detectors (`[[detector]]`, docs/incidents.md).
    pub detector: Vec<crate::incident::DetectorConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Entries kept per customer, newest first.
    pub max_entries: u32,
    /// Entries older than this are dropped.
    pub max_age: HumanDuration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            max_entries: 200,
            max_age: dur("90days"),
        }
    }
}

impl HistoryConfig {
    pub fn policy(&self) -> crate::claim::HistoryPolicy {
        crate::claim::HistoryPolicy {
            max_entries: self.max_entries,
            max_age: self.max_age.0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Proactive messages (marketing, sales, surveys) per customer per window, at most.
    pub max_proactive: u32,
    pub window: HumanDuration,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            max_proactive: 2,
            window: dur("7days"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `text` (for people) or `json` (one object per line, for log pipelines).
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

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
            drain_timeout: dur("20s"),
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    /// `redis://host:6379`, `rediss://` for TLS, `unix:///path`; with `cluster = true`, any
    /// nodes of the cluster, comma-separated.
    pub url: String,
    /// Prefix of every key outcry writes.
    pub key_prefix: String,
    /// A Redis Cluster: `url` lists seed nodes; slots and failovers are followed.
    pub cluster: bool,
    /// ACL user and password (override any in the URL).
    pub username: Secret,
    pub password: Secret,
    /// For `rediss://`: the CA certificate (PEM text) that signs the server's; empty: the
    /// public web roots (Mozilla's). Usually given as `tls_ca_file = "/path/ca.pem"`.
    pub tls_ca: String,
    /// For mutual TLS: the client certificate and key (PEM text; `tls_cert_file`,
    /// `tls_key_file`).
    pub tls_cert: String,
    pub tls_key: Secret,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".into(),
            key_prefix: "outcry".into(),
            cluster: false,
            username: Secret::default(),
            password: Secret::default(),
            tls_ca: String::new(),
            tls_cert: String::new(),
            tls_key: Secret::default(),
        }
    }
}

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
            catch_up_warn_after: dur("30s"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Rule pack files (TOML), relative to the config file.
    pub packs: Vec<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimConfig {
    /// How long an ownership lasts without new events; each attached event extends it.
    pub lease: HumanDuration,
    /// How long the decision for an event id is remembered (redelivery window).
    pub remember_events: HumanDuration,
}

impl Default for ClaimConfig {
    fn default() -> Self {
        ClaimConfig {
            lease: dur("24h"),
            remember_events: dur("7days"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz`; empty to disable.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:9464".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Larger payloads are dead-lettered before parsing.
    pub max_payload_bytes: usize,
    /// An event whose `created_at` is later than this past the time it is read is an absurd
    /// value (dead letter `invalid_value`); clocks disagree, so not zero.
    pub max_future_skew: HumanDuration,
}

/// Room a record of outcry's may take beyond the input it came from: the CloudEvents and
/// dead-letter headers, the match, the intent and the CRM context an interaction carries.
pub const RECORD_HEADROOM_BYTES: usize = 64 * 1024;

/// librdkafka's own ceiling for `message.max.bytes`.
pub const LIBRDKAFKA_MAX_MESSAGE_BYTES: usize = 1_000_000_000;

impl LimitsConfig {
    /// The largest record outcry produces, and so the producer's `message.max.bytes`: an input
    /// at the limit plus [`RECORD_HEADROOM_BYTES`]. Every record builder bounds its record by
    /// this (`kafka::records`).
    pub fn max_record_bytes(&self) -> usize {
        self.max_payload_bytes.saturating_add(RECORD_HEADROOM_BYTES)
    }

    /// What keeps the producer's limits from following `max_payload_bytes`.
    pub fn problems(&self, producer: &BTreeMap<String, String>) -> Vec<String> {
        let mut p = Vec::new();
        if self.max_payload_bytes == 0 {
            p.push("limits.max_payload_bytes must be more than zero".into());
        }
        let need = self.max_record_bytes();
        if need > LIBRDKAFKA_MAX_MESSAGE_BYTES {
            p.push(format!(
                "limits.max_payload_bytes = {} needs records of up to {need} bytes, more than the {LIBRDKAFKA_MAX_MESSAGE_BYTES} librdkafka can produce",
                self.max_payload_bytes
            ));
        }
        if let Some(v) = producer.get("message.max.bytes") {
            match v.parse::<usize>() {
                Ok(n) if n < need => p.push(format!(
                    "kafka.producer.\"message.max.bytes\" = {n} is smaller than the largest record outcry produces ({need} bytes: limits.max_payload_bytes = {} plus {RECORD_HEADROOM_BYTES} for headers and context); remove it (outcry sets it), raise it, or lower limits.max_payload_bytes",
                    self.max_payload_bytes
                )),
                Ok(_) => {}
                Err(_) => p.push(format!(
                    "kafka.producer.\"message.max.bytes\" = {v:?} is not a number of bytes"
                )),
            }
        }
        p
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_payload_bytes: 1024 * 1024,
            max_future_skew: dur("24h"),
        }
    }
}

/// A config with everything it points to loaded and compiled: what the worker runs with.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub classifier: Classifier,
    pub router: Router,
    pub index: IdentityIndex,
}

impl Config {
    /// Parse TOML text and apply `OUTCRY__…` overrides from `env`.
    pub fn parse(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigErrors> {
        let mut value: toml::Table =
            toml::from_str(text).map_err(|e| ConfigErrors(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        for (k, v) in env {
            let Some(path) = k.strip_prefix("OUTCRY__") else {
                continue;
            };
            let keys: Vec<String> = path.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if keys.iter().any(String::is_empty) {
                problems.push(format!("environment {k}: empty key segment"));
                continue;
            }
            set_path(&mut value, &keys, parse_scalar(&v));
        }
        read_key_files(&mut value, "", &mut problems);
        if !problems.is_empty() {
            return Err(ConfigErrors(problems));
        }
        let config: Config = toml::Value::Table(value)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigErrors(vec![e.to_string()]))?;
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    /// Semantic checks that don't need any file: every problem, not the first.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            p.push("kafka.brokers is empty".into());
        }
        if k.group_id.trim().is_empty() {
            p.push("kafka.group_id is empty".into());
        }
        if k.max_batch == 0 {
            p.push("kafka.max_batch must be at least 1".into());
        }
        if k.max_in_flight == 0 {
            p.push("kafka.max_in_flight must be at least 1".into());
        }
        let t = &k.topics;
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
        let urls: Vec<&str> = self.redis.url.split(',').map(str::trim).collect();
        for url in &urls {
            if !url.starts_with("redis://")
                && !url.starts_with("rediss://")
                && !url.starts_with("unix://")
            {
                p.push(format!(
                    "redis.url {url:?} must start with redis://, rediss:// or unix://"
                ));
            }
        }
        for (key, pem) in [
            ("tls_ca", self.redis.tls_ca.as_str()),
            ("tls_cert", self.redis.tls_cert.as_str()),
            ("tls_key", self.redis.tls_key.expose()),
        ] {
            if !pem.is_empty() && !pem.contains("-----BEGIN ") {
                p.push(format!(
                    "redis.{key} is not PEM (give the file as redis.{key}_file = \"/path\")"
                ));
            }
        }
        if self.redis.tls_cert.is_empty() != self.redis.tls_key.is_empty() {
            p.push("redis.tls_cert and redis.tls_key go together (mutual TLS)".into());
        }
        if urls.len() > 1 && !self.redis.cluster {
            p.push(
                "redis.url lists several nodes: set redis.cluster = true for a Redis Cluster"
                    .into(),
            );
        }
        let k = &self.kafka;
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
        p.extend(crate::route::problems(
            &self.routing,
            &self.priority,
            &self.sla,
        ));
        if self.claim.lease.0.is_zero() {
            p.push("claim.lease must be more than zero".into());
        }
        if self.claim.remember_events.0 < Duration::from_secs(60) {
            p.push("claim.remember_events must be at least 1m (the redelivery window)".into());
        }
        if self.history.max_entries == 0 || self.history.max_age.0.is_zero() {
            p.push("history.max_entries and history.max_age must be more than zero".into());
        }
        if self.outbound.window.0.is_zero() {
            p.push("outbound.window must be more than zero".into());
        }
        p.extend(self.limits.problems(&self.kafka.producer));
        p.extend(self.identity.problems());
        if !self.http.listen.is_empty() && self.http.listen.parse::<std::net::SocketAddr>().is_err()
        {
            p.push(format!(
                "http.listen {:?} is not an address like 0.0.0.0:9464",
                self.http.listen
            ));
        }
        p
    }

    /// Load a config file, then everything it points to. All problems are reported together.
    pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors(vec![format!("{}: {e}", path.display())]))?;
        let config = Config::parse(&text, std::env::vars())?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(|p| {
            let full = base.join(p);
            std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
        })
    }

    /// Read the config file again and compile its rule packs and routing table — not the CRM
    /// snapshot: what a reload needs. Every problem is listed.
    pub fn load_rules_file(path: &Path) -> Result<(Config, Classifier, Router), ConfigErrors> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigErrors(vec![format!("{}: {e}", path.display())]))?;
        let config = Config::parse(&text, std::env::vars())?;
        let base = path.parent().unwrap_or(Path::new("."));
        let (rules, problems) = config.compile_rules(&|p: &Path| {
            let full = base.join(p);
            std::fs::read_to_string(&full).map_err(|e| format!("{}: {e}", full.display()))
        });
        match rules {
            Some((classifier, router)) if problems.is_empty() => Ok((config, classifier, router)),
            _ => Err(ConfigErrors(problems)),
        }
    }

    /// The rule packs compiled and the routing table checked against them, and every problem.
    fn compile_rules(
        &self,
        read: &dyn Fn(&Path) -> Result<String, String>,
    ) -> (Option<(Classifier, Router)>, Vec<String>) {
        let mut problems = Vec::new();
        let mut packs = Vec::new();
        if self.rules.packs.is_empty() {
            problems.push("rules.packs is empty: name at least one rule pack".into());
        }
        for path in &self.rules.packs {
            match read(path)
                .map_err(|e| vec![e])
                .and_then(|text| RulePack::from_toml(&path.display().to_string(), &text))
            {
                Ok(pack) => packs.push(pack),
                Err(e) => problems.extend(e),
            }
        }
        let classifier = match Classifier::compile(&packs) {
            Ok(c) => Some(c),
            Err(e) => {
                problems.extend(e);
                None
            }
        };
        let router = Router::new(&self.routing, &self.priority, &self.sla);
        if let Some(c) = &classifier {
            let known: Vec<&str> = c.intent_names().collect();
            let detector_intents = self.detector.iter().enumerate().flat_map(|(i, d)| {
                d.intents
                    .iter()
                    .map(move |n| (format!("detector[{i}] ({})", d.name), n.as_str()))
            });
            let named: Vec<(String, &str)> = router
                .named_intents()
                .map(|(at, i)| (at.to_owned(), i))
                .chain(detector_intents)
                .collect();
            let entities: Vec<String> = c.entity_info().into_iter().map(|e| e.name).collect();
            for (i, d) in self.detector.iter().enumerate() {
                for e in &d.entities {
                    if !entities.contains(e) {
                        problems.push(format!(
                            "detector[{i}] ({}): entity `{e}` is not defined by any rule pack (known: {})",
                            d.name,
                            if entities.is_empty() { "none".to_string() } else { entities.join(", ") }
                        ));
                    }
                }
            }
            for (at, intent) in named {
                if intent != crate::intent::GENERAL && !known.contains(&intent) {
                    problems.push(format!(
                        "{at}: intent `{intent}` is not defined by any rule pack (known: {})",
                        known.join(", ")
                    ));
                }
            }
        }
        let rules = classifier.map(|c| (c, router));
        (rules, problems)
    }

    /// Load rule packs and the CRM snapshot through `read` (files, or embedded text for the
    /// demo), compile and cross-check them.
    pub fn resolve(
        self,
        read: impl Fn(&Path) -> Result<String, String>,
    ) -> Result<Loaded, ConfigErrors> {
        let (rules, mut problems) = self.compile_rules(&read);
        let mut index = IdentityIndex::with_config(self.identity.clone());
        if let Some(path) = &self.crm.snapshot {
            match read(path) {
                Ok(text) => {
                    if let Err(e) = load_snapshot(&path.display().to_string(), &text, &mut index) {
                        problems.extend(
                            e.problems
                                .into_iter()
                                .map(|p| format!("{}: {p}", path.display())),
                        );
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        match rules {
            Some((classifier, router)) if problems.is_empty() => Ok(Loaded {
                config: self,
                classifier,
                router,
                index,
            }),
            _ => Err(ConfigErrors(problems)),
        }
    }
}

/// `key_file = "/path"` (in the file or the environment) becomes `key = <the file's content>`,
/// without its trailing newline: secrets from Kubernetes secret mounts.
fn read_key_files(table: &mut toml::Table, at: &str, problems: &mut Vec<String>) {
    let keys: Vec<String> = table.keys().cloned().collect();
    for k in keys {
        let path = if at.is_empty() {
            k.clone()
        } else {
            format!("{at}.{k}")
        };
        if let Some(toml::Value::Table(t)) = table.get_mut(&k) {
            read_key_files(t, &path, problems);
            continue;
        }
        let Some(base) = k.strip_suffix("_file") else {
            continue;
        };
        let Some(toml::Value::String(file)) = table.get(&k).cloned() else {
            problems.push(format!("{path} must be a file path"));
            continue;
        };
        if table.contains_key(base) {
            problems.push(format!(
                "{path} and {}: set one of them",
                &path[..path.len() - 5]
            ));
            continue;
        }
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                table.remove(&k);
                table.insert(
                    base.to_owned(),
                    toml::Value::String(text.trim_end_matches(['\n', '\r']).to_owned()),
                );
            }
            Err(e) => problems.push(format!("{path}: cannot read {file:?}: {e}")),
        }
    }
}

/// Environment values are TOML scalars when they parse as one (`42`, `true`), else strings.
fn parse_scalar(v: &str) -> toml::Value {
    let probe = format!("x = {v}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => t
            .remove("x")
            .unwrap_or_else(|| toml::Value::String(v.to_owned())),
        Err(_) => toml::Value::String(v.to_owned()),
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) {
    let (last, parents) = keys.split_last().expect("non-empty path");
    let mut cur = table;
    for k in parents {
        let entry = cur
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_then_file_then_env() {
        let c = Config::parse(
            "[kafka]\nbrokers = \"file:9092\"\nmax_in_flight = 5\n",
            env(&[
                ("OUTCRY__KAFKA__BROKERS", "env:9092"),
                ("OUTCRY__KAFKA__TOPICS__RAW", "in"),
                ("OUTCRY__CLAIM__LEASE", "2h"),
                ("OUTCRY__KAFKA__CONSUMER__STATISTICS.INTERVAL.MS", "500"),
                ("OUTCRY__KAFKA__PRODUCER__ENABLE.IDEMPOTENCE", "true"),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.kafka.brokers, "env:9092");
        assert_eq!(c.kafka.max_in_flight, 5);
        assert_eq!(c.kafka.topics.raw, "in");
        assert_eq!(c.kafka.topics.assignments, "outcry.assignments");
        assert_eq!(c.claim.lease.0, Duration::from_secs(7200));
        assert_eq!(c.kafka.consumer["statistics.interval.ms"], "500");
        assert_eq!(c.kafka.producer["enable.idempotence"], "true");
    }

    #[test]
    fn every_semantic_problem_is_listed() {
        let text = r#"
[kafka]
brokers = ""
max_in_flight = 0
[kafka.topics]
assignments = "social.raw"
[redis]
url = "http://nope"
[[routing.route]]
candidates = ["sup|port"]
[sla]
p1 = "2h"
"#;
        let err = Config::parse(text, env(&[])).unwrap_err();
        let all = err.to_string();
        for needle in [
            "kafka.brokers",
            "max_in_flight",
            "read its own output",
            "redis.url",
            "department/queue",
            "sla.p1",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in {all}");
        }
        assert_eq!(err.0.len(), 6, "{all}");
    }

    /// The producer's `message.max.bytes` follows `limits.max_payload_bytes`; a config that sets
    /// it below the largest record outcry makes, or asks for records librdkafka cannot make, is
    /// refused.
    #[test]
    fn the_producer_limit_follows_the_payload_limit() {
        let c = Config::parse("[limits]\nmax_payload_bytes = 2000000\n", env(&[])).unwrap();
        assert_eq!(
            c.limits.max_record_bytes(),
            2_000_000 + RECORD_HEADROOM_BYTES
        );
        let p = crate::kafka::producer_config(&c.kafka, c.limits.max_record_bytes());
        assert_eq!(p.get("message.max.bytes"), Some("2065536"));

        let err = Config::parse(
            "[limits]\nmax_payload_bytes = 2000000\n[kafka.producer]\n\"message.max.bytes\" = 1000000\n",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("message.max.bytes\" = 1000000 is smaller"),
            "{err}"
        );
        let ok = Config::parse(
            "[kafka.producer]\n\"message.max.bytes\" = 5000000\n",
            env(&[]),
        )
        .unwrap();
        let p = crate::kafka::producer_config(&ok.kafka, ok.limits.max_record_bytes());
        assert_eq!(
            p.get("message.max.bytes"),
            Some("5000000"),
            "the config's own wins"
        );
        let err = Config::parse("[limits]\nmax_payload_bytes = 999999999\n", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("more than the 1000000000 librdkafka"), "{err}");
    }

    #[test]
    fn secrets_come_from_files_and_are_never_printed() {
        let dir =
            std::env::temp_dir().join(format!("outcry-secret-{}", crate::kafka::unique_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("kafka-password");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let c = Config::parse(
            "[kafka]\nsecurity_protocol = \"sasl_ssl\"\nsasl_username = \"outcry\"\n",
            env(&[("OUTCRY__KAFKA__SASL_PASSWORD_FILE", pw.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(c.kafka.sasl_password.expose(), "s3cret");
        let printed = format!("{c:?}");
        assert!(
            !printed.contains("s3cret") && printed.contains("***"),
            "{printed}"
        );
        // Every problem at once: a missing file, both forms, SASL without credentials.
        let err = Config::parse(
            "[kafka]\nsecurity_protocol = \"sasl_plaintext\"\nsasl_mechanism = \"MD5\"\n[redis]\npassword = \"a\"\npassword_file = \"/x\"\nusername_file = \"/nonexistent/outcry\"\n",
            env(&[]),
        )
        .unwrap_err();
        let all = err.to_string();
        assert!(
            all.contains("redis.password_file and redis.password"),
            "{all}"
        );
        assert!(all.contains("redis.username_file: cannot read"), "{all}");
        let err = Config::parse(
            "[kafka]\nsecurity_protocol = \"sasl_plaintext\"\nsasl_mechanism = \"MD5\"\n",
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("PLAIN, SCRAM-SHA-256") && err.contains("needs kafka.sasl_username"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn typos_are_refused_by_name() {
        let err = Config::parse("[kafka]\nbroker = \"x\"\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("broker"), "{err}");
        let err = Config::parse("[claim]\nlease = \"soon\"\n", env(&[])).unwrap_err();
        assert!(err.to_string().contains("bad duration"), "{err}");
    }

    #[test]
    fn resolve_lists_problems_across_files() {
        let mut c = Config::default();
        c.rules.packs = vec!["a.toml".into(), "missing.toml".into()];
        c.routing.route.insert(
            0,
            crate::route::RouteConfig {
                name: "r".into(),
                intents: vec!["nope".into()],
                candidates: vec![crate::route::Target::parse("x").unwrap()],
                ..Default::default()
            },
        );
        c.crm.snapshot = Some("crm.jsonl".into());
        c.detector.push(
            toml::from_str(
                "name = \"d\"\nintents = [\"billing\", \"gone\"]\nentities = [\"airport\"]\nwindow = \"5m\"\nthreshold = { events = 3 }\nteam = \"ops\"\n",
            )
            .unwrap(),
        );
        let err = c
            .resolve(|p| match p.to_str() {
                Some("a.toml") => Ok(
                    "name = \"a\"\n[[intent]]\nname = \"billing\"\nkeywords = [\"bill\"]\n".into(),
                ),
                Some("crm.jsonl") => Ok("{\"id\":\"C1\"}\nbroken\n".into()),
                _ => Err(format!("{}: not found", p.display())),
            })
            .unwrap_err();
        let all = err.to_string();
        assert!(all.contains("missing.toml: not found"), "{all}");
        assert!(all.contains("intent `nope` is not defined"), "{all}");
        assert!(all.contains("crm.jsonl: line 2"), "{all}");
        assert!(
            all.contains("detector[0] (d): intent `gone` is not defined"),
            "{all}"
        );
        assert!(
            all.contains("detector[0] (d): entity `airport` is not defined"),
            "{all}"
        );
    }
}
