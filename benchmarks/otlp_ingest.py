# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""OTLP ingestion throughput and memory: otlp_receiver and vmagent side by side.

Starts, in one run, the collection's OTLP receiver (its real image, as the
otel_collector role runs it) and vmagent with Prometheus (remote write), as
containers vpsmon-it-bench-* removed at the end, and measures each in three
scenarios:

  stream    --threads clients post one --series-point OTLP/protobuf request
            as fast as they can for --seconds;
  sessions  --sessions Claude Code sessions (the real SDK's encoding of the
            session tests/e2e_claude sends: metrics, and for the receiver
            also the log events) each exporting every --interval seconds;
  100x      the same sessions exporting --multiplier times as often: the
            goal is to keep up with it (requests/s achieved vs asked).

For each: requests and points per second accepted (HTTP 2xx), failures,
export latency (p50/p95), and container memory: the peak of cgroup usage
minus inactive page cache, sampled every 0.2 s, and the cgroup's own peak
(memory.max_usage_in_bytes, page cache included). The load generator
(tests/otlp_receiver/loadgen.py) runs in a container on the same network, in
--procs processes (--threads in the stream scenario), so it reaches the
ingestion as a remote client does and gets CPU on the same terms; it shares
the machine's CPUs with the container under test.

Usage: .venv/bin/python benchmarks/otlp_ingest.py [--seconds 15] [--series 500]
       [--threads 4] [--sessions 50] [--interval 5] [--multiplier 100] [--procs 4]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import statistics
import sys
import tempfile
import threading
from pathlib import Path

import docker
import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "otlp_receiver"))
sys.path.insert(0, str(ROOT / "tests" / "e2e_claude"))
from conftest import wait_until  # noqa: E402
import harness  # noqa: E402
import send_claude_metrics as claude  # noqa: E402

from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics  # noqa: E402
from opentelemetry.sdk.metrics import Counter, MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402

PREFIX = "vpsmon-it-bench"
LOADGEN = ROOT / "tests" / "otlp_receiver" / "loadgen.py"
VMAGENT_PATH = "/opentelemetry/v1/metrics"


def stream_body(series: int) -> bytes:
    """One request with `series` token-usage points (distinct sessions)."""
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.CUMULATIVE})
    provider = MeterProvider(resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader])
    counter = provider.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage", unit="tokens")
    for i in range(series):
        kind = ["input", "output", "cacheRead", "cacheCreation"][i % 4]
        counter.add(100 + i, {"session.id": f"bench-{i // 4}", "type": kind,
                              "model": "claude-sonnet-4-5", "user.email": "dev@example.invalid"})
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    provider.shutdown()
    return body


def session_bodies(session_id: str, with_logs: bool) -> list[tuple[str, bytes, int]]:
    """One session's export: (signal, body, points). Cumulative, so replaying
    the same body is a valid repeat for both implementations."""
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.CUMULATIVE})
    provider = MeterProvider(resource=Resource.create(claude.RESOURCE), metric_readers=[reader])
    claude._record_session(provider.get_meter(claude.METER, claude.APP_VERSION), session_id)
    request = encode_metrics(reader.get_metrics_data())
    provider.shutdown()
    points = sum(len(m.sum.data_points) for rm in request.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics)
    out = [("metrics", request.SerializeToString(), points)]
    if with_logs:
        out.append(("logs", encode_logs(claude._event_records(session_id)).SerializeToString(), len(claude.EVENTS)))
    return out


