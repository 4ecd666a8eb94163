#!/usr/bin/env python3
"""The fault-injection suite of the README's Guarantees section (issue 14).

tansu (memory storage) + redis-server (appendonly, fsync always) + three `outcry run` workers
in one consumer group. kafka-python produces raw X v2 events at a steady rate (many per hot
customer, unknown authors, noise, poison of every kind) and, reading the assignments as they
appear, helpdesk feedback with the real fencing tokens (accepted, responded, bounced up to and
past the bounce limit, resolved, outbound with fresh and stale tokens, invalid feedback). Faults
at seeded random times: kill -9 + restart of a worker, SIGSTOP past the session timeout then
SIGCONT, graceful SIGTERM + restart, Redis kill -9 and SIGTERM with a restart on the same AOF.
Then every output topic is read to its end and accounted; the table is printed; exit code 1
if any check fails. Run it through scripts/chaos.sh (which builds the binary); see --help.
"""
import argparse
import collections
import json
import re
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

try:
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic
except ImportError:
    sys.exit("kafka-python is not installed: pip install kafka-python (scripts/install-test-deps.sh does)")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
T_RAW, T_CRM, T_FB = "social.raw", "crm.customers", "helpdesk.feedback"
T_ASG, T_INT, T_ALR, T_DLQ = "outcry.assignments", "outcry.interactions", "outcry.alerts", "outcry.deadletter"
WORKERS = 3
SESSION_MS = 6000
BOUNCE_LIMIT = 3
MAX_PAYLOAD = 8192
T0 = time.time()


def log(msg):
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_for(what, timeout, cond, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return True
        except Exception:
            pass
        time.sleep(interval)
    raise RuntimeError(f"timed out after {timeout}s waiting for {what}")


def http_get(port, path, timeout=3):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        return r.status, r.read().decode()


# ---------------------------------------------------------------------------------------------
# servers


class Servers:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.kport, self.rport = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.kport}"
        self.redis_dir = os.path.join(tmp, "redis")
        os.makedirs(self.redis_dir, exist_ok=True)
        self.tansu = self.redis = None
        self.workers = [None] * WORKERS
        self.http = [free_port() for _ in range(WORKERS)]
        self.starts = [0] * WORKERS
        self.redis_starts = 0
        self.lock = threading.Lock()

    def start_tansu(self):
        out = open(os.path.join(self.tmp, "tansu.log"), "ab")
        url = f"tcp://127.0.0.1:{self.kport}"
        self.tansu = subprocess.Popen(
            [self.args.tansu, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=out, env={**os.environ, "RUST_LOG": "warn"}, start_new_session=True)
        wait_for("tansu to listen", 20, lambda: socket.create_connection(("127.0.0.1", self.kport), 1).close() or True)

    def start_redis(self):
        out = open(os.path.join(self.tmp, "redis.log"), "ab")
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.rport), "--bind", "127.0.0.1", "--dir", self.redis_dir,
             "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
            stdout=out, stderr=out, start_new_session=True)
        self.redis_starts += 1

        def ping():
            s = socket.create_connection(("127.0.0.1", self.rport), 1)
            s.sendall(b"PING\r\n")
            ok = s.recv(64).startswith(b"+PONG")
            s.close()
            return ok
        wait_for("redis-server to answer PING", 20, ping)

    def start_worker(self, i):
        out = open(os.path.join(self.tmp, f"worker{i}.log"), "ab")
        out.write(f"==== start {self.starts[i] + 1} at {time.time() - T0:.1f}s\n".encode())
        out.flush()
        env = {**os.environ,
               "OUTCRY__HTTP__LISTEN": f"127.0.0.1:{self.http[i]}",
               "RUST_LOG": os.environ.get("RUST_LOG", "info")}
        p = subprocess.Popen([self.args.outcry, "run", "--config", os.path.join(self.tmp, "outcry.toml")],
                             stdout=subprocess.DEVNULL, stderr=out, env=env, start_new_session=True)
        with self.lock:
            self.workers[i] = p
            self.starts[i] += 1
        return p

    def wait_ready(self, i, timeout=60):
        wait_for(f"worker {i} /readyz", timeout, lambda: http_get(self.http[i], "/readyz")[0] == 200, 0.2)

    def stop_worker(self, i, sig=signal.SIGTERM, timeout=40):
        p = self.workers[i]
        if p is None:
            return None
        p.send_signal(sig)
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        with self.lock:
            self.workers[i] = None
        return rc

    def stop_all(self):
        for i, p in enumerate(self.workers):
            if p is not None and p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGCONT)
                    p.kill()
                    p.wait(5)
                except Exception:
                    pass
        for p in (self.redis, self.tansu):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(5)


