# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prometheus_client collector: one Engine API pass per scrape.

Per scrape: one containers/json call (all containers, stopped ones too), then
per container an inspect and, for running/paused ones, a one-shot stats call,
fanned out over a thread pool so a scrape does not wait a stats cycle per
container. Every call has a timeout and the scrape has a deadline; a
container that vanishes mid-scrape (404) is skipped; an unreachable daemon
gives docker_up 0 and an error count, never an exception out of collect().
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import __version__, parse
from .streams import StatsStreams

LOG = logging.getLogger("docker_exporter")

LABELS = ["name", "image", "id"]
ERROR_KINDS = ("daemon", "container", "timeout")
# States in which the container has a cgroup, so stats mean something.
STATS_STATES = ("running", "paused")


def default_client_factory(base_url: str, timeout: float, pool_size: int):
    """A low-level Engine API client; version negotiated with the daemon."""
    import docker  # imported late: the unit tests inject a fake client

    return docker.APIClient(base_url=base_url, version="auto", timeout=timeout,
                            max_pool_size=pool_size)


def _is_not_found(exc: BaseException) -> bool:
    try:
        import docker.errors
    except ImportError:  # pragma: no cover - docker is a hard dependency in production
        return False
    if isinstance(exc, docker.errors.NotFound):
        return True
    # A container stopped between list and stats answers 409 "is not running".
    return isinstance(exc, docker.errors.APIError) and getattr(exc, "status_code", None) == 409