class Memory:
    """Samples a container's cgroup (v1) memory every 0.2 s in a thread."""

    def __init__(self, container) -> None:
        base = Path("/sys/fs/cgroup/memory/docker") / container.id
        self.usage, self.stat = base / "memory.usage_in_bytes", base / "memory.stat"
        self.peak_file = base / "memory.max_usage_in_bytes"
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _now(self) -> int:
        stat = dict(line.split() for line in self.stat.read_text().splitlines())
        return int(self.usage.read_text()) - int(stat.get("total_inactive_file", stat.get("inactive_file", 0)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self._now())
            self._stop.wait(0.2)

    def __enter__(self):
        try:
            self.peak_file.write_text("0")  # reset the cgroup's own peak
        except OSError:
            pass
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> str:
        peak = int(self.peak_file.read_text())
        median = statistics.median(self.samples) / 2**20
        return (f"memory peak {max(self.samples) / 2**20:.1f} MiB (median {median:.1f}); "
                f"cgroup max_usage {peak / 2**20:.1f} MiB")


def drive(client, net: str, base_image: str, target: str, jobs: list, every: float, seconds: float,
          procs: int) -> dict:
    """Run tests/otlp_receiver/loadgen.py in a container on the benchmark network."""
    host, port = target.split(":")
    with tempfile.TemporaryDirectory(prefix="vpsmon-bench-load-") as tmp:
        Path(tmp).chmod(0o755)
        spec = Path(tmp) / "jobs.pkl"
        spec.write_bytes(pickle.dumps({"host": host, "port": int(port), "jobs": jobs, "every": every,
                                       "seconds": seconds, "procs": procs}))
        spec.chmod(0o644)
        out = client.containers.run(
            base_image, ["python3", "/load/loadgen.py", "/load/jobs.pkl"], name=f"{PREFIX}-load", network=net,
            remove=True, volumes={str(LOADGEN): {"bind": "/load/loadgen.py", "mode": "ro"},
                                  str(spec): {"bind": "/load/jobs.pkl", "mode": "ro"}})
    return json.loads(out)


def line(name: str, scenario: str, res: dict, mem: Memory, asked: float | None = None) -> str:
    rps, pps = res["ok"] / res["seconds"], res["points"] / res["seconds"]
    want = (f" (asked {asked:,.0f} req/s, got {100 * rps / asked:.0f}% of it; worst lag {res['late']:.1f} s)"
            if asked else "")
    return (f"{name:13} {scenario:9} {rps:8,.0f} req/s {pps:10,.0f} points/s{want}; failed {res['failed']}; "
            f"latency p50 {res['p50']:.1f} ms p95 {res['p95']:.1f} ms; {mem.report()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--series", type=int, default=500, help="data points per request in the stream scenario")
    parser.add_argument("--threads", type=int, default=4, help="concurrent clients in the stream scenario")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--interval", type=float, default=5, help="seconds between one session's exports")
    parser.add_argument("--multiplier", type=int, default=100)
    parser.add_argument("--procs", type=int, default=4, help="load-generating processes (sessions scenarios)")
    parser.add_argument("--only", choices=["otlp_receiver", "vmagent"], help="measure one implementation")
    args = parser.parse_args()
    images = yaml.safe_load((ROOT / ".cache" / "images.yml").read_text())
    for key in images:
        images[key] = os.environ.get("VPSMON_" + key.upper(), images[key])
    client = docker.from_env()
    base = images["docker_exporter_base_image"]
    tmp = Path(tempfile.mkdtemp(prefix="vpsmon-bench-"))
    tmp.chmod(0o755)
    relabel = tmp / "relabel.yml"
    template = ROOT / "roles/otel_collector/templates/vmagent-relabel.yml.j2"
    relabel.write_text("\n".join(ln for ln in template.read_text().splitlines() if "ansible_managed" not in ln) + "\n")
    relabel.chmod(0o644)
    net = client.networks.create(f"{PREFIX}-net")
    made = []
    try:
        targets = {}
        if args.only in (None, "otlp_receiver"):
            image = harness.build_image(client, base)
            rc, urls = harness.run_receiver(client, image, f"{PREFIX}-receiver", net.name, mem_limit="512m",
                                            alias="receiver")
            made.append(rc)
            wait_until(lambda: requests.get(f"http://{urls['13133']}/", timeout=2).ok, 60, what="receiver")
            targets["otlp_receiver"] = (rc, "receiver:4318", "/v1/metrics", True)
        if args.only in (None, "vmagent"):
            prom = client.containers.run(images["prometheus_image"], name=f"{PREFIX}-prometheus", detach=True,
                                         ports={"9090/tcp": ("127.0.0.1", None)},
                                         command=["--config.file=/etc/prometheus/prometheus.yml",
                                                  "--storage.tsdb.path=/tmp/tsdb",
                                                  "--web.enable-remote-write-receiver"])
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
            vm.reload()
            vmm = f"http://127.0.0.1:{vm.attrs['NetworkSettings']['Ports']['8429/tcp'][0]['HostPort']}/health"
            wait_until(lambda: requests.get(vmm, timeout=2).ok, 60, what="vmagent")
            targets["vmagent"] = (vm, f"{PREFIX}-vmagent:4318", VMAGENT_PATH, False)

        body = stream_body(args.series)
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
              f"{args.procs} client processes share them with the containers")
        print(f"stream: {args.threads} clients, {args.series} points ({len(body)} bytes) per request; "
              f"sessions: {args.sessions} Claude Code sessions every {args.interval:g} s; "
              f"100x: the same every {args.interval / args.multiplier:g} s; {args.seconds:g} s each")
        for name, (container, url, path, logs) in targets.items():
            with Memory(container) as mem:
                res = drive(client, net.name, base, url, [(path, body, args.series)] * args.threads, 0,
                            args.seconds, args.threads)
            print(line(name, "stream", res, mem), flush=True)
            jobs = []
            for i in range(args.sessions):
                for signal, session_body, points in session_bodies(f"bench-session-{i}", logs):
                    jobs.append(("/v1/logs" if signal == "logs" else path, session_body, points))
            for scenario, every in (("sessions", args.interval), ("100x", args.interval / args.multiplier)):
                with Memory(container) as mem:
                    res = drive(client, net.name, base, url, jobs, every, args.seconds, args.procs)
                print(line(name, scenario, res, mem, asked=len(jobs) / every), flush=True)
        if "otlp_receiver" in targets:
            ports = targets["otlp_receiver"][0].attrs["NetworkSettings"]["Ports"]
            text = requests.get(f"http://127.0.0.1:{ports['8889/tcp'][0]['HostPort']}/metrics", timeout=10).text
            own = [ln for ln in text.splitlines() if ln.startswith(("otlp_receiver_series ", "otlp_receiver_dropped"))]
            print("otlp_receiver after the run: " + "; ".join(own))
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
