#!/usr/bin/env python3
"""Keeps deploy/kubernetes/base/prometheusrule.yaml (a PrometheusRule for the Prometheus
Operator) identical to deploy/prometheus/outcry.rules.yml (a plain Prometheus rules file).

    python3 scripts/ops/prometheusrule.py           # check: exit 1 when the groups differ
    python3 scripts/ops/prometheusrule.py --write   # regenerate the PrometheusRule

The rules file is the source; the comparison is on the parsed groups, so comments and layout
in the rules file do not matter.
"""
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/outcry.rules.yml"
OBJECT = ROOT / "deploy/kubernetes/base/prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/outcry.rules.yml by `python3 scripts/ops/prometheusrule.py
# --write`: edit that file, then regenerate (scripts/check-ops.sh fails while they differ).
# Every expression selects job="outcry" (the ServiceMonitor's job, named after the Service).
# deploy/README.md has a short runbook per alert. As with the ServiceMonitor, your Prometheus'
# ruleSelector must match this object's labels (kube-prometheus-stack: `release: <its release>`).
"""


class Dumper(yaml.SafeDumper):
    pass


def _str(dumper, value):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


Dumper.add_representer(str, _str)


def render(groups):
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "outcry",
            "labels": {
                "app.kubernetes.io/name": "outcry",
                "app.kubernetes.io/component": "worker",
            },
        },
        "spec": {"groups": groups},
    }
    body = yaml.dump(obj, Dumper=Dumper, sort_keys=False, width=1000, allow_unicode=True)
    return HEADER + body


def main():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    if "--write" in sys.argv[1:]:
        OBJECT.write_text(render(groups))
        print(f"wrote {OBJECT.relative_to(ROOT)}")
        return 0
    current = yaml.safe_load(OBJECT.read_text())
    if current.get("kind") != "PrometheusRule" or current["spec"]["groups"] != groups:
        print(
            f"{OBJECT.relative_to(ROOT)} differs from {RULES.relative_to(ROOT)}: "
            "run `python3 scripts/ops/prometheusrule.py --write`",
            file=sys.stderr,
        )
        return 1
    print(f"PrometheusRule groups are identical to {RULES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
