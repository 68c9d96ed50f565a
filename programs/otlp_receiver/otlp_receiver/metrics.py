"""ExportMetricsServiceRequest -> series in the store."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from .attributes import attributes_to_labels, resource_labels, scope_labels
from .names import metric_name
from .store import Store, label_key

DELTA, CUMULATIVE = 1, 2
# A data point flagged "no recorded value" ends its series (a stale marker).
NO_RECORDED_VALUE = 1

# Drop reasons of this module (the store adds its own).
UNKNOWN_TYPE = "unknown_type"
UNSUPPORTED_TYPE = "unsupported_type"
NAN_VALUE = "nan_value"
NO_VALUE = "no_value"
INVALID_NAME = "invalid_name"
UNSPECIFIED_TEMPORALITY = "unspecified_temporality"

# Claude Code reports this counter with unit "count", which the naming rules
# would append (..._decision_count_total); its documented Prometheus name has
# no unit part. The role's otelcol config clears the unit the same way and
# its vmagent relabeling renames it.
UNIT_OVERRIDES = {"claude_code.code_edit_tool.decision": ""}


@dataclass
class Outcome:
    """What one request turned into: points taken and dropped by reason."""

    accepted: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def drop(self, reason: str, what: str, n: int = 1) -> None:
        self.dropped[reason] += n
        self.examples.setdefault(reason, what)

    @property
    def rejected(self) -> int:
        return sum(self.dropped.values())

    def message(self) -> str:
        return "; ".join(f"{n} dropped: {reason} (e.g. {self.examples[reason]})"
                         for reason, n in sorted(self.dropped.items()))


def _number(point) -> float | None:
    kind = point.WhichOneof("value")
    if kind == "as_double":
        return point.as_double
    if kind == "as_int":
        return float(point.as_int)
    return None


class LabelCache:
    """Label strings of recently seen attribute sets.

    Building a point's label string (sanitize, merge with the resource's
    labels, sort, escape) costs far more than decoding the point; a session
    sends the same attribute sets every export, so they are remembered,
    keyed by the encoded attributes. Bounded: cleared when full.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.keys: dict[tuple, str] = {}

    def get(self, attributes, scoped: dict[str, str], scoped_key: str) -> str:
        sig = (scoped_key, *(kv.SerializeToString() for kv in attributes))
        key = self.keys.get(sig)
        if key is None:
            labels = attributes_to_labels(attributes, {})
            # The resource's job/instance win; other resource labels fill in
            # what the point's own attributes do not set.
            for name, value in scoped.items():
                if name in ("job", "instance") or name not in labels:
                    labels[name] = value
            key = label_key(labels)
            if len(self.keys) >= self.size:
                self.keys.clear()
            self.keys[sig] = key
        return key


_LABELS = LabelCache()


def ingest(request, store: Store, labels: LabelCache = _LABELS) -> Outcome:
    out = Outcome()
    for rm in request.resource_metrics:
        base = resource_labels(rm.resource)
        for sm in rm.scope_metrics:
            scoped = {**base, **scope_labels(sm.scope)}
            scoped_key = label_key(scoped)
            for metric in sm.metrics:
                _metric(metric, scoped, scoped_key, store, out, labels)
    return out


def _metric(metric, scoped: dict[str, str], scoped_key: str, store: Store, out: Outcome,
            labels: LabelCache) -> None:
    kind = metric.WhichOneof("data")
    if kind is None:
        out.drop(UNKNOWN_TYPE, metric.name or "<unnamed>")
        return
    data = getattr(metric, kind)
    points = data.data_points
    if kind in ("exponential_histogram", "summary"):
        out.drop(UNSUPPORTED_TYPE, f"{metric.name} ({kind})", max(len(points), 1))
        return
    monotonic = kind == "sum" and data.is_monotonic
    unit = UNIT_OVERRIDES.get(metric.name, metric.unit)
    name = metric_name(metric.name, unit, monotonic, gauge=kind == "gauge")
    if not name:
        out.drop(INVALID_NAME, repr(metric.name), max(len(points), 1))
        return
    temporality = getattr(data, "aggregation_temporality", CUMULATIVE)
    if kind in ("sum", "histogram") and temporality not in (DELTA, CUMULATIVE):
        out.drop(UNSPECIFIED_TEMPORALITY, metric.name, max(len(points), 1))
        return
    delta = temporality == DELTA
    help_text = metric.description.replace("\\", "\\\\").replace("\n", "\\n")
    for point in points:
        key = labels.get(point.attributes, scoped, scoped_key)
        if point.flags & NO_RECORDED_VALUE:
            store.forget(name, key)
            continue
        if kind == "histogram":
            reason = _histogram(store, name, help_text, key, point, delta)
        else:
            value = _number(point)
            if value is None:
                reason = NO_VALUE
            elif math.isnan(value) or math.isinf(value):
                reason = NAN_VALUE
            elif kind == "gauge":
                reason = store.set_gauge(name, help_text, key, value, point.time_unix_nano)
            else:
                reason = store.add_sum(name, help_text, key, value, point.start_time_unix_nano,
                                       point.time_unix_nano, delta, monotonic)
        if reason:
            out.drop(reason, name)
        else:
            out.accepted += 1


def _histogram(store: Store, name: str, help_text: str, key: str, point, delta: bool) -> str | None:
    bounds = tuple(point.explicit_bounds)
    counts = list(point.bucket_counts)
    if not counts:
        counts = [0] * len(bounds) + [point.count]
    if len(counts) != len(bounds) + 1 or sum(counts) != point.count:
        return "invalid_histogram"
    total = point.sum if point.HasField("sum") else 0.0
    if math.isnan(total) or math.isinf(total) or any(math.isnan(b) for b in bounds):
        return NAN_VALUE
    return store.add_histogram(name, help_text, key, bounds, counts, total, point.count,
                               point.start_time_unix_nano, point.time_unix_nano, delta)
