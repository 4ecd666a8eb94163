//! The canonical event (what normalize produces) and the events outcry emits.

use serde::{Deserialize, Serialize};

/// Where an input message came from; carried through so every output can point back at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SourceCoords {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Post,
    Reply,
    Comment,
    Dm,
    Mention,
    Review,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    #[default]
    Public,
    Private,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Community {
    #[default]
    Public,
    Owned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Author {
    /// The platform's own user id.
    pub id: String,
    #[serde(default)]
    pub handle: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub followers: Option<u64>,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
}

/// One social event, whatever platform it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanonicalEvent {
    /// Platform-prefixed and stable across replays, e.g. `x:1860000000000000001`.
    pub event_id: String,
    pub platform: String,
    pub kind: Kind,
    pub created_at: String,
    #[serde(default)]
    pub conversation_id: Option<String>,
    #[serde(default)]
    pub in_reply_to: Option<String>,
    pub author: Author,
    pub text: String,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub visibility: Visibility,
    #[serde(default)]
    pub community: Community,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub mentions: Vec<String>,
    #[serde(default)]
    pub hashtags: Vec<String>,
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub rating: Option<f64>,
    /// Filled in by the worker, never trusted from the payload.
    #[serde(default, skip_deserializing)]
    pub source: SourceCoords,
}

impl CanonicalEvent {
    /// A post with nothing but a platform, an author id and a text: what `outcry classify`
    /// routes when it has only a text.
    pub fn bare(platform: &str, author_id: &str, text: &str) -> CanonicalEvent {
        CanonicalEvent {
            event_id: format!("{platform}:bare"),
            platform: platform.to_owned(),
            kind: Kind::Post,
            created_at: String::new(),
            conversation_id: None,
            in_reply_to: None,
            author: Author {
                id: author_id.to_owned(),
                ..Author::default()
            },
            text: text.to_owned(),
            lang: None,
            visibility: Visibility::Public,
            community: Community::Public,
            url: None,
            mentions: Vec::new(),
            hashtags: Vec::new(),
            urls: Vec::new(),
            rating: None,
            source: SourceCoords::default(),
        }
    }
}

/// How an author was matched to a CRM customer. Ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Unknown,
    Probable,
    Strong,
    Verified,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdentityMatch {
    /// The matched CRM customer id, if any.
    pub customer_id: Option<String>,
    pub confidence: Confidence,
    /// Why: which key matched (e.g. `identity x:1500000001 (verified)`), or why nothing did.
    pub explanation: String,
    #[serde(default)]
    pub tier: Option<String>,
    /// The evidence score (Fellegi-Sunter-style weights, see docs/identity.md) when scoring
    /// decided or broke a tie; none for a direct platform-id link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// When the answer is `unknown` because customers were about equally likely: each of them,
    /// best first. Never a coin toss.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<MatchCandidate>,
    /// What the CRM knows about the matched customer that routing weighs (priority
    /// contributions). None when no customer matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<CustomerContext>,
}

/// The CRM context of a matched customer, as the index keeps it: what routing and the outbound
/// gate use. Never personal data (no names, emails, phones).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CustomerContext {
    /// The customer's value (CRM units, e.g. yearly revenue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<String>,
    /// Preferred language (BCP 47 primary tag, lower case: `en`, `es`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default)]
    pub open_cases: u32,
    /// Start times (Unix ms) of upcoming appointments and bookings, ascending, at most 8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upcoming_ms: Vec<i64>,
    /// Tiers of the related customers (`related` ids) that are in the index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related_tiers: Vec<String>,
    #[serde(default)]
    pub do_not_contact: bool,
}

impl IdentityMatch {
    /// No customer: a prospect.
    pub fn unknown(explanation: &str) -> IdentityMatch {
        IdentityMatch {
            customer_id: None,
            confidence: Confidence::Unknown,
            explanation: explanation.to_owned(),
            tier: None,
            score: None,
            candidates: Vec::new(),
            context: None,
        }
    }
}

