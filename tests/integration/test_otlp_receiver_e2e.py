"""The OTLP receiver end to end: its real image, the real OpenTelemetry SDK,
a real Prometheus scraping it (plus node-exporter and the docker exporter for
the host and container queries), all on a private network.

What Claude Code sends, three ways, must land the exact totals:
  (a) Claude Code's documented settings.json environment verbatim: http/protobuf,
      endpoint without path, temporality left at Claude Code's default
      (delta), logs on;
  (b) Claude Code's gRPC quick start on 4317;
  (c) whatever the claude_code_telemetry role writes into settings.json;
plus OTLP/JSON, and every kind of bad input from the issue, each refused
with a 4xx, counted, and leaving other clients' data intact.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import grpc
import pytest
import requests
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource

from conftest import wait_until

ROOT = Path(__file__).resolve().parents[2]
SENDER = ROOT / "tests" / "e2e_claude" / "send_claude_metrics.py"
import harness
import send_claude_metrics
from harness import assert_claude_labels, by_label, query, scalar

PREFIX = "vpsmon-it-otlp"
MAX_BYTES = 1 << 20
SOCKET = "/var/run/docker.sock"


def _prometheus_config() -> str:
    jobs = [("otel-collector", "otel-collector:8889", True), ("node-exporter", "node-exporter:9100", False),
            ("docker-exporter", "docker-exporter:9487", False)]
    out = "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
    for job, target, honor in jobs:
        out += f"  - job_name: {job}\n    honor_labels: {str(honor).lower()}\n"
        out += f"    static_configs: [{{targets: ['{target}']}}]\n"
    return out


@pytest.fixture(scope="module")
def stack(docker_client, images):
    base = images["docker_exporter_base_image"]
    check = subprocess.run(["docker", "run", "--rm", base, "python3", "-c",
                            "import grpc, opentelemetry.proto.collector.logs.v1.logs_service_pb2"],
                           capture_output=True, text=True, check=False)
    if check.returncode != 0:
        pytest.fail(f"{base} lacks python3-grpcio/python3-opentelemetry-proto: run python3 images/build.py "
                    f"(images/python-base/packages.txt lists them)\n{check.stderr[-500:]}")
    image = harness.build_image(docker_client, base)
    dx_image, _log = docker_client.images.build(
        path=str(ROOT / "programs" / "docker_exporter"), tag=f"{PREFIX}-dx:test", rm=True, pull=False,
        buildargs={"BASE_IMAGE": base})
    tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-"))
    tmp.chmod(0o755)
    (tmp / "prometheus.yml").write_text(_prometheus_config())
    (tmp / "prometheus.yml").chmod(0o644)
    for name in ("receiver", "prometheus", "node", "dx"):
        try:
            docker_client.containers.get(f"{PREFIX}-{name}").remove(force=True)
        except Exception:  # noqa: BLE001 - not there
            pass
    for net in docker_client.networks.list(names=[f"{PREFIX}-net"]):
        net.remove()
    net = docker_client.networks.create(f"{PREFIX}-net", driver="bridge")
    made = []
    try:
        receiver, urls = harness.run_receiver(
            docker_client, image, f"{PREFIX}-receiver", net.name,
            [f"--max-request-bytes={MAX_BYTES}", "--max-series=20000", "--expiration=15m", "--read-timeout=5"])
        made.append(receiver)
        node = docker_client.containers.run(images["node_exporter_image"], name=f"{PREFIX}-node", detach=True,
                                            read_only=True, cap_drop=["ALL"])
        made.append(node)
        net.connect(node, aliases=["node-exporter"])
        dx = docker_client.containers.run(
            dx_image.id, name=f"{PREFIX}-dx", detach=True, command=["--listen-address=0.0.0.0:9487"],
            volumes={SOCKET: {"bind": "/var/run/docker.sock", "mode": "ro"}}, user="65534:65534",
            group_add=[str(os.stat(SOCKET).st_gid)], read_only=True, cap_drop=["ALL"])
        made.append(dx)
        net.connect(dx, aliases=["docker-exporter"])
        prom = docker_client.containers.run(
            images["prometheus_image"], name=f"{PREFIX}-prometheus", detach=True, network=net.name,
            ports={"9090/tcp": ("127.0.0.1", None)},
            volumes={str(tmp / "prometheus.yml"): {"bind": "/etc/prometheus/prometheus.yml", "mode": "ro"}},
            command=["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/tmp/tsdb"])
        made.append(prom)
        prom.reload()
        urls["prom"] = f"http://127.0.0.1:{prom.attrs['NetworkSettings']['Ports']['9090/tcp'][0]['HostPort']}"
        urls["container"] = receiver
        wait_until(lambda: requests.get(urls["prom"] + "/-/ready", timeout=2).ok, 60, what="prometheus ready")
        wait_until(lambda: requests.get(f"http://{urls['13133']}/", timeout=2).ok, 60, what="receiver health")
        yield urls
    finally:
        for c in made:
            if c is made[0]:
                print(c.logs().decode(errors="replace")[-3000:], file=sys.stderr)
            c.remove(force=True)
        net.remove()
        shutil.rmtree(tmp, ignore_errors=True)


def page(stack) -> str:
    return requests.get(f"http://{stack['8889']}/metrics", timeout=5).text


def own(stack, name: str, **labels) -> float:
    """A sample of the receiver's own metrics (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in page(stack).splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(name + " ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def send_env(env: dict, session_id: str, *extra: str) -> dict:
    out = subprocess.run([sys.executable, str(SENDER), "--from-env", "--session-id", session_id, *extra],
                         capture_output=True, text=True, check=False,
                         env={**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_session(stack, result: dict) -> None:
    """Prometheus has exactly what the sender sent, under the documented names."""
    prom, sid = stack["prom"], result["session_id"]
    sel = f'{{session_id="{sid}"}}'
    exp, events = result["expected"], result["expected_events"]

    def landed():
        done = scalar(prom, f"sum(claude_code_cost_usage_USD_total{sel})") == exp["claude_code.cost.usage"]
        if events:
            done = done and scalar(prom, f"sum(claude_code_user_prompts_total{sel})") == events["prompts"]
        return done

    wait_until(landed, 30, what=f"session {sid} in Prometheus")
    assert by_label(prom, f"sum by (model) (claude_code_token_usage_tokens_total{sel})", "model") \
        == exp["tokens_by_model"]
    assert by_label(prom, f"sum by (type) (claude_code_token_usage_tokens_total{sel})", "type") \
        == exp["tokens_by_type"]
    for name, key in [("claude_code_session_count_total", "claude_code.session.count"),
                      ("claude_code_active_time_seconds_total", "claude_code.active_time.total"),
                      ("claude_code_lines_of_code_count_total", "claude_code.lines_of_code.count"),
                      ("claude_code_commit_count_total", "claude_code.commit.count"),
                      ("claude_code_pull_request_count_total", "claude_code.pull_request.count"),
                      ("claude_code_code_edit_tool_decision_total", "claude_code.code_edit_tool.decision")]:
        assert scalar(prom, f"sum({name}{sel})") == exp[key], name
    assert_claude_labels(prom, sid, send_claude_metrics.APP_VERSION)
    if not events:
        return
    assert by_label(prom, f"sum by (model) (claude_code_api_requests_total{sel})", "model") \
        == events["requests_by_model"]
    assert by_label(prom, f"sum by (model) (claude_code_api_request_cost_USD_total{sel})", "model") \
        == events["cost_by_model"]
    assert by_label(prom, f"sum by (type) (claude_code_api_request_tokens_total{sel})", "type") \
        == events["tokens_by_type"]
    assert scalar(prom, f"sum(claude_code_api_request_duration_seconds_count{sel})") == events["duration_count"]
    assert scalar(prom, f"sum(claude_code_api_request_duration_seconds_sum{sel})") \
        == pytest.approx(events["duration_sum"])
    assert scalar(prom, f'sum(claude_code_api_request_duration_seconds_bucket{{session_id="{sid}", le="+Inf"}})') \
        == events["duration_count"]
    errors = query(prom, f"claude_code_api_errors_total{sel}")
    assert [(e["metric"]["model"], e["metric"]["status_code"], float(e["value"][1])) for e in errors] \
        == [("claude-sonnet-4-5", "529", events["errors"])]
    assert by_label(prom, f"sum by (decision) (claude_code_tool_decisions_total{sel})", "decision") \
        == events["decisions"]
    assert by_label(prom, f"sum by (success) (claude_code_tool_results_total{sel})", "success") \
        == events["results"]
    # No prompt text anywhere: not on the page, not in the receiver's log, not
    # as a label in Prometheus.
    assert send_claude_metrics.PROMPT_TEXT not in page(stack)
    assert send_claude_metrics.PROMPT_TEXT.encode() not in stack["container"].logs()
    assert "prompt" not in requests.get(prom + "/api/v1/labels", timeout=5).json()["data"]


def test_documented_settings_verbatim_http_protobuf_delta_logs(stack):
    """Claude Code's documented env block as written (endpoint without path, no
    temporality set -> Claude Code's delta), exported twice."""
    env = {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack['4318']}", "OTEL_SERVICE_NAME": "claude-code"}
    result = send_env(env, f"design-{uuid.uuid4()}")
    assert (result["temporality"], result["exports"], result["logs"]) == ("delta", 2, True)
    check_session(stack, result)


def test_claude_code_grpc_quick_start(stack):
    env = {"CLAUDE_CODE_ENABLE_TELEMETRY": "1", "OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack['4317']}"}
    result = send_env(env, f"grpc-{uuid.uuid4()}")
    assert (result["protocol"], result["temporality"]) == ("grpc", "delta")
    check_session(stack, result)


@pytest.mark.parametrize("protocol, port", [("http/protobuf", "4318"), ("grpc", "4317")])
def test_gzip_compressed_exports(stack, protocol, port):
    env = {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
           "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack[port]}", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
    check_session(stack, send_env(env, f"gzip-{uuid.uuid4()}"))


def test_otlp_json_cumulative(stack):
    env = {"OTEL_METRICS_EXPORTER": "otlp", "OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
           "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack['4318']}",
           "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative"}
    result = send_env(env, f"json-{uuid.uuid4()}")
    assert result["temporality"] == "cumulative"
    check_session(stack, result)


@pytest.mark.parametrize("role_vars", [
    {},  # the role's defaults (http/protobuf, logs off)
    {"claude_code_telemetry_protocol": "grpc", "claude_code_telemetry_logs_exporter": "otlp"},
], ids=["defaults", "grpc-with-events"])
def test_claude_code_telemetry_role_output(stack, tmp_path, role_vars):
    """Whatever env block the role writes (with our endpoint) works as is."""
    settings = tmp_path / "settings.json"
    play = tmp_path / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n"
                    "    - role: vps.monitoring.claude_code_telemetry\n")
    port = "4317" if role_vars.get("claude_code_telemetry_protocol") == "grpc" else "4318"
    extra = {"claude_code_telemetry_settings_path": str(settings),
             "claude_code_telemetry_endpoint": f"http://{stack[port]}",
             "ansible_python_interpreter": str(ROOT / ".venv" / "bin" / "python"), **role_vars}
    out = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                          "-e", json.dumps(extra), str(play)], capture_output=True, text=True, check=False,
                         env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache" / "collections")})
    assert out.returncode == 0, out.stdout[-2000:]
    result = send_env({}, f"role-{uuid.uuid4()}", "--settings", str(settings))
    assert result["logs"] == (role_vars.get("claude_code_telemetry_logs_exporter") == "otlp")
    check_session(stack, result)


def test_two_delta_exports_of_100_and_250_show_350(stack):
    sid = f"delta-{uuid.uuid4()}"
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    provider = MeterProvider(resource=Resource.create({"service.name": "claude-code"}), metric_readers=[reader])
    counter = provider.get_meter("com.anthropic.claude_code").create_counter("claude_code.token.usage", unit="tokens")
    exporter = OTLPMetricExporter(endpoint=f"http://{stack['4318']}/v1/metrics", timeout=5)
    for value in (100, 250):
        counter.add(value, {"session.id": sid, "type": "input", "model": "m"})
        assert exporter.export(reader.get_metrics_data()) is MetricExportResult.SUCCESS
    provider.shutdown()
    sel = f'claude_code_token_usage_tokens_total{{session_id="{sid}"}}'
    wait_until(lambda: scalar(stack["prom"], sel) == 350, 30, what="350 in Prometheus")


def test_six_host_container_and_claude_queries_return_data(stack):
    send_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack['4318']}"},
             f"six-{uuid.uuid4()}")
    examples = [
        '100 - (avg(irate(node_cpu_seconds_total{mode="idle"}[5m])) * 100)',
        "(1 - (node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)) * 100",
        '(1 - (node_filesystem_avail_bytes{fstype!="tmpfs"} / node_filesystem_size_bytes)) * 100',
        'topk(5, container_memory_usage_bytes{name!=""})',
        "sum(claude_code_token_usage_tokens_total) by (model)",
        "sum(claude_code_cost_usage_USD_total)",
    ]
    for expr in examples:
        wait_until(lambda e=expr: query(stack["prom"], e), 60, what=f"data for {expr}")


