#!/usr/bin/env python3
"""Rebuild the shipped learned packs from the shared data, with `outcry learn`.

    python3 scripts/learn-packs.py ../shared/data [--outcry target/release/outcry]

- config/rules/airline-learned.toml from airline_dev.csv (config/learn/airline.toml): the
  negative reasons, praise (positive tweets without a reason) and the sentiment model.
- config/rules/banking77-learned.toml from banking77_train.csv (config/learn/banking77.toml).
- config/rules/generic-learned.toml, the generic customer-care pack (config/learn/generic.toml):
  our twcs hand labels (config/learn/twcs-labels.csv, ids only) joined to the twcs sample's
  text, airline_dev's reasons and sentiment, and a sample of banking77_train
  (scripts/packdata.py assembles the rows).

The airline data's substituted label strings ("Cancelled Flightled", "Late Flightr") are turned
back into the customer's words first, in a temporary file; the data itself is not copied into
the repository. `outcry learn` is deterministic: the same data gives the same pack (the header's
date aside).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
import packdata  # noqa: E402



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--outcry", default="target/release/outcry")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(args.data, "airline_dev.csv")
        # Keep the data file's name: the pack's header records it (and its hash, below).
        airline = os.path.join(tmp, "airline_dev.csv")
        with open(src, newline="", encoding="utf-8") as f, open(airline, "w", newline="", encoding="utf-8") as out:
            w = csv.writer(out)
            w.writerow(["text", "negativereason", "airline_sentiment"])
            for r in csv.DictReader(f):
                w.writerow([packdata.training_text(packdata.unsubstitute(r["text"])), r["negativereason"],
                            r["airline_sentiment"]])
        subprocess.run([args.outcry, "learn", airline, "--map", "config/learn/airline.toml",
                        "--out", "config/rules/airline-learned.toml"], check=True)
        subprocess.run([args.outcry, "learn", os.path.join(args.data, "banking77_train.csv"),
                        "--map", "config/learn/banking77.toml",
                        "--out", "config/rules/banking77-learned.toml"], check=True)
        generic = os.path.join(tmp, "generic-care.csv")
        packdata.write_generic(generic, packdata.generic_rows(args.data))
        subprocess.run([args.outcry, "learn", generic, "--map", "config/learn/generic.toml",
                        "--out", "config/rules/generic-learned.toml"], check=True)


if __name__ == "__main__":
    sys.exit(main())
