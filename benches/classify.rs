//! `cargo bench --bench classify`: classification (matching text + accent folding + automata +
//! regex set + negation + sentiment) with the bundled generic pack, the airline pack, and a
//! pack of 5,000 phrases, on the texts of the bundled sample feed (or of the JSONL events in
//! OUTCRY_BENCH_CORPUS, e.g. the twcs sample made by `outcry replay … --write-jsonl`).
//!
//! The 5,000-phrase pack is the generic pack plus phrases made deterministically from the
//! corpus's own words (one-, two- and three-word sequences spread over 40 intents, a few
//! negatable, a few regex patterns), so that it fires about as often as real rules would.
//! Each pack is measured as shipped (the generic pack extracts orders and products, the airline
//! pack airports and flights) and with its `[[entity]]` sections removed, which shows what
//! entity extraction costs and that packs without entities do not pay for it.
//! The learned packs (config/rules/*-learned.toml: generic, airline, banking77) are measured
//! as shipped. Memory is the heap the compiled classifier holds (a counting allocator around
//! the daemon's own, mimalloc: bytes allocated by `Classifier::compile` and not freed).
//! `OUTCRY_BENCH_PACKS=SUBSTRING` measures only the runs whose name contains it (for a profile).
//! Numbers are printed, never asserted.

