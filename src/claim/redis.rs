//! The Redis claim store: one Lua script per operation (EVALSHA; on `NOSCRIPT` the script is
//! loaded again by `redis::Script`), over a connection manager that reconnects after a Redis
//! restart, or a Redis Cluster connection that follows slot moves and failovers.
//!
//! Keys of one owner key `K` (all with `{K}` as their hash tag, so one Cluster slot):
//! `P:{K}:owner` (hash), `P:{K}:fence` (token counter, never expires), `P:{K}:event:<id>`,
//! `P:{K}:fb:<id>`, `P:{K}:msg:<id>` (remembered decisions), `P:{K}:history` (list),
//! `P:{K}:proactive` (sorted set of proactive sends). The SLA index is spread over
//! [`SLA_BUCKETS`] sorted sets `P:sla:{<n>}`; scripts can't touch them (another slot), so the
//! store indexes after each script with `ZADD LT` — the index may run early, never late — and
//! the sweeper moves an entry only if it still has the score it read.

use super::{
    Breach, Claim, ClaimError, ClaimRequest, ClaimStore, ClosedIncident, ContactPolicy,
    DetectDecision, DetectRequest, Due, FeedbackRequest, FeedbackResult, HistoryEntry,
    HistoryPolicy, OutboundDecision, OutboundKind, OutboundRequest, SlaCheck,
};
use futures::future::BoxFuture;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, Script, Value};
use serde_json::json;
use std::time::Duration;

const COMMON: &str = include_str!("lua/common.lua");

/// The least a Redis ACL user needs for outcry with key prefix `prefix`: its keys, and the
/// commands outcry and its scripts run (`ACL SETUSER outcry on >PASSWORD <this>`).
/// docs/security.md quotes it; a test runs the whole store contract as such a user.
pub fn acl_rules(prefix: &str) -> String {
    const COMMANDS: &[&str] = &[
        // the client: connection set-up and health (redis-rs also tries CLIENT SETINFO and
        // goes on without it: Redis 7.0 has no such subcommand to grant)
        "auth",
        "hello",
        "ping",
        // outside scripts: scripts, the SLA index, history reads
        "evalsha",
        "script|load",
        "zadd",
        "zrange",
        "lrange",
        // inside the scripts
        "get",
        "set",
        "del",
        "incr",
        "pexpire",
        "hgetall",
        "hset",
        "hdel",
        "lpush",
        "ltrim",
        "lindex",
        "rpop",
        "zscore",
        "zrem",
        "zcard",
        // incident detectors
        "hincrby",
        "hlen",
        "hkeys",
        "hmget",
        "sadd",
        "scard",
        "zremrangebyscore",
    ];
    let mut rule = format!("resetkeys ~{prefix}:* resetchannels -@all");
    for c in COMMANDS {
        rule.push_str(" +");
        rule.push_str(c);
    }
    rule
}

/// How many sorted sets the SLA index is spread over (each in its own Cluster slot).
pub const SLA_BUCKETS: u32 = 16;

