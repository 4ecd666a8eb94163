//! The ownership protocol as a state machine (issue 6, point 8).
//!
//! A generated program — inbound events (new ids and redeliveries of earlier ones), helpdesk
//! feedback of every kind quoting the current token, a stale one or a made-up one, redelivered
//! feedback ids, SLA sweeps (a sweeper that finishes the breach, or one that "crashes" and
//! leaves it taken), and clock jumps that run leases out — is run against a store and every
//! answer is recorded. Then:
//!
//! - sequential (one worker): every answer must equal the answer of a small reference model of
//!   the rules written here (independent of `src/claim/memory.rs`);
//! - concurrent (three tokio workers on a multi-thread runtime, each with its own slice of the
//!   program, reading a shared clock and the latest token seen): the recorded history must be
//!   linearizable against the same model (some order of the calls, consistent with real time,
//!   in which the model gives every answer the store gave);
//! - both: the invariants, checked on the answers alone (the store's order is derived from
//!   tokens, never from submission order): never two owners at once, tokens never reused and
//!   never going back in real time, no event or feedback decided twice, bounce counts exact,
//!   escalation exactly at the limit.
//!
//! The same suite runs against the in-memory store, a real `redis-server` and a real
//! three-master Redis Cluster (96 cases per store and mode, 48 on the cluster; owner keys
//! unique per case). Every test also asserts that its programs reached each interesting state
//! (expiry, redeliveries, stale tokens, reroutes, escalation at the limit, breaches, retaken
//! breaches, ...), and `the_invariants_catch_broken_stores` shows that the invariants alone
//! reject the in-memory store with one rule broken.

mod common;

use common::{RedisCluster, RedisServer};
use outcry::claim::{
    Breach, Claim, ClaimRequest, ClaimStore, Due, FeedbackKind, FeedbackOutcome, FeedbackRequest,
    FeedbackResult, FencingToken, MemoryClaimStore, RedisClaimStore, Refusal, SlaCheck, TrailStep,
};
use outcry::event::AssignmentOutcome;
use outcry::kafka::unique_suffix;
use outcry::route::{Priority, Target};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const T0: i64 = 1_700_000_000_000;
/// Short leases, so that clock jumps of up to 15 s run them out.
const LEASE: Duration = Duration::from_secs(10);
const SLA: Duration = Duration::from_secs(3);
/// Shorter than the lease, so the lease (not the resolution) decides when an ownership ends.
const RESOLUTION: Duration = Duration::from_secs(7);
/// Longer than any program's clock runs: decisions are never forgotten within a case.
const REMEMBER: Duration = Duration::from_secs(3600);
const RETAKE: Duration = Duration::from_secs(2);
const DEPTS: [&str; 3] = ["billing", "support", "tech"];
const ESCALATION: &str = "escalations/sag-wagon";
const ON_BREACH: &str = "escalations/sla";
const WORKERS: usize = 3;

fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

