#!/usr/bin/env python3
"""End-to-end benchmark of outcry against a real broker and Redis (run by scripts/bench-e2e.sh).

Starts tansu (memory storage) and redis-server (appendonly) on free ports in a temp dir, creates
the topics with `outcry topics`, preloads N events made from real tweets (the twcs sample, via
`outcry replay --write-jsonl`, authors rewritten: hot CRM customers plus unknown authors,
deterministic with --seed), then runs, alternately per round (A B C A B C):

  A  target/release/outcry-passthrough   consumer group -> 2 records out per event
  B  outcry run, 1 worker
  C  outcry run, 2 workers (one consumer group)

each with a fresh consumer group, Redis FLUSHALLed, and per-run output topics (deleted after the
run, so the in-memory broker does not grow). Then the latency runs, the same events at the same
rate (half the 1-worker rate, or --latency-rate) on fresh topics: first outcry-passthrough (the
broker's and the clients' share), then one `outcry run` worker; p50/p90/p99/max of (assignment
record timestamp - input record timestamp). Prints a table and writes JSON (--out, default
TMP/results.json).

Python 3 standard library plus kafka-python and lz4 (only for reading the latency topics).
"""

import argparse
import atexit
import glob
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
CHILDREN = []  # every process we started: killed on exit


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


def cleanup():
    for p in reversed(CHILDREN):
        if p.poll() is None:
            try:
                p.terminate()
            except OSError:
                pass
    deadline = time.time() + 10
    for p in reversed(CHILDREN):
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    CHILDREN.clear()


def on_signal(signum, _frame):
    # Once: a second signal (Ctrl-C also reaches the wrapper, which sends TERM) must not
    # interrupt the cleanup.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log(f"signal {signum}: stopping every process started")
    sys.exit(128 + signum)


def spawn(args, logfile, env=None, **kw):
    out = open(logfile, "ab")
    p = subprocess.Popen(args, stdout=kw.pop("stdout", out), stderr=kw.pop("stderr", out),
                         env=env, **kw)
    CHILDREN.append(p)
    return p


def forget(p):
    if p in CHILDREN:
        CHILDREN.remove(p)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, timeout, cond, proc=None):
    deadline = time.time() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            die(f"{what}: the process exited with {proc.returncode}")
        if time.time() > deadline:
            die(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def cpu_seconds(pid):
    """utime + stime of a live process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Redis:
    def __init__(self, port):
        self.port = port

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            die(f"redis-cli {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout

    def info(self):
        """used CPU (s), total commands, and calls per command (commandstats)."""
        text = self.cli("INFO", "all")
        vals, calls = {}, {}
        for line in text.splitlines():
            if line.startswith("cmdstat_"):
                name, rest = line[len("cmdstat_"):].split(":", 1)
                calls[name] = int(re.search(r"calls=(\d+)", rest).group(1))
            elif ":" in line:
                k, v = line.split(":", 1)
                vals[k] = v.strip()
        return {
            "cpu": float(vals["used_cpu_user"]) + float(vals["used_cpu_sys"]),
            "cpu_children": float(vals["used_cpu_user_children"])
            + float(vals["used_cpu_sys_children"]),
            "commands": int(vals["total_commands_processed"]),
            "calls": calls,
        }


def diff_info(before, after, events):
    calls = {k: after["calls"].get(k, 0) - before["calls"].get(k, 0) for k in after["calls"]}
    calls.pop("info", None)  # our own measurement
    calls = {k: v for k, v in calls.items() if v > 0}
    # total_commands_processed counts the INFO before; the INFO after is counted after it ran.
    commands = after["commands"] - before["commands"] - 1
    scripts = sum(v for k, v in calls.items() if k in ("eval", "evalsha", "fcall", "eval_ro",
                                                        "evalsha_ro", "fcall_ro"))
    return {
        "cpu_us_per_event": (after["cpu"] - before["cpu"]) * 1e6 / events,
        "cpu_children_s": after["cpu_children"] - before["cpu_children"],
        "commands_per_event": commands / events,
        "scripts_per_event": scripts / events,
        "calls_per_event": {k: round(v / events, 3) for k, v in
                            sorted(calls.items(), key=lambda kv: -kv[1])},
    }


def metrics(port):
    """Parse a Prometheus text page into {(name, frozenset(labels)): value}."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)", line)
        if not m:
            continue
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out


def finished_of(m):
    """Events of the raw topic decided by a worker: claimed (any outcome), dead-lettered before
    the claim, or noise. Together with outcry_inflight_events == 0: every output acknowledged."""
    n = 0.0
    for (name, labels), v in m.items():
        if name != "outcry_stage_events_total":
            continue
        d = dict(labels)
        stage, outcome = d.get("stage"), d.get("outcome")
        if stage == "claim" or (stage in ("normalize", "match") and outcome == "dead_letter") \
                or (stage == "classify" and outcome == "noise"):
            n += v
    return n


