#!/usr/bin/env python3
"""Turn the Customer Support on Twitter CSV (../shared/data/twcs_sample.csv) into X API v2 tweet
events, one JSON object per line, for `outcry bench --corpus` and for replaying into a topic.

Only inbound rows (customers writing to brands) become events; reply threading is kept through
`referenced_tweets` and `conversation_id`. The CSV is read with a real CSV parser (texts hold
newlines). Usage:

    python3 scripts/twcs-to-jsonl.py ../shared/data/twcs_sample.csv > /tmp/twcs.jsonl
"""
import csv
import json
import sys
from datetime import datetime, timezone


def iso(created_at: str) -> str:
    # "Tue Oct 31 22:10:47 +0000 2017" -> "2017-10-31T22:10:47.000Z"
    try:
        t = datetime.strptime(created_at, "%a %b %d %H:%M:%S %z %Y")
        return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    except ValueError:
        return created_at


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    by_id = {r["tweet_id"]: r for r in rows}

    def parent_of(r):
        # The CSV writes ids in this column as floats ("1.0").
        return (r.get("in_response_to_tweet_id") or "").split(".")[0]

    def root(r):
        seen = set()
        while parent_of(r) in by_id and r["tweet_id"] not in seen:
            seen.add(r["tweet_id"])
            r = by_id[parent_of(r)]
        return r["tweet_id"]

    n = 0
    for r in rows:
        if (r.get("inbound") or "").strip() != "True" or not r.get("text"):
            continue
        data = {
            "id": r["tweet_id"],
            "text": r["text"],
            "author_id": r["author_id"],
            "created_at": iso(r["created_at"]),
            "conversation_id": root(r),
        }
        parent = parent_of(r)
        if parent:
            data["referenced_tweets"] = [{"type": "replied_to", "id": parent}]
        user = {"id": r["author_id"], "username": f"user{r['author_id']}", "name": f"User {r['author_id']}"}
        print(json.dumps({"data": data, "includes": {"users": [user]}}, ensure_ascii=False))
        n += 1
    print(f"{n} inbound tweets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