/// A customer an author might be, with its evidence score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MatchCandidate {
    pub customer_id: String,
    pub score: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentMatch {
    pub intent: String,
    pub severity: u8,
    /// The keywords that fired, deduplicated, in order of first appearance.
    pub keywords: Vec<String>,
    /// Sentiment polarity from the packs' lexicon, -1 (negative) to 1 (positive); 0 when no
    /// lexicon term fired.
    #[serde(default)]
    pub sentiment: f32,
    /// The language the counted phrases belong to (the heaviest), if they carry language tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Entities the rule packs extracted (airport codes, flight numbers, order numbers,
    /// products), normalized, in order of first appearance, each (name, value) once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
}

/// One extracted entity: the pack's entity name and the normalized value (`airport` = `JFK`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entity {
    pub name: String,
    pub value: String,
}

/// The outcome of the claim stage, as recorded in Redis and emitted on `outcry.assignments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentOutcome {
    /// An inbound event opened an ownership.
    New,
    /// An inbound event joined the current owner's case.
    Attached,
    /// A bounce moved the customer to the next candidate department.
    Rerouted,
    /// At the bounce limit (or with no candidate left) the escalation queue took it.
    Escalated,
    /// A deadline passed: the case moved to the queue the SLA policy names.
    SlaBreached,
    /// The ownership ended (resolved).
    Released,
}

impl AssignmentOutcome {
    pub const ALL: [AssignmentOutcome; 6] = [
        AssignmentOutcome::New,
        AssignmentOutcome::Attached,
        AssignmentOutcome::Rerouted,
        AssignmentOutcome::Escalated,
        AssignmentOutcome::SlaBreached,
        AssignmentOutcome::Released,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentOutcome::New => "new",
            AssignmentOutcome::Attached => "attached",
            AssignmentOutcome::Rerouted => "rerouted",
            AssignmentOutcome::Escalated => "escalated",
            AssignmentOutcome::SlaBreached => "sla_breached",
            AssignmentOutcome::Released => "released",
        }
    }
}

/// One event per ownership decision, keyed by owner key on `outcry.assignments`: an inbound
/// event (`new`, `attached`), a bounce (`rerouted`, `escalated`), a deadline (`sla_breached`),
/// the end of the ownership (`released`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentEvent {
    /// The inbound event's id; for a move, `feedback:<feedback id>` or `sla:<kind>:<token>`.
    pub event_id: String,
    pub owner_key: String,
    pub outcome: AssignmentOutcome,
    pub department: String,
    #[serde(default)]
    pub queue: String,
    pub priority: String,
    /// The routing score the class came from (inbound events; 0 for moves).
    #[serde(default)]
    pub priority_score: i32,
    pub fencing_token: u64,
    /// First response due (Unix ms).
    pub sla_deadline_ms: i64,
    #[serde(default)]
    pub resolution_due_ms: i64,
    pub lease_until_ms: i64,
    /// The department routing asked for; differs from `department` when attached to an owner.
    pub routed_department: String,
    /// The routing-table row that matched (inbound events).
    #[serde(default)]
    pub route: String,
    /// Why this department, priority and SLA.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Candidate `department/queue`s in order: who takes the customer on a bounce.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// True when this event raised the owner's priority.
    pub priority_bumped: bool,
    /// True when the claim store had already decided this event (a redelivery).
    pub replayed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<IntentMatch>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityMatch>,
    #[serde(default)]
    pub platform: String,
    #[serde(default)]
    pub author_id: String,
    #[serde(default)]
    pub created_at: String,
    /// The input message (event or feedback) that caused this decision; empty for a breach.
    #[serde(default)]
    pub source: SourceCoords,
    /// The rule packs (`name@version`, comma-separated) that classified the event.
    #[serde(default)]
    pub rules_version: String,
    /// For a move: the owner that was left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousOwner>,
    /// Bounces of this ownership so far.
    #[serde(default)]
    pub bounces: u32,
    /// Every move of this ownership, oldest first (the sag wagon gets the whole trail).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trail: Vec<TrailStep>,
    /// The incident this post is part of (docs/incidents.md), or, on an incident's own
    /// assignment, that incident.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentLink>,
}