def write_config(tmp, servers, hot):
    """config/outcry.toml's routing and rule pack, pointed at these servers, with short SLAs,
    noise stored, small payload limit, a short session timeout; a CRM of the hot customers."""
    crm = os.path.join(tmp, "customers.jsonl")
    with open(crm, "w") as f:
        tiers = ["platinum", "gold", "silver", "standard"]
        for n, (cid, uid) in enumerate(hot):
            f.write(json.dumps({"id": cid, "name": f"Hot Customer {n}", "emails": [f"hot{n}@example.com"],
                                "phones": [], "identities": [{"platform": "x", "user_id": uid,
                                                              "handle": f"hot{n}", "verified": True}],
                                "tier": tiers[n % 4], "segment": "consumer", "language": "en"}) + "\n")
    base = open(os.path.join(REPO, "config/outcry.toml")).read()
    # Routing table and priorities as shipped; everything from [sla] on is replaced.
    routing = base[base.index("[routing]"):base.index("[sla]")]
    routing = routing.replace('noise = "drop"', 'noise = "store"')
    # The shipped rule packs, whatever config/outcry.toml names (its routes name their intents).
    names = re.search(r'(?m)^packs = \[(.*)\]', base).group(1)
    pack = ", ".join(json.dumps(os.path.join(REPO, "config", n.strip().strip('"')))
                     for n in names.split(",") if n.strip())
    cfg = f"""
[kafka]
brokers = "{servers.bootstrap}"
group_id = "outcry-chaos"
max_in_flight = 1000
max_batch = 200
drain_timeout = "20s"

[kafka.consumer]
"session.timeout.ms" = {SESSION_MS}
"heartbeat.interval.ms" = 500
"statistics.interval.ms" = 1000

[redis]
url = "redis://127.0.0.1:{servers.rport}"
key_prefix = "chaos"

[crm]
snapshot = "{crm}"
follow_topic = false

[rules]
packs = [{pack}]

{routing}
[sla]
p1 = {{ first_response = "3s", resolution = "20s", on_breach = "escalations/sla" }}
p2 = {{ first_response = "3s", resolution = "20s", on_breach = "escalations/sla" }}
p3 = {{ first_response = "4s", resolution = "25s" }}
p4 = {{ first_response = "5s", resolution = "30s" }}
sweep_every = "500ms"
retake_after = "5s"

[claim]
lease = "24h"
remember_events = "7days"

[limits]
max_payload_bytes = {MAX_PAYLOAD}

[log]
format = "text"
"""
    path = os.path.join(tmp, "outcry.toml")
    open(path, "w").write(cfg)
    return path


# ---------------------------------------------------------------------------------------------
# inputs

TEXTS = {
    "outage": ["@acme my internet is down since this morning", "@acme outage again, nothing works",
               "@acme the service is down in my area"],
    "billing": ["@acme I was charged twice &amp; want a refund", "@acme wrong amount on my invoice"],
    "cancellation": ["@acme I want to cancel my subscription", "@acme please close my account"],
    "sales": ["@acme how much is the new plan?", "@acme do you have a fiber offer?"],
    "praise": ["@acme thank you, great service today!", "@acme love the new app, amazing"],
    "general": ["@acme question about my account settings", "@acme can someone call me back"],
}
NOISE = ["@acme giveaway time! retweet to win", "@acme lol haha", "@acme use my code PROMO10 sweepstakes"]
POISON = ["invalid_json", "invalid_utf8", "unknown_shape", "missing_field", "invalid_value", "payload_too_large"]


def tweet(tid, uid, text, created):
    return json.dumps({"data": {"id": tid, "text": text, "author_id": uid, "created_at": created},
                       "includes": {"users": [{"id": uid, "username": f"u{uid}"}]}}).encode()


def poison(kind, n, created):
    tid = str(1990000000000000000 + n)
    if kind == "invalid_json":
        return b'{"data":{"id":"' + tid.encode() + b'","text":"cut short'
    if kind == "invalid_utf8":
        return b'{"data":{"id":"' + tid.encode() + b'","text":"\xff\xfe bad bytes","author_id":"1"}}'
    if kind == "unknown_shape":
        return json.dumps({"hello": "world", "n": n}).encode()
    if kind == "missing_field":
        return json.dumps({"data": {"id": tid, "text": "@acme no author here", "created_at": created}}).encode()
    if kind == "invalid_value":
        return json.dumps({"data": {"id": tid, "text": "@acme from the past", "author_id": "77",
                                    "created_at": "1999-01-01T00:00:00Z"}}).encode()
    return json.dumps({"data": {"id": tid, "text": "@acme " + "x" * (MAX_PAYLOAD + 100), "author_id": "78",
                                "created_at": created}}).encode()


class Ledger:
    """What was produced: per input (topic, partition, offset) what it is."""

    def __init__(self):
        self.lock = threading.Lock()
        self.inputs = {}        # event id (or poison:n) -> dict(kind, expect, pos)
        self.by_pos = {}        # (topic, partition, offset) -> id
        self.errors = []
        self.feedback = {}      # feedback id -> dict(type, owner, token, stale, pos)
        self.produced_at = None

    def sent(self, key, info, topic):
        def ok(md):
            with self.lock:
                info["pos"] = (topic, md.partition, md.offset)
                self.by_pos[info["pos"]] = key
        return ok

    def failed(self, key):
        def err(e):
            with self.lock:
                self.errors.append((key, repr(e)))
        return err


