# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send one Claude Code session's metrics (and events) with the real OTel SDK.

The instruments, units, attributes, resource and meter name mirror what Claude
Code exports (Claude Code's monitoring documentation). The values are fixed and printed as JSON so a
test can compare what Prometheus answers with what was sent.

Two modes:
  - explicit: cumulative metrics over OTLP/HTTP protobuf to one URL
    (what the claude_code_telemetry role configured before the standard
    endpoint), exported --repeat times;
  - --from-env: configured only by the OTEL_* environment, as Claude Code
    is. The SDK's own exporters read it (endpoint without path -> the SDK
    appends /v1/metrics and /v1/logs; grpc or http/protobuf), temporality
    defaults to delta as in Claude Code, logs go out when
    OTEL_LOGS_EXPORTER=otlp. The session is recorded and exported twice, so
    delta exports must be summed by the receiver. http/json (which the Python
    SDK has no exporter for) posts the SDK's own message as OTLP/JSON.
    --settings FILE takes the env block of a Claude Code settings.json
    instead of the process environment.

Usage:
  send_claude_metrics.py --endpoint http://127.0.0.1:4318 --session-id ID
  send_claude_metrics.py --metrics-endpoint http://127.0.0.1:4318/opentelemetry/v1/metrics ...
  OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
    OTEL_LOGS_EXPORTER=otlp send_claude_metrics.py --from-env --session-id ID
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.resources import Resource

METER = "com.anthropic.claude_code"
APP_VERSION = "2.0.0-e2e"

# What one short session produces: (instrument, unit, description, [(attrs, value)]).
# Values are binary-exact floats so sums compare exactly after storage.
SESSION = [
    ("claude_code.session.count", "count", "Count of CLI sessions started",
     [({"start_type": "fresh"}, 1)]),
    ("claude_code.token.usage", "tokens", "Number of tokens used",
     [({"type": "input", "model": "claude-sonnet-4-5"}, 1200),
      ({"type": "output", "model": "claude-sonnet-4-5"}, 340),
      ({"type": "cacheRead", "model": "claude-sonnet-4-5"}, 5000),
      ({"type": "cacheCreation", "model": "claude-sonnet-4-5"}, 800),
      ({"type": "input", "model": "claude-haiku-4-5"}, 400),
      ({"type": "output", "model": "claude-haiku-4-5"}, 60)]),
    ("claude_code.cost.usage", "USD", "Cost of the Claude Code session",
     [({"model": "claude-sonnet-4-5"}, 0.125),
      ({"model": "claude-haiku-4-5"}, 0.0078125)]),
    ("claude_code.lines_of_code.count", "count", "Count of lines of code modified",
     [({"type": "added"}, 42), ({"type": "removed"}, 7)]),
    ("claude_code.commit.count", "count", "Number of git commits created",
     [({}, 2)]),
    ("claude_code.pull_request.count", "count", "Number of pull requests created",
     [({}, 1)]),
    ("claude_code.code_edit_tool.decision", "count", "Count of code editing tool permission decisions",
     [({"tool_name": "Edit", "decision": "accept", "language": "Python"}, 3)]),
    ("claude_code.active_time.total", "s", "Total active time in seconds",
     [({"type": "user"}, 90.5), ({"type": "cli"}, 240.25)]),
]


