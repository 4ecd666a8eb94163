#!/usr/bin/env bash
# End-to-end benchmark: tansu + redis-server on free ports in a temp dir, N events made from real
# tweets (the Customer Support on Twitter sample), then, alternately per round, the rdkafka
# passthrough (target/release/outcry-passthrough), `outcry run` with 1 worker and with 2
# workers; then the latency at half the 1-worker rate. Prints a table; JSON results go to --out
# (default: the temp dir, which keeps the logs).
#
#   scripts/bench-e2e.sh --events 100000 --data /work/shared/data/twcs_sample.csv \
#       [--rounds 2] [--partitions 4] [--seed 15] [--out results.json] [--no-latency]
#
# `scripts/bench_e2e.py --help` lists every option. Needs: tansu 0.6.0 as scripts/tansu/build.sh
# builds it (an unpatched one loses events when a worker resumes mid-batch), redis-server,
# redis-cli, python3 with kafka-python and lz4 (scripts/install-test-deps.sh installs them).
# Every process it starts is stopped on exit, Ctrl-C included.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

case " $* " in
*" --help "* | *" -h "*) exec python3 scripts/bench_e2e.py --help ;;
esac

echo "==> cargo build --release (outcry, outcry-passthrough)" >&2
cargo build --release --locked --quiet --bin outcry --bin outcry-passthrough

pid=
# The Python driver stops what it started (atexit, SIGINT/SIGTERM); this trap makes sure it gets
# the signal when the shell is interrupted.
trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; wait "$pid" 2>/dev/null' INT TERM
python3 scripts/bench_e2e.py "$@" &
pid=$!
wait "$pid"
