#!/usr/bin/env python3
"""Choose the generic pack's learning settings without the twcs tweets, then measure the choice.

    python3 scripts/select-generic.py ../shared/data select [--only NAME ...]
    python3 scripts/select-generic.py ../shared/data twcs --only current CHOSEN

`select`: leave one source out over the generic pack's two non-twcs training sources
(scripts/packdata.py, no twcs rows at all). For each setting of GRID, `outcry learn` trains the
generic pack (config/learn/generic.toml with the setting's [settings] keys replaced) on the
airline rows only and scores the banking77 sample, and on the banking77 sample only and scores
airline_dev. Scored: complaint F1 (a complaint: airline, a negative tweet; banking77, a query
the mapping sends to a problem intent; the pack's complaint, as in scripts/measure-packs.py: a
decided intent other than praise and sales, or negative sentiment). The two sources share no
intent, so intents are not scored across sources. Criterion: the mean of the two F1s; the
largest wins (within 0.0005 of the current setting's: the current setting).

`twcs`: scripts/measure-packs.py's cross-domain lines of the learned generic pack (leave one
industry of the labelled twcs tweets out — 600 of them when it was run; no twcs in training) for the named settings, in
one run. The peer is not run (its lines do not depend on these settings).

Run 2026-12-05 (12 settings): the criterion chose complaint_f1 (mean 0.7586; current 0.7496),
which measured worse on twcs than the current settings in the same run (complaint F1 held out
0.8011 vs 0.8133, no twcs 0.7956 vs 0.7978): nothing changed. As a diagnostic only (no choice
made from it), all 12 on twcs: the current setting is the best held out, and the criterion's
rank correlation with the twcs lines is negative (Spearman -0.51 held out, -0.41 no twcs): the
two non-twcs sources' shift (tweets vs bank queries) does not predict the shift to twcs.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
import packdata  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
MAP = os.path.join(ROOT, "config", "learn", "generic.toml")
sys.path.insert(0, os.path.dirname(__file__))
mp = __import__("measure-packs")  # noqa: E402  (classify, binary_f1, macro_f1, GENERIC_INTENTS)

# Each: [settings] keys replaced in config/learn/generic.toml (current: c 1, l2 0.5,
# sentiment_c 2, sentiment_l2 1, sentiment_calibration "negative_f1").
GRID = {
    "current": {},
    "sent_c1": {"sentiment_c": 1.0},
    "sent_c0.5": {"sentiment_c": 0.5},
    "sent_c4": {"sentiment_c": 4.0},
    "sent_l2_4": {"sentiment_l2": 4.0},
    "sent_c1_l2_4": {"sentiment_c": 1.0, "sentiment_l2": 4.0},
    "int_c0.5": {"c": 0.5},
    "int_c2": {"c": 2.0},
    "int_c0.5_sent_c1": {"c": 0.5, "sentiment_c": 1.0},
    "int_l2_2": {"l2": 2.0},
    "sent_c0.5_l2_4": {"sentiment_c": 0.5, "sentiment_l2": 4.0},
    "complaint_f1": {"sentiment_calibration": "complaint_f1", "not_complaints": ["praise", "sales"]},
}


def toml_value(v):
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def write_map(path, setting):
    text = open(MAP, encoding="utf-8").read()
    # The base pack, by absolute path (the map is written elsewhere).
    text = text.replace('base = "../rules/default.toml"',
                        f'base = "{os.path.join(ROOT, "config", "rules", "default.toml")}"')
    head, sep, settings = text.partition("\n[settings]\n")
    assert sep
    for k, v in setting.items():
        line = f"{k} = {toml_value(v)}"
        settings, n = re.subn(rf"(?m)^{k} = .*$", line, settings)
        if n == 0:
            settings += line + "\n"
    open(path, "w", encoding="utf-8").write(head + sep + settings)


def learn(outcry, rows, mapping, out):
    data = out + ".csv"
    packdata.write_generic(data, rows)
    subprocess.run(["nice", "-n", "10", outcry, "learn", data, "--map", mapping, "--out", out, "--quiet"],
                   check=True)


def view(res):
    d = res["decision"]
    intent = d["intent"] if d["kind"] == "intent" else None
    complaint = (intent is not None and intent not in mp.NOT_COMPLAINTS) or \
        res["analysis"]["sentiment"]["label"] == "negative"
    return (intent if intent in mp.GENERIC_INTENTS else ""), complaint


def prf(gold, pred):
    tp = sum(g and p for g, p in zip(gold, pred))
    return mp.binary_f1(gold, pred), tp / max(1, sum(pred)), tp / max(1, sum(gold))


def select(args, names, tmp, t0):
    airline = packdata.generic_rows(args.data, twcs=[], banking=False)
    banking = packdata.generic_rows(args.data, twcs=[], airline=False)
    problem = packdata.banking_problem_labels()
    # Texts as classified (with their @mentions), gold complaints.
    a_text = [r["text"] for r in packdata.airline_rows(args.data)]
    a_gold = [r["airline_sentiment"] == "negative" for r in packdata.airline_rows(args.data)]
    b_text = [r[0] for r in banking]
    b_gold = [r[1] in problem for r in banking]
    print("| setting | airline -> banking77 F1 (P / R) | banking77 -> airline F1 (P / R) | mean F1 |")
    print("|---|---|---|---|")
    scores = {}
    for name in names:
        mapping = os.path.join(tmp, f"{name}.map.toml")
        write_map(mapping, GRID[name])
        cells = []
        for train, texts, gold, tag in ((airline, b_text, b_gold, "a2b"), (banking, a_text, a_gold, "b2a")):
            pack = os.path.join(tmp, f"{name}-{tag}.toml")
            learn(args.outcry, train, mapping, pack)
            pred = [view(r)[1] for r in mp.classify(args.outcry, os.path.join(ROOT, "config", "outcry.toml"),
                                                     [pack], texts)]
            cells.append(prf(gold, pred))
        mean = (cells[0][0] + cells[1][0]) / 2
        scores[name] = mean
        print("| " + name + " | " + " | ".join(f"{f:.4f} ({p:.3f} / {r:.3f})" for f, p, r in cells)
              + f" | {mean:.4f} |", flush=True)
        print(f"{name} done ({time.time() - t0:.0f} s)", file=sys.stderr)
    best = max(scores, key=scores.get)
    if "current" in scores and scores[best] - scores["current"] < 0.0005:
        best = "current"
    print(f"\nchosen: {best} {GRID[best]}")


def twcs(args, names, tmp, t0):
    labels = mp.generic_labels()
    tw = packdata.twcs_labelled(args.data)
    gold_c = [t["complaint"] for t in tw]
    gold_i = [mp.twcs_gold_intent(t, labels) for t in tw]
    texts = [t["text"] for t in tw]
    industries = sorted({t["industry"] for t in tw})
    base = packdata.generic_rows(args.data, twcs=[])
    print("| setting, line | complaint F1 | precision | recall | intent macro-F1 |")
    print("|---|---|---|---|---|")
    for name in names:
        mapping = os.path.join(tmp, f"{name}.map.toml")
        write_map(mapping, GRID[name])

        def run(tag, rows, test_ix):
            pack = os.path.join(tmp, f"{name}-{tag}.toml")
            learn(args.outcry, rows, mapping, pack)
            return [view(r) for r in mp.classify(args.outcry, os.path.join(ROOT, "config", "outcry.toml"),
                                                  [pack], [texts[i] for i in test_ix])]
        lio = [None] * len(tw)
        for ind in industries:
            test_ix = [i for i, t in enumerate(tw) if t["industry"] == ind]
            rows = base + packdata.generic_rows(args.data, twcs=[t for t in tw if t["industry"] != ind],
                                                airline=False, banking=False)
            for j, p in zip(test_ix, run(ind, rows, test_ix)):
                lio[j] = p
        none = run("none", base, list(range(len(tw))))
        for line, preds in (("industry held out", lio), ("no twcs in training", none)):
            f, p, r = prf(gold_c, [x[1] for x in preds])
            im = mp.macro_f1(gold_i, [x[0] for x in preds], mp.GENERIC_INTENTS)
            print(f"| {name}, {line} | {f:.4f} | {p:.4f} | {r:.4f} | {im:.4f} |", flush=True)
        print(f"{name} done ({time.time() - t0:.0f} s)", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("phase", choices=["select", "twcs"])
    ap.add_argument("--outcry", default=os.path.join(ROOT, "target", "release", "outcry"))
    ap.add_argument("--only", nargs="*", help="settings of GRID (default: all)")
    args = ap.parse_args()
    args.data = os.path.abspath(args.data)
    names = args.only or list(GRID)
    os.chdir(ROOT)  # measure-packs reads config/learn/generic.toml relative to the repository
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        (select if args.phase == "select" else twcs)(args, names, tmp, t0)


if __name__ == "__main__":
    sys.exit(main())
