//! The claim store contract — claims, feedback, bounces and the sag wagon, SLA deadlines, the
//! outbound gate, history — one test body per rule set, run against the in-memory store, a
//! real `redis-server`, and a real three-master Redis Cluster; then what only Redis can show:
//! a restart, a flushed script cache, many workers at once.

mod common;

use common::{RedisCluster, RedisServer};
use outcry::claim::{
    ClaimError, ClaimRequest, ClaimStore, ContactPolicy, DetectDecision, DetectOutcome,
    DetectRequest, FeedbackKind, FeedbackOutcome, FeedbackRequest, HistoryPolicy, MemoryClaimStore,
    OutboundKind, OutboundRequest, RedisClaimStore, Refusal, SlaCheck,
};
use outcry::event::AssignmentOutcome;
use outcry::incident::Threshold;
use outcry::kafka::unique_suffix;
use outcry::route::{Priority, Target};
use std::sync::Arc;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);
const T0: i64 = 1_700_000_000_000;

fn t(s: &str) -> Target {
    Target::parse(s).unwrap()
}

/// A claim routed to `dept/general`, then `support/general`, `tech/general` on bounces.
fn req(owner: &str, event: &str, dept: &str, priority: Priority, now_ms: i64) -> ClaimRequest {
    let mut candidates = vec![t(&format!("{dept}/general"))];
    for other in ["support/general", "tech/general"] {
        if !other.starts_with(dept) {
            candidates.push(t(other));
        }
    }
    ClaimRequest {
        owner_key: owner.into(),
        event_id: event.into(),
        candidates,
        escalation: t("escalations/sag-wagon"),
        on_breach: t("escalations/sla"),
        priority,
        now_ms,
        lease: 10 * MIN,
        sla: 2 * MIN,
        resolution: 5 * MIN,
        remember: 60 * MIN,
    }
}

fn fb(owner: &str, id: &str, kind: FeedbackKind, token: u64, now_ms: i64) -> FeedbackRequest {
    FeedbackRequest {
        feedback_id: id.into(),
        owner_key: owner.into(),
        kind,
        token,
        note: format!("{} note", kind.as_str()),
        now_ms,
        remember: 60 * MIN,
        bounce_limit: 3,
        lease: 10 * MIN,
    }
}

fn owner() -> String {
    format!("customer:{}", unique_suffix())
}

/// Every rule of claiming, in one body, for any store.
async fn claims(store: &dyn ClaimStore) {
    let owner = owner();

    // No owner: a new ownership with the first fencing token, the first candidate, SLA.
    let first = store
        .claim(&req(&owner, "x:1", "billing", Priority::P3, T0))
        .await
        .unwrap();
    assert_eq!(first.outcome, AssignmentOutcome::New);
    assert_eq!(
        (first.department.as_str(), first.queue.as_str()),
        ("billing", "general")
    );
    assert_eq!(first.token, 1);
    assert_eq!(first.sla_deadline_ms, T0 + 2 * 60_000);
    assert_eq!(first.resolution_due_ms, T0 + 5 * 60_000);
    // The ownership lasts at least until its resolution is due.
    assert_eq!(first.lease_until_ms, T0 + 10 * 60_000);
    assert!(!first.replayed && !first.bumped);

    // An owner holds the lease: attach, whatever routing said; the lease is extended.
    let second = store
        .claim(&req(&owner, "x:2", "sales", Priority::P4, T0 + 1000))
        .await
        .unwrap();
    assert_eq!(second.outcome, AssignmentOutcome::Attached);
    assert_eq!(second.department, "billing");
    assert_eq!(second.token, 1);
    assert_eq!(
        second.priority,
        Priority::P3,
        "a lower priority is not passed on"
    );
    assert_eq!(second.lease_until_ms, T0 + 1000 + 10 * 60_000);
    assert!(!second.bumped);

    // A higher priority is passed on as a bump.
    let urgent = store
        .claim(&req(&owner, "x:3", "escalations", Priority::P1, T0 + 2000))
        .await
        .unwrap();
    assert_eq!(
        (urgent.outcome, urgent.priority, urgent.bumped),
        (AssignmentOutcome::Attached, Priority::P1, true)
    );
    assert_eq!(urgent.department, "billing");

    // The same event again (a redelivery), even much later: the same decision, flagged.
    let again = store
        .claim(&req(&owner, "x:1", "sales", Priority::P1, T0 + 5000))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.outcome, again.token, again.department.as_str()),
        (first.outcome, first.token, "billing")
    );
    assert_eq!(again.sla_deadline_ms, first.sla_deadline_ms);

    // The lease runs out: the next event opens a new ownership with a larger token.
    let later = T0 + 2000 + 10 * 60_000 + 1;
    let fresh = store
        .claim(&req(&owner, "x:4", "sales", Priority::P4, later))
        .await
        .unwrap();
    assert_eq!(fresh.outcome, AssignmentOutcome::New);
    assert_eq!(fresh.department, "sales");
    assert_eq!(fresh.token, 2, "fencing tokens only go up");

    // Owner keys are independent.
    let other = store
        .claim(&req(
            &format!("{owner}-other"),
            "x:1",
            "support",
            Priority::P3,
            T0,
        ))
        .await
        .unwrap();
    assert_eq!(
        (other.outcome, other.token, other.replayed),
        (AssignmentOutcome::New, 1, false)
    );
}

