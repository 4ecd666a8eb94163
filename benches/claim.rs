//! `cargo bench --bench claim`: what the claim stage costs Redis, apart from Kafka and the
//! matching stage. Starts a `redis-server` of its own (`scripts/install-test-deps.sh` installs
//! one), then claims N events (`OUTCRY_BENCH_EVENTS`, default 60,000) in batches of 64 the way
//! a worker does (`ClaimStore::claim_batch`): half of them from 300 hot customers (many events
//! per owner: `attached` after the first), half from authors seen once (`new`). Prints, per
//! event: Redis CPU (`INFO cpu`, user + sys), the commands Redis ran (`INFO commandstats`,
//! those inside scripts included) and the wall time. Numbers are printed, never asserted.

#[path = "../tests/common/mod.rs"]
mod common;

use outcry::claim::{ClaimRequest, ClaimStore, RedisClaimStore};
use outcry::route::{Priority, Target};
use std::time::{Duration, Instant};

const MIN: Duration = Duration::from_secs(60);
const BATCH: usize = 64;

fn target(s: &str) -> Target {
    Target::parse(s).expect("target")
}

fn request(i: usize, now_ms: i64) -> ClaimRequest {
    // Deterministic mix: even events from 300 hot customers, odd ones from new authors.
    let owner_key = if i.is_multiple_of(2) {
        format!("customer:hot-{}", (i / 2 * 7919) % 300)
    } else {
        format!("x:author-{i}")
    };
    ClaimRequest {
        owner_key,
        event_id: format!("x:{i}"),
        candidates: vec![target("billing/general"), target("support/general")],
        escalation: target("escalations/sag-wagon"),
        on_breach: target("escalations/sla"),
        priority: Priority::P3,
        now_ms,
        lease: 10 * MIN,
        sla: 2 * MIN,
        resolution: 60 * MIN,
        remember: 60 * MIN,
    }
}

/// Redis' CPU seconds (user + sys of the main thread and children) and commands run so far.
/// Redis CPU seconds (user + sys), commands run (inside scripts too), and memory used (bytes).
fn redis_counters(conn: &mut redis::Connection) -> (f64, u64, u64) {
    let info: String = redis::cmd("INFO").arg("all").query(conn).expect("INFO");
    let mut cpu = 0.0;
    let mut calls = 0;
    let mut memory = 0;
    for line in info.lines() {
        if let Some(v) = line.strip_prefix("used_memory:") {
            memory = v.trim().parse().unwrap_or(0);
        }
        if let Some(v) = line
            .strip_prefix("used_cpu_sys:")
            .or_else(|| line.strip_prefix("used_cpu_user:"))
        {
            cpu += v.trim().parse::<f64>().unwrap_or(0.0);
        }
        if line.starts_with("cmdstat_") {
            if let Some(n) = line
                .split([':', ','])
                .find_map(|f| f.strip_prefix("calls="))
            {
                calls += n.parse::<u64>().unwrap_or(0);
            }
        }
    }
    (cpu, calls, memory)
}

fn main() {
    let events: usize = std::env::var("OUTCRY_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60_000);
    let server = common::RedisServer::start(false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let store = rt
        .block_on(RedisClaimStore::connect(&server.url(), "bench"))
        .expect("connect");
    let mut info = redis::Client::open(server.url())
        .and_then(|c| c.get_connection())
        .expect("INFO connection");
    let now_ms = 1_700_000_000_000;
    let reqs: Vec<ClaimRequest> = (0..events).map(|i| request(i, now_ms + i as i64)).collect();
    // Warm-up: load the scripts, open the connections.
    let warm: Vec<ClaimRequest> = (0..BATCH).map(|i| request(events + i, now_ms)).collect();
    rt.block_on(store.claim_batch(&warm));

    let (cpu0, calls0, mem0) = redis_counters(&mut info);
    let start = Instant::now();
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    for batch in reqs.chunks(BATCH) {
        for r in rt.block_on(store.claim_batch(batch)) {
            let c = r.expect("claim");
            *outcomes.entry(format!("{:?}", c.outcome)).or_default() += 1;
        }
    }
    let wall = start.elapsed();
    let (cpu1, calls1, mem1) = redis_counters(&mut info);
    println!("{events} events in batches of {BATCH}: {outcomes:?}");
    report("claims", events, cpu1 - cpu0, calls1 - calls0, wall);
    // What the keys of these claims hold in Redis' memory until they expire (the decisions
    // for `claim.remember_events`, a new owner's hash, fence and history): for sizing.
    println!(
        "memory: {:.0} bytes/event held ({:.1} MiB for {events} events)",
        mem1.saturating_sub(mem0) as f64 / events as f64,
        mem1.saturating_sub(mem0) as f64 / 1_048_576.0
    );

    // The same events again: every one a replay (one GET each). What a call costs Redis
    // whatever the decision: arguments, keys, the script call, the answer.
    let start = Instant::now();
    for batch in reqs.chunks(BATCH) {
        for r in rt.block_on(store.claim_batch(batch)) {
            assert!(r.expect("replay").replayed, "a second claim is a replay");
        }
    }
    let wall = start.elapsed();
    let (cpu2, calls2, _) = redis_counters(&mut info);
    report("replays", events, cpu2 - cpu1, calls2 - calls1, wall);
}

fn report(what: &str, events: usize, cpu_s: f64, calls: u64, wall: Duration) {
    let per = |x: f64| x / events as f64;
    println!(
        "{what}: Redis CPU {:.1} µs/event, {:.2} commands/event; wall {:.1} µs/event ({:.0} events/s)",
        per(cpu_s * 1e6),
        per(calls as f64),
        per(wall.as_secs_f64() * 1e6),
        events as f64 / wall.as_secs_f64()
    );
}
