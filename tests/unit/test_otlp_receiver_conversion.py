"""The OTLP receiver's conversion: names, delta/cumulative, resets, NaN, limits.

Requests are OTLP protobuf messages (opentelemetry-proto, as the SDK builds
them); the served page is checked by parsing it with prometheus_client's
text parser, so a malformed page fails here too.
"""

from __future__ import annotations


import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from prometheus_client.parser import text_string_to_metric_families

from otlp_receiver import metrics as conv
from otlp_receiver.names import label_name, metric_name
from otlp_receiver.store import Store

DELTA, CUMULATIVE = 1, 2
SEC = 1_000_000_000


def kv(key, value):
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def request(kind="sum", name="claude_code.token.usage", unit="tokens", points=(), temporality=DELTA,
            monotonic=True, resource=None):
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    for k, v in (resource or {"service.name": "claude-code"}).items():
        rm.resource.attributes.append(kv(k, v))
    sm = rm.scope_metrics.add()
    sm.scope.name = "com.anthropic.claude_code"
    metric = sm.metrics.add(name=name, unit=unit)
    if kind == "none":
        return req
    data = getattr(metric, kind)
    if kind in ("sum", "histogram", "exponential_histogram"):
        data.aggregation_temporality = temporality
    if kind == "sum":
        data.is_monotonic = monotonic
    for p in points:
        dp = data.data_points.add()
        for k, v in p.get("attrs", {"session.id": "s1"}).items():
            dp.attributes.append(kv(k, v))
        dp.start_time_unix_nano, dp.time_unix_nano = p.get("start", 0), p.get("ts", 0)
        if kind == "histogram":
            dp.explicit_bounds.extend(p["bounds"])
            dp.bucket_counts.extend(p["counts"])
            dp.count, dp.sum = sum(p["counts"]), p["sum"]
        elif kind == "exponential_histogram":
            dp.count = 1
        elif isinstance(p["value"], int):
            dp.as_int = p["value"]
        else:
            dp.as_double = p["value"]
    return req


def page(store: Store) -> dict:
    """{(sample name, frozenset(labels)): value} of the rendered page."""
    text = "".join(store.render())
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(store: Store, name: str, **labels) -> float | None:
    for (n, lab), v in page(store).items():
        if n == name and all((k, val) in lab for k, val in labels.items()):
            return v
    return None


@pytest.mark.parametrize("otel, unit, prom", [
    ("claude_code.session.count", "count", "claude_code_session_count_total"),
    ("claude_code.token.usage", "tokens", "claude_code_token_usage_tokens_total"),
    ("claude_code.cost.usage", "USD", "claude_code_cost_usage_USD_total"),
    ("claude_code.lines_of_code.count", "count", "claude_code_lines_of_code_count_total"),
    ("claude_code.commit.count", "count", "claude_code_commit_count_total"),
    ("claude_code.pull_request.count", "count", "claude_code_pull_request_count_total"),
    ("claude_code.active_time.total", "s", "claude_code_active_time_seconds_total"),
    # The collector's exporter appends the unit: the role's otelcol config
    # clears it for this metric to get the documented name.
    ("claude_code.code_edit_tool.decision", "count", "claude_code_code_edit_tool_decision_count_total"),
    ("http.server.duration", "ms", "http_server_duration_milliseconds_total"),
    ("net.io", "By/s", "net_io_bytes_per_second_total"),
    ("queue.size", "{items}", "queue_size_total"),
])
def test_counter_names_follow_the_collector_exporter(otel, unit, prom):
    assert metric_name(otel, unit, True) == prom


def test_gauge_and_label_names():
    assert metric_name("cpu.utilization", "1", False, gauge=True) == "cpu_utilization_ratio"
    assert metric_name("queue.depth", "", False) == "queue_depth"
    assert label_name("session.id") == "session_id"
    assert label_name("user.account_uuid") == "user_account_uuid"
    assert label_name("1st") == "key_1st"
    assert label_name("_private") == "key_private"


def test_two_delta_exports_of_100_and_250_read_350():
    store = Store(1000, 900)
    for start, ts, v in [(0, 10 * SEC, 100), (10 * SEC, 20 * SEC, 250)]:
        out = conv.ingest(request(points=[{"start": start, "ts": ts, "value": v}]), store)
        assert (out.accepted, out.rejected) == (1, 0)
    assert value(store, "claude_code_token_usage_tokens_total", session_id="s1", job="claude-code") == 350


def test_a_retried_delta_is_not_counted_twice():
    store = Store(1000, 900)
    first = request(points=[{"start": 0, "ts": 10 * SEC, "value": 100}])
    conv.ingest(first, store)
    conv.ingest(request(points=[{"start": 10 * SEC, "ts": 20 * SEC, "value": 5}]), store)
    out = conv.ingest(request(points=[{"start": 10 * SEC, "ts": 20 * SEC, "value": 5}]), store)
    assert out.dropped == {"out_of_order": 1}
    assert value(store, "claude_code_token_usage_tokens_total") == 105