/// Feedback: accepted, responded, stale tokens, bounces down the candidate list, the sag
/// wagon at the limit with the whole trail, resolved, redelivered feedback.
async fn feedback(store: &dyn ClaimStore) {
    let owner = owner();
    let c = store
        .claim(&req(&owner, "x:1", "billing", Priority::P2, T0))
        .await
        .unwrap();
    let at = |s: i64| T0 + s * 1000;

    let r = store
        .feedback(&fb(&owner, "f1", FeedbackKind::Accepted, c.token, at(1)))
        .await
        .unwrap();
    assert_eq!((r.outcome, r.token), (FeedbackOutcome::Accepted, c.token));

    // A stale (or made-up) token is refused and changes nothing.
    let r = store
        .feedback(&fb(&owner, "f2", FeedbackKind::Bounced, c.token + 7, at(2)))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.refused),
        (FeedbackOutcome::Refused, Some(Refusal::StaleToken))
    );
    assert_eq!((r.department.as_str(), r.token), ("billing", c.token));

    // Responded: the first response took 3 s.
    let r = store
        .feedback(&fb(&owner, "f3", FeedbackKind::Responded, c.token, at(3)))
        .await
        .unwrap();
    assert_eq!(r.outcome, FeedbackOutcome::Responded);
    assert_eq!(r.first_response_ms, Some(3000));
    let r = store
        .feedback(&fb(&owner, "f3b", FeedbackKind::Responded, c.token, at(4)))
        .await
        .unwrap();
    assert_eq!(
        r.first_response_ms, None,
        "only the first response is timed"
    );

    // Bounce 1: the next candidate that has not bounced takes it, with a new token.
    let b1 = store
        .feedback(&fb(&owner, "f4", FeedbackKind::Bounced, c.token, at(5)))
        .await
        .unwrap();
    assert_eq!(b1.outcome, FeedbackOutcome::Rerouted);
    assert_eq!(
        (b1.department.as_str(), b1.queue.as_str()),
        ("support", "general")
    );
    assert!(b1.token > c.token);
    assert_eq!(b1.bounces, 1);
    assert_eq!(
        b1.sla_deadline_ms,
        at(5) + 2 * 60_000,
        "a new first-response clock"
    );
    // The old owner's token is now stale.
    let r = store
        .feedback(&fb(&owner, "f5", FeedbackKind::Responded, c.token, at(6)))
        .await
        .unwrap();
    assert_eq!(r.refused, Some(Refusal::StaleToken));

    // The same feedback again: the same answer, nothing moves twice.
    let again = store
        .feedback(&fb(&owner, "f4", FeedbackKind::Bounced, c.token, at(7)))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!((again.token, again.bounces), (b1.token, 1));

    // An inbound event now attaches to the new owner.
    let a = store
        .claim(&req(&owner, "x:2", "billing", Priority::P3, at(8)))
        .await
        .unwrap();
    assert_eq!(
        (a.outcome, a.department.as_str(), a.token),
        (AssignmentOutcome::Attached, "support", b1.token)
    );

    // Bounce 2: tech (billing and support have bounced).
    let b2 = store
        .feedback(&fb(&owner, "f6", FeedbackKind::Bounced, b1.token, at(9)))
        .await
        .unwrap();
    assert_eq!(
        (b2.outcome, b2.department.as_str(), b2.bounces),
        (FeedbackOutcome::Rerouted, "tech", 2)
    );
    // Bounce 3 = the limit: the sag wagon takes it, with the whole trail.
    let b3 = store
        .feedback(&fb(&owner, "f7", FeedbackKind::Bounced, b2.token, at(10)))
        .await
        .unwrap();
    assert_eq!(b3.outcome, FeedbackOutcome::Escalated);
    assert_eq!(
        (b3.department.as_str(), b3.queue.as_str()),
        ("escalations", "sag-wagon")
    );
    assert_eq!(b3.bounces, 3);
    let trail: Vec<(&str, &str)> = b3
        .trail
        .iter()
        .map(|s| (s.from.as_str(), s.to.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            ("billing/general", "support/general"),
            ("support/general", "tech/general"),
            ("tech/general", "escalations/sag-wagon")
        ]
    );
    assert_eq!(b3.trail[0].from_token, c.token);
    assert!(b3.trail[0].why.starts_with("bounced"), "{:?}", b3.trail[0]);
    assert!(
        b3.trail[2].why.contains("bounce 3 of 3"),
        "{:?}",
        b3.trail[2]
    );
    let tokens = [c.token, b1.token, b2.token, b3.token];
    assert!(tokens.windows(2).all(|w| w[0] < w[1]), "{tokens:?}");

    // Resolved ends the ownership; the next event opens a new one with a larger token.
    let r = store
        .feedback(&fb(&owner, "f8", FeedbackKind::Resolved, b3.token, at(11)))
        .await
        .unwrap();
    assert_eq!(r.outcome, FeedbackOutcome::Resolved);
    let r = store
        .feedback(&fb(&owner, "f9", FeedbackKind::Accepted, b3.token, at(12)))
        .await
        .unwrap();
    assert_eq!(r.refused, Some(Refusal::NoOwner));
    let n = store
        .claim(&req(&owner, "x:3", "billing", Priority::P3, at(13)))
        .await
        .unwrap();
    assert_eq!(n.outcome, AssignmentOutcome::New);
    assert!(n.token > b3.token);

    // With no candidate left before the limit, the sag wagon takes it too.
    let lone = format!("{owner}-lone");
    let mut one = req(&lone, "y:1", "billing", Priority::P3, T0);
    one.candidates.truncate(1);
    let c = store.claim(&one).await.unwrap();
    let r = store
        .feedback(&fb(&lone, "g1", FeedbackKind::Bounced, c.token, T0 + 1))
        .await
        .unwrap();
    assert_eq!(
        (r.outcome, r.department.as_str(), r.bounces),
        (FeedbackOutcome::Escalated, "escalations", 1)
    );
}

