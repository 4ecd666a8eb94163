#!/usr/bin/env bash
# Builds the standalone broker of the end-to-end suite and the benchmark: tansu 0.6.0 (the
# latest release) with the fixes in this folder (patches to the tansu-storage crate), and installs
# it as ~/.cargo/bin/tansu.
#
#   fetch-mid-batch.patch  tansu 0.6.0 answers a fetch at an offset inside a record batch with
#                          the batches *after* that batch, so a consumer that resumes there (a
#                          committed offset, after any rebalance or restart) silently skips the
#                          rest of the batch. Kafka returns the batch holding the offset and the
#                          client drops the records below it. Seen as lost events in two-worker
#                          benchmark runs (BENCHMARKS.md); tests/e2e.rs checks it.
#   fetch-advance.patch    tansu 0.6.0 serves a fetch in rounds and moved each round's start
#                          on by the records returned, as if the first batch began at the
#                          offset asked for. Since fetch-mid-batch it can begin before it, so a
#                          fetch from inside a batch (a committed offset after a rebalance) ran
#                          ahead by that distance and, when it took several rounds, skipped the
#                          batches in between; the client saw a gap and never read them. The
#                          long fault run's lost events (docs/reliability.md); reproduced by
#                          tests/e2e.rs. A round now starts where the last batch returned ends.
#   fetch-listing.patch    tansu 0.6.0 lists every stored batch of the partition on each fetch
#                          (an object-store list of its records/ folder), so a fetch costs
#                          O(batches stored): ~0.6 us a batch, 64 ms a fetch at 100k batches
#                          (scripts/tansu/fetch-cost.py), and the benchmark's latency p50 climbed
#                          as its topics grew. With memory storage (the only writer of its
#                          store), the store keeps the batches' base offsets per partition as it
#                          stores them and a fetch looks them up there. Other storage unchanged.
#   fetch-contiguous.patch tansu moves a partition's high watermark before it stores the batch,
#                          so with two produces in flight a fetch could find a later batch stored
#                          and an earlier one not yet, return the later one, and the client
#                          skipped the earlier one's records for good (found by reading its
#                          code while chasing events lost in the long fault run; not their
#                          cause, which fetch-advance fixes: docs/reliability.md). A fetch now
#                          returns only contiguous batches from the one holding its offset, and
#                          nothing when that one is not stored yet; the client asks again.
#
# The patches apply in the order of PATCHES below (each is made on the sources with the ones
# before it applied).
#
# The crates' sources come from the crates.io registry cargo uses (its index's `dl`), checked
# against the index's SHA-256. tansu's own Cargo.lock pins every other dependency. The build
# tree stays in ~/.cache/outcry-tansu, so building again is quick. About 10-15 minutes on
# 2 cores the first time. Usage: bash scripts/tansu/build.sh
set -euo pipefail

VERSION=0.6.0
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="${OUTCRY_TANSU_BUILD_DIR:-$HOME/.cache/outcry-tansu}"
BIN_DIR="${CARGO_HOME:-$HOME/.cargo}/bin"
INDEX="https://index.crates.io"
export PATH="$HOME/.cargo/bin:$PATH"

mkdir -p "$WORK"
DL=$(curl -sSf "$INDEX/config.json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["dl"])')

# fetch NAME: download NAME-VERSION.crate, check it, unpack a fresh copy into $WORK.
fetch() {
    local name=$1 url sum want
    if [[ $DL == *"{crate}"* || $DL == *"{version}"* ]]; then
        url=${DL//\{crate\}/$name}
        url=${url//\{version\}/$VERSION}
    else
        url="$DL/$name/$VERSION/download"
    fi
    want=$(curl -sSf "$INDEX/${name:0:2}/${name:2:2}/$name" | python3 -c '
import json, sys
v = sys.argv[1]
print(next(d["cksum"] for d in map(json.loads, sys.stdin) if d["vers"] == v))' "$VERSION")
    curl -sSfL -o "$WORK/$name-$VERSION.crate" "$url"
    sum=$(sha256sum "$WORK/$name-$VERSION.crate" | cut -d' ' -f1)
    if [ "$sum" != "$want" ]; then
        echo "error: $name-$VERSION.crate has SHA-256 $sum, the index says $want" >&2
        exit 1
    fi
    rm -rf "$WORK/$name-$VERSION"
    tar -xzf "$WORK/$name-$VERSION.crate" -C "$WORK"
}

echo "==> tansu $VERSION: sources from $DL"
fetch tansu
fetch tansu-storage
PATCHES=(fetch-mid-batch.patch fetch-advance.patch fetch-listing.patch fetch-contiguous.patch)
for p in "$HERE"/*.patch; do
    if [[ " ${PATCHES[*]} " != *" $(basename "$p") "* ]]; then
        echo "error: $p is not in build.sh's PATCHES (the order they apply in)" >&2
        exit 1
    fi
done
for name in "${PATCHES[@]}"; do
    p="$HERE/$name"
    if command -v patch >/dev/null; then
        patch -s -d "$WORK/tansu-storage-$VERSION" -p1 < "$p"
    else
        (cd "$WORK/tansu-storage-$VERSION" && git apply -p1 "$p")
    fi
done
cat >> "$WORK/tansu-$VERSION/Cargo.toml" <<EOF

[patch.crates-io]
tansu-storage = { path = "../tansu-storage-$VERSION" }
EOF

echo "==> building tansu $VERSION with scripts/tansu/*.patch (cargo build --release)"
CARGO_TARGET_DIR="$WORK/target" cargo build --release --quiet --features dynostore \
    --manifest-path "$WORK/tansu-$VERSION/Cargo.toml"
mkdir -p "$BIN_DIR"
install -m 755 "$WORK/target/release/tansu" "$BIN_DIR/tansu"
# What the installer checks: this build, with these patches.
cat "$HERE"/*.patch | sha256sum | cut -d' ' -f1 > "$BIN_DIR/.tansu-outcry-patches"
echo "==> installed $BIN_DIR/tansu ($("$BIN_DIR/tansu" --version))"