class DockerCollector:
    """Collects per-container metrics from the Docker Engine API on each scrape."""

    def __init__(self, base_url: str = "unix:///var/run/docker.sock", api_timeout: float = 5.0,
                 scrape_timeout: float = 10.0, workers: int = 8, client_factory=None,
                 stats_mode: str = "stream", first_sample_wait: float = 1.5):
        if stats_mode not in ("stream", "oneshot"):
            raise ValueError(f"stats_mode must be stream or oneshot, not {stats_mode!r}")
        self.base_url = base_url
        self.stats_mode = stats_mode
        # How long a scrape waits for the first sample of a newly started
        # stream (the engine publishes once per second).
        self.first_sample_wait = first_sample_wait
        self.api_timeout = api_timeout
        self.scrape_timeout = scrape_timeout
        self.workers = workers
        self._client_factory = client_factory or default_client_factory
        self._client = None
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engine-api")
        # Scrapes are serialised: concurrent scrapes would only multiply the
        # load on the daemon, and the error counters stay consistent.
        self._lock = threading.Lock()
        self._errors = {kind: 0 for kind in ERROR_KINDS}
        self._streams = StatsStreams(self._client_factory, base_url, api_timeout)

    # prometheus_client calls describe() at registration; returning nothing
    # keeps it from running a whole scrape against the daemon at start-up.
    def describe(self):
        return []

    def collect(self):
        with self._lock:
            started = time.monotonic()
            up, containers = self._scrape()
            duration = time.monotonic() - started
            errors = dict(self._errors)
        yield from self._container_families(containers)
        yield GaugeMetricFamily("docker_up", "1 if the Docker Engine API answered this scrape, else 0.",
                                value=1 if up else 0)
        yield GaugeMetricFamily("docker_exporter_scrape_duration_seconds",
                                "Time this scrape spent reading the Docker Engine API.", value=duration)
        family = CounterMetricFamily("docker_exporter_scrape_errors",
                                     "Engine API failures by kind (daemon, container, timeout).",
                                     labels=["kind"])
        for kind in ERROR_KINDS:
            family.add_metric([kind], errors[kind])
        yield family
        yield GaugeMetricFamily("docker_exporter_containers", "Containers listed by the engine this scrape.",
                                value=len(containers))
        info = GaugeMetricFamily("docker_exporter_build_info", "Exporter version.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

    # -- Engine API ---------------------------------------------------------

    def _client_or_none(self):
        if self._client is None:
            self._client = self._client_factory(self.base_url, self.api_timeout, self.workers + 2)
        return self._client

    def _scrape(self) -> tuple[bool, list]:
        deadline = time.monotonic() + self.scrape_timeout
        try:
            client = self._client_or_none()
            summaries = client.containers(all=True)
        except Exception as exc:  # noqa: BLE001 - any failure means the daemon is unusable
            self._errors["daemon"] += 1
            self._client = None  # reconnect (and renegotiate the version) next scrape
            self._streams.reset()
            LOG.warning("Docker Engine API unreachable at %s: %s", self.base_url, exc)
            return False, []
        futures = [self._pool.submit(self._read_container, client, summary) for summary in summaries]
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for future in pending:
            future.cancel()
            self._errors["timeout"] += 1
        if pending:
            LOG.warning("%d containers not read within the %.1fs scrape deadline", len(pending),
                        self.scrape_timeout)
        containers = []
        for future in futures:
            if future not in done:
                continue
            exc = future.exception()
            if exc is not None:
                self._errors["container"] += 1
                LOG.warning("reading a container failed: %s", exc)
                continue
            if future.result() is not None:
                containers.append(future.result())
        if self.stats_mode == "stream":
            self._attach_streamed_stats(containers, deadline)
        return True, containers

    def _attach_streamed_stats(self, containers: list, deadline: float):
        running = [c for c in containers if c["state"]["status"] in STATS_STATES]
        self._streams.sync([c["labels"][2] for c in running])
        wait_until = min(deadline, time.monotonic() + self.first_sample_wait)
        for container in running:
            container["stats"] = self._streams.get(container["labels"][2], wait_until)

    def _read_container(self, client, summary: dict):
        container_id = summary["Id"]
        try:
            inspect = client.inspect_container(container_id)
        except Exception as exc:
            if _is_not_found(exc):
                return None  # removed since the list call: not an error
            raise
        state = parse.container_state(inspect)
        stats = None
        if self.stats_mode == "oneshot" and state["status"] in STATS_STATES:
            try:
                stats = client.stats(container_id, stream=False, one_shot=True)
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
        labels = (parse.container_name(summary), summary.get("Image") or inspect.get("Config", {}).get("Image", ""),
                  container_id)
        return {"labels": labels, "summary": summary, "state": state, "stats": stats}

    # -- Metric families ----------------------------------------------------

    @staticmethod
    def _container_families(containers: list):
        now = time.time()
        g = GaugeMetricFamily
        c = CounterMetricFamily
        # cAdvisor-compatible families (resource usage; running containers).
        last_seen = g("container_last_seen", "Last time the container was seen by the exporter.", labels=LABELS)
        cpu = c("container_cpu_usage_seconds", "Cumulative CPU time consumed.", labels=LABELS)
        cpu_user = c("container_cpu_user_seconds", "Cumulative user CPU time consumed.", labels=LABELS)
        cpu_system = c("container_cpu_system_seconds", "Cumulative system CPU time consumed.", labels=LABELS)
        mem_usage = g("container_memory_usage_bytes", "Current memory usage, page cache included.",
                      labels=LABELS)
        mem_ws = g("container_memory_working_set_bytes", "Memory usage minus inactive file cache.",
                   labels=LABELS)
        mem_rss = g("container_memory_rss", "Anonymous and swap cache memory.", labels=LABELS)
        mem_cache = g("container_memory_cache", "Page cache memory.", labels=LABELS)
        mem_limit = g("container_spec_memory_limit_bytes", "Memory limit; 0 when unlimited.", labels=LABELS)
        start_time = g("container_start_time_seconds", "Start time of the container since the epoch.",
                       labels=LABELS)
        net = {}
        for direction in ("receive", "transmit"):
            for _key, part in parse.NETWORK_FIELDS:
                key = f"{direction}_{part}"
                net[key] = c(f"container_network_{key}", f"Cumulative network {part.replace('_', ' ')} "
                             f"({direction}).", labels=LABELS + ["interface"])
        fs_reads = c("container_fs_reads_bytes", "Cumulative bytes read from block devices.", labels=LABELS)
        fs_writes = c("container_fs_writes_bytes", "Cumulative bytes written to block devices.", labels=LABELS)
        # What cAdvisor lacks: state for every container, stopped ones included.
        state_f = g("docker_container_state", "1 for the container's current state, 0 for the others.",
                    labels=LABELS + ["state"])
        health_f = g("docker_container_health_status",
                     "1 for the container's health status (none without a healthcheck), 0 for the others.",
                     labels=LABELS + ["status"])
        restarts = c("docker_container_restarts", "Restarts by the engine's restart policy.", labels=LABELS)
        exit_code = g("docker_container_last_exit_code", "Exit code of the last run (0 if never exited).",
                      labels=LABELS)
        oom = g("docker_container_oom_killed", "1 if the last run was killed by the OOM killer.", labels=LABELS)
        info = g("docker_container_info", "Container metadata; the value is always 1.",
                 labels=LABELS + ["restart_policy", "compose_project", "compose_service"])

        for container in containers:
            labels = list(container["labels"])
            state = container["state"]
            stats = container["stats"]
            container_labels = container["summary"].get("Labels") or {}
            for name in parse.STATES:
                state_f.add_metric(labels + [name], 1 if state["status"] == name else 0)
            for name in parse.HEALTH_STATUSES:
                health_f.add_metric(labels + [name], 1 if state["health"] == name else 0)
            restarts.add_metric(labels, state["restart_count"])
            exit_code.add_metric(labels, state["exit_code"])
            oom.add_metric(labels, 1 if state["oom_killed"] else 0)
            info.add_metric(labels + [state["restart_policy"],
                                      container_labels.get("com.docker.compose.project", ""),
                                      container_labels.get("com.docker.compose.service", "")], 1)
            mem_limit.add_metric(labels, state["memory_limit"])
            if state["started_at"] is not None:
                start_time.add_metric(labels, state["started_at"])
            if stats is None:
                continue
            last_seen.add_metric(labels, now)
            cpu_values = parse.cpu_seconds(stats)
            if cpu_values is not None:
                cpu.add_metric(labels, cpu_values["total"])
                cpu_user.add_metric(labels, cpu_values["user"])
                cpu_system.add_metric(labels, cpu_values["system"])
            memory = parse.memory_bytes(stats)
            if memory is not None:
                mem_usage.add_metric(labels, memory["usage"])
                mem_ws.add_metric(labels, memory["working_set"])
                if "rss" in memory:
                    mem_rss.add_metric(labels, memory["rss"])
                if "cache" in memory:
                    mem_cache.add_metric(labels, memory["cache"])
            for interface, values in parse.network_counters(stats).items():
                for key, value in values.items():
                    net[key].add_metric(labels + [interface], value)
            block = parse.block_io_bytes(stats)
            fs_reads.add_metric(labels, block["read"])
            fs_writes.add_metric(labels, block["write"])

        yield from (last_seen, cpu, cpu_user, cpu_system, mem_usage, mem_ws, mem_rss, mem_cache, mem_limit,
                    start_time, *net.values(), fs_reads, fs_writes, state_f, health_f, restarts, exit_code,
                    oom, info)
