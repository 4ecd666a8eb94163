#!/usr/bin/env python3
"""How a fetch's cost grows with the batches stored in the partition, on a tansu binary.

Starts `TANSU broker --storage-engine memory://tansu/` on a free port, produces single-record
batches to a 1-partition topic, and at each checkpoint (1k, 10k, ... batches stored) times
fetches at an offset near the end of the partition: wall time per fetch (kafka-python, seek +
poll, fetch.max.wait.ms 0) and tansu's CPU time per fetch. Usage:

    python3 scripts/tansu/fetch-cost.py [--tansu PATH] [--batches 1000,10000,100000]

Needs kafka-python. Not part of the benchmark: the measure behind scripts/tansu/fetch-listing.patch.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tansu", default=shutil.which("tansu"))
    ap.add_argument("--batches", default="1000,10000,50000,100000",
                    help="checkpoints: batches stored when the fetches are timed")
    ap.add_argument("--fetches", type=int, default=300, help="fetches timed per checkpoint")
    args = ap.parse_args()
    checkpoints = [int(x) for x in args.batches.split(",")]

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(prefix="tansu-fetch-cost-", suffix=".log", delete=False)
    tansu = subprocess.Popen([args.tansu, "broker", "--listener-url", url,
                              "--advertised-listener-url", url,
                              "--storage-engine", "memory://tansu/"],
                             stdout=log, stderr=log, env=dict(os.environ, RUST_LOG="warn"))
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or tansu.poll() is not None:
                    sys.exit(f"tansu did not start; log: {log.name}")
                time.sleep(0.05)
        brokers = f"127.0.0.1:{port}"
        topic = "fetch-cost"
        admin = KafkaAdminClient(bootstrap_servers=brokers)
        admin.create_topics([NewTopic(topic, 1, 1)])
        admin.close()
        tp = TopicPartition(topic, 0)
        # batch_size=1: every record is a batch of its own (one record is larger than 1 byte).
        producer = KafkaProducer(bootstrap_servers=brokers, batch_size=1, linger_ms=0, acks=1)
        consumer = KafkaConsumer(bootstrap_servers=brokers, group_id=None,
                                 enable_auto_commit=False, fetch_max_wait_ms=0,
                                 max_partition_fetch_bytes=1024)
        consumer.assign([tp])
        print(f"tansu {args.tansu} (pid {tansu.pid}) on {brokers}")
        print(f"{'batches':>9} {'ms/fetch':>9} {'tansu cpu ms/fetch':>19}")
        stored = 0
        for n in checkpoints:
            while stored < n:
                producer.send(topic, b"x" * 100)
                stored += 1
                if stored % 5000 == 0:
                    producer.flush()
            producer.flush()
            # Warm up, then time seek + poll at the last records.
            times = []
            c0 = cpu_seconds(tansu.pid)
            for i in range(args.fetches + 20):
                t = time.perf_counter()
                consumer.seek(tp, n - 3)
                while not consumer.poll(timeout_ms=1000, max_records=1):
                    pass
                if i >= 20:
                    times.append(time.perf_counter() - t)
                if i == 19:
                    c0 = cpu_seconds(tansu.pid)
            cpu = cpu_seconds(tansu.pid) - c0
            times.sort()
            print(f"{n:>9} {times[len(times) // 2] * 1e3:>9.2f} "
                  f"{cpu * 1e3 / args.fetches:>19.2f}", flush=True)
        producer.close()
        consumer.close()
    finally:
        tansu.terminate()
        tansu.wait(timeout=10)


if __name__ == "__main__":
    main()