fn escalation() -> (String, String) {
    let e = t(ESCALATION);
    (e.department, e.queue)
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

// ---------------------------------------------------------------------------------------------
// Programs

/// Which token a feedback quotes.
#[derive(Debug, Clone, Copy)]
enum Pick {
    /// The latest token seen for the key (what a helpdesk holds).
    Current,
    /// That many below it (an earlier owner's, or 0).
    Stale(u8),
    /// One above it (made up).
    Ahead,
}

#[derive(Debug, Clone)]
enum Op {
    /// An inbound event: id `e<eid>` of the key (a repeated eid is a redelivery), routed to
    /// `len` departments starting at `DEPTS[first]`.
    Event {
        key: u8,
        eid: u8,
        first: u8,
        len: u8,
        prio: Priority,
    },
    /// Feedback `f<fid>` of the key (a repeated fid is a redelivery).
    Feedback {
        key: u8,
        fid: u8,
        kind: FeedbackKind,
        pick: Pick,
    },
    /// An SLA sweep of the key; `done`: the sweeper finishes a breach it takes (else it
    /// "crashes" and leaves it taken, to be retaken after `RETAKE`); the sweeper's clock is
    /// `ahead` ms ahead of the shared one. After a crash, another sweeper may come by `again`
    /// ms later (taken, or retaken past `RETAKE`) and finish.
    Sweep {
        key: u8,
        done: bool,
        ahead: i64,
        again: Option<i64>,
    },
    /// The clock moves on.
    Jump { ms: i64 },
}

#[derive(Debug, Clone)]
struct Program {
    keys: usize,
    bounce_limit: u32,
    /// Each op with the worker (of `WORKERS`) that runs it in the concurrent mode.
    ops: Vec<(usize, Op)>,
}

fn op() -> impl Strategy<Value = Op> {
    let prio = proptest::sample::select(Priority::ALL.to_vec());
    let kind = prop_oneof![
        2 => Just(FeedbackKind::Accepted),
        2 => Just(FeedbackKind::Responded),
        1 => Just(FeedbackKind::Resolved),
        5 => Just(FeedbackKind::Bounced),
        1 => Just(FeedbackKind::Outbound),
    ];
    let pick = prop_oneof![
        8 => Just(Pick::Current),
        2 => (1..3u8).prop_map(Pick::Stale),
        1 => Just(Pick::Ahead),
    ];
    let ahead = prop_oneof![2 => Just(0i64), 1 => 0..6_000i64];
    let jump = prop_oneof![3 => 0..4_000i64, 1 => 4_000..15_000i64];
    prop_oneof![
        6 => (0..4u8, 0..10u8, 0..3u8, 1..=3u8, prio).prop_map(|(key, eid, first, len, prio)| {
            Op::Event { key, eid, first, len, prio }
        }),
        9 => (0..4u8, 0..14u8, kind, pick)
            .prop_map(|(key, fid, kind, pick)| Op::Feedback { key, fid, kind, pick }),
        5 => (0..4u8, prop::bool::weighted(0.4), ahead, prop::option::weighted(0.7, 0..4_000i64))
            .prop_map(|(key, done, ahead, again)| Op::Sweep { key, done, ahead, again }),
        3 => jump.prop_map(|ms| Op::Jump { ms }),
    ]
}

fn program() -> impl Strategy<Value = Program> {
    (
        2..=4usize,
        1..=4u32,
        prop::collection::vec((0..WORKERS, op()), 10..48),
    )
        .prop_map(|(keys, bounce_limit, ops)| Program {
            keys,
            bounce_limit,
            ops,
        })
}

// ---------------------------------------------------------------------------------------------
// Running a program, recording every call

#[derive(Debug, Clone)]
enum Req {
    Claim(Box<ClaimRequest>),
    Feedback(Box<FeedbackRequest>),
    Take {
        due: Due,
        now: i64,
        retake: Duration,
    },
    Done {
        due: Due,
        breach: Box<Breach>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Ans {
    Claim(Claim),
    Feedback(FeedbackResult),
    Take(SlaCheck),
    Done,
}

/// One call: the request, the answer, and when it was made and answered (one counter for all
/// workers: `a.ret < b.call` means `a` was answered before `b` was asked).
#[derive(Debug, Clone)]
struct Rec {
    key: usize,
    req: Req,
    ans: Ans,
    call: u64,
    ret: u64,
}

/// The owner token an answer reports as current (not for replays: those are old decisions).
fn current_token(a: &Ans) -> Option<FencingToken> {
    match a {
        Ans::Claim(c) if !c.replayed => Some(c.token),
        Ans::Feedback(f) if !f.replayed && f.token != 0 => Some(f.token),
        Ans::Take(SlaCheck::Breach(b)) => Some(b.token),
        _ => None,
    }
}

struct Run {
    store: Arc<dyn ClaimStore>,
    keys: Vec<String>,
    bounce_limit: u32,
    clock: AtomicI64,
    seq: AtomicU64,
    /// The largest token seen per key: what a helpdesk quotes.
    tokens: Mutex<Vec<FencingToken>>,
    log: Mutex<Vec<Rec>>,
}

impl Run {
    fn new(store: Arc<dyn ClaimStore>, p: &Program) -> Run {
        let case = unique_suffix();
        Run {
            store,
            keys: (0..p.keys).map(|k| format!("prop:{case}:{k}")).collect(),
            bounce_limit: p.bounce_limit,
            clock: AtomicI64::new(T0),
            seq: AtomicU64::new(0),
            tokens: Mutex::new(vec![0; p.keys]),
            log: Mutex::new(Vec::new()),
        }
    }

    async fn op(&self, op: &Op) -> Result<(), String> {
        let now = self.clock.load(SeqCst);
        match *op {
            Op::Jump { ms } => {
                self.clock.fetch_add(ms, SeqCst);
            }
            Op::Event {
                key,
                eid,
                first,
                len,
                prio,
            } => {
                let k = usize::from(key) % self.keys.len();
                let candidates = (0..len)
                    .map(|i| {
                        let d = DEPTS[usize::from(first + i) % DEPTS.len()];
                        t(&format!("{d}/q{}", (first + i) % 2))
                    })
                    .collect();
                let req = ClaimRequest {
                    owner_key: self.keys[k].clone(),
                    event_id: format!("e{eid}"),
                    candidates,
                    escalation: t(ESCALATION),
                    on_breach: t(ON_BREACH),
                    priority: prio,
                    now_ms: now,
                    lease: LEASE,
                    sla: SLA,
                    resolution: RESOLUTION,
                    remember: REMEMBER,
                };
                self.call(k, Req::Claim(Box::new(req))).await?;
            }
            Op::Feedback {
                key,
                fid,
                kind,
                pick,
            } => {
                let k = usize::from(key) % self.keys.len();
                let current = self.tokens.lock().unwrap()[k];
                let token = match pick {
                    Pick::Current => current,
                    Pick::Stale(n) => current.saturating_sub(u64::from(n)),
                    Pick::Ahead => current + 1,
                };
                let req = FeedbackRequest {
                    feedback_id: format!("f{fid}"),
                    owner_key: self.keys[k].clone(),
                    kind,
                    token,
                    note: if fid % 3 == 0 {
                        String::new()
                    } else {
                        format!("note {fid}")
                    },
                    now_ms: now,
                    remember: REMEMBER,
                    bounce_limit: self.bounce_limit,
                    lease: LEASE,
                };
                self.call(k, Req::Feedback(Box::new(req))).await?;
            }
            Op::Sweep {
                key,
                done,
                ahead,
                again,
            } => {
                let k = usize::from(key) % self.keys.len();
                let now = now + ahead;
                let due = Due {
                    owner_key: self.keys[k].clone(),
                    at_ms: now,
                };
                let take = Req::Take {
                    due: due.clone(),
                    now,
                    retake: RETAKE,
                };
                let took = self.call(k, take).await?;
                let (took, due) = match (done, again) {
                    (false, Some(later)) => {
                        let retake = Req::Take {
                            due: due.clone(),
                            now: now + later,
                            retake: RETAKE,
                        };
                        (self.call(k, retake).await?, due)
                    }
                    (false, None) => return Ok(()),
                    (true, _) => (took, due),
                };
                if let Ans::Take(SlaCheck::Breach(b)) = took {
                    let breach = b;
                    self.call(k, Req::Done { due, breach }).await?;
                }
            }
        }
        Ok(())
    }

    async fn call(&self, key: usize, req: Req) -> Result<Ans, String> {
        let store = self.store.as_ref();
        let call = self.seq.fetch_add(1, SeqCst);
        let ans = match &req {
            Req::Claim(r) => store.claim(r).await.map(Ans::Claim),
            Req::Feedback(r) => store.feedback(r).await.map(Ans::Feedback),
            Req::Take { due, now, retake } => {
                store.take_breach(due, *now, *retake).await.map(Ans::Take)
            }
            Req::Done { due, breach } => store.breach_done(due, breach).await.map(|()| Ans::Done),
        }
        .map_err(|e| format!("{} store error on {req:?}: {e}", store.name()))?;
        let ret = self.seq.fetch_add(1, SeqCst);
        if let Some(tok) = current_token(&ans) {
            let mut tokens = self.tokens.lock().unwrap();
            tokens[key] = tokens[key].max(tok);
        }
        self.log.lock().unwrap().push(Rec {
            key,
            req,
            ans: ans.clone(),
            call,
            ret,
        });
        Ok(ans)
    }

    fn records(&self) -> Vec<Vec<Rec>> {
        let log = self.log.lock().unwrap();
        let mut per_key = vec![Vec::new(); self.keys.len()];
        for r in log.iter() {
            per_key[r.key].push(r.clone());
        }
        per_key
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model: the rules of docs/product.md "Ownership, in words" and the ClaimStore
// docs, one owner key, written from the rules (not from the stores).

#[derive(Debug, Clone)]
struct Own {
    target: Target,
    token: FencingToken,
    priority: Priority,
    lease_until: i64,
    candidates: Vec<Target>,
    escalation: Target,
    on_breach: Target,
    opened_at: i64,
    first_ms: i64,
    first_due: i64,
    resolve_due: i64,
    responded: bool,
    bounces: u32,
    /// Departments this ownership was bounced from.
    bounced: Vec<String>,
    trail: Vec<TrailStep>,
    breached: Vec<&'static str>,
    /// A sweeper took a breach at this time and has not said it is done.
    taken_at: Option<i64>,
    breach: Option<Breach>,
}

impl Own {
    /// Hand over to `to` with the next token of the key.
    fn hand_over(&mut self, fence: &mut FencingToken, now: i64, to: Target, why: String) {
        *fence += 1;
        self.trail.push(TrailStep {
            at_ms: now,
            from: self.target.to_string(),
            from_token: self.token,
            to: to.to_string(),
            why,
        });
        self.target = to;
        self.token = *fence;
    }
}

#[derive(Debug, Clone, Default)]
struct Model {
    fence: FencingToken,
    /// The last ownership (still here after its lease ran out, until replaced or resolved).
    owner: Option<Own>,
    events: BTreeMap<String, Claim>,
    feedback: BTreeMap<String, FeedbackResult>,
}

impl Model {
    fn apply(&mut self, req: &Req) -> Ans {
        match req {
            Req::Claim(r) => Ans::Claim(self.claim(r)),
            Req::Feedback(r) => Ans::Feedback(self.feedback(r)),
            Req::Take { due, now, retake } => {
                Ans::Take(self.take(&due.owner_key, *now, ms(*retake)))
            }
            Req::Done { breach, .. } => {
                if let Some(o) = self.owner.as_mut() {
                    if o.breach.as_ref().is_some_and(|b| b.token == breach.token) {
                        o.taken_at = None;
                        o.breach = None;
                    }
                }
                Ans::Done
            }
        }
    }

    fn live(&mut self, now: i64) -> Option<&mut Own> {
        self.owner.as_mut().filter(|o| o.lease_until > now)
    }

    fn claim(&mut self, r: &ClaimRequest) -> Claim {
        if let Some(c) = self.events.get(&r.event_id) {
            return Claim {
                replayed: true,
                ..c.clone()
            };
        }
        let now = r.now_ms;
        let c = if let Some(o) = self.live(now) {
            let bumped = r.priority < o.priority;
            if bumped {
                o.priority = r.priority;
            }
            o.lease_until = o.lease_until.max(now + ms(r.lease));
            Claim {
                outcome: AssignmentOutcome::Attached,
                department: o.target.department.clone(),
                queue: o.target.queue.clone(),
                token: o.token,
                priority: o.priority,
                sla_deadline_ms: o.first_due,
                resolution_due_ms: o.resolve_due,
                lease_until_ms: o.lease_until,
                bumped,
                replayed: false,
            }
        } else {
            self.fence += 1;
            let o = Own {
                target: r.candidates[0].clone(),
                token: self.fence,
                priority: r.priority,
                lease_until: (now + ms(r.lease)).max(now + ms(r.resolution)),
                candidates: r.candidates.clone(),
                escalation: r.escalation.clone(),
                on_breach: r.on_breach.clone(),
                opened_at: now,
                first_ms: ms(r.sla),
                first_due: now + ms(r.sla),
                resolve_due: now + ms(r.resolution),
                responded: false,
                bounces: 0,
                bounced: Vec::new(),
                trail: Vec::new(),
                breached: Vec::new(),
                taken_at: None,
                breach: None,
            };
            let c = Claim {
                outcome: AssignmentOutcome::New,
                department: o.target.department.clone(),
                queue: o.target.queue.clone(),
                token: o.token,
                priority: o.priority,
                sla_deadline_ms: o.first_due,
                resolution_due_ms: o.resolve_due,
                lease_until_ms: o.lease_until,
                bumped: false,
                replayed: false,
            };
            self.owner = Some(o);
            c
        };
        self.events.insert(r.event_id.clone(), c.clone());
        c
    }

    fn feedback(&mut self, r: &FeedbackRequest) -> FeedbackResult {
        if let Some(f) = self.feedback.get(&r.feedback_id) {
            return FeedbackResult {
                replayed: true,
                ..f.clone()
            };
        }
        let f = self.feedback_fresh(r);
        self.feedback.insert(r.feedback_id.clone(), f.clone());
        f
    }

    fn feedback_fresh(&mut self, r: &FeedbackRequest) -> FeedbackResult {
        let now = r.now_ms;
        let mut fence = self.fence;
        let Some(o) = self.live(now) else {
            return FeedbackResult {
                outcome: FeedbackOutcome::Refused,
                refused: Some(Refusal::NoOwner),
                department: String::new(),
                queue: String::new(),
                token: 0,
                priority: None,
                bounces: 0,
                trail: Vec::new(),
                sla_deadline_ms: 0,
                first_response_ms: None,
                replayed: false,
            };
        };
        let answer = |o: &Own, outcome, refused, token, sla, first| FeedbackResult {
            outcome,
            refused,
            department: o.target.department.clone(),
            queue: o.target.queue.clone(),
            token,
            priority: Some(o.priority),
            bounces: o.bounces,
            trail: o.trail.clone(),
            sla_deadline_ms: sla,
            first_response_ms: first,
            replayed: false,
        };
        if o.token != r.token {
            let refused = Some(Refusal::StaleToken);
            return answer(
                o,
                FeedbackOutcome::Refused,
                refused,
                o.token,
                o.first_due,
                None,
            );
        }
        o.lease_until = o.lease_until.max(now + ms(r.lease));
        let mut first = None;
        let outcome = match r.kind {
            FeedbackKind::Accepted => FeedbackOutcome::Accepted,
            FeedbackKind::Outbound => FeedbackOutcome::Recorded,
            FeedbackKind::Responded => {
                if !o.responded {
                    o.responded = true;
                    first = Some(now - o.opened_at);
                }
                FeedbackOutcome::Responded
            }
            FeedbackKind::Resolved => {
                let a = answer(o, FeedbackOutcome::Resolved, None, r.token, 0, None);
                self.owner = None;
                return a;
            }
            FeedbackKind::Bounced => {
                let limit = r.bounce_limit.max(1);
                o.bounces += 1;
                o.bounced.push(o.target.department.clone());
                let next = if o.bounces < limit {
                    o.candidates
                        .iter()
                        .find(|c| !o.bounced.contains(&c.department))
                        .cloned()
                } else {
                    None
                };
                let (to, why, outcome) = match next {
                    Some(c) => (c, format!("bounced: {}", r.note), FeedbackOutcome::Rerouted),
                    None => {
                        let note = if r.note.is_empty() {
                            String::new()
                        } else {
                            format!(", {}", r.note)
                        };
                        let why = format!("escalated: bounce {} of {limit}{note}", o.bounces);
                        (o.escalation.clone(), why, FeedbackOutcome::Escalated)
                    }
                };
                o.hand_over(&mut fence, now, to, why);
                o.first_due = now + o.first_ms;
                o.responded = false;
                o.breached.clear();
                o.taken_at = None;
                outcome
            }
        };
        let a = answer(o, outcome, None, o.token, o.first_due, first);
        self.fence = fence;
        a
    }

    fn take(&mut self, owner_key: &str, now: i64, retake: i64) -> SlaCheck {
        let mut fence = self.fence;
        let Some(o) = self.live(now) else {
            return SlaCheck::NotDue;
        };
        if let Some(at) = o.taken_at {
            if now < at + retake {
                return SlaCheck::Taken;
            }
            o.taken_at = Some(now);
            let mut b = o.breach.clone().expect("a taken breach has its record");
            b.retaken = true;
            return SlaCheck::Breach(Box::new(b));
        }
        let (due, kind) = if !o.responded && !o.breached.contains(&"first_response") {
            (o.first_due, "first_response")
        } else if !o.breached.contains(&"resolution") {
            (o.resolve_due, "resolution")
        } else {
            return SlaCheck::NotDue;
        };
        if due > now {
            return SlaCheck::NotDue;
        }
        let (from, from_token) = (o.target.clone(), o.token);
        let to = o.on_breach.clone();
        o.hand_over(&mut fence, now, to, format!("sla_breached: {kind}"));
        o.breached.push(kind);
        o.taken_at = Some(now);
        let b = Breach {
            owner_key: owner_key.to_owned(),
            kind: kind.to_owned(),
            due_ms: due,
            from_department: from.department,
            from_queue: from.queue,
            from_token,
            department: o.target.department.clone(),
            queue: o.target.queue.clone(),
            token: o.token,
            priority: o.priority,
            resolution_due_ms: o.resolve_due,
            bounces: o.bounces,
            trail: o.trail.clone(),
            retaken: false,
        };
        o.breach = Some(b.clone());
        self.fence = fence;
        SlaCheck::Breach(Box::new(b))
    }
}

// ---------------------------------------------------------------------------------------------
// Checks

fn show(recs: &[Rec]) -> String {
    recs.iter()
        .enumerate()
        .map(|(i, r)| {
            format!(
                "  #{i} [{}..{}] {:?}\n      -> {:?}\n",
                r.call, r.ret, r.req, r.ans
            )
        })
        .collect()
}

/// Sequential: every answer is the model's.
fn matches_model(recs: &[Rec]) -> Result<(), String> {
    let mut m = Model::default();
    for (i, r) in recs.iter().enumerate() {
        let want = m.apply(&r.req);
        if want != r.ans {
            return Err(format!(
                "call #{i} differs from the model\n  request: {:?}\n  model:   {want:?}\n  store:   {:?}\nhistory of the key:\n{}",
                r.req,
                r.ans,
                show(&recs[..=i])
            ));
        }
    }
    Ok(())
}

/// Concurrent: some order of the calls, consistent with real time (a call answered before
/// another was made comes first), in which the model gives every recorded answer.
fn linearizable(recs: &[Rec]) -> Result<(), String> {
    assert!(recs.len() <= 128, "too many calls on one key to search");
    fn search(
        recs: &[Rec],
        done: u128,
        m: &Model,
        seen: &mut HashSet<(u128, String)>,
        depth: &mut usize,
    ) -> bool {
        let n = recs.len();
        if done.count_ones() as usize == n {
            return true;
        }
        *depth = (*depth).max(done.count_ones() as usize);
        let pending = (0..n).filter(|i| done & (1 << i) == 0);
        let first_ret = pending.clone().map(|i| recs[i].ret).min().unwrap();
        for i in pending.filter(|&i| recs[i].call < first_ret) {
            let mut next = m.clone();
            if next.apply(&recs[i].req) != recs[i].ans {
                continue;
            }
            let done = done | (1 << i);
            if seen.insert((done, format!("{next:?}"))) && search(recs, done, &next, seen, depth) {
                return true;
            }
        }
        false
    }
    let mut depth = 0;
    if search(recs, 0, &Model::default(), &mut HashSet::new(), &mut depth) {
        Ok(())
    } else {
        Err(format!(
            "not linearizable against the model (at most {depth} of {} calls could be ordered)\nhistory of the key:\n{}",
            recs.len(),
            show(recs)
        ))
    }
}

/// What the answers say about one token.
#[derive(Debug, Default, Clone)]
struct Tok {
    target: Option<(String, String)>,
    /// The token it was moved from (a bounce or a breach); none for a new ownership.
    parent: Option<FencingToken>,
    by_bounce: bool,
    /// For a new ownership: its candidates, and the time it opened.
    candidates: Vec<Target>,
    opened_now: Option<i64>,
    minted: bool,
    /// The latest the lease of this token was known to run to (a lower bound).
    lease: i64,
    resolved: bool,
}

fn same_modulo_replay(a: &Ans, b: &Ans) -> bool {
    match (a, b) {
        (Ans::Claim(x), Ans::Claim(y)) => {
            Claim {
                replayed: false,
                ..x.clone()
            } == Claim {
                replayed: false,
                ..y.clone()
            }
        }
        (Ans::Feedback(x), Ans::Feedback(y)) => {
            FeedbackResult {
                replayed: false,
                ..x.clone()
            } == FeedbackResult {
                replayed: false,
                ..y.clone()
            }
        }
        _ => false,
    }
}

fn replayed(a: &Ans) -> bool {
    match a {
        Ans::Claim(c) => c.replayed,
        Ans::Feedback(f) => f.replayed,
        _ => false,
    }
}

/// The invariants, from the answers alone (any number of workers).
fn invariants(recs: &[Rec], counts: &mut Counts) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}\nhistory of the key:\n{}", show(recs)));

    // (3) No event, no feedback decided twice: one fresh answer per id, and every redelivery
    // gets exactly that decision, flagged as replayed.
    let mut by_id: BTreeMap<String, Vec<&Rec>> = BTreeMap::new();
    for r in recs {
        match &r.req {
            Req::Claim(c) => by_id.entry(format!("event {}", c.event_id)).or_default(),
            Req::Feedback(f) => by_id
                .entry(format!("feedback {}", f.feedback_id))
                .or_default(),
            _ => continue,
        }
        .push(r);
    }
    for (id, rs) in &by_id {
        let fresh: Vec<_> = rs.iter().filter(|r| !replayed(&r.ans)).collect();
        if fresh.len() != 1 {
            return fail(format!("{id}: {} fresh decisions, want 1", fresh.len()));
        }
        for r in rs {
            if !same_modulo_replay(&r.ans, &fresh[0].ans) {
                return fail(format!(
                    "{id} decided twice: {:?} and {:?}",
                    fresh[0].ans, r.ans
                ));
            }
        }
        counts.redeliveries += rs.len() - 1;
    }

    // What each token is, from the fresh answers.
    let mut toks: BTreeMap<FencingToken, Tok> = BTreeMap::new();
    let mut observed: Vec<(usize, FencingToken, u32, usize)> = Vec::new(); // (rec, token, bounces, trail len)
    let mut breaches: BTreeMap<FencingToken, &Breach> = BTreeMap::new();
    let mut bounce_limits: BTreeMap<FencingToken, u32> = BTreeMap::new();
    fn at<'a>(
        toks: &'a mut BTreeMap<FencingToken, Tok>,
        token: FencingToken,
        target: (&str, &str),
    ) -> Result<&'a mut Tok, String> {
        let t = toks.entry(token).or_default();
        let target = (target.0.to_owned(), target.1.to_owned());
        match &t.target {
            Some(had) if *had != target => {
                return Err(format!(
                    "two owners under token {token}: {had:?} and {target:?}"
                ))
            }
            _ => t.target = Some(target),
        }
        Ok(t)
    }
    fn mint(t: &mut Tok, token: FencingToken) -> Result<(), String> {
        if t.minted {
            return Err(format!("token {token} handed out twice"));
        }
        t.minted = true;
        Ok(())
    }
    for (i, r) in recs.iter().enumerate() {
        if replayed(&r.ans) {
            continue;
        }
        let res = (|| -> Result<(), String> {
            match (&r.req, &r.ans) {
                (Req::Claim(q), Ans::Claim(c)) => {
                    let tok = at(&mut toks, c.token, (&c.department, &c.queue))?;
                    tok.lease = tok.lease.max(c.lease_until_ms);
                    if c.outcome == AssignmentOutcome::New {
                        mint(tok, c.token)?;
                        tok.candidates = q.candidates.clone();
                        tok.opened_now = Some(q.now_ms);
                        counts.new += 1;
                    } else {
                        counts.attached += 1;
                    }
                }
                (Req::Feedback(q), Ans::Feedback(f)) => match (f.outcome, f.refused) {
                    (FeedbackOutcome::Refused, Some(Refusal::NoOwner)) => {
                        counts.no_owner += 1;
                        if f.token != 0 || !f.department.is_empty() {
                            return Err(format!("no owner, yet an owner reported: {f:?}"));
                        }
                    }
                    (FeedbackOutcome::Refused, Some(Refusal::StaleToken)) => {
                        counts.stale += 1;
                        if f.token == q.token {
                            return Err(format!("the current token refused as stale: {f:?}"));
                        }
                        at(&mut toks, f.token, (&f.department, &f.queue))?;
                        observed.push((i, f.token, f.bounces, f.trail.len()));
                    }
                    (FeedbackOutcome::Rerouted | FeedbackOutcome::Escalated, None) => {
                        if q.kind != FeedbackKind::Bounced || f.token <= q.token {
                            return Err(format!(
                                "a move without a bounce or a larger token: {f:?}"
                            ));
                        }
                        let tok = at(&mut toks, f.token, (&f.department, &f.queue))?;
                        mint(tok, f.token)?;
                        tok.parent = Some(q.token);
                        tok.by_bounce = true;
                        tok.lease = tok.lease.max(q.now_ms + ms(q.lease));
                        bounce_limits.insert(f.token, q.bounce_limit.max(1));
                        observed.push((i, f.token, f.bounces, f.trail.len()));
                        if f.outcome == FeedbackOutcome::Escalated {
                            counts.escalated += 1;
                        } else {
                            counts.rerouted += 1;
                        }
                    }
                    (outcome, None) => {
                        let want = match q.kind {
                            FeedbackKind::Accepted => FeedbackOutcome::Accepted,
                            FeedbackKind::Responded => FeedbackOutcome::Responded,
                            FeedbackKind::Resolved => FeedbackOutcome::Resolved,
                            FeedbackKind::Outbound => FeedbackOutcome::Recorded,
                            FeedbackKind::Bounced => FeedbackOutcome::Rerouted,
                        };
                        if outcome != want || f.token != q.token {
                            return Err(format!("{:?} feedback answered {f:?}", q.kind));
                        }
                        let tok = at(&mut toks, f.token, (&f.department, &f.queue))?;
                        tok.lease = tok.lease.max(q.now_ms + ms(q.lease));
                        if outcome == FeedbackOutcome::Resolved {
                            tok.resolved = true;
                            counts.resolved += 1;
                        }
                        observed.push((i, f.token, f.bounces, f.trail.len()));
                    }
                    _ => return Err(format!("a refusal without a reason: {f:?}")),
                },
                (Req::Take { .. }, Ans::Take(SlaCheck::Breach(b))) if b.retaken => {
                    counts.retaken += 1;
                }
                (Req::Take { .. }, Ans::Take(SlaCheck::Breach(b))) => {
                    counts.breaches += 1;
                    if b.token <= b.from_token {
                        return Err(format!("a breach to a token not larger: {b:?}"));
                    }
                    at(&mut toks, b.from_token, (&b.from_department, &b.from_queue))?;
                    let tok = at(&mut toks, b.token, (&b.department, &b.queue))?;
                    mint(tok, b.token)?;
                    tok.parent = Some(b.from_token);
                    breaches.insert(b.token, b);
                    observed.push((i, b.token, b.bounces, b.trail.len()));
                }
                (Req::Take { .. }, Ans::Take(SlaCheck::Taken)) => counts.taken += 1,
                _ => {}
            }
            Ok(())
        })();
        if let Err(e) = res {
            return fail(format!("call #{i}: {e}"));
        }
    }
    // A retaken breach is the same breach again.
    for (i, r) in recs.iter().enumerate() {
        if let Ans::Take(SlaCheck::Breach(b)) = &r.ans {
            if b.retaken {
                let same = breaches.get(&b.token).is_some_and(|first| {
                    Breach {
                        retaken: true,
                        ..(*first).clone()
                    } == **b
                });
                if !same {
                    return fail(format!("call #{i}: a retaken breach that was never taken"));
                }
            }
        }
    }

    // (2) Tokens: handed out once each, 1, 2, 3, ... with no gap; every token an answer reports
    // was handed out; and they never go back in real time.
    let minted: Vec<FencingToken> = toks
        .iter()
        .filter(|(_, t)| t.minted)
        .map(|(k, _)| *k)
        .collect();
    if minted != (1..=minted.len() as u64).collect::<Vec<_>>() {
        return fail(format!(
            "tokens handed out: {minted:?}, want 1..={}",
            minted.len()
        ));
    }
    if let Some((k, _)) = toks.iter().find(|(_, t)| !t.minted) {
        return fail(format!("token {k} reported but never handed out"));
    }
    for a in recs {
        for b in recs {
            if a.ret < b.call {
                if let (Some(x), Some(y)) = (current_token(&a.ans), current_token(&b.ans)) {
                    if x > y {
                        return fail(format!(
                            "token went back: {x} was answered before {y} was asked ({:?} then {:?})",
                            a.req, b.req
                        ));
                    }
                }
            }
        }
    }

    // (1) Never two owners at once: besides one target per token (above), a new ownership only
    // once the previous one had ended — resolved, or its lease (as far as any answer extended
    // it) run out at the new claim's `now`. Everything said under a token happened before the
    // next token was handed out, so this needs no order.
    if let Some((k, _)) = toks
        .iter()
        .find(|(_, t)| t.parent.is_some_and(|p| !toks.contains_key(&p)))
    {
        return fail(format!("token {k} moved from a token never handed out"));
    }
    let chain = |t: FencingToken| {
        let mut c = vec![t];
        while let Some(p) = toks[c.last().unwrap()].parent {
            c.push(p);
        }
        c.reverse();
        c
    };
    for (&t, tok) in &toks {
        if let (Some(now), true) = (tok.opened_now, t > 1) {
            let prev = chain(t - 1);
            let resolved = toks[&(t - 1)].resolved;
            let lease = prev.iter().map(|p| toks[p].lease).max().unwrap();
            if !resolved && lease > now {
                return fail(format!(
                    "token {t} opened a new ownership at {now} while token {} held the lease until {lease}",
                    t - 1
                ));
            }
            if !resolved {
                counts.expired += 1;
            }
        }
    }

    // (4) Bounce counts exact and (5) escalation exactly at the limit, along each chain.
    for (&t, tok) in &toks {
        let c = chain(t);
        let root = &toks[&c[0]];
        if root.opened_now.is_none() {
            return fail(format!("token {t}: its ownership never opened"));
        }
        if !tok.by_bounce {
            continue;
        }
        let bounces = c.iter().filter(|p| toks[*p].by_bounce).count() as u32;
        let bounced: Vec<&str> = c
            .iter()
            .filter(|p| toks[*p].by_bounce)
            .map(|p| {
                toks[&toks[p].parent.unwrap()]
                    .target
                    .as_ref()
                    .unwrap()
                    .0
                    .as_str()
            })
            .collect();
        let limit = bounce_limits[&t];
        let next = (bounces < limit)
            .then(|| {
                root.candidates
                    .iter()
                    .find(|c| !bounced.contains(&c.department.as_str()))
            })
            .flatten();
        let want = next.map_or_else(escalation, |c| (c.department.clone(), c.queue.clone()));
        if tok.target.as_ref() != Some(&want) {
            return fail(format!(
                "bounce {bounces} (limit {limit}, bounced from {bounced:?}, candidates {:?}) went to {:?}, want {want:?}",
                root.candidates, tok.target
            ));
        }
        if next.is_none() && bounces == limit {
            counts.at_limit += 1;
        }
    }
    for &(i, tok, bounces, trail) in &observed {
        let c = chain(tok);
        let want = c.iter().filter(|p| toks[*p].by_bounce).count() as u32;
        if bounces != want || trail != c.len() - 1 {
            return fail(format!(
                "call #{i}: token {tok} reports {bounces} bounces and {trail} moves, its chain {c:?} has {want} and {}",
                c.len() - 1
            ));
        }
    }
    // Outcomes: escalated exactly when the target is the sag wagon reached by a bounce.
    for (i, r) in recs.iter().enumerate() {
        if let Ans::Feedback(f) = &r.ans {
            let to_escalation = (f.department.clone(), f.queue.clone()) == escalation();
            let moved = matches!(
                f.outcome,
                FeedbackOutcome::Rerouted | FeedbackOutcome::Escalated
            );
            if moved && (f.outcome == FeedbackOutcome::Escalated) != to_escalation {
                return fail(format!("call #{i}: {:?} to {}", f.outcome, f.department));
            }
        }
    }
    Ok(())
}

/// How often each interesting thing happened over all cases of a test: the generator must
/// reach them, or the properties prove little.
#[derive(Debug, Default, Clone)]
struct Counts {
    new: usize,
    attached: usize,
    expired: usize,
    redeliveries: usize,
    no_owner: usize,
    stale: usize,
    rerouted: usize,
    escalated: usize,
    at_limit: usize,
    resolved: usize,
    breaches: usize,
    retaken: usize,
    taken: usize,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.new += o.new;
        self.attached += o.attached;
        self.expired += o.expired;
        self.redeliveries += o.redeliveries;
        self.no_owner += o.no_owner;
        self.stale += o.stale;
        self.rerouted += o.rerouted;
        self.escalated += o.escalated;
        self.at_limit += o.at_limit;
        self.resolved += o.resolved;
        self.breaches += o.breaches;
        self.retaken += o.retaken;
        self.taken += o.taken;
    }

    fn assert_reached(&self, what: &str) {
        eprintln!("{what}: {self:?}");
        let all = [
            ("new", self.new),
            ("attached", self.attached),
            ("expired", self.expired),
            ("redeliveries", self.redeliveries),
            ("no_owner", self.no_owner),
            ("stale", self.stale),
            ("rerouted", self.rerouted),
            ("escalated", self.escalated),
            ("at_limit", self.at_limit),
            ("resolved", self.resolved),
            ("breaches", self.breaches),
            ("retaken", self.retaken),
            ("taken", self.taken),
        ];
        for (name, n) in all {
            assert!(n > 0, "{what}: the programs never reached {name}: {self:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The suite

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Sequential,
    Concurrent,
    /// Concurrent, and only the invariants (to show they catch a broken store by themselves).
    InvariantsOnly,
}

async fn run_case(
    store: Arc<dyn ClaimStore>,
    p: &Program,
    mode: Mode,
    counts: &Mutex<Counts>,
) -> Result<(), String> {
    let run = Arc::new(Run::new(store, p));
    match mode {
        Mode::Sequential => {
            for (_, op) in &p.ops {
                run.op(op).await?;
            }
        }
        Mode::Concurrent | Mode::InvariantsOnly => {
            let workers: Vec<_> = (0..WORKERS)
                .map(|w| {
                    let run = Arc::clone(&run);
                    let ops: Vec<Op> = p
                        .ops
                        .iter()
                        .filter(|(o, _)| *o == w)
                        .map(|(_, op)| op.clone())
                        .collect();
                    tokio::spawn(async move {
                        for op in &ops {
                            run.op(op).await?;
                            tokio::task::yield_now().await;
                        }
                        Ok::<(), String>(())
                    })
                })
                .collect();
            for w in workers {
                w.await.map_err(|e| e.to_string())??;
            }
        }
    }
    let mut c = Counts::default();
    for (k, recs) in run.records().iter().enumerate() {
        let key = &run.keys[k];
        invariants(recs, &mut c).map_err(|e| format!("key {key}: {e}"))?;
        match mode {
            Mode::Sequential => matches_model(recs),
            Mode::Concurrent => linearizable(recs),
            Mode::InvariantsOnly => Ok(()),
        }
        .map_err(|e| format!("key {key}: {e}"))?;
    }
    counts.lock().unwrap().add(&c);
    Ok(())
}

fn run_suite(
    cases: u32,
    mode: Mode,
    rt: &tokio::runtime::Runtime,
    store: impl Fn() -> Arc<dyn ClaimStore>,
) -> Result<Counts, String> {
    let counts = Mutex::new(Counts::default());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&program(), |p| {
            rt.block_on(run_case(store(), &p, mode, &counts))
                .map_err(TestCaseError::fail)
        })
        .map_err(|e| e.to_string())?;
    Ok(counts.into_inner().unwrap())
}

fn suite(
    name: &str,
    cases: u32,
    mode: Mode,
    rt: &tokio::runtime::Runtime,
    store: impl Fn() -> Arc<dyn ClaimStore>,
) {
    match run_suite(cases, mode, rt, store) {
        Ok(counts) => counts.assert_reached(name),
        Err(e) => panic!("{name}: {e}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

const CASES: u32 = 96;

#[test]
fn memory_store_matches_the_model() {
    let rt = runtime();
    suite("memory, sequential", CASES, Mode::Sequential, &rt, || {
        Arc::new(MemoryClaimStore::new())
    });
}

#[test]
fn memory_store_is_linearizable_under_concurrent_workers() {
    let rt = runtime();
    suite("memory, concurrent", CASES, Mode::Concurrent, &rt, || {
        Arc::new(MemoryClaimStore::new())
    });
}

#[test]
fn redis_store_matches_the_model() {
    let rt = runtime();
    let redis = RedisServer::start(false);
    let store: Arc<dyn ClaimStore> = Arc::new(
        rt.block_on(RedisClaimStore::connect(&redis.url(), "p"))
            .unwrap(),
    );
    suite("redis, sequential", CASES, Mode::Sequential, &rt, || {
        Arc::clone(&store)
    });
}

#[test]
fn redis_store_is_linearizable_under_concurrent_workers() {
    let rt = runtime();
    let redis = RedisServer::start(false);
    let store: Arc<dyn ClaimStore> = Arc::new(
        rt.block_on(RedisClaimStore::connect(&redis.url(), "p"))
            .unwrap(),
    );
    suite("redis, concurrent", CASES, Mode::Concurrent, &rt, || {
        Arc::clone(&store)
    });
}

#[test]
fn redis_cluster_matches_the_model_and_is_linearizable() {
    let rt = runtime();
    let cluster = RedisCluster::start();
    let store: Arc<dyn ClaimStore> = Arc::new(
        rt.block_on(RedisClaimStore::connect_cluster(&cluster.urls(), "p"))
            .unwrap(),
    );
    suite("cluster, sequential", 48, Mode::Sequential, &rt, || {
        Arc::clone(&store)
    });
    suite("cluster, concurrent", 48, Mode::Concurrent, &rt, || {
        Arc::clone(&store)
    });
}

// ---------------------------------------------------------------------------------------------
// The checks catch broken stores: the in-memory store with one rule broken, checked by the
// invariants alone (no model), must fail — with the invariant that rule is about.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bug {
    /// Every delivery of an event is decided anew.
    ForgetsEvents,
    /// The store thinks every lease has already run out when an event comes.
    IgnoresLeases,
    /// Half the events go to a second store: two owners, tokens handed out twice.
    SplitBrain,
    /// Escalates one bounce late.
    LimitOffByOne,
    /// Counts a bounce too many once there was one.
    MiscountsBounces,
}

struct Broken {
    bug: Bug,
    inner: MemoryClaimStore,
    other: MemoryClaimStore,
    calls: AtomicU64,
}

impl ClaimStore for Broken {
    fn claim<'a>(
        &'a self,
        req: &'a ClaimRequest,
    ) -> futures::future::BoxFuture<'a, Result<Claim, outcry::claim::ClaimError>> {
        Box::pin(async move {
            let mut req = req.clone();
            let mut store = &self.inner;
            match self.bug {
                Bug::ForgetsEvents => {
                    let n = self.calls.fetch_add(1, SeqCst);
                    req.event_id = format!("{}#{n}", req.event_id);
                }
                Bug::IgnoresLeases => req.now_ms += ms(LEASE),
                Bug::SplitBrain if req.event_id.ends_with(['1', '3', '5', '7', '9']) => {
                    store = &self.other;
                }
                _ => {}
            }
            let mut c = store.claim(&req).await?;
            if self.bug == Bug::IgnoresLeases {
                c.lease_until_ms -= ms(LEASE);
            }
            Ok(c)
        })
    }

    fn feedback<'a>(
        &'a self,
        req: &'a FeedbackRequest,
    ) -> futures::future::BoxFuture<'a, Result<FeedbackResult, outcry::claim::ClaimError>> {
        Box::pin(async move {
            let mut req = req.clone();
            if self.bug == Bug::LimitOffByOne {
                req.bounce_limit += 1;
            }
            let mut f = self.inner.feedback(&req).await?;
            if self.bug == Bug::MiscountsBounces && f.bounces > 0 {
                f.bounces += 1;
            }
            Ok(f)
        })
    }

    fn detect<'a>(
        &'a self,
        req: &'a outcry::claim::DetectRequest,
    ) -> futures::future::BoxFuture<
        'a,
        Result<outcry::claim::DetectDecision, outcry::claim::ClaimError>,
    > {
        self.inner.detect(req)
    }

    fn close_incident<'a>(
        &'a self,
        incident_id: &'a str,
        now_ms: i64,
        reason: &'a str,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Option<outcry::claim::ClosedIncident>, outcry::claim::ClaimError>,
    > {
        self.inner.close_incident(incident_id, now_ms, reason)
    }

    fn incidents_due<'a>(
        &'a self,
        now_ms: i64,
        limit: usize,
    ) -> futures::future::BoxFuture<'a, Result<Vec<String>, outcry::claim::ClaimError>> {
        self.inner.incidents_due(now_ms, limit)
    }

    fn due<'a>(
        &'a self,
        now_ms: i64,
        limit: usize,
    ) -> futures::future::BoxFuture<'a, Result<Vec<Due>, outcry::claim::ClaimError>> {
        self.inner.due(now_ms, limit)
    }

    fn take_breach<'a>(
        &'a self,
        due: &'a Due,
        now_ms: i64,
        retake: Duration,
    ) -> futures::future::BoxFuture<'a, Result<SlaCheck, outcry::claim::ClaimError>> {
        self.inner.take_breach(due, now_ms, retake)
    }

    fn breach_done<'a>(
        &'a self,
        due: &'a Due,
        breach: &'a Breach,
    ) -> futures::future::BoxFuture<'a, Result<(), outcry::claim::ClaimError>> {
        self.inner.breach_done(due, breach)
    }

    fn outbound<'a>(
        &'a self,
        req: &'a outcry::claim::OutboundRequest,
        policy: &'a outcry::claim::ContactPolicy,
    ) -> futures::future::BoxFuture<
        'a,
        Result<outcry::claim::OutboundDecision, outcry::claim::ClaimError>,
    > {
        self.inner.outbound(req, policy)
    }

    fn history<'a>(
        &'a self,
        owner_key: &'a str,
        now_ms: i64,
        limit: usize,
    ) -> futures::future::BoxFuture<
        'a,
        Result<Vec<outcry::claim::HistoryEntry>, outcry::claim::ClaimError>,
    > {
        self.inner.history(owner_key, now_ms, limit)
    }

    fn name(&self) -> &'static str {
        "broken"
    }
}

#[test]
fn the_invariants_catch_broken_stores() {
    let rt = runtime();
    let bugs = [
        (Bug::ForgetsEvents, "fresh decisions, want 1"),
        (Bug::IgnoresLeases, "while token"),
        (Bug::SplitBrain, "handed out twice|two owners under token"),
        (Bug::LimitOffByOne, "went to"),
        (Bug::MiscountsBounces, "bounces and"),
    ];
    for (bug, want) in bugs {
        let broken = || -> Arc<dyn ClaimStore> {
            Arc::new(Broken {
                bug,
                inner: MemoryClaimStore::new(),
                other: MemoryClaimStore::new(),
                calls: AtomicU64::new(0),
            })
        };
        match run_suite(64, Mode::InvariantsOnly, &rt, broken) {
            Ok(_) => panic!("{bug:?}: the invariants did not notice"),
            Err(e) => assert!(
                want.split('|').any(|w| e.contains(w)),
                "{bug:?}: caught, but not as {want:?}: {e}"
            ),
        }
    }
}
