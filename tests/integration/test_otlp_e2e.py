"""OTLP ingestion end to end on the vmagent implementation, with the real SDK.

Starts its own Prometheus (remote-write receiver on) and vmagent (flags and
relabel file as the otel_collector role renders them) on a private network,
sends one Claude Code-shaped session with the OpenTelemetry SDK and checks the
Claude Code queries return exactly what was sent. Then sends garbage and
checks ingestion still works.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
SENDER = ROOT / "tests" / "e2e_claude" / "send_claude_metrics.py"
import send_claude_metrics
from harness import assert_claude_labels, query, scalar

PREFIX = "vpsmon-it-otel"
OTLP_PATH = "/opentelemetry/v1/metrics"


def render_relabel(dest: Path) -> None:
    """The relabel file through Ansible's template engine, as the role renders it."""
    play = dest.parent / "render.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.template:\n"
        f"        src: {ROOT}/roles/otel_collector/templates/vmagent-relabel.yml.j2\n"
        f"        dest: {dest}\n        mode: '0644'\n")
    subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                    "-e", f"ansible_python_interpreter={ROOT}/.venv/bin/python", str(play)],
                   check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def stack(docker_client, images):
    # vmagent runs as nobody: the relabel file must be readable along its path
    # (pytest's tmp_path sits under a 0700 directory).
    tmp = Path(tempfile.mkdtemp(prefix="vpsmon-it-otel-"))
    tmp.chmod(0o755)
    relabel = tmp / "relabel.yml"
    render_relabel(relabel)
    net = docker_client.networks.create(f"{PREFIX}-net", driver="bridge")
    made = []
    try:
        prom = docker_client.containers.run(
            images["prometheus_image"], name=f"{PREFIX}-prometheus", detach=True,
            network=net.name, ports={"9090/tcp": ("127.0.0.1", None)},
            command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/tsdb",
                     "--web.enable-remote-write-receiver"])
        made.append(prom)
        net.disconnect(prom)
        net.connect(prom, aliases=["prometheus"])
        vm = docker_client.containers.run(
            images["otel_collector_vmagent_image"], name=f"{PREFIX}-vmagent", detach=True,
            network=net.name, ports={"4318/tcp": ("127.0.0.1", None), "8429/tcp": ("127.0.0.1", None)},
            mem_limit="512m", read_only=True, tmpfs={"/vmagent-remotewrite-data": "size=64m,uid=65534"},
            volumes={str(relabel): {"bind": "/etc/vmagent/relabel.yml", "mode": "ro"}},
            command=["-httpListenAddr=:8429,:4318", "-opentelemetry.usePrometheusNaming",
                     "-remoteWrite.url=http://prometheus:9090/api/v1/write", "-remoteWrite.forcePromProto",
                     "-remoteWrite.relabelConfig=/etc/vmagent/relabel.yml", "-remoteWrite.flushInterval=1s",
                     "-remoteWrite.tmpDataPath=/vmagent-remotewrite-data"])
        made.append(vm)
        for c in made:
            c.reload()

        def port(c, p):
            return c.attrs["NetworkSettings"]["Ports"][p][0]["HostPort"]

        urls = {"prom": f"http://127.0.0.1:{port(prom, '9090/tcp')}",
                "otlp": f"http://127.0.0.1:{port(vm, '4318/tcp')}",
                "vm": f"http://127.0.0.1:{port(vm, '8429/tcp')}", "container": vm}
        wait_until(lambda: requests.get(urls["prom"] + "/-/ready", timeout=2).ok, 60, what="prometheus ready")
        try:
            wait_until(lambda: _alive(vm) and requests.get(urls["vm"] + "/health", timeout=2).ok, 60,
                       what="vmagent healthy")
        except AssertionError as exc:
            raise AssertionError(f"vmagent did not start: {exc}\n{vm.logs(tail=20).decode()}") from None
        yield urls
    finally:
        for c in made:
            c.remove(force=True)
        net.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def _alive(container) -> bool:
    container.reload()
    if container.status == "exited":
        raise AssertionError("vmagent exited: " + container.logs(tail=20).decode())
    return True


