#!/usr/bin/env python3
"""A Kafka client no one on the outcry team wrote (kafka-python, from PyPI), used by the
end-to-end test: it produces raw events into outcry's input topic and reads outcry's
assignment events back.

    kafka_python_client.py produce --bootstrap HOST:PORT --topic T FILE.jsonl
    kafka_python_client.py consume --bootstrap HOST:PORT --topic T --count N [--timeout S]

`consume` prints each message as one JSON line {"key":..,"headers":{..},"value":..} and exits
non-zero if fewer than N arrive before the timeout.
"""
import argparse
import json
import sys
import time

try:
    from kafka import KafkaConsumer, KafkaProducer
except ImportError:
    sys.exit("kafka-python is not installed: pip install kafka-python (scripts/test.sh does)")


def author_key(line):
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict):
        author = doc["data"].get("author_id")
        return author.encode() if isinstance(author, str) else None
    return None


def produce(args):
    producer = KafkaProducer(bootstrap_servers=args.bootstrap, acks="all")
    sent = 0
    with open(args.file, "rb") as f:
        for line in f:
            line = line.rstrip(b"\n")
            if not line.strip():
                continue
            producer.send(args.topic, value=line, key=author_key(line),
                          headers=[("platform", b"x")] if author_key(line) else [])
            sent += 1
    producer.flush(timeout=30)
    producer.close()
    print(f"produced {sent}", file=sys.stderr)


def consume(args):
    consumer = KafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    got = 0
    deadline = time.time() + args.timeout
    while got < args.count and time.time() < deadline:
        for msg in consumer:
            out = {
                "key": msg.key.decode() if msg.key else None,
                "headers": {k: v.decode() for k, v in (msg.headers or [])},
                "value": json.loads(msg.value),
            }
            print(json.dumps(out), flush=True)
            got += 1
            if got >= args.count:
                break
    consumer.close()
    if got < args.count:
        sys.exit(f"only {got} of {args.count} messages arrived within {args.timeout}s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("produce")
    pp.add_argument("--bootstrap", required=True)
    pp.add_argument("--topic", required=True)
    pp.add_argument("file")
    pc = sub.add_parser("consume")
    pc.add_argument("--bootstrap", required=True)
    pc.add_argument("--topic", required=True)
    pc.add_argument("--count", type=int, required=True)
    pc.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    produce(args) if args.cmd == "produce" else consume(args)


if __name__ == "__main__":
    main()