use outcry::intent::{Classifier, RulePack};
use outcry::normalize::{matching_text, normalize, Limits};
use std::alloc::{GlobalAlloc, Layout};
use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The daemon's allocator (mimalloc, as in src/main.rs), counting the bytes in use: the bench
/// measures the allocator outcry runs with (until 2026-12-05 it wrapped glibc's malloc, which
/// made classification look ~10% slower than in the daemon).
struct Counting;
static IN_USE: AtomicUsize = AtomicUsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        IN_USE.fetch_add(l.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        IN_USE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        IN_USE.fetch_add(new, Ordering::Relaxed);
        IN_USE.fetch_sub(l.size(), Ordering::Relaxed);
        unsafe { mimalloc::MiMalloc.realloc(p, l, new) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

fn main() {
    let text = match std::env::var("OUTCRY_BENCH_CORPUS") {
        Ok(p) => std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")),
        Err(_) => outcry::demo::FEED.to_owned(),
    };
    let limits = Limits {
        max_payload_bytes: 1 << 20,
        max_future_skew_ms: 0,
    };
    // Far in the future, so that no event is refused for its time.
    let now_ms = 4_102_444_800_000;
    let texts: Vec<String> = outcry::demo::feed_lines(&text)
        .into_iter()
        .filter_map(|l| normalize(l.as_bytes(), None, &limits, now_ms).ok())
        .map(|e| e.text)
        .collect();
    assert!(!texts.is_empty(), "no texts in the corpus");

    let generic = RulePack::from_toml("default", include_str!("../config/rules/default.toml"))
        .expect("generic pack");
    let airline = RulePack::from_toml("airline", include_str!("../config/rules/airline.toml"))
        .expect("airline pack");
    let big = big_pack(&texts, &generic, 5_000);
    let learned = |name: &str, text: &str| RulePack::from_toml(name, text).expect(name);
    let generic_learned = learned("generic-learned", outcry::demo::RULES);
    let airline_learned = learned(
        "airline-learned",
        include_str!("../config/rules/airline-learned.toml"),
    );
    let banking_learned = learned(
        "banking77-learned",
        include_str!("../config/rules/banking77-learned.toml"),
    );

    println!(
        "{} texts, mean {} bytes; matching text alone {:.0} ns/text",
        texts.len(),
        texts.iter().map(String::len).sum::<usize>() / texts.len(),
        measure(&texts, |t| {
            std::hint::black_box(matching_text(t));
        })
    );
    println!("| pack | phrases | learned weights | patterns | entities | compile | memory | classify (matching text + classify) | analyze only |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let without = |packs: &[RulePack]| -> Vec<RulePack> {
        packs
            .iter()
            .cloned()
            .map(|mut p| {
                p.entities.clear();
                p
            })
            .collect()
    };
    let mut runs = Vec::new();
    for (name, packs) in [
        ("generic (config/rules/default.toml)", vec![generic.clone()]),
        ("airline (config/rules/airline.toml)", vec![airline]),
        (
            "generic + generated, 5,000 phrases",
            vec![generic.clone(), big],
        ),
        (
            "generic learned (config/rules/generic-learned.toml)",
            vec![generic_learned],
        ),
        (
            "airline learned (config/rules/airline-learned.toml)",
            vec![airline_learned],
        ),
        (
            "banking77 learned (config/rules/banking77-learned.toml)",
            vec![banking_learned],
        ),
    ] {
        runs.push((format!("{name}, no entities"), without(&packs)));
        runs.push((name.to_owned(), packs));
    }
    // OUTCRY_BENCH_PACKS=learned (say): only the runs whose name contains it, for a profile.
    let only = std::env::var("OUTCRY_BENCH_PACKS").unwrap_or_default();
    for (name, packs) in runs.into_iter().filter(|(n, _)| n.contains(&only)) {
        let before = IN_USE.load(Ordering::Relaxed);
        let t = Instant::now();
        let c = Classifier::compile(&packs).expect("compiles");
        let compile = t.elapsed();
        let memory = IN_USE.load(Ordering::Relaxed).saturating_sub(before);
        let full = measure(&texts, |t| {
            std::hint::black_box(c.classify(&matching_text(t)));
        });
        let prepared: Vec<String> = texts.iter().map(|t| matching_text(t)).collect();
        let analyze = measure(&prepared, |t| {
            std::hint::black_box(c.analyze(t));
        });
        println!(
            "| {name} | {} | {} | {} | {} | {:.1} ms | {:.1} MiB | {:.0} ns/text | {:.0} ns/text |",
            c.phrase_count,
            c.learned_count,
            c.pattern_count,
            c.entity_info().len(),
            compile.as_secs_f64() * 1e3,
            memory as f64 / (1024.0 * 1024.0),
            full,
            analyze
        );
    }
}

/// Mean ns per text over at least 3 s, after one warm-up pass.
fn measure(texts: &[String], mut f: impl FnMut(&str)) -> f64 {
    for t in texts {
        f(t);
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(3) {
        for t in texts {
            f(t);
        }
        n += texts.len() as u64;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// `total` phrases: the generic pack's, then word sequences of the corpus.
fn big_pack(texts: &[String], generic: &RulePack, total: usize) -> RulePack {
    let (have, _) = generic.counts();
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let generic_terms: BTreeSet<String> = generic
        .intents
        .iter()
        .flat_map(|i| i.groups().flat_map(|g| g.terms).collect::<Vec<_>>())
        .chain(
            generic
                .noise
                .all_categories()
                .into_iter()
                .flat_map(|c| c.groups().flat_map(|g| g.terms).collect::<Vec<_>>()),
        )
        .map(|t| outcry::intent::fold::fold_phrase(&t))
        .collect();
    let words: Vec<Vec<String>> = texts
        .iter()
        .map(|t| {
            matching_text(t)
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| w.len() > 2)
                .map(str::to_owned)
                .collect()
        })
        .collect();
    // Every third n-gram, 3-grams first, so that most phrases are rare, some common.
    'outer: for n in [3, 2, 1] {
        for (i, ws) in words.iter().enumerate() {
            for (j, win) in ws.windows(n).enumerate() {
                if (i + j) % 3 != 0 {
                    continue;
                }
                let p = outcry::intent::fold::fold_phrase(&win.join(" "));
                if !generic_terms.contains(&p) {
                    taken.insert(p);
                }
                if taken.len() + have >= total {
                    break 'outer;
                }
            }
        }
    }
    // A small corpus runs out of n-grams: pair its words until the pack is full.
    let vocab: Vec<&String> = words
        .iter()
        .flatten()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut k = 0usize;
    while taken.len() + have < total && !vocab.is_empty() && k < total * 50 {
        let a = vocab[k % vocab.len()];
        let b = vocab[(k + 1 + k / vocab.len()) % vocab.len()];
        k += 1;
        let p = outcry::intent::fold::fold_phrase(&format!("{a} {b}"));
        if a != b && !generic_terms.contains(&p) {
            taken.insert(p);
        }
    }
    let mut toml = String::from("name = \"generated\"\nversion = \"bench\"\n");
    toml.push_str("[negation]\n[[negation.cues]]\nterms = [\"not\", \"never\"]\n");
    let phrases: Vec<String> = taken.into_iter().collect();
    for (k, chunk) in phrases
        .chunks(phrases.len().div_ceil(40).max(1))
        .enumerate()
    {
        let quoted: Vec<String> = chunk.iter().map(|p| format!("{p:?}")).collect();
        let _ = write!(
            toml,
            "[[intent]]\nname = \"gen{k}\"\nseverity = {}\n[[intent.phrases]]\nweight = 1.5\nnegatable = {}\nterms = [{}]\n",
            k % 4,
            k % 5 == 0,
            quoted.join(", ")
        );
        if k % 8 == 0 {
            let _ = writeln!(toml, "patterns = ['\\b{}\\d+\\b']", k);
        }
    }
    RulePack::from_toml("generated", &toml).expect("generated pack")
}
