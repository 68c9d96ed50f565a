# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure functions turning Engine API payloads into metric values.

Kept free of I/O so the unit tests feed them recorded payloads. Both stats
layouts are handled: cgroup v1 (memory_stats.stats has total_inactive_file,
blkio ops capitalised) and cgroup v2 (inactive_file, lower-case ops).
"""

from __future__ import annotations

import calendar
import re

STATES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")
HEALTH_STATUSES = ("none", "starting", "healthy", "unhealthy")

# Engine timestamps carry nanoseconds ("2024-05-01T10:00:00.123456789Z"), which
# datetime.fromisoformat rejects on older Pythons; parse them by hand.
_TIMESTAMP = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$")

# Network counters: Engine key suffix -> cAdvisor metric name part.
NETWORK_FIELDS = (
    ("bytes", "bytes"),
    ("packets", "packets"),
    ("errors", "errors"),
    ("dropped", "packets_dropped"),
)


def parse_timestamp(value: str | None) -> float | None:
    """Seconds since the epoch, or None for the engine's zero time / garbage."""
    if not value:
        return None
    match = _TIMESTAMP.match(value)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if int(year) <= 1:  # 0001-01-01T00:00:00Z: never started / never finished
        return None
    seconds = calendar.timegm((int(year), int(month), int(day), int(hour), int(minute), int(second)))
    if fraction:
        seconds += int(fraction[:9].ljust(9, "0")) / 1e9
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return float(seconds)


def container_name(summary: dict) -> str:
    """Primary name without the leading slash (Names holds link aliases too)."""
    names = summary.get("Names") or []
    for name in names:
        # Legacy links show up as /other/alias; the real name has one slash.
        if name.count("/") == 1:
            return name.lstrip("/")
    return names[0].lstrip("/") if names else summary.get("Id", "")[:12]


def container_state(inspect: dict) -> dict:
    """State facts from containers/{id}/json, with safe defaults."""
    state = inspect.get("State") or {}
    health = state.get("Health") or {}
    host_config = inspect.get("HostConfig") or {}
    policy = (host_config.get("RestartPolicy") or {}).get("Name") or "no"
    return {
        "status": state.get("Status", ""),
        "exit_code": int(state.get("ExitCode") or 0),
        "oom_killed": bool(state.get("OOMKilled")),
        "health": health.get("Status") or "none",
        "restart_count": int(inspect.get("RestartCount") or 0),
        "restart_policy": policy,
        "started_at": parse_timestamp(state.get("StartedAt")),
        "finished_at": parse_timestamp(state.get("FinishedAt")),
        # HostConfig.Memory is 0 when unlimited, as cAdvisor's spec metric.
        "memory_limit": int(host_config.get("Memory") or 0),
    }


def cpu_seconds(stats: dict) -> dict | None:
    """Cumulative CPU seconds (total, user, system); the engine reports ns."""
    usage = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    if "total_usage" not in usage:
        return None
    return {
        "total": usage.get("total_usage", 0) / 1e9,
        "user": usage.get("usage_in_usermode", 0) / 1e9,
        "system": usage.get("usage_in_kernelmode", 0) / 1e9,
    }


def memory_bytes(stats: dict) -> dict | None:
    """Usage (page cache included) and working set (usage minus inactive file).

    cgroup v1: usage is memory.usage_in_bytes and the hierarchical
    total_inactive_file is preferred over inactive_file, as docker stats and
    cAdvisor do. cgroup v2: usage is memory.current, inactive_file directly.
    """
    memory = stats.get("memory_stats") or {}
    if "usage" not in memory:
        return None
    usage = int(memory.get("usage") or 0)
    detail = memory.get("stats") or {}
    if "total_inactive_file" in detail:
        inactive = int(detail["total_inactive_file"])
    else:
        inactive = int(detail.get("inactive_file") or 0)
    working_set = usage - inactive if inactive < usage else 0
    result = {"usage": usage, "working_set": working_set}
    for key in ("rss", "total_rss", "anon"):
        if key in detail:
            result["rss"] = int(detail[key])
            break
    if "total_cache" in detail or "cache" in detail or "file" in detail:
        result["cache"] = int(detail.get("total_cache", detail.get("cache", detail.get("file", 0))))
    return result


def network_counters(stats: dict) -> dict:
    """{interface: {"receive_bytes": n, "transmit_packets_dropped": n, ...}}."""
    result = {}
    for interface, counters in (stats.get("networks") or {}).items():
        values = {}
        for key, name in NETWORK_FIELDS:
            values["receive_" + name] = int(counters.get("rx_" + key) or 0)
            values["transmit_" + name] = int(counters.get("tx_" + key) or 0)
        result[interface] = values
    return result


def block_io_bytes(stats: dict) -> dict:
    """Bytes read and written, summed over devices (v1 "Read", v2 "read")."""
    entries = (stats.get("blkio_stats") or {}).get("io_service_bytes_recursive") or []
    totals = {"read": 0, "write": 0}
    for entry in entries:
        op = str(entry.get("op", "")).lower()
        if op in totals:
            totals[op] += int(entry.get("value") or 0)
    return totals


def stats_sample(stats: dict) -> dict:
    """The values the exporter keeps of a stats document (a few hundred bytes of
    its 2-4 KiB), so holding the latest sample of every container stays cheap."""
    return {
        "cpu": cpu_seconds(stats),
        "memory": memory_bytes(stats),
        "network": network_counters(stats),
        "block": block_io_bytes(stats),
    }


_SUMMARY_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")


def summary_health(status_text: str | None) -> str:
    """Health as containers/json shows it in Status ("Up 2 minutes (unhealthy)")."""
    match = _SUMMARY_HEALTH.search(status_text or "")
    if not match:
        return "none"
    return "starting" if match.group(1) == "health: starting" else match.group(1)
