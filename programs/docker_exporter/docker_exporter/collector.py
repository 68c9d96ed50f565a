# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The prometheus_client collector: one Engine API pass per scrape.

Per scrape: one containers/json call (all containers, stopped ones too). A
container's inspect result is reused while the engine watcher (watcher.py)
has seen no event for it and the list call shows the same state and health;
otherwise it is inspected again, fanned out over a small thread pool.
Resource usage comes from the watcher's stats streams (stream mode) or a
one-shot stats call per running container (oneshot mode). Every call has a
timeout and the scrape has a deadline; a container that vanishes mid-scrape
(404) is skipped; an unreachable daemon gives docker_up 0 and an error count,
never an exception out of collect().
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from . import __version__, families, http_stream, parse
from .watcher import EngineWatcher

LOG = logging.getLogger("docker_exporter")

ERROR_KINDS = ("daemon", "container", "timeout")
ENGINE_CALLS = ("list", "inspect", "stats")
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


def _counters(name: str, documentation: str, label: str, values: dict) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        family.add_metric([key], value)
    return family


class DockerCollector:
    """Collects per-container metrics from the Docker Engine API on each scrape."""

    def __init__(self, base_url: str = "unix:///var/run/docker.sock", api_timeout: float = 5.0,
                 scrape_timeout: float = 10.0, workers: int = 4, client_factory=None,
                 stats_mode: str = "stream", first_sample_wait: float = 1.5, watcher="auto",
                 inspect_max_age: float = 600.0):
        if stats_mode not in ("stream", "oneshot"):
            raise ValueError(f"stats_mode must be stream or oneshot, not {stats_mode!r}")
        self.base_url = base_url
        # How long a scrape waits for the first sample of a newly opened
        # stream (the engine publishes once per second).
        self.first_sample_wait = first_sample_wait
        self.api_timeout = api_timeout
        self.scrape_timeout = scrape_timeout
        self.workers = workers
        self._client_factory = client_factory or default_client_factory
        self._client = None
        if watcher == "auto":
            watcher = self._default_watcher(base_url, stats_mode, api_timeout)
        if watcher is None and stats_mode == "stream":
            LOG.warning("no stats streams without an engine watcher: reading one-shot stats per scrape")
            stats_mode = "oneshot"
        self.stats_mode = stats_mode
        self._watcher = watcher
        # Container id -> (watcher token, (state, health) from the list call, inspect facts,
        # monotonic time after which the result is refreshed anyway).
        self._inspected: dict[str, tuple] = {}
        # Even with no event, a result is refreshed after at most this long (half
        # to all of it, at random, so a hundred containers inspected together are
        # not all refreshed by one scrape): it bounds how long a silently broken
        # event stream could keep a stale restart count.
        self.inspect_max_age = inspect_max_age
        # Threads start on demand; with the inspect cache they are rarely busy.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="engine-api")
        # Scrapes are serialised: concurrent scrapes would only multiply the
        # load on the daemon, and the counters stay consistent.
        self._lock = threading.Lock()
        self._errors = {kind: 0 for kind in ERROR_KINDS}
        self._calls = {call: 0 for call in ENGINE_CALLS}
        self._calls_lock = threading.Lock()  # pool threads count too

    @staticmethod
    def _default_watcher(base_url: str, stats_mode: str, api_timeout: float):
        try:
            return EngineWatcher(base_url, stream_stats=stats_mode == "stream", read_timeout=max(5.0, 2 * api_timeout))
        except http_stream.UnsupportedTransport as exc:
            LOG.warning("%s: events are not followed, so every container is inspected every scrape", exc)
            return None

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
            with self._calls_lock:
                calls = dict(self._calls)
        yield from families.container_families(containers, time.time())
        yield GaugeMetricFamily("docker_up", "1 if the Docker Engine API answered this scrape, else 0.",
                                value=1 if up else 0)
        yield GaugeMetricFamily("docker_exporter_scrape_duration_seconds",
                                "Time this scrape spent reading the Docker Engine API.", value=duration)
        yield _counters("docker_exporter_scrape_errors", "Engine API failures by kind (daemon, container, timeout).",
                        "kind", errors)
        yield _counters("docker_exporter_engine_requests",
                        "Engine API requests made by scrapes (list, inspect, one-shot stats).", "call", calls)
        yield GaugeMetricFamily("docker_exporter_containers", "Containers listed by the engine this scrape.",
                                value=len(containers))
        watcher = self._watcher
        yield GaugeMetricFamily("docker_exporter_events_following",
                                "1 while the engine's event stream is followed (inspect results are reused).",
                                value=1 if watcher is not None and watcher.events_live() else 0)
        yield GaugeMetricFamily("docker_exporter_stats_streams", "Open stats streams (one per running container).",
                                value=watcher.stats_streams() if watcher is not None else 0)
        info = GaugeMetricFamily("docker_exporter_build_info", "Exporter version and stats mode.",
                                 labels=["version", "stats_mode"])
        info.add_metric([__version__, self.stats_mode], 1)
        yield info

    # -- Engine API ---------------------------------------------------------

    def _scrape(self) -> tuple[bool, list]:
        deadline = time.monotonic() + self.scrape_timeout
        try:
            if self._client is None:
                self._client = self._client_factory(self.base_url, self.api_timeout, self.workers + 2)
            client = self._client
            self._count("list")
            summaries = client.containers(all=True)
        except Exception as exc:  # noqa: BLE001 - any failure means the daemon is unusable
            self._errors["daemon"] += 1
            self._client = None  # reconnect (and renegotiate the version) next scrape
            LOG.warning("Docker Engine API unreachable at %s: %s", self.base_url, exc)
            return False, []
        if self._watcher is not None:
            self._watcher.api_version = getattr(client, "api_version", None)
            self._watcher.start()
        listed = {summary["Id"] for summary in summaries}
        for stale in set(self._inspected) - listed:
            del self._inspected[stale]
        containers, futures = [], []
        for summary in summaries:
            cached = self._cached_state(summary)
            # One-shot stats through the SDK only without a watcher (which asks for all at once).
            wants_stats = (self.stats_mode == "oneshot" and self._watcher is None
                           and summary.get("State") in STATS_STATES)
            if cached is not None and not wants_stats:
                containers.append(self._container(summary, cached, None))
            else:
                futures.append(self._pool.submit(self._read_container, client, summary, cached, wants_stats))
        self._collect_futures(futures, deadline, containers)
        if self.stats_mode == "stream":
            self._attach_streamed_stats(containers, deadline)
        elif self._watcher is not None:
            self._attach_oneshot_stats(containers, deadline)
        return True, containers

    def _collect_futures(self, futures: list, deadline: float, containers: list):
        if not futures:
            return
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for future in pending:
            future.cancel()
            self._errors["timeout"] += 1
        if pending:
            LOG.warning("%d containers not read within the %.1fs scrape deadline", len(pending),
                        self.scrape_timeout)
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

    def _count(self, call: str):
        with self._calls_lock:
            self._calls[call] += 1

    @staticmethod
    def _summary_key(summary: dict) -> tuple:
        """What the list call says that an inspect result must agree with."""
        return summary.get("State"), parse.summary_health(summary.get("Status"))

    def _cached_state(self, summary: dict) -> dict | None:
        if self._watcher is None:
            return None
        cached = self._inspected.get(summary["Id"])
        if cached is None:
            return None
        token, key, facts, refresh_at = cached
        if (token is None or token != self._watcher.cache_token(summary["Id"]) or key != self._summary_key(summary)
                or time.monotonic() >= refresh_at):
            return None
        return facts

    def _attach_streamed_stats(self, containers: list, deadline: float):
        running = [c for c in containers if c["state"]["status"] in STATS_STATES]
        self._watcher.sync([c["labels"][2] for c in running])
        wait_until = min(deadline, time.monotonic() + self.first_sample_wait)
        for container in running:
            container["stats"] = self._watcher.latest(container["labels"][2], wait_until)

    def _attach_oneshot_stats(self, containers: list, deadline: float):
        running = [c for c in containers if c["state"]["status"] in STATS_STATES]
        with self._calls_lock:
            self._calls["stats"] += len(running)
        samples = self._watcher.oneshot([c["labels"][2] for c in running], deadline)
        for container in running:
            container["stats"] = samples.get(container["labels"][2])

    def _read_container(self, client, summary: dict, facts: dict | None, wants_stats: bool):
        """Inspect (unless facts are cached) and, in oneshot mode, read stats."""
        container_id = summary["Id"]
        if facts is None:
            # Taken before the call: an event during it leaves the entry stale.
            token = self._watcher.cache_token(container_id) if self._watcher is not None else None
            try:
                self._count("inspect")
                inspect = client.inspect_container(container_id)
            except Exception as exc:
                if _is_not_found(exc):
                    return None  # removed since the list call: not an error
                raise
            facts = dict(parse.container_state(inspect), image=(inspect.get("Config") or {}).get("Image", ""))
            if token is not None:
                refresh_at = time.monotonic() + self.inspect_max_age * random.uniform(0.5, 1.0)
                self._inspected[container_id] = (token, self._summary_key(summary), facts, refresh_at)
        stats = None
        if wants_stats and facts["status"] in STATS_STATES:
            try:
                self._count("stats")
                stats = parse.stats_sample(client.stats(container_id, stream=False, one_shot=True))
            except Exception as exc:
                if not _is_not_found(exc):
                    raise
        return self._container(summary, facts, stats)

    @staticmethod
    def _container(summary: dict, facts: dict, stats: dict | None) -> dict:
        labels = (parse.container_name(summary), summary.get("Image") or facts["image"], summary["Id"])
        return {"labels": labels, "summary": summary, "state": facts, "stats": stats}
