#!/usr/bin/env python3
"""Checks of the PromQL in dashboards/*.json and deploy/prometheus/outcry.rules.yml.

    promql_checks.py names
        Every metric an expression reads must be one outcry exports (the table in
        docs/metrics.md; histograms also as _bucket/_sum/_count), or one of EXTERNAL below.
    promql_checks.py eval --prometheus http://127.0.0.1:9090
        Evaluates every dashboard query (each panel target's expr, and each query variable as
        `count by (label) (metric)`) through Prometheus' HTTP API and fails listing each one that
        returns no series (a series whose value is NaN, as histogram_quantile() gives over a
        histogram with no observations, is a result). Grafana's variables are replaced: $__rate_interval, $__interval and
        $__range by RATE_WINDOW; a query variable by its "All" value (allValue, else .*).
"""
import argparse
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs/metrics.md"
RULES = ROOT / "deploy/prometheus/outcry.rules.yml"
RATE_WINDOW = "1m"

# Metrics that are not outcry's, each with where it comes from.
EXTERNAL = {
    "up": "Prometheus, per scrape target",
}
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan", "le"}


def documented():
    names = set(re.findall(r"^\|\s*`([a-z_:][a-z0-9_:]*)`", DOCS.read_text(), re.M))
    if not names:
        sys.exit(f"no metric names found in {DOCS}")
    return names


def dashboards():
    return sorted((ROOT / "dashboards").glob("*.json"))


def panels(node):
    for p in node.get("panels", []):
        yield p
        yield from panels(p)  # rows keep collapsed panels inside


def variables(dash):
    out = {}
    for v in dash.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            out[v["name"]] = v.get("allValue") or ".*"
        elif v.get("type") in ("custom", "constant", "textbox"):
            cur = v.get("current", {}).get("value") or v.get("query", "")
            out[v["name"]] = cur if isinstance(cur, str) else ".*"
    return out


def substitute(expr, vars_):
    for g in ("__rate_interval", "__interval", "__range"):
        expr = expr.replace("${%s}" % g, RATE_WINDOW).replace("$" + g, RATE_WINDOW)
    for name in sorted(vars_, key=len, reverse=True):
        val = vars_[name]
        expr = expr.replace("${%s}" % name, val).replace("[[%s]]" % name, val)
        expr = re.sub(r"\$%s\b" % re.escape(name), val, expr)
    if "$" in expr:
        raise ValueError(f"unreplaced Grafana variable in {expr}")
    return expr


def dashboard_queries():
    """(where, expr) for every panel target and query variable of every dashboard."""
    out = []
    for path in dashboards():
        dash = json.loads(path.read_text())
        vars_ = variables(dash)
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") != "query":
                continue
            q = v.get("definition") or v.get("query", {})
            q = q.get("query", "") if isinstance(q, dict) else q
            m = re.fullmatch(r"\s*label_values\((.*),\s*([a-zA-Z_]\w*)\)\s*", q)
            if m:
                out.append((f"{path.name}: variable ${v['name']}",
                            substitute(f"count by ({m.group(2)}) ({m.group(1)})", vars_)))
            else:
                out.append((f"{path.name}: variable ${v['name']}", None))
        for p in panels(dash):
            for t in p.get("targets", []):
                if t.get("expr"):
                    where = f"{path.name}: panel \"{p.get('title')}\" ({t.get('refId', '?')})"
                    out.append((where, substitute(t["expr"], vars_)))
    return out


def rule_queries():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [(f"{RULES.name}: {r.get('alert') or r.get('record')}", r["expr"])
            for g in groups for r in g["rules"]]


def metric_names(expr):
    """Metric names an expression reads (identifiers that are not functions, labels, keywords)."""
    e = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)          # strings
    e = re.sub(r"\{[^}]*\}", "", e)                        # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                       # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        if m.group(2) or m.group(1).lower() in KEYWORDS:
            continue
        names.add(m.group(1))
    return names


def cmd_names():
    known = documented()
    problems, count = [], 0
    for where, expr in dashboard_queries() + rule_queries():
        if expr is None:
            problems.append(f"{where}: not a label_values() query, cannot be checked")
            continue
        for name in metric_names(expr):
            count += 1
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in known or base in known or name in EXTERNAL:
                continue
            problems.append(f"{where}: metric {name} is not in docs/metrics.md")
    for p in problems:
        print(f"  - {p}")
    if problems:
        print(f"FAIL: {len(problems)} unknown metric name(s)")
        return 1
    ext = ", ".join(f"{k} ({v})" for k, v in EXTERNAL.items())
    print(f"ok   {count} metric references in dashboards and rules are documented or external: {ext}")
    return 0


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
    except urllib.error.HTTPError as e:
        body = json.load(e)
    if body.get("status") != "success":
        return None, body.get("error", "query failed")
    return body["data"]["result"], None


def cmd_eval(base):
    problems, n = [], 0
    for where, expr in dashboard_queries():
        n += 1
        if expr is None:
            problems.append(f"{where}: not a label_values() query, cannot be evaluated")
            continue
        result, err = query(base, expr)
        if err:
            problems.append(f"{where}: error: {err}\n      {expr}")
        elif not result:
            problems.append(f"{where}: no series\n      {expr}")
    if problems:
        print(f"FAIL: {len(problems)} of {n} dashboard queries return nothing:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print(f"ok   all {n} dashboard queries return series")
    return 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("names")
    ev = sub.add_parser("eval")
    ev.add_argument("--prometheus", required=True)
    a = ap.parse_args()
    return cmd_names() if a.cmd == "names" else cmd_eval(a.prometheus.rstrip("/"))


if __name__ == "__main__":
    sys.exit(main())