def metric_sum(m, name, **want):
    return sum(v for (n, labels), v in m.items()
               if n == name and all(dict(labels).get(k) == w for k, w in want.items()))


# ---------------------------------------------------------------------------------------------
# Events


def generate(args, tmp, outcry):
    base_file = os.path.join(tmp, "twcs.jsonl")
    r = subprocess.run([outcry, "replay", args.data, "--write-jsonl", base_file],
                       capture_output=True, text=True)
    if r.returncode != 0:
        die(f"outcry replay --write-jsonl: {r.stderr.strip()}")
    base = [json.loads(line) for line in open(base_file) if line.strip()]
    if not base:
        die(f"{args.data}: no inbound tweets")
    customers = []
    for line in open(os.path.join(REPO, "config/sample/customers.jsonl")):
        c = json.loads(line)
        for ident in c.get("identities", []):
            if ident["platform"] == "x":
                customers.append((ident["user_id"], ident.get("handle", ""), c["name"]))
    rng = random.Random(args.seed)
    rng.shuffle(customers)
    hot = customers[: args.hot_customers]
    # Zipf-like: the k-th hottest customer writes 1/k as often as the hottest.
    weights = [1.0 / (k + 1) for k in range(len(hot))]
    order = list(range(len(base)))
    rng.shuffle(order)
    unknown_authors = sorted({e["data"]["author_id"] for e in base})
    now_ms = int(time.time() * 1000)

    def make(i, id_base, start_ms):
        e = json.loads(json.dumps(base[order[i % len(order)]]))
        d = e["data"]
        d["id"] = str(id_base + i)
        t = start_ms + i
        d["created_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t / 1000)) \
            + f".{t % 1000:03d}Z"
        if rng.random() < args.hot_share:
            uid, handle, name = rng.choices(hot, weights)[0]
            user = {"id": uid, "username": handle, "name": name}
        else:
            uid = d["author_id"] if rng.random() < 0.5 else rng.choice(unknown_authors)
            user = {"id": uid, "username": f"user{uid}"}
        d["author_id"] = user["id"]
        e["includes"] = {"users": [user]}
        return json.dumps(e, separators=(",", ":"), ensure_ascii=False)

    events_file = os.path.join(tmp, "events.jsonl")
    with open(events_file, "w") as f:
        for i in range(args.events):
            f.write(make(i, 1_900_000_000_000_000_000, now_ms - args.events - 3_600_000) + "\n")
    latency_file = os.path.join(tmp, "latency.jsonl")
    # The latency run's rate is known only after the throughput runs: generate enough for
    # --latency-seconds at up to 10,000 events/s (or --latency-rate); main() takes what it needs.
    n_lat = 0 if args.no_latency else (args.latency_events or int(
        max(10_000, args.latency_rate or 0) * args.latency_seconds))
    with open(latency_file, "w") as f:
        for i in range(n_lat):
            f.write(make(i, 1_950_000_000_000_000_000, now_ms - n_lat - 60_000) + "\n")
    log(f"generated {args.events} events from {len(base)} inbound tweets "
        f"({args.hot_share:.0%} from {len(hot)} hot CRM customers, Zipf; the rest from "
        f"{len(unknown_authors)} unknown authors), {events_file}")
    return events_file, latency_file, len(base)


# ---------------------------------------------------------------------------------------------
# Config


def warn_unpatched_tansu(tansu):
    """scripts/tansu/build.sh keeps the hash of the patches it applied beside the binary; an
    unpatched tansu 0.6.0 skips the rest of a record batch when a consumer resumes inside one
    (a rebalance in a 2-worker run), so runs can stop short."""
    patches = sorted(glob.glob(os.path.join(REPO, "scripts", "tansu", "*.patch")))
    want = hashlib.sha256(b"".join(open(p, "rb").read() for p in patches)).hexdigest()
    try:
        have = open(os.path.join(os.path.dirname(tansu), ".tansu-outcry-patches")).read().strip()
    except OSError:
        have = None
    if have != want:
        log(f"warning: {tansu} is not the build of scripts/tansu/build.sh with the current "
            "patches (run scripts/install-test-deps.sh): a worker that resumes inside a record "
            "batch loses the rest of it on an unpatched tansu 0.6.0")


def write_config(tmp, name, brokers, redis_url, topics):
    text = open(os.path.join(REPO, "config/outcry.toml")).read()

    def sub(pattern, repl):
        nonlocal text
        text, n = re.subn(pattern, repl, text, count=1, flags=re.M)
        if n != 1:
            die(f"config/outcry.toml: no line matching {pattern!r} to rewrite")

    sub(r'^brokers = ".*?"', f'brokers = "{brokers}"')
    sub(r'^url = "redis://.*?"', f'url = "{redis_url}"')
    sub(r'^snapshot = ".*?"',
        f'snapshot = "{os.path.join(REPO, "config/sample/customers.jsonl")}"')
    # The shipped rule packs (config/outcry.toml names them relative to config/).
    shipped = re.search(r'(?m)^packs = \[(.*?)\]', text).group(1)
    packs = ", ".join(json.dumps(os.path.join(REPO, "config", n.strip().strip('"')))
                      for n in shipped.split(",") if n.strip())
    sub(r'^packs = \[.*?\]', f'packs = [{packs}]')
    for key, value in topics.items():
        sub(rf'^{key} = ".*?"', f'{key} = "{value}"')
    # tansu 0.6.0 holds every fetch for fetch.wait.max.ms (librdkafka: 500 ms) even when data
    # is waiting, which Apache Kafka does not: without this the runs measure tansu's wait.
    # The passthrough reads the same file, so both run with it. The latency runs override it
    # (--latency-fetch-wait-ms, Bench.latency_env). tansu-only: not a setting for real Kafka.
    sub(r'^\[kafka\.consumer\]$', '[kafka.consumer]\n"fetch.wait.max.ms" = 10')
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_checked(args, what, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        die(f"{what} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return r.stdout


# ---------------------------------------------------------------------------------------------
# Runs


class Bench:
    def __init__(self, args, tmp, bins, brokers, tansu, redis, config):
        self.args, self.tmp, self.bins = args, tmp, bins
        self.brokers, self.tansu, self.redis, self.config = brokers, tansu, redis, config
        self.runs = []

    def output_topics(self, tag):
        return {"assignments": f"outcry.assignments.{tag}",
                "interactions": f"outcry.interactions.{tag}",
                "deadletter": f"outcry.deadletter.{tag}",
                "alerts": f"outcry.alerts.{tag}"}

    def env_for(self, group, http_port, topics):
        env = dict(os.environ)
        env.update({
            "OUTCRY__KAFKA__GROUP_ID": group,
            "OUTCRY__HTTP__LISTEN": f"127.0.0.1:{http_port}" if http_port else "",
            "RUST_LOG": "info,librdkafka=warn,rdkafka=warn",
        })
        for k, v in topics.items():
            env[f"OUTCRY__KAFKA__TOPICS__{k.upper()}"] = v
        return env

    def create_output_topics(self, topics):
        env = dict(os.environ)
        for k, v in topics.items():
            env[f"OUTCRY__KAFKA__TOPICS__{k.upper()}"] = v
        run_checked([self.bins["outcry"], "topics", "--config", self.config, "--partitions",
                     str(self.args.partitions)], "outcry topics (per-run outputs)", env=env)

    def delete_topics(self, names):
        # kafka-python's admin client: the broker keeps every record in memory otherwise.
        try:
            from kafka.admin import KafkaAdminClient
            a = KafkaAdminClient(bootstrap_servers=self.brokers, request_timeout_ms=30000)
            a.delete_topics(list(names), timeout_ms=30000)
            a.close()
        except Exception as e:  # noqa: BLE001 - a leftover topic only costs memory
            log(f"warning: could not delete {', '.join(names)}: {e}")

    def passthrough(self, label):
        n = self.args.events
        group = f"bench-{label}-{time.time_ns()}"
        topics = self.output_topics(label)
        self.create_output_topics(topics)
        env = self.env_for(group, None, topics)
        logf = os.path.join(self.tmp, f"{label}.log")
        before_redis = self.redis.info()
        p = spawn([self.bins["passthrough"], "--config", self.config, "--events", str(n),
                   "--json", "--idle", "60s"], logf, env=env, stdout=subprocess.PIPE,
                  stderr=subprocess.PIPE)
        first = {}

        def watch_stderr():
            with open(logf, "ab") as out:
                for line in p.stderr:
                    out.write(line)
                    out.flush()
                    if b"first message read" in line and not first:
                        first["cpu"] = cpu_seconds(p.pid)
                        first["tansu"] = cpu_seconds(self.tansu.pid)
                    elif b"finished" in line:
                        log(f"  {label}: {line.decode().strip()}")

        t = threading.Thread(target=watch_stderr, daemon=True)
        t.start()
        watchdog = threading.Timer(self.args.run_timeout, p.kill)
        watchdog.start()
        stdout = p.stdout.read()
        _, status, ru = os.wait4(p.pid, 0)
        watchdog.cancel()
        p.returncode = os.waitstatus_to_exitcode(status)
        tansu_end = cpu_seconds(self.tansu.pid)
        t.join(5)
        forget(p)
        if p.returncode != 0 or not first:
            die(f"{label}: the passthrough failed ({p.returncode}); log: {logf}")
        res = json.loads(stdout.decode().strip().splitlines()[-1])
        events = res["events"]
        if events < n:
            die(f"{label}: the passthrough finished {events} of {n} events; log: {logf}")
        cpu = ru.ru_utime + ru.ru_stime - first["cpu"]
        r = {
            "run": label, "kind": "passthrough", "workers": 1, "events": events,
            "seconds": res["seconds"], "events_per_s": res["events_per_s"],
            "process_cpu_us_per_event": cpu * 1e6 / events,
            "broker_cpu_us_per_event": (tansu_end - first["tansu"]) * 1e6 / events,
            "redis": diff_info(before_redis, self.redis.info(), events),
        }
        self.delete_topics(topics.values())
        return r

    def outcry(self, label, workers):
        n = self.args.events
        self.redis.cli("FLUSHALL")
        group = f"bench-{label}-{time.time_ns()}"
        topics = self.output_topics(label)
        self.create_output_topics(topics)
        ports = [free_port() for _ in range(workers)]
        before_redis = self.redis.info()
        procs = []
        for i, port in enumerate(ports):
            logf = os.path.join(self.tmp, f"{label}-w{i}.log")
            procs.append(spawn([self.bins["outcry"], "run", "--config", self.config], logf,
                               env=self.env_for(group, port, topics)))
        t0 = c0 = cpu0 = tansu0 = None
        last_progress = time.time()
        deadline = time.time() + self.args.run_timeout
        while True:
            for p in procs:
                if p.poll() is not None:
                    die(f"{label}: outcry run exited with {p.returncode}; logs in {self.tmp}")
            ms = [metrics(port) for port in ports]
            if any(m is None for m in ms):
                time.sleep(0.05)
                continue
            done = sum(finished_of(m) for m in ms)
            inflight = sum(metric_sum(m, "outcry_inflight_events") for m in ms)
            now = time.time()
            if t0 is None and done > 0:
                # First consumption seen: CPU from here on is the events' cost.
                t0, c0 = now, done
                cpu0 = sum(cpu_seconds(p.pid) for p in procs)
                tansu0 = cpu_seconds(self.tansu.pid)
            if done >= n and inflight == 0:
                t1 = now
                cpu1 = sum(cpu_seconds(p.pid) for p in procs)
                tansu1 = cpu_seconds(self.tansu.pid)
                break
            if now - last_progress >= 5:
                last_progress = now
                rate = (done - c0) / (now - t0) if t0 and now > t0 else 0
                log(f"  {label}: {int(done)}/{n} finished ({rate:.0f} events/s)")
            if now > deadline:
                die(f"{label}: {int(done)} of {n} events after {self.args.run_timeout} s; "
                    f"logs in {self.tmp}")
            time.sleep(0.05)
        after_redis = self.redis.info()
        outcomes = {}
        for m in ms:
            for (name, labels), v in m.items():
                d = dict(labels)
                if name == "outcry_stage_events_total" and d.get("stage") in ("claim", "classify") \
                        or (name == "outcry_stage_events_total" and d.get("outcome") == "dead_letter"):
                    key = f"{d['stage']}:{d['outcome']}"
                    outcomes[key] = outcomes.get(key, 0) + int(v)
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                die(f"{label}: outcry run did not stop within 40 s of SIGTERM")
            forget(p)
            if p.returncode != 0:
                log(f"warning: {label}: outcry run exited with {p.returncode} after SIGTERM")
        events = n - c0
        self.delete_topics(topics.values())
        return {
            "run": label, "kind": "outcry", "workers": workers, "events": n,
            "seconds": t1 - t0, "events_per_s": events / (t1 - t0),
            "process_cpu_us_per_event": (cpu1 - cpu0) * 1e6 / events,
            "broker_cpu_us_per_event": (tansu1 - tansu0) * 1e6 / events,
            "redis": diff_info(before_redis, after_redis, n),
            "outcomes": outcomes,
            "events_before_first_poll": int(c0),
        }

    def replay_at(self, rate, latency_file, n_lat, topic, env, tag):
        """Produce the first n_lat events of latency_file to `topic` at `rate` (outcry replay,
        the worker's producer settings). Returns the replayer's process."""
        seconds = n_lat / rate
        log(f"latency ({tag}): producing {n_lat} events at {rate:.0f} events/s ({seconds:.0f} s)")
        lines = os.path.join(self.tmp, f"latency-{tag}.jsonl")
        with open(latency_file) as src, open(lines, "w") as dst:
            for i, line in enumerate(src):
                if i >= n_lat:
                    break
                dst.write(line)
        return spawn([self.bins["outcry"], "replay", lines, "--config", self.config,
                      "--topic", topic, "--rate", f"{rate:.3f}"],
                     os.path.join(self.tmp, f"latency-{tag}-replay.log"), env=env)

    def latency_env(self, env):
        """tansu-only: tansu 0.6.0 answers every fetch after fetch.wait.max.ms, data or not
        (Apache Kafka answers as soon as fetch.min.bytes are there), so that wait is in every
        record's trip; the latency runs use a shorter one than the throughput runs' 10 ms."""
        env["OUTCRY__KAFKA__CONSUMER__FETCH.WAIT.MAX.MS"] = str(self.args.latency_fetch_wait_ms)
        return env

    def latency_passthrough(self, rate, latency_file, n_lat):
        """The passthrough at the same rate on its own topics: the broker's and the clients'
        share of the latency (consume, produce, acknowledge; no processing)."""
        tag = "passthrough"
        label = f"latency-{tag}"
        topics = {"raw": f"social.raw.{label}", **self.output_topics(label)}
        self.create_output_topics(topics)
        env = self.latency_env(self.env_for(f"bench-{label}-{time.time_ns()}", None, topics))
        logf = os.path.join(self.tmp, f"{label}.log")
        p = spawn([self.bins["passthrough"], "--config", self.config, "--events", str(n_lat),
                   "--json", "--idle", "60s"], logf, env=env, stdout=subprocess.PIPE)
        # No readiness endpoint: give the group join the same time the worker gets after
        # /readyz (subscribed) plus its settle.
        time.sleep(self.args.settle + 1)
        if p.poll() is not None:
            die(f"{label}: the passthrough exited with {p.returncode}; log: {logf}")
        replay = self.replay_at(rate, latency_file, n_lat, topics["raw"], env, tag)
        try:
            stdout, _ = p.communicate(timeout=n_lat / rate + self.args.run_timeout)
        except subprocess.TimeoutExpired:
            die(f"{label}: not every event finished in time; log: {logf}")
        forget(p)
        replay.wait()
        forget(replay)
        if replay.returncode != 0 or p.returncode != 0:
            die(f"{label}: replay ({replay.returncode}) or passthrough ({p.returncode}) failed; "
                f"logs in {self.tmp}")
        res = json.loads(stdout.decode().strip().splitlines()[-1])
        if res["events"] < n_lat:
            die(f"{label}: the passthrough finished {res['events']} of {n_lat} events")
        return self.latency_result(tag, rate, n_lat, topics)

    def latency(self, rate, latency_file, n_lat):
        """One worker; events produced at `rate` on their own topics; assignment record time
        minus input record time."""
        tag = "outcry"
        label = "latency"
        self.redis.cli("FLUSHALL")
        topics = {"raw": "social.raw.latency", **self.output_topics(label)}
        self.create_output_topics(topics)
        port = free_port()
        group = f"bench-latency-{time.time_ns()}"
        env = self.latency_env(self.env_for(group, port, topics))
        p = spawn([self.bins["outcry"], "run", "--config", self.config],
                  os.path.join(self.tmp, "latency-w0.log"), env=env)

        def ready():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_for("the latency worker to be ready", 60, ready, p)
        # Ready means subscribed; the group join and assignment take a moment more.
        time.sleep(self.args.settle)
        replay = self.replay_at(rate, latency_file, n_lat, topics["raw"], env, tag)
        deadline = time.time() + n_lat / rate + self.args.run_timeout
        while True:
            m = metrics(port)
            if m and finished_of(m) >= n_lat and metric_sum(m, "outcry_inflight_events") == 0:
                break
            if p.poll() is not None:
                die(f"latency: outcry run exited with {p.returncode}")
            if time.time() > deadline:
                die("latency: not every event finished in time")
            time.sleep(0.2)
        # For looking into where the time went: the worker's metrics, Redis' per-command times.
        with open(os.path.join(self.tmp, "latency-metrics.txt"), "w") as f:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                f.write(r.read().decode())
            f.write("# redis-cli INFO commandstats\n")
            f.write("".join(f"# {line}\n" for line in
                            self.redis.cli("INFO", "commandstats").splitlines()))
        replay.wait()
        forget(replay)
        if replay.returncode != 0:
            die("latency: outcry replay failed; see latency-outcry-replay.log")
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=40)
        forget(p)
        return self.latency_result(tag, rate, n_lat, topics)

    def latency_result(self, tag, rate, n_lat, topics):
        lat, ts_types = self.read_latencies(topics, n_lat)
        self.delete_topics(list(topics.values()))
        if not lat:
            die(f"latency ({tag}): no assignment matched an input record")
        # The first moments of a fresh topic measure start-up (the consumer's first fetches of
        # partitions that were empty, the producers' first requests), not the steady state.
        all_max = max(x for _, x in lat)
        start = lat[0][0] + self.args.latency_warmup * 1000
        warm = [(t, x) for t, x in lat if t < start]
        lat = [(t, x) for t, x in lat if t >= start] or lat
        # In input order: p50 per fifth of the run shows a backlog building (rising) apart
        # from a steady delay (flat).
        fifths = []
        for k in range(5):
            part = sorted(x for _, x in lat[k * len(lat) // 5:(k + 1) * len(lat) // 5])
            fifths.append(part[len(part) // 2] if part else None)
        lat = sorted(x for _, x in lat)

        def q(x):
            return lat[min(len(lat) - 1, int(x * len(lat)))]

        return {"of": tag, "rate": rate, "events": n_lat, "assignments": len(lat),
                "fetch_wait_max_ms": self.args.latency_fetch_wait_ms,
                "p50_ms": q(0.50), "p90_ms": q(0.90), "p99_ms": q(0.99), "max_ms": lat[-1],
                "p50_ms_by_fifth": fifths, "timestamp_types": ts_types,
                "warmup_s": self.args.latency_warmup, "warmup_events": len(warm),
                "max_ms_including_warmup": all_max}

    def read_latencies(self, topics, n_lat):
        """(input timestamp, assignment timestamp - input timestamp) of every assignment of an
        input record, in input order. outcry's assignments name their source; the
        passthrough's are the input payload itself."""
        from kafka import KafkaConsumer, TopicPartition

        def read_all(topic):
            c = KafkaConsumer(bootstrap_servers=self.brokers, enable_auto_commit=False,
                              group_id=None, consumer_timeout_ms=3000,
                              auto_offset_reset="earliest")
            parts = c.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            c.assign(tps)
            c.seek_to_beginning(*tps)
            out = list(c)
            c.close()
            return out

        raw = {(r.partition, r.offset): r for r in read_all(topics["raw"])}
        by_value = {r.value: r for r in raw.values()}
        types = {"input": sorted({r.timestamp_type for r in raw.values()})}
        lat = []
        out_types = set()
        for r in read_all(topics["assignments"]):
            out_types.add(r.timestamp_type)
            inp = by_value.get(r.value)
            if inp is None:
                try:
                    src = json.loads(r.value)["source"]
                except (ValueError, KeyError, TypeError):
                    continue
                if src.get("topic") != topics["raw"]:
                    continue  # e.g. an incident's own assignment
                inp = raw.get((src["partition"], src["offset"]))
            if inp is not None:
                lat.append((inp.timestamp, r.timestamp - inp.timestamp))
        lat.sort()
        types["assignments"] = sorted(out_types)
        names = {0: "CreateTime", 1: "LogAppendTime"}
        return lat, {k: [names.get(t, str(t)) for t in v] for k, v in types.items()}


def latency_rate_given(args):
    return args.latency_rate is not None


def table(runs, latency, args):
    rows = []
    by = {}
    for r in runs:
        by.setdefault((r["kind"], r["workers"]), []).append(r)
    pt = by.get(("passthrough", 1), [])
    pt_rate = sum(r["events_per_s"] for r in pt) / len(pt) if pt else None
    head = (f"{'run':<16}{'events/s':>10}{'x pass':>8}{'cpu us/ev':>11}{'broker us/ev':>14}"
            f"{'redis us/ev':>13}{'redis cmd/ev':>14}{'scripts/ev':>12}")
    rows.append(head)
    rows.append("-" * len(head))
    for r in runs:
        name = r["run"]
        ratio = r["events_per_s"] / pt_rate if pt_rate else float("nan")
        rows.append(f"{name:<16}{r['events_per_s']:>10.0f}{ratio:>8.2f}"
                    f"{r['process_cpu_us_per_event']:>11.1f}{r['broker_cpu_us_per_event']:>14.1f}"
                    f"{r['redis']['cpu_us_per_event']:>13.1f}"
                    f"{r['redis']['commands_per_event']:>14.2f}"
                    f"{r['redis']['scripts_per_event']:>12.2f}")
    rows.append("-" * len(head))
    for (kind, w), rs in sorted(by.items()):
        name = "passthrough" if kind == "passthrough" else f"outcry x{w}"
        mean = lambda f: sum(f(r) for r in rs) / len(rs)  # noqa: E731
        rate = mean(lambda r: r["events_per_s"])
        ratio = rate / pt_rate if pt_rate else float("nan")
        rows.append(f"{'mean ' + name:<16}{rate:>10.0f}{ratio:>8.2f}"
                    f"{mean(lambda r: r['process_cpu_us_per_event']):>11.1f}"
                    f"{mean(lambda r: r['broker_cpu_us_per_event']):>14.1f}"
                    f"{mean(lambda r: r['redis']['cpu_us_per_event']):>13.1f}"
                    f"{mean(lambda r: r['redis']['commands_per_event']):>14.2f}"
                    f"{mean(lambda r: r['redis']['scripts_per_event']):>12.2f}")
    if latency:
        first = latency[0]
        why = "" if latency_rate_given(args) else " (half the 1-worker rate)"
        rows.append(f"latency at {first['rate']:.0f} events/s{why}, {first['events']} events, "
                    f"fetch.wait.max.ms {args.latency_fetch_wait_ms}, input record to "
                    f"assignment record (timestamps: {first['timestamp_types']}):")
        for lt in latency:
            fifths = " ".join("-" if x is None else str(x) for x in lt["p50_ms_by_fifth"])
            rows.append(f"  {lt['of']:<12} p50 {lt['p50_ms']:>5} ms  p90 {lt['p90_ms']:>5} ms  "
                        f"p99 {lt['p99_ms']:>5} ms  max {lt['max_ms']:>5} ms  "
                        f"({lt['assignments']} assignments after the first {lt['warmup_s']:g} s; "
                        f"p50 per fifth of the run: {fifths}; max with them: "
                        f"{lt['max_ms_including_warmup']} ms)")
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=100_000, help="events preloaded (N)")
    ap.add_argument("--data", required=True, help="twcs_sample.csv (Customer Support on Twitter)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds of passthrough, 1, 2 workers")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--hot-customers", type=int, default=30,
                    help="CRM customers (with an X identity) who write most")
    ap.add_argument("--hot-share", type=float, default=0.6,
                    help="share of events from hot customers; the rest from unknown authors")
    ap.add_argument("--latency-events", type=int, default=0,
                    help="events of the latency run (default: 20 s at half the 1-worker rate)")
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--latency-fetch-wait-ms", type=int, default=2,
                    help="fetch.wait.max.ms of the latency runs' consumers (tansu-only: tansu "
                    "holds every fetch this long; the throughput runs use 10)")
    ap.add_argument("--latency-warmup", type=float, default=2.0,
                    help="seconds at the start of each latency run left out of its percentiles "
                    "(start-up on fresh topics; their max is printed apart)")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--latency-rate", type=float,
                    help="events/s of the latency runs (default: half the mean 1-worker rate); "
                    "with --rounds 0, only the latency runs")
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds between the latency worker's readiness and the first event")
    ap.add_argument("--run-timeout", type=float, default=1800.0)
    ap.add_argument("--appendfsync", default="everysec", choices=["always", "everysec", "no"])
    ap.add_argument("--out", help="JSON results (default: TMP/results.json)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the generated events and Redis' files too (logs and results "
                    "are always kept)")
    ap.add_argument("--bin-dir", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.join(REPO, "target"), "release"),
        help="where outcry and outcry-passthrough are (default: $CARGO_TARGET_DIR/release, "
        "else target/release)")
    ap.add_argument("--tansu", default=shutil.which("tansu")
                    or os.path.expanduser("~/.cargo/bin/tansu"))
    args = ap.parse_args()
    if args.events < 1 or args.rounds < 0 or args.partitions < 1:
        die("--events and --partitions must be at least 1, --rounds at least 0")
    if args.rounds == 0 and (args.no_latency or args.latency_rate is None):
        die("--rounds 0 runs only the latency runs: give --latency-rate")
    bins = {"outcry": os.path.join(args.bin_dir, "outcry"),
            "passthrough": os.path.join(args.bin_dir, "outcry-passthrough")}
    for b in [*bins.values(), args.tansu]:
        if not os.access(b, os.X_OK):
            die(f"{b} not found (build with cargo build --release; tansu: "
                f"scripts/install-test-deps.sh)")
    for tool in ("redis-server", "redis-cli"):
        if not shutil.which(tool):
            die(f"{tool} not found (apt-get install redis-server)")
    warn_unpatched_tansu(args.tansu)
    if not args.no_latency:
        try:
            import kafka  # noqa: F401
            import lz4  # noqa: F401
        except ImportError:
            die("the latency run needs kafka-python and lz4 (pip install 'kafka-python>=2.2' "
                "lz4), or pass --no-latency")

    atexit.register(cleanup)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    tmp = tempfile.mkdtemp(prefix="outcry-bench-")
    if not args.keep:
        def remove_bulk():
            # atexit is LIFO: this runs before `cleanup`, so stop the servers here first.
            cleanup()
            for name in ("events.jsonl", "latency.jsonl", "twcs.jsonl"):
                try:
                    os.remove(os.path.join(tmp, name))
                except OSError:
                    pass
            shutil.rmtree(os.path.join(tmp, "redis"), ignore_errors=True)
        atexit.register(remove_bulk)
    log(f"temp dir {tmp} (logs and results are kept there)")
    machine = {
        "cpus": os.cpu_count(),
        "cpu_model": next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                           if line.startswith("model name")), "?"),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
    }

    events_file, latency_file, n_base = generate(args, tmp, bins["outcry"])

    # Servers.
    rport, kport = free_port(), free_port()
    os.makedirs(os.path.join(tmp, "redis"))
    redis_proc = spawn(["redis-server", "--port", str(rport), "--bind", "127.0.0.1", "--dir",
                        os.path.join(tmp, "redis"), "--save", "", "--appendonly", "yes",
                        "--appendfsync", args.appendfsync], os.path.join(tmp, "redis.log"))
    redis = Redis(rport)
    wait_for("redis-server to answer PING", 10,
             lambda: subprocess.run(["redis-cli", "-p", str(rport), "PING"],
                                    capture_output=True).returncode == 0, redis_proc)
    url = f"tcp://127.0.0.1:{kport}"
    tansu_env = dict(os.environ, RUST_LOG=os.environ.get("TANSU_LOG", "warn"))
    tansu = spawn([args.tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
                   "--storage-engine", "memory://tansu/"], os.path.join(tmp, "tansu.log"),
                  env=tansu_env)

    def listening():
        try:
            socket.create_connection(("127.0.0.1", kport), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_for("tansu to listen", 20, listening, tansu)
    brokers = f"127.0.0.1:{kport}"
    log(f"tansu pid {tansu.pid} on {brokers}, redis-server pid {redis_proc.pid} on port {rport} "
        f"(appendonly yes, appendfsync {args.appendfsync})")
    config = write_config(tmp, "outcry.toml", brokers, f"redis://127.0.0.1:{rport}", {})
    log(run_checked([bins["outcry"], "topics", "--config", config, "--partitions",
                     str(args.partitions)], "outcry topics").rstrip())

    log(f"preloading {args.events} events into social.raw")
    t = time.time()
    r = subprocess.run([bins["outcry"], "replay", events_file, "--config", config],
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        die(f"outcry replay (preload) failed:\n{r.stderr[-2000:]}")
    log(f"preloaded in {time.time() - t:.1f} s: {r.stderr.strip().splitlines()[-1]}")

    bench = Bench(args, tmp, bins, brokers, tansu, redis, config)
    runs = []
    for rnd in range(1, args.rounds + 1):
        for kind, workers in (("passthrough", 1), ("outcry", 1), ("outcry", 2)):
            label = f"passthrough-{rnd}" if kind == "passthrough" else f"outcry-x{workers}-{rnd}"
            log(f"round {rnd}: {label}")
            r = bench.passthrough(label) if kind == "passthrough" else bench.outcry(label, workers)
            log(f"  {label}: {r['events_per_s']:.0f} events/s, "
                f"{r['process_cpu_us_per_event']:.1f} us CPU/event, "
                f"redis {r['redis']['cpu_us_per_event']:.1f} us/event")
            runs.append(r)

    latency = None
    if not args.no_latency:
        if args.latency_rate is not None:
            rate = args.latency_rate
        else:
            one = [r["events_per_s"] for r in runs if r["kind"] == "outcry" and r["workers"] == 1]
            rate = sum(one) / len(one) / 2
        n_lat = args.latency_events or max(100, int(rate * args.latency_seconds))
        n_lat = min(n_lat, sum(1 for _ in open(latency_file)))
        # Same rate, same events, one after the other: the passthrough's latency is what the
        # broker and the clients take; the rest of outcry's is outcry's own.
        latency = [bench.latency_passthrough(rate, latency_file, n_lat),
                   bench.latency(rate, latency_file, n_lat)]

    text = table(runs, latency, args)
    result = {
        "command": " ".join(sys.argv),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine,
        "loadavg_at_end": open("/proc/loadavg").read().split()[:3],
        "events": args.events, "partitions": args.partitions, "rounds": args.rounds,
        "seed": args.seed, "distinct_texts": n_base,
        "redis_appendfsync": args.appendfsync,
        "runs": runs, "latency": latency,
        "notes": [
            "events/s: first consumption to every event finished (outcry: polled /metrics every "
            "50 ms; passthrough: its own clock)",
            "redis commands/event: total_commands_processed, which in Redis 7 also counts the "
            "commands a script runs; scripts/event: EVAL/EVALSHA/FCALL calls",
            "latency: assignment record timestamp - input record timestamp (CreateTime: "
            "set by each producer when it sends), for outcry-passthrough then outcry run (one "
            "worker), the same events at the same rate on fresh topics",
        ],
    }
    out = args.out or os.path.join(tmp, "results.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(text)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
