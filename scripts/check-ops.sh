#!/usr/bin/env bash
# Checks of the operations files: deploy/ (Kubernetes manifests, alerting rules) and dashboards/.
# Run by scripts/test.sh after `cargo test` (it reuses the debug build, target/debug/outcry);
# needs what scripts/install-test-deps.sh installs (prometheus/promtool, kubectl,
# kubernetes-validate, redis-server, tansu). About 20 s.
#   1. alerting rules: `promtool check rules`, `promtool test rules` (each alert fires and does
#      not), every alert covered by a test, and the PrometheusRule identical to the rules file;
#   2. metric names: every metric a dashboard or rule reads is in docs/metrics.md (or a listed
#      external one);
#   3. Kubernetes: every kustomize rendering (base, base + each component, each overlay) valid
#      against the Kubernetes and CRD schemas offline, the promised facts (probes, grace
#      period, requests, PDB, autoscaler and its sasl/tls...) hold, and its outcry.toml passes
#      `outcry check` with dummy files in place of the credentials Secret's;
#   4. the Dockerfile provides the shared libraries Cargo.toml's features link (OpenSSL...);
#   5. live: a real Prometheus scrapes a busy `outcry run` (Redis as the ACL user of
#      docs/security.md) and every dashboard query returns series, every rule evaluates.
# Usage: scripts/check-ops.sh [--no-live] [path/to/outcry]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH:$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
live=1
if [ "${1:-}" = "--no-live" ]; then live=0; shift; fi
OUTCRY=${1:-target/debug/outcry}
start=$(date +%s)

echo "==> alerting rules (deploy/prometheus)"
promtool check rules deploy/prometheus/outcry.rules.yml
promtool test rules deploy/prometheus/outcry.rules.test.yml
python3 - <<'PY'
import sys, yaml
rules = yaml.safe_load(open("deploy/prometheus/outcry.rules.yml"))
tests = yaml.safe_load(open("deploy/prometheus/outcry.rules.test.yml"))
alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
fires, quiet = set(), set()
for t in tests["tests"]:
    for a in t.get("alert_rule_test", []):
        (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
missing = sorted(f"{a}: no test where it {how}" for a in alerts
                 for how, seen in (("fires", fires), ("does not fire", quiet)) if a not in seen)
unknown = sorted((fires | quiet) - alerts)
for m in missing + [f"{a}: tested but not in the rules file" for a in unknown]:
    print(f"  - {m}")
if missing or unknown:
    sys.exit("FAIL: alert unit tests incomplete")
print(f"ok   each of the {len(alerts)} alerts has a test where it fires and one where it does not")
PY
python3 scripts/ops/prometheusrule.py

echo "==> metric names in dashboards and rules"
python3 scripts/ops/promql_checks.py names

echo "==> image (deploy/Dockerfile against Cargo.toml's features, by reading)"
python3 scripts/ops/check_dockerfile.py

echo "==> Kubernetes manifests (kustomize + schemas, offline)"
python3 scripts/ops/check_manifests.py --outcry "$OUTCRY"

if [ "$live" = 1 ]; then
    echo "==> dashboard queries against a live Prometheus and outcry"
    bash scripts/ops/live-prometheus.sh "$OUTCRY"
fi
echo "==> operations checks passed in $(( $(date +%s) - start )) s"
