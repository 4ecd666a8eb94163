//! `cargo bench --bench identity`: the identity index at CRM scale.
//!
//! Generates N customers (OUTCRY_IDENTITY_N, default 1,000,000), each with two social
//! identities (x and instagram: user id, handle), an email, a phone, a name, a city, a segment
//! and a language, and measures:
//! - build: each record as the JSON a snapshot line or a `crm.customers` message holds, parsed
//!   and applied (the topic path, without the broker): by default in batches of 262,144
//!   messages with `apply_batch` (parsed on every core the process may use — `taskset -c 0`
//!   for one — applied in order on one); OUTCRY_IDENTITY_BUILD=one: `parse_change` and `apply`
//!   one message at a time on one thread, as the live path does. The build's CPU time (all
//!   threads, user + system) is printed too: on a shared machine it shows what the build costs
//!   whatever else runs;
//! - memory: resident set growth of the process over the build, per customer (all in: records,
//!   tables, allocator overhead), and the index's own count of its heap bytes;
//! - lookups (`match_author`, the call the matching stage makes per event) for a verified
//!   platform id, an unknown author with handle and name, an author-given email, a probable
//!   name + location match.
//!
//! Prints a Markdown table (OUTCRY_IDENTITY_LOOKUPS=0: build and memory only, one line).
//! OUTCRY_IDENTITY_STAGE=1 instead times `match_author` on the authors of a corpus of raw
//! events (OUTCRY_BENCH_CORPUS) against the bundled sample CRM: its share of the stage.
//! OUTCRY_IDENTITY_TOPIC=1 instead produces the N records into a `crm.customers` topic and
//! measures, on the same messages: `read` — one consumer reading them and doing nothing else
//! (the floor); `follow` — the start-up catch-up of `kafka::customers::follow` as the worker runs
//! it, to every customer in the index; `one` — a consumer parsing and applying each message as it
//! comes (the live path). OUTCRY_IDENTITY_TOPIC=read|follow|one runs only that part. The broker
//! is librdkafka's mock cluster in-process (which keeps ~5 MiB a partition:
//! OUTCRY_IDENTITY_PARTITIONS, default N / 8,000 — and serving 1,250 partitions is then its own
//! bottleneck), or a standalone one: OUTCRY_IDENTITY_BROKERS=host:port (a fresh topic of 16
//! partitions per run; OUTCRY_IDENTITY_BROKER_PID=pid to count its CPU time too).
//! OUTCRY_IDENTITY_COMPRESSION=lz4 (zstd, ...) compresses the topic as a CRM's producer may;
//! OUTCRY_IDENTITY_CONSUMER="key=value,..." adds librdkafka properties to the consumers (tansu
//! 0.6.0 holds every fetch for `fetch.wait.max.ms` even when it has data: use
//! `fetch.wait.max.ms=10` with it).
//! Lookups are single-threaded; numbers are machine-dependent, never asserted.

use outcry::event::Author;
use outcry::identity::{parse_change, ChangeBatch, IdentityIndex};
use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

const FIRST: &[&str] = &[
    "maria", "jose", "zoe", "aiko", "olusegun", "tom", "ana", "rui", "lee", "hana", "oliver",
    "camille", "aarav", "chidi", "sofia", "lucas", "emma", "noah", "mia", "liam", "yuki", "omar",
    "fatima", "ivan", "olga", "pierre", "jurgen", "elena", "marco", "giulia", "sven", "ingrid",
];
const SYL: &[&str] = &[
    "ba", "ker", "gon", "za", "lez", "mul", "ler", "ta", "na", "ka", "sil", "va", "chen", "ko",
    "ya", "shi", "ro", "du", "rand", "shar", "ma", "o", "ka", "for", "wei", "ss", "al", "var",
    "ez", "brown", "ad", "ey",
];
const CITY: &[&str] = &[
    "London", "Leeds", "Madrid", "Berlin", "Munich", "Paris", "Lyon", "Lisbon", "Porto", "Austin",
    "Boston", "Chicago", "Denver", "Seattle", "Tokyo", "Osaka", "Lagos", "Mumbai", "Delhi",
    "Toronto", "Sydney", "Milan", "Rome", "Vienna", "Zurich", "Oslo", "Dublin", "Warsaw", "Prague",
    "Athens", "Seoul", "Lima",
];

fn name(n: u64) -> (String, String) {
    let f = FIRST[(n % 32) as usize];
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    let last: String = (0..3)
        .map(|i| SYL[((h >> (i * 5)) & 31) as usize])
        .collect();
    (f.to_owned(), last)
}

