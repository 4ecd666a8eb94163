#!/usr/bin/env bash
# Evaluates every dashboard query against a real Prometheus scraping a real, busy outcry:
#   redis-server and the tansu broker on free ports, the topics, `outcry run` (config/outcry.toml
#   pointed at them), a real Prometheus (Debian's package) scraping its /metrics every second
#   and loading deploy/prometheus/outcry.rules.yml, `outcry replay config/sample/feed.jsonl`,
#   then every panel query of dashboards/*.json through the HTTP API (promql_checks.py eval):
#   one that returns no series fails. Also fails when a rule does not evaluate cleanly.
# Redis runs with its default user off and one user, outcry, with exactly the ACL that
# docs/security.md gives (read from that page); outcry reads that user's name and password from
# files named by OUTCRY__REDIS__USERNAME_FILE / PASSWORD_FILE, and the check fails if any
# claim-store call was refused or failed. librdkafka reports statistics every second
# (statistics.interval.ms), so consumer lag per partition is exported quickly.
# Usage: scripts/ops/live-prometheus.sh [path/to/outcry]   (default target/debug/outcry)
# Every wait polls a condition under a deadline; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUTCRY=${1:-target/debug/outcry}
[ -x "$OUTCRY" ] || { echo "error: $OUTCRY not found: build it first (cargo build)" >&2; exit 1; }
for tool in redis-server tansu prometheus curl python3; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found (scripts/install-test-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d -t outcry-live-XXXXXX)
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$status" != 0 ]; then
        for log in "$work"/*.log; do
            [ -f "$log" ] || continue
            echo "---- $(basename "$log") (last 30 lines) ----" >&2
            tail -n 30 "$log" >&2
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2s until it succeeds.
wait_until() {
    local limit=$1 what=$2; shift 2
    local deadline=$(( $(date +%s) + limit ))
    until "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "error: timed out after ${limit}s waiting for $what" >&2; return 1
        fi
        sleep 0.2
    done
}
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
read -r redis_port kafka_port http_port prom_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks: s.close()')
bootstrap=127.0.0.1:$kafka_port
prom=http://127.0.0.1:$prom_port

# The Redis ACL of docs/security.md, with a password of this run's.
acl_line=$(grep -m1 -E '^ACL SETUSER outcry on >PASSWORD ' docs/security.md) \
    || { echo "error: no 'ACL SETUSER outcry on >PASSWORD …' line in docs/security.md" >&2; exit 1; }
read -ra acl <<<"${acl_line#ACL SETUSER outcry on >PASSWORD }"
redis_password=live-$$-$RANDOM
printf 'outcry\n' >"$work/redis-username"
printf '%s\n' "$redis_password" >"$work/redis-password"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" --user default off --user outcry on ">$redis_password" "${acl[@]}" \
    >"$work/redis.log" 2>&1 &
pids+=($!)
RUST_LOG=warn tansu broker --listener-url "tcp://$bootstrap" --advertised-listener-url "tcp://$bootstrap" \
    --storage-engine memory://tansu/ >"$work/tansu.log" 2>&1 &
pids+=($!)
wait_until 20 "redis-server on $redis_port" listening "$redis_port"
wait_until 20 "tansu on $kafka_port" listening "$kafka_port"

suffix=live$$
raw=social.raw.$suffix
topics=("$raw" "crm.customers.$suffix" "outcry.assignments.$suffix" "outcry.interactions.$suffix"
        "outcry.deadletter.$suffix" "helpdesk.feedback.$suffix" "outcry.alerts.$suffix")
for t in "${topics[@]}"; do
    parts=1; [ "$t" = "$raw" ] && parts=3
    tansu topic create --broker "tcp://$bootstrap" --partitions "$parts" "$t" >>"$work/tansu.log" 2>&1
done

export OUTCRY__KAFKA__BROKERS=$bootstrap OUTCRY__KAFKA__GROUP_ID=outcry-$suffix \
    OUTCRY__KAFKA__TOPICS__RAW=$raw OUTCRY__KAFKA__TOPICS__CUSTOMERS=crm.customers.$suffix \
    OUTCRY__KAFKA__TOPICS__ASSIGNMENTS=outcry.assignments.$suffix \
    OUTCRY__KAFKA__TOPICS__INTERACTIONS=outcry.interactions.$suffix \
    OUTCRY__KAFKA__TOPICS__DEADLETTER=outcry.deadletter.$suffix \
    OUTCRY__KAFKA__TOPICS__FEEDBACK=helpdesk.feedback.$suffix OUTCRY__KAFKA__TOPICS__ALERTS=outcry.alerts.$suffix \
    OUTCRY__REDIS__URL=redis://127.0.0.1:$redis_port OUTCRY__HTTP__LISTEN=127.0.0.1:$http_port \
    OUTCRY__REDIS__USERNAME_FILE=$work/redis-username OUTCRY__REDIS__PASSWORD_FILE=$work/redis-password
# (a name with dots is not a shell variable: env sets it)
stats='OUTCRY__KAFKA__CONSUMER__STATISTICS.INTERVAL.MS=1000'
env "$stats" "$OUTCRY" check --config config/outcry.toml >"$work/outcry-check.log" 2>&1
env "$stats" RUST_LOG=info "$OUTCRY" run --config config/outcry.toml >"$work/outcry.log" 2>&1 &
pids+=($!)

cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PWD/deploy/prometheus/outcry.rules.yml
scrape_configs:
  - job_name: outcry                     # the job the rules select
    static_configs:
      - targets: ["127.0.0.1:$http_port"]
        labels: {namespace: outcry-check, pod: outcry-0}   # as the Prometheus Operator adds
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

wait_until 60 "outcry /readyz" curl -fsS "http://127.0.0.1:$http_port/readyz"
wait_until 30 "Prometheus to be ready" curl -fsS "$prom/-/ready"
# has QUERY: the instant query returns at least one series.
has() {
    curl -fsS "$prom/api/v1/query" --data-urlencode "query=$1" \
        | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["data"]["result"] else 1)'
}
wait_until 30 "a first scrape of outcry" has 'up{job="outcry"} == 1'

events=$(grep -c . config/sample/feed.jsonl)
# The feed twice: the first time creates the series (a counter's first sample is not an
# increase), the second makes the rates non-zero (and exercises redelivered event ids). Each
# time, wait until Prometheus has scraped every event through the normalize stage.
for round in 1 2; do
    "$OUTCRY" replay config/sample/feed.jsonl --brokers "$bootstrap" --topic "$raw" >>"$work/replay.log" 2>&1
    wait_until 60 "Prometheus to see round $round of the feed ($events events) processed" \
        has "sum(outcry_stage_events_total{job=\"outcry\",stage=\"normalize\"}) >= $(( round * events ))"
done
# Consumer lag is exported once librdkafka has reported statistics; deriv() on the dashboard
# needs two samples of each partition within the 1m window.
wait_until 30 "consumer lag per partition (outcry_consumer_lag_messages) in Prometheus" \
    has 'min(count_over_time(outcry_consumer_lag_messages{job="outcry"}[1m])) >= 2'
# Redis as the ACL user of docs/security.md: every claim succeeded, no claim-store error.
if ! has 'sum(outcry_claim_store_errors_total{job="outcry"}) == 0 and sum(outcry_stage_events_total{job="outcry",stage="claim",outcome=~"new|attached|replayed"}) > 0'; then
    echo "FAIL: claim-store errors or no successful claim as the Redis ACL user of docs/security.md" >&2
    curl -fsS "$prom/api/v1/query" --data-urlencode 'query=outcry_claim_store_errors_total' >&2
    exit 1
fi
echo "ok   outcry ran as the Redis ACL user of docs/security.md (credentials from *_file keys): no claim-store error"
# Every rule group evaluated at least once, with no rule in error.
rules_ok() {
    curl -fsS "$prom/api/v1/rules" | python3 -c '
import json, sys
groups = json.load(sys.stdin)["data"]["groups"]
bad = [(r["name"], r.get("lastError")) for g in groups for r in g["rules"] if r.get("health") != "ok"]
sys.exit(0 if groups and not bad else 1)'
}
if ! wait_until 15 "every alerting rule to evaluate" rules_ok; then
    curl -fsS "$prom/api/v1/rules" | python3 -c '
import json, sys
for g in json.load(sys.stdin)["data"]["groups"]:
    for r in g["rules"]:
        if r.get("health") != "ok": print(f"  - {r[\"name\"]}: {r.get(\"health\")} {r.get(\"lastError\", \"\")}")' >&2
    exit 1
fi
echo "ok   Prometheus loaded deploy/prometheus/outcry.rules.yml; every rule evaluates"

python3 scripts/ops/promql_checks.py eval --prometheus "$prom"
