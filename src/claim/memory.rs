//! The in-process claim store: the same rules as the Lua scripts, behind one mutex. It backs
//! `outcry demo`; the contract tests run the same bodies against it and against Redis.

use super::{
    note, Breach, Claim, ClaimError, ClaimRequest, ClaimStore, ClosedIncident, ContactPolicy,
    DetectDecision, DetectOutcome, DetectRequest, Due, FeedbackKind, FeedbackOutcome,
    FeedbackRequest, FeedbackResult, FencingToken, HistoryEntry, HistoryPolicy, OutboundDecision,
    OutboundKind, OutboundRequest, Refusal, SlaCheck, TrailStep,
};
use crate::event::AssignmentOutcome;
use crate::route::{Priority, Target};
use futures::future::BoxFuture;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone)]
struct Owner {
    department: String,
    queue: String,
    token: FencingToken,
    priority: Priority,
    lease_until_ms: i64,
    candidates: Vec<Target>,
    escalation: Target,
    on_breach: Target,
    opened_at_ms: i64,
    first_ms: i64,
    first_due_ms: i64,
    resolve_due_ms: i64,
    responded: bool,
    bounces: u32,
    bounced: Vec<String>,
    trail: Vec<TrailStep>,
    breached: Vec<&'static str>,
    /// A sweeper took a breach at this time and has not finished it.
    sla_taken_at: Option<i64>,
    breach: Option<Breach>,
}

impl Owner {
    /// The next deadline and its kind (the rule of `next_due` in common.lua).
    fn next_due(&self) -> (i64, &'static str) {
        if !self.responded && !self.breached.contains(&"first_response") {
            return (self.first_due_ms, "first_response");
        }
        if !self.breached.contains(&"resolution") {
            return (self.resolve_due_ms, "resolution");
        }
        (0, "")
    }

    /// Hand the ownership to `to` with a new token.
    fn move_to(&mut self, fence: &mut FencingToken, now: i64, to: &Target, why: String) {
        *fence += 1;
        self.trail.push(TrailStep {
            at_ms: now,
            from: format!("{}/{}", self.department, self.queue),
            from_token: self.token,
            to: to.to_string(),
            why,
        });
        self.department = to.department.clone();
        self.queue = to.queue.clone();
        self.token = *fence;
    }
}

/// One detector key's state (the Lua script's keys for it).
#[derive(Debug, Default)]
struct DetectorState {
    events: Vec<(i64, String)>,
    authors: HashMap<String, i64>,
    buckets: HashMap<i64, u32>,
    incident: Option<Incident>,
    cooldown_until: i64,
    seq: u64,
}

#[derive(Debug, Clone)]
struct Incident {
    id: String,
    open: bool,
    opened_at: i64,
    expires_at: i64,
    cooldown_ms: i64,
    linked: std::collections::HashSet<String>,
}

impl Incident {
    fn close(&mut self, now: i64, reason: &str) -> ClosedIncident {
        self.open = false;
        ClosedIncident {
            incident_id: self.id.clone(),
            opened_at_ms: self.opened_at,
            closed_at_ms: now,
            reason: reason.to_owned(),
            linked: self.linked.len() as u32,
        }
    }
}

#[derive(Debug, Default)]
struct State {
    detectors: HashMap<String, DetectorState>,
    /// Open incidents by expiry.
    incidents: BTreeSet<(i64, String)>,
    owners: HashMap<String, Owner>,
    fences: HashMap<String, FencingToken>,
    /// (owner key, event/feedback/message id) -> (answer, forget after)
    seen: HashMap<(String, String), (String, i64)>,
    history: HashMap<String, VecDeque<HistoryEntry>>,
    proactive: HashMap<String, Vec<i64>>,
    /// (due, owner key)
    index: BTreeSet<(i64, String)>,
    indexed: HashMap<String, i64>,
}

impl State {
    fn live(&mut self, key: &str, now: i64) -> Option<&mut Owner> {
        self.owners.get_mut(key).filter(|o| o.lease_until_ms > now)
    }

