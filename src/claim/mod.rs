//! claim: ownership of a customer, held in a [`ClaimStore`]. The rules (docs/ownership.md):
//!
//! - an inbound event with no current owner opens an ownership: a fresh fencing token
//!   (monotonic per owner key, never reused), the first candidate department/queue, a lease,
//!   a first-response and a resolution deadline;
//! - an inbound event while an owner holds the lease attaches to it (a higher priority is
//!   passed on as a bump);
//! - the same event id again gets the same decision (redelivery is safe);
//! - feedback from the helpdesk, quoting the owner's token: `accepted`, `responded` (stops the
//!   first-response clock), `resolved` (ends the ownership), `bounced` (the next candidate
//!   department that has not bounced this customer takes it with a new token; at the bounce
//!   limit, or with no candidate left, the escalation queue — the sag wagon — with the trail),
//!   `outbound` (recorded). A stale token is refused. Idempotent on the feedback id;
//! - SLA deadlines are indexed; a due one is taken by exactly one sweeper, checked against the
//!   owner record, and moves the case to the breach queue with a new token;
//! - the outbound gate: a reply needs the current token; a proactive message is refused while
//!   a care case is open, past the contact-frequency limit, or to a `do_not_contact` customer;
//! - each owner key's history: assignments, responses, bounces, outbound messages, refusals,
//!   capped by length and age.
//!
//! Its configuration sections (`[redis]`, `[claim]`, `[history]`, `[outbound]`) are in
//! `claim/config.rs`.
//!
//! Backends: [`RedisClaimStore`] (Lua scripts in `claim/lua/`, every key of one owner key in
//! one Redis Cluster hash slot) and [`MemoryClaimStore`] (the demo's in-process store, the
//! same rules in Rust). The same test bodies run against both.

mod config;
mod memory;
mod redis;

pub use self::config::{ClaimConfig, HistoryConfig, OutboundConfig, RedisConfig};
pub use self::memory::MemoryClaimStore;
pub use self::redis::{acl_rules, RedisClaimStore};

use crate::event::AssignmentOutcome;
pub use crate::event::TrailStep;
use crate::route::{Priority, Target};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A monotonic token per owner key; a later owner always has a larger one. Helpdesk tools quote
/// it back so a stale owner's action can be refused.
pub type FencingToken = u64;

/// What the claim stage is asked to do for one routed event.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest {
    pub owner_key: String,
    pub event_id: String,
    /// The candidate departments/queues in order; the first takes a new ownership.
    pub candidates: Vec<Target>,
    /// The sag wagon.
    pub escalation: Target,
    /// Where an SLA breach moves the case.
    pub on_breach: Target,
    pub priority: Priority,
    /// The worker's clock, in Unix milliseconds.
    pub now_ms: i64,
    pub lease: Duration,
    /// First-response time.
    pub sla: Duration,
    pub resolution: Duration,
    /// How long the decision for `event_id` is remembered.
    pub remember: Duration,
}

/// What the store decided for an inbound event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub outcome: AssignmentOutcome,
    /// The owning department (for an attach, the current owner's, not the routed one).
    pub department: String,
    pub queue: String,
    pub token: FencingToken,
    pub priority: Priority,
    /// First-response due (Unix ms).
    pub sla_deadline_ms: i64,
    pub resolution_due_ms: i64,
    pub lease_until_ms: i64,
    pub bumped: bool,
    /// The event id had already been decided: this is that decision again.
    #[serde(default)]
    pub replayed: bool,
}

/// What a helpdesk tool reports on `helpdesk.feedback` (docs/feedback.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    Accepted,
    Responded,
    Resolved,
    Bounced,
    Outbound,
}

impl FeedbackKind {
    pub const ALL: [FeedbackKind; 5] = [
        FeedbackKind::Accepted,
        FeedbackKind::Responded,
        FeedbackKind::Resolved,
        FeedbackKind::Bounced,
        FeedbackKind::Outbound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Accepted => "accepted",
            FeedbackKind::Responded => "responded",
            FeedbackKind::Resolved => "resolved",
            FeedbackKind::Bounced => "bounced",
            FeedbackKind::Outbound => "outbound",
        }
    }
}

/// One feedback message, applied to the owner it names.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedbackRequest {
    /// Unique per message from the helpdesk: the same id again gets the same answer.
    pub feedback_id: String,
    pub owner_key: String,
    pub kind: FeedbackKind,
    /// The token of the ownership the feedback is about.
    pub token: FencingToken,
    /// Free text from the helpdesk (a bounce reason, an outbound message id); kept in the
    /// history, never interpreted.
    pub note: String,
    pub now_ms: i64,
    pub remember: Duration,
    pub bounce_limit: u32,
    /// Valid feedback keeps the ownership at least this long from now.
    pub lease: Duration,
}

