//! The `[limits]` section of the configuration, owned by normalize, which enforces it: the
//! largest payload read ([`Limits::max_payload_bytes`]) and how far in the future an event's
//! time may be. It also bounds every record outcry produces from an input (the producer's
//! `message.max.bytes`, [`LimitsConfig::max_record_bytes`]), and [`LimitsConfig::problems`]
//! checks the producer properties against it.

use super::Limits;
use crate::settings::HumanDuration;
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// What normalize checks each input against.
    pub fn limits(&self) -> Limits {
        Limits {
            max_payload_bytes: self.max_payload_bytes,
            max_future_skew_ms: self.max_future_skew.0.as_millis() as i64,
        }
    }

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
            max_future_skew: HumanDuration::builtin("24h"),
        }
    }
}