def _post(stack, body: bytes, ctype="application/x-protobuf", path="/v1/metrics", **headers):
    return requests.post(f"http://{stack['4318']}{path}", data=body, timeout=10,
                         headers={"Content-Type": ctype, **headers})


def _one_metric(kind: str, value: float = 1.0) -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    metric = rm.scope_metrics.add().metrics.add(name="bad.input", unit="")
    if kind == "sum":
        metric.sum.aggregation_temporality = 1
        metric.sum.is_monotonic = True
        metric.sum.data_points.add(as_double=value, time_unix_nano=1)
    return req.SerializeToString()


def _disconnect_mid_request(stack) -> bytes:
    host, port = stack["4318"].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/metrics HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                     b"Content-Length: 5000\r\n\r\n" + b"\x0a" * 100)
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(200)


def test_bad_input_is_refused_counted_and_harmless(stack):
    before = send_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                       "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack['4318']}"}, f"before-{uuid.uuid4()}")
    check_session(stack, before)
    bomb = gzip.compress(b"\0" * (MAX_BYTES * 4))
    cases = [  # (what, send, status, counter, labels)
        ("garbage protobuf", lambda: _post(stack, b"\xff\xfe not protobuf \x00\x01" * 50), 400,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "bad_protobuf"}),
        ("garbage JSON", lambda: _post(stack, b'{"resourceMetrics": [{"broken": ', "application/json"), 400,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "bad_json"}),
        ("wrong content type", lambda: _post(stack, b"claude 1", "text/plain"), 415,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "unsupported_content_type"}),
        ("oversized", lambda: _post(stack, b"\0" * (MAX_BYTES + 1)), 413,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "too_large"}),
        ("gzip bomb", lambda: _post(stack, bomb, **{"Content-Encoding": "gzip"}), 413,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "too_large"}),
        ("broken gzip", lambda: _post(stack, b"\x1f\x8b\x08\x00garbage", **{"Content-Encoding": "gzip"}), 400,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "bad_gzip"}),
        ("unknown metric type", lambda: _post(stack, _one_metric("none")), 400,
         "otlp_receiver_dropped_points_total", {"signal": "metrics", "reason": "unknown_type"}),
        ("NaN value", lambda: _post(stack, _one_metric("sum", float("nan"))), 400,
         "otlp_receiver_dropped_points_total", {"signal": "metrics", "reason": "nan_value"}),
        ("unknown path", lambda: _post(stack, b"", path="/v1/traces"), 404,
         "otlp_receiver_rejected_requests_total", {"protocol": "http", "reason": "unknown_path"}),
    ]
    for what, send, status, counter, labels in cases:
        was = own(stack, counter, **labels)
        r = send()
        assert r.status_code == status, (what, r.status_code, r.text[:200])
        assert r.content, f"{what}: the refusal says why"
        assert own(stack, counter, **labels) >= was + 1, what
    was = own(stack, "otlp_receiver_rejected_requests_total", protocol="http", reason="incomplete_body")
    assert _disconnect_mid_request(stack).startswith(b"HTTP/1.1 400")
    wait_until(lambda: own(stack, "otlp_receiver_rejected_requests_total", protocol="http",
                           reason="incomplete_body") == was + 1, 10, what="disconnect counted")
    # gRPC garbage: INVALID_ARGUMENT, counted.
    with grpc.insecure_channel(stack["4317"]) as channel:
        call = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
        with pytest.raises(grpc.RpcError) as err:
            call(b"\xff\xfe garbage", timeout=5)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert own(stack, "otlp_receiver_rejected_requests_total", protocol="grpc", reason="bad_protobuf") >= 1
    # The service is up, the earlier client's data intact, and new data lands.
    stack["container"].reload()
    assert stack["container"].status == "running"
    assert requests.get(f"http://{stack['13133']}/", timeout=5).ok
    check_session(stack, before)
    check_session(stack, send_env({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                                   "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{stack['4318']}"},
                                  f"after-{uuid.uuid4()}"))
    # Refusals are logged (rate-limited), with the reason.
    logs = stack["container"].logs().decode(errors="replace")
    assert "refused (bad_protobuf)" in logs and "nan_value" in logs


