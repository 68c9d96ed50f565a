# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scrape latency and memory of the docker exporter at 10, 50 and 100 containers.

Builds the exporter image from programs/docker_exporter, runs it as
vpsmon-bench-exporter (socket read-only, non-root, as the role does), starts
small sleeping containers vpsmon-bench-NNN, scrapes /metrics repeatedly and
prints p50/p95 scrape latency per container count, the exporter's peak RSS
over those scrapes (process_resident_memory_bytes) and how many containers
each scrape had to inspect (0 once the engine watcher's cache holds).
Removes everything it created, also on failure. Targets: p95 < 300 ms at 50 containers, RSS < 40 MB.

    .venv/bin/python benchmarks/docker_exporter_scrape.py [--scrapes 30] [--stats-mode stream|oneshot]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import time
import urllib.request
from pathlib import Path

import docker
import yaml

ROOT = Path(__file__).resolve().parent.parent
SOCKET = "/var/run/docker.sock"
INSPECTS = 'docker_exporter_engine_requests_total{call="inspect"}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(url: str) -> tuple[float, str]:
    started = time.perf_counter()
    body = urllib.request.urlopen(url, timeout=30).read().decode()
    return time.perf_counter() - started, body


def metric(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def cleanup(client):
    for container in client.containers.list(all=True, filters={"name": "vpsmon-bench-"}):
        container.remove(force=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="10,50,100")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--stats-mode", choices=["stream", "oneshot"], default="stream")
    parser.add_argument("--base-image", default=None, help="default: docker_exporter_base_image from .cache/images.yml")
    args = parser.parse_args()
    base = args.base_image or yaml.safe_load((ROOT / ".cache" / "images.yml").read_text())["docker_exporter_base_image"]
    client = docker.from_env(timeout=120)
    cleanup(client)
    try:
        image, _build_log = client.images.build(
            path=str(ROOT / "programs" / "docker_exporter"),
            tag="vpsmon-bench-exporter:latest", buildargs={"BASE_IMAGE": base}, rm=True, pull=False)
        port = free_port()
        client.containers.run(
            image.id, name="vpsmon-bench-exporter", detach=True,
            command=["--listen-address=0.0.0.0:9487", f"--stats-mode={args.stats_mode}"],
            volumes={SOCKET: {"bind": "/var/run/docker.sock", "mode": "ro"}}, user="65534:65534",
            group_add=[str(os.stat(SOCKET).st_gid)], read_only=True, mem_limit="256m",
            ports={"9487/tcp": ("127.0.0.1", port)})
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(url)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        existing = 0
        print(f"stats mode {args.stats_mode}, {args.scrapes} scrapes per count, 1 s apart")
        print(f"{'containers':>10} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'RSS MiB':>8} {'RSS MB':>7}"
              f" {'inspects/scrape':>15}")
        for count in [int(c) for c in args.counts.split(",")]:
            for index in range(existing, count):
                client.containers.run(base, ["sleep", "3600"], name=f"vpsmon-bench-{index:03d}", detach=True,
                                      mem_limit="16m")
            existing = count
            scrape(url)  # warm-up: new stats streams deliver their first sample
            latencies, rss_peak = [], 0.0
            _elapsed, body = scrape(url)
            inspects_before = metric(body, INSPECTS)
            for _scrape in range(args.scrapes):
                elapsed, body = scrape(url)
                latencies.append(elapsed)
                rss_peak = max(rss_peak, metric(body, "process_resident_memory_bytes"))
                time.sleep(1)  # a scrape interval, scaled down
            running = metric(body, "docker_exporter_containers")
            inspects = (metric(body, INSPECTS) - inspects_before) / args.scrapes
            print(f"{count:>10} {statistics.median(latencies) * 1000:8.1f} {percentile(latencies, 0.95) * 1000:8.1f}"
                  f" {max(latencies) * 1000:8.1f} {rss_peak / 2**20:8.1f} {rss_peak / 1e6:7.1f} {inspects:15.2f}"
                  f"   (exporter saw {running:.0f} containers)")
        stats = client.containers.get("vpsmon-bench-exporter").stats(stream=False)
        print(f"exporter container memory usage (cgroup) at {existing}: "
              f"{stats['memory_stats'].get('usage', 0) / 2**20:.1f} MiB")
    finally:
        cleanup(client)
    return 0


if __name__ == "__main__":
    sys.exit(main())
