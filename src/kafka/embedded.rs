//! An in-process Kafka: librdkafka's mock cluster, which speaks the real protocol on a
//! localhost port. Used by `outcry demo` and the tests; nothing here is a hand-written fake.

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{BaseProducer, DefaultProducerContext, Producer};
use rdkafka::ClientConfig;

pub struct EmbeddedKafka {
    /// The mock cluster lives as long as the client that created it.
    owner: BaseProducer,
    bootstrap: String,
}

impl EmbeddedKafka {
    /// Start a cluster of `brokers` brokers. Consumer-group joins complete without the usual
    /// initial rebalance delay (3 s), so the demo and tests start promptly.
    pub fn start(brokers: u32) -> KafkaResult<EmbeddedKafka> {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .set("log_level", "3")
            .create()?;
        let bootstrap = owner
            .client()
            .mock_cluster()
            .ok_or(KafkaError::MockCluster(
                rdkafka::types::RDKafkaErrorCode::Fail,
            ))?
            .bootstrap_servers();
        // SAFETY: the mock cluster handle belongs to `owner`, which is alive here; the call only
        // sets an integer on it.
        unsafe {
            let handle =
                rdkafka::bindings::rd_kafka_handle_mock_cluster(owner.client().native_ptr());
            if !handle.is_null() {
                rdkafka::bindings::rd_kafka_mock_group_initial_rebalance_delay_ms(handle, 0);
            }
        }
        Ok(EmbeddedKafka { owner, bootstrap })
    }

    fn mock(&self) -> KafkaResult<MockCluster<'_, DefaultProducerContext>> {
        self.owner
            .client()
            .mock_cluster()
            .ok_or(KafkaError::MockCluster(
                rdkafka::types::RDKafkaErrorCode::Fail,
            ))
    }

    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    pub fn create_topic(&self, name: &str, partitions: i32) -> KafkaResult<()> {
        self.mock()?.create_topic(name, partitions, 1)
    }

    /// Make the next `errors.len()` requests of this kind fail with these errors, in order
    /// (fault injection, e.g. produce requests failing while the worker holds claims).
    pub fn fail_requests(
        &self,
        api_key: rdkafka::types::RDKafkaApiKey,
        errors: &[rdkafka::types::RDKafkaRespErr],
    ) -> KafkaResult<()> {
        self.mock()?.request_errors(api_key, errors);
        Ok(())
    }

    pub fn clear_request_errors(&self, api_key: rdkafka::types::RDKafkaApiKey) -> KafkaResult<()> {
        self.mock()?.clear_request_errors(api_key);
        Ok(())
    }

    /// Move a consumer group's coordinator to another broker (fault-injection tests).
    pub fn move_group_coordinator(&self, group: &str, broker_id: i32) -> KafkaResult<()> {
        self.mock()?.coordinator(
            rdkafka::mocking::MockCoordinator::Group(group.to_owned()),
            broker_id,
        )
    }

    /// Take a broker down or bring it back (fault-injection tests).
    pub fn set_broker_up(&self, broker_id: i32, up: bool) -> KafkaResult<()> {
        let mock = self.mock()?;
        if up {
            mock.broker_up(broker_id)
        } else {
            mock.broker_down(broker_id)
        }
    }
}
