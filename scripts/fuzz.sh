#!/usr/bin/env bash
# Fuzz the normalizer entry points for N seconds each (default 60), seeded from the fixtures
# and the sample feed: `scripts/fuzz.sh [SECONDS] [TARGET...]` (default: every target in
# fuzz/Cargo.toml). Installs cargo-fuzz and a nightly toolchain when missing. Prints the
# executions per target; exits non-zero on the first crash (its input is kept under
# fuzz/artifacts/<target>/).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(sed -n 's/^name = "\(normalize_[a-z]*\)"/\1/p' fuzz/Cargo.toml)
export PATH="$HOME/.cargo/bin:$PATH"
rustup run nightly rustc --version >/dev/null 2>&1 || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# --sanitizer none: safe Rust gains little from ASan, and ASan breaks the build of
# librdkafka's C dependencies (their configure checks link without its runtime).
echo "building the fuzz targets" >&2
cargo +nightly fuzz build --sanitizer none >/dev/null

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
find tests/fixtures -name '*.json' | while read -r f; do cp "$f" "$seeds/$(echo "$f" | tr / _)"; done
split -l 1 -a 4 config/sample/feed.jsonl "$seeds/feed-"
for target in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$target"
    cp -n "$seeds"/* "fuzz/corpus/$target/" 2>/dev/null || true
    log=$(mktemp)
    if ! cargo +nightly fuzz run --sanitizer none "$target" -- -max_total_time="$secs" -max_len=65536 >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target failed; a crashing input is under fuzz/artifacts/$target/" >&2
        exit 1
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    [ -n "$execs" ] || execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    printf '%-24s %12s executions in %ss\n' "$target" "$execs" "$secs"
    rm -f "$log"
done