# Claude Code's log events for the session: (event, attributes). The prompt
# text is sent (as with OTEL_LOG_USER_PROMPTS=1) so a test can check it is
# stored nowhere.
PROMPT_TEXT = "TOP-SECRET-PROMPT-TEXT please refactor the billing module"
EVENTS = [
    ("user_prompt", {"prompt_length": len(PROMPT_TEXT), "prompt": PROMPT_TEXT}),
    ("api_request", {"model": "claude-sonnet-4-5", "cost_usd": 0.0625, "duration_ms": 1500,
                     "input_tokens": 1000, "output_tokens": 300, "cache_read_tokens": 4000,
                     "cache_creation_tokens": 800}),
    ("api_request", {"model": "claude-sonnet-4-5", "cost_usd": "0.0625", "duration_ms": "3000",
                     "input_tokens": "200", "output_tokens": "40", "cache_read_tokens": "1000",
                     "cache_creation_tokens": "0"}),
    ("api_request", {"model": "claude-haiku-4-5", "cost_usd": 0.0078125, "duration_ms": 400,
                     "input_tokens": 400, "output_tokens": 60, "cache_read_tokens": 0,
                     "cache_creation_tokens": 0}),
    ("api_error", {"model": "claude-sonnet-4-5", "error": "Overloaded", "status_code": "529",
                   "duration_ms": 1200, "attempt": 1}),
    ("tool_decision", {"tool_name": "Edit", "decision": "accept", "source": "config"}),
    ("tool_decision", {"tool_name": "Bash", "decision": "reject", "source": "user_reject"}),
    ("tool_result", {"tool_name": "Edit", "success": "true", "duration_ms": 120, "decision": "accept",
                     "source": "config"}),
    ("tool_result", {"tool_name": "Read", "success": "false", "duration_ms": 35, "error": "ENOENT",
                     "decision": "accept", "source": "config"}),
]


def expected_events(exports: int = 1) -> dict:
    """Event totals as the receiver's metrics must show them."""
    out: dict = {"requests_by_model": {}, "cost_by_model": {}, "duration_count": 0, "duration_sum": 0.0,
                 "tokens_by_type": {}, "errors": 0, "decisions": {}, "results": {}, "prompts": 0}
    kinds = {"input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cacheRead",
             "cache_creation_tokens": "cacheCreation"}
    for event, attrs in EVENTS:
        if event == "api_request":
            model = attrs["model"]
            out["requests_by_model"][model] = out["requests_by_model"].get(model, 0) + exports
            out["cost_by_model"][model] = out["cost_by_model"].get(model, 0) + float(attrs["cost_usd"]) * exports
            out["duration_count"] += exports
            out["duration_sum"] += float(attrs["duration_ms"]) / 1000 * exports
            for key, kind in kinds.items():
                out["tokens_by_type"][kind] = out["tokens_by_type"].get(kind, 0) + float(attrs[key]) * exports
        elif event == "api_error":
            out["errors"] += exports
        elif event == "tool_decision":
            out["decisions"][attrs["decision"]] = out["decisions"].get(attrs["decision"], 0) + exports
        elif event == "tool_result":
            out["results"][attrs["success"]] = out["results"].get(attrs["success"], 0) + exports
        elif event == "user_prompt":
            out["prompts"] += exports
    return out


def expected(session: list | None = None, exports: int = 1) -> dict:
    """The totals each Prometheus query must return, keyed for the tests."""
    if session is None:
        session = SESSION
    tokens_by_model: dict[str, float] = {}
    tokens_by_type: dict[str, float] = {}
    out: dict = {}
    for name, _unit, _desc, points in session:
        for attrs, value in points:
            if name == "claude_code.token.usage":
                tokens_by_model[attrs["model"]] = tokens_by_model.get(attrs["model"], 0) + value
                tokens_by_type[attrs["type"]] = tokens_by_type.get(attrs["type"], 0) + value
            out.setdefault(name, 0)
            out[name] += value
    if exports != 1:
        out = {k: v * exports for k, v in out.items()}
        tokens_by_model = {k: v * exports for k, v in tokens_by_model.items()}
        tokens_by_type = {k: v * exports for k, v in tokens_by_type.items()}
    out["tokens_by_model"] = tokens_by_model
    out["tokens_by_type"] = tokens_by_type
    return out


def standard_attributes(session_id: str) -> dict:
    return {
        "session.id": session_id,
        "app.version": APP_VERSION,
        "organization.id": "org-e2e",
        "user.account_uuid": "acc-e2e",
        "user.id": "user-e2e",
        "user.email": "dev@example.invalid",
        "terminal.type": "xterm-256color",
    }


