//! telemetry: the metrics registry (one struct, fixed names, bounded label values), a worker's
//! live counters ([`Status`]) and tracing setup. Metric names are listed in the README and used
//! by `dashboards/` and `deploy/`. It owns the `[log]` section of the configuration
//! ([`LogConfig`]).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use serde::Deserialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The `[log]` section: how log lines are written.
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

/// Live counters of one worker, read by the HTTP endpoints, the demo and the tests.
#[derive(Debug, Default)]
pub struct Status {
    pub ready: AtomicBool,
    /// Messages read from the input topic.
    pub consumed: AtomicU64,
    /// Events whose every output was acknowledged.
    pub finished: AtomicU64,
    pub assigned_new: AtomicU64,
    pub assigned_attached: AtomicU64,
    pub replayed: AtomicU64,
    pub noise: AtomicU64,
    pub dead_letters: AtomicU64,
}

impl Status {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Stages of the event path, the `stage` label of `outcry_stage_events_total`.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// The whole pure matching stage (normalize to route), for what can't be pinned to one part.
    Match,
    Normalize,
    Identity,
    Classify,
    Route,
    Claim,
    /// Helpdesk feedback applied to an owner.
    Feedback,
    Produce,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Match => "match",
            Stage::Normalize => "normalize",
            Stage::Identity => "identity",
            Stage::Classify => "classify",
            Stage::Route => "route",
            Stage::Claim => "claim",
            Stage::Feedback => "feedback",
            Stage::Produce => "produce",
        }
    }
}

