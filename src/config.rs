//! config: built-in defaults, then the user's TOML file, then `OUTCRY__SECTION__KEY`
//! environment overrides. [`Config::load_file`] reports every problem at once.
//!
//! This module only assembles: each section is defined, with its defaults, documentation and
//! checks, by the module that owns it, and [`Config`] puts them together — `[kafka]` and
//! `[crm]` in `kafka`, `[redis]`, `[claim]`, `[history]` and `[outbound]` in `claim`,
//! `[http]` in `http`, `[log]` in `telemetry`, `[limits]` in `normalize`, `[rules]` in
//! `intent`, `[identity]` in `identity`, `[routing]`, `[priority]` and `[sla]` in `route`,
//! `[[detector]]` in `incident`. The value types they are written with
//! ([`HumanDuration`](crate::settings::HumanDuration), [`Secret`](crate::settings::Secret)) and
//! [`ConfigErrors`] are in `settings`. Here: reading the file, the environment
//! overrides and `_file` secrets, checking every section, and loading what the config points
//! to (rule packs, CRM snapshot) into a [`Loaded`].
//!
//! Imports run one way: this module depends on the sections' owners, never the reverse (the
//! core — pipeline, route, intent, identity, normalize, event — does not import it;
//! `tests/layering.rs` holds that).

use crate::claim::{ClaimConfig, ContactPolicy, HistoryConfig, OutboundConfig, RedisConfig};
use crate::http::HttpConfig;
use crate::identity::{load_snapshot, IdentityConfig, IdentityIndex};
use crate::incident::DetectorConfig;
use crate::intent::{Classifier, RulePack, RulesConfig};
use crate::kafka::customers::CrmConfig;
use crate::kafka::KafkaConfig;
use crate::normalize::LimitsConfig;
use crate::pipeline::Pipeline;
use crate::route::{PriorityConfig, Router, RoutingConfig, SlaConfig};
use crate::settings::ConfigErrors;
use crate::telemetry::LogConfig;
use serde::Deserialize;
use std::path::Path;

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
    pub detector: Vec<DetectorConfig>,
}

/// A config with everything it points to loaded and compiled: what the worker runs with.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub classifier: Classifier,
    pub router: Router,
    pub index: IdentityIndex,
}

impl Loaded {
    /// The pure stage this config runs: its `[limits]`, rules and routing table.
    pub fn pipeline(&self) -> Pipeline {
        Pipeline::new(
            &self.config.limits,
            self.classifier.clone(),
            self.router.clone(),
        )
    }
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

    /// Semantic checks that don't need any file: every problem, not the first. Each section
    /// checks itself; the order is the order problems have always been listed in.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        self.kafka.validate(&mut p);
        self.redis.validate(&mut p);
        self.kafka.validate_security(&mut p);
        p.extend(crate::route::problems(
            &self.routing,
            &self.priority,
            &self.sla,
        ));
        self.claim.validate(&mut p);
        self.history.validate(&mut p);
        self.outbound.validate(&mut p);
        p.extend(self.limits.problems(&self.kafka.producer));
        p.extend(self.identity.problems());
        self.http.validate(&mut p);
        p
    }

    /// The outbound gate's contact policy: `[outbound]`, with answers remembered as long as
    /// claim decisions (`claim.remember_events`).
    pub fn contact_policy(&self) -> ContactPolicy {
        self.outbound.policy(self.claim.remember_events.0)
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
        self.rules.validate(&mut problems);
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
    use crate::normalize::RECORD_HEADROOM_BYTES;
    use std::time::Duration;

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
