# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Latency the front door (roles/proxy, Caddy) adds, and its idle memory.

Starts a Prometheus (remote-write receiver) and vmagent (OTLP/HTTP) on a
private network under the stack's names, deploys the proxy role in front of
them with ansible-playbook (container vpsmon-bench-fd-proxy, 127.0.0.1 only),
then, interleaving the two paths call by call so both see the same load:

- OTLP export: one Claude Code-shaped batch with the real OpenTelemetry SDK
  exporter (keep-alive session), straight to vmagent over HTTP vs through
  the proxy over HTTPS with the bearer token;
- Prometheus query (`up`): straight to Prometheus vs through the proxy with
  basic auth (Caddy caches a verified bcrypt result).

Prints p50/p95 of each and the difference, then the proxy's memory after it
has been idle (cgroup usage without page cache, and the Caddy process's RSS).
Removes everything it created, also on failure.

    .venv/bin/python benchmarks/proxy_latency.py [--calls 200] [--idle 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker
import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e_claude"))
import send_claude_metrics  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter  # noqa: E402
from opentelemetry.sdk.metrics import Counter, MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import (  # noqa: E402
    AggregationTemporality, InMemoryMetricReader, MetricExportResult)
from opentelemetry.sdk.resources import Resource  # noqa: E402

PREFIX = "vpsmon-bench-fd"
HTTPS_PORT, HTTP_PORT = 18543, 18180


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def batch():
    """One Claude Code session's metrics, collected once (export reuses it)."""
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.CUMULATIVE})
    provider = MeterProvider(resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader])
    meter = provider.get_meter(send_claude_metrics.METER)
    common = send_claude_metrics.standard_attributes("bench-proxy")
    for name, unit, desc, points in send_claude_metrics.SESSION:
        counter = meter.create_counter(name, unit=unit, description=desc)
        for attrs, value in points:
            counter.add(value, {**common, **attrs})
    return reader.get_metrics_data()


