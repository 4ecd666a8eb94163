#!/usr/bin/env bash
# The fault-injection suite of the README's Guarantees section: tansu + redis-server (AOF) +
# three `outcry run` workers in one group, raw events and helpdesk feedback produced by
# kafka-python, workers killed (-9), paused (SIGSTOP past the session timeout), stopped
# (SIGTERM) and restarted, Redis killed (-9) and stopped (SIGTERM) and restarted on the same
# AOF, poison of every kind; then every output topic is accounted and the table printed.
# Exit code 1 if any check fails. docs/reliability.md explains the table.
#
#   scripts/chaos.sh --events 100000 --seed 7          # the long run (release build)
#   scripts/chaos.sh --ci                              # the form scripts/test.sh runs: 20000 events, seed 2
#   scripts/chaos.sh --short                           # a quick look: 3000 events, seed 1
#   scripts/chaos.sh --outcry target/debug/outcry ...  # use this binary, build nothing
#
# Every other flag goes to scripts/chaos.py (--rate, --faults-per-kind, --drain-timeout,
# --keep); `scripts/chaos.sh --help` lists them.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

outcry=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --outcry) outcry="$2"; shift 2 ;;
    --outcry=*) outcry="${1#*=}"; shift ;;
    --ci) args+=(--events 20000 --seed "${CHAOS_SEED:-2}"); shift ;;
    --short) args+=(--events 3000 --seed "${CHAOS_SEED:-1}" --rate 100 --faults-per-kind 1 --drain-timeout 100); shift ;;
    -h|--help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      echo
      python3 scripts/chaos.py --help
      exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done

if [[ -z "$outcry" ]]; then
  echo "==> cargo build --release --bin outcry"
  cargo build --release --locked --quiet --bin outcry
  outcry=target/release/outcry
fi
[[ -x "$outcry" ]] || { echo "no outcry binary at $outcry" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server missing: scripts/install-test-deps.sh installs it" >&2; exit 2; }
command -v tansu >/dev/null || { echo "tansu missing: scripts/install-test-deps.sh installs it" >&2; exit 2; }

# The driver starts every server in its own session and stops them itself; this trap is the
# backstop if the driver is killed: it ends the driver's process group only.
driver=""
cleanup() {
  if [[ -n "$driver" ]] && kill -0 "$driver" 2>/dev/null; then
    kill -TERM "$driver" 2>/dev/null || true
    wait "$driver" 2>/dev/null || true
  fi
}
trap cleanup EXIT INT TERM

python3 -u scripts/chaos.py --outcry "$(realpath "$outcry")" "${args[@]}" &
driver=$!
set +e
wait "$driver"
rc=$?
driver=""
exit $rc
