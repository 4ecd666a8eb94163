//! Fuzz the `canonical` adapter (selected by its `platform` header): it must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = outcry::normalize::normalize(
        data,
        Some("canonical"),
        &outcry::normalize::Limits::default(),
        1_795_564_800_000,
    );
});