/// What an assignment event says about the incident its post is part of (`incident` finds it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentLink {
    pub incident_id: String,
    pub detector: String,
    /// The helpdesk's reply template for posts of this incident.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reply_template: String,
}

impl AssignmentEvent {
    /// An assignment no inbound post made directly — a move, a release, an incident's own
    /// owner: who owns it now, everything else empty, to fill with struct-update syntax.
    pub fn of_owner(
        event_id: String,
        owner_key: String,
        outcome: AssignmentOutcome,
        department: &str,
        queue: &str,
        priority: &str,
        fencing_token: u64,
    ) -> AssignmentEvent {
        AssignmentEvent {
            event_id,
            owner_key,
            outcome,
            department: department.to_owned(),
            queue: queue.to_owned(),
            priority: priority.to_owned(),
            priority_score: 0,
            fencing_token,
            sla_deadline_ms: 0,
            resolution_due_ms: 0,
            lease_until_ms: 0,
            routed_department: department.to_owned(),
            route: String::new(),
            reasons: Vec::new(),
            candidates: Vec::new(),
            priority_bumped: false,
            replayed: false,
            intent: None,
            identity: None,
            platform: String::new(),
            author_id: String::new(),
            created_at: String::new(),
            source: SourceCoords::default(),
            rules_version: String::new(),
            previous: None,
            bounces: 0,
            trail: Vec::new(),
            incident: None,
        }
    }
}

/// The owner a move left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousOwner {
    pub department: String,
    pub queue: String,
    pub fencing_token: u64,
}

/// One move of a customer between owners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrailStep {
    pub at_ms: i64,
    /// `department/queue` left, and its token.
    pub from: String,
    pub from_token: u64,
    /// `department/queue` that took over.
    pub to: String,
    /// `bounced: <note>`, `escalated: bounce 3 of 3`, `sla_breached: first_response`.
    pub why: String,
}

/// An exchange reported by a helpdesk tool, on `outcry.interactions` beside the inbound
/// events: every response, outbound message, bounce, resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeEvent {
    pub owner_key: String,
    /// The feedback type: `accepted`, `responded`, `resolved`, `bounced`, `outbound`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The feedback id.
    pub id: String,
    pub department: String,
    pub queue: String,
    pub fencing_token: u64,
    /// What the helpdesk said (a bounce reason, a message id).
    #[serde(default)]
    pub note: String,
    pub at_ms: i64,
    pub source: SourceCoords,
}

/// An alert on `outcry.alerts`, keyed by its alert key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Stable: the same alert again has the same id.
    pub alert_id: String,
    /// `sla_breached`, `policy_violation`.
    pub kind: String,
    pub owner_key: String,
    pub at_ms: i64,
    /// What happened, for people.
    pub summary: String,
    /// The facts, for tools.
    pub detail: serde_json::Value,
}

/// The canonical event plus match and intent, for the CRM's communication history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InteractionEvent {
    pub owner_key: String,
    pub event: CanonicalEvent,
    pub identity: IdentityMatch,
    pub intent: IntentMatch,
    /// The owning department; empty for noise.
    pub department: String,
    /// The owner's fencing token; 0 for noise.
    pub fencing_token: u64,
    /// The rule packs (`name@version`, comma-separated) that classified the event.
    #[serde(default)]
    pub rules_version: String,
    /// Noise kept for the record (`routing.noise = "store"`): no owner, never assigned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub noise: bool,
    /// Set when the event's text was cut so that the record fits the producer's limit
    /// (`limits.max_payload_bytes`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<Truncated>,
}

/// How much of an event's text an interaction record kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Truncated {
    /// The text's size in bytes.
    pub text_bytes: usize,
    /// The bytes kept: a prefix, cut at a character boundary.
    pub kept_bytes: usize,
}