def test_negative_delta_on_a_counter_is_dropped_and_counted():
    store = Store(1000, 900)
    conv.ingest(request(points=[{"ts": SEC, "value": 100}]), store)
    out = conv.ingest(request(points=[{"start": SEC, "ts": 2 * SEC, "value": -30}]), store)
    assert out.dropped == {"negative_delta": 1} and out.accepted == 0
    assert value(store, "claude_code_token_usage_tokens_total") == 100


def test_cumulative_replaces_and_resets_pass_through():
    store = Store(1000, 900)
    for start, ts, v in [(SEC, 10 * SEC, 100), (SEC, 20 * SEC, 250), (25 * SEC, 30 * SEC, 7)]:
        conv.ingest(request(points=[{"start": start, "ts": ts, "value": v}], temporality=CUMULATIVE), store)
    # A restarted process (new start time) starts again at 7: Prometheus's
    # rate()/increase() see the reset.
    assert value(store, "claude_code_token_usage_tokens_total") == 7
    out = conv.ingest(request(points=[{"start": SEC, "ts": 15 * SEC, "value": 200}], temporality=CUMULATIVE),
                      store)
    assert out.dropped == {"out_of_order": 1}
    assert value(store, "claude_code_token_usage_tokens_total") == 7


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_inf_are_dropped_and_the_series_kept(bad):
    store = Store(1000, 900)
    conv.ingest(request(points=[{"ts": SEC, "value": 1.5}], name="claude_code.cost.usage", unit="USD"), store)
    out = conv.ingest(request(points=[{"start": SEC, "ts": 2 * SEC, "value": bad}],
                              name="claude_code.cost.usage", unit="USD"), store)
    assert out.dropped == {"nan_value": 1} and out.accepted == 0
    assert value(store, "claude_code_cost_usage_USD_total") == 1.5


def test_unknown_and_unsupported_types_are_counted():
    store = Store(1000, 900)
    assert conv.ingest(request(kind="none"), store).dropped == {"unknown_type": 1}
    out = conv.ingest(request(kind="exponential_histogram", points=[{}, {}]), store)
    assert out.dropped == {"unsupported_type": 2}
    assert store.series_count == 0


def test_gauges_updown_sums_and_histograms():
    store = Store(1000, 900)
    conv.ingest(request(kind="gauge", name="queue.depth", unit="", points=[{"ts": SEC, "value": 4}]), store)
    conv.ingest(request(kind="gauge", name="queue.depth", unit="", points=[{"ts": 2 * SEC, "value": 2}]), store)
    conv.ingest(request(name="active.sessions", unit="", monotonic=False, temporality=CUMULATIVE,
                        points=[{"ts": SEC, "value": 3}]), store)
    hist = {"bounds": [0.5, 1, 5], "counts": [1, 2, 0, 1], "sum": 12.0}
    conv.ingest(request(kind="histogram", name="api.latency", unit="s", points=[{"ts": SEC, **hist}]), store)
    conv.ingest(request(kind="histogram", name="api.latency", unit="s",
                        points=[{"start": SEC, "ts": 2 * SEC, **hist}]), store)
    assert value(store, "queue_depth") == 2
    assert value(store, "active_sessions") == 3
    assert value(store, "api_latency_seconds_bucket", le="0.5") == 2
    assert value(store, "api_latency_seconds_bucket", le="1") == 6
    assert value(store, "api_latency_seconds_bucket", le="5") == 6
    assert value(store, "api_latency_seconds_bucket", le="+Inf") == 8
    assert value(store, "api_latency_seconds_count") == 8
    assert value(store, "api_latency_seconds_sum") == 24


def test_resource_attributes_become_labels_and_job_instance():
    store = Store(1000, 900)
    conv.ingest(request(points=[{"ts": SEC, "value": 1, "attrs": {"session.id": "s9", "user.email": "a@b"}}],
                        resource={"service.name": "claude-code", "service.namespace": "team",
                                  "service.instance.id": "host-1", "os.type": "linux"}), store)
    [(name, labels)] = list(page(store))
    assert dict(labels) == {"job": "team/claude-code", "instance": "host-1", "service_name": "claude-code",
                            "service_namespace": "team", "service_instance_id": "host-1", "os_type": "linux",
                            "session_id": "s9", "user_email": "a@b",
                            "otel_scope_name": "com.anthropic.claude_code"}


def test_series_limit_and_expiry():
    now = [1000.0]
    store = Store(2, 60, clock=lambda: now[0])
    pts = [{"ts": SEC, "value": 1, "attrs": {"session.id": f"s{i}"}} for i in range(3)]
    out = conv.ingest(request(points=pts), store)
    assert (out.accepted, dict(out.dropped)) == (2, {"series_limit": 1})
    now[0] += 61
    assert page(store) == {}
    assert store.series_count == 0 and store.expired_total == 2
    assert conv.ingest(request(points=pts[2:]), store).accepted == 1


def test_a_point_without_recorded_value_ends_its_series():
    store = Store(1000, 900)
    conv.ingest(request(points=[{"ts": SEC, "value": 1}]), store)
    req = request(points=[{"ts": 2 * SEC, "value": 0}])
    req.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].flags = 1
    conv.ingest(req, store)
    assert store.series_count == 0