    fn remembered(&self, key: &str, id: &str, now: i64) -> Option<String> {
        self.seen
            .get(&(key.to_owned(), id.to_owned()))
            .filter(|(_, until)| *until > now)
            .map(|(s, _)| s.clone())
    }

    fn remember(&mut self, key: &str, id: &str, answer: String, now: i64, for_: Duration) {
        self.seen.insert(
            (key.to_owned(), id.to_owned()),
            (answer, now + for_.as_millis() as i64),
        );
        if self.seen.len() > 100_000 {
            self.seen.retain(|_, (_, until)| *until > now);
        }
    }

    fn record(&mut self, policy: &HistoryPolicy, key: &str, now: i64, mut e: HistoryEntry) {
        e.at_ms = now;
        let h = self.history.entry(key.to_owned()).or_default();
        h.push_front(e);
        h.truncate(policy.max_entries.max(1) as usize);
        let oldest = now - policy.max_age.as_millis() as i64;
        while h.back().is_some_and(|e| e.at_ms < oldest) {
            h.pop_back();
        }
    }

    /// `ZADD LT`: keep the earliest.
    fn index(&mut self, key: &str, due: i64) {
        if due <= 0 {
            return;
        }
        match self.indexed.get(key) {
            Some(&at) if at <= due => {}
            Some(&at) => {
                self.index.remove(&(at, key.to_owned()));
                self.index.insert((due, key.to_owned()));
                self.indexed.insert(key.to_owned(), due);
            }
            None => {
                self.index.insert((due, key.to_owned()));
                self.indexed.insert(key.to_owned(), due);
            }
        }
    }

    /// Move an index entry only if it still has the score the sweeper read.
    fn reindex(&mut self, due: &Due, to: i64) {
        if self.indexed.get(&due.owner_key) != Some(&due.at_ms) {
            return;
        }
        self.index.remove(&(due.at_ms, due.owner_key.clone()));
        self.indexed.remove(&due.owner_key);
        if to > 0 {
            self.index.insert((to, due.owner_key.clone()));
            self.indexed.insert(due.owner_key.clone(), to);
        }
    }
}

fn entry(
    kind: &str,
    o: Option<&Owner>,
    token: FencingToken,
    id: &str,
    note: String,
) -> HistoryEntry {
    HistoryEntry {
        at_ms: 0,
        kind: kind.to_owned(),
        department: o.map(|o| o.department.clone()).unwrap_or_default(),
        queue: o.map(|o| o.queue.clone()).unwrap_or_default(),
        token,
        id: id.to_owned(),
        note,
    }
}

fn encode<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("plain data serializes")
}

