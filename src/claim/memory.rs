//! The in-process claim store: the same rules as the Lua script, behind one mutex.

use super::{Claim, ClaimError, ClaimRequest, ClaimStore};
use crate::event::AssignmentOutcome;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug)]
struct Owner {
    department: String,
    token: u64,
    lease_until_ms: i64,
    sla_deadline_ms: i64,
    priority: crate::route::Priority,
}

#[derive(Debug, Default)]
struct State {
    owners: HashMap<String, Owner>,
    fences: HashMap<String, u64>,
    /// event id -> (decision, forget after)
    seen: HashMap<String, (String, i64)>,
}

#[derive(Debug, Default)]
pub struct MemoryClaimStore {
    state: Mutex<State>,
}

impl MemoryClaimStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn claim_now(&self, req: &ClaimRequest) -> Result<Claim, ClaimError> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| ClaimError::Unavailable("memory store poisoned".into()))?;
        let now = req.now_ms;
        let seen_key = format!("{}\u{0}{}", req.owner_key, req.event_id);
        if let Some((record, until)) = st.seen.get(&seen_key) {
            if *until > now {
                return Claim::decode(record, true);
            }
        }
        let lease_ms = req.lease.as_millis() as i64;
        let live = st
            .owners
            .get_mut(&req.owner_key)
            .filter(|o| o.lease_until_ms > now);
        let claim = match live {
            Some(owner) => {
                let bumped = req.priority < owner.priority;
                if bumped {
                    owner.priority = req.priority;
                }
                owner.lease_until_ms = owner.lease_until_ms.max(now + lease_ms);
                Claim {
                    outcome: AssignmentOutcome::Attached,
                    department: owner.department.clone(),
                    token: owner.token,
                    priority: owner.priority,
                    sla_deadline_ms: owner.sla_deadline_ms,
                    lease_until_ms: owner.lease_until_ms,
                    bumped,
                    replayed: false,
                }
            }
            None => {
                let fence = st.fences.entry(req.owner_key.clone()).or_insert(0);
                *fence += 1;
                let owner = Owner {
                    department: req.department.clone(),
                    token: *fence,
                    lease_until_ms: now + lease_ms,
                    sla_deadline_ms: now + req.sla.as_millis() as i64,
                    priority: req.priority,
                };
                let claim = Claim {
                    outcome: AssignmentOutcome::New,
                    department: owner.department.clone(),
                    token: owner.token,
                    priority: owner.priority,
                    sla_deadline_ms: owner.sla_deadline_ms,
                    lease_until_ms: owner.lease_until_ms,
                    bumped: false,
                    replayed: false,
                };
                st.owners.insert(req.owner_key.clone(), owner);
                claim
            }
        };
        let forget_at = now + req.remember.as_millis() as i64;
        st.seen.insert(seen_key, (claim.encode(), forget_at));
        if st.seen.len() > 100_000 {
            st.seen.retain(|_, (_, until)| *until > now);
        }
        Ok(claim)
    }
}

impl ClaimStore for MemoryClaimStore {
    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        Box::pin(async move { self.claim_now(req) })
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
