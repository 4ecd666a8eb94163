//! sla: every worker sweeps the SLA index every `sla.sweep_every`; each due deadline is taken by
//! exactly one worker (the claim store's atomic check against the owner record), which emits an
//! `sla_breached` alert and an `sla_breached` assignment to the queue the policy names, and only
//! then lets the breach go. A worker that dies in between leaves the breach taken; after
//! `sla.retake_after` another worker takes the same breach (same ids) and emits it.

use crate::claim::{Breach, ClaimStore, SlaCheck};
use crate::config::Config;
use crate::event::{AlertEvent, AssignmentEvent, AssignmentOutcome, PreviousOwner};
use crate::kafka::records::{self, Output};
use crate::telemetry::Metrics;
use std::sync::Arc;
use tokio::sync::watch;

/// How many due deadlines one sweep takes at most (the next sweep takes the rest).
const BATCH: usize = 500;

/// The records one breach causes: an alert and an assignment event. Their ids depend only on
/// the breach, so a retaken breach produces the same records again.
pub fn breach_outputs(b: &Breach, config: &Config, now_ms: i64) -> Vec<Output> {
    let topics = &config.kafka.topics;
    let time = records::now_rfc3339();
    let why = format!("sla_breached: {}", b.kind);
    let alert = AlertEvent {
        alert_id: format!("sla:{}:{}:{}", b.owner_key, b.kind, b.from_token),
        kind: "sla_breached".into(),
        owner_key: b.owner_key.clone(),
        at_ms: now_ms,
        summary: format!(
            "{} deadline of {}/{} (token {}) passed; moved to {}/{}",
            b.kind, b.from_department, b.from_queue, b.from_token, b.department, b.queue
        ),
        detail: serde_json::to_value(b).unwrap_or_default(),
    };
    let assignment = AssignmentEvent {
        sla_deadline_ms: b.due_ms,
        resolution_due_ms: b.resolution_due_ms,
        reasons: vec![why],
        replayed: b.retaken,
        previous: Some(PreviousOwner {
            department: b.from_department.clone(),
            queue: b.from_queue.clone(),
            fencing_token: b.from_token,
        }),
        bounces: b.bounces,
        trail: b.trail.clone(),
        ..AssignmentEvent::of_owner(
            format!("sla:{}:{}", b.kind, b.token),
            b.owner_key.clone(),
            AssignmentOutcome::SlaBreached,
            &b.department,
            &b.queue,
            b.priority.as_str(),
            b.token,
        )
    };
    vec![
        records::alert(&topics.alerts, &alert, &time),
        records::assignment(&topics.assignments, &assignment, &time),
    ]
}

/// Close the incidents past their expiry, each once across all workers, with an
/// `incident_closed` alert.
async fn expire_incidents<F, Fut>(
    store: &dyn ClaimStore,
    config: &Config,
    metrics: &Metrics,
    send: &F,
    now: i64,
) where
    F: Fn(Output) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let due = match store.incidents_due(now, BATCH).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "incident sweep: cannot read the expiry index");
            return;
        }
    };
    for id in due {
        match store.close_incident(&id, now, "expired").await {
            Ok(Some(closed)) => {
                metrics.incidents.with_label_values(&["closed"]).inc();
                tracing::info!(incident_id = %id, linked = closed.linked, "incident expired");
                let alert = crate::incident::closed_alert(&closed);
                let out =
                    records::alert(&config.kafka.topics.alerts, &alert, &records::now_rfc3339());
                if let Err(e) = send(out).await {
                    tracing::error!(error = %e, incident_id = %id, "incident_closed alert not produced");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, incident_id = %id, "incident sweep: close failed"),
        }
    }
}

/// Sweep until `shutdown`. `send` produces one record and resolves when the broker has it.
pub async fn sweep<F, Fut>(
    store: Arc<dyn ClaimStore>,
    config: Config,
    metrics: Arc<Metrics>,
    send: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn(Output) -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let every = config.sla.sweep_every.0;
    let retake = config.sla.retake_after.0;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        let now = crate::normalize::time::now_ms();
        expire_incidents(store.as_ref(), &config, &metrics, &send, now).await;
        let due = match store.due(now, BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "sla sweep: cannot read the deadline index");
                continue;
            }
        };
        for d in due {
            let breach = match store.take_breach(&d, now, retake).await {
                Ok(SlaCheck::Breach(b)) => b,
                Ok(SlaCheck::NotDue | SlaCheck::Taken) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, owner_key = %d.owner_key, "sla sweep: check failed");
                    continue;
                }
            };
            let mut sent = true;
            for o in breach_outputs(&breach, &config, now) {
                if let Err(e) = send(o).await {
                    tracing::warn!(error = %e, owner_key = %d.owner_key, "sla breach not produced; another worker retakes it");
                    sent = false;
                    break;
                }
            }
            if !sent {
                continue;
            }
            if !breach.retaken {
                metrics
                    .sla_breaches
                    .with_label_values(&[breach.kind.as_str()])
                    .inc();
                metrics.escalations.with_label_values(&["sla"]).inc();
                metrics
                    .assignments
                    .with_label_values(&[&breach.department, "sla_breached"])
                    .inc();
            }
            tracing::info!(owner_key = %breach.owner_key, kind = %breach.kind, token = breach.token, department = %breach.department, "sla breached");
            if let Err(e) = store.breach_done(&d, &breach).await {
                tracing::warn!(error = %e, owner_key = %d.owner_key, "sla breach emitted but not released; it will be emitted again after sla.retake_after");
            }
        }
    }
}
