//! http: `/metrics` (Prometheus text), `/healthz` (the process is alive), `/readyz` (the
//! identity index is loaded and the worker is consuming), and the API for helpdesk and
//! marketing tools:
//!
//! - `POST /v1/outbound`: the outbound gate. A reply is allowed only with the current owner's
//!   fencing token; a proactive message only when no care case is open, under the contact
//!   frequency limit (`[outbound]`) and to a customer who has not asked not to be contacted
//!   (`do_not_contact`, read from the identity index). 200 with the decision when allowed, 409
//!   with the decision when refused; every answer is counted in
//!   `outcry_outbound_decisions_total` once (a replayed message id is not counted again) and
//!   recorded in the customer's history by the claim store.
//! - `GET /v1/owners/{owner_key}/history?limit=N`: the owner key's history, newest first.
//!
//! docs/openapi.yaml describes the API and docs/http.md how a tool uses it; tests/http_api.rs
//! holds the server to the document.
//!
//! It owns the `[http]` section of the configuration ([`HttpConfig`]: where it listens).

use crate::claim::{
    ClaimError, ClaimStore, ContactPolicy, FencingToken, HistoryEntry, OutboundDecision,
    OutboundKind, OutboundRequest,
};
use crate::identity::IdentityIndex;
use crate::telemetry::{Metrics, Status};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// The `[http]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address of `/metrics`, `/healthz`, `/readyz`; empty to disable.
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:9464".into(),
        }
    }
}

impl HttpConfig {
    pub fn validate(&self, p: &mut Vec<String>) {
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            p.push(format!(
                "http.listen {:?} is not an address like 0.0.0.0:9464",
                self.listen
            ));
        }
    }
}

/// Larger request bodies are refused with 413 before they are read further.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// History entries returned when the request names no `limit`.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;
/// The largest `limit` a history request may ask for.
pub const MAX_HISTORY_LIMIT: usize = 500;
/// How long a request waits for the claim store before answering 503.
pub const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest owner key, message id or sender accepted, in characters.
const MAX_ID_LEN: usize = 256;

/// The wall clock in Unix milliseconds (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What the HTTP server needs: the worker's metrics, status, claim store and identity index,
/// and the outbound gate's contact policy (`[outbound]`, `claim.remember_events`:
/// `Config::contact_policy`).
#[derive(Clone)]
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub store: Arc<dyn ClaimStore>,
    pub index: Arc<RwLock<IdentityIndex>>,
    pub contact_policy: ContactPolicy,
    pub clock: Clock,
    /// A claim store that has not answered in this long gets a 503 (default 5 s).
    pub store_timeout: Duration,
}

impl HttpState {
    pub fn new(
        metrics: Arc<Metrics>,
        status: Arc<Status>,
        store: Arc<dyn ClaimStore>,
        index: Arc<RwLock<IdentityIndex>>,
        contact_policy: ContactPolicy,
    ) -> Self {
        HttpState {
            metrics,
            status,
            store,
            index,
            contact_policy,
            clock: Arc::new(crate::normalize::time::now_ms),
            store_timeout: DEFAULT_STORE_TIMEOUT,
        }
    }

    /// Answer 503 when the claim store takes longer than `timeout`.
    pub fn with_store_timeout(mut self, timeout: Duration) -> Self {
        self.store_timeout = timeout;
        self
    }

