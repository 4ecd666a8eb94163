//! The configuration sections the claim store owns: `[redis]` (where the store is and how to
//! reach it), `[claim]` (lease and redelivery window), `[history]` (what each owner key's
//! history keeps) and `[outbound]` (the outbound gate's contact policy). Every value has a
//! default; each section's `validate` lists what is wrong, all at once.

use super::{ContactPolicy, HistoryPolicy};
use crate::settings::{HumanDuration, Secret};
use serde::Deserialize;
use std::time::Duration;

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

impl RedisConfig {
    /// The URL scheme(s), the PEM texts, mutual TLS and the cluster flag.
    pub fn validate(&self, p: &mut Vec<String>) {
        let urls: Vec<&str> = self.url.split(',').map(str::trim).collect();
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
            ("tls_ca", self.tls_ca.as_str()),
            ("tls_cert", self.tls_cert.as_str()),
            ("tls_key", self.tls_key.expose()),
        ] {
            if !pem.is_empty() && !pem.contains("-----BEGIN ") {
                p.push(format!(
                    "redis.{key} is not PEM (give the file as redis.{key}_file = \"/path\")"
                ));
            }
        }
        if self.tls_cert.is_empty() != self.tls_key.is_empty() {
            p.push("redis.tls_cert and redis.tls_key go together (mutual TLS)".into());
        }
        if urls.len() > 1 && !self.cluster {
            p.push(
                "redis.url lists several nodes: set redis.cluster = true for a Redis Cluster"
                    .into(),
            );
        }
    }
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
            lease: HumanDuration::builtin("24h"),
            remember_events: HumanDuration::builtin("7days"),
        }
    }
}

impl ClaimConfig {
    pub fn validate(&self, p: &mut Vec<String>) {
        if self.lease.0.is_zero() {
            p.push("claim.lease must be more than zero".into());
        }
        if self.remember_events.0 < Duration::from_secs(60) {
            p.push("claim.remember_events must be at least 1m (the redelivery window)".into());
        }
    }
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
            max_age: HumanDuration::builtin("90days"),
        }
    }
}

impl HistoryConfig {
    pub fn policy(&self) -> HistoryPolicy {
        HistoryPolicy {
            max_entries: self.max_entries,
            max_age: self.max_age.0,
        }
    }

    pub fn validate(&self, p: &mut Vec<String>) {
        if self.max_entries == 0 || self.max_age.0.is_zero() {
            p.push("history.max_entries and history.max_age must be more than zero".into());
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
            window: HumanDuration::builtin("7days"),
        }
    }
}

impl OutboundConfig {
    /// The contact policy of the outbound gate: this section, and answers remembered for
    /// `remember` (`claim.remember_events`, as long as claim decisions).
    pub fn policy(&self, remember: Duration) -> ContactPolicy {
        ContactPolicy {
            max_proactive: self.max_proactive,
            window: self.window.0,
            remember,
        }
    }

    pub fn validate(&self, p: &mut Vec<String>) {
        if self.window.0.is_zero() {
            p.push("outbound.window must be more than zero".into());
        }
    }
}
