//! kafka: the thin edge to Kafka. Client settings ([`consumer_config`], [`producer_config`]),
//! output records ([`records`]), offset bookkeeping ([`offsets`]), the CRM topic follower
//! ([`customers`]), topic creation (`outcry topics`, [`admin`]) and the in-process broker for
//! the demo and tests ([`embedded`]). The `[kafka]` section of the configuration
//! ([`KafkaConfig`], with its [`Topics`]) is defined here (`kafka/config.rs`), the `[crm]`
//! section in [`customers`].

pub mod admin;
mod config;
pub mod customers;
pub mod embedded;
pub mod offsets;
pub mod records;
pub mod sink;

pub use config::{KafkaConfig, SecurityProtocol, Topics};
use rdkafka::ClientConfig;

/// The worker's consumer: offsets are stored by outcry only after every output an event caused
/// was acknowledged (`enable.auto.offset.store=false`), then committed in the background and
/// synchronously at shutdown. Prefetch is bounded; a missing committed offset starts at the
/// beginning so nothing is skipped silently.
/// What every client of the cluster needs: the brokers and the security settings.
pub fn client_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers)
        .set("security.protocol", k.security_protocol.as_str());
    if matches!(
        k.security_protocol,
        SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
    ) {
        c.set("sasl.mechanism", &k.sasl_mechanism)
            .set("sasl.username", k.sasl_username.expose())
            .set("sasl.password", k.sasl_password.expose());
    }
    for (key, value) in [
        ("ssl.ca.location", &k.ssl_ca_location),
        ("ssl.certificate.location", &k.ssl_certificate_location),
        ("ssl.key.location", &k.ssl_key_location),
    ] {
        if !value.is_empty() {
            c.set(key, value);
        }
    }
    if !k.ssl_key_password.is_empty() {
        c.set("ssl.key.password", k.ssl_key_password.expose());
    }
    c
}

pub fn consumer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = client_config(k);
    c.set("group.id", &k.group_id)
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        .set("queued.max.messages.kbytes", "16384")
        .set("session.timeout.ms", "30000");
    for (key, value) in &k.consumer {
        c.set(key, value);
    }
    c
}

/// The producer: idempotent (no duplicates or reordering from its own retries), acks from all
/// in-sync replicas, and `message.max.bytes` at `max_record_bytes`
/// (`LimitsConfig::max_record_bytes`, the bound every record builder keeps to) unless the
/// config sets it (then `outcry check` holds it to at least that).
pub fn producer_config(k: &KafkaConfig, max_record_bytes: usize) -> ClientConfig {
    let mut c = client_config(k);
    c.set("message.max.bytes", max_record_bytes.to_string())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("compression.type", "lz4")
        .set("message.timeout.ms", "60000");
    for (key, value) in &k.producer {
        c.set(key, value);
    }
    c
}

/// A name unique to this process and moment, for throwaway groups and test topics.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}-{:x}", std::process::id(), nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every client outcry makes — the worker's consumer and producer, the CRM follower, the
    /// replay producer — goes through `client_config`, so SASL/TLS reach all of them.
    #[test]
    fn security_settings_reach_every_client() {
        let k = KafkaConfig {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl_username: crate::settings::Secret("outcry".into()),
            sasl_password: crate::settings::Secret("pw".into()),
            ssl_ca_location: "/etc/ca.pem".into(),
            ..KafkaConfig::default()
        };
        for c in [
            client_config(&k),
            consumer_config(&k),
            producer_config(&k, 1 << 20),
        ] {
            assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
            assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(c.get("sasl.username"), Some("outcry"));
            assert_eq!(c.get("sasl.password"), Some("pw"));
            assert_eq!(c.get("ssl.ca.location"), Some("/etc/ca.pem"));
        }
        let plain = client_config(&KafkaConfig::default());
        assert_eq!(plain.get("security.protocol"), Some("plaintext"));
        assert_eq!(plain.get("sasl.username"), None);
    }
}