    /// Read the time from `clock` instead of the wall clock.
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The contact policy of the gate: `[outbound]`, and answers remembered as long as
    /// claim decisions (`claim.remember_events`).
    pub fn policy(&self) -> ContactPolicy {
        self.contact_policy.clone()
    }
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready_handler))
        .route("/v1/outbound", post(outbound_handler))
        .route("/v1/owners/{owner_key}/history", get(history_handler))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn metrics_handler(State(s): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn ready_handler(State(s): State<HttpState>) -> impl IntoResponse {
    if s.status.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// An RFC 9457 problem document (`application/problem+json`).
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Every problem found in the request, for a 400.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

fn problem(status: StatusCode, detail: impl Into<String>, problems: Vec<String>) -> Response {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("error"),
        status: status.as_u16(),
        detail: detail.into(),
        problems,
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response()
}

fn invalid(problems: Vec<String>) -> Response {
    problem(
        StatusCode::BAD_REQUEST,
        format!("the request has {} problem(s)", problems.len()),
        problems,
    )
}

fn store_failed(e: &ClaimError, what: &str) -> Response {
    match e {
        ClaimError::Unavailable(_) => {
            tracing::warn!(error = %e, "{what}: claim store unavailable");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the claim store is unavailable; retry later",
                Vec::new(),
            )
        }
        ClaimError::Protocol(_) => {
            tracing::error!(error = %e, "{what}: claim store failed");
            problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the claim store gave an answer outcry does not understand",
                Vec::new(),
            )
        }
    }
}

/// A claim store call, bounded by the store timeout (a late answer is `Unavailable`).
async fn bounded<T>(
    s: &HttpState,
    call: impl std::future::Future<Output = Result<T, ClaimError>>,
) -> Result<T, ClaimError> {
    tokio::time::timeout(s.store_timeout, call)
        .await
        .unwrap_or_else(|_| {
            Err(ClaimError::Unavailable(format!(
                "no answer within {:?}",
                s.store_timeout
            )))
        })
}

/// What is wrong with an owner key, if anything: it must be `customer:<id>` or
/// `author:<platform>:<id>`.
pub fn owner_key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        return Some("owner_key is empty".into());
    }
    if key.chars().count() > MAX_ID_LEN {
        return Some(format!("owner_key is longer than {MAX_ID_LEN} characters"));
    }
    if key.chars().any(char::is_control) {
        return Some("owner_key contains control characters".into());
    }
    let well_formed = match key.split_once(':') {
        Some(("customer", id)) => !id.is_empty(),
        Some(("author", rest)) => {
            matches!(rest.split_once(':'), Some((p, id)) if !p.is_empty() && !id.is_empty())
        }
        _ => false,
    };
    (!well_formed)
        .then(|| format!("owner_key {key:?} is not customer:<id> or author:<platform>:<id>"))
}

/// A string field: required, not blank, bounded, one line.
fn text_field(o: &Map<String, Value>, name: &str, problems: &mut Vec<String>) -> String {
    match o.get(name) {
        None | Some(Value::Null) => problems.push(format!("{name} is missing")),
        Some(Value::String(s)) if s.trim().is_empty() => problems.push(format!("{name} is empty")),
        Some(Value::String(s)) if s.chars().count() > MAX_ID_LEN => {
            problems.push(format!("{name} is longer than {MAX_ID_LEN} characters"))
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            problems.push(format!("{name} contains control characters"))
        }
        Some(Value::String(s)) => return s.clone(),
        Some(_) => problems.push(format!("{name} must be a string")),
    }
    String::new()
}

