"""The receiver's own metrics (otlp_receiver_*), and rate-limited logging of
what it refuses, so that nothing is refused or dropped without a trace."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

from .store import Store, format_value, label_key

LOG = logging.getLogger("otlp_receiver")

FAMILIES = {
    "otlp_receiver_requests_total": (
        "counter", "OTLP export requests answered, by protocol, signal and outcome."),
    "otlp_receiver_rejected_requests_total": (
        "counter", "OTLP requests refused whole (4xx / gRPC error), by protocol and reason."),
    "otlp_receiver_accepted_points_total": (
        "counter", "Metric data points and log records converted into series."),
    "otlp_receiver_dropped_points_total": (
        "counter", "Metric data points and log records that could not be converted, by signal and reason."),
    "otlp_receiver_series": ("gauge", "Series currently served on /metrics."),
    "otlp_receiver_series_limit": ("gauge", "Most series kept at once (--max-series)."),
    "otlp_receiver_expired_series_total": ("counter", "Series forgotten after --expiration without updates."),
    "otlp_receiver_build_info": ("gauge", "Version of the receiver (value 1)."),
}


class Stats:
    def __init__(self, store: Store, version: str, log_every: float = 10.0) -> None:
        self.store = store
        self.version = version
        self.lock = threading.Lock()
        self.values: dict[tuple[str, str], float] = {}
        self.log_every = log_every
        self._last_log: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def inc(self, name: str, labels: dict[str, str], by: float = 1) -> None:
        key = (name, label_key(labels))
        with self.lock:
            self.values[key] = self.values.get(key, 0) + by

    def get(self, name: str, labels: dict[str, str]) -> float:
        return self.values.get((name, label_key(labels)), 0)

    def warn(self, topic: str, message: str) -> None:
        """Log a refusal; the same topic at most once per log_every seconds."""
        now = time.monotonic()
        with self.lock:
            last = self._last_log.get(topic)
            if last is not None and now - last < self.log_every:
                self._suppressed[topic] = self._suppressed.get(topic, 0) + 1
                return
            self._last_log[topic] = now
            skipped = self._suppressed.pop(topic, 0)
        LOG.warning("%s%s", message, f" ({skipped} more like it not logged)" if skipped else "")

    def render(self) -> Iterator[str]:
        with self.lock:
            values = dict(self.values)
        values[("otlp_receiver_series", "")] = self.store.series_count
        values[("otlp_receiver_series_limit", "")] = self.store.max_series
        values[("otlp_receiver_expired_series_total", "")] = self.store.expired_total
        values[("otlp_receiver_build_info", label_key({"version": self.version}))] = 1
        lines = []
        for name, (kind, help_text) in FAMILIES.items():
            rows = sorted((k, v) for (n, k), v in values.items() if n == name)
            if not rows:
                continue
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{{{k}}} {format_value(float(v))}" if k else f"{name} {format_value(float(v))}"
                      for k, v in rows]
        yield "\n".join(lines) + "\n"