/// SLA: deadlines are indexed; a due one is taken once, moves the case, can be retaken only
/// after the retake time, and the next deadline follows; a response stops the first clock.
async fn sla(store: &dyn ClaimStore) {
    let retake = Duration::from_secs(30);
    let a = owner();
    let b = format!("{a}-responded");
    let ca = store
        .claim(&req(&a, "x:1", "billing", Priority::P2, T0))
        .await
        .unwrap();
    let cb = store
        .claim(&req(&b, "x:1", "billing", Priority::P2, T0))
        .await
        .unwrap();
    store
        .feedback(&fb(&b, "r1", FeedbackKind::Responded, cb.token, T0 + 1000))
        .await
        .unwrap();
    let ours = |v: Vec<outcry::claim::Due>| -> Vec<outcry::claim::Due> {
        v.into_iter()
            .filter(|d| d.owner_key == a || d.owner_key == b)
            .collect()
    };

    // Nothing is due before the deadline.
    let before = ours(store.due(T0 + 2 * 60_000 - 1, 1000).await.unwrap());
    assert!(before.is_empty(), "{before:?}");

    // At the first-response deadline, only the one without a response is due... (the other
    // may be indexed early; checking it says not due and moves it to its resolution time).
    let now = T0 + 2 * 60_000;
    let due = ours(store.due(now, 1000).await.unwrap());
    let mut breaches = Vec::new();
    for d in &due {
        match store.take_breach(d, now, retake).await.unwrap() {
            SlaCheck::Breach(br) => breaches.push((d.clone(), br)),
            SlaCheck::NotDue => assert_eq!(d.owner_key, b),
            SlaCheck::Taken => panic!("nobody else took it"),
        }
    }
    assert_eq!(breaches.len(), 1, "{due:?}");
    let (d, br) = &breaches[0];
    assert_eq!(br.owner_key, a);
    assert_eq!(br.kind, "first_response");
    assert_eq!(
        (br.from_department.as_str(), br.from_token),
        ("billing", ca.token)
    );
    assert_eq!(
        (br.department.as_str(), br.queue.as_str()),
        ("escalations", "sla")
    );
    assert!(br.token > ca.token);
    assert!(!br.retaken);

    // ...and taken by exactly one sweeper: another one is told it is taken.
    assert_eq!(
        store.take_breach(d, now + 10, retake).await.unwrap(),
        SlaCheck::Taken
    );
    // A sweeper that took it and died: after the retake time the same breach is handed out.
    match store.take_breach(d, now + 31_000, retake).await.unwrap() {
        SlaCheck::Breach(again) => {
            assert!(again.retaken);
            assert_eq!(
                (again.token, again.kind.as_str()),
                (br.token, "first_response")
            );
        }
        other => panic!("expected the breach again, got {other:?}"),
    }
    // The old owner's token is stale now.
    let r = store
        .feedback(&fb(
            &a,
            "s1",
            FeedbackKind::Responded,
            ca.token,
            now + 32_000,
        ))
        .await
        .unwrap();
    assert_eq!(r.refused, Some(Refusal::StaleToken));
    store.breach_done(d, br).await.unwrap();

    // The next deadline is the resolution (T0 + 5 min), for both owners.
    let now = T0 + 5 * 60_000;
    let due = ours(store.due(now, 1000).await.unwrap());
    let mut kinds = Vec::new();
    for d in &due {
        if let SlaCheck::Breach(br) = store.take_breach(d, now, retake).await.unwrap() {
            kinds.push((br.owner_key.clone(), br.kind.clone()));
            store.breach_done(d, &br).await.unwrap();
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (a.clone(), "resolution".to_string()),
            (b.clone(), "resolution".to_string())
        ]
    );
    // Nothing is left to breach for either.
    let now = T0 + 9 * 60_000;
    for d in ours(store.due(now, 1000).await.unwrap()) {
        assert_eq!(
            store.take_breach(&d, now, retake).await.unwrap(),
            SlaCheck::NotDue
        );
    }
    assert!(ours(store.due(now, 1000).await.unwrap()).is_empty());
}

/// The outbound gate: replies need the current token; proactive messages are refused while a
/// case is open, past the frequency limit, or to a do-not-contact customer.
async fn outbound(store: &dyn ClaimStore) {
    let policy = ContactPolicy {
        max_proactive: 2,
        window: 60 * MIN,
        remember: 60 * MIN,
    };
    let owner = owner();
    let msg = |id: &str, kind: OutboundKind, token: Option<u64>, now_ms: i64| OutboundRequest {
        owner_key: owner.clone(),
        message_id: id.into(),
        kind,
        token,
        sender: "marketing".into(),
        do_not_contact: false,
        now_ms,
    };
    let policy = &policy;
    let ask = |r: OutboundRequest| async move { store.outbound(&r, policy).await.unwrap() };

    // No case open: two proactive messages per hour, the third is refused.
    assert!(
        ask(msg("m1", OutboundKind::Proactive, None, T0))
            .await
            .allowed
    );
    let d = ask(msg("m2", OutboundKind::Proactive, None, T0 + 1)).await;
    assert!(d.allowed);
    assert_eq!(d.proactive_in_window, 2);
    let d = ask(msg("m3", OutboundKind::Proactive, None, T0 + 2)).await;
    assert_eq!((d.allowed, d.refused), (false, Some(Refusal::RateLimited)));
    // Asking again about the same message: the same answer, counted once.
    let d = ask(msg("m2", OutboundKind::Proactive, None, T0 + 3)).await;
    assert!(d.allowed && d.replayed);
    // The window moves on.
    assert!(
        ask(msg(
            "m4",
            OutboundKind::Proactive,
            None,
            T0 + 60 * 60_000 + 5
        ))
        .await
        .allowed
    );

    // A reply needs an owner and the owner's token.
    let now = T0 + 2 * 60 * 60_000;
    let d = ask(msg("r0", OutboundKind::Reply, Some(1), now)).await;
    assert_eq!(d.refused, Some(Refusal::NoOwner));
    let c = store
        .claim(&req(&owner, "x:1", "billing", Priority::P3, now))
        .await
        .unwrap();
    assert!(
        ask(msg("r1", OutboundKind::Reply, Some(c.token), now + 1))
            .await
            .allowed
    );
    let d = ask(msg("r2", OutboundKind::Reply, Some(c.token + 1), now + 2)).await;
    assert_eq!(d.refused, Some(Refusal::StaleToken));
    let d = ask(msg("r3", OutboundKind::Reply, None, now + 3)).await;
    assert_eq!(d.refused, Some(Refusal::StaleToken));
    // No proactive message while the care case is open.
    let d = ask(msg("m5", OutboundKind::Proactive, None, now + 4)).await;
    assert_eq!(d.refused, Some(Refusal::CareCaseOpen));
    // Do-not-contact wins over everything for proactive messages.
    let mut dnc = msg("m6", OutboundKind::Proactive, None, now + 5);
    dnc.do_not_contact = true;
    assert_eq!(ask(dnc).await.refused, Some(Refusal::DoNotContact));

    // Every answer, refusals included, is in the history, newest first.
    let h = store.history(&owner, now + 6, 100).await.unwrap();
    let kinds: Vec<(&str, &str)> = h.iter().map(|e| (e.kind.as_str(), e.id.as_str())).collect();
    assert_eq!(
        kinds[..6],
        [
            ("refused", "m6"),
            ("refused", "m5"),
            ("refused", "r3"),
            ("refused", "r2"),
            ("outbound", "r1"),
            ("assigned", "x:1"),
        ]
    );
    assert!(h[0].note.contains("do_not_contact"), "{:?}", h[0]);
}

