//! feedback: what helpdesk tools report on `helpdesk.feedback` (schema: docs/feedback.md),
//! parsed, and the records an applied or refused feedback causes. Pure: the claim-store call
//! happens in the worker.

use crate::claim::{FeedbackKind, FeedbackOutcome, FeedbackRequest, FeedbackResult};
use crate::config::Config;
use crate::event::{
    AlertEvent, AssignmentEvent, AssignmentOutcome, ExchangeEvent, PreviousOwner, SourceCoords,
};
use crate::kafka::records::{self, Output};
use serde::Deserialize;

/// One message on `helpdesk.feedback`. Unknown fields are allowed (tools add their own).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct FeedbackMessage {
    /// Unique per message: a redelivered message gets the same answer and causes nothing new.
    pub feedback_id: String,
    /// As in the assignment event (`customer:C1`, `author:x:15`).
    pub owner_key: String,
    #[serde(rename = "type")]
    pub kind: FeedbackKind,
    /// The token of the assignment the feedback is about.
    pub fencing_token: u64,
    /// A bounce reason, an outbound message id, anything for the history (at most 200
    /// characters are kept).
    #[serde(default)]
    pub note: String,
}

/// Parse and check one feedback message; the error says what is wrong, for the dead letter.
pub fn parse(payload: &[u8]) -> Result<FeedbackMessage, String> {
    let m: FeedbackMessage =
        serde_json::from_slice(payload).map_err(|e| format!("not a feedback message: {e}"))?;
    let ok = |s: &str, max: usize| !s.trim().is_empty() && s.len() <= max;
    if !ok(&m.feedback_id, 200) {
        return Err("feedback_id must be 1 to 200 characters".into());
    }
    if !ok(&m.owner_key, 512) || m.owner_key.contains(['\n', '\r']) {
        return Err("owner_key must be 1 to 512 characters on one line".into());
    }
    Ok(m)
}

impl FeedbackMessage {
    pub fn request(&self, config: &Config, now_ms: i64) -> FeedbackRequest {
        FeedbackRequest {
            feedback_id: self.feedback_id.clone(),
            owner_key: self.owner_key.clone(),
            kind: self.kind,
            token: self.fencing_token,
            note: self.note.clone(),
            now_ms,
            remember: config.claim.remember_events.0,
            bounce_limit: config.routing.bounce_limit,
            lease: config.claim.lease.0,
        }
    }
}

/// The records feedback causes: a refusal is a `policy_violation` alert; anything applied is
/// an exchange on the interactions topic; a bounce (`rerouted`, `escalated`) or a resolution
/// (`released`) is also an assignment event.
pub fn outputs(
    m: &FeedbackMessage,
    r: &FeedbackResult,
    config: &Config,
    source: &SourceCoords,
    now_ms: i64,
) -> Vec<Output> {
    let topics = &config.kafka.topics;
    let time = records::now_rfc3339();
    if r.outcome == FeedbackOutcome::Refused {
        let why = r.refused.map_or("refused", |x| x.as_str());
        let alert = AlertEvent {
            alert_id: format!("feedback:{}/refused", m.feedback_id),
            kind: "policy_violation".into(),
            owner_key: m.owner_key.clone(),
            at_ms: now_ms,
            summary: format!(
                "{} feedback with token {} refused: {why}",
                m.kind.as_str(),
                m.fencing_token
            ),
            detail: serde_json::json!({
                "feedback_id": m.feedback_id,
                "type": m.kind.as_str(),
                "fencing_token": m.fencing_token,
                "refused": why,
                "current_fencing_token": r.token,
                "current_department": r.department,
                "source": source,
            }),
        };
        return vec![records::alert(&topics.alerts, &alert, &time)];
    }
    let mut out = vec![records::exchange(
        &topics.interactions,
        &ExchangeEvent {
            owner_key: m.owner_key.clone(),
            kind: m.kind.as_str().into(),
            id: m.feedback_id.clone(),
            department: r.department.clone(),
            queue: r.queue.clone(),
            fencing_token: r.token,
            note: m.note.clone(),
            at_ms: now_ms,
            source: source.clone(),
        },
        &time,
    )];
    let outcome = match r.outcome {
        FeedbackOutcome::Rerouted => AssignmentOutcome::Rerouted,
        FeedbackOutcome::Escalated => AssignmentOutcome::Escalated,
        FeedbackOutcome::Resolved => AssignmentOutcome::Released,
        _ => return out,
    };
    let previous = r
        .trail
        .last()
        .filter(|_| outcome != AssignmentOutcome::Released);
    let assignment = AssignmentEvent {
        sla_deadline_ms: r.sla_deadline_ms,
        reasons: match previous {
            Some(step) => vec![step.why.clone()],
            None => vec![format!("resolved by {}/{}", r.department, r.queue)],
        },
        replayed: r.replayed,
        source: source.clone(),
        previous: previous.map(|step| {
            let (department, queue) = step.from.split_once('/').unwrap_or((&step.from, ""));
            PreviousOwner {
                department: department.into(),
                queue: queue.into(),
                fencing_token: step.from_token,
            }
        }),
        bounces: r.bounces,
        trail: r.trail.clone(),
        ..AssignmentEvent::of_owner(
            format!("feedback:{}", m.feedback_id),
            m.owner_key.clone(),
            outcome,
            &r.department,
            &r.queue,
            r.priority.map(|p| p.as_str()).unwrap_or_default(),
            r.token,
        )
    };
    out.push(records::assignment(&topics.assignments, &assignment, &time));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_checks_every_field() {
        let ok = parse(br#"{"feedback_id":"f1","owner_key":"customer:C1","type":"bounced","fencing_token":3,"note":"not ours","ticket":"ZD-1"}"#).unwrap();
        assert_eq!(ok.kind, FeedbackKind::Bounced);
        assert_eq!(ok.fencing_token, 3);
        for (bad, needle) in [
            (
                &br#"{"feedback_id":"f1","owner_key":"k","type":"closed","fencing_token":3}"#[..],
                "unknown variant",
            ),
            (
                br#"{"feedback_id":"f1","owner_key":"k","type":"resolved"}"#,
                "fencing_token",
            ),
            (
                br#"{"feedback_id":"","owner_key":"k","type":"resolved","fencing_token":1}"#,
                "feedback_id",
            ),
            (
                br#"{"feedback_id":"f","owner_key":"a\nb","type":"resolved","fencing_token":1}"#,
                "owner_key",
            ),
            (b"\xff", "not a feedback message"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(needle), "{e}");
        }
    }
}
