# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Send one Claude Code session's metrics over OTLP/HTTP with the real SDK.

The instruments, units, attributes, resource and meter name mirror what Claude
Code exports (see REFERENCE.md), with cumulative temporality as the
claude_code_telemetry role configures it. The values are fixed and printed as
JSON so a test can compare what Prometheus answers with what was sent.

Usage:
  send_claude_metrics.py --endpoint http://127.0.0.1:4318 --session-id ID
  send_claude_metrics.py --metrics-endpoint http://127.0.0.1:4318/opentelemetry/v1/metrics ...
"""

from __future__ import annotations

import argparse
import json
import sys

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


def expected(session: list | None = None) -> dict:
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
    args = parser.parse_args(argv)
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