def send(metrics_endpoint: str, session_id: str, headers: dict | None = None,
         repeat: int = 1, timeout: float = 10.0) -> None:
    """Record the session and export it `repeat` times (cumulative: same totals)."""
    exporter = OTLPMetricExporter(endpoint=metrics_endpoint, headers=headers, timeout=timeout)
    # Claude Code defaults to delta; the role sets cumulative, which
    # Prometheus-style storage needs. The reader collects, and the real OTLP
    # exporter sends, so a failed export is seen (a periodic reader only logs it).
    reader = InMemoryMetricReader(preferred_temporality={Counter: AggregationTemporality.CUMULATIVE})
    resource = Resource.create({
        "service.name": "claude-code",
        "service.version": APP_VERSION,
        "os.type": "linux",
        "host.arch": "amd64",
    })
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter = provider.get_meter(METER, APP_VERSION)
    common = standard_attributes(session_id)
    for name, unit, desc, points in SESSION:
        counter = meter.create_counter(name, unit=unit, description=desc)
        for attrs, value in points:
            counter.add(value, {**common, **attrs})
    try:
        for _attempt in range(repeat):
            if exporter.export(reader.get_metrics_data()) is not MetricExportResult.SUCCESS:
                raise RuntimeError(f"OTLP export to {metrics_endpoint} was refused or failed")
    finally:
        exporter.shutdown()
        provider.shutdown()


RESOURCE = {"service.name": "claude-code", "service.version": APP_VERSION, "os.type": "linux", "host.arch": "amd64"}


def _record_session(meter, session_id: str) -> None:
    common = standard_attributes(session_id)
    for name, unit, desc, points in SESSION:
        counter = meter.create_counter(name, unit=unit, description=desc)
        for attrs, value in points:
            counter.add(value, {**common, **attrs})