fn record(n: u64) -> String {
    let (f, l) = name(n);
    let city = CITY[((n / 7) % 32) as usize];
    format!(
        r#"{{"id":"C{n:09}","name":"{F} {L}","emails":["{f}.{l}{n}@example.com"],"phones":["+1{phone}"],"identities":[{{"platform":"x","user_id":"{x}","handle":"{f}{l}{n}","verified":true}},{{"platform":"instagram","user_id":"{ig}","handle":"{f}.{l}.{n}","verified":false}}],"tier":"{tier}","segment":"consumer","language":"en","city":"{city}"}}"#,
        F = capital(&f),
        L = capital(&l),
        phone = 2_000_000_000 + n,
        x = 1_500_000_000_000 + n,
        ig = 17_841_400_000_000_000 + n,
        tier = ["standard", "silver", "gold", "platinum"][(n % 4) as usize],
    )
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// CPU time of the process so far, user and system, all threads (/proc/self/stat, in the
/// kernel's 100 Hz ticks): the build's CPU cost, whatever else the machine runs.
fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// The same of another process (e.g. the broker: OUTCRY_IDENTITY_BROKER_PID); 0 if unknown.
fn cpu_seconds_of(pid: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

fn per_lookup(ix: &IdentityIndex, platform: &str, authors: &[Author]) -> f64 {
    for a in authors.iter().take(1000) {
        black_box(ix.match_author(platform, a));
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < 1.0 {
        for a in authors {
            black_box(ix.match_author(black_box(platform), black_box(a)));
        }
        n += authors.len() as u64;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// The identity lookup inside the matching stage: the authors of a corpus of raw events
/// (OUTCRY_BENCH_CORPUS, default the bundled feed) normalized once, then only `match_author`
/// timed against the bundled sample CRM, as `outcry bench` runs the stage.
fn stage_share() {
    let loaded = outcry::demo::embedded_config().expect("bundled config");
    let text = match std::env::var("OUTCRY_BENCH_CORPUS") {
        Ok(p) => std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")),
        Err(_) => outcry::demo::FEED.to_owned(),
    };
    let limits = outcry::normalize::Limits::default();
    let now = outcry::normalize::time::now_ms();
    let events: Vec<(String, Author)> = outcry::demo::feed_lines(&text)
        .into_iter()
        .filter_map(|l| outcry::normalize::normalize(l.as_bytes(), None, &limits, now).ok())
        .map(|e| (e.platform, e.author))
        .collect();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < 2.0 {
        for (p, a) in &events {
            black_box(loaded.index.match_author(black_box(p), black_box(a)));
        }
        n += events.len() as u64;
    }
    println!(
        "| match_author per event of the corpus ({} events, sample CRM of {}) | {:.0} ns |",
        events.len(),
        loaded.index.len(),
        start.elapsed().as_nanos() as f64 / n as f64
    );
}

/// OUTCRY_IDENTITY_CONSUMER="key=value,...": librdkafka properties for the consumers.
fn consumer_overrides() -> Vec<(String, String)> {
    std::env::var("OUTCRY_IDENTITY_CONSUMER")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The catch-up of `crm.customers` from an in-process broker: `follow` (batched, parallel)
/// against a consumer applying each message as it comes (one thread for the index).
fn topic_catch_up(n: u64) {
    use outcry::kafka::embedded::EmbeddedKafka;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

    // OUTCRY_IDENTITY_BROKERS=host:port: a standalone broker instead (a fresh topic per run).
    let external = std::env::var("OUTCRY_IDENTITY_BROKERS").ok();
    let partitions: i32 = std::env::var("OUTCRY_IDENTITY_PARTITIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if external.is_some() {
            16
        } else {
            // The mock cluster keeps about 11,000 messages per partition (older segments go).
            (n / 8_000).max(3) as i32
        });
    // The broker's CPU is counted too when it runs apart (OUTCRY_IDENTITY_BROKER_PID).
    let broker_pid = std::env::var("OUTCRY_IDENTITY_BROKER_PID").unwrap_or_else(|_| "0".into());
    let topic = "crm.customers";
    let kafka;
    let (bootstrap, topic) = match &external {
        None => {
            kafka = EmbeddedKafka::start(1).expect("mock cluster");
            kafka.create_topic(topic, partitions).expect("topic");
            (kafka.bootstrap_servers().to_owned(), topic.to_owned())
        }
        Some(brokers) => {
            use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
            use rdkafka::client::DefaultClientContext;
            let topic = format!("crm.customers.{}", std::process::id());
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", brokers)
                .create()
                .expect("admin client");
            let spec = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1))
                .set("cleanup.policy", "compact");
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            for r in rt
                .block_on(admin.create_topics([&spec], &AdminOptions::new()))
                .expect("create topic")
            {
                r.expect("create topic");
            }
            (brokers.clone(), topic)
        }
    };
    let topic = topic.as_str();
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("linger.ms", "20")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "1048576")
        // OUTCRY_IDENTITY_COMPRESSION=lz4 (zstd, ...): as the CRM's producer may send it.
        .set(
            "compression.codec",
            std::env::var("OUTCRY_IDENTITY_COMPRESSION").unwrap_or_else(|_| "none".into()),
        )
        .create()
        .expect("producer");
    let t = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let key = format!("C{i:09}");
        let payload = record(i);
        bytes += payload.len();
        let mut rec = BaseRecord::to(topic).key(&key).payload(&payload);
        while let Err((_, r)) = producer.send(rec) {
            producer.poll(Duration::from_millis(50));
            rec = r;
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(300)).expect("flush");
    println!(
        "produced {n} records ({} MiB of JSON) into {partitions} partitions in {:.1} s",
        bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let config = outcry::kafka::KafkaConfig {
        brokers: bootstrap.clone(),
        topics: outcry::kafka::Topics {
            customers: topic.to_owned(),
            ..Default::default()
        },
        consumer: consumer_overrides().into_iter().collect(),
        ..Default::default()
    };

    // OUTCRY_IDENTITY_TOPIC=read / follow / one: only that part (1: all three).
    let part = std::env::var("OUTCRY_IDENTITY_TOPIC").unwrap_or_default();
    let runs = |what: &str| part == "1" || part == what;
    // The floor: the same messages read by one consumer on one thread, nothing done with them.
    if runs("read") {
        use rdkafka::consumer::BaseConsumer;
        let mut cc = ClientConfig::new();
        cc.set("bootstrap.servers", &bootstrap)
            .set("group.id", "bench-read-only")
            .set("enable.auto.commit", "false")
            // as the follower sets it (see kafka/customers.rs)
            .set("fetch.queue.backoff.ms", "10");
        for (k, v) in consumer_overrides() {
            cc.set(k, v);
        }
        let consumer: BaseConsumer = cc.create().expect("consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let t = Instant::now();
        let c = cpu_seconds();
        let b = cpu_seconds_of(&broker_pid);
        let (mut read, mut len) = (0u64, 0usize);
        while read < n {
            if let Some(m) = consumer.poll(Duration::from_millis(100)) {
                let m = m.expect("message");
                len += m.payload().map_or(0, |p| p.len());
                read += 1;
            }
        }
        black_box(len);
        println!(
            "| read only, one consumer, nothing applied | {:.2} s ({:.0} messages/s), CPU {:.1} s (broker {:.1} s) |",
            t.elapsed().as_secs_f64(),
            n as f64 / t.elapsed().as_secs_f64(),
            cpu_seconds() - c,
            cpu_seconds_of(&broker_pid) - b
        );
    }
    // The start-up catch-up as the worker runs it.
    if runs("follow") {
        let index = Arc::new(RwLock::new(IdentityIndex::new()));
        let rss0 = rss_bytes();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let t = Instant::now();
        let c = cpu_seconds();
        let b = cpu_seconds_of(&broker_pid);
        let got = rt.block_on(async {
            let follower = tokio::spawn(outcry::kafka::customers::follow(
                config.clone(),
                Arc::clone(&index),
                outcry::telemetry::Metrics::new(),
                tx,
                stopped,
            ));
            let mut got = rx.await.expect("caught up");
            // tansu 0.6.0 reports a partition's end as its last batch's base offset + 1, so its
            // catch-up ends one batch short; count the rest in.
            let deadline = Instant::now() + Duration::from_secs(60);
            while (got as u64) < n && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
                got = index.read().unwrap().len();
            }
            let _ = stop.send(true);
            let _ = follower.await;
            got
        });
        let batched = t.elapsed();
        let cpu = cpu_seconds() - c;
        let broker_cpu = cpu_seconds_of(&broker_pid) - b;
        let rss1 = rss_bytes();
        assert_eq!(got as u64, n);
        let heap = index.read().unwrap().heap_bytes();
        drop(index);
        println!(
            "| catch-up of {n} customers from the topic: `follow` (batched, parsed on {} threads) | {:.2} s ({:.0} customers/s, CPU {:.1} s, broker {:.1} s); RSS growth {} bytes/customer, heap {} bytes/customer |",
            std::thread::available_parallelism().map_or(1, |n| n.get()),
            batched.as_secs_f64(),
            n as f64 / batched.as_secs_f64(),
            cpu,
            broker_cpu,
            rss1.saturating_sub(rss0) as u64 / n,
            heap as u64 / n
        );
    }

    if !runs("one") {
        return;
    }
    // The same messages, each parsed and applied as it is received.
    let _runtime = rt.enter();
    let mut cc = ClientConfig::new();
    cc.set("bootstrap.servers", &bootstrap)
        .set("group.id", "bench-one-at-a-time")
        .set("enable.auto.commit", "false");
    for (k, v) in consumer_overrides() {
        cc.set(k, v);
    }
    let consumer: StreamConsumer = cc.create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut ix = IdentityIndex::new();
    let t = Instant::now();
    rt.block_on(async {
        let mut read = 0u64;
        while read < n {
            let m = consumer.recv().await.expect("message");
            ix.apply(parse_change(m.key(), m.payload()).expect("record"));
            read += 1;
        }
    });
    let one = t.elapsed();
    assert_eq!(ix.len() as u64, n);
    println!(
        "| catch-up of {n} customers from the topic: each message parsed and applied as received (one thread) | {:.2} s ({:.0} customers/s) |",
        one.as_secs_f64(),
        n as f64 / one.as_secs_f64()
    );
}

fn main() {
    if std::env::var("OUTCRY_IDENTITY_STAGE").as_deref() == Ok("1") {
        stage_share();
        return;
    }
    let n: u64 = std::env::var("OUTCRY_IDENTITY_N")
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(1_000_000);
    if std::env::var("OUTCRY_IDENTITY_TOPIC").is_ok_and(|v| v != "0" && !v.is_empty()) {
        topic_catch_up(n);
        return;
    }
    let one_at_a_time = std::env::var("OUTCRY_IDENTITY_BUILD").as_deref() == Ok("one");
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let how = if one_at_a_time {
        "parse_change + apply, one at a time, one thread".to_owned()
    } else {
        format!("apply_batch, parsed on {threads} thread(s)")
    };
    let rss0 = rss_bytes();
    let mut ix = IdentityIndex::new();
    let start = Instant::now();
    // OUTCRY_IDENTITY_RESERVE=1: size the index first, as a snapshot load does (it counts its
    // lines) and as a topic load can from the end offsets.
    let reserved = std::env::var("OUTCRY_IDENTITY_RESERVE").as_deref() == Ok("1");
    if reserved {
        ix.reserve(n as usize);
    }
    let mut bytes = 0usize;
    // Records are generated in chunks outside the timed part: only parsing and applying count.
    let mut build = std::time::Duration::ZERO;
    let mut build_cpu = 0.0;
    let mut chunk: Vec<(String, String)> = Vec::with_capacity(10_000);
    let mut batch = ChangeBatch::new();
    let mut i = 0;
    while i < n {
        if one_at_a_time {
            chunk.clear();
            for k in i..(i + 10_000).min(n) {
                chunk.push((format!("C{k:09}"), record(k)));
            }
            i += chunk.len() as u64;
            let t = Instant::now();
            let c = cpu_seconds();
            for (key, r) in &chunk {
                bytes += r.len();
                let change =
                    parse_change(Some(key.as_bytes()), Some(r.as_bytes())).expect("record");
                ix.apply(change);
            }
            build += t.elapsed();
            build_cpu += cpu_seconds() - c;
        } else {
            batch.clear();
            for k in i..(i + 262_144).min(n) {
                batch.push(
                    Some(format!("C{k:09}").as_bytes()),
                    Some(record(k).as_bytes()),
                );
            }
            i += batch.len() as u64;
            bytes += batch.byte_len();
            let t = Instant::now();
            let c = cpu_seconds();
            let report = ix.apply_batch(&batch);
            build += t.elapsed();
            build_cpu += cpu_seconds() - c;
            assert!(report.problems.is_empty(), "{:?}", report.problems.first());
        }
    }
    drop(batch);
    drop(chunk);
    let _ = start;
    let rss1 = rss_bytes();
    assert_eq!(ix.len() as u64, n);

    // Re-applying 10% of the records (updates, as a compacted topic replays them).
    let upd = (n / 10).max(1);
    let start = Instant::now();
    for i in 0..upd {
        let r = record(i * 10 % n);
        ix.apply(parse_change(None, Some(r.as_bytes())).expect("record"));
    }
    let update = start.elapsed();

    if std::env::var("OUTCRY_IDENTITY_LOOKUPS").as_deref() == Ok("0") {
        println!(
            "reserved {reserved}: build ({how}) {:.2} s ({:.2} µs/customer; CPU {:.1} s), update {:.2} µs, RSS growth {} bytes/customer, heap {} bytes/customer",
            build.as_secs_f64(),
            build.as_secs_f64() * 1e6 / n as f64,
            build_cpu,
            update.as_secs_f64() * 1e6 / upd as f64,
            rss1.saturating_sub(rss0) as u64 / n,
            ix.heap_bytes() as u64 / n
        );
        return;
    }
    let sample = 10_000u64.min(n);
    let stride = (n / sample).max(1);
    let ids =
        |f: &dyn Fn(u64) -> Author| -> Vec<Author> { (0..sample).map(|k| f(k * stride)).collect() };
    let verified = ids(&|i| Author {
        id: (1_500_000_000_000 + i).to_string(),
        ..Author::default()
    });
    let unknown = ids(&|i| {
        let (f, l) = name(i + 7);
        Author {
            id: (9_000_000_000 + i).to_string(),
            handle: Some(format!("someone_{i}")),
            display_name: Some(format!("{} {}x", capital(&f), capital(&l))),
            ..Author::default()
        }
    });
    let email = ids(&|i| {
        let (f, l) = name(i);
        Author {
            id: format!("dm{i}"),
            email: Some(format!("{}.{l}{i}@Example.com", capital(&f))),
            ..Author::default()
        }
    });
    let probable = ids(&|i| {
        let (f, l) = name(i);
        Author {
            id: format!("fb{i}"),
            display_name: Some(format!("{} {}", capital(&f), capital(&l))),
            location: Some(format!("{}, somewhere", CITY[((i / 7) % 32) as usize])),
            ..Author::default()
        }
    });
    let check = |platform: &str, a: &Author| ix.match_author(platform, a).confidence;
    let bands = format!(
        "{:?} / {:?} / {:?} / {:?}",
        check("x", &verified[1]),
        check("x", &unknown[1]),
        check("facebook", &email[1]),
        check("facebook", &probable[1])
    );
    let mut probable_bands = std::collections::BTreeMap::new();
    for a in &probable {
        *probable_bands
            .entry(format!("{:?}", check("facebook", a)))
            .or_insert(0u32) += 1;
    }
    let t_verified = per_lookup(&ix, "x", &verified);
    let t_unknown = per_lookup(&ix, "x", &unknown);
    let t_email = per_lookup(&ix, "facebook", &email);
    let t_probable = per_lookup(&ix, "facebook", &probable);

    let m = |b: usize| b as f64 / (1024.0 * 1024.0);
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| customers | {n} (records of {} bytes of JSON on average) |",
        bytes as u64 / n
    );
    println!(
        "| build: {how} | {:.2} s ({:.2} µs/customer, {:.0} customers/s; CPU {:.1} s) |",
        build.as_secs_f64(),
        build.as_secs_f64() * 1e6 / n as f64,
        n as f64 / build.as_secs_f64(),
        build_cpu
    );
    println!(
        "| update: re-apply {upd} existing records | {:.2} µs/update |",
        update.as_secs_f64() * 1e6 / upd as f64
    );
    println!(
        "| RSS growth over the build | {:.0} MiB = {:.0} bytes/customer |",
        m(rss1.saturating_sub(rss0)),
        rss1.saturating_sub(rss0) as f64 / n as f64
    );
    println!(
        "| index heap (its own count) | {:.0} MiB = {:.0} bytes/customer |",
        m(ix.heap_bytes()),
        ix.heap_bytes() as f64 / n as f64
    );
    println!("| bands (verified / unknown / email / name+city) | {bands} |");
    println!("| lookup: verified platform id | {t_verified:.0} ns |");
    println!("| lookup: unknown author (id, handle, name) | {t_unknown:.0} ns |");
    println!("| lookup: author-given email | {t_email:.0} ns |");
    println!(
        "| lookup: name + location of a customer | {t_probable:.0} ns (answers over {} authors: {probable_bands:?}; unknown: namesakes in the same city (listed as candidates) or a name too shared to reach the threshold) |",
        probable.len()
    );
}
