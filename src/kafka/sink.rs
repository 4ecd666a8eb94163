//! sink: producing outcry's records, and what a produce error means.
//!
//! librdkafka already retries what it can inside `message.timeout.ms`; an error it hands back
//! is one of three kinds ([`classify`]):
//! - **retriable** (timed out, queue full, broker or topic unavailable, not authorized yet):
//!   the record is sent again with backoff, for as long as it takes — the event stays in
//!   flight, its offset is not stored, reading pauses at `kafka.max_in_flight`; a shutdown
//!   whose drain times out drops it (the event is read again after the restart);
//! - **permanent for this record** (too large for the broker or topic, an invalid record):
//!   sending it again can never work, so the event becomes a dead letter instead
//!   (`output_rejected`) and its partition moves on — one input never stops a worker;
//! - **fatal for the producer** (librdkafka's fatal errors, e.g. of the idempotent producer):
//!   the worker stops with an error; a restart makes a new producer.

use super::records::{self, Output};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use std::time::Duration;

/// What a produce error means for the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Retriable,
    Permanent,
    Fatal,
}

/// Sort a produce error into retriable, permanent for this record, or fatal for the producer.
pub fn classify(e: &KafkaError) -> Class {
    let Some(code) = e.rdkafka_error_code() else {
        return Class::Retriable;
    };
    use RDKafkaErrorCode as C;
    match code {
        C::Fatal => Class::Fatal,
        // The record itself: its size (librdkafka's local check and the broker's share code
        // 10), its batch's size, its content.
        C::MessageSizeTooLarge
        | C::MessageBatchTooLarge
        | C::InvalidMessageSize
        | C::InvalidRecord
        | C::InvalidMessage
        | C::InvalidTimestamp
        | C::BadMessage => Class::Permanent,
        _ => Class::Retriable,
    }
}

/// Why a record was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// Refused for what it is: sending it again cannot work.
    #[error("refused for good: {0}")]
    Permanent(String),
    /// The producer is unusable.
    #[error("the producer failed: {0}")]
    Fatal(String),
}

/// Produce one record, sending it again on retriable errors until it is acknowledged or refused
/// for good (dropping the future abandons it: a drain that timed out). A record over `max_bytes` ([`records::record_size`]) is
/// refused before it is sent. `on_retry` is told of each retriable error (for metrics).
pub async fn send(
    producer: &FutureProducer,
    o: &Output,
    max_bytes: usize,
    on_retry: &(dyn Fn(&KafkaError) + Sync),
) -> Result<(), Failure> {
    let size = records::record_size(o);
    if size > max_bytes {
        return Err(Failure::Permanent(format!(
            "a record of {size} bytes for {} is over the producer's limit of {max_bytes} bytes",
            o.topic
        )));
    }
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut headers = OwnedHeaders::new_with_capacity(o.headers.len());
        for (k, v) in &o.headers {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record = FutureRecord::<[u8], [u8]>::to(&o.topic)
            .payload(&o.payload)
            .headers(headers);
        if let Some(k) = &o.key {
            record = record.key(k);
        }
        // The queue timeout applies backpressure while librdkafka's queue is full.
        let e = match producer
            .send(record, Timeout::After(Duration::from_secs(30)))
            .await
        {
            Ok(_) => return Ok(()),
            Err((e, _)) => e,
        };
        match classify(&e) {
            Class::Permanent => {
                tracing::warn!(error = %e, topic = %o.topic, bytes = size, "record refused for good");
                return Err(Failure::Permanent(format!("{}: {e}", o.topic)));
            }
            Class::Fatal => return Err(Failure::Fatal(format!("{}: {e}", o.topic))),
            Class::Retriable => {
                on_retry(&e);
                tracing::warn!(error = %e, topic = %o.topic, retry_in = ?backoff, "produce failed; sending again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// The smallest bound a dead letter is cut to when the broker refused a larger one: headers
/// and a prefix of the input, small enough for any broker's limit.
pub const FALLBACK_DEAD_LETTER_BYTES: usize = 16 * 1024;

/// How an event's outputs ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// Every output acknowledged.
    All,
    /// Some output was refused for good; the event's dead letter (`output_rejected`, with why)
    /// was acknowledged instead. Outputs not refused were delivered.
    DeadLettered(String),
}

/// Produce every output of one event concurrently. If any is refused for good, produce
/// `dead_letter(bound, why)` instead — bounded by `max_bytes`, then, if the broker refuses that
/// too, by [`FALLBACK_DEAD_LETTER_BYTES`], which is sent again until it is acknowledged (a
/// broker refusing 16 KiB records is broken for every event, not for this one: the partition
/// waits, nothing is lost).
pub async fn deliver(
    producer: &FutureProducer,
    outputs: &[Output],
    max_bytes: usize,
    dead_letter: impl Fn(usize, &str) -> Output,
    on_retry: &(dyn Fn(&KafkaError) + Sync),
) -> Result<Delivered, Failure> {
    let sends = outputs
        .iter()
        .map(|o| send(producer, o, max_bytes, on_retry));
    let mut refused = Vec::new();
    for r in futures::future::join_all(sends).await {
        match r {
            Ok(()) => {}
            Err(Failure::Permanent(why)) => refused.push(why),
            Err(other) => return Err(other),
        }
    }
    if refused.is_empty() {
        return Ok(Delivered::All);
    }
    let why = refused.join("; ");
    match send(producer, &dead_letter(max_bytes, &why), max_bytes, on_retry).await {
        Ok(()) => return Ok(Delivered::DeadLettered(why)),
        Err(Failure::Permanent(again)) => {
            tracing::error!(error = %again, "the dead letter was refused too; sending a smaller one")
        }
        Err(other) => return Err(other),
    }
    let small = dead_letter(FALLBACK_DEAD_LETTER_BYTES, &why);
    let mut backoff = Duration::from_secs(1);
    loop {
        match send(producer, &small, max_bytes, on_retry).await {
            Ok(()) => return Ok(Delivered::DeadLettered(why)),
            Err(Failure::Permanent(e)) => {
                tracing::error!(error = %e, retry_in = ?backoff, "the broker refuses even a 16 KiB dead letter; the partition waits");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
            Err(other) => return Err(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_sorted_by_what_they_mean_for_the_record() {
        use RDKafkaErrorCode as C;
        for (code, class) in [
            (C::MessageSizeTooLarge, Class::Permanent),
            (C::MessageBatchTooLarge, Class::Permanent),
            (C::InvalidRecord, Class::Permanent),
            (C::MessageTimedOut, Class::Retriable),
            (C::QueueFull, Class::Retriable),
            (C::UnknownTopicOrPartition, Class::Retriable),
            (C::TopicAuthorizationFailed, Class::Retriable),
            (C::NotLeaderForPartition, Class::Retriable),
            (C::Fatal, Class::Fatal),
        ] {
            assert_eq!(
                classify(&KafkaError::MessageProduction(code)),
                class,
                "{code:?}"
            );
        }
        assert_eq!(classify(&KafkaError::Canceled), Class::Retriable);
    }
}
