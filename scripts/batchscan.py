"""Reads a partition's record batches straight off the wire (Fetch v4, no client library in
between) and checks what a consumer would get: each response's batches start where the ones
before ended (a gap is records a client skips without an error), and each batch's record count
matches its last offset delta. scripts/chaos.py runs it on the raw topic when events are lost.

    python3 scripts/batchscan.py HOST PORT TOPIC PARTITION [--from OFFSET] [--max-bytes N]

Prints the next offset, the high watermark, the number of batches and the first anomalies."""
import socket
import struct

def _str(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b

def fetch(sock, corr, topic, partition, offset, max_bytes=1 << 20):
    body = struct.pack(">iiiib", -1, 100, 1, max_bytes, 0)
    body += struct.pack(">i", 1) + _str(topic) + struct.pack(">i", 1) + struct.pack(">iqi", partition, offset, max_bytes)
    hdr = struct.pack(">hhi", 1, 4, corr) + _str("batchscan")
    msg = hdr + body
    sock.sendall(struct.pack(">i", len(msg)) + msg)
    n = struct.unpack(">i", _recv(sock, 4))[0]
    data = _recv(sock, n)
    p = 4  # correlation id
    p += 4  # throttle
    (nt,) = struct.unpack_from(">i", data, p); p += 4
    (tl,) = struct.unpack_from(">h", data, p); p += 2 + tl
    (np_,) = struct.unpack_from(">i", data, p); p += 4
    part, err, hw, lso = struct.unpack_from(">ihqq", data, p); p += 22
    (na,) = struct.unpack_from(">i", data, p); p += 4
    if na > 0:
        p += 16 * na
    (rl,) = struct.unpack_from(">i", data, p); p += 4
    records = data[p:p + max(rl, 0)]
    return err, hw, records

def _recv(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out

def batches(records):
    p = 0
    while p + 61 <= len(records):
        base, length = struct.unpack_from(">qi", records, p)
        if p + 12 + length > len(records):
            break  # partial
        (epoch, magic, crc, attrs, lod, fts, mts, pid, pep, bseq, count) = struct.unpack_from(">ibIhiqqqhii", records, p + 12)
        yield dict(base=base, lod=lod, count=count, attrs=attrs, pid=pid, bseq=bseq, length=length)
        p += 12 + length

def scan(host, port, topic, partition, start=0, end=None, verbose_around=(), max_bytes=1 << 20):
    sock = socket.create_connection((host, port))
    offset, corr, problems, seen = start, 0, [], []
    hw = None
    while True:
        corr += 1
        err, hw, recs = fetch(sock, corr, topic, partition, offset, max_bytes)
        bl = list(batches(recs))
        if err or not bl:
            break
        for b in bl:
            seen.append(b)
            if b["base"] + b["lod"] < offset:
                continue
            if b["base"] > offset:
                problems.append(("gap", offset, b["base"]))
            if b["count"] != b["lod"] + 1:
                problems.append(("count", b))
            offset = b["base"] + b["lod"] + 1
        if end is not None and offset >= end or offset >= hw:
            break
    near = [b for b in seen if any(abs(b["base"] - v) < 40 for v in verbose_around)]
    sock.close()
    return dict(next=offset, hw=hw, problems=problems[:20], batches=len(seen), near=near[:20])

if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("topic")
    ap.add_argument("partition", type=int)
    ap.add_argument("--from", dest="start", type=int, default=0, help="first offset to fetch (default 0)")
    ap.add_argument("--max-bytes", type=int, default=1 << 20, help="fetch max bytes (default 1 MiB)")
    a = ap.parse_args()
    print(scan(a.host, a.port, a.topic, a.partition, start=a.start, max_bytes=a.max_bytes))