/// What feedback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackOutcome {
    Accepted,
    Responded,
    /// The ownership ended.
    Resolved,
    /// A bounce moved the customer to the next candidate.
    Rerouted,
    /// A bounce at the limit (or with no candidate left): the sag wagon took it.
    Escalated,
    /// An outbound message, recorded in the history.
    Recorded,
    /// Not applied: see `refused`.
    Refused,
}

impl FeedbackOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackOutcome::Accepted => "accepted",
            FeedbackOutcome::Responded => "responded",
            FeedbackOutcome::Resolved => "resolved",
            FeedbackOutcome::Rerouted => "rerouted",
            FeedbackOutcome::Escalated => "escalated",
            FeedbackOutcome::Recorded => "recorded",
            FeedbackOutcome::Refused => "refused",
        }
    }
}

/// Why feedback or an outbound message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// Nobody owns this customer now.
    NoOwner,
    /// The token is not the current owner's (an earlier owner's, or made up).
    StaleToken,
    /// A proactive message while a care case is open.
    CareCaseOpen,
    /// A proactive message past the contact-frequency limit.
    RateLimited,
    /// The customer asked not to be contacted.
    DoNotContact,
}

impl Refusal {
    pub const ALL: [Refusal; 5] = [
        Refusal::NoOwner,
        Refusal::StaleToken,
        Refusal::CareCaseOpen,
        Refusal::RateLimited,
        Refusal::DoNotContact,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoOwner => "no_owner",
            Refusal::StaleToken => "stale_token",
            Refusal::CareCaseOpen => "care_case_open",
            Refusal::RateLimited => "rate_limited",
            Refusal::DoNotContact => "do_not_contact",
        }
    }
}

/// The answer to one feedback message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackResult {
    pub outcome: FeedbackOutcome,
    #[serde(default)]
    pub refused: Option<Refusal>,
    /// The owner after the feedback (empty when refused with no owner, or resolved).
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub queue: String,
    /// The current token after the feedback (a new one after a bounce).
    #[serde(default)]
    pub token: FencingToken,
    #[serde(default)]
    pub priority: Option<Priority>,
    /// Bounces of this ownership so far.
    #[serde(default)]
    pub bounces: u32,
    /// Every move of this ownership so far, oldest first.
    #[serde(default)]
    pub trail: Vec<TrailStep>,
    /// First-response due after the feedback (a re-route starts a new clock).
    #[serde(default)]
    pub sla_deadline_ms: i64,
    /// For the first `responded` of an ownership: how long after its opening it came (ms).
    #[serde(default)]
    pub first_response_ms: Option<i64>,
    #[serde(default)]
    pub replayed: bool,
}

/// An indexed deadline: the owner key and the time it is indexed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub owner_key: String,
    pub at_ms: i64,
}

/// What an SLA check of one owner key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlaCheck {
    /// No deadline is due (any more): nothing to do.
    NotDue,
    /// Another sweeper took this breach and is still within its retake time.
    Taken,
    /// This sweeper took the breach: emit it, then call [`ClaimStore::breach_done`].
    Breach(Box<Breach>),
}

/// A breached deadline, and the move it caused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub owner_key: String,
    /// `first_response` or `resolution`.
    pub kind: String,
    pub due_ms: i64,
    pub from_department: String,
    pub from_queue: String,
    pub from_token: FencingToken,
    pub department: String,
    pub queue: String,
    pub token: FencingToken,
    pub priority: Priority,
    /// The resolution deadline, which still holds after a first-response breach.
    pub resolution_due_ms: i64,
    pub bounces: u32,
    pub trail: Vec<TrailStep>,
    /// True when a sweeper took this breach before and did not finish (crashed): the same
    /// breach, handed out again.
    #[serde(default)]
    pub retaken: bool,
}

/// An outbound message a helpdesk or marketing tool asks to send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundRequest {
    pub owner_key: String,
    /// Unique per message: asking again gets the same answer.
    pub message_id: String,
    pub kind: OutboundKind,
    /// Required for a reply: the current owner's token.
    #[serde(default)]
    pub token: Option<FencingToken>,
    /// Who sends it (a department or tool), for the history.
    #[serde(default)]
    pub sender: String,
    /// The customer asked not to be contacted (from the CRM; set by the gate, not the caller).
    #[serde(skip)]
    pub do_not_contact: bool,
    #[serde(skip)]
    pub now_ms: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboundKind {
    /// An answer from the owner, in the case.
    Reply,
    /// Marketing, sales, surveys: not an answer to the customer.
    Proactive,
}

