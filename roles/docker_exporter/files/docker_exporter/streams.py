# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Latest stats sample per running container, kept by streaming subscriptions.

Why not one-shot stats per scrape: the engine's stats collector (20.10 and
later) publishes to subscribers once per 1 s tick and sleeps in between, so a
one-shot request that arrives while it sleeps waits for the next tick. With
many containers nearly every scrape then takes about a second. Holding one
streaming subscription per running container instead makes each scrape read
samples at most one tick old without waiting; the daemon reads each
container's cgroup once a second (what `docker stats` costs), and the
exporter decodes one small JSON document per container per second.

A stream ends when its container stops or is removed (the daemon closes it),
or when a read times out; the container's sample is then dropped and a new
stream starts at the next scrape if the container runs again.
"""

from __future__ import annotations

import logging
import threading
import time

LOG = logging.getLogger("docker_exporter")


class StatsStreams:
    def __init__(self, client_factory, base_url: str, timeout: float):
        self._client_factory = client_factory
        self._base_url = base_url
        self._timeout = timeout
        self._client = None
        self._cond = threading.Condition()
        self._latest: dict[str, tuple[float, dict]] = {}
        self._streams: dict[str, threading.Thread] = {}

    def _get_client(self):
        with self._cond:
            if self._client is None:
                # A separate client with a large pool: every stream holds a
                # connection for its lifetime, which must not starve (or be
                # starved by) the per-scrape inspect calls.
                self._client = self._client_factory(self._base_url, self._timeout, 1024)
            return self._client

    def reset(self):
        """Forget the client (the daemon went away); streams end on their own."""
        with self._cond:
            self._client = None

    def sync(self, running_ids):
        """Start a stream for every running container that has none."""
        with self._cond:
            missing = [cid for cid in running_ids if cid not in self._streams]
            for cid in missing:
                thread = threading.Thread(target=self._run, args=(cid,), name=f"stats-{cid[:12]}", daemon=True)
                self._streams[cid] = thread
                thread.start()

    def get(self, container_id: str, wait_until: float) -> dict | None:
        """The latest sample, waiting until wait_until (monotonic) for a first one."""
        max_age = self._timeout + 2.0
        with self._cond:
            while True:
                entry = self._latest.get(container_id)
                if entry is not None and time.monotonic() - entry[0] <= max_age:
                    return entry[1]
                remaining = wait_until - time.monotonic()
                if remaining <= 0 or container_id not in self._streams:
                    return None
                self._cond.wait(remaining)

    def active(self) -> int:
        with self._cond:
            return len(self._streams)

    def _run(self, container_id: str):
        try:
            client = self._get_client()
            for sample in client.stats(container_id, stream=True, decode=True):
                with self._cond:
                    self._latest[container_id] = (time.monotonic(), sample)
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - a stream ending is routine (stop, remove, timeout)
            LOG.debug("stats stream for %s ended: %s", container_id[:12], exc)
        finally:
            with self._cond:
                self._streams.pop(container_id, None)
                self._latest.pop(container_id, None)
                self._cond.notify_all()
