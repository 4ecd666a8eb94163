//! `cargo bench`: the matching stage beside JSON parsing alone, on the bundled sample feed
//! (or the JSONL file in OUTCRY_BENCH_CORPUS). Same code as `outcry bench`.

use outcry::demo;

/// The daemon's allocator (src/main.rs), so that the bench measures what `outcry run` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Duration;

fn main() {
    let loaded = demo::embedded_config().expect("bundled config");
    let text = match std::env::var("OUTCRY_BENCH_CORPUS") {
        Ok(p) => std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")),
        Err(_) => demo::FEED.to_owned(),
    };
    let events: Vec<Vec<u8>> = demo::feed_lines(&text)
        .into_iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
    let pipeline = loaded.pipeline();
    let results = outcry::bench::run(&pipeline, &loaded.index, &events, Duration::from_secs(3));
    print!("{}", outcry::bench::render(&results, events.len()));
    let stages = outcry::bench::stages(&pipeline, &loaded.index, &events);
    print!("{}", outcry::bench::render_stages(&stages));
    let outcomes = outcry::bench::outcomes(&pipeline, &loaded.index, &events);
    print!("{}", outcry::bench::render_outcomes(&outcomes));
}