/// The gate's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundDecision {
    pub allowed: bool,
    #[serde(default)]
    pub refused: Option<Refusal>,
    /// Proactive messages to this customer inside the current window, this one included.
    #[serde(default)]
    pub proactive_in_window: u32,
    #[serde(default)]
    pub replayed: bool,
}

/// The contact policy of the outbound gate.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactPolicy {
    pub max_proactive: u32,
    pub window: Duration,
    /// How long the answer for a message id is remembered.
    pub remember: Duration,
}

/// How much history is kept per owner key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistoryPolicy {
    pub max_entries: u32,
    pub max_age: Duration,
}

impl Default for HistoryPolicy {
    fn default() -> Self {
        HistoryPolicy {
            max_entries: 200,
            max_age: Duration::from_secs(90 * 86_400),
        }
    }
}

/// One line of a customer's communication history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at_ms: i64,
    /// `assigned`, `attached`, `accepted`, `responded`, `resolved`, `bounced`, `rerouted`,
    /// `escalated`, `sla_breached`, `outbound`, `refused`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub department: String,
    #[serde(default)]
    pub queue: String,
    #[serde(default)]
    pub token: FencingToken,
    /// The event, feedback or message id.
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub note: String,
}

/// One event counted towards one detector key (docs/incidents.md).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectRequest {
    pub detector: String,
    /// The grouping key's values: `lost_luggage|JFK`.
    pub group: String,
    pub event_id: String,
    /// For distinct-author thresholds: `platform:user id`.
    pub author: String,
    pub now_ms: i64,
    pub window: Duration,
    pub threshold: crate::incident::Threshold,
    pub cooldown: Duration,
    pub expire_after: Duration,
    /// How long the decision for this event id is remembered (redelivery).
    pub remember: Duration,
}

impl DetectRequest {
    /// `detector:group`: the key all of this detector key's state lives under.
    pub fn key(&self) -> String {
        format!("{}:{}", self.detector, self.group)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectOutcome {
    /// Counted; no incident.
    Counted,
    /// This event crossed the threshold: it opened the incident (exactly one event does).
    Opened,
    /// An incident of this key is open: the event is linked to it.
    Linked,
    /// An incident of this key closed recently; no new one until the cooldown ends.
    Cooldown,
}

/// An incident that ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedIncident {
    pub incident_id: String,
    pub opened_at_ms: i64,
    pub closed_at_ms: i64,
    /// `resolved` (feedback) or `expired`.
    pub reason: String,
    /// Posts linked to it.
    pub linked: u32,
}

/// What the store decided for one event and one detector key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectDecision {
    pub outcome: DetectOutcome,
    #[serde(default)]
    pub incident_id: Option<String>,
    /// Events and distinct authors in the window, this one included.
    pub events: u32,
    pub authors: u32,
    /// For `rate_multiple`: the usual count per window.
    #[serde(default)]
    pub usual: Option<f64>,
    /// When the open incident expires.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    /// For `opened`: the events in the window that made the incident, oldest first.
    #[serde(default)]
    pub window_events: Vec<String>,
    /// An expired incident of this key that this call closed (once): emit `incident_closed`.
    #[serde(default)]
    pub closed: Option<ClosedIncident>,
    #[serde(default)]
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("claim store unavailable: {0}")]
    Unavailable(String),
    #[error("claim store protocol error: {0}")]
    Protocol(String),
}

/// `op` for each request, one after the other, in order.
pub(crate) async fn one_by_one<'a, R, T>(
    reqs: &'a [R],
    op: impl Fn(&'a R) -> BoxFuture<'a, Result<T, ClaimError>>,
) -> Vec<Result<T, ClaimError>> {
    let mut out = Vec::with_capacity(reqs.len());
    for r in reqs {
        out.push(op(r).await);
    }
    out
}

/// Where ownership lives. Every operation is atomic per owner key and idempotent on its id.
pub trait ClaimStore: Send + Sync {
    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, ClaimError>>;