/// Read an outbound request, listing every problem found. Fields other than the documented
/// ones are ignored (never logged, never stored).
pub fn parse_outbound(body: &[u8]) -> Result<OutboundRequest, Vec<String>> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| vec![format!("the body is not valid JSON: {e}")])?;
    let Value::Object(o) = value else {
        return Err(vec!["the body must be a JSON object".into()]);
    };
    let mut problems = Vec::new();
    let owner_key = match o.get("owner_key") {
        Some(Value::String(k)) => {
            if let Some(p) = owner_key_problem(k) {
                problems.push(p);
            }
            k.clone()
        }
        None | Some(Value::Null) => {
            problems.push("owner_key is missing".into());
            String::new()
        }
        Some(_) => {
            problems.push("owner_key must be a string".into());
            String::new()
        }
    };
    let message_id = text_field(&o, "message_id", &mut problems);
    let kind = match o.get("kind") {
        Some(Value::String(k)) if k == "reply" => Some(OutboundKind::Reply),
        Some(Value::String(k)) if k == "proactive" => Some(OutboundKind::Proactive),
        None | Some(Value::Null) => {
            problems.push("kind is missing".into());
            None
        }
        Some(_) => {
            problems.push("kind must be \"reply\" or \"proactive\"".into());
            None
        }
    };
    let token: Option<FencingToken> = match o.get("fencing_token") {
        None | Some(Value::Null) => {
            if kind == Some(OutboundKind::Reply) {
                problems.push("fencing_token is required for a reply".into());
            }
            None
        }
        Some(v) => match v.as_u64() {
            Some(t) if t >= 1 => Some(t),
            _ => {
                problems.push("fencing_token must be a positive integer".into());
                None
            }
        },
    };
    let sender = text_field(&o, "sender", &mut problems);
    match kind {
        Some(kind) if problems.is_empty() => Ok(OutboundRequest {
            owner_key,
            message_id,
            kind,
            token,
            sender,
            do_not_contact: false,
            now_ms: 0,
        }),
        _ => Err(problems),
    }
}

fn kind_str(kind: OutboundKind) -> &'static str {
    match kind {
        OutboundKind::Reply => "reply",
        OutboundKind::Proactive => "proactive",
    }
}

async fn outbound_handler(
    State(s): State<HttpState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return problem(e.status(), e.body_text(), Vec::new()),
    };
    let mut req = match parse_outbound(&body) {
        Ok(r) => r,
        Err(problems) => return invalid(problems),
    };
    // Only a CRM customer has a do-not-contact flag; an author key has no CRM record.
    if let Some(id) = req.owner_key.strip_prefix("customer:") {
        if req.kind == OutboundKind::Proactive && !s.status.ready.load(Ordering::Relaxed) {
            // A half-loaded index could miss a do-not-contact flag: no answer rather than a
            // wrong one.
            return problem(
                StatusCode::SERVICE_UNAVAILABLE,
                "the identity index is not loaded yet; retry later",
                Vec::new(),
            );
        }
        let index = s.index.read().unwrap_or_else(|p| p.into_inner());
        req.do_not_contact = index
            .context_of_customer(id)
            .is_some_and(|c| c.do_not_contact);
    }
    req.now_ms = (s.clock)();
    let policy = s.policy();
    let decision: OutboundDecision = match bounded(&s, s.store.outbound(&req, &policy)).await {
        Ok(d) => d,
        Err(e) => return store_failed(&e, "outbound gate"),
    };
    let outcome = match (decision.allowed, decision.refused) {
        (true, _) => "allowed",
        (false, Some(r)) => r.as_str(),
        (false, None) => "refused",
    };
    if !decision.replayed {
        s.metrics
            .outbound
            .with_label_values(&[kind_str(req.kind), outcome])
            .inc();
    }
    if !decision.allowed {
        tracing::info!(
            owner_key = %req.owner_key,
            message_id = %req.message_id,
            reason = outcome,
            "outbound message refused"
        );
    }
    let status = if decision.allowed {
        StatusCode::OK
    } else {
        StatusCode::CONFLICT
    };
    (status, Json(decision)).into_response()
}

/// The answer to a history request.
#[derive(Debug, Serialize)]
pub struct History {
    pub owner_key: String,
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
}

/// `limit` from a query string: absent is the default; anything but 1..=500 is a problem.
fn history_limit(query: Option<&str>) -> Result<usize, String> {
    let mut limit = None;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "limit" {
            continue;
        }
        if limit.is_some() {
            return Err("limit is given more than once".into());
        }
        match v.parse::<usize>() {
            Ok(n) if (1..=MAX_HISTORY_LIMIT).contains(&n) && !v.starts_with('+') => limit = Some(n),
            _ => {
                return Err(format!(
                    "limit must be an integer from 1 to {MAX_HISTORY_LIMIT}, not {v:?}"
                ))
            }
        }
    }
    Ok(limit.unwrap_or(DEFAULT_HISTORY_LIMIT))
}

