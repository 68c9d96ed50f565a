# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many OTLP data points per second the vmagent ingestion path takes here.

Starts Prometheus (remote-write receiver) and vmagent as the otel_collector
role runs them (containers vpsmon-it-bench-*, removed at the end), builds one
OTLP/protobuf request of Claude Code-shaped points with the real SDK encoder,
posts it from several threads for --seconds, and prints:
  - points/s accepted by vmagent (its own vmagent_rows_inserted_total),
  - rows/s vmagent forwarded by remote write, its 2xx/other request counts
    and what is still queued,
  - vmagent memory (docker stats: cgroup usage, peak of the samples).
Usage: .venv/bin/python benchmarks/otlp_ingest.py [--seconds 20] [--series 500] [--threads 4]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import wait_until  # noqa: E402

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics  # noqa: E402
from opentelemetry.sdk.metrics import Counter, MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402

PREFIX = "vpsmon-it-bench"


def build_request(series: int) -> tuple[bytes, int]:
    """One request with `series` token-usage points (distinct sessions)."""
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.CUMULATIVE})
    provider = MeterProvider(resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader])
    counter = provider.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage", unit="tokens")
    for i in range(series):
        counter.add(100 + i, {"session.id": f"bench-{i // 4}", "type": ["input", "output", "cacheRead", "cacheCreation"][i % 4],
                              "model": "claude-sonnet-4-5", "user.email": "dev@example.invalid"})
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    provider.shutdown()
    return body, series


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--series", type=int, default=500, help="data points per request")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    images = yaml.safe_load((ROOT / ".cache" / "images.yml").read_text())
    client = docker.from_env()
    tmp = Path(tempfile.mkdtemp(prefix="vpsmon-bench-"))
    tmp.chmod(0o755)
    relabel = tmp / "relabel.yml"
    relabel.write_text("\n".join(line for line in
                                 (ROOT / "roles/otel_collector/templates/vmagent-relabel.yml.j2").read_text().splitlines()
                                 if "ansible_managed" not in line) + "\n")
    relabel.chmod(0o644)
    net = client.networks.create(f"{PREFIX}-net")
    made = []
    try:
        prom = client.containers.run(images["prometheus_image"], name=f"{PREFIX}-prometheus", detach=True,
                                     ports={"9090/tcp": ("127.0.0.1", None)},
                                     command=["--config.file=/etc/prometheus/prometheus.yml",
                                              "--storage.tsdb.path=/tmp/tsdb", "--web.enable-remote-write-receiver"])
        made.append(prom)
        net.connect(prom, aliases=["prometheus"])
        vm = client.containers.run(
            images["otel_collector_vmagent_image"], name=f"{PREFIX}-vmagent", detach=True, network=net.name,
            ports={"4318/tcp": ("127.0.0.1", None), "8429/tcp": ("127.0.0.1", None)}, mem_limit="512m",
            read_only=True, tmpfs={"/vmagent-remotewrite-data": "size=64m,uid=65534"},
            environment={"GOMEMLIMIT": "409MiB"},
            volumes={str(relabel): {"bind": "/etc/vmagent/relabel.yml", "mode": "ro"}},
            command=["-httpListenAddr=:8429,:4318", "-opentelemetry.usePrometheusNaming",
                     "-remoteWrite.url=http://prometheus:9090/api/v1/write", "-remoteWrite.forcePromProto",
                     "-remoteWrite.relabelConfig=/etc/vmagent/relabel.yml", "-remoteWrite.flushInterval=1s",
                     "-remoteWrite.tmpDataPath=/vmagent-remotewrite-data", "-memory.allowedPercent=60"])
        made.append(vm)
        for c in made:
            c.reload()

        def port(c, p):
            return c.attrs["NetworkSettings"]["Ports"][p][0]["HostPort"]

        otlp = f"http://127.0.0.1:{port(vm, '4318/tcp')}/opentelemetry/v1/metrics"
        vmm = f"http://127.0.0.1:{port(vm, '8429/tcp')}/metrics"
        promm = f"http://127.0.0.1:{port(prom, '9090/tcp')}/-/ready"
        wait_until(lambda: requests.get(vmm, timeout=2).ok and requests.get(promm, timeout=2).ok, 60, what="containers")
        body, per_request = build_request(args.series)
        rows0 = metric(requests.get(vmm).text, 'vmagent_rows_inserted_total{type="opentelemetry"}')
        text0 = requests.get(vmm).text
        fwd0 = metric(text0, "vmagent_remotewrite_rows_pushed_after_relabel_total")
        stop = time.monotonic() + args.seconds
        sent = [0] * args.threads
        errors = [0] * args.threads

        def worker(i: int) -> None:
            session = requests.Session()
            headers = {"Content-Type": "application/x-protobuf"}
            while time.monotonic() < stop:
                r = session.post(otlp, data=body, headers=headers, timeout=10)
                if r.ok:
                    sent[i] += per_request
                else:
                    errors[i] += 1

        mem = []
        started = time.monotonic()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            stats = vm.stats(stream=False)["memory_stats"]
            mem.append(stats.get("usage", 0) - stats.get("stats", {}).get("inactive_file", 0))
        elapsed = time.monotonic() - started
        # Let vmagent flush what it buffered before reading Prometheus's side.
        time.sleep(3)
        rows = metric(requests.get(vmm).text, 'vmagent_rows_inserted_total{type="opentelemetry"}') - rows0
        text = requests.get(vmm).text
        forwarded = metric(text, "vmagent_remotewrite_rows_pushed_after_relabel_total") - fwd0
        rw_ok = metric(text, 'vmagent_remotewrite_requests_total{url="1:secret-url", status_code="2XX"}')
        rw_bad = metric(text, "vmagent_remotewrite_requests_total") - rw_ok
        pending = metric(text, "vm_persistentqueue_bytes_pending")
        print(f"machine: {os.cpu_count()} CPUs; {args.threads} client threads share them with vmagent and Prometheus")
        print(f"request: {per_request} points, {len(body)} bytes OTLP/protobuf; {elapsed:.1f} s")
        print(f"client: {sum(sent) / elapsed:,.0f} points/s accepted (HTTP 2xx), {sum(errors)} failed requests")
        print(f"vmagent: {rows / elapsed:,.0f} points/s ingested (vmagent_rows_inserted_total)")
        print(f"remote write: {forwarded / elapsed:,.0f} rows/s forwarded to Prometheus; requests 2xx={rw_ok:.0f} "
              f"other={rw_bad:.0f}; {pending:.0f} bytes still queued (Prometheus keeps one sample per series "
              f"and timestamp, so repeated identical points are not new samples there)")
        print(f"vmagent memory (cgroup usage - inactive_file, {len(mem)} samples): "
              f"peak {max(mem) / 2**20:.1f} MiB, median {sorted(mem)[len(mem) // 2] / 2**20:.1f} MiB, limit 512 MiB")
        return 0
    finally:
        for c in made:
            c.remove(force=True)
        net.remove()
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    sys.exit(main())
