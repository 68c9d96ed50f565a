"""The series the receiver serves on /metrics, and how points update them.

Counters keep a running total: a delta point adds to it (unless it overlaps
time already counted), a cumulative point replaces it. That is how two delta
exports of 100 and 250 read 350, as they would through the collector's
Prometheus exporter. Series nobody updated for ``expiration`` seconds are
forgotten, and no more than ``max_series`` are kept.

A series is keyed by its rendered label string (``a="1",b="2"``, names
sorted): one string per series is the cheapest key that is also what the
scrape page needs.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator

from .names import escape_label_value

COUNTER, GAUGE, HISTOGRAM = "counter", "gauge", "histogram"

# Reasons a data point is dropped; each is a label value of
# otlp_receiver_dropped_points_total.
SERIES_LIMIT = "series_limit"
OUT_OF_ORDER = "out_of_order"
NEGATIVE_DELTA = "negative_delta"
TYPE_CONFLICT = "type_conflict"


_KEYS: dict[tuple, str] = {}


def label_key(labels: dict[str, str]) -> str:
    """The canonical label string of a label set (empty values are absent labels).

    Remembered per label set as given (a bounded cache, cleared when full):
    the same few label sets come back with every export.
    """
    sig = tuple(labels.items())
    key = _KEYS.get(sig)
    if key is None:
        key = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in sorted(sig) if v != "")
        if len(_KEYS) >= 8192:
            _KEYS.clear()
        _KEYS[sig] = key
    return key


def format_value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


class Series:
    """A counter or gauge value, or a histogram's buckets, with its times."""

    __slots__ = ("value", "start", "ts", "touched", "bounds", "counts", "count")

    def __init__(self, value: float, start: int, ts: int, touched: float) -> None:
        self.value = value  # counter/gauge value; a histogram's sum
        self.start = start  # OTLP start time (ns) of the current cumulative run
        self.ts = ts  # OTLP time (ns) of the newest point taken
        self.touched = touched  # monotonic clock of the last update, for expiry
        self.bounds: tuple[float, ...] = ()
        self.counts: list[int] = []
        self.count = 0


class Family:
    __slots__ = ("name", "kind", "help", "series")

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name = name
        self.kind = kind
        self.help = help_text
        self.series: dict[str, Series] = {}


