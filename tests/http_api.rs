//! The HTTP API — the outbound gate and the history — served by the real server over the
//! in-memory claim store and over a real `redis-server`, and held to docs/openapi.yaml: every
//! response's status must be declared for its path and method, its body must validate against
//! the declared schema, and every operation of the document must be exercised.

mod common;

use common::RedisServer;
use outcry::claim::{ClaimRequest, ClaimStore, HistoryPolicy, MemoryClaimStore, RedisClaimStore};
use outcry::config::Config;
use outcry::http::HttpState;
use outcry::identity::{Customer, IdentityIndex};
use outcry::route::{Priority, Target};
use outcry::settings::HumanDuration;
use outcry::telemetry::Metrics;
use outcry::worker::Status;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const T0: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const SECRET_TEXT: &str = "SECRET-message-text-4711";
const HTTP_METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

// ---------------------------------------------------------------------------------------------
// The OpenAPI document.

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
}

/// `/v1/outbound` as a JSON pointer token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A validator for the schema at `pointer` of the document, its `$ref`s resolved inside the
/// document (the whole document is the root resource; the schema is reached by `$ref`).
fn validator_at(doc: &Value, pointer: &str) -> jsonschema::Validator {
    assert!(
        doc.pointer(pointer).is_some(),
        "docs/openapi.yaml has nothing at {pointer}"
    );
    let mut root = doc.clone();
    let o = root.as_object_mut().unwrap();
    o.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    // A JSON pointer in a URI fragment: `{owner_key}` and the like percent-encoded.
    let fragment: String = pointer
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'~' | b'-' | b'_' | b'.' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    o.insert("$ref".into(), json!(format!("#{fragment}")));
    jsonschema::validator_for(&root)
        .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}"))
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// Every operation the document declares: (method, path template).
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in HTTP_METHODS {
            if item.get(m).is_some() {
                ops.insert((m.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// Every declared response: (method, path template, status).
fn declared_responses(doc: &Value) -> BTreeSet<(String, String, u16)> {
    let mut out = BTreeSet::new();
    for (m, path) in operations(doc) {
        for status in doc["paths"][&path][&m]["responses"]
            .as_object()
            .unwrap()
            .keys()
        {
            out.insert((
                m.clone(),
                path.clone(),
                status.parse().expect("numeric status"),
            ));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client: one request per connection, so every byte on the wire is ours.

#[derive(Debug)]
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

async fn exchange(addr: SocketAddr, head: String, body: &[u8]) -> Reply {
    // Blocking I/O on the blocking pool: the server keeps running on the test's runtime.
    let body = body.to_vec();
    let raw = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(head.as_bytes()).expect("write head");
        s.write_all(&body).expect("write body");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("an HTTP answer within 30 s");
        raw
    })
    .await
    .unwrap();
    let raw = String::from_utf8(raw).expect("UTF-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("a complete response");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut content_type = String::new();
    let mut length = None;
    for line in lines {
        let (k, v) = line.split_once(':').expect("header line");
        match k.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = v.trim().to_owned(),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            "transfer-encoding" => panic!("unexpected transfer-encoding {v}"),
            _ => {}
        }
    }
    assert_eq!(length, Some(body.len()), "content-length of {body:?}");
    Reply {
        status,
        content_type,
        body: body.to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// The API under test, every answer checked against the document.

struct Api {
    addr: SocketAddr,
    doc: Value,
    request_schema: jsonschema::Validator,
    seen: Mutex<BTreeSet<(String, String, u16)>>,
}

impl Api {
    fn new(addr: SocketAddr) -> Api {
        let doc = openapi();
        let request_schema = validator_at(&doc, "/components/schemas/OutboundRequest");
        Api {
            addr,
            doc,
            request_schema,
            seen: Mutex::new(BTreeSet::new()),
        }
    }

    /// The status must be declared for the operation, the content type too, and the body must
    /// validate against the declared schema.
    fn conform(&self, method: &str, template: &str, r: &Reply) {
        self.seen
            .lock()
            .unwrap()
            .insert((method.to_owned(), template.to_owned(), r.status));
        let op = format!("/paths/{}/{method}", escape(template));
        assert!(
            self.doc.pointer(&op).is_some(),
            "{method} {template} is not in docs/openapi.yaml"
        );
        let response = format!("{op}/responses/{}", r.status);
        assert!(
            self.doc.pointer(&response).is_some(),
            "{method} {template} answered {} which docs/openapi.yaml does not declare: {}",
            r.status,
            r.body
        );
        let media = r.content_type.split(';').next().unwrap().trim();
        let schema = format!("{response}/content/{}/schema", escape(media));
        assert!(
            self.doc.pointer(&schema).is_some(),
            "{method} {template} {} answered {media}, not declared",
            r.status
        );
        let instance = if media.ends_with("json") {
            r.json()
        } else {
            Value::String(r.body.clone())
        };
        let problems = errors(&validator_at(&self.doc, &schema), &instance);
        assert!(
            problems.is_empty(),
            "{method} {template} {}: the body does not match docs/openapi.yaml: {problems:?}\n{}",
            r.status,
            r.body
        );
    }

    async fn get(&self, template: &str, target: &str) -> Reply {
        let head = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        );
        let r = exchange(self.addr, head, b"").await;
        self.conform("get", template, &r);
        r
    }

    async fn post_raw(&self, body: &[u8], claimed_length: usize) -> Reply {
        let head = format!(
            "POST /v1/outbound HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {claimed_length}\r\n\r\n",
            self.addr
        );
        let r = exchange(self.addr, head, body).await;
        self.conform("post", "/v1/outbound", &r);
        r
    }

    /// Post a body; the document's request schema must agree with the server on whether it is
    /// well formed.
    async fn post(&self, body: &str) -> Reply {
        let r = self.post_raw(body.as_bytes(), body.len()).await;
        if let Ok(v) = serde_json::from_str::<Value>(body) {
            let schema_ok = self.request_schema.is_valid(&v);
            assert_eq!(
                schema_ok,
                r.status != 400,
                "the request schema and the server disagree about {body} (server: {} {})",
                r.status,
                r.body
            );
        } else {
            assert_eq!(r.status, 400, "{}", r.body);
        }
        r
    }

    async fn outbound(&self, v: Value) -> Reply {
        self.post(&v.to_string()).await
    }

    fn seen(&self) -> BTreeSet<(String, String, u16)> {
        self.seen.lock().unwrap().clone()
    }
}

fn proactive(owner: &str, id: &str) -> Value {
    json!({"owner_key": owner, "message_id": id, "kind": "proactive", "sender": "marketing"})
}

fn reply(owner: &str, id: &str, token: u64) -> Value {
    json!({"owner_key": owner, "message_id": id, "kind": "reply", "fencing_token": token, "sender": "billing"})
}

fn decision(r: &Reply) -> (bool, Option<String>, u64, bool) {
    let d = r.json();
    (
        d["allowed"].as_bool().unwrap(),
        d["refused"].as_str().map(str::to_owned),
        d["proactive_in_window"].as_u64().unwrap(),
        d["replayed"].as_bool().unwrap(),
    )
}

fn problems(r: &Reply) -> Vec<String> {
    r.json()["problems"]
        .as_array()
        .map(|a| a.iter().map(|p| p.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Logs: captured once for the whole test binary.

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Captured {
    static LOGS: OnceLock<Captured> = OnceLock::new();
    LOGS.get_or_init(|| {
        let captured = Captured::default();
        let sink = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_writer(move || sink.clone())
            .json()
            .flatten_event(true)
            .try_init()
            .expect("one subscriber per test binary");
        captured
    })
}

fn log_lines() -> Vec<Value> {
    let raw = String::from_utf8(logs().0.lock().unwrap().clone()).unwrap();
    raw.lines()
        .map(|l| serde_json::from_str(l).expect("JSON log line"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The scenario, for any store.

fn customer(id: &str, do_not_contact: bool) -> Customer {
    serde_json::from_value(json!({
        "id": id,
        "name": format!("Customer {id}"),
        "emails": [format!("{}@example.com", id.to_lowercase())],
        "do_not_contact": do_not_contact,
    }))
    .unwrap()
}

fn claim_req(owner: &str, event: &str, now_ms: i64) -> ClaimRequest {
    let min = Duration::from_secs(60);
    ClaimRequest {
        owner_key: owner.into(),
        event_id: event.into(),
        candidates: vec![Target::parse("billing/general").unwrap()],
        escalation: Target::parse("escalations/sag-wagon").unwrap(),
        on_breach: Target::parse("escalations/sla").unwrap(),
        priority: Priority::P3,
        now_ms,
        lease: 600 * min,
        sla: 30 * min,
        resolution: 300 * min,
        remember: 60 * min,
    }
}

struct Server {
    api: Api,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    clock: Arc<AtomicI64>,
    _stop: watch::Sender<bool>,
}

async fn start(store: Arc<dyn ClaimStore>) -> Server {
    logs();
    let mut index = IdentityIndex::new();
    index.upsert(customer("C1", false));
    index.upsert(customer("C2", true));
    assert_eq!(
        index.context_of_customer("C2").map(|c| c.do_not_contact),
        Some(true)
    );
    let mut config = Config::default();
    config.outbound.max_proactive = 2;
    config.outbound.window = HumanDuration(Duration::from_millis(HOUR_MS as u64));
    let metrics = Metrics::new();
    let status = Arc::new(Status::default());
    status.ready.store(true, Ordering::Relaxed);
    let clock = Arc::new(AtomicI64::new(T0));
    let c = Arc::clone(&clock);
    let state = HttpState::new(
        Arc::clone(&metrics),
        Arc::clone(&status),
        store,
        Arc::new(RwLock::new(index)),
        config.contact_policy(),
    )
    .with_clock(move || c.load(Ordering::SeqCst))
    .with_store_timeout(Duration::from_secs(3));
    let (stop, stop_rx) = watch::channel(false);
    let (addr, _) = outcry::http::serve("127.0.0.1:0", state, stop_rx)
        .await
        .expect("bind 127.0.0.1:0");
    Server {
        api: Api::new(addr),
        metrics,
        status,
        clock,
        _stop: stop,
    }
}

fn counters(m: &Metrics) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for kind in ["reply", "proactive"] {
        for outcome in [
            "allowed",
            "no_owner",
            "stale_token",
            "care_case_open",
            "rate_limited",
            "do_not_contact",
        ] {
            let n = m.outbound.with_label_values(&[kind, outcome]).get();
            if n > 0 {
                out.insert((kind.to_owned(), outcome.to_owned()), n);
            }
        }
    }
    out
}

fn total(m: &Metrics) -> u64 {
    counters(m).values().sum()
}

/// Everything the API does, for one store. Returns the server (for what only Redis can show).
async fn scenario(store: Arc<dyn ClaimStore>, tag: &str) -> Server {
    let server = start(Arc::clone(&store)).await;
    let api = &server.api;
    let m = &server.metrics;
    let now = || server.clock.load(Ordering::SeqCst);
    let c1 = "customer:C1";

    // Operations endpoints keep working.
    let r = api.get("/healthz", "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));
    server.status.ready.store(false, Ordering::Relaxed);
    assert_eq!(api.get("/readyz", "/readyz").await.status, 503);
    server.status.ready.store(true, Ordering::Relaxed);
    assert_eq!(api.get("/readyz", "/readyz").await.status, 200);

    // Proactive messages: two per customer per hour; the third is refused.
    let r = api.outbound(proactive(c1, "m1")).await;
    assert_eq!((r.status, decision(&r)), (200, (true, None, 1, false)));
    let r = api.outbound(proactive(c1, "m2")).await;
    assert_eq!((r.status, decision(&r)), (200, (true, None, 2, false)));
    let r = api.outbound(proactive(c1, "m3")).await;
    assert_eq!(r.status, 409);
    assert_eq!(decision(&r).1.as_deref(), Some("rate_limited"));
    // The same message again: the same answer, replayed, counted once.
    let r = api.outbound(proactive(c1, "m2")).await;
    assert_eq!(
        (r.status, decision(&r).0, decision(&r).3),
        (200, true, true)
    );
    let r = api.outbound(proactive(c1, "m3")).await;
    assert_eq!((r.status, decision(&r).3), (409, true));
    assert_eq!(
        (
            m.outbound
                .with_label_values(&["proactive", "allowed"])
                .get(),
            m.outbound
                .with_label_values(&["proactive", "rate_limited"])
                .get()
        ),
        (2, 1)
    );
    // The window moves on.
    server.clock.fetch_add(HOUR_MS + 1, Ordering::SeqCst);
    let r = api.outbound(proactive(c1, "m4")).await;
    assert_eq!((r.status, decision(&r)), (200, (true, None, 1, false)));

    // A reply needs an owner, and the owner's token.
    let r = api.outbound(reply(c1, "r0", 1)).await;
    assert_eq!(
        (r.status, decision(&r).1.as_deref()),
        (409, Some("no_owner"))
    );
    server.clock.fetch_add(1, Ordering::SeqCst);
    let claim = store.claim(&claim_req(c1, "x:1", now())).await.unwrap();
    server.clock.fetch_add(1, Ordering::SeqCst);
    let r = api.outbound(reply(c1, "r1", claim.token)).await;
    // (m4 is still inside the window.)
    assert_eq!((r.status, decision(&r)), (200, (true, None, 1, false)));
    server.clock.fetch_add(1, Ordering::SeqCst);
    let r = api.outbound(reply(c1, "r2", claim.token + 1)).await;
    assert_eq!(
        (r.status, decision(&r).1.as_deref()),
        (409, Some("stale_token"))
    );
    // A reply without a token is malformed, not refused: nothing is recorded or counted.
    let before = total(m);
    let r = api
        .outbound(
            json!({"owner_key": c1, "message_id": "r3", "kind": "reply", "sender": "billing"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(problems(&r), ["fencing_token is required for a reply"]);
    assert_eq!(total(m), before);
    // No proactive message while the care case is open. The message text the tool sent along
    // is ignored: never stored, never logged.
    server.clock.fetch_add(1, Ordering::SeqCst);
    let mut m5 = proactive(c1, &format!("m5-{tag}"));
    m5["text"] = json!(SECRET_TEXT);
    let r = api.outbound(m5).await;
    assert_eq!(
        (r.status, decision(&r).1.as_deref()),
        (409, Some("care_case_open"))
    );

    // Do-not-contact (from the identity index) refuses proactive messages, not replies.
    let r = api.outbound(proactive("customer:C2", "d1")).await;
    assert_eq!(
        (r.status, decision(&r).1.as_deref()),
        (409, Some("do_not_contact"))
    );
    let c2 = store
        .claim(&claim_req("customer:C2", "x:2", now()))
        .await
        .unwrap();
    let r = api.outbound(reply("customer:C2", "d2", c2.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // An author has no CRM record; a customer missing from the index has no flag.
    let r = api.outbound(proactive("author:x:77", "a1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = api.outbound(proactive("customer:C404", "n1")).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // Until the identity index is loaded, no proactive message to a customer gets an answer
    // (a half-loaded index could miss a do-not-contact flag); replies do.
    server.status.ready.store(false, Ordering::Relaxed);
    let before = total(m);
    let r = api.outbound(proactive("customer:C3", "n2")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("identity index"));
    assert_eq!(total(m), before, "no answer, nothing counted");
    server.clock.fetch_add(1, Ordering::SeqCst);
    let r = api.outbound(reply(c1, "r9", claim.token)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    server.status.ready.store(true, Ordering::Relaxed);

    // Malformed requests: 400 with every problem listed; nothing counted.
    let before = total(m);
    let r = api.post("this is not json").await;
    assert_eq!(r.status, 400);
    assert!(problems(&r)[0].contains("not valid JSON"), "{}", r.body);
    let r = api.post("[1,2]").await;
    assert_eq!(problems(&r), ["the body must be a JSON object"]);
    let r = api.post("{}").await;
    assert_eq!(
        problems(&r),
        [
            "owner_key is missing",
            "message_id is missing",
            "kind is missing",
            "sender is missing"
        ]
    );
    let r = api
        .outbound(json!({"owner_key": "", "message_id": "  ", "kind": "reply", "sender": ""}))
        .await;
    assert_eq!(
        problems(&r),
        [
            "owner_key is empty",
            "message_id is empty",
            "fencing_token is required for a reply",
            "sender is empty"
        ]
    );
    let r = api
        .outbound(json!({"owner_key": "C1", "message_id": 5, "kind": "sms", "fencing_token": "7", "sender": "a\nb"}))
        .await;
    assert_eq!(problems(&r).len(), 5, "{}", r.body);
    assert!(problems(&r)[0].contains("customer:<id> or author:<platform>:<id>"));
    let r = api
        .outbound(json!({"owner_key": "author:x:1", "message_id": "z", "kind": "proactive", "fencing_token": 0, "sender": "m"}))
        .await;
    assert_eq!(problems(&r), ["fencing_token must be a positive integer"]);
    let r = api
        .outbound(json!({"owner_key": "author:x:1", "message_id": "z".repeat(257), "kind": "proactive", "sender": "m"}))
        .await;
    assert_eq!(r.status, 400);
    // Too large.
    let big = vec![b' '; outcry::http::MAX_BODY_BYTES + 1];
    let r = api.post_raw(&big, big.len()).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(total(m), before, "malformed requests are not counted");

    // Every answer counted once, by kind and outcome.
    let want: BTreeMap<(String, String), u64> = [
        (("proactive", "allowed"), 5),
        (("proactive", "rate_limited"), 1),
        (("proactive", "care_case_open"), 1),
        (("proactive", "do_not_contact"), 1),
        (("reply", "allowed"), 3),
        (("reply", "no_owner"), 1),
        (("reply", "stale_token"), 1),
    ]
    .into_iter()
    .map(|((k, o), n)| ((k.to_owned(), o.to_owned()), n))
    .collect();
    assert_eq!(counters(m), want);
    let r = api.get("/metrics", "/metrics").await;
    assert!(
        r.body.contains(
            r#"outcry_outbound_decisions_total{kind="proactive",outcome="rate_limited"} 1"#
        ),
        "{}",
        r.body
    );

    // Refusals are logged at info with the owner key and the message id, never the text.
    let lines = log_lines();
    let refusal = lines
        .iter()
        .find(|l| l["message_id"] == json!(format!("m5-{tag}")))
        .expect("the refusal is logged");
    assert_eq!(refusal["level"], "INFO");
    assert_eq!(refusal["owner_key"], c1);
    assert_eq!(refusal["reason"], "care_case_open");
    assert!(
        !lines.iter().any(|l| l.to_string().contains(SECRET_TEXT)),
        "message text in the logs"
    );

    // The history, newest first: every answer of the gate, the claim, nothing malformed.
    let h = "/v1/owners/{owner_key}/history";
    let r = api.get(h, "/v1/owners/customer:C1/history").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["owner_key"], c1);
    let entries = body["entries"].as_array().unwrap();
    let got: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["id"].as_str().unwrap()))
        .collect();
    let m5_id = format!("m5-{tag}");
    assert_eq!(
        got,
        [
            ("outbound", "r9"),
            ("refused", m5_id.as_str()),
            ("refused", "r2"),
            ("outbound", "r1"),
            ("assigned", "x:1"),
            ("refused", "r0"),
            ("outbound", "m4"),
            ("refused", "m3"),
            ("outbound", "m2"),
            ("outbound", "m1"),
        ]
    );
    let at: Vec<i64> = entries
        .iter()
        .map(|e| e["at_ms"].as_i64().unwrap())
        .collect();
    assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");
    assert_eq!(entries[0]["at_ms"], json!(now()));
    assert!(entries[1]["note"]
        .as_str()
        .unwrap()
        .contains("care_case_open"));
    assert!(!r.body.contains(SECRET_TEXT));
    // A percent-encoded key is the same key; `limit` takes the newest.
    let r = api.get(h, "/v1/owners/customer%3AC1/history?limit=2").await;
    assert_eq!(r.json()["entries"].as_array().unwrap()[..], entries[..2]);
    // Nobody: an empty history.
    let r = api.get(h, "/v1/owners/author:x:nobody/history").await;
    assert_eq!((r.status, r.json()["entries"].clone()), (200, json!([])));
    // The default limit is 50, the largest 500.
    let busy = "author:x:busy";
    for i in 0..60 {
        store
            .claim(&claim_req(busy, &format!("b:{i}"), now()))
            .await
            .unwrap();
    }
    let count = |r: Reply| r.json()["entries"].as_array().unwrap().len();
    assert_eq!(
        count(api.get(h, "/v1/owners/author:x:busy/history").await),
        50
    );
    assert_eq!(
        count(
            api.get(h, "/v1/owners/author:x:busy/history?limit=500")
                .await
        ),
        60
    );
    // Bad requests: every problem listed.
    for bad in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "limit=-1",
        "limit=5&limit=6",
    ] {
        let r = api
            .get(h, &format!("/v1/owners/customer:C1/history?{bad}"))
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert_eq!(problems(&r).len(), 1, "{bad}: {}", r.body);
    }
    let r = api.get(h, "/v1/owners/nobody/history?limit=0").await;
    assert_eq!(problems(&r).len(), 2, "{}", r.body);
    assert_eq!(r.json()["status"], 400);

    server
}

/// Every operation of the document was exercised.
fn assert_covered(api: &Api, seen: &BTreeSet<(String, String, u16)>) {
    let exercised: BTreeSet<(String, String)> = seen
        .iter()
        .map(|(m, p, _)| (m.clone(), p.clone()))
        .collect();
    let missing: Vec<_> = operations(&api.doc)
        .difference(&exercised)
        .cloned()
        .collect();
    assert!(missing.is_empty(), "never exercised: {missing:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_and_history_over_the_memory_store() {
    let store = Arc::new(MemoryClaimStore::new().with_history(HistoryPolicy::default()));
    let server = scenario(store, "memory").await;
    assert_covered(&server.api, &server.api.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gate_and_history_over_redis() {
    let mut redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "http")
        .await
        .expect("connect to redis-server")
        .with_history(HistoryPolicy::default());
    let server = scenario(Arc::new(store), "redis").await;
    let api = &server.api;

    // Redis goes away: every request gets a 503 within the store timeout (3 s here), however
    // the connection fails (at once, or by never answering); nothing is counted.
    redis.stop();
    let before = total(&server.metrics);
    for i in 0..2 {
        let t = Instant::now();
        let r = api
            .outbound(proactive("author:x:gone", &format!("g{i}")))
            .await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.json()["detail"].as_str().unwrap().contains("claim store"));
        let r = api
            .get(
                "/v1/owners/{owner_key}/history",
                "/v1/owners/author:x:gone/history",
            )
            .await;
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
    assert_eq!(total(&server.metrics), before);

    // Every operation, and every response the document declares but a protocol failure (500),
    // was seen.
    let seen = api.seen();
    assert_covered(api, &seen);
    let missing: Vec<_> = declared_responses(&api.doc)
        .into_iter()
        .filter(|(_, _, status)| *status != 500)
        .filter(|r| !seen.contains(r))
        .collect();
    assert!(missing.is_empty(), "declared but never seen: {missing:?}");
}

/// The document itself: OpenAPI 3.1, every `$ref` resolves, every example validates against
/// its schema, and the request examples are accepted by the server's parser.
#[test]
fn the_document_is_consistent() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 10);
    for r in &all {
        let pointer = r.strip_prefix('#').expect("local $ref");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    let mut examples = 0;
    for (m, path) in operations(&doc) {
        let op = format!("/paths/{}/{m}", escape(&path));
        assert!(doc.pointer(&format!("{op}/operationId")).is_some());
        let mut media_of = vec![format!("{op}/requestBody")];
        for status in doc
            .pointer(&format!("{op}/responses"))
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
        {
            media_of.push(format!("{op}/responses/{status}"));
        }
        for at in media_of {
            let Some(content) = doc.pointer(&format!("{at}/content")) else {
                continue;
            };
            for (media, c) in content.as_object().unwrap() {
                let schema = format!("{at}/content/{}/schema", escape(media));
                let v = validator_at(&doc, &schema);
                for (name, ex) in c["examples"].as_object().into_iter().flatten() {
                    let e = errors(&v, &ex["value"]);
                    assert!(e.is_empty(), "{at} example {name}: {e:?}");
                    examples += 1;
                    if at.ends_with("requestBody") {
                        let body = ex["value"].to_string();
                        assert!(
                            outcry::http::parse_outbound(body.as_bytes()).is_ok(),
                            "{name}"
                        );
                    }
                }
            }
        }
    }
    for (name, s) in doc["components"]["schemas"].as_object().unwrap() {
        let v = validator_at(&doc, &format!("/components/schemas/{name}"));
        for ex in s["examples"].as_array().into_iter().flatten() {
            let e = errors(&v, ex);
            assert!(e.is_empty(), "{name} example {ex}: {e:?}");
            examples += 1;
        }
    }
    assert!(examples >= 10, "{examples} examples");
    // The schemas can fail: a refusal with allowed=true, a reply without a token.
    let decision = validator_at(&doc, "/components/schemas/OutboundDecision");
    assert!(!decision.is_valid(
        &json!({"allowed": true, "refused": "rate_limited", "proactive_in_window": 1, "replayed": false})
    ));
    assert!(!decision.is_valid(
        &json!({"allowed": false, "refused": null, "proactive_in_window": 1, "replayed": false})
    ));
    let request = validator_at(&doc, "/components/schemas/OutboundRequest");
    assert!(!request.is_valid(
        &json!({"owner_key": "customer:C1", "message_id": "m", "kind": "reply", "sender": "s"})
    ));
}

/// After an outage the gate answers again once Redis is back. Ignored: with redis 0.32.7's
/// `ConnectionManager` as `RedisClaimStore::connect` sets it up, a second call made while Redis
/// is down never returns, nor does any call after Redis is back (reported to the lead; the
/// HTTP API bounds it with its store timeout, answering 503).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gate_answers_again_after_a_redis_outage() {
    let mut redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "http")
        .await
        .unwrap();
    let server = start(Arc::new(store)).await;
    let api = &server.api;
    redis.stop();
    for i in 0..2 {
        let r = api
            .outbound(proactive("author:x:gone", &format!("g{i}")))
            .await;
        assert_eq!(r.status, 503, "{}", r.body);
    }
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.outbound(proactive("author:x:gone", "g9")).await;
        if r.status == 200 {
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(Instant::now() < deadline, "the gate never answered again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server
            .metrics
            .outbound
            .with_label_values(&["proactive", "allowed"])
            .get(),
        1
    );
}