def send(urls, session_id: str) -> dict:
    out = subprocess.run([sys.executable, str(SENDER), "--metrics-endpoint", urls["otlp"] + OTLP_PATH,
                          "--session-id", session_id], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["expected"]


def test_standard_otlp_path_is_not_served(stack):
    """Why claude_code_telemetry sets OTEL_EXPORTER_OTLP_METRICS_ENDPOINT for vmagent."""
    r = requests.post(stack["otlp"] + "/v1/metrics", data=b"", timeout=5,
                      headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 400 and "unsupported path" in r.text


def test_claude_code_queries_return_what_was_sent(stack):
    sid = f"it-{uuid.uuid4()}"
    exp = send(stack, sid)
    prom, sel = stack["prom"], f'{{session_id="{sid}"}}'
    wait_until(lambda: scalar(prom, f"sum(claude_code_cost_usage_USD_total{sel})") is not None, 30,
               what="the session's cost in Prometheus")
    by_model = {r["metric"]["model"]: float(r["value"][1])
                for r in query(prom, f"sum(claude_code_token_usage_tokens_total{sel}) by (model)")}
    assert by_model == exp["tokens_by_model"]
    assert scalar(prom, f"sum(claude_code_cost_usage_USD_total{sel})") == exp["claude_code.cost.usage"]
    assert scalar(prom, f"sum(claude_code_active_time_seconds_total{sel})") == exp["claude_code.active_time.total"]
    assert scalar(prom, f"sum(claude_code_lines_of_code_count_total{sel})") == exp["claude_code.lines_of_code.count"]
    # Every metric Claude Code documents, under its Prometheus name.
    for name, key in [("claude_code_session_count_total", "claude_code.session.count"),
                      ("claude_code_commit_count_total", "claude_code.commit.count"),
                      ("claude_code_pull_request_count_total", "claude_code.pull_request.count"),
                      ("claude_code_code_edit_tool_decision_total", "claude_code.code_edit_tool.decision")]:
        assert scalar(prom, f"sum({name}{sel})") == exp[key], name
    assert query(prom, f"claude_code_code_edit_tool_decision_count_total{sel}") == []
    assert_claude_labels(prom, sid, send_claude_metrics.APP_VERSION)


GARBAGE = [
    ("application/x-protobuf", b"\xff\xfe not protobuf \x00\x01" * 50),
    ("application/x-protobuf", b""),
    ("application/json", b"{\"resourceMetrics\": [{\"broken\": "),
    ("text/plain", b"claude_code_cost_usage_USD_total 1e308"),
    ("application/x-protobuf", b"\x0a" + b"\xff" * 10),  # truncated length-delimited field
]


def test_bad_input_does_not_take_ingestion_down(stack):
    url = stack["otlp"] + OTLP_PATH
    for ctype, body in GARBAGE:
        r = requests.post(url, data=body, headers={"Content-Type": ctype}, timeout=10)
        assert r.status_code < 500 or r.status_code == 400, (ctype, r.status_code, r.text[:200])
    # Unexpected metrics (a gauge and a histogram, other names) are accepted or dropped, not fatal.
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("someone.else")
    meter.create_histogram("weird.latency", unit="ms").record(12.5, {"x": "y"})
    meter.create_up_down_counter("weird.queue").add(-3)
    OTLPMetricExporter(endpoint=url, timeout=5).export(reader.get_metrics_data())
    provider.shutdown()
    assert requests.get(stack["vm"] + "/health", timeout=2).ok
    stack["container"].reload()
    assert stack["container"].status == "running"
    # A valid batch after all that still lands.
    sid = f"it-after-garbage-{uuid.uuid4()}"
    exp = send(stack, sid)
    wait_until(lambda: scalar(stack["prom"], f'sum(claude_code_cost_usage_USD_total{{session_id="{sid}"}})')
               == exp["claude_code.cost.usage"], 30, what="valid batch after garbage")
    errors = requests.get(stack["vm"] + "/metrics", timeout=5).text
    assert 'vmagent_http_request_errors_total{path="/opentelemetry/v1/metrics", protocol="opentelemetry"}' in errors
