"""OTLP metric and attribute names to Prometheus names.

The rules are those of the collector's Prometheus exporter (metric suffixes
on): the name is split into tokens on every character Prometheus does not
allow, the unit is appended unless a token already spells it, monotonic sums
end in ``_total`` and dimensionless gauges in ``_ratio``.
"""

from __future__ import annotations

import re
from functools import lru_cache

# UCUM units the exporter spells out; anything else is kept as written.
UNITS = {
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds",
    "us": "microseconds", "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes",
    "MiBy": "mebibytes", "GiBy": "gibibytes", "TiBy": "tibibytes", "KBy": "kilobytes",
    "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes", "m": "meters", "V": "volts",
    "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius", "Hz": "hertz",
    "1": "", "%": "percent",
}
PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month", "y": "year"}

_TOKEN_SPLIT = re.compile(r"[^a-zA-Z0-9:]+")
_UNIT_CLEAN = re.compile(r"[^a-zA-Z0-9]+")
_LABEL_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _clean_unit(unit: str) -> str:
    return _UNIT_CLEAN.sub("_", unit).strip("_")


@lru_cache(maxsize=4096)
def metric_name(name: str, unit: str, monotonic_sum: bool, gauge: bool = False) -> str:
    """Prometheus name of an OTLP metric (empty when nothing valid is left)."""
    tokens = [t for t in _TOKEN_SPLIT.split(name) if t]
    main, _unused, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    main_prom = per_prom = ""
    if main and "{" not in main and "}" not in main:
        main_prom = _clean_unit(UNITS.get(main, main))
        if main_prom in tokens:
            main_prom = ""
    if per and "{" not in per and "}" not in per:
        per_prom = _clean_unit(PER_UNITS.get(per, per))
        if per_prom:
            per_prom = "per_" + per_prom
            if per_prom in tokens:
                per_prom = ""
    if main_prom:
        tokens.append(main_prom)
    if per_prom:
        tokens.append(per_prom)
    if monotonic_sum:
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if gauge and unit == "1":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    out = "_".join(tokens)
    if out and out[0].isdigit():
        out = "_" + out
    return out


@lru_cache(maxsize=4096)
def label_name(key: str) -> str:
    """Prometheus label name of an attribute key (``session.id`` -> ``session_id``)."""
    if not key:
        return ""
    out = _LABEL_INVALID.sub("_", key)
    if out[0].isdigit():
        out = "key_" + out
    elif out.startswith("_") and not out.startswith("__"):
        out = "key" + out
    return out


def escape_label_value(value: str) -> str:
    """Escape a label value for the text exposition format."""
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value