/// The history: every exchange, newest first, capped by length and by age.
async fn history(store: &dyn ClaimStore, max_entries: u32) {
    let owner = owner();
    let c = store
        .claim(&req(&owner, "x:1", "billing", Priority::P3, T0))
        .await
        .unwrap();
    for (i, kind) in [
        FeedbackKind::Accepted,
        FeedbackKind::Responded,
        FeedbackKind::Outbound,
    ]
    .into_iter()
    .enumerate()
    {
        store
            .feedback(&fb(
                &owner,
                &format!("h{i}"),
                kind,
                c.token,
                T0 + i as i64 + 1,
            ))
            .await
            .unwrap();
    }
    store
        .feedback(&fb(&owner, "h9", FeedbackKind::Bounced, c.token, T0 + 10))
        .await
        .unwrap();
    let h = store.history(&owner, T0 + 11, 100).await.unwrap();
    let kinds: Vec<&str> = h.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "rerouted",
            "bounced",
            "outbound",
            "responded",
            "accepted",
            "assigned"
        ]
    );
    assert_eq!(h[0].department, "support");
    assert_eq!(h[1].note, "bounced note");
    assert_eq!(h[5].at_ms, T0);
    assert_eq!(store.history(&owner, T0 + 11, 2).await.unwrap().len(), 2);

    // Capped by length...
    for i in 0..max_entries + 5 {
        store
            .claim(&req(
                &owner,
                &format!("x:{}", 100 + i),
                "billing",
                Priority::P3,
                T0 + 20 + i as i64,
            ))
            .await
            .unwrap();
    }
    let h = store.history(&owner, T0 + 100, 10_000).await.unwrap();
    assert_eq!(h.len(), max_entries as usize);
    assert_eq!(h[0].id, format!("x:{}", 100 + max_entries + 4));
    // ...and by age: a day later (the age cap in these tests), nothing is shown.
    assert!(store
        .history(&owner, T0 + 86_400_000 + 1000, 10)
        .await
        .unwrap()
        .is_empty());
}

const HISTORY: HistoryPolicy = HistoryPolicy {
    max_entries: 20,
    max_age: Duration::from_secs(86_400),
};

fn detect(
    key: &str,
    event: &str,
    author: &str,
    threshold: Threshold,
    now_ms: i64,
) -> DetectRequest {
    DetectRequest {
        detector: "bags".into(),
        group: key.into(),
        event_id: event.into(),
        author: author.into(),
        now_ms,
        window: Duration::from_secs(300),
        threshold,
        cooldown: Duration::from_secs(600),
        expire_after: Duration::from_secs(3600),
        remember: 60 * MIN,
    }
}

