#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need when it is missing
# (scripts/install-test-deps.sh), then formatting, clippy with warnings as errors, and every test
# (unit, claim-store contract against a real redis-server, worker on librdkafka's mock cluster,
# end to end against the standalone tansu broker), then the operations checks of deploy/ and
# dashboards/ (scripts/check-ops.sh, on the debug binary cargo test built). `.ci/run` calls
# exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
start=$(date +%s)

bash scripts/install-test-deps.sh

echo "==> cargo fmt --check"
cargo fmt --all -- --check

echo "==> cargo clippy (warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

echo "==> cargo test"
cargo test --locked

# Alerting rules (promtool), Kubernetes manifests (offline schemas), and every dashboard query
# against a real Prometheus scraping a busy outcry; reuses target/debug/outcry.
cargo build --locked --quiet --bin outcry
bash scripts/check-ops.sh target/debug/outcry

# ---- fault-injection suite, CI form (scripts/chaos.sh, docs/reliability.md) -------------------
# tansu + redis-server + three workers under kill -9, SIGSTOP, SIGTERM, Redis kill -9/SIGTERM and
# poison, 8 faults of each kind over 20,000 events at 500/s (a backlog after each fault, several
# rebalances, fetches resumed inside record batches: what the 3,000-event short form never
# reached and the long form did); every input and feedback accounted. Reuses target/debug/outcry;
# about 2 minutes 10 s.
echo "==> fault-injection suite (CI form)"
bash scripts/chaos.sh --ci --outcry target/debug/outcry
# ---- end of the fault-injection suite ----------------------------------------------------------

echo "==> all tests passed in $(( $(date +%s) - start )) s"
