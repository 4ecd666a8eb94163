//! claim: ownership of a customer, held in a [`ClaimStore`]. One atomic step per event decides
//! whether it opens a new ownership, attaches to the current owner, or (for an event id already
//! decided) repeats the earlier decision.
//!
//! Backends: [`RedisClaimStore`] (one Lua script, `claim/lua/claim.lua`) and
//! [`MemoryClaimStore`] (the demo's in-process store). The same test body runs against both.

mod memory;
mod redis;

pub use self::memory::MemoryClaimStore;
pub use self::redis::RedisClaimStore;

use crate::event::AssignmentOutcome;
use crate::route::Priority;
use futures::future::BoxFuture;
use std::time::Duration;

/// A monotonic token per owner key; a later owner always has a larger one. Helpdesk tools quote
/// it back so a stale owner's action can be refused.
pub type FencingToken = u64;

/// What the claim stage is asked to do for one routed event.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimRequest {
    pub owner_key: String,
    pub event_id: String,
    pub department: String,
    pub priority: Priority,
    /// The worker's clock, in Unix milliseconds.
    pub now_ms: i64,
    pub lease: Duration,
    pub sla: Duration,
    /// How long the decision for `event_id` is remembered.
    pub remember: Duration,
}

/// What the store decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub outcome: AssignmentOutcome,
    /// The owning department (for an attach, the current owner's, not the routed one).
    pub department: String,
    pub token: FencingToken,
    pub priority: Priority,
    pub sla_deadline_ms: i64,
    pub lease_until_ms: i64,
    pub bumped: bool,
    /// The event id had already been decided: this is that decision again.
    pub replayed: bool,
}

impl Claim {
    /// The compact form both backends remember per event id.
    fn encode(&self) -> String {
        format!(
            "{}|{}|{}|{}|{}|{}|{}",
            self.outcome.as_str(),
            self.department,
            self.token,
            self.priority.as_str(),
            self.sla_deadline_ms,
            self.lease_until_ms,
            u8::from(self.bumped)
        )
    }

    fn decode(s: &str, replayed: bool) -> Result<Claim, ClaimError> {
        let bad = || ClaimError::Protocol(format!("unexpected claim record {s:?}"));
        let f: Vec<&str> = s.split('|').collect();
        let [outcome, department, token, priority, sla, lease, bumped] = f.as_slice() else {
            return Err(bad());
        };
        Ok(Claim {
            outcome: match *outcome {
                "new" => AssignmentOutcome::New,
                "attached" => AssignmentOutcome::Attached,
                _ => return Err(bad()),
            },
            department: (*department).to_owned(),
            token: token.parse().map_err(|_| bad())?,
            priority: Priority::parse(priority).ok_or_else(bad)?,
            sla_deadline_ms: sla.parse().map_err(|_| bad())?,
            lease_until_ms: lease.parse().map_err(|_| bad())?,
            bumped: *bumped == "1",
            replayed,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    #[error("claim store unavailable: {0}")]
    Unavailable(String),
    #[error("claim store protocol error: {0}")]
    Protocol(String),
}

/// Where ownership lives. Implementations must make [`ClaimStore::claim`] atomic per owner key
/// and idempotent per event id.
pub trait ClaimStore: Send + Sync {
    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, ClaimError>>;

    /// A short name for logs and the demo summary.
    fn name(&self) -> &'static str;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let c = Claim {
            outcome: AssignmentOutcome::Attached,
            department: "billing".into(),
            token: 42,
            priority: Priority::P2,
            sla_deadline_ms: 1_000,
            lease_until_ms: 2_000,
            bumped: true,
            replayed: false,
        };
        assert_eq!(Claim::decode(&c.encode(), false).unwrap(), c);
        assert!(Claim::decode("new|x|notanumber|p1|1|2|0", false).is_err());
        assert!(Claim::decode("new|x", false).is_err());
    }
}