    /// Claim a batch, applied in order (events of one owner key in their partition order),
    /// one result per request. What a store can do in one round trip it does in one (Redis: a
    /// pipeline); this default claims one after the other. An `Unavailable` store fails the
    /// batch as a whole: the caller retries it, and the requests already applied answer with
    /// their recorded decision (`replayed`), so a retried batch decides nothing twice.
    fn claim_batch<'a>(
        &'a self,
        reqs: &'a [ClaimRequest],
    ) -> BoxFuture<'a, Vec<Result<Claim, ClaimError>>> {
        Box::pin(one_by_one(reqs, |r| self.claim(r)))
    }

    fn feedback<'a>(
        &'a self,
        req: &'a FeedbackRequest,
    ) -> BoxFuture<'a, Result<FeedbackResult, ClaimError>>;

    /// Deadlines indexed at or before `now_ms`, at most `limit`: the index may run early
    /// (never late); [`ClaimStore::take_breach`] checks each against its owner record.
    fn due<'a>(&'a self, now_ms: i64, limit: usize) -> BoxFuture<'a, Result<Vec<Due>, ClaimError>>;

    /// Check one indexed deadline against its owner record and take the breach if it is due
    /// and nobody else holds it (or the one who did is past `retake`: it crashed).
    fn take_breach<'a>(
        &'a self,
        due: &'a Due,
        now_ms: i64,
        retake: Duration,
    ) -> BoxFuture<'a, Result<SlaCheck, ClaimError>>;

    /// The breach was emitted: let it go and index the owner's next deadline.
    fn breach_done<'a>(
        &'a self,
        due: &'a Due,
        breach: &'a Breach,
    ) -> BoxFuture<'a, Result<(), ClaimError>>;

    fn outbound<'a>(
        &'a self,
        req: &'a OutboundRequest,
        policy: &'a ContactPolicy,
    ) -> BoxFuture<'a, Result<OutboundDecision, ClaimError>>;

    /// Newest first, at most `limit`, none older than the history policy's age.
    fn history<'a>(
        &'a self,
        owner_key: &'a str,
        now_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ClaimError>>;

    /// Count an event towards a detector key; open, link to or close its incident.
    fn detect<'a>(
        &'a self,
        req: &'a DetectRequest,
    ) -> BoxFuture<'a, Result<DetectDecision, ClaimError>>;

    /// Detect a batch, applied in order (the events of one detector key in their partition
    /// order), one result per request; like [`ClaimStore::claim_batch`]: one round trip where
    /// the store can, an `Unavailable` store fails the batch as a whole, and a retried batch
    /// counts nothing twice (the requests already applied answer `replayed`).
    fn detect_batch<'a>(
        &'a self,
        reqs: &'a [DetectRequest],
    ) -> BoxFuture<'a, Vec<Result<DetectDecision, ClaimError>>> {
        Box::pin(one_by_one(reqs, |r| self.detect(r)))
    }

    /// End an open incident (`resolved` feedback, or expiry: then only if it is past its
    /// expiry). Returns it when this call closed it; None when it was not open.
    fn close_incident<'a>(
        &'a self,
        incident_id: &'a str,
        now_ms: i64,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<Option<ClosedIncident>, ClaimError>>;

    /// Open incidents whose expiry is at or before `now_ms` (an index that may run early).
    fn incidents_due<'a>(
        &'a self,
        now_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, ClaimError>>;

    /// A short name for logs and the demo summary.
    fn name(&self) -> &'static str;
}

/// Trail steps as the Lua scripts store them: `at|from|from_token|to|why`, joined by `\n`.
#[cfg(test)]
fn encode_trail(t: &[TrailStep]) -> String {
    t.iter()
        .map(|s| {
            format!(
                "{}|{}|{}|{}|{}",
                s.at_ms,
                s.from,
                s.from_token,
                s.to,
                s.why.replace(['\n', '|'], " ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn decode_trail(s: &str) -> Vec<TrailStep> {
    s.split('\n')
        .filter_map(|line| {
            let mut f = line.splitn(5, '|');
            Some(TrailStep {
                at_ms: f.next()?.parse().ok()?,
                from: f.next()?.to_owned(),
                from_token: f.next()?.parse().ok()?,
                to: f.next()?.to_owned(),
                why: f.next()?.to_owned(),
            })
        })
        .collect()
}

/// Free text that goes into a history note: one line, bounded.
fn note(s: &str) -> String {
    let mut n: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    n.truncate(n.trim_end().len());
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_round_trip() {
        let t = vec![
            TrailStep {
                at_ms: 5,
                from: "billing/general".into(),
                from_token: 1,
                to: "support/general".into(),
                why: "bounced: not | ours\nat all".into(),
            },
            TrailStep {
                at_ms: 9,
                from: "support/general".into(),
                from_token: 2,
                to: "escalations/sag-wagon".into(),
                why: "escalated".into(),
            },
        ];
        let back = decode_trail(&encode_trail(&t));
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].why, "bounced: not   ours at all");
        assert_eq!(back[1], t[1]);
        assert!(decode_trail("").is_empty());
        assert_eq!(note("a\u{0}b\n"), "a b");
    }
}