fn decode<T: serde::de::DeserializeOwned>(s: &str, replayed: bool) -> Result<T, ClaimError> {
    let mut v: serde_json::Value =
        serde_json::from_str(s).map_err(|e| ClaimError::Protocol(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("replayed".into(), replayed.into());
    }
    serde_json::from_value(v).map_err(|e| ClaimError::Protocol(e.to_string()))
}

#[derive(Debug, Default)]
pub struct MemoryClaimStore {
    state: Mutex<State>,
    history: HistoryPolicy,
}

impl MemoryClaimStore {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_history(mut self, policy: HistoryPolicy) -> Self {
        self.history = policy;
        self
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, ClaimError> {
        self.state
            .lock()
            .map_err(|_| ClaimError::Unavailable("memory store poisoned".into()))
    }

    fn claim_now(&self, req: &ClaimRequest) -> Result<Claim, ClaimError> {
        let first = req
            .candidates
            .first()
            .ok_or_else(|| ClaimError::Protocol("a claim needs a candidate".into()))?;
        let mut st = self.lock()?;
        let now = req.now_ms;
        if let Some(answer) = st.remembered(&req.owner_key, &req.event_id, now) {
            let claim: Claim = decode(&answer, true)?;
            st.index(&req.owner_key, claim.sla_deadline_ms);
            return Ok(claim);
        }
        let lease_ms = req.lease.as_millis() as i64;
        let (claim, history) = match st.live(&req.owner_key, now) {
            Some(o) => {
                let bumped = req.priority < o.priority;
                if bumped {
                    o.priority = req.priority;
                }
                o.lease_until_ms = o.lease_until_ms.max(now + lease_ms);
                let claim = Claim {
                    outcome: AssignmentOutcome::Attached,
                    department: o.department.clone(),
                    queue: o.queue.clone(),
                    token: o.token,
                    priority: o.priority,
                    sla_deadline_ms: o.first_due_ms,
                    resolution_due_ms: o.resolve_due_ms,
                    lease_until_ms: o.lease_until_ms,
                    bumped,
                    replayed: false,
                };
                let h = entry("attached", Some(o), o.token, &req.event_id, String::new());
                (claim, h)
            }
            None => {
                let fence = st.fences.entry(req.owner_key.clone()).or_insert(0);
                *fence += 1;
                let resolve_due = now + req.resolution.as_millis() as i64;
                let o = Owner {
                    department: first.department.clone(),
                    queue: first.queue.clone(),
                    token: *fence,
                    priority: req.priority,
                    lease_until_ms: (now + lease_ms).max(resolve_due),
                    candidates: req.candidates.clone(),
                    escalation: req.escalation.clone(),
                    on_breach: req.on_breach.clone(),
                    opened_at_ms: now,
                    first_ms: req.sla.as_millis() as i64,
                    first_due_ms: now + req.sla.as_millis() as i64,
                    resolve_due_ms: resolve_due,
                    responded: false,
                    bounces: 0,
                    bounced: Vec::new(),
                    trail: Vec::new(),
                    breached: Vec::new(),
                    sla_taken_at: None,
                    breach: None,
                };
                let claim = Claim {
                    outcome: AssignmentOutcome::New,
                    department: o.department.clone(),
                    queue: o.queue.clone(),
                    token: o.token,
                    priority: o.priority,
                    sla_deadline_ms: o.first_due_ms,
                    resolution_due_ms: o.resolve_due_ms,
                    lease_until_ms: o.lease_until_ms,
                    bumped: false,
                    replayed: false,
                };
                let h = entry("assigned", Some(&o), o.token, &req.event_id, String::new());
                st.owners.insert(req.owner_key.clone(), o);
                (claim, h)
            }
        };
        let due = st.owners[&req.owner_key].next_due().0;
        st.record(&self.history, &req.owner_key, now, history);
        st.remember(
            &req.owner_key,
            &req.event_id,
            encode(&claim),
            now,
            req.remember,
        );
        st.index(&req.owner_key, due);
        Ok(claim)
    }

    fn feedback_now(&self, req: &FeedbackRequest) -> Result<FeedbackResult, ClaimError> {
        let mut st = self.lock()?;
        let now = req.now_ms;
        let key = req.owner_key.as_str();
        let id = format!("fb:{}", req.feedback_id);
        if let Some(answer) = st.remembered(key, &id, now) {
            let r: FeedbackResult = decode(&answer, true)?;
            st.index(key, r.sla_deadline_ms);
            return Ok(r);
        }
        let n = note(&req.note);
        let refuse = |o: Option<&Owner>, why: Refusal| FeedbackResult {
            outcome: FeedbackOutcome::Refused,
            refused: Some(why),
            department: o.map(|o| o.department.clone()).unwrap_or_default(),
            queue: o.map(|o| o.queue.clone()).unwrap_or_default(),
            token: o.map_or(0, |o| o.token),
            priority: o.map(|o| o.priority),
            bounces: o.map_or(0, |o| o.bounces),
            trail: o.map(|o| o.trail.clone()).unwrap_or_default(),
            sla_deadline_ms: o.map_or(0, |o| o.first_due_ms),
            first_response_ms: None,
            replayed: false,
        };
        let refused = match st.live(key, now) {
            None => Some(refuse(None, Refusal::NoOwner)),
            Some(o) if o.token != req.token => Some(refuse(Some(o), Refusal::StaleToken)),
            Some(_) => None,
        };
        if let Some(r) = refused {
            let why = r.refused.map_or("", Refusal::as_str);
            let o = st.live(key, now).cloned();
            st.record(
                &self.history,
                key,
                now,
                entry(
                    "refused",
                    o.as_ref(),
                    req.token,
                    &req.feedback_id,
                    format!("{}: {why}", req.kind.as_str()),
                ),
            );
            st.remember(key, &id, encode(&r), now, req.remember);
            return Ok(r);
        }
        let mut fence = st.fences.get(key).copied().unwrap_or(0);
        let mut pre = None;
        let mut first_response = None;
        let o = st.live(key, now).expect("checked above");
        o.lease_until_ms = o.lease_until_ms.max(now + req.lease.as_millis() as i64);
        let mut outcome = match req.kind {
            FeedbackKind::Accepted => FeedbackOutcome::Accepted,
            FeedbackKind::Responded => {
                if !o.responded {
                    first_response = Some(now - o.opened_at_ms);
                }
                o.responded = true;
                FeedbackOutcome::Responded
            }
            FeedbackKind::Resolved => FeedbackOutcome::Resolved,
            FeedbackKind::Bounced => FeedbackOutcome::Rerouted,
            FeedbackKind::Outbound => FeedbackOutcome::Recorded,
        };
        if req.kind == FeedbackKind::Bounced {
            pre = Some(entry(
                "bounced",
                Some(o),
                req.token,
                &req.feedback_id,
                n.clone(),
            ));
            o.bounces += 1;
            o.bounced.push(o.department.clone());
            let next = (o.bounces < req.bounce_limit.max(1))
                .then(|| {
                    o.candidates
                        .iter()
                        .find(|c| !o.bounced.contains(&c.department))
                        .cloned()
                })
                .flatten();
            let (to, why) = match next {
                Some(t) => (t, format!("bounced: {n}")),
                None => {
                    outcome = FeedbackOutcome::Escalated;
                    let extra = if n.is_empty() {
                        String::new()
                    } else {
                        format!(", {n}")
                    };
                    (
                        o.escalation.clone(),
                        format!(
                            "escalated: bounce {} of {}{extra}",
                            o.bounces,
                            req.bounce_limit.max(1)
                        ),
                    )
                }
            };
            o.move_to(&mut fence, now, &to, why);
            o.first_due_ms = now + o.first_ms;
            o.responded = false;
            o.breached.clear();
            o.sla_taken_at = None;
        }
        let snapshot = o.clone();
        if req.kind == FeedbackKind::Resolved {
            st.owners.remove(key);
        }
        st.fences.insert(key.to_owned(), fence);
        if let Some(p) = pre {
            st.record(&self.history, key, now, p);
        }
        let kind = match outcome {
            FeedbackOutcome::Rerouted | FeedbackOutcome::Escalated => outcome.as_str(),
            _ => req.kind.as_str(),
        };
        let token = if req.kind == FeedbackKind::Resolved {
            req.token
        } else {
            snapshot.token
        };
        st.record(
            &self.history,
            key,
            now,
            entry(kind, Some(&snapshot), token, &req.feedback_id, n),
        );
        let r = FeedbackResult {
            outcome,
            refused: None,
            department: snapshot.department.clone(),
            queue: snapshot.queue.clone(),
            token,
            priority: Some(snapshot.priority),
            bounces: snapshot.bounces,
            trail: snapshot.trail.clone(),
            sla_deadline_ms: if req.kind == FeedbackKind::Resolved {
                0
            } else {
                snapshot.first_due_ms
            },
            first_response_ms: first_response,
            replayed: false,
        };
        st.remember(key, &id, encode(&r), now, req.remember);
        if req.kind != FeedbackKind::Resolved {
            st.index(key, snapshot.next_due().0);
        }
        Ok(r)
    }

    fn take_breach_now(
        &self,
        due: &Due,
        now: i64,
        retake: Duration,
    ) -> Result<SlaCheck, ClaimError> {
        let mut st = self.lock()?;
        let key = due.owner_key.as_str();
        let mut fence = st.fences.get(key).copied().unwrap_or(0);
        let Some(o) = st.live(key, now) else {
            st.reindex(due, 0);
            return Ok(SlaCheck::NotDue);
        };
        if let Some(at) = o.sla_taken_at {
            if now < at + retake.as_millis() as i64 {
                return Ok(SlaCheck::Taken);
            }
            o.sla_taken_at = Some(now);
            let mut b = o
                .breach
                .clone()
                .ok_or_else(|| ClaimError::Protocol("a taken breach without its record".into()))?;
            b.retaken = true;
            return Ok(SlaCheck::Breach(Box::new(b)));
        }
        let (at, kind) = o.next_due();
        if at == 0 {
            st.reindex(due, 0);
            return Ok(SlaCheck::NotDue);
        }
        if at > now {
            st.reindex(due, at);
            return Ok(SlaCheck::NotDue);
        }
        let (from_department, from_queue, from_token) =
            (o.department.clone(), o.queue.clone(), o.token);
        let to = o.on_breach.clone();
        o.move_to(&mut fence, now, &to, format!("sla_breached: {kind}"));
        o.breached.push(kind);
        o.sla_taken_at = Some(now);
        let b = Breach {
            owner_key: key.to_owned(),
            kind: kind.to_owned(),
            due_ms: at,
            from_department: from_department.clone(),
            from_queue: from_queue.clone(),
            from_token,
            department: o.department.clone(),
            queue: o.queue.clone(),
            token: o.token,
            priority: o.priority,
            resolution_due_ms: o.resolve_due_ms,
            bounces: o.bounces,
            trail: o.trail.clone(),
            retaken: false,
        };
        o.breach = Some(b.clone());
        let snapshot = o.clone();
        st.fences.insert(key.to_owned(), fence);
        st.record(
            &self.history,
            key,
            now,
            entry(
                "sla_breached",
                Some(&snapshot),
                b.token,
                &format!("sla:{kind}"),
                format!("from {from_department}/{from_queue}"),
            ),
        );
        Ok(SlaCheck::Breach(Box::new(b)))
    }

    fn breach_done_now(&self, due: &Due, breach: &Breach) -> Result<(), ClaimError> {
        let mut st = self.lock()?;
        let next = match st.owners.get_mut(&due.owner_key) {
            None => 0,
            Some(o) => {
                if o.breach.as_ref().is_some_and(|b| b.token == breach.token) {
                    o.sla_taken_at = None;
                    o.breach = None;
                }
                o.next_due().0
            }
        };
        st.reindex(due, next);
        Ok(())
    }

    fn outbound_now(
        &self,
        req: &OutboundRequest,
        policy: &ContactPolicy,
    ) -> Result<OutboundDecision, ClaimError> {
        let mut st = self.lock()?;
        let now = req.now_ms;
        let key = req.owner_key.as_str();
        let id = format!("msg:{}", req.message_id);
        if let Some(answer) = st.remembered(key, &id, now) {
            return decode(&answer, true);
        }
        let owner = st.live(key, now).cloned();
        let window_start = now - policy.window.as_millis() as i64;
        let sent = st.proactive.entry(key.to_owned()).or_default();
        sent.retain(|&t| t >= window_start);
        let mut count = sent.len() as u32;
        let refused = match req.kind {
            OutboundKind::Reply => match &owner {
                None => Some(Refusal::NoOwner),
                Some(o) if Some(o.token) != req.token => Some(Refusal::StaleToken),
                Some(_) => None,
            },
            OutboundKind::Proactive => {
                if req.do_not_contact {
                    Some(Refusal::DoNotContact)
                } else if owner.is_some() {
                    Some(Refusal::CareCaseOpen)
                } else if count >= policy.max_proactive {
                    Some(Refusal::RateLimited)
                } else {
                    sent.push(now);
                    count += 1;
                    None
                }
            }
        };
        let d = OutboundDecision {
            allowed: refused.is_none(),
            refused,
            proactive_in_window: count,
            replayed: false,
        };
        let kind = match req.kind {
            OutboundKind::Reply => "reply",
            OutboundKind::Proactive => "proactive",
        };
        let sender = note(&req.sender);
        st.record(
            &self.history,
            key,
            now,
            entry(
                if refused.is_some() {
                    "refused"
                } else {
                    "outbound"
                },
                owner.as_ref(),
                req.token.unwrap_or(0),
                &req.message_id,
                match refused {
                    Some(r) => format!("{kind} from {sender}: {}", r.as_str()),
                    None => format!("{kind} from {sender}"),
                },
            ),
        );
        st.remember(key, &id, encode(&d), now, policy.remember);
        Ok(d)
    }
}

impl MemoryClaimStore {
    fn detect_now(&self, req: &DetectRequest) -> Result<DetectDecision, ClaimError> {
        use crate::incident::Threshold;
        let mut st = self.lock()?;
        let now = req.now_ms;
        let key = req.key();
        let id = format!("detect:{}", req.event_id);
        if let Some(answer) = st.remembered(&key, &id, now) {
            let d: DetectDecision = decode(&answer, true)?;
            if let (Some(i), Some(at)) = (&d.incident_id, d.expires_at_ms) {
                st.incidents.insert((at, i.clone()));
            }
            return Ok(d);
        }
        let window = req.window.as_millis().max(1) as i64;
        let from = now - window;
        let d = st.detectors.entry(key.clone()).or_default();
        d.events.retain(|(t, _)| *t >= from);
        if let Some(e) = d.events.iter_mut().find(|(_, e)| *e == req.event_id) {
            e.0 = now;
        } else {
            d.events.push((now, req.event_id.clone()));
        }
        d.events.sort();
        d.authors.retain(|_, t| *t >= from);
        d.authors.insert(req.author.clone(), now);
        let bucket = now.div_euclid(window);
        let mut usual = None;
        if let Threshold::RateMultiple { baseline, .. } = req.threshold {
            let nb = ((baseline.0.as_millis() as i64) / window).max(1);
            *d.buckets.entry(bucket).or_default() += 1;
            d.buckets.retain(|b, _| *b >= bucket - nb);
            let sum: u32 = (bucket - nb..bucket)
                .map(|b| d.buckets.get(&b).copied().unwrap_or(0))
                .sum();
            usual = Some(f64::from(sum) / nb as f64);
        }
        let mut out = DetectDecision {
            outcome: DetectOutcome::Counted,
            incident_id: None,
            events: d.events.len() as u32,
            authors: d.authors.len() as u32,
            usual,
            expires_at_ms: None,
            window_events: Vec::new(),
            closed: None,
            replayed: false,
        };
        let mut unindex = None;
        if let Some(inc) = d
            .incident
            .as_mut()
            .filter(|i| i.open && i.expires_at <= now)
        {
            out.closed = Some(inc.close(now, "expired"));
            d.cooldown_until = now + inc.cooldown_ms.max(1);
            unindex = Some((inc.expires_at, inc.id.clone()));
        }
        let mut index = None;
        match d.incident.as_mut().filter(|i| i.open) {
            Some(inc) => {
                inc.linked.insert(req.event_id.clone());
                out.outcome = DetectOutcome::Linked;
                out.incident_id = Some(inc.id.clone());
                out.expires_at_ms = Some(inc.expires_at);
            }
            None if d.cooldown_until > now => out.outcome = DetectOutcome::Cooldown,
            None => {
                let crossed = match req.threshold {
                    Threshold::Events(n) => out.events >= n,
                    Threshold::Authors(n) => out.authors >= n,
                    Threshold::RateMultiple {
                        multiple,
                        min_events,
                        ..
                    } => {
                        out.events >= min_events
                            && f64::from(out.events) >= multiple * usual.unwrap_or(0.0)
                    }
                };
                if crossed {
                    d.seq += 1;
                    let id = format!("{key}:{}", d.seq);
                    let expires = now + req.expire_after.as_millis() as i64;
                    let members: Vec<String> = d.events.iter().map(|(_, e)| e.clone()).collect();
                    d.incident = Some(Incident {
                        id: id.clone(),
                        open: true,
                        opened_at: now,
                        expires_at: expires,
                        cooldown_ms: req.cooldown.as_millis() as i64,
                        linked: members.iter().cloned().collect(),
                    });
                    out.outcome = DetectOutcome::Opened;
                    out.incident_id = Some(id.clone());
                    out.expires_at_ms = Some(expires);
                    out.window_events = members;
                    index = Some((expires, id));
                }
            }
        }
        if let Some(u) = unindex {
            st.incidents.remove(&u);
        }
        if let Some(i) = index {
            st.incidents.insert(i);
        }
        st.remember(&key, &id, encode(&out), now, req.remember);
        Ok(out)
    }

    fn close_incident_now(
        &self,
        incident_id: &str,
        now: i64,
        reason: &str,
    ) -> Result<Option<ClosedIncident>, ClaimError> {
        let mut st = self.lock()?;
        let Some(key) = crate::incident::detector_key_of(incident_id) else {
            return Ok(None);
        };
        let Some(d) = st.detectors.get_mut(key) else {
            return Ok(None);
        };
        let Some(inc) = d
            .incident
            .as_mut()
            .filter(|i| i.id == incident_id && i.open)
        else {
            st.incidents.retain(|(_, i)| i != incident_id);
            return Ok(None);
        };
        if reason == "expired" && inc.expires_at > now {
            return Ok(None);
        }
        let closed = inc.close(now, reason);
        d.cooldown_until = now + inc.cooldown_ms.max(1);
        st.incidents.retain(|(_, i)| i != incident_id);
        Ok(Some(closed))
    }
}

impl ClaimStore for MemoryClaimStore {
    fn detect<'a>(
        &'a self,
        req: &'a DetectRequest,
    ) -> BoxFuture<'a, Result<DetectDecision, ClaimError>> {
        Box::pin(async move { self.detect_now(req) })
    }

    fn close_incident<'a>(
        &'a self,
        incident_id: &'a str,
        now_ms: i64,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<Option<ClosedIncident>, ClaimError>> {
        Box::pin(async move { self.close_incident_now(incident_id, now_ms, reason) })
    }

    fn incidents_due<'a>(
        &'a self,
        now_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, ClaimError>> {
        Box::pin(async move {
            let st = self.lock()?;
            Ok(st
                .incidents
                .iter()
                .take_while(|(at, _)| *at <= now_ms)
                .take(limit)
                .map(|(_, i)| i.clone())
                .collect())
        })
    }

    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        Box::pin(async move { self.claim_now(req) })
    }

    fn feedback<'a>(
        &'a self,
        req: &'a FeedbackRequest,
    ) -> BoxFuture<'a, Result<FeedbackResult, ClaimError>> {
        Box::pin(async move { self.feedback_now(req) })
    }

    fn due<'a>(&'a self, now_ms: i64, limit: usize) -> BoxFuture<'a, Result<Vec<Due>, ClaimError>> {
        Box::pin(async move {
            let st = self.lock()?;
            Ok(st
                .index
                .iter()
                .take_while(|(at, _)| *at <= now_ms)
                .take(limit)
                .map(|(at, k)| Due {
                    owner_key: k.clone(),
                    at_ms: *at,
                })
                .collect())
        })
    }

    fn take_breach<'a>(
        &'a self,
        due: &'a Due,
        now_ms: i64,
        retake: Duration,
    ) -> BoxFuture<'a, Result<SlaCheck, ClaimError>> {
        Box::pin(async move { self.take_breach_now(due, now_ms, retake) })
    }

    fn breach_done<'a>(
        &'a self,
        due: &'a Due,
        breach: &'a Breach,
    ) -> BoxFuture<'a, Result<(), ClaimError>> {
        Box::pin(async move { self.breach_done_now(due, breach) })
    }

    fn outbound<'a>(
        &'a self,
        req: &'a OutboundRequest,
        policy: &'a ContactPolicy,
    ) -> BoxFuture<'a, Result<OutboundDecision, ClaimError>> {
        Box::pin(async move { self.outbound_now(req, policy) })
    }

    fn history<'a>(
        &'a self,
        owner_key: &'a str,
        now_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ClaimError>> {
        Box::pin(async move {
            let st = self.lock()?;
            let oldest = now_ms - self.history.max_age.as_millis() as i64;
            Ok(st
                .history
                .get(owner_key)
                .map(|h| {
                    h.iter()
                        .take_while(|e| e.at_ms >= oldest)
                        .take(limit)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