def test_partial_batch_keeps_the_good_points_and_reports_the_rest(stack):
    """One NaN among good points: 200 with partial_success, the good ones kept."""
    sid = f"partial-{uuid.uuid4()}"
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.DELTA})
    provider = MeterProvider(metric_readers=[reader])
    counter = provider.get_meter("x").create_counter("claude_code.cost.usage", unit="USD")
    counter.add(2.5, {"session.id": sid, "model": "good"})
    counter.add(1.0, {"session.id": sid, "model": "bad"})
    req = encode_metrics(reader.get_metrics_data())
    provider.shutdown()
    for point in req.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points:
        if any(kv.value.string_value == "bad" for kv in point.attributes):
            point.as_double = float("nan")
    r = _post(stack, req.SerializeToString())
    assert r.status_code == 200
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
    partial = ExportMetricsServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_data_points == 1 and "nan_value" in partial.error_message
    wait_until(lambda: by_label(stack["prom"], f'claude_code_cost_usage_USD_total{{session_id="{sid}"}}', "model")
               == {"good": 2.5}, 30, what="the good point")


def test_receiver_runs_as_nobody_read_only_without_capabilities(stack):
    attrs = stack["container"].attrs
    assert attrs["Config"]["User"] == "65534:65534"
    assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert attrs["HostConfig"]["CapDrop"] == ["ALL"]
