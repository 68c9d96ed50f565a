# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-container metric families, as a table, built one family at a time.

Each row names a family and says which samples a container contributes.
container_families() yields the families lazily, so prometheus_client renders
one before the next is built: at 100 containers a scrape never holds all of
its ~3,600 samples as objects at once.

Resource families (cAdvisor's names and labels) come from the latest stats
sample and exist for running and paused containers only; the state families
(what cAdvisor lacks) exist for every container, stopped ones included.
"""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import parse

LABELS = ["name", "image", "id"]


def _stats(container, key):
    stats = container["stats"]
    return None if stats is None else stats[key]


def _last_seen(container, now):
    return [((), now)] if container["stats"] is not None else []


def _cpu(part):
    def values(container, _now):
        cpu = _stats(container, "cpu")
        return [((), cpu[part])] if cpu is not None else []
    return values


def _memory(part):
    def values(container, _now):
        memory = _stats(container, "memory")
        return [((), memory[part])] if memory is not None and part in memory else []
    return values


def _network(key):
    def values(container, _now):
        network = _stats(container, "network") or {}
        return [((interface,), counters[key]) for interface, counters in network.items()]
    return values


def _block(op):
    def values(container, _now):
        block = _stats(container, "block")
        return [((), block[op])] if block is not None else []
    return values


def _state(key, convert=float):
    def values(container, _now):
        value = container["state"][key]
        return [] if value is None else [((), convert(value))]
    return values


def _one_hot(key, choices):
    def values(container, _now):
        current = container["state"][key]
        return [((choice,), 1 if current == choice else 0) for choice in choices]
    return values


def _info(container, _now):
    labels = container["summary"].get("Labels") or {}
    return [((container["state"]["restart_policy"], labels.get("com.docker.compose.project", ""),
              labels.get("com.docker.compose.service", "")), 1)]


def _network_rows():
    for direction in ("receive", "transmit"):
        for _engine_key, part in parse.NETWORK_FIELDS:
            key = f"{direction}_{part}"
            yield ("counter", f"container_network_{key}",
                   f"Cumulative network {part.replace('_', ' ')} ({direction}).", ["interface"], _network(key))


# (type, name, help, extra label names, values(container, now) -> [(extra label values, value)])
# Counter names go without _total: prometheus_client adds it.
FAMILIES = (
    ("gauge", "container_last_seen", "Last time the container was seen by the exporter.", [], _last_seen),
    ("counter", "container_cpu_usage_seconds", "Cumulative CPU time consumed.", [], _cpu("total")),
    ("counter", "container_cpu_user_seconds", "Cumulative user CPU time consumed.", [], _cpu("user")),
    ("counter", "container_cpu_system_seconds", "Cumulative system CPU time consumed.", [], _cpu("system")),
    ("gauge", "container_memory_usage_bytes", "Current memory usage, page cache included.", [], _memory("usage")),
    ("gauge", "container_memory_working_set_bytes", "Memory usage minus inactive file cache.", [],
     _memory("working_set")),
    ("gauge", "container_memory_rss", "Anonymous and swap cache memory.", [], _memory("rss")),
    ("gauge", "container_memory_cache", "Page cache memory.", [], _memory("cache")),
    ("gauge", "container_spec_memory_limit_bytes", "Memory limit; 0 when unlimited.", [], _state("memory_limit")),
    ("gauge", "container_start_time_seconds", "Start time of the container since the epoch.", [],
     _state("started_at")),
    *_network_rows(),
    ("counter", "container_fs_reads_bytes", "Cumulative bytes read from block devices.", [], _block("read")),
    ("counter", "container_fs_writes_bytes", "Cumulative bytes written to block devices.", [], _block("write")),
    ("gauge", "docker_container_state", "1 for the container's current state, 0 for the others.", ["state"],
     _one_hot("status", parse.STATES)),
    ("gauge", "docker_container_health_status",
     "1 for the container's health status (none without a healthcheck), 0 for the others.", ["status"],
     _one_hot("health", parse.HEALTH_STATUSES)),
    ("counter", "docker_container_restarts", "Restarts by the engine's restart policy.", [],
     _state("restart_count")),
    ("gauge", "docker_container_last_exit_code", "Exit code of the last run (0 if never exited).", [],
     _state("exit_code")),
    ("gauge", "docker_container_oom_killed", "1 if the last run was killed by the OOM killer.", [],
     _state("oom_killed", lambda killed: 1 if killed else 0)),
    ("gauge", "docker_container_info", "Container metadata; the value is always 1.",
     ["restart_policy", "compose_project", "compose_service"], _info),
)


def container_families(containers: list, now: float):
    """Yield each family of FAMILIES with the samples of every container."""
    for kind, name, documentation, extra_labels, values in FAMILIES:
        family_type = GaugeMetricFamily if kind == "gauge" else CounterMetricFamily
        family = family_type(name, documentation, labels=LABELS + extra_labels)
        for container in containers:
            labels = list(container["labels"])
            for extra, value in values(container, now):
                family.add_metric(labels + list(extra), value)
        yield family