async fn history_handler(
    State(s): State<HttpState>,
    owner_key: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let mut problems = Vec::new();
    let owner_key = match owner_key {
        Ok(Path(k)) => {
            problems.extend(owner_key_problem(&k));
            k
        }
        Err(e) => {
            problems.push(format!("owner_key: {}", e.body_text()));
            String::new()
        }
    };
    let limit = history_limit(query.as_deref()).unwrap_or_else(|p| {
        problems.push(p);
        0
    });
    if !problems.is_empty() {
        return invalid(problems);
    }
    match bounded(&s, s.store.history(&owner_key, (s.clock)(), limit)).await {
        Ok(entries) => Json(History { owner_key, entries }).into_response(),
        Err(e) => store_failed(&e, "history"),
    }
}

/// Bind `listen` and serve until `shutdown` turns true. Returns the bound address (useful with
/// port 0) once listening.
pub async fn serve(
    listen: &str,
    state: HttpState,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(state);
    let handle = tokio::spawn(async move {
        let stop = async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %e, "http server failed");
        }
    });
    Ok((addr, handle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_keys() {
        assert_eq!(owner_key_problem("customer:C1"), None);
        assert_eq!(owner_key_problem("author:x:77"), None);
        assert_eq!(owner_key_problem("author:forum:a:b"), None);
        for bad in [
            "",
            "customer:",
            "author:x",
            "author::1",
            "author:x:",
            "C1",
            "x:1",
        ] {
            assert!(owner_key_problem(bad).is_some(), "{bad:?}");
        }
        assert!(owner_key_problem("customer:a\nb").is_some());
        assert!(owner_key_problem(&format!("customer:{}", "9".repeat(300))).is_some());
    }

    #[test]
    fn outbound_requests_list_every_problem() {
        let r = parse_outbound(
            br#"{"owner_key":"customer:C1","message_id":"m1","kind":"reply","fencing_token":3,"sender":"billing","text":"ignored"}"#,
        )
        .unwrap();
        assert_eq!(
            (r.kind, r.token, r.sender.as_str()),
            (OutboundKind::Reply, Some(3), "billing")
        );
        let p = parse_outbound(br#"{"kind":"reply"}"#).unwrap_err();
        assert_eq!(
            p,
            [
                "owner_key is missing",
                "message_id is missing",
                "fencing_token is required for a reply",
                "sender is missing"
            ]
        );
        let p = parse_outbound(
            br#"{"owner_key":"nobody","message_id":" ","kind":"sms","fencing_token":-1,"sender":7}"#,
        )
        .unwrap_err();
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(parse_outbound(b"[1]").unwrap_err()[0].contains("JSON object"));
        assert!(parse_outbound(b"{").unwrap_err()[0].contains("not valid JSON"));
        // A proactive message needs no token, and a zero one is not a token.
        assert!(parse_outbound(
            br#"{"owner_key":"author:x:1","message_id":"m","kind":"proactive","sender":"mkt"}"#
        )
        .is_ok());
        assert!(parse_outbound(
            br#"{"owner_key":"author:x:1","message_id":"m","kind":"proactive","sender":"mkt","fencing_token":0}"#
        )
        .is_err());
    }

    #[test]
    fn history_limits() {
        assert_eq!(history_limit(None), Ok(DEFAULT_HISTORY_LIMIT));
        assert_eq!(history_limit(Some("limit=7")), Ok(7));
        assert_eq!(history_limit(Some("x=1&limit=500")), Ok(500));
        for bad in [
            "limit=0",
            "limit=501",
            "limit=abc",
            "limit=",
            "limit=+5",
            "limit=1&limit=2",
        ] {
            assert!(history_limit(Some(bad)).is_err(), "{bad}");
        }
    }
}
