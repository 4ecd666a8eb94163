//! bench: the matching stage (raw bytes -> routing decision) measured beside JSON parsing alone
//! on the same corpus, in the same run, so the ratio shows where the time goes.

use crate::identity::IdentityIndex;
use crate::pipeline::Pipeline;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Measurement {
    pub name: &'static str,
    pub events: u64,
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Measurement {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    pub fn ns_per_event(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.events as f64
    }
    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64() / (1024.0 * 1024.0)
    }
}

/// Run `f` over the corpus until at least `min_time` has passed; return the measurement of the
/// last, fully timed pass set (after one warm-up pass).
fn measure(
    name: &'static str,
    corpus: &[Vec<u8>],
    min_time: Duration,
    mut f: impl FnMut(&[u8]),
) -> Measurement {
    for e in corpus {
        f(e);
    }
    let bytes_per_pass: u64 = corpus.iter().map(|e| e.len() as u64).sum();
    let mut passes = 0u64;
    let start = Instant::now();
    while start.elapsed() < min_time || passes == 0 {
        for e in corpus {
            f(e);
        }
        passes += 1;
    }
    Measurement {
        name,
        events: passes * corpus.len() as u64,
        bytes: passes * bytes_per_pass,
        elapsed: start.elapsed(),
    }
}

/// JSON parsing alone (into a generic value), then the whole matching stage.
pub fn run(
    pipeline: &Pipeline,
    index: &IdentityIndex,
    corpus: &[Vec<u8>],
    min_time: Duration,
) -> Vec<Measurement> {
    let now = crate::normalize::time::now_ms();
    let parse = measure(
        "json parse only (serde_json::Value)",
        corpus,
        min_time,
        |e| {
            let _ = black_box(serde_json::from_slice::<serde_json::Value>(black_box(e)));
        },
    );
    let matching = measure(
        "matching stage (bytes -> decision)",
        corpus,
        min_time,
        |e| {
            let _ = black_box(pipeline.process(index, black_box(e), None, now));
        },
    );
    let topics = crate::kafka::Topics::default();
    let claim = crate::claim::Claim {
        outcome: crate::event::AssignmentOutcome::New,
        department: "support".into(),
        queue: "general".into(),
        token: 1,
        priority: crate::route::Priority::P3,
        sla_deadline_ms: now + 3_600_000,
        resolution_due_ms: now + 86_400_000,
        lease_until_ms: now + 86_400_000,
        bumped: false,
        replayed: false,
    };
    let with_records = measure("matching + output records (JSON)", corpus, min_time, |e| {
        if let Ok(crate::pipeline::Verdict::Routed(d)) =
            pipeline.process(index, black_box(e), None, now)
        {
            let _ = black_box(crate::kafka::records::decision_records(
                &topics,
                *d,
                &claim,
                None,
                &pipeline.rules_version,
                "2026-12-03T00:00:00.000Z",
                usize::MAX,
            ));
        }
    });
    vec![parse, matching, with_records]
}

/// Where the matching stage's time goes: one timed pass over the corpus with the stage's own
/// stopwatch, summed per part (`normalize`, `identity`, `classify`, `route`), in ns per
/// event. Reading the clock costs ~20 ns a lap, so the parts add up to a little more than the
/// untimed stage.
pub fn stages(
    pipeline: &Pipeline,
    index: &IdentityIndex,
    corpus: &[Vec<u8>],
) -> [(&'static str, f64); 4] {
    let now = crate::normalize::time::now_ms();
    let mut sum = crate::pipeline::StageTimings::default();
    let passes = 20;
    for _ in 0..passes {
        for e in corpus {
            let mut t = crate::pipeline::StageTimings::default();
            let _ = black_box(pipeline.process_timed(index, black_box(e), None, now, Some(&mut t)));
            sum.normalize += t.normalize;
            sum.identity += t.identity;
            sum.classify += t.classify;
            sum.route += t.route;
        }
    }
    let n = (passes * corpus.len().max(1)) as f64;
    let ns = |d: Duration| d.as_nanos() as f64 / n;
    [
        ("normalize", ns(sum.normalize)),
        ("identity", ns(sum.identity)),
        ("classify", ns(sum.classify)),
        ("route", ns(sum.route)),
    ]
}

/// `stages (ns/event): normalize 2100, identity 300, classify 4400, route 600`
pub fn render_stages(stages: &[(&'static str, f64)]) -> String {
    let parts: Vec<String> = stages
        .iter()
        .map(|(k, ns)| format!("{k} {ns:.0}"))
        .collect();
    format!("stages (ns/event, timed pass): {}\n", parts.join(", "))
}

/// What the matching stage made of each corpus event, once: `routed`, `noise`, or the
/// dead-letter reason. Printed beside the timings so that a corpus that is mostly rejected
/// (measuring the fast path of failure) is noticed.
pub fn outcomes(
    pipeline: &Pipeline,
    index: &IdentityIndex,
    corpus: &[Vec<u8>],
) -> std::collections::BTreeMap<&'static str, usize> {
    let now = crate::normalize::time::now_ms();
    let mut counts = std::collections::BTreeMap::new();
    for e in corpus {
        let outcome = match pipeline.process(index, e, None, now) {
            Ok(crate::pipeline::Verdict::Routed(_)) => "routed",
            Ok(crate::pipeline::Verdict::Noise { .. }) => "noise",
            Err(r) => r.reason.as_str(),
        };
        *counts.entry(outcome).or_insert(0) += 1;
    }
    counts
}

/// `outcomes: routed 2762, noise 16`
pub fn render_outcomes(outcomes: &std::collections::BTreeMap<&'static str, usize>) -> String {
    let parts: Vec<String> = outcomes.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("outcomes: {}\n", parts.join(", "))
}

pub fn render(results: &[Measurement], corpus_len: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "corpus: {corpus_len} events; single thread");
    for m in results {
        let _ = writeln!(
            s,
            "{:<38} {:>12.0} events/s {:>9.0} ns/event {:>8.1} MiB/s",
            m.name,
            m.events_per_sec(),
            m.ns_per_event(),
            m.mib_per_sec()
        );
    }
    if let [parse, matching, ..] = results {
        let _ = writeln!(
            s,
            "matching costs {:.2}x JSON parsing alone",
            matching.ns_per_event() / parse.ns_per_event()
        );
    }
    if let [_, matching, with_records] = results {
        let _ = writeln!(
            s,
            "the two output records cost {:.0} ns/event more",
            with_records.ns_per_event() - matching.ns_per_event()
        );
    }
    s
}
