"""OTLP load generator for benchmarks/otlp_ingest.py (standard library only).

Runs inside a container on the benchmark's network (the python-base image),
so it reaches the ingestion containers as a remote client would and gets CPU
on the same terms as they do. Reads its jobs from a pickle: {host, port,
jobs: [(path, body, points)], every, seconds, procs}; each job is posted
every `every` seconds (0: back to back) for `seconds`, over keep-alive
connections from `procs` processes. Prints the results as JSON.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import pickle
import socket
import sys
import time


def _connect(host: str, port: int) -> http.client.HTTPConnection:
    """Keep-alive without Nagle's delay, as urllib3 and Node's http open them."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.connect()
    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def _client(args: tuple) -> dict:
    host, port, jobs, every, seconds, start_at = args
    conn = _connect(host, port)
    ok = failed = points = 0
    latencies: list[float] = []
    late = 0.0
    n = len(jobs)
    due = [start_at + (every * i / n if every else 0) for i in range(n)]
    stop = start_at + seconds
    while True:
        i = min(range(n), key=due.__getitem__) if every else (ok + failed) % n
        at = due[i] if every else time.time()
        if at >= stop:
            break
        wait = at - time.time()
        if wait > 0:
            time.sleep(wait)
        else:
            late = max(late, -wait)
        path, body, count = jobs[i]
        t0 = time.perf_counter()
        try:
            conn.request("POST", path, body, {"Content-Type": "application/x-protobuf"})
            resp = conn.getresponse()
            resp.read()
            good = 200 <= resp.status < 300
        except OSError:
            conn.close()
            conn = _connect(host, port)
            good = False
        latencies.append(time.perf_counter() - t0)
        if good:
            ok += 1
            points += count
        else:
            failed += 1
        if every:
            due[i] += every
    conn.close()
    return {"ok": ok, "failed": failed, "points": points, "latencies": latencies, "late": late,
            "elapsed": time.time() - start_at}


def main(path: str) -> int:
    with open(path, "rb") as fh:
        spec = pickle.load(fh)
    jobs, procs = spec["jobs"], spec["procs"]
    start_at = time.time() + 0.5
    chunks = [jobs[i::procs] for i in range(procs) if jobs[i::procs]]
    with multiprocessing.Pool(len(chunks)) as pool:
        results = pool.map(_client, [(spec["host"], spec["port"], c, spec["every"], spec["seconds"], start_at)
                                     for c in chunks])
    lat = sorted(x for r in results for x in r["latencies"])
    print(json.dumps({
        "ok": sum(r["ok"] for r in results), "failed": sum(r["failed"] for r in results),
        "points": sum(r["points"] for r in results),
        # Wall time until the last request due within `seconds` was answered.
        "seconds": max(spec["seconds"], max(r["elapsed"] for r in results)),
        "p50": lat[len(lat) // 2] * 1000 if lat else 0, "p95": lat[int(len(lat) * 0.95)] * 1000 if lat else 0,
        "late": max(r["late"] for r in results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