def producer_thread(args, servers, ledger, hot, stop):
    rng = random.Random(args.seed * 7919 + 1)
    prod = KafkaProducer(bootstrap_servers=servers.bootstrap, acks="all", linger_ms=5, retries=10,
                         max_request_size=MAX_PAYLOAD * 4)
    unknown = [str(1700000000 + i) for i in range(max(100, args.events // 40))]
    start = time.time()
    kinds = list(TEXTS)
    for n in range(args.events):
        target = start + n / args.rate
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        r = rng.random()
        headers = []
        if r < 0.04:
            kind = POISON[n % len(POISON)]
            key, payload, info = f"poison:{n}", poison(kind, n, created), {"kind": "poison", "expect": kind}
            pkey = str(n).encode()
        else:
            tid = str(1900000000000000000 + n)
            if r < 0.10:
                uid = rng.choice(unknown + [u for _, u in hot])
                text, kind = rng.choice(NOISE), "noise"
            elif r < 0.70:
                uid, text, kind = rng.choice(hot)[1], None, "hot"
            else:
                uid, text, kind = rng.choice(unknown), None, "unknown"
            if text is None:
                text = rng.choice(TEXTS[rng.choice(kinds)]) + f" (#{n})"
            key, payload, info = f"x:{tid}", tweet(tid, uid, text, created), {"kind": kind}
            pkey = uid.encode()
            headers = [("platform", b"x")]
        with ledger.lock:
            ledger.inputs[key] = info
        fut = prod.send(T_RAW, value=payload, key=pkey, headers=headers)
        fut.add_callback(ledger.sent(key, info, T_RAW)).add_errback(ledger.failed(key))
        if n % max(1, args.events // 20) == 0:
            log(f"produced {n}/{args.events}")
        if stop.is_set():
            break
    prod.flush(60)
    prod.close()
    ledger.produced_at = time.time()
    log(f"produced {args.events} raw events in {ledger.produced_at - start:.1f}s")


# ---------------------------------------------------------------------------------------------
# outputs, read continuously


class Outputs:
    def __init__(self):
        self.lock = threading.Lock()
        self.msgs = {t: [] for t in (T_ASG, T_INT, T_ALR, T_DLQ)}
        self.last_at = time.time()
        self.new_asg = collections.deque()   # for the feedback driver

    def reader(self, servers, stop):
        c = KafkaConsumer(bootstrap_servers=servers.bootstrap, group_id=None, enable_auto_commit=False,
                          auto_offset_reset="earliest", consumer_timeout_ms=500, fetch_max_wait_ms=200)
        tps = [TopicPartition(t, 0) for t in self.msgs]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        while not stop.is_set():
            batch = c.poll(timeout_ms=300, max_records=2000)
            for tp, recs in batch.items():
                for m in recs:
                    try:
                        value = json.loads(m.value) if tp.topic != T_DLQ else m.value
                    except Exception:
                        value = None
                    rec = {"offset": m.offset, "key": m.key.decode() if m.key else None,
                           "headers": {k: (v.decode(errors="replace") if v is not None else None)
                                       for k, v in (m.headers or [])},
                           "value": value}
                    with self.lock:
                        self.msgs[tp.topic].append(rec)
                        self.last_at = time.time()
                        if tp.topic == T_ASG and isinstance(value, dict):
                            self.new_asg.append(value)
        c.close()


def feedback_thread(args, servers, ledger, outputs, stop, hot):
    """Replies to assignments as a helpdesk would, with the tokens it read."""
    rng = random.Random(args.seed * 104729 + 2)
    prod = KafkaProducer(bootstrap_servers=servers.bootstrap, acks="all", linger_ms=5, retries=10)
    current = {}          # owner key -> highest token seen
    tokens = collections.defaultdict(set)
    # A few owners are bounced on every new ownership until one bounce past the limit.
    bouncers = {f"customer:{cid}" for cid, _ in hot[: max(3, len(hot) // 5)]}
    seen_events = set()
    n = 0

    def send(owner, kind, token, stale=False, raw=None):
        nonlocal n
        n += 1
        fid = f"chaos-fb-{n}"
        if raw is not None:
            payload, info = raw, {"type": "invalid", "owner": owner, "token": None, "stale": False}
        else:
            payload = json.dumps({"feedback_id": fid, "owner_key": owner, "type": kind,
                                  "fencing_token": token, "note": f"chaos {kind}"}).encode()
            info = {"type": kind, "owner": owner, "token": token, "stale": stale}
        with ledger.lock:
            ledger.feedback[fid] = info
        fut = prod.send(T_FB, value=payload, key=owner.encode())
        fut.add_callback(ledger.sent(fid, info, T_FB)).add_errback(ledger.failed(fid))

    while not stop.is_set():
        try:
            a = outputs.new_asg.popleft()
        except IndexError:
            time.sleep(0.05)
            continue
        owner, tok, outcome = a.get("owner_key"), a.get("fencing_token"), a.get("outcome")
        if not owner or tok is None or a.get("event_id") in seen_events:
            continue
        seen_events.add(a["event_id"])
        if owner.startswith("incident:"):
            continue
        tokens[owner].add(tok)
        if tok <= current.get(owner, -1):
            continue
        current[owner] = tok
        if outcome not in ("new", "rerouted", "escalated", "sla_breached"):
            continue
        if owner in bouncers and outcome != "sla_breached":
            if (a.get("bounces") or 0) <= BOUNCE_LIMIT:
                send(owner, "bounced", tok)
            else:
                send(owner, "resolved", tok)
            continue
        r = rng.random()
        older = [t for t in tokens[owner] if t < tok]
        if older and r < 0.25:
            send(owner, "outbound", rng.choice(older), stale=True)
        if r < 0.35:
            send(owner, "accepted", tok)
        elif r < 0.60:
            send(owner, "responded", tok)
        elif r < 0.70:
            send(owner, "outbound", tok)
        elif r < 0.80:
            send(owner, "resolved", tok)
        elif r < 0.85:
            send(owner, "bounced", tok)
        if rng.random() < 0.01:
            send(owner, None, None, raw=rng.choice([b"not feedback", b'{"feedback_id":"x","type":"nope"}']))
    prod.flush(60)
    prod.close()


# ---------------------------------------------------------------------------------------------
# faults

FAULTS = ["kill9", "sigstop", "sigterm", "redis_kill9", "redis_sigterm"]


def schedule(args):
    rng = random.Random(args.seed)
    duration = args.events / args.rate
    per = args.faults_per_kind
    items = [(k, rng.randrange(WORKERS)) for k in FAULTS for _ in range(per)]
    rng.shuffle(items)
    # spread over [10 %, 85 %] of the production time, a random jitter inside each slot
    slot = duration * 0.75 / max(1, len(items))
    out = []
    for j, (k, w) in enumerate(items):
        at = duration * 0.10 + slot * j + rng.uniform(0, slot * 0.5)
        out.append((round(at, 1), k, w))
    return out


def catches_sigterm(pid):
    """True once the process blocks or handles SIGTERM (`outcry run` blocks it as the first
    thing in `main`, then handles it), or is gone. Before that — while the kernel and the
    loader start the binary — a SIGTERM meets the kernel's default action, which no program can
    change: sending one then tests nothing of outcry's."""
    bit = 1 << (signal.SIGTERM - 1)
    try:
        with open(f"/proc/{pid}/status") as f:
            return any(line.startswith(("SigBlk:", "SigCgt:")) and int(line.split()[1], 16) & bit
                       for line in f)
    except OSError:
        return True


def fault_thread(plan, servers, done, stop, counts):
    start = time.time()
    for at, kind, w in plan:
        while time.time() - start < at:
            if stop.is_set():
                return
            time.sleep(0.1)
        p = servers.workers[w]
        log(f"FAULT {kind}" + ("" if kind.startswith("redis") else f" worker {w}"))
        if kind == "kill9" and p:
            p.kill()
            p.wait()
            time.sleep(1)
            servers.start_worker(w)
        elif kind == "sigstop" and p:
            os.kill(p.pid, signal.SIGSTOP)
            time.sleep(SESSION_MS / 1000 + 3)
            os.kill(p.pid, signal.SIGCONT)
        elif kind == "sigterm" and p:
            # A worker restarted a moment ago (kill -9 and restart, then this fault) may not have
            # reached `main` yet: wait until it can catch the signal (at most 5 s).
            try:
                wait_for(f"worker {w} to catch SIGTERM", 5, lambda: catches_sigterm(p.pid), 0.001)
            except RuntimeError as e:
                log(str(e))
            rc = servers.stop_worker(w)
            if rc == -signal.SIGTERM:
                counts["sigterm_by_signal"] += 1
                log(f"worker {w} died by SIGTERM instead of draining")
            elif rc != 0:
                counts["sigterm_nonzero_exit"] += 1
                log(f"worker {w} exited {rc} on SIGTERM")
            servers.start_worker(w)
        elif kind in ("redis_kill9", "redis_sigterm"):
            servers.redis.send_signal(signal.SIGKILL if kind == "redis_kill9" else signal.SIGTERM)
            servers.redis.wait()
            time.sleep(2)
            servers.start_redis()
        counts[kind] += 1
    done.set()


# ---------------------------------------------------------------------------------------------
# accounting


def account(ledger, outputs, bounce_limit):
    """Every check: (name, figure, ok)."""
    rows = []
    A, I, L, D = (outputs.msgs[t] for t in (T_ASG, T_INT, T_ALR, T_DLQ))
    # dead letters by source position
    dl_by_pos = {}
    for m in D:
        h = m["headers"]
        pos = (h.get("outcry.dlq.source.topic"), int(h.get("outcry.dlq.source.partition", -1)),
               int(h.get("outcry.dlq.source.offset", -1)))
        dl_by_pos.setdefault(pos, set()).add(h.get("outcry.dlq.reason"))
    asg_ids = collections.defaultdict(list)
    for m in A:
        v = m["value"]
        if isinstance(v, dict):
            asg_ids[v.get("event_id")].append(m)
    noise_ids, int_ids = set(), collections.defaultdict(list)
    exchanges = collections.defaultdict(list)
    for m in I:
        v = m["value"]
        if not isinstance(v, dict):
            continue
        if isinstance(v.get("event"), dict):
            eid = v["event"].get("event_id")
            int_ids[eid].append(v)
            if v.get("noise"):
                noise_ids.add(eid)
        elif "id" in v and "type" in v:
            exchanges[v["id"]].append(v)
    refused = collections.defaultdict(list)
    for m in L:
        v = m["value"]
        if isinstance(v, dict) and v.get("kind") == "policy_violation":
            refused[v["detail"]["feedback_id"]].append(v)

    # 1. lost = 0 over raw inputs
    by_kind = collections.Counter()
    lost, wrong_reason, unacked = [], [], []
    for key, info in ledger.inputs.items():
        by_kind[info["kind"]] += 1
        if "pos" not in info:
            unacked.append(key)
            continue
        if info["kind"] == "poison":
            reasons = dl_by_pos.get(info["pos"])
            if not reasons:
                lost.append(key)
            elif reasons != {info["expect"]}:
                wrong_reason.append((key, info["expect"], sorted(reasons)))
        elif info["kind"] == "noise":
            if key not in noise_ids and key not in asg_ids:
                lost.append(key)
        else:
            if key not in asg_ids:
                lost.append(key)
    n_in = len(ledger.inputs)
    rows.append(("raw events produced (acked by tansu)", f"{n_in - len(unacked)} of {n_in}", not unacked))
    rows.append(("  hot / unknown / noise / poison",
                 f"{by_kind['hot']} / {by_kind['unknown']} / {by_kind['noise']} / {by_kind['poison']}", True))
    rows.append(("lost raw events (no assignment, dead letter or stored noise)", f"{len(lost)}", not lost))
    rows.append(("poison dead-lettered with the expected reason", f"{by_kind['poison'] - len(wrong_reason) - len([k for k in lost if k.startswith('poison')])} of {by_kind['poison']}", not wrong_reason))
    noise_assigned = [k for k, i in ledger.inputs.items() if i["kind"] == "noise" and k in asg_ids]
    rows.append(("noise assigned (must be 0; counted as noise otherwise)", f"{len(noise_assigned)}", True))
    dlq_reasons = collections.Counter(m["headers"].get("outcry.dlq.reason") for m in D)
    rows.append(("dead letters by reason", ", ".join(f"{k}={v}" for k, v in sorted(dlq_reasons.items())), True))

    # 2. one decision per event id
    def decision(v):
        return (v.get("outcome"), v.get("department"), v.get("queue"), v.get("fencing_token"))
    # Raw event ids are unique; the ids of moves outcry makes itself (`sla:<kind>:<token>`,
    # bounces) are unique per owner key: a decision is one (owner key, event id).
    by_owner_event = collections.defaultdict(set)
    for eid, ms in asg_ids.items():
        for m in ms:
            by_owner_event[(m["value"].get("owner_key"), eid)].add(decision(m["value"]))
    two = {f"{k[0]} {k[1]}": d for k, d in by_owner_event.items() if len(d) > 1}
    dup = sum(len(ms) - 1 for ms in asg_ids.values())
    rows.append(("assignment events / distinct event ids / redelivered copies", f"{len(A)} / {len(asg_ids)} / {dup}", True))
    rows.append(("event ids with two different decisions", f"{len(two)}", not two))
    two_int = {eid for eid, vs in int_ids.items()
               if len({(v.get("department"), v.get("fencing_token")) for v in vs}) > 1}
    rows.append(("interactions with two different decisions", f"{len(two_int)}", not two_int))

    # 3. tokens per owner key: never down (first copy of each decision, offset order), one owner per token
    per_owner = collections.defaultdict(list)
    seen = set()
    for m in A:
        v = m["value"]
        if not isinstance(v, dict) or v["event_id"] in seen:
            continue
        seen.add(v["event_id"])
        per_owner[v["owner_key"]].append(v)
    down, two_owners, outcomes = [], [], collections.Counter()
    for owner, vs in per_owner.items():
        hi = -1
        holder = {}
        for v in vs:
            outcomes[v["outcome"]] += 1
            t = v.get("fencing_token")
            if v["outcome"] != "released":
                d = (v.get("department"), v.get("queue"))
                if holder.setdefault(t, d) != d:
                    two_owners.append((owner, t, holder[t], d))
            if t < hi and not v.get("replayed"):
                down.append((owner, hi, t, v["event_id"]))
            hi = max(hi, t)
    rows.append(("assignments by outcome", ", ".join(f"{k}={v}" for k, v in sorted(outcomes.items())), True))
    rows.append(("owner keys", f"{len(per_owner)}", True))
    # Two workers' records for one owner key reach its partition in the order the broker gets
    # them, not the order Redis decided them (a release by the worker that read the feedback,
    # a new ownership by the one that read the next post; a paused worker delivering late): a
    # lower token after a higher one is a stale record, and its token says so — downstream
    # applies an owner key's records in token order (README, "One owner"). Counted, not failed;
    # what must never happen is one token held by two owners (below).
    rows.append(("records arriving after a higher token (stale by their token)", f"{len(down)} of {len(A)} ({len({d[0] for d in down})} owner keys)", True))
    rows.append(("tokens held by two owners at once", f"{len(two_owners)}", not two_owners))

    # 4. bounces exact, escalation exactly at the limit
    bounce_bad, esc_at, rer = [], 0, 0
    for owner, vs in per_owner.items():
        expect = 0
        for v in vs:
            o = v["outcome"]
            if o == "new":
                expect = 0
            elif o in ("rerouted", "escalated") and v["event_id"].startswith("feedback:"):
                expect += 1
                if v.get("bounces") != expect:
                    bounce_bad.append((owner, v["event_id"], v.get("bounces"), expect))
                if o == "rerouted" and expect >= bounce_limit:
                    bounce_bad.append((owner, v["event_id"], "rerouted at/after the limit", expect))
                if o == "escalated" and expect < bounce_limit:
                    # allowed only when no candidate is left
                    cands = {c.split("/")[0] for c in (v.get("candidates") or [])}
                    left = cands - {s.get("from", "").split("/")[0] for s in (v.get("trail") or [])}
                    if left - {v.get("department")}:
                        bounce_bad.append((owner, v["event_id"], "escalated before the limit", expect))
                if o == "escalated" and expect == bounce_limit:
                    esc_at += 1
                if o == "rerouted":
                    rer += 1
    rows.append(("reroutes / escalations exactly at the limit", f"{rer} / {esc_at}", esc_at > 0 or True))
    rows.append(("bounce counts wrong or escalation not at the limit", f"{len(bounce_bad)}", not bounce_bad))

    # 5. SLA breaches: one per ownership and kind, alert <-> assignment
    alerts = collections.defaultdict(set)
    for m in L:
        v = m["value"]
        if isinstance(v, dict) and v.get("kind") == "sla_breached":
            alerts[v["alert_id"]].add(json.dumps(v.get("detail"), sort_keys=True))
    breaches = collections.defaultdict(set)
    for m in A:
        v = m["value"]
        if isinstance(v, dict) and v["outcome"] == "sla_breached":
            kind = v["event_id"].split(":")[1]
            prev = (v.get("previous") or {}).get("fencing_token")
            breaches[(v["owner_key"], kind, prev)].add(decision(v))
    multi = [k for k, d in breaches.items() if len(d) > 1]
    asg_alert = {f"sla:{o}:{k}:{p}" for (o, k, p) in breaches}
    unmatched = (asg_alert ^ set(alerts))
    rows.append(("SLA breaches (assignment events) / alerts", f"{len(breaches)} / {len(alerts)}", bool(breaches) or True))
    rows.append(("SLA breaches acted on more than once, or alert without move", f"{len(multi) + len(unmatched)}", not multi and not unmatched))

    # 6. feedback: every id accounted; every stale token refused
    fb_lost, stale_ok, stale_bad, invalid = [], 0, [], 0
    fb_types = collections.Counter()
    for fid, info in ledger.feedback.items():
        fb_types[info["type"]] += 1
        if info["type"] == "invalid":
            invalid += 1
            if not dl_by_pos.get(info.get("pos")) == {"invalid_feedback"}:
                fb_lost.append(fid)
            continue
        ex, rf = fid in exchanges, fid in refused
        if not ex and not rf:
            fb_lost.append(fid)
        if ex and rf:
            stale_bad.append((fid, "both applied and refused"))
        if info["stale"]:
            if rf and not ex:
                stale_ok += 1
            else:
                stale_bad.append((fid, info))
    rows.append(("feedback sent by type", ", ".join(f"{k}={v}" for k, v in sorted(fb_types.items())), True))
    rows.append(("feedback lost (no exchange, refusal or dead letter)", f"{len(fb_lost)}", not fb_lost))
    n_stale = sum(1 for i in ledger.feedback.values() if i["stale"])
    rows.append(("stale-token outbound refused", f"{stale_ok} of {n_stale}", not stale_bad))
    refused_fresh = sum(1 for fid, i in ledger.feedback.items() if not i["stale"] and fid in refused)
    rows.append(("fresh-token feedback refused (moved meanwhile: allowed)", f"{refused_fresh}", True))
    details = {"lost": lost[:20], "lost_all": lost, "wrong_reason": wrong_reason[:20], "two_decisions": list(two.items())[:10],
               "token_down": down[:20], "two_owners": two_owners[:20], "bounce_bad": bounce_bad[:20],
               "sla_multi": multi[:10], "sla_unmatched": sorted(unmatched)[:10], "fb_lost": fb_lost[:20],
               "stale_bad": stale_bad[:20], "unacked": unacked[:20], "producer_errors": ledger.errors[:20]}
    return rows, details


def accounted(ledger, outputs):
    """How many raw inputs have their output already (for the drain)."""
    with outputs.lock:
        ids = {m["value"].get("event_id") for m in outputs.msgs[T_ASG] if isinstance(m["value"], dict)}
        ids |= {m["value"]["event"].get("event_id") for m in outputs.msgs[T_INT]
                if isinstance(m["value"], dict) and isinstance(m["value"].get("event"), dict)}
        pos = {(m["headers"].get("outcry.dlq.source.topic"), int(m["headers"].get("outcry.dlq.source.partition", -1)),
                int(m["headers"].get("outcry.dlq.source.offset", -1))) for m in outputs.msgs[T_DLQ]}
    with ledger.lock:
        items = list(ledger.inputs.items())
    return sum(1 for k, i in items if (k in ids) or (i.get("pos") in pos))


def metrics_sum(servers, name):
    total = 0.0
    for port in servers.http:
        try:
            _, text = http_get(port, "/metrics")
        except Exception:
            continue
        for line in text.splitlines():
            if line.startswith(name):
                total += float(line.rsplit(" ", 1)[1])
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=3000, help="raw events to produce (default 3000)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the event mix, the feedback and the fault schedule")
    ap.add_argument("--rate", type=float, default=None, help="raw events per second (default: events/40, at least 50)")
    ap.add_argument("--faults-per-kind", type=int, default=None, help="faults of each kind (default: 1 per 1500 events, 1..8)")
    ap.add_argument("--outcry", default=os.path.join(REPO, "target/release/outcry"), help="the outcry binary")
    ap.add_argument("--tansu", default=shutil.which("tansu") or os.path.expanduser("~/.cargo/bin/tansu"))
    ap.add_argument("--drain-timeout", type=float, default=240, help="seconds to wait for every input to be accounted")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir even when every check passes")
    args = ap.parse_args()
    # SIGTERM (the wrapper's trap, a CI timeout) runs the `finally` below that stops every child.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.rate is None:
        args.rate = max(50.0, args.events / 40)
    if args.faults_per_kind is None:
        args.faults_per_kind = min(8, max(1, args.events // 1500))
    tmp = tempfile.mkdtemp(prefix="outcry-chaos-")
    log(f"temp dir {tmp}; outcry {args.outcry}; {args.events} events at {args.rate:.0f}/s, seed {args.seed}")
    plan = schedule(args)
    log("fault schedule (seconds after production starts): " + ", ".join(f"{a}s {k}" + ("" if k.startswith("redis") else f"@w{w}") for a, k, w in plan))

    servers = Servers(args, tmp)
    stop, stop_fb, faults_done = threading.Event(), threading.Event(), threading.Event()
    counts = collections.Counter()
    ok = False
    try:
        servers.start_tansu()
        servers.start_redis()
        admin = KafkaAdminClient(bootstrap_servers=servers.bootstrap)
        admin.create_topics([NewTopic(T_RAW, 3, 1), NewTopic(T_FB, 3, 1), NewTopic(T_CRM, 1, 1)] +
                            [NewTopic(t, 1, 1) for t in (T_ASG, T_INT, T_ALR, T_DLQ)])
        admin.close()
        hot = [(f"C9{n:03d}", str(1600000000 + n)) for n in range(50)]
        write_config(tmp, servers, hot)
        for i in range(WORKERS):
            servers.start_worker(i)
        for i in range(WORKERS):
            servers.wait_ready(i)
        log("tansu, redis-server and 3 workers ready")
        ledger, outputs = Ledger(), Outputs()
        threads = [threading.Thread(target=outputs.reader, args=(servers, stop), daemon=True),
                   threading.Thread(target=feedback_thread, args=(args, servers, ledger, outputs, stop_fb, hot), daemon=True)]
        for t in threads:
            t.start()
        prod = threading.Thread(target=producer_thread, args=(args, servers, ledger, hot, stop), daemon=True)
        prod.start()
        ft = threading.Thread(target=fault_thread, args=(plan, servers, faults_done, stop, counts), daemon=True)
        ft.start()
        while prod.is_alive() or ft.is_alive():
            time.sleep(2)
            log(f"accounted {accounted(ledger, outputs)}/{len(ledger.inputs)} raw; "
                f"assignments {len(outputs.msgs[T_ASG])}, dead letters {len(outputs.msgs[T_DLQ])}, "
                f"feedback sent {len(ledger.feedback)}; faults {sum(counts.values())}/{len(plan)}")
        drain_from = ledger.produced_at
        while accounted(ledger, outputs) < len(ledger.inputs):
            if time.time() - drain_from > args.drain_timeout:
                log("drain timed out")
                break
            time.sleep(1)
            log(f"draining: accounted {accounted(ledger, outputs)}/{len(ledger.inputs)}")
        drained = time.time() - drain_from
        log(f"every raw input accounted {drained:.1f}s after the last was produced")
        # Let the feedback loop settle (bounce chains, last breaches), then stop it.
        quiet_for = 6.0
        settle_from = time.time()
        while time.time() - outputs.last_at < quiet_for and time.time() - settle_from < 60:
            time.sleep(0.5)
        stop_fb.set()
        time.sleep(1)
        try:
            wait_for("feedback accounted", 60, lambda: all_feedback_seen(ledger, outputs), 1)
        except RuntimeError as e:
            log(str(e))  # the accounting below names what is missing
        finished = metrics_sum(servers, "outcry_events_finished_total{")
        for i in range(WORKERS):
            rc = servers.stop_worker(i)
            if rc != 0:
                counts["final_sigterm_nonzero_exit"] += 1
        # read every topic to its end: nothing new for 4 s
        while time.time() - outputs.last_at < 4:
            time.sleep(0.5)
        stop.set()
        rows, details = account(ledger, outputs, BOUNCE_LIMIT)
        if details["lost"]:
            details["lost_diagnosis"] = diagnose_lost(servers, ledger, outputs, details.pop("lost_all"))
        fault_row = ", ".join(f"{k}={counts[k]}" for k in FAULTS)
        rows.insert(0, ("faults", fault_row, counts.get("sigterm_nonzero_exit", 0) == 0))
        rows.insert(1, ("worker starts (3 + restarts) / redis starts", f"{sum(servers.starts)} / {servers.redis_starts}", True))
        rows.insert(2, ("graceful SIGTERMs that ended by the signal (no drain, no exit 0)",
                        f"{counts.get('sigterm_by_signal', 0)} of {counts.get('sigterm', 0)}",
                        counts.get("sigterm_by_signal", 0) == 0))
        rows.append(("time to drain (last event produced -> every input accounted)", f"{drained:.1f}s", drained <= args.drain_timeout))
        rows.append(("cross-check: outcry_events_finished_total (last worker lives, counts redeliveries)", f"{finished:.0f}", True))
        rows.append(("workers exited 0 on the final SIGTERM", "yes" if not counts.get("final_sigterm_nonzero_exit") else "no",
                     not counts.get("final_sigterm_nonzero_exit")))
        width = max(len(r[0]) for r in rows)
        print()
        print(f"{'check'.ljust(width)}  {'figure':<40} result")
        print("-" * (width + 50))
        for name, fig, good in rows:
            print(f"{name.ljust(width)}  {fig:<40} {'ok' if good else 'FAIL'}")
        ok = all(r[2] for r in rows)
        print()
        bad = {k: v for k, v in details.items() if v}
        if bad:
            open(os.path.join(tmp, "details.json"), "w").write(json.dumps(bad, indent=1, default=str))
            print(json.dumps(bad, default=str)[:3000])
        print(f"{'ALL CHECKS PASSED' if ok else 'SOME CHECKS FAILED'} (seed {args.seed}, {args.events} events, {time.time() - T0:.0f}s)")
    finally:
        stop.set()
        stop_fb.set()
        servers.stop_all()
        if ok and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")
    sys.exit(0 if ok else 1)


def diagnose_lost(servers, ledger, outputs, lost):
    """Where a lost event went missing, asked of the broker while it still runs: is the raw
    record still served at its position, how far the group committed, and does a fresh read of
    the output topics find what the live reader did not (a reader that skipped records)."""
    out = {}
    c = KafkaConsumer(bootstrap_servers=servers.bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=3000)
    # 1. a fresh read of every output topic
    tps = [TopicPartition(t, 0) for t in (T_ASG, T_INT, T_DLQ)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    ends = c.end_offsets(tps)
    counts, found = collections.Counter(), collections.defaultdict(list)
    want = set(lost)
    wanted_pos = {tuple(ledger.inputs[k]["pos"]): k for k in lost if "pos" in ledger.inputs[k]}
    while any(c.position(tp) < ends[tp] for tp in tps):
        batch = c.poll(timeout_ms=1000, max_records=5000)
        if not batch:
            break
        for tp, recs in batch.items():
            counts[tp.topic] += len(recs)
            for m in recs:
                text = m.value.decode(errors="replace") if m.value else ""
                for k in want:
                    if k in text:
                        found[k].append((tp.topic, m.offset))
                h = {k2: (v.decode(errors="replace") if v else "") for k2, v in (m.headers or [])}
                src = (h.get("outcry.dlq.source.topic"), int(h.get("outcry.dlq.source.partition", -1) or -1),
                       int(h.get("outcry.dlq.source.offset", -1) or -1))
                if src in wanted_pos:
                    found[wanted_pos[src]].append((tp.topic, m.offset))
    with outputs.lock:
        live = {t: len(outputs.msgs[t]) for t in (T_ASG, T_INT, T_DLQ)}
    out["output_records_fresh_vs_live"] = {t: [counts[t], live[t], ends[TopicPartition(t, 0)]] for t in live}
    out["found_in_fresh_read"] = dict(found)
    # 2. the raw records at the lost positions
    raw = {}
    for k in lost:
        pos = ledger.inputs[k].get("pos")
        if not pos:
            continue
        tp = TopicPartition(T_RAW, pos[1])
        c.assign([tp])
        c.seek(tp, pos[2])
        got = c.poll(timeout_ms=3000, max_records=1)
        recs = got.get(tp, [])
        first = recs[0] if recs else None
        raw[k] = {"pos": pos, "served_offset": first.offset if first else None,
                  "id_matches": bool(first and k.split(":", 1)[-1].encode() in (first.value or b""))}
    out["raw_at_position"] = {k: v for k, v in list(raw.items())[:10]}
    out["raw_served_and_matching"] = f"{sum(1 for v in raw.values() if v['id_matches'])} of {len(raw)}"
    # the lost positions as ranges per partition
    spans = collections.defaultdict(list)
    for pos in sorted(tuple(ledger.inputs[k]["pos"]) for k in lost if "pos" in ledger.inputs[k]):
        runs = spans[f"{pos[0]}/{pos[1]}"]
        if runs and runs[-1][1] == pos[2] - 1:
            runs[-1][1] = pos[2]
        else:
            runs.append([pos[2], pos[2]])
    out["lost_offsets"] = dict(spans)
    # 4. the raw partitions' batches as stored: contiguous, counts matching their headers
    try:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import batchscan
        host, port = servers.bootstrap.rsplit(":", 1)
        for part in range(3):
            around = [r[0] for r in spans.get(f"{T_RAW}/{part}", [])]
            out[f"batches {T_RAW}/{part}"] = batchscan.scan(host, int(port), T_RAW, part, verbose_around=around)
    except Exception as e:
        out["batches"] = repr(e)
    c.close()
    # 3. what the group committed
    try:
        admin = KafkaAdminClient(bootstrap_servers=servers.bootstrap)
        if hasattr(admin, "list_group_offsets"):
            offs = admin.list_group_offsets("outcry-chaos").get("outcry-chaos", {})
        else:
            offs = admin.list_consumer_group_offsets("outcry-chaos")
        out["committed"] = {f"{tp.topic}/{tp.partition}": o.offset for tp, o in offs.items()}
        admin.close()
    except Exception as e:  # the diagnosis must not hide the table
        out["committed"] = repr(e)
    return out


def all_feedback_seen(ledger, outputs):
    with outputs.lock:
        ex = {m["value"].get("id") for m in outputs.msgs[T_INT] if isinstance(m["value"], dict)}
        rf = {m["value"]["detail"].get("feedback_id") for m in outputs.msgs[T_ALR]
              if isinstance(m["value"], dict) and m["value"].get("kind") == "policy_violation"}
        pos = {(m["headers"].get("outcry.dlq.source.topic"), int(m["headers"].get("outcry.dlq.source.partition", -1)),
                int(m["headers"].get("outcry.dlq.source.offset", -1))) for m in outputs.msgs[T_DLQ]}
    with ledger.lock:
        items = list(ledger.feedback.items())
    missing = [f for f, i in items if f not in ex and f not in rf and i.get("pos") not in pos]
    if missing:
        log(f"feedback not yet answered: {len(missing)}")
    return not missing


if __name__ == "__main__":
    main()