def _event_records(session_id: str) -> list:
    """The session's events as SDK log records, shaped as Claude Code sends them:
    body claude_code.<event>, attribute event.name=<event>, standard attributes."""
    from opentelemetry._logs import LogRecord
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource as SdkResource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    resource = SdkResource.create(RESOURCE)
    scope = InstrumentationScope(METER, APP_VERSION)
    out = []
    for event, attrs in EVENTS:
        now = time.time_ns()
        record = LogRecord(timestamp=now, observed_timestamp=now, body=f"claude_code.{event}",
                           attributes={**standard_attributes(session_id), "event.name": event,
                                       "event.timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                       **attrs})
        out.append(ReadableLogRecord(record, resource=resource, instrumentation_scope=scope))
    return out


def send_from_env(env: dict, session_id: str, exports: int = 2, timeout: float = 10.0) -> dict:
    """Send as Claude Code configured by `env` would: metrics `exports` times
    (delta by default), then the events once per export when logs are on."""
    env = {k: v for k, v in env.items() if k.startswith("OTEL_")}
    # Claude Code's default; the Python SDK's own default is cumulative.
    env.setdefault("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        del os.environ[key]
    os.environ.update(env)
    protocol = env.get("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol not in ("grpc", "http/protobuf", "http/json"):
        raise RuntimeError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: Claude Code needs grpc, http/protobuf "
                           "or http/json")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as LogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcExporter
        exporter = GrpcExporter(timeout=timeout)
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as LogExporter
        exporter = OTLPMetricExporter(timeout=timeout)
    logs_on = env.get("OTEL_LOGS_EXPORTER", "none") == "otlp"
    log_exporter = LogExporter(timeout=timeout) if logs_on else None
    reader = InMemoryMetricReader(preferred_temporality=exporter._preferred_temporality)
    provider = MeterProvider(resource=Resource.create(RESOURCE), metric_readers=[reader])
    meter = provider.get_meter(METER, APP_VERSION)
    delta = env["OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"].lower() == "delta"
    try:
        for _n in range(exports):
            _record_session(meter, session_id)
            data = reader.get_metrics_data()
            if protocol == "http/json":
                _post_json(exporter._endpoint, "metrics", data, _headers(env.get("OTEL_EXPORTER_OTLP_HEADERS")),
                           timeout)
            elif exporter.export(data) is not MetricExportResult.SUCCESS:
                raise RuntimeError(f"OTLP metrics export ({protocol}) was refused or failed")
            if log_exporter is not None:
                records = _event_records(session_id)
                if protocol == "http/json":
                    _post_json(log_exporter._endpoint, "logs", records, _headers(env.get("OTEL_EXPORTER_OTLP_HEADERS")),
                               timeout)
                elif log_exporter.export(records).name != "SUCCESS":
                    raise RuntimeError(f"OTLP logs export ({protocol}) was refused or failed")
    finally:
        exporter.shutdown()
        if log_exporter is not None:
            log_exporter.shutdown()
        provider.shutdown()
    return {"session_id": session_id, "protocol": protocol, "temporality": "delta" if delta else "cumulative",
            "exports": exports, "logs": logs_on, "expected": expected(exports=exports),
            "expected_events": expected_events(exports) if logs_on else None}


def _post_json(url: str, signal: str, data, headers, timeout: float) -> None:
    """OTLP/JSON: the SDK's own protobuf message, in protobuf's JSON mapping."""
    import requests
    from google.protobuf.json_format import MessageToJson

    if signal == "metrics":
        from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
        message = encode_metrics(data)
    else:
        from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
        message = encode_logs(data)
    body = MessageToJson(message).encode()
    r = requests.post(url, data=body, timeout=timeout,
                      headers={**dict(headers or {}), "Content-Type": "application/json"})
    if r.status_code != 200:
        raise RuntimeError(f"OTLP/JSON {signal} export answered {r.status_code}: {r.text[:200]}")


def _headers(raw: str | None) -> dict | None:
    if not raw:
        return None
    return dict(part.split("=", 1) for part in raw.split(",") if "=" in part)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", default="http://127.0.0.1:4318",
                        help="OTLP/HTTP base endpoint; /v1/metrics is appended")
    parser.add_argument("--metrics-endpoint",
                        help="full metrics URL (overrides --endpoint), e.g. .../opentelemetry/v1/metrics")
    parser.add_argument("--session-id", required=True)
    parser.add_argument("--headers", help="k=v,k2=v2 (as OTEL_EXPORTER_OTLP_HEADERS)")
    parser.add_argument("--repeat", type=int, default=1, help="export the cumulative totals N times")
    parser.add_argument("--from-env", action="store_true",
                        help="configure only from OTEL_* variables, as Claude Code (delta by default)")
    parser.add_argument("--settings", help="with --from-env: take the env block of this settings.json")
    parser.add_argument("--exports", type=int, default=2, help="with --from-env: record and export N times")
    args = parser.parse_args(argv)
    if args.from_env:
        env = dict(os.environ)
        if args.settings:
            with open(os.path.expanduser(args.settings), encoding="utf-8") as fh:
                env = {k: str(v) for k, v in json.load(fh).get("env", {}).items()}
        try:
            print(json.dumps(send_from_env(env, args.session_id, args.exports)))
        except Exception as exc:  # noqa: BLE001 - one clear line for Ansible/pytest
            print(f"send_claude_metrics: {exc}", file=sys.stderr)
            return 1
        return 0
    url = args.metrics_endpoint or args.endpoint.rstrip("/") + "/v1/metrics"
    try:
        send(url, args.session_id, _headers(args.headers), args.repeat)
    except Exception as exc:  # noqa: BLE001 - one clear line for Ansible/pytest
        print(f"send_claude_metrics: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"session_id": args.session_id, "endpoint": url, "expected": expected()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
