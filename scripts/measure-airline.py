#!/usr/bin/env python3
"""Measure the airline rule pack against the Twitter US Airline Sentiment data.

    python3 scripts/measure-airline.py ../shared/data/airline_dev.csv [--outcry target/release/outcry]
        [--pack config/rules/airline.toml] [--markdown]

Runs `outcry classify --json` on every tweet and prints precision and recall per class:
- the negative reasons (`negativereason`) against the intent the pack chose, through REASONS;
- `airline_sentiment` (negative/neutral/positive) against the lexicon's sentiment label.

The data's label strings were substituted into some tweets ("Cancel" became "Cancelled Flight",
"Late" became "Late Flight": "Cancelled Flightled", "Late Flightr"); they are turned back into
the customer's words before classifying, or the scores would be inflated. The data stays where
it is; nothing is copied into the repository.
"""
import argparse
import csv
import json
import subprocess
import sys
import tempfile

# negativereason -> the airline pack's intent
REASONS = {
    "Cancelled Flight": "cancellation",
    "Late Flight": "delay",
    "Lost Luggage": "baggage_lost",
    "Damaged Luggage": "baggage_damaged",
    "Flight Booking Problems": "booking",
    "Customer Service Issue": "service",
    "Flight Attendant Complaints": "crew",
    "Bad Flight": "bad_flight",
    "longlines": "queues",
}


def unsubstitute(text):
    # Case-sensitive, as the substitution was: "Cancelled Flightled" -> "Cancelled".
    return text.replace("Cancelled Flight", "Cancel").replace("Late Flight", "Late")


def pr(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    return p, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--outcry", default="target/release/outcry")
    ap.add_argument("--pack", default="config/rules/airline.toml")
    ap.add_argument("--config", default="config/outcry.toml")
    args = ap.parse_args()

    rows = list(csv.DictReader(open(args.csv, newline="", encoding="utf-8")))
    texts = [" ".join(unsubstitute(r["text"]).split()) for r in rows]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
        f.flush()
        out = subprocess.run(
            [args.outcry, "classify", "--config", args.config, "--pack", args.pack,
             "--file", f.name, "--json"],
            check=True, capture_output=True, text=True,
        ).stdout
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len(results) == len(rows), (len(results), len(rows))

    print(f"{len(rows)} tweets from {args.csv}; pack {args.pack}\n")
    print("Intent (the pack's decision) against negativereason, over all tweets:\n")
    print("| class | intent | support | predicted | precision | recall |")
    print("|---|---|---|---|---|---|")
    for reason, intent in REASONS.items():
        tp = fp = fn = 0
        for r, res in zip(rows, results):
            gold = r["negativereason"] == reason
            pred = res["decision"]["intent"] == intent
            tp += gold and pred
            fp += pred and not gold
            fn += gold and not pred
        p, rc = pr(tp, fp, fn)
        print(f"| {reason} | {intent} | {tp + fn} | {tp + fp} | {p:.2f} | {rc:.2f} |")
    # Any intent at all (not general/noise) vs a stated negative reason.
    tp = fp = fn = 0
    for r, res in zip(rows, results):
        gold = r["negativereason"] in REASONS
        pred = res["decision"]["kind"] == "intent" and res["decision"]["intent"] != "praise"
        tp += gold and pred
        fp += pred and not gold
        fn += gold and not pred
    p, rc = pr(tp, fp, fn)
    print(f"| any problem (reason given, not Can't Tell) | any intent but praise | {tp + fn} | {tp + fp} | {p:.2f} | {rc:.2f} |")

    print("\nSentiment (lexicon label) against airline_sentiment:\n")
    print("| class | support | predicted | precision | recall |")
    print("|---|---|---|---|---|")
    for label in ["negative", "neutral", "positive"]:
        tp = fp = fn = 0
        for r, res in zip(rows, results):
            gold = r["airline_sentiment"] == label
            pred = res["analysis"]["sentiment"]["label"] == label
            tp += gold and pred
            fp += pred and not gold
            fn += gold and not pred
        p, rc = pr(tp, fp, fn)
        print(f"| {label} | {tp + fn} | {tp + fp} | {p:.2f} | {rc:.2f} |")
    acc = sum(r["airline_sentiment"] == res["analysis"]["sentiment"]["label"]
              for r, res in zip(rows, results)) / len(rows)
    print(f"\nsentiment accuracy: {acc:.2f}")


if __name__ == "__main__":
    sys.exit(main())
