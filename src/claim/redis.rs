//! The Redis claim store: one Lua script per event (EVALSHA, loaded again on NOSCRIPT), over a
//! connection manager that reconnects after a Redis restart.

use super::{Claim, ClaimError, ClaimRequest, ClaimStore};
use futures::future::BoxFuture;
use redis::aio::ConnectionManager;
use redis::Script;

const CLAIM_LUA: &str = include_str!("lua/claim.lua");

pub struct RedisClaimStore {
    conn: ConnectionManager,
    script: Script,
    prefix: String,
}

impl RedisClaimStore {
    /// Connect (failing fast if Redis is not there at start).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClaimError> {
        let client =
            redis::Client::open(url).map_err(|e| ClaimError::Unavailable(e.to_string()))?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_number_of_retries(3)
            .set_connection_timeout(std::time::Duration::from_secs(5))
            .set_response_timeout(std::time::Duration::from_secs(5));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| ClaimError::Unavailable(format!("{url}: {e}")))?;
        Ok(RedisClaimStore {
            conn,
            script: Script::new(CLAIM_LUA),
            prefix: prefix.to_owned(),
        })
    }

    /// The keys of one owner, all with the owner key as their hash tag.
    fn keys(&self, req: &ClaimRequest) -> [String; 3] {
        let tag = format!("{}:{{{}}}", self.prefix, req.owner_key);
        [
            format!("{tag}:owner"),
            format!("{tag}:fence"),
            format!("{tag}:event:{}", req.event_id),
        ]
    }
}

/// Errors that a later attempt can get past — the connection, a Redis still loading its data, a
/// failover in progress, a full memory — are `Unavailable` and retried; the rest (a script
/// error, a wrong type under our key) are `Protocol` and will not go away by retrying.
fn classify_error(e: redis::RedisError) -> ClaimError {
    use redis::ErrorKind as K;
    let transient = e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_cluster_error()
        || matches!(
            e.kind(),
            K::BusyLoadingError | K::TryAgain | K::MasterDown | K::ReadOnly
        )
        || matches!(e.code(), Some("OOM" | "BUSY" | "NOREPLICAS" | "LOADING"));
    if transient {
        ClaimError::Unavailable(e.to_string())
    } else {
        ClaimError::Protocol(e.to_string())
    }
}

impl ClaimStore for RedisClaimStore {
    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        Box::pin(async move {
            let [owner, fence, event] = self.keys(req);
            let mut conn = self.conn.clone();
            let (replayed, record): (i64, String) = self
                .script
                .key(owner)
                .key(fence)
                .key(event)
                .arg(req.now_ms)
                .arg(&req.department)
                .arg(req.priority.rank())
                .arg(req.priority.as_str())
                .arg(req.lease.as_millis() as u64)
                .arg(req.sla.as_millis() as u64)
                .arg(req.remember.as_millis() as u64)
                .arg(&req.event_id)
                .invoke_async(&mut conn)
                .await
                .map_err(classify_error)?;
            Claim::decode(&record, replayed == 1)
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
