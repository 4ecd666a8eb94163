//! The claim store contract, one test body run against the in-memory store and a real
//! `redis-server`; then what only Redis can show: a restart, and many workers at once.

mod common;

use common::RedisServer;
use outcry::claim::{ClaimError, ClaimRequest, ClaimStore, MemoryClaimStore, RedisClaimStore};
use outcry::event::AssignmentOutcome;
use outcry::kafka::unique_suffix;
use outcry::route::Priority;
use std::sync::Arc;
use std::time::Duration;

const MIN: Duration = Duration::from_secs(60);

fn req(owner: &str, event: &str, dept: &str, priority: Priority, now_ms: i64) -> ClaimRequest {
    ClaimRequest {
        owner_key: owner.into(),
        event_id: event.into(),
        department: dept.into(),
        priority,
        now_ms,
        lease: 10 * MIN,
        sla: 2 * MIN,
        remember: 60 * MIN,
    }
}

/// Every rule of ownership, in one body, for any store.
async fn contract(store: &dyn ClaimStore) {
    let t0 = 1_700_000_000_000i64;
    let owner = format!("customer:{}", unique_suffix());

    // No owner: a new ownership with the first fencing token, the routed department, SLA.
    let first = store
        .claim(&req(&owner, "x:1", "billing", Priority::P3, t0))
        .await
        .unwrap();
    assert_eq!(first.outcome, AssignmentOutcome::New);
    assert_eq!(first.department, "billing");
    assert_eq!(first.token, 1);
    assert_eq!(first.sla_deadline_ms, t0 + 2 * 60_000);
    assert_eq!(first.lease_until_ms, t0 + 10 * 60_000);
    assert!(!first.replayed && !first.bumped);

    // An owner holds the lease: attach, whatever routing said; the lease is extended.
    let second = store
        .claim(&req(&owner, "x:2", "sales", Priority::P4, t0 + 1000))
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
    assert_eq!(second.lease_until_ms, t0 + 1000 + 10 * 60_000);
    assert!(!second.bumped);

    // A higher priority is passed on as a bump.
    let urgent = store
        .claim(&req(&owner, "x:3", "escalations", Priority::P1, t0 + 2000))
        .await
        .unwrap();
    assert_eq!(
        (urgent.outcome, urgent.priority, urgent.bumped),
        (AssignmentOutcome::Attached, Priority::P1, true)
    );
    assert_eq!(urgent.department, "billing");

    // The same event again (a redelivery), even much later: the same decision, flagged.
    let again = store
        .claim(&req(&owner, "x:1", "sales", Priority::P1, t0 + 5000))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.outcome, again.token, again.department.as_str()),
        (first.outcome, first.token, "billing")
    );
    assert_eq!(again.sla_deadline_ms, first.sla_deadline_ms);

    // The lease runs out: the next event opens a new ownership with a larger token.
    let later = t0 + 2000 + 10 * 60_000 + 1;
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
            t0,
        ))
        .await
        .unwrap();
    assert_eq!(
        (other.outcome, other.token, other.replayed),
        (AssignmentOutcome::New, 1, false)
    );
}

/// Many concurrent claims on one key: exactly one opens the ownership, all share its token.
async fn one_owner_under_contention(store: Arc<dyn ClaimStore>) {
    let owner = format!("customer:{}", unique_suffix());
    let t0 = 1_700_000_000_000i64;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = Arc::clone(&store);
            let owner = owner.clone();
            tokio::spawn(async move {
                let dept = if i % 2 == 0 { "billing" } else { "sales" };
                store
                    .claim(&req(&owner, &format!("x:{i}"), dept, Priority::P3, t0))
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
    let store = MemoryClaimStore::new();
    contract(&store).await;
    one_owner_under_contention(Arc::new(MemoryClaimStore::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_keeps_the_contract() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "t").await.unwrap();
    contract(&store).await;
    let store: Arc<dyn ClaimStore> =
        Arc::new(RedisClaimStore::connect(&redis.url(), "t").await.unwrap());
    one_owner_under_contention(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_of_an_owner_shares_one_cluster_slot() {
    let redis = RedisServer::start(false);
    let store = RedisClaimStore::connect(&redis.url(), "outcry")
        .await
        .unwrap();
    store
        .claim(&req("customer:C1", "x:1", "billing", Priority::P3, 1))
        .await
        .unwrap();
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg("outcry:*").query(&mut conn).unwrap();
    assert_eq!(keys.len(), 3, "{keys:?}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_is_an_outage_not_a_loss() {
    let mut redis = RedisServer::start(true);
    let store = RedisClaimStore::connect(&redis.url(), "t").await.unwrap();
    let t0 = 1_700_000_000_000i64;
    let first = store
        .claim(&req("customer:R", "x:1", "billing", Priority::P3, t0))
        .await
        .unwrap();

    redis.stop();
    let err = store
        .claim(&req("customer:R", "x:2", "billing", Priority::P3, t0))
        .await
        .unwrap_err();
    assert!(matches!(err, ClaimError::Unavailable(_)), "{err:?}");

    redis.restart();
    // The connection manager reconnects; the ownership and the decision survived (AOF).
    let mut attempt = None;
    for _ in 0..50 {
        match store
            .claim(&req("customer:R", "x:1", "sales", Priority::P1, t0 + 10))
            .await
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
        .claim(&req("customer:R", "x:2", "sales", Priority::P3, t0 + 20))
        .await
        .unwrap();
    assert_eq!(
        (attached.outcome, attached.token),
        (AssignmentOutcome::Attached, first.token)
    );
}