class Store:
    def __init__(self, max_series: int, expiration: float, clock=time.monotonic) -> None:
        self.max_series = max_series
        self.expiration = expiration
        self.clock = clock
        self.lock = threading.Lock()
        self.families: dict[str, Family] = {}
        self.series_count = 0
        self.expired_total = 0

    # -- lookups -----------------------------------------------------------
    def _family(self, name: str, kind: str, help_text: str) -> Family | None:
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = Family(name, kind, help_text)
        elif fam.kind != kind:
            return None
        return fam

    def _new_series(self, fam: Family, key: str, value: float, start: int, ts: int) -> Series | None:
        if self.series_count >= self.max_series:
            self._expire_locked(self.clock())
            if self.series_count >= self.max_series:
                return None
        series = fam.series[key] = Series(value, start, ts, self.clock())
        self.series_count += 1
        return series

    # -- updates (each returns None when taken, else the drop reason) --------
    def add_sum(self, name: str, help_text: str, key: str, value: float, start: int, ts: int,
                delta: bool, monotonic: bool = True) -> str | None:
        """A sum point: monotonic sums become counters, the others gauges."""
        if delta and monotonic and value < 0:
            return NEGATIVE_DELTA
        with self.lock:
            fam = self._family(name, COUNTER if monotonic else GAUGE, help_text)
            if fam is None:
                return TYPE_CONFLICT
            series = fam.series.get(key)
            if series is None:
                return None if self._new_series(fam, key, value, start, ts) else SERIES_LIMIT
            if delta:
                # A delta covering time already counted is a retry or a
                # duplicate: adding it would count it twice.
                if start and series.ts and start < series.ts:
                    return OUT_OF_ORDER
                series.value += value
            else:
                if ts and series.ts and ts < series.ts:
                    return OUT_OF_ORDER
                series.value = value
                series.start = start
            if ts:
                series.ts = ts
            series.touched = self.clock()
            return None

    def set_gauge(self, name: str, help_text: str, key: str, value: float, ts: int) -> str | None:
        with self.lock:
            fam = self._family(name, GAUGE, help_text)
            if fam is None:
                return TYPE_CONFLICT
            series = fam.series.get(key)
            if series is None:
                return None if self._new_series(fam, key, value, 0, ts) else SERIES_LIMIT
            if ts and series.ts and ts < series.ts:
                return OUT_OF_ORDER
            series.value = value
            series.ts = ts or series.ts
            series.touched = self.clock()
            return None

    def add_histogram(self, name: str, help_text: str, key: str, bounds: tuple[float, ...],
                      counts: list[int], total: float, count: int, start: int, ts: int,
                      delta: bool) -> str | None:
        """A histogram point; ``counts`` per bucket (len(bounds) + 1), not cumulative."""
        with self.lock:
            fam = self._family(name, HISTOGRAM, help_text)
            if fam is None:
                return TYPE_CONFLICT
            series = fam.series.get(key)
            if series is None:
                series = self._new_series(fam, key, total, start, ts)
                if series is None:
                    return SERIES_LIMIT
                series.bounds, series.counts, series.count = bounds, list(counts), count
                return None
            if delta and series.bounds == bounds:
                if start and series.ts and start < series.ts:
                    return OUT_OF_ORDER
                series.counts = [a + b for a, b in zip(series.counts, counts, strict=True)]
                series.count += count
                series.value += total
            else:
                # Cumulative, or delta with new bucket bounds (a reset).
                if not delta and ts and series.ts and ts < series.ts:
                    return OUT_OF_ORDER
                series.bounds, series.counts, series.count, series.value = bounds, list(counts), count, total
                series.start = start
            if ts:
                series.ts = ts
            series.touched = self.clock()
            return None

    def observe(self, name: str, help_text: str, key: str, bounds: tuple[float, ...], value: float) -> str | None:
        """One observation into a histogram (events)."""
        counts = [0] * (len(bounds) + 1)
        for i, bound in enumerate(bounds):
            if value <= bound:
                counts[i] = 1
                break
        else:
            counts[-1] = 1
        return self.add_histogram(name, help_text, key, bounds, counts, value, 1, 0, 0, delta=True)

    def forget(self, name: str, key: str) -> None:
        """Drop one series (an OTLP point flagged as having no recorded value)."""
        with self.lock:
            fam = self.families.get(name)
            if fam is not None and fam.series.pop(key, None) is not None:
                self.series_count -= 1

    # -- expiry and rendering ------------------------------------------------
    def _expire_locked(self, now: float) -> int:
        cutoff = now - self.expiration
        gone = 0
        for name in list(self.families):
            fam = self.families[name]
            stale = [k for k, s in fam.series.items() if s.touched < cutoff]
            for k in stale:
                del fam.series[k]
            gone += len(stale)
            if not fam.series:
                del self.families[name]
        self.series_count -= gone
        self.expired_total += gone
        return gone

    def expire(self) -> int:
        with self.lock:
            return self._expire_locked(self.clock())

    def render(self, chunk_lines: int = 2000) -> Iterator[str]:
        """The exposition text, in chunks (a big page is never one string)."""
        self.expire()
        with self.lock:
            fams = sorted(self.families.values(), key=lambda f: f.name)
            snapshot = [(f, list(f.series.items())) for f in fams]
        lines: list[str] = []
        for fam, items in snapshot:
            if fam.help:
                lines.append(f"# HELP {fam.name} {fam.help}")
            lines.append(f"# TYPE {fam.name} {fam.kind}")
            for key, s in items:
                if fam.kind == HISTOGRAM:
                    lines.extend(_histogram_lines(fam.name, key, s))
                else:
                    lines.append(f"{fam.name}{{{key}}} {format_value(s.value)}" if key
                                 else f"{fam.name} {format_value(s.value)}")
                if len(lines) >= chunk_lines:
                    yield "\n".join(lines) + "\n"
                    lines = []
        if lines:
            yield "\n".join(lines) + "\n"


def _histogram_lines(name: str, key: str, s: Series) -> list[str]:
    sep = "," if key else ""
    out = []
    running = 0
    for bound, n in zip(s.bounds, s.counts, strict=False):
        running += n
        out.append(f'{name}_bucket{{{key}{sep}le="{format_value(float(bound))}"}} {running}')
    out.append(f'{name}_bucket{{{key}{sep}le="+Inf"}} {s.count}')
    braces = f"{{{key}}}" if key else ""
    out.append(f"{name}_sum{braces} {format_value(s.value)}")
    out.append(f"{name}_count{braces} {s.count}")
    return out