pub struct Metrics {
    pub registry: Registry,
    pub stage_events: IntCounterVec,
    pub match_duration: Histogram,
    pub claim_duration: Histogram,
    pub claim_batch: Histogram,
    pub events_finished: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub assignments: IntCounterVec,
    pub identity_customers: IntGauge,
    pub customer_changes: IntCounterVec,
    pub inflight: IntGauge,
    pub ready: IntGauge,
    pub offsets_stored: IntCounter,
    pub claim_retries: IntCounter,
    pub rules_reloads: IntCounterVec,
    pub feedback: IntCounterVec,
    pub bounces: IntCounter,
    pub escalations: IntCounterVec,
    pub sla_breaches: IntCounterVec,
    pub first_response: Histogram,
    pub outbound: IntCounterVec,
    pub identity_matches: IntCounterVec,
    pub intents: IntCounterVec,
    pub stage_duration: HistogramVec,
    pub consumer_lag: IntGaugeVec,
    pub kafka_errors: IntCounterVec,
    pub claim_errors: IntCounterVec,
    pub rules_info: IntGaugeVec,
    pub build_info: IntGaugeVec,
    pub incidents: IntCounterVec,
    pub incident_links: IntCounter,
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let stage_events = IntCounterVec::new(
            Opts::new(
                "outcry_stage_events_total",
                "Events leaving each stage, by outcome",
            ),
            &["stage", "outcome"],
        )
        .expect("metric");
        // Buckets from 1µs to ~65ms: the matching stage lives in the microseconds.
        let match_duration = Histogram::with_opts(
            HistogramOpts::new(
                "outcry_match_duration_seconds",
                "Matching stage (raw bytes to routing decision) per event",
            )
            .buckets(prometheus::exponential_buckets(1e-6, 2.0, 17).expect("buckets")),
        )
        .expect("metric");
        let claim_duration = Histogram::with_opts(
            HistogramOpts::new(
                "outcry_claim_duration_seconds",
                "Claim store round trip per batch of claims",
            )
            .buckets(prometheus::exponential_buckets(50e-6, 2.0, 16).expect("buckets")),
        )
        .expect("metric");
        let events_finished = IntCounterVec::new(
            Opts::new(
                "outcry_events_finished_total",
                "Input messages whose every output was acknowledged, by input topic, partition and outcome",
            ),
            &["topic", "partition", "outcome"],
        )
        .expect("metric");
        let claim_batch = Histogram::with_opts(
            HistogramOpts::new(
                "outcry_claim_batch_events",
                "Events claimed together in one round trip",
            )
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 11).expect("buckets")),
        )
        .expect("metric");
        let dead_letters = IntCounterVec::new(
            Opts::new("outcry_dead_letters_total", "Dead letters by reason"),
            &["reason"],
        )
        .expect("metric");
        let assignments = IntCounterVec::new(
            Opts::new(
                "outcry_assignments_total",
                "Assignment events by owning department and outcome",
            ),
            &["department", "outcome"],
        )
        .expect("metric");
        let identity_customers = IntGauge::new(
            "outcry_identity_index_customers",
            "Customers in the identity index",
        )
        .expect("metric");
        let customer_changes = IntCounterVec::new(
            Opts::new(
                "outcry_customer_changes_total",
                "Changes read from the CRM topic, by outcome",
            ),
            &["outcome"],
        )
        .expect("metric");
        let inflight = IntGauge::new(
            "outcry_inflight_events",
            "Events read whose outputs are not yet acknowledged",
        )
        .expect("metric");
        let ready =
            IntGauge::new("outcry_ready", "1 once the worker is consuming").expect("metric");
        let offsets_stored = IntCounter::new(
            "outcry_offsets_stored_total",
            "Offset stores after every output of the events below was acknowledged",
        )
        .expect("metric");
        let claim_retries = IntCounter::new(
            "outcry_claim_retries_total",
            "Claim attempts retried because the claim store was unavailable",
        )
        .expect("metric");
        let rules_reloads = IntCounterVec::new(
            Opts::new(
                "outcry_rules_reloads_total",
                "Rule-pack reloads (SIGHUP or a changed file), by outcome: applied or refused",
            ),
            &["outcome"],
        )
        .expect("metric");
        let feedback = IntCounterVec::new(
            Opts::new(
                "outcry_feedback_total",
                "Helpdesk feedback messages by type and outcome (refused: stale token or no owner)",
            ),
            &["type", "outcome"],
        )
        .expect("metric");
        let bounces = IntCounter::new(
            "outcry_bounces_total",
            "Bounces applied (a department handed a customer back)",
        )
        .expect("metric");
        let escalations = IntCounterVec::new(
            Opts::new(
                "outcry_escalations_total",
                "Customers moved to the escalation queue (bounce limit) or a breach queue (SLA)",
            ),
            &["cause"],
        )
        .expect("metric");
        let sla_breaches = IntCounterVec::new(
            Opts::new(
                "outcry_sla_breaches_total",
                "SLA deadlines breached, by kind: first_response or resolution",
            ),
            &["kind"],
        )
        .expect("metric");
        // Buckets from 30 s to ~3 days.
        let first_response = Histogram::with_opts(
            HistogramOpts::new(
                "outcry_time_to_first_response_seconds",
                "From an ownership's opening to the helpdesk's first `responded` feedback",
            )
            .buckets(prometheus::exponential_buckets(30.0, 2.0, 14).expect("buckets")),
        )
        .expect("metric");
        let outbound = IntCounterVec::new(
            Opts::new(
                "outcry_outbound_decisions_total",
                "Outbound gate answers by message kind and outcome (allowed, or the refusal)",
            ),
            &["kind", "outcome"],
        )
        .expect("metric");
        let identity_matches = IntCounterVec::new(
            Opts::new(
                "outcry_identity_matches_total",
                "Authors looked up in the identity index, by band: verified, strong, probable, unknown",
            ),
            &["band"],
        )
        .expect("metric");
        let intents = IntCounterVec::new(
            Opts::new(
                "outcry_intents_total",
                "Classified events by intent (names from the rule packs; `general` when none matched, `noise` for noise)",
            ),
            &["intent"],
        )
        .expect("metric");
        // Buckets from 100 ns to ~3 ms.
        let stage_duration = HistogramVec::new(
            HistogramOpts::new(
                "outcry_stage_duration_seconds",
                "Time in each part of the matching stage per event: normalize, identity, classify, route",
            )
            .buckets(prometheus::exponential_buckets(1e-7, 2.0, 15).expect("buckets")),
            &["stage"],
        )
        .expect("metric");
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "outcry_consumer_lag_messages",
                "Messages behind the end of each assigned partition (librdkafka statistics, every statistics.interval.ms)",
            ),
            &["topic", "partition"],
        )
        .expect("metric");
        let kafka_errors = IntCounterVec::new(
            Opts::new(
                "outcry_kafka_errors_total",
                "Kafka client errors by kind: consume, produce, commit, client (librdkafka error callback)",
            ),
            &["kind"],
        )
        .expect("metric");
        let claim_errors = IntCounterVec::new(
            Opts::new(
                "outcry_claim_store_errors_total",
                "Redis (claim store) errors by kind: unavailable (retried) or protocol (the input is dead-lettered)",
            ),
            &["kind"],
        )
        .expect("metric");
        let rules_info = IntGaugeVec::new(
            Opts::new(
                "outcry_rules_info",
                "1 for the rule-pack version now running (`name@version`, comma-separated)",
            ),
            &["version"],
        )
        .expect("metric");
        let build_info = IntGaugeVec::new(
            Opts::new("outcry_build_info", "1, labelled with the outcry version"),
            &["version"],
        )
        .expect("metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        let incidents = IntCounterVec::new(
            Opts::new(
                "outcry_incidents_total",
                "Incidents opened and closed by the detectors (docs/incidents.md)",
            ),
            &["event"],
        )
        .expect("metric");
        let incident_links = IntCounter::new(
            "outcry_incident_links_total",
            "Posts linked to an incident (the ones that opened it included)",
        )
        .expect("metric");
        for e in ["opened", "closed"] {
            incidents.with_label_values(&[e]);
        }
        // Every value of the closed label sets exists from the start, at 0.
        for band in ["verified", "strong", "probable", "unknown"] {
            identity_matches.with_label_values(&[band]);
        }
        for stage in ["normalize", "identity", "classify", "route"] {
            stage_duration.with_label_values(&[stage]);
        }
        for kind in ["consume", "produce", "commit", "client"] {
            kafka_errors.with_label_values(&[kind]);
        }
        for kind in ["unavailable", "protocol"] {
            claim_errors.with_label_values(&[kind]);
        }
        for kind in crate::claim::FeedbackKind::ALL {
            for outcome in ["applied", "refused"] {
                feedback.with_label_values(&[kind.as_str(), outcome]);
            }
        }
        for cause in ["bounce_limit", "sla"] {
            escalations.with_label_values(&[cause]);
        }
        for kind in ["first_response", "resolution"] {
            sla_breaches.with_label_values(&[kind]);
        }
        for kind in ["reply", "proactive"] {
            outbound.with_label_values(&[kind, "allowed"]);
            for r in crate::claim::Refusal::ALL {
                outbound.with_label_values(&[kind, r.as_str()]);
            }
        }
        for outcome in ["applied", "refused"] {
            rules_reloads.with_label_values(&[outcome]);
        }
        for outcome in ["applied", "invalid"] {
            customer_changes.with_label_values(&[outcome]);
        }
        for reason in crate::normalize::Reason::ALL {
            dead_letters.with_label_values(&[reason.as_str()]);
        }
        dead_letters.with_label_values(&["claim_failed"]);
        dead_letters.with_label_values(&["invalid_feedback"]);
        dead_letters.with_label_values(&["output_rejected"]);
        for c in [
            Box::new(rules_reloads.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(stage_events.clone()),
            Box::new(match_duration.clone()),
            Box::new(claim_duration.clone()),
            Box::new(claim_batch.clone()),
            Box::new(events_finished.clone()),
            Box::new(dead_letters.clone()),
            Box::new(assignments.clone()),
            Box::new(identity_customers.clone()),
            Box::new(customer_changes.clone()),
            Box::new(inflight.clone()),
            Box::new(ready.clone()),
            Box::new(offsets_stored.clone()),
            Box::new(claim_retries.clone()),
            Box::new(feedback.clone()),
            Box::new(bounces.clone()),
            Box::new(escalations.clone()),
            Box::new(sla_breaches.clone()),
            Box::new(first_response.clone()),
            Box::new(outbound.clone()),
            Box::new(identity_matches.clone()),
            Box::new(intents.clone()),
            Box::new(stage_duration.clone()),
            Box::new(consumer_lag.clone()),
            Box::new(kafka_errors.clone()),
            Box::new(claim_errors.clone()),
            Box::new(rules_info.clone()),
            Box::new(build_info.clone()),
            Box::new(incidents.clone()),
            Box::new(incident_links.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Arc::new(Metrics {
            registry,
            stage_events,
            match_duration,
            claim_duration,
            claim_batch,
            events_finished,
            dead_letters,
            assignments,
            identity_customers,
            customer_changes,
            inflight,
            ready,
            offsets_stored,
            claim_retries,
            rules_reloads,
            feedback,
            bounces,
            escalations,
            sla_breaches,
            first_response,
            outbound,
            identity_matches,
            intents,
            stage_duration,
            consumer_lag,
            kafka_errors,
            claim_errors,
            rules_info,
            build_info,
            incidents,
            incident_links,
        })
    }

    pub fn stage(&self, stage: Stage, outcome: &str) {
        self.stage_events
            .with_label_values(&[stage.as_str(), outcome])
            .inc();
    }

    pub fn identity_band(&self, band: crate::event::Confidence) {
        let b = match band {
            crate::event::Confidence::Verified => "verified",
            crate::event::Confidence::Strong => "strong",
            crate::event::Confidence::Probable => "probable",
            crate::event::Confidence::Unknown => "unknown",
        };
        self.identity_matches.with_label_values(&[b]).inc();
    }

    /// The parts of the matching stage, for an event that went through them (a part an event
    /// never reached stays unobserved).
    pub fn observe_stages(&self, t: &crate::pipeline::StageTimings) {
        for (stage, d) in [
            ("normalize", t.normalize),
            ("identity", t.identity),
            ("classify", t.classify),
            ("route", t.route),
        ] {
            if !d.is_zero() {
                self.stage_duration
                    .with_label_values(&[stage])
                    .observe(d.as_secs_f64());
            }
        }
    }

    /// The rule packs now running: one series at 1 (the previous version's is removed).
    pub fn set_rules_version(&self, version: &str) {
        self.rules_info.reset();
        self.rules_info.with_label_values(&[version]).set(1);
    }

    /// Record librdkafka's per-partition consumer lag from a statistics report.
    pub fn record_lag(&self, stats: &rdkafka::Statistics) {
        // Only the partitions this worker holds now: a revoked partition's last value must not
        // stay behind, frozen.
        self.consumer_lag.reset();
        for (topic, t) in &stats.topics {
            for (partition, p) in &t.partitions {
                // -1: librdkafka does not know yet; partition -1 is its internal "unassigned".
                if p.partition < 0 || p.consumer_lag < 0 || !p.fetch_state.eq("active") {
                    continue;
                }
                self.consumer_lag
                    .with_label_values(&[topic.as_str(), partition.to_string().as_str()])
                    .set(p.consumer_lag);
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding never fails");
        String::from_utf8(buf).expect("prometheus text is UTF-8")
    }
}

/// Logs to stderr; `RUST_LOG` overrides the `default` filter.
pub fn init_tracing(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