def deploy_proxy(work: Path, images: dict, network: str) -> subprocess.CompletedProcess:
    (work / "play.yml").write_text("- hosts: localhost\n  gather_facts: false\n"
                                   "  roles:\n    - vps.monitoring.proxy\n")
    (work / "vars.json").write_text(json.dumps({
        "ansible_python_interpreter": sys.executable, "stack_base_dir": str(work / "stack"),
        "stack_network": network, "stack_otel_implementation": "vmagent",
        "proxy_container_name": f"{PREFIX}-proxy", "proxy_image": images["proxy_image"],
        "proxy_bind_address": "127.0.0.1", "proxy_https_port": HTTPS_PORT, "proxy_http_port": HTTP_PORT,
        "proxy_internal_tls_names": ["127.0.0.1"]}))
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections"),
           "ANSIBLE_ROLES_PATH": str(ROOT / "roles")}
    return subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"@{work / 'vars.json'}", str(work / "play.yml")],
                          capture_output=True, text=True, check=False, env=env)


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def report(label: str, direct: list[float], proxied: list[float]) -> None:
    d50, d95, p50, p95 = pct(direct, 50), pct(direct, 95), pct(proxied, 50), pct(proxied, 95)
    print(f"{label:<22} direct p50 {d50:7.2f} ms p95 {d95:7.2f} ms | via proxy p50 {p50:7.2f} ms "
          f"p95 {p95:7.2f} ms | added p50 {p50 - d50:+7.2f} ms p95 {p95 - d95:+7.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per path and kind")
    parser.add_argument("--idle", type=float, default=10, help="seconds idle before reading memory")
    args = parser.parse_args()
    images = yaml.safe_load((ROOT / ".cache" / "images.yml").read_text())
    client = docker.from_env()
    work = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    work.chmod(0o755)
    net = client.networks.create(f"{PREFIX}-net", driver="bridge")
    made = []
    try:
        def run(name, image, alias, **kw):
            c = client.containers.run(image, name=f"{PREFIX}-{name}", detach=True, **kw)
            made.append(c)
            net.connect(c, aliases=[alias])
            return c

        prom = run("prometheus", images["prometheus_image"], "prometheus", ports={"9090/tcp": ("127.0.0.1", None)},
                   command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/tsdb",
                            "--web.enable-remote-write-receiver"])
        otel = run("otel", images["otel_collector_vmagent_image"], "otel-collector",
                   ports={"4318/tcp": ("127.0.0.1", None)},
                   tmpfs={"/vmagent-remotewrite-data": "size=64m,uid=65534"},
                   command=["-httpListenAddr=:8429,:4318", "-opentelemetry.usePrometheusNaming",
                            "-remoteWrite.url=http://prometheus:9090/api/v1/write", "-remoteWrite.forcePromProto",
                            "-remoteWrite.tmpDataPath=/vmagent-remotewrite-data"])
        deployed = deploy_proxy(work, images, net.name)
        if deployed.returncode != 0:
            print(deployed.stdout[-3000:], file=sys.stderr)
            return 1
        for c in (prom, otel):
            c.reload()
        port = {c: c.attrs["NetworkSettings"]["Ports"][p][0]["HostPort"]
                for c, p in ((prom, "9090/tcp"), (otel, "4318/tcp"))}
        secrets = work / "stack" / "proxy" / "secrets"
        token = (secrets / "otlp_token").read_text()
        password = (secrets / "ui-admin.password").read_text()
        ca = str(work / "stack" / "proxy" / "ca" / "root.crt")
        front = f"https://127.0.0.1:{HTTPS_PORT}"

        data = batch()
        direct_exp = OTLPMetricExporter(endpoint=f"http://127.0.0.1:{port[otel]}/opentelemetry/v1/metrics")
        proxy_exp = OTLPMetricExporter(endpoint=f"{front}/v1/metrics", certificate_file=ca,
                                       headers={"Authorization": f"Bearer {token}"})
        # requests would let REQUESTS_CA_BUNDLE override certificate_file.
        for key in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            os.environ.pop(key, None)
        direct_q, proxy_q = requests.Session(), requests.Session()
        proxy_q.auth, proxy_q.verify = ("admin", password), ca

        def export(exp):
            if exp.export(data) is not MetricExportResult.SUCCESS:
                raise RuntimeError("export failed")

        def ask(session, url):
            r = session.get(url, params={"query": "up"}, timeout=10)
            r.raise_for_status()

        prom_direct = f"http://127.0.0.1:{port[prom]}/api/v1/query"
        prom_proxy = f"{front}/prometheus/api/v1/query"
        # Warm-up: connections, TLS sessions, Caddy's bcrypt cache.
        for _unused in range(5):
            export(direct_exp), export(proxy_exp), ask(direct_q, prom_direct), ask(proxy_q, prom_proxy)
        times = {k: [] for k in ("otlp_direct", "otlp_proxy", "query_direct", "query_proxy")}
        for _unused in range(args.calls):
            times["otlp_direct"].append(timed(lambda: export(direct_exp)))
            times["otlp_proxy"].append(timed(lambda: export(proxy_exp)))
            times["query_direct"].append(timed(lambda: ask(direct_q, prom_direct)))
            times["query_proxy"].append(timed(lambda: ask(proxy_q, prom_proxy)))
        print(f"proxy latency, {args.calls} calls per path, interleaved; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} CPUs")
        report("OTLP export (SDK)", times["otlp_direct"], times["otlp_proxy"])
        report("Prometheus query up", times["query_direct"], times["query_proxy"])
        direct_exp.shutdown(), proxy_exp.shutdown()

        proxy = client.containers.get(f"{PREFIX}-proxy")
        time.sleep(args.idle)  # idle period being measured, not a readiness wait
        stats = proxy.stats(stream=False)["memory_stats"]
        cache = stats.get("stats", {}).get("cache", stats.get("stats", {}).get("inactive_file", 0))
        status = dict(ln.split(":", 1) for ln in proxy.exec_run(["cat", "/proc/1/status"]).output.decode().splitlines())
        kib = {k: int(status[k].split()[0]) / 1024 for k in ("VmRSS", "RssAnon", "RssFile")}
        # RssFile is mostly the mapped caddy binary: page cache, shared, not charged as usage.
        print(f"proxy idle memory after {args.idle:.0f}s: cgroup {(stats['usage'] - cache) / 2**20:.1f} MiB "
              f"without page cache (limit {stats['limit'] / 2**20:.0f} MiB); caddy RSS {kib['VmRSS']:.1f} MiB "
              f"= anon {kib['RssAnon']:.1f} + file {kib['RssFile']:.1f}")
        return 0
    finally:
        for name in (f"{PREFIX}-proxy",):
            try:
                client.containers.get(name).remove(force=True)
            except docker.errors.NotFound:
                pass
        for c in made:
            c.remove(force=True)
        net.remove()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