fn script(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

#[derive(Clone)]
enum Conn {
    Single(MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

struct Scripts {
    detect: Script,
    detect_batch: Script,
    incident_close: Script,
    claim: Script,
    claim_batch: Script,
    feedback: Script,
    sla: Script,
    sla_done: Script,
    outbound: Script,
    index_cas: Script,
}

/// How the store reaches Redis. One node: a multiplexed connection, dropped at the first
/// connection error and made again by the next call (so an outage is a run of quick
/// `Unavailable` errors, and the first call after Redis is back reconnects). A cluster: the
/// cluster client, which follows slots and reconnects by itself.
enum Backend {
    Single {
        client: Box<redis::Client>,
        live: std::sync::Mutex<Option<MultiplexedConnection>>,
    },
    Cluster(redis::cluster_async::ClusterConnection),
}

pub struct RedisClaimStore {
    backend: Backend,
    scripts: Scripts,
    prefix: String,
    history: HistoryPolicy,
}

impl RedisClaimStore {
    /// Connect as `[redis]` says: one node or a cluster, with the ACL user and password (which
    /// override any in the URL), TLS for `rediss://`, the history policy.
    pub async fn from_config(
        c: &super::RedisConfig,
        history: HistoryPolicy,
    ) -> Result<Self, ClaimError> {
        let mut infos = Vec::new();
        for url in c.url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            let mut info = url
                .into_connection_info()
                .map_err(|e| ClaimError::Unavailable(format!("redis.url: {e}")))?;
            if !c.username.is_empty() {
                info.redis.username = Some(c.username.expose().to_owned());
            }
            if !c.password.is_empty() {
                info.redis.password = Some(c.password.expose().to_owned());
            }
            infos.push(info);
        }
        let certs = tls_certificates(c)?;
        let store = if c.cluster {
            Self::connect_cluster_with(infos, &c.key_prefix, certs).await?
        } else {
            let info = infos
                .pop()
                .ok_or_else(|| ClaimError::Unavailable("redis.url is empty".into()))?;
            Self::connect_with(info, &c.key_prefix, certs).await?
        };
        Ok(store.with_history(history))
    }

    /// Connect to one Redis (failing fast if it is not there at start).
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, ClaimError> {
        let info = url
            .into_connection_info()
            .map_err(|e| ClaimError::Unavailable(e.to_string()))?;
        Self::connect_info(info, prefix).await
    }

    async fn connect_info(info: redis::ConnectionInfo, prefix: &str) -> Result<Self, ClaimError> {
        Self::connect_with(info, prefix, None).await
    }

    async fn connect_with(
        info: redis::ConnectionInfo,
        prefix: &str,
        certs: Option<redis::TlsCertificates>,
    ) -> Result<Self, ClaimError> {
        tls_provider();
        let url = info.addr.to_string();
        let client = match certs {
            Some(certs) => redis::Client::build_with_tls(info, certs),
            None => redis::Client::open(info),
        }
        .map_err(|e| ClaimError::Unavailable(e.to_string()))?;
        let store = Self::with(
            Backend::Single {
                client: Box::new(client),
                live: std::sync::Mutex::new(None),
            },
            prefix,
        );
        // Fail fast when Redis is not there at start.
        store
            .conn()
            .await
            .map_err(|e| ClaimError::Unavailable(format!("{url}: {e}")))?;
        Ok(store)
    }

    /// Connect to a Redis Cluster through any of its nodes.
    pub async fn connect_cluster(nodes: &[String], prefix: &str) -> Result<Self, ClaimError> {
        let infos = nodes
            .iter()
            .map(|n| n.as_str().into_connection_info())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ClaimError::Unavailable(e.to_string()))?;
        Self::connect_cluster_infos(infos, prefix).await
    }

    async fn connect_cluster_infos(
        infos: Vec<redis::ConnectionInfo>,
        prefix: &str,
    ) -> Result<Self, ClaimError> {
        Self::connect_cluster_with(infos, prefix, None).await
    }

    async fn connect_cluster_with(
        infos: Vec<redis::ConnectionInfo>,
        prefix: &str,
        certs: Option<redis::TlsCertificates>,
    ) -> Result<Self, ClaimError> {
        tls_provider();
        let nodes: Vec<String> = infos.iter().map(|i| i.addr.to_string()).collect();
        let mut builder = redis::cluster::ClusterClient::builder(infos.clone());
        if let Some(certs) = certs {
            builder = builder.certs(certs);
        }
        if let Some(first) = infos.first() {
            if let Some(u) = &first.redis.username {
                builder = builder.username(u.clone());
            }
            if let Some(p) = &first.redis.password {
                builder = builder.password(p.clone());
            }
        }
        let client = builder
            .connection_timeout(Duration::from_secs(5))
            .response_timeout(Duration::from_secs(5))
            .retries(5)
            .build()
            .map_err(|e| ClaimError::Unavailable(e.to_string()))?;
        let conn = client
            .get_async_connection()
            .await
            .map_err(|e| ClaimError::Unavailable(format!("{}: {e}", nodes.join(","))))?;
        Ok(Self::with(Backend::Cluster(conn), prefix))
    }

    fn with(backend: Backend, prefix: &str) -> Self {
        RedisClaimStore {
            backend,
            scripts: Scripts {
                detect: script(concat!(
                    include_str!("lua/detect.lua"),
                    include_str!("lua/detect_one.lua")
                )),
                detect_batch: script(concat!(
                    include_str!("lua/detect.lua"),
                    include_str!("lua/detect_batch.lua")
                )),
                incident_close: script(include_str!("lua/incident_close.lua")),
                claim: script(concat!(
                    include_str!("lua/claim.lua"),
                    include_str!("lua/claim_one.lua")
                )),
                claim_batch: script(concat!(
                    include_str!("lua/claim.lua"),
                    include_str!("lua/claim_batch.lua")
                )),
                feedback: script(include_str!("lua/feedback.lua")),
                sla: script(include_str!("lua/sla.lua")),
                sla_done: script(include_str!("lua/sla_done.lua")),
                outbound: script(include_str!("lua/outbound.lua")),
                index_cas: Script::new(include_str!("lua/index_cas.lua")),
            },
            prefix: prefix.to_owned(),
            history: HistoryPolicy::default(),
        }
    }

    /// Keep this much history per owner key (default: 200 entries, 90 days).
    pub fn with_history(mut self, policy: HistoryPolicy) -> Self {
        self.history = policy;
        self
    }

    /// A connection for one call.
    async fn conn(&self) -> Result<Conn, ClaimError> {
        match &self.backend {
            Backend::Cluster(c) => Ok(Conn::Cluster(c.clone())),
            Backend::Single { client, live } => {
                if let Some(c) = live.lock().map_err(|_| poisoned())?.as_ref() {
                    return Ok(Conn::Single(c.clone()));
                }
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Duration::from_secs(5))
                    .set_response_timeout(Duration::from_secs(5));
                let c = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(classify_error)?;
                *live.lock().map_err(|_| poisoned())? = Some(c.clone());
                Ok(Conn::Single(c))
            }
        }
    }

    /// Classify an error; after a connection error, the next call connects again.
    fn failed(&self, e: redis::RedisError) -> ClaimError {
        let e = classify_error(e);
        if let (ClaimError::Unavailable(_), Backend::Single { live, .. }) = (&e, &self.backend) {
            if let Ok(mut l) = live.lock() {
                *l = None;
            }
        }
        e
    }

    /// A key of one owner, with the owner key as its hash tag.
    fn key(&self, owner_key: &str, what: &str) -> String {
        format!("{}:{{{owner_key}}}:{what}", self.prefix)
    }

    /// A key of one detector key (`detector:group`), with it as the hash tag.
    fn detector_key(&self, key: &str, what: &str) -> String {
        format!("{}:{{inc:{key}}}:{what}", self.prefix)
    }

    /// The index of open incidents by expiry (one sorted set: incidents are few).
    fn incidents_index(&self) -> String {
        format!("{}:incidents:{{open}}", self.prefix)
    }

    fn bucket(&self, owner_key: &str) -> String {
        format!(
            "{}:sla:{{{}}}",
            self.prefix,
            fnv1a(owner_key.as_bytes()) % SLA_BUCKETS
        )
    }

    fn history_args(&self) -> (u32, u64) {
        (
            self.history.max_entries.max(1),
            self.history.max_age.as_millis() as u64,
        )
    }

    async fn unindex_incident(&self, incident_id: &str) -> Result<(), ClaimError> {
        let mut conn = self.conn().await?;
        redis::cmd("ZREM")
            .arg(self.incidents_index())
            .arg(incident_id)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.failed(e))
    }

    /// The claim script's invocation for one request: its four keys and its arguments.
    fn claim_invocation<'s>(&'s self, req: &ClaimRequest) -> redis::ScriptInvocation<'s> {
        let mut inv = self.claim_call(&self.scripts.claim);
        self.claim_keys_and_args(&mut inv, req);
        inv
    }

    /// A call of a claim script, with the arguments every claim of it shares (claim.lua).
    fn claim_call<'s>(&self, script: &'s Script) -> redis::ScriptInvocation<'s> {
        let (history_max, history_age_ms) = self.history_args();
        let mut inv = script.prepare_invoke();
        inv.arg(history_max).arg(history_age_ms);
        inv
    }

    /// Add one request's four keys and its arguments (positional, claim.lua's `claim_args`)
    /// to a claim invocation.
    fn claim_keys_and_args(&self, inv: &mut redis::ScriptInvocation<'_>, req: &ClaimRequest) {
        let mut candidates = String::new();
        for (i, c) in req.candidates.iter().enumerate() {
            if i > 0 {
                candidates.push(',');
            }
            candidates.push_str(&c.department);
            candidates.push('/');
            candidates.push_str(&c.queue);
        }
        inv.key(self.key(&req.owner_key, "owner"))
            .key(self.key(&req.owner_key, "fence"))
            .key(self.key(&req.owner_key, &format!("event:{}", req.event_id)))
            .key(self.key(&req.owner_key, "history"))
            .arg(req.now_ms)
            .arg(&req.event_id)
            .arg(candidates)
            .arg(req.escalation.to_string())
            .arg(req.on_breach.to_string())
            .arg(req.priority.rank())
            .arg(req.priority.as_str())
            .arg(req.lease.as_millis() as u64)
            .arg(req.sla.as_millis() as u64)
            .arg(req.resolution.as_millis() as u64)
            .arg(req.remember.as_millis().max(1) as u64);
    }

    /// A batch of requests: on one node `whole` (one script call for all, applied in order);
    /// on a cluster, or for one request, `one` for each (those of one `key` in order, keys
    /// concurrently). An outage fails every request; a request the script refused fails the
    /// whole call's answer, so the batch is sent again one by one to find it (those already
    /// applied answer `replayed`).
    async fn batch<'a, R, K, T, F>(
        &'a self,
        what: &str,
        reqs: &'a [R],
        key: impl Fn(&'a R) -> K,
        whole: impl FnOnce() -> F,
        one: impl Fn(&'a R) -> BoxFuture<'a, Result<T, ClaimError>>,
    ) -> Vec<Result<T, ClaimError>>
    where
        K: std::hash::Hash + Eq,
        F: std::future::Future<Output = Result<Vec<T>, ClaimError>>,
    {
        if matches!(self.backend, Backend::Cluster(_)) || reqs.len() < 2 {
            return by_key(reqs, key, one).await;
        }
        match whole().await {
            Ok(all) => all.into_iter().map(Ok).collect(),
            Err(ClaimError::Unavailable(e)) => reqs
                .iter()
                .map(|_| Err(ClaimError::Unavailable(e.clone())))
                .collect(),
            Err(ClaimError::Protocol(e)) => {
                tracing::warn!(error = %e, events = reqs.len(), "a batch {what} was refused; sending its requests one by one");
                super::one_by_one(reqs, one).await
            }
        }
    }

    /// Add one detection's eight keys and its argument object to a detect invocation.
    fn detect_keys_and_args(&self, inv: &mut redis::ScriptInvocation<'_>, req: &DetectRequest) {
        use crate::incident::Threshold;
        let (kind, n, multiple, baseline_ms, min_events) = match req.threshold {
            Threshold::Events(n) => ("events", n, 0.0, 0, 0),
            Threshold::Authors(n) => ("authors", n, 0.0, 0, 0),
            Threshold::RateMultiple {
                multiple,
                baseline,
                min_events,
            } => (
                "rate",
                0,
                multiple,
                baseline.0.as_millis() as u64,
                min_events,
            ),
        };
        let args = json!({
            "now": req.now_ms,
            "detector": req.detector,
            "group": req.group,
            "event_id": req.event_id,
            "author": req.author,
            "window_ms": req.window.as_millis().max(1) as u64,
            "kind": kind,
            "n": n,
            "multiple": multiple,
            "baseline_ms": baseline_ms,
            "min_events": min_events,
            "cooldown_ms": req.cooldown.as_millis() as u64,
            "expire_ms": req.expire_after.as_millis() as u64,
            "remember_ms": req.remember.as_millis().max(1) as u64,
        });
        let key = req.key();
        for what in ["events", "authors"] {
            inv.key(self.detector_key(&key, what));
        }
        inv.key(self.detector_key(&key, &format!("event:{}", req.event_id)));
        for what in ["buckets", "incident", "cooldown", "seq", "linked"] {
            inv.key(self.detector_key(&key, what));
        }
        inv.arg(args.to_string());
    }

    /// A batch of detections on one node: one call of `detect_batch.lua`, then the incident
    /// index.
    async fn detect_pipelined(
        &self,
        reqs: &[DetectRequest],
    ) -> Result<Vec<DetectDecision>, ClaimError> {
        let mut batch = self.scripts.detect_batch.prepare_invoke();
        for r in reqs {
            self.detect_keys_and_args(&mut batch, r);
        }
        let mut conn = self.conn().await?;
        let answers: Vec<(i64, String)> = self
            .invoke_batch(&batch, &mut conn, reqs.len(), "detections")
            .await?;
        let found = answers
            .iter()
            .map(|(replayed, record)| from_wire(record, *replayed == 1))
            .collect::<Result<Vec<DetectDecision>, _>>()?;
        self.index_incidents(&found).await?;
        Ok(found)
    }

    /// Index the expiry of each open incident the decisions name (again on a replay: a crash
    /// between the script and here must not leave an incident that never expires), in one
    /// pipeline, and take out those they closed.
    async fn index_incidents(&self, found: &[DetectDecision]) -> Result<(), ClaimError> {
        let mut index = redis::pipe();
        let mut writes = 0;
        for d in found {
            if let (Some(id), Some(at)) = (&d.incident_id, d.expires_at_ms) {
                index
                    .cmd("ZADD")
                    .arg(self.incidents_index())
                    .arg(at)
                    .arg(id)
                    .ignore();
                writes += 1;
            }
        }
        if writes > 0 {
            let mut conn = self.conn().await?;
            index
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
        }
        for c in found.iter().filter_map(|d| d.closed.as_ref()) {
            self.unindex_incident(&c.incident_id).await?;
        }
        Ok(())
    }

    /// A batch on one node: one call of `claim_batch.lua` (the claim of every request, in
    /// order), then one pipeline of `ZADD LT` for the deadlines to index. An attach that is not a replay changes no deadline (the owner's were indexed
    /// when it opened, and feedback and the sweep keep them), so it writes no index entry.
    async fn claim_pipelined(&self, reqs: &[ClaimRequest]) -> Result<Vec<Claim>, ClaimError> {
        if let Some(r) = reqs.iter().find(|r| r.candidates.is_empty()) {
            return Err(ClaimError::Protocol(format!(
                "a claim needs a candidate ({})",
                r.event_id
            )));
        }
        let mut batch = self.claim_call(&self.scripts.claim_batch);
        for r in reqs {
            self.claim_keys_and_args(&mut batch, r);
        }
        let mut conn = self.conn().await?;
        let answers: Vec<(i64, String, String)> = self
            .invoke_batch(&batch, &mut conn, reqs.len(), "claims")
            .await?;
        let mut claims = Vec::with_capacity(reqs.len());
        let mut index = redis::pipe();
        let mut writes = 0;
        for (req, (replayed, record, due)) in reqs.iter().zip(answers) {
            let (claim, due) = claim_answer(&record, replayed, &due)?;
            if due > 0
                && (claim.replayed || claim.outcome != crate::event::AssignmentOutcome::Attached)
            {
                index
                    .cmd("ZADD")
                    .arg(self.bucket(&req.owner_key))
                    .arg("LT")
                    .arg(due)
                    .arg(&req.owner_key)
                    .ignore();
                writes += 1;
            }
            claims.push(claim);
        }
        if writes > 0 {
            index
                .query_async::<()>(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
        }
        Ok(claims)
    }

    /// Call a batch script of `n` requests and check it answered each (`what`: the requests,
    /// for the error). `invoke_async` loads the script again when Redis lost it (a restart,
    /// `SCRIPT FLUSH`).
    async fn invoke_batch<T: redis::FromRedisValue>(
        &self,
        inv: &redis::ScriptInvocation<'_>,
        conn: &mut (impl ConnectionLike + Send),
        n: usize,
        what: &str,
    ) -> Result<Vec<T>, ClaimError> {
        let answers: Vec<T> = inv.invoke_async(conn).await.map_err(|e| self.failed(e))?;
        if answers.len() != n {
            return Err(ClaimError::Protocol(format!(
                "{} answers to {n} {what}",
                answers.len()
            )));
        }
        Ok(answers)
    }

    /// Index a deadline; `ZADD LT` keeps the earliest, so the index never runs late.
    async fn index(&self, owner_key: &str, due_ms: i64) -> Result<(), ClaimError> {
        if due_ms <= 0 {
            return Ok(());
        }
        let mut conn = self.conn().await?;
        redis::cmd("ZADD")
            .arg(self.bucket(owner_key))
            .arg("LT")
            .arg(due_ms)
            .arg(owner_key)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Move `due` in the index to `to_ms` (0: remove), if nobody indexed it earlier since.
    async fn reindex(&self, due: &Due, to_ms: i64) -> Result<(), ClaimError> {
        let mut conn = self.conn().await?;
        self.scripts
            .index_cas
            .key(self.bucket(&due.owner_key))
            .arg(&due.owner_key)
            .arg(due.at_ms)
            .arg(to_ms.max(0))
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(())
    }
}

/// Run `op` for each request: those of one key one after the other, in order; keys
/// concurrently (on a cluster each runs in its own key's slot). Results in request order.
async fn by_key<'a, R, K, T>(
    reqs: &'a [R],
    key: impl Fn(&'a R) -> K,
    op: impl Fn(&'a R) -> BoxFuture<'a, Result<T, ClaimError>>,
) -> Vec<Result<T, ClaimError>>
where
    K: std::hash::Hash + Eq,
{
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_key: std::collections::HashMap<K, usize> = Default::default();
    for (i, r) in reqs.iter().enumerate() {
        let g = *by_key.entry(key(r)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let op = &op;
    let done = futures::future::join_all(groups.into_iter().map(|g| async move {
        let mut out = Vec::with_capacity(g.len());
        for i in g {
            out.push((i, op(&reqs[i]).await));
        }
        out
    }))
    .await;
    let mut results: Vec<Option<Result<T, ClaimError>>> = (0..reqs.len()).map(|_| None).collect();
    for (i, r) in done.into_iter().flatten() {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(ClaimError::Protocol("no answer".into()))))
        .collect()
}

/// The CA and client certificate `[redis]` holds.
fn tls_certificates(c: &super::RedisConfig) -> Result<Option<redis::TlsCertificates>, ClaimError> {
    if c.tls_ca.is_empty() && c.tls_cert.is_empty() {
        return Ok(None);
    }
    Ok(Some(redis::TlsCertificates {
        client_tls: (!c.tls_cert.is_empty()).then(|| redis::ClientTlsConfig {
            client_cert: c.tls_cert.as_bytes().to_vec(),
            client_key: c.tls_key.expose().as_bytes().to_vec(),
        }),
        root_cert: (!c.tls_ca.is_empty()).then(|| c.tls_ca.as_bytes().to_vec()),
    }))
}

fn poisoned() -> ClaimError {
    ClaimError::Unavailable("redis connection slot poisoned".into())
}

/// rustls (for `rediss://`) needs the process's crypto provider chosen once: ring.
fn tls_provider() {
    // An error means one is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// FNV-1a: a stable spread of owner keys over the index buckets.
fn fnv1a(b: &[u8]) -> u32 {
    b.iter().fold(0x811c_9dc5u32, |h, &x| {
        (h ^ u32::from(x)).wrapping_mul(0x0100_0193)
    })
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
            K::BusyLoadingError | K::TryAgain | K::MasterDown | K::ReadOnly | K::ClusterDown
        )
        || matches!(e.code(), Some("OOM" | "BUSY" | "NOREPLICAS" | "LOADING"));
    if transient {
        ClaimError::Unavailable(e.to_string())
    } else {
        ClaimError::Protocol(e.to_string())
    }
}

/// Parse a script's JSON answer; `trail` comes as the stored text and becomes a list.
fn from_wire<T: serde::de::DeserializeOwned>(text: &str, replayed: bool) -> Result<T, ClaimError> {
    let bad = |e: String| ClaimError::Protocol(format!("unexpected script answer {text:?}: {e}"));
    let mut v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    if let Some(obj) = v.as_object_mut() {
        if let Some(serde_json::Value::String(t)) = obj.get("trail") {
            let steps = super::decode_trail(t);
            obj.insert(
                "trail".into(),
                serde_json::to_value(steps).map_err(|e| bad(e.to_string()))?,
            );
        }
        if replayed {
            obj.insert("replayed".into(), true.into());
        }
    }
    serde_json::from_value(v).map_err(|e| bad(e.to_string()))
}

/// The claim script's answer: the decision, and the deadline to index (the owner's next one,
/// or the decision's first-response deadline when the script reports none).
fn claim_answer(record: &str, replayed: i64, due: &str) -> Result<(Claim, i64), ClaimError> {
    // Straight into the struct: a claim has no trail to decode (see `from_wire`).
    let mut claim: Claim = serde_json::from_str(record)
        .map_err(|e| ClaimError::Protocol(format!("unexpected script answer {record:?}: {e}")))?;
    claim.replayed |= replayed == 1;
    let due = parse_i64(due)?;
    let due = if due > 0 { due } else { claim.sla_deadline_ms };
    Ok((claim, due))
}

fn parse_i64(s: &str) -> Result<i64, ClaimError> {
    s.parse()
        .map_err(|_| ClaimError::Protocol(format!("expected a number from a script, got {s:?}")))
}

impl ClaimStore for RedisClaimStore {
    fn claim<'a>(&'a self, req: &'a ClaimRequest) -> BoxFuture<'a, Result<Claim, ClaimError>> {
        Box::pin(async move {
            if req.candidates.is_empty() {
                return Err(ClaimError::Protocol("a claim needs a candidate".into()));
            }
            let mut conn = self.conn().await?;
            let (replayed, record, due): (i64, String, String) = self
                .claim_invocation(req)
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            let (claim, due) = claim_answer(&record, replayed, &due)?;
            // Also on a replay: a crash between the script and the index must not lose a
            // deadline (the redelivered event comes back here).
            self.index(&req.owner_key, due).await?;
            Ok(claim)
        })
    }

    /// One node: the whole batch in one pipeline of script calls (Redis runs them in order),
    /// then one pipeline of the SLA-index writes it needs. A cluster: the requests of each
    /// owner key in order, owner keys concurrently (each script runs in its key's slot).
    fn claim_batch<'a>(
        &'a self,
        reqs: &'a [ClaimRequest],
    ) -> BoxFuture<'a, Vec<Result<Claim, ClaimError>>> {
        Box::pin(self.batch(
            "claim",
            reqs,
            |r| r.owner_key.as_str(),
            || self.claim_pipelined(reqs),
            |r| self.claim(r),
        ))
    }

    fn feedback<'a>(
        &'a self,
        req: &'a FeedbackRequest,
    ) -> BoxFuture<'a, Result<FeedbackResult, ClaimError>> {
        Box::pin(async move {
            let (history_max, history_age_ms) = self.history_args();
            let args = json!({
                "now": req.now_ms,
                "feedback_id": req.feedback_id,
                "kind": req.kind.as_str(),
                "token": req.token,
                "note": super::note(&req.note),
                "remember_ms": req.remember.as_millis().max(1) as u64,
                "bounce_limit": req.bounce_limit.max(1),
                "lease_ms": req.lease.as_millis() as u64,
                "history_max": history_max,
                "history_age_ms": history_age_ms,
            });
            let mut conn = self.conn().await?;
            let (replayed, record, due): (i64, String, String) = self
                .scripts
                .feedback
                .key(self.key(&req.owner_key, "owner"))
                .key(self.key(&req.owner_key, "fence"))
                .key(self.key(&req.owner_key, &format!("fb:{}", req.feedback_id)))
                .key(self.key(&req.owner_key, "history"))
                .arg(args.to_string())
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            let result: FeedbackResult = from_wire(&record, replayed == 1)?;
            let due = parse_i64(&due)?;
            let due = if due < 0 && result.sla_deadline_ms > 0 {
                result.sla_deadline_ms
            } else {
                due
            };
            self.index(&req.owner_key, due).await?;
            Ok(result)
        })
    }

    fn due<'a>(&'a self, now_ms: i64, limit: usize) -> BoxFuture<'a, Result<Vec<Due>, ClaimError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut conn = self.conn().await?;
            for b in 0..SLA_BUCKETS {
                if out.len() >= limit {
                    break;
                }
                let key = format!("{}:sla:{{{b}}}", self.prefix);
                let items: Vec<(String, f64)> = redis::cmd("ZRANGE")
                    .arg(&key)
                    .arg("-inf")
                    .arg(now_ms)
                    .arg("BYSCORE")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit - out.len())
                    .arg("WITHSCORES")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.failed(e))?;
                out.extend(items.into_iter().map(|(owner_key, at)| Due {
                    owner_key,
                    at_ms: at as i64,
                }));
            }
            Ok(out)
        })
    }

    fn take_breach<'a>(
        &'a self,
        due: &'a Due,
        now_ms: i64,
        retake: Duration,
    ) -> BoxFuture<'a, Result<SlaCheck, ClaimError>> {
        Box::pin(async move {
            let (history_max, history_age_ms) = self.history_args();
            let args = json!({
                "now": now_ms,
                "owner_key": due.owner_key,
                "retake_ms": retake.as_millis() as u64,
                "history_max": history_max,
                "history_age_ms": history_age_ms,
            });
            let mut conn = self.conn().await?;
            let (status, record, next): (String, String, String) = self
                .scripts
                .sla
                .key(self.key(&due.owner_key, "owner"))
                .key(self.key(&due.owner_key, "fence"))
                .key(self.key(&due.owner_key, "history"))
                .arg(args.to_string())
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            match status.as_str() {
                "none" => {
                    self.reindex(due, 0).await?;
                    Ok(SlaCheck::NotDue)
                }
                "later" => {
                    self.reindex(due, parse_i64(&next)?).await?;
                    Ok(SlaCheck::NotDue)
                }
                "taken" => Ok(SlaCheck::Taken),
                "breach" => Ok(SlaCheck::Breach(Box::new(from_wire(&record, false)?))),
                other => Err(ClaimError::Protocol(format!(
                    "unexpected sla status {other:?}"
                ))),
            }
        })
    }

    fn breach_done<'a>(
        &'a self,
        due: &'a Due,
        breach: &'a Breach,
    ) -> BoxFuture<'a, Result<(), ClaimError>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let next: String = self
                .scripts
                .sla_done
                .key(self.key(&due.owner_key, "owner"))
                .arg(json!({ "token": breach.token }).to_string())
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            self.reindex(due, parse_i64(&next)?).await
        })
    }

    fn outbound<'a>(
        &'a self,
        req: &'a OutboundRequest,
        policy: &'a ContactPolicy,
    ) -> BoxFuture<'a, Result<OutboundDecision, ClaimError>> {
        Box::pin(async move {
            let (history_max, history_age_ms) = self.history_args();
            let args = json!({
                "now": req.now_ms,
                "message_id": req.message_id,
                "kind": match req.kind { OutboundKind::Reply => "reply", OutboundKind::Proactive => "proactive" },
                "token": req.token.map_or(-1, |t| t as i64),
                "sender": super::note(&req.sender),
                "do_not_contact": req.do_not_contact,
                "max_proactive": policy.max_proactive,
                "window_ms": policy.window.as_millis().max(1) as u64,
                "remember_ms": policy.remember.as_millis().max(1) as u64,
                "history_max": history_max,
                "history_age_ms": history_age_ms,
            });
            let mut conn = self.conn().await?;
            let (replayed, record): (i64, String) = self
                .scripts
                .outbound
                .key(self.key(&req.owner_key, "owner"))
                .key(self.key(&req.owner_key, "proactive"))
                .key(self.key(&req.owner_key, &format!("msg:{}", req.message_id)))
                .key(self.key(&req.owner_key, "history"))
                .arg(args.to_string())
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            from_wire(&record, replayed == 1)
        })
    }

    fn history<'a>(
        &'a self,
        owner_key: &'a str,
        now_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<HistoryEntry>, ClaimError>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            // The list may run up to an eighth over `max_entries` between trims (common.lua).
            let limit = limit.min(self.history.max_entries as usize).max(1);
            let lines: Vec<String> = redis::cmd("LRANGE")
                .arg(self.key(owner_key, "history"))
                .arg(0)
                .arg(limit as i64 - 1)
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            let oldest = now_ms - self.history.max_age.as_millis() as i64;
            let mut out = Vec::with_capacity(lines.len());
            for line in lines {
                let Some((at, entry)) = line.split_once('|') else {
                    continue;
                };
                if parse_i64(at)? < oldest {
                    break;
                }
                out.push(from_wire(entry, false)?);
            }
            Ok(out)
        })
    }

    fn detect<'a>(
        &'a self,
        req: &'a DetectRequest,
    ) -> BoxFuture<'a, Result<DetectDecision, ClaimError>> {
        Box::pin(async move {
            let mut inv = self.scripts.detect.prepare_invoke();
            self.detect_keys_and_args(&mut inv, req);
            let mut conn = self.conn().await?;
            let (replayed, record): (i64, String) = inv
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            let d: DetectDecision = from_wire(&record, replayed == 1)?;
            self.index_incidents(std::slice::from_ref(&d)).await?;
            Ok(d)
        })
    }

    /// One node: the whole batch in one call of `detect_batch.lua` (Redis applies it in
    /// order), then one pipeline for the incident index. A cluster: the requests of each
    /// detector key in order, keys concurrently.
    fn detect_batch<'a>(
        &'a self,
        reqs: &'a [DetectRequest],
    ) -> BoxFuture<'a, Vec<Result<DetectDecision, ClaimError>>> {
        Box::pin(self.batch(
            "detection",
            reqs,
            DetectRequest::key,
            || self.detect_pipelined(reqs),
            |r| self.detect(r),
        ))
    }

    fn close_incident<'a>(
        &'a self,
        incident_id: &'a str,
        now_ms: i64,
        reason: &'a str,
    ) -> BoxFuture<'a, Result<Option<ClosedIncident>, ClaimError>> {
        Box::pin(async move {
            let Some(key) = crate::incident::detector_key_of(incident_id) else {
                return Ok(None);
            };
            let mut conn = self.conn().await?;
            let args = json!({
                "incident_id": incident_id,
                "now": now_ms,
                "reason": reason,
                "only_if_expired": reason == "expired",
            });
            let record: String = self
                .scripts
                .incident_close
                .key(self.detector_key(key, "incident"))
                .key(self.detector_key(key, "cooldown"))
                .key(self.detector_key(key, "linked"))
                .arg(args.to_string())
                .invoke_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))?;
            match record.as_str() {
                "-" => return Ok(None),
                // Not open any more: its index entry is stale.
                "" => {
                    self.unindex_incident(incident_id).await?;
                    return Ok(None);
                }
                _ => {}
            }
            self.unindex_incident(incident_id).await?;
            Ok(Some(from_wire(&record, false)?))
        })
    }

    fn incidents_due<'a>(
        &'a self,
        now_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<String>, ClaimError>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            redis::cmd("ZRANGE")
                .arg(self.incidents_index())
                .arg("-inf")
                .arg(now_ms)
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(limit.max(1))
                .query_async(&mut conn)
                .await
                .map_err(|e| self.failed(e))
        })
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

#[cfg(test)]
mod tests {
    /// docs/security.md quotes the ACL line; the ops check creates the user from the doc, so a
    /// command added to a script must reach the doc too.
    #[test]
    fn the_documented_acl_is_the_one_outcry_needs() {
        let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/security.md"))
            .expect("docs/security.md");
        let line = format!(
            "ACL SETUSER outcry on >PASSWORD {}",
            super::acl_rules("outcry")
        );
        assert!(
            doc.lines().any(|l| l.trim() == line),
            "docs/security.md must hold exactly:\n{line}"
        );
    }
}
