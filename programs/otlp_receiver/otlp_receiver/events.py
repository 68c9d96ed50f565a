"""Claude Code's log events -> counters and histograms.

Claude Code sends each event as an OTLP log record named
``claude_code.<event>`` (in the record's event_name, its ``event.name``
attribute - with or without the prefix - or its body). Only the numbers and
a few bounded labels are kept: job, session_id, model, and the event's own
categories. Prompt text, error messages and tool parameters are never read
into a label.

Every metric is defined here by its OpenTelemetry name and unit and named
for Prometheus by the same rules as received metrics, so the otelcol
configuration (whose connector emits the same OTLP names) yields the same
Prometheus names.
"""

from __future__ import annotations

import math

from .attributes import raw_value, resource_labels
from .metrics import NAN_VALUE, Outcome
from .names import metric_name
from .store import Store, label_key

USED_ATTRIBUTES = frozenset({
    "event.name", "session.id", "model", "cost_usd", "duration_ms", "input_tokens", "output_tokens",
    "cache_read_tokens", "cache_creation_tokens", "status_code", "attempt", "tool_name", "decision",
    "source", "success"})
NOT_AN_EVENT = "not_a_claude_code_event"
INVALID_ATTRIBUTE = "invalid_attribute"
PREFIX = "claude_code."

# Seconds; API calls take from a fraction of a second to minutes.
DEFAULT_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)

# Prometheus names (from OTel name + unit) and help of every event metric.
_DEFS = {
    "requests": ("claude_code.api_requests", "", True, "Claude API requests (api_request events)."),
    "cost": ("claude_code.api_request.cost", "USD", True, "Cost of Claude API requests in USD."),
    "tokens": ("claude_code.api_request.tokens", "tokens", True, "Tokens of Claude API requests by type."),
    "duration": ("claude_code.api_request.duration", "s", False, "Claude API request duration."),
    "errors": ("claude_code.api_errors", "", True, "Failed Claude API requests (api_error events)."),
    "decisions": ("claude_code.tool_decisions", "", True, "Tool permission decisions (tool_decision events)."),
    "results": ("claude_code.tool_results", "", True, "Tool executions (tool_result events)."),
    "tool_duration": ("claude_code.tool_result.duration", "s", False, "Tool execution duration."),
    "prompts": ("claude_code.user_prompts", "", True, "User prompts (user_prompt events; no text kept)."),
}
NAMES = {key: metric_name(otel, unit, monotonic) for key, (otel, unit, monotonic, _h) in _DEFS.items()}
HELP = {key: d[3] for key, d in _DEFS.items()}
# Token attributes of api_request and the `type` label they get (the same
# values as claude_code.token.usage's type attribute).
TOKENS = {"input_tokens": "input", "output_tokens": "output",
          "cache_read_tokens": "cacheRead", "cache_creation_tokens": "cacheCreation"}


def event_name(record, attrs: dict) -> str:
    name = getattr(record, "event_name", "") or str(attrs.get("event.name", ""))
    if not name and record.body.WhichOneof("value") == "string_value":
        name = record.body.string_value
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def _number(attrs: dict, key: str) -> float | None:
    """A numeric attribute (Claude Code sends some as strings); None if absent."""
    if key not in attrs:
        return None
    value = attrs[key]
    if isinstance(value, bool):
        raise ValueError(f"{key} is a boolean")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ArithmeticError(f"{key} is {number}")
    if number < 0:
        raise ValueError(f"{key} is negative")
    return number


def _text(attrs: dict, key: str) -> str:
    value = attrs.get(key, "")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Events:
    def __init__(self, store: Store, buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.store = store
        self.buckets = tuple(sorted(buckets))

    def ingest(self, request) -> Outcome:
        out = Outcome()
        for rl in request.resource_logs:
            res = resource_labels(rl.resource)
            base = {k: res[k] for k in ("job", "instance") if k in res}
            for sl in rl.scope_logs:
                for record in sl.log_records:
                    self._record(record, base, out)
        return out

    def _record(self, record, base: dict, out: Outcome) -> None:
        # Only the attributes some event uses are read (prompt text never).
        attrs = {kv.key: raw_value(kv.value) for kv in record.attributes if kv.key in USED_ATTRIBUTES}
        name = event_name(record, attrs)
        handler = getattr(self, "_" + name, None) if name in (
            "api_request", "api_error", "tool_decision", "tool_result", "user_prompt") else None
        if handler is None:
            out.drop(NOT_AN_EVENT, repr(name or "<no event name>")[:80])
            return
        labels = {**base, "session_id": _text(attrs, "session.id")}
        try:
            problem = handler(attrs, labels)
        except ArithmeticError as exc:
            out.drop(NAN_VALUE, f"{name}: {exc}")
            return
        except (TypeError, ValueError) as exc:
            out.drop(INVALID_ATTRIBUTE, f"{name}: {exc}")
            return
        if problem:
            out.drop(problem, name)
        else:
            out.accepted += 1

    # Each handler validates every number first, then updates: a bad record
    # changes nothing.
    def _count(self, key: str, labels: dict, value: float = 1.0) -> str | None:
        return self.store.add_sum(NAMES[key], HELP[key], label_key(labels), value, 0, 0, delta=True)

    def _api_request(self, attrs: dict, labels: dict) -> str | None:
        labels["model"] = _text(attrs, "model")
        cost = _number(attrs, "cost_usd")
        duration = _number(attrs, "duration_ms")
        tokens = {kind: _number(attrs, key) for key, kind in TOKENS.items()}
        problem = self._count("requests", labels)
        if cost is not None:
            problem = problem or self._count("cost", labels, cost)
        for kind, value in tokens.items():
            if value is not None:
                problem = problem or self._count("tokens", {**labels, "type": kind}, value)
        if duration is not None:
            problem = problem or self.store.observe(NAMES["duration"], HELP["duration"], label_key(labels),
                                                    self.buckets, duration / 1000)
        return problem

    def _api_error(self, attrs: dict, labels: dict) -> str | None:
        labels.update(model=_text(attrs, "model"), status_code=_text(attrs, "status_code"),
                      attempt=_text(attrs, "attempt"))
        return self._count("errors", labels)

    def _tool_decision(self, attrs: dict, labels: dict) -> str | None:
        labels.update(tool_name=_text(attrs, "tool_name"), decision=_text(attrs, "decision"),
                      source=_text(attrs, "source"))
        return self._count("decisions", labels)

    def _tool_result(self, attrs: dict, labels: dict) -> str | None:
        duration = _number(attrs, "duration_ms")
        labels.update(tool_name=_text(attrs, "tool_name"), success=_text(attrs, "success"),
                      decision=_text(attrs, "decision"))
        problem = self._count("results", labels)
        if duration is not None:
            problem = problem or self.store.observe(
                NAMES["tool_duration"], HELP["tool_duration"],
                label_key({k: labels[k] for k in ("job", "instance", "session_id", "tool_name") if k in labels}),
                self.buckets, duration / 1000)
        return problem

    def _user_prompt(self, attrs: dict, labels: dict) -> str | None:
        # Counted only: the prompt (present with OTEL_LOG_USER_PROMPTS=1) is never read.
        return self._count("prompts", labels)