/// Incident detectors: counted once per event, exactly one opening, linking, closing (by
/// feedback or expiry), cooldown, distinct authors, the usual rate.
async fn incidents(store: Arc<dyn ClaimStore>) {
    let key = format!("lost_luggage|JFK-{}", unique_suffix());
    let ev = Threshold::Events(5);
    let ask = |r: DetectRequest| {
        let store = Arc::clone(&store);
        async move { store.detect(&r).await.unwrap() }
    };
    for i in 1..=4 {
        let d = ask(detect(
            &key,
            &format!("x:{i}"),
            &format!("a{i}"),
            ev,
            T0 + i,
        ))
        .await;
        assert_eq!((d.outcome, d.events), (DetectOutcome::Counted, i as u32));
    }
    // A redelivered event is not counted again: the same decision, flagged.
    let again = ask(detect(&key, "x:2", "a2", ev, T0 + 10)).await;
    assert!(again.replayed);
    assert_eq!((again.outcome, again.events), (DetectOutcome::Counted, 2));
    // The fifth event opens the incident; the window's events are its first posts.
    let opened = ask(detect(&key, "x:5", "a5", ev, T0 + 20)).await;
    assert_eq!(opened.outcome, DetectOutcome::Opened);
    let id = opened.incident_id.clone().unwrap();
    assert!(
        id.ends_with(":1") && id.starts_with("bags:lost_luggage|JFK"),
        "{id}"
    );
    assert_eq!(opened.window_events, ["x:1", "x:2", "x:3", "x:4", "x:5"]);
    // Later posts are linked to it.
    let linked = ask(detect(&key, "x:6", "a6", ev, T0 + 30)).await;
    assert_eq!(
        (linked.outcome, linked.incident_id.as_deref()),
        (DetectOutcome::Linked, Some(id.as_str()))
    );
    // Resolved through feedback: closed once; then the cooldown; then a new incident.
    let closed = store
        .close_incident(&id, T0 + 40, "resolved")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((closed.reason.as_str(), closed.linked), ("resolved", 6));
    assert!(store
        .close_incident(&id, T0 + 41, "resolved")
        .await
        .unwrap()
        .is_none());
    let cool = ask(detect(&key, "x:7", "a7", ev, T0 + 50)).await;
    assert_eq!(cool.outcome, DetectOutcome::Cooldown);
    let later = T0 + 600_000 + 100;
    for i in 8..=11 {
        ask(detect(&key, &format!("x:{i}"), "a", ev, later + i)).await;
    }
    let second = ask(detect(&key, "x:12", "a", ev, later + 12)).await;
    assert_eq!(second.outcome, DetectOutcome::Opened);
    let id2 = second.incident_id.clone().unwrap();
    assert!(id2.ends_with(":2"), "{id2}");
    // Events older than the window were dropped: only x:8..x:12 made it.
    assert_eq!(second.window_events.len(), 5);
    // Expiry: listed when due, closed once, and not before its time.
    let expires = second.expires_at_ms.unwrap();
    assert!(!store
        .incidents_due(expires - 1, 100)
        .await
        .unwrap()
        .contains(&id2));
    assert!(store
        .close_incident(&id2, expires - 1, "expired")
        .await
        .unwrap()
        .is_none());
    assert!(store
        .incidents_due(expires, 100)
        .await
        .unwrap()
        .contains(&id2));
    let c = store
        .close_incident(&id2, expires, "expired")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.reason, "expired");
    assert!(!store
        .incidents_due(expires, 100)
        .await
        .unwrap()
        .contains(&id2));

    // Distinct authors: one author posting ten times is not an incident.
    let akey = format!("{key}-authors");
    let au = Threshold::Authors(3);
    for i in 0..10 {
        let d = ask(detect(&akey, &format!("y:{i}"), "same", au, T0 + i)).await;
        assert_eq!(d.outcome, DetectOutcome::Counted);
    }
    ask(detect(&akey, "y:10", "other", au, T0 + 11)).await;
    let d = ask(detect(&akey, "y:11", "third", au, T0 + 12)).await;
    assert_eq!((d.outcome, d.authors), (DetectOutcome::Opened, 3));

    // The usual rate: two posts per window for an hour is normal; a window with six is 3x.
    let rkey = format!("{key}-rate");
    let rate = Threshold::RateMultiple {
        multiple: 3.0,
        baseline: outcry::settings::HumanDuration(Duration::from_secs(3600)),
        min_events: 4,
    };
    let w = 300_000i64;
    let start = (T0 / w) * w;
    let mut n = 0;
    for window in 0..12 {
        for j in 0..2 {
            n += 1;
            let d = ask(detect(
                &rkey,
                &format!("r:{n}"),
                "a",
                rate,
                start + window * w + j,
            ))
            .await;
            assert_ne!(d.outcome, DetectOutcome::Opened, "window {window}");
        }
    }
    let now = start + 12 * w;
    let mut outcomes = Vec::new();
    for j in 0..6 {
        n += 1;
        let d = ask(detect(&rkey, &format!("r:{n}"), "a", rate, now + j)).await;
        outcomes.push(d.outcome);
        if d.outcome == DetectOutcome::Opened {
            assert_eq!(d.usual, Some(2.0));
        }
    }
    assert_eq!(outcomes[..5], [DetectOutcome::Counted; 5]);
    assert_eq!(outcomes[5], DetectOutcome::Opened, "6 >= 3 x 2");

    // Many workers at once: exactly one of them opens it.
    let ckey = format!("{key}-contended");
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let store = Arc::clone(&store);
            let ckey = ckey.clone();
            tokio::spawn(async move {
                store
                    .detect(&detect(
                        &ckey,
                        &format!("z:{i}"),
                        &format!("a{i}"),
                        ev,
                        T0 + 5,
                    ))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let all: Vec<DetectDecision> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let count = |o| all.iter().filter(|d| d.outcome == o).count();
    assert_eq!(count(DetectOutcome::Opened), 1);
    assert_eq!(count(DetectOutcome::Counted), 4);
    assert_eq!(count(DetectOutcome::Linked), 19);
}

/// A batch of claims is applied in order (events of one owner key as they came), decides what
/// the same claims one by one would, writes the SLA index, and decides nothing twice when it
/// is sent again whole or after a part of it was applied.
async fn batches(store: &dyn ClaimStore) {
    let (a, b, c) = (owner(), owner(), owner());
    let batch = vec![
        req(&a, "x:b1", "billing", Priority::P3, T0),
        req(&b, "x:b2", "sales", Priority::P3, T0),
        req(&a, "x:b3", "sales", Priority::P1, T0 + 1),
        req(&a, "x:b1", "sales", Priority::P3, T0 + 2),
        req(&c, "x:b4", "tech", Priority::P2, T0 + 3),
        req(&b, "x:b5", "billing", Priority::P3, T0 + 4),
    ];
    // The first two only, as if the batch had been cut by an outage after them.
    let part: Vec<_> = store
        .claim_batch(&batch[..2])
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let got: Vec<_> = store
        .claim_batch(&batch)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(got.len(), batch.len());
    let view = |c: &outcry::claim::Claim| {
        (
            c.outcome,
            c.department.clone(),
            c.token,
            c.priority.as_str(),
            c.bumped,
            c.replayed,
        )
    };
    let ta = got[0].token;
    assert_eq!(
        got.iter().map(view).collect::<Vec<_>>(),
        vec![
            (
                AssignmentOutcome::New,
                "billing".into(),
                ta,
                "p3",
                false,
                true
            ),
            (
                AssignmentOutcome::New,
                "sales".into(),
                got[1].token,
                "p3",
                false,
                true
            ),
            (
                AssignmentOutcome::Attached,
                "billing".into(),
                ta,
                "p1",
                true,
                false
            ),
            (
                AssignmentOutcome::New,
                "billing".into(),
                ta,
                "p3",
                false,
                true
            ),
            (
                AssignmentOutcome::New,
                "tech".into(),
                got[4].token,
                "p2",
                false,
                false
            ),
            (
                AssignmentOutcome::Attached,
                "sales".into(),
                got[1].token,
                "p3",
                false,
                false
            ),
        ],
        "in order, the applied part replayed"
    );
    assert_eq!((part[0].token, part[1].token), (ta, got[1].token));
    // Sent again whole (a redelivery): every decision is the same one, replayed.
    let again: Vec<_> = store
        .claim_batch(&batch)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (g, r) in got.iter().zip(&again) {
        assert!(r.replayed);
        assert_eq!(
            (g.outcome, &g.department, g.token, g.sla_deadline_ms),
            (r.outcome, &r.department, r.token, r.sla_deadline_ms)
        );
    }
    // The new ownerships' first-response deadlines are indexed.
    let due: Vec<String> = store
        .due(T0 + 3 * MIN.as_millis() as i64, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.owner_key)
        .collect();
    for o in [&a, &b, &c] {
        assert!(due.contains(o), "{o} is in the SLA index");
    }
}

/// A batch of detections is applied in order (the events of one detector key as they came),
/// decides what the same detections one by one would, indexes the incident it opens, and counts
/// nothing twice when sent again after a part of it was applied.
async fn detect_batches(store: &dyn ClaimStore) {
    let (k1, k2) = (
        format!("batch-a-{}", unique_suffix()),
        format!("batch-b-{}", unique_suffix()),
    );
    let ev = Threshold::Events(3);
    let batch = vec![
        detect(&k1, "e:1", "a1", ev, T0),
        detect(&k2, "f:1", "b1", ev, T0 + 1),
        detect(&k1, "e:2", "a2", ev, T0 + 2),
        detect(&k1, "e:3", "a3", ev, T0 + 3),
        detect(&k2, "f:2", "b2", ev, T0 + 4),
        detect(&k1, "e:4", "a4", ev, T0 + 5),
        detect(&k1, "e:2", "a2", ev, T0 + 6),
    ];
    // The first two only, as if the batch had been cut by an outage after them.
    for d in store.detect_batch(&batch[..2]).await {
        assert!(!d.unwrap().replayed);
    }
    let got: Vec<DetectDecision> = store
        .detect_batch(&batch)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let view: Vec<_> = got
        .iter()
        .map(|d| (d.outcome, d.events, d.replayed))
        .collect();
    use DetectOutcome::{Counted, Linked, Opened};
    assert_eq!(
        view,
        [
            (Counted, 1, true),
            (Counted, 1, true),
            (Counted, 2, false),
            (Opened, 3, false),
            (Counted, 2, false),
            (Linked, 4, false),
            (Counted, 2, true),
        ]
    );
    let id = got[3].incident_id.clone().unwrap();
    assert_eq!(got[5].incident_id.as_deref(), Some(id.as_str()));
    assert_eq!(got[3].window_events, ["e:1", "e:2", "e:3"]);
    let expires = got[3].expires_at_ms.unwrap();
    assert!(store
        .incidents_due(expires, 10_000)
        .await
        .unwrap()
        .contains(&id));
    store.close_incident(&id, expires, "expired").await.unwrap();
}

async fn everything(store: Arc<dyn ClaimStore>) {
    incidents(Arc::clone(&store)).await;
    detect_batches(store.as_ref()).await;
    batches(store.as_ref()).await;
    claims(store.as_ref()).await;
    feedback(store.as_ref()).await;
    sla(store.as_ref()).await;
    outbound(store.as_ref()).await;
    history(store.as_ref(), HISTORY.max_entries).await;
    one_owner_under_contention(store).await;
}

/// Many concurrent claims on one key: exactly one opens the ownership, all share its token.
async fn one_owner_under_contention(store: Arc<dyn ClaimStore>) {
    let owner = owner();
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            let owner = owner.clone();
            tokio::spawn(async move {
                let dept = if i % 2 == 0 { "billing" } else { "sales" };
                store
                    .claim(&req(&owner, &format!("x:{i}"), dept, Priority::P3, T0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let claims: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let new: Vec<_> = claims
        .iter()
        .filter(|c| c.outcome == AssignmentOutcome::New)
        .collect();
    assert_eq!(new.len(), 1, "exactly one new ownership");
    assert!(claims
        .iter()
        .all(|c| c.token == new[0].token && c.department == new[0].department));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_keeps_the_contract() {
    everything(Arc::new(MemoryClaimStore::new().with_history(HISTORY))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_keeps_the_contract() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "t")
        .await
        .unwrap()
        .with_history(HISTORY);
    everything(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cluster_keeps_the_contract() {
    let cluster = RedisCluster::start();
    let store = RedisClaimStore::connect_cluster(&cluster.urls(), "t")
        .await
        .unwrap()
        .with_history(HISTORY);
    everything(Arc::new(store)).await;
    // The keys really are spread over the three masters.
    let mut per_node = Vec::new();
    for url in cluster.urls() {
        let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
        let n: i64 = redis::cmd("DBSIZE").query(&mut conn).unwrap();
        per_node.push(n);
    }
    assert!(per_node.iter().all(|&n| n > 0), "{per_node:?}");
}

/// Production Redis: TLS (`rediss://`), an ACL user with only what docs/security.md grants,
/// credentials from files. The whole contract runs as that user; anything else is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_as_a_least_privilege_acl_user() {
    let certs = std::env::temp_dir().join(format!("outcry-tls-{}", unique_suffix()));
    std::fs::create_dir_all(&certs).unwrap();
    let (cert, key, ca) = (
        certs.join("cert.pem"),
        certs.join("key.pem"),
        certs.join("ca.pem"),
    );
    std::fs::write(
        certs.join("san.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    // A test CA, and a server certificate for 127.0.0.1 signed by it.
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .current_dir(&certs)
            .args(args)
            .output()
            .expect("openssl (Debian package openssl) makes the test certificates");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=outcry-test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        "cert.pem",
        "-extfile",
        "san.ext",
    ]);
    let tls_port = common::free_port();
    let redis = RedisServer::start_with_args(
        [
            "--tls-port".to_string(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            cert.display().to_string(),
            "--tls-key-file".into(),
            key.display().to_string(),
            "--tls-ca-cert-file".into(),
            ca.display().to_string(),
            "--tls-auth-clients".into(),
            "no".into(),
        ]
        .into(),
    );
    // The administrator creates the user outcry runs as (docs/security.md).
    let mut admin = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let rules = outcry::claim::acl_rules("outcry");
    let mut acl = redis::cmd("ACL");
    acl.arg("SETUSER")
        .arg("outcry")
        .arg("on")
        .arg(">pw-from-a-file");
    for r in rules.split(' ') {
        acl.arg(r);
    }
    let () = acl.query(&mut admin).unwrap();
    std::fs::write(certs.join("redis-password"), "pw-from-a-file\n").unwrap();

    let config = outcry::config::Config::parse(
        &format!(
            "[redis]\nurl = \"rediss://127.0.0.1:{tls_port}/\"\nusername = \"outcry\"\npassword_file = {:?}\ntls_ca_file = {:?}\n",
            certs.join("redis-password").display().to_string(),
            ca.display().to_string()
        ),
        Vec::new(),
    )
    .unwrap();
    let store = RedisClaimStore::from_config(&config.redis, HISTORY)
        .await
        .unwrap();
    everything(Arc::new(store)).await;

    // The same user can't reach beyond its keys and commands.
    let url = format!("rediss://outcry:pw-from-a-file@127.0.0.1:{tls_port}/#insecure");
    let mut conn = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert!(redis::cmd("GET")
        .arg("other:key")
        .query::<Option<String>>(&mut conn)
        .is_err());
    assert!(redis::cmd("FLUSHALL").query::<()>(&mut conn).is_err());
    assert!(redis::cmd("KEYS")
        .arg("*")
        .query::<Vec<String>>(&mut conn)
        .is_err());
    let _ = std::fs::remove_dir_all(&certs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_of_an_owner_shares_one_cluster_slot() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "outcry")
        .await
        .unwrap();
    let owner = "customer:C1";
    let c = store
        .claim(&req(owner, "x:1", "billing", Priority::P3, T0))
        .await
        .unwrap();
    store
        .feedback(&fb(owner, "f1", FeedbackKind::Accepted, c.token, T0 + 1))
        .await
        .unwrap();
    let policy = ContactPolicy {
        max_proactive: 1,
        window: MIN,
        remember: MIN,
    };
    let mut m = OutboundRequest {
        owner_key: "customer:C2".into(),
        message_id: "m1".into(),
        kind: OutboundKind::Proactive,
        token: None,
        sender: "marketing".into(),
        do_not_contact: false,
        now_ms: T0,
    };
    store.outbound(&m, &policy).await.unwrap();
    m.owner_key = owner.into();
    store.outbound(&m, &policy).await.unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("outcry:{{{owner}}}:*"))
        .query(&mut conn)
        .unwrap();
    // owner, fence, event, feedback, message decisions, history
    assert_eq!(keys.len(), 6, "{keys:?}");
    let slotter = RedisServer::start_cluster_node();
    let mut conn = redis::Client::open(slotter.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let slots: Vec<i64> = keys
        .iter()
        .map(|k| {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(k)
                .query(&mut conn)
                .unwrap()
        })
        .collect();
    assert!(
        slots.windows(2).all(|w| w[0] == w[1]),
        "{keys:?} -> {slots:?}"
    );
}

/// The history lives `history.max_age` past its newest entry whoever wrote it, though claims
/// renew its expiry only now and then (claim.lua `history_until`): a claim sets one a quarter
/// longer than the age, feedback never shortens it, a list feedback creates gets one, and an
/// attach that does not renew it still leaves at least the age. Real time (PTTL is Redis's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_outlives_its_newest_entry_by_its_max_age() {
    let redis = RedisServer::start(false);
    let age = Duration::from_secs(3600);
    let store = RedisClaimStore::connect(&redis.url(), "h")
        .await
        .unwrap()
        .with_history(HistoryPolicy {
            max_entries: 50,
            max_age: age,
        });
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let age_ms = age.as_millis() as i64;
    // PTTL or LLEN of an owner's history.
    let mut ask = |command: &str, owner: &str| -> i64 {
        redis::cmd(command)
            .arg(format!("h:{{{owner}}}:history"))
            .query(&mut conn)
            .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;

    let owner = owner();
    let c = store
        .claim(&req(&owner, "x:1", "billing", Priority::P3, now))
        .await
        .unwrap();
    let first = ask("PTTL", &owner);
    assert!(
        first > age_ms + age_ms / 8,
        "a claim keeps it longer: {first}"
    );
    // Feedback writes an entry with the plain age: the longer expiry stays.
    store
        .feedback(&fb(&owner, "f1", FeedbackKind::Accepted, c.token, now + 1))
        .await
        .unwrap();
    assert!(
        ask("PTTL", &owner) > age_ms + age_ms / 8,
        "{}",
        ask("PTTL", &owner)
    );
    // Event `x:<i>` of this owner at now + i ms.
    let event = |i: i64| req(&owner, &format!("x:{i}"), "billing", Priority::P3, now + i);
    // Attaches within the renewed span write only their entry; the age is still left.
    for i in 2..6 {
        let a = store.claim(&event(i)).await.unwrap();
        assert_eq!(a.outcome, AssignmentOutcome::Attached);
        assert!(
            ask("PTTL", &owner) >= age_ms - 5_000,
            "{}",
            ask("PTTL", &owner)
        );
    }
    assert_eq!(store.history(&owner, now + 10, 100).await.unwrap().len(), 6);
    // The length cap is amortized: the list runs at most an eighth over `max_entries` (50)
    // before it is trimmed; reads still see 50.
    for i in 6..200 {
        store.claim(&event(i)).await.unwrap();
        let len = ask("LLEN", &owner);
        assert!(len <= 56, "{len} entries");
    }
    assert_eq!(
        store.history(&owner, now + 300, 1000).await.unwrap().len(),
        50
    );

    // A history that feedback starts (no owner: refused) expires too.
    let other = self::owner();
    store
        .feedback(&fb(&other, "f2", FeedbackKind::Responded, 1, now))
        .await
        .unwrap();
    let t = ask("PTTL", &other);
    assert!(t > 0 && t <= age_ms, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_script_cache_is_loaded_again() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "t").await.unwrap();
    let c = store
        .claim(&req("customer:S", "x:1", "billing", Priority::P3, T0))
        .await
        .unwrap();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
    // EVALSHA answers NOSCRIPT; the store loads the script again and goes on.
    let r = store
        .feedback(&fb(
            "customer:S",
            "f1",
            FeedbackKind::Bounced,
            c.token,
            T0 + 1,
        ))
        .await
        .unwrap();
    assert_eq!(r.outcome, FeedbackOutcome::Rerouted);
    let again = store
        .claim(&req("customer:S", "x:1", "sales", Priority::P3, T0 + 2))
        .await
        .unwrap();
    assert!(again.replayed);
}

/// A batch after Redis lost its scripts (a restart, SCRIPT FLUSH) loads the script and is
/// applied once; a batch during an outage fails as a whole, as unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_survives_a_flushed_script_cache_and_fails_whole_in_an_outage() {
    let mut redis = RedisServer::start(true);
    let store = RedisClaimStore::connect(&redis.url(), "t").await.unwrap();
    let batch: Vec<_> = (0..20)
        .map(|i| {
            req(
                &format!("customer:F{}", i % 4),
                &format!("x:f{i}"),
                "billing",
                Priority::P3,
                T0 + i,
            )
        })
        .collect();
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).unwrap();
    let got: Vec<_> = store
        .claim_batch(&batch)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let new = got
        .iter()
        .filter(|c| c.outcome == AssignmentOutcome::New)
        .count();
    assert_eq!(new, 4, "one ownership per owner key");
    assert!(got.iter().all(|c| !c.replayed && c.token == 1));

    redis.stop();
    let during = tokio::time::timeout(Duration::from_secs(20), store.claim_batch(&batch))
        .await
        .expect("a batch during the outage hung");
    assert!(during
        .iter()
        .all(|r| matches!(r, Err(ClaimError::Unavailable(_)))));
    redis.restart();
    let mut after = None;
    for _ in 0..50 {
        let r = store.claim_batch(&batch).await;
        if r.iter().all(Result::is_ok) {
            after = Some(r.into_iter().map(Result::unwrap).collect::<Vec<_>>());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = after.expect("usable again after the restart");
    for (g, a) in got.iter().zip(&after) {
        assert!(a.replayed);
        assert_eq!((g.outcome, g.token), (a.outcome, a.token));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_is_an_outage_not_a_loss() {
    let mut redis = RedisServer::start(true);
    let store = RedisClaimStore::connect(&redis.url(), "t").await.unwrap();
    let first = store
        .claim(&req("customer:R", "x:1", "billing", Priority::P3, T0))
        .await
        .unwrap();

    redis.stop();
    // Every call while Redis is down fails as unavailable (the worker retries), and none hangs.
    for attempt in 0..3 {
        let err = tokio::time::timeout(
            Duration::from_secs(20),
            store.claim(&req("customer:R", "x:2", "billing", Priority::P3, T0)),
        )
        .await
        .unwrap_or_else(|_| panic!("call {attempt} during the outage hung"))
        .unwrap_err();
        assert!(matches!(err, ClaimError::Unavailable(_)), "{err:?}");
    }

    redis.restart();
    // The connection manager reconnects; the ownership and the decision survived (AOF).
    let mut attempt = None;
    for _ in 0..50 {
        let again = req("customer:R", "x:1", "sales", Priority::P1, T0 + 10);
        match tokio::time::timeout(Duration::from_secs(20), store.claim(&again))
            .await
            .expect("a call after the restart hung")
        {
            Ok(c) => {
                attempt = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let replay = attempt.expect("store usable again after the restart");
    assert!(replay.replayed);
    assert_eq!(
        (replay.token, replay.department.as_str()),
        (first.token, "billing")
    );
    let attached = store
        .claim(&req("customer:R", "x:2", "sales", Priority::P3, T0 + 20))
        .await
        .unwrap();
    assert_eq!(
        (attached.outcome, attached.token),
        (AssignmentOutcome::Attached, first.token)
    );
}
