# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One thread that keeps the exporter's view of the engine current.

It holds, in a single selector loop:

* the events stream (container start, die, oom, health_status, ...). Each
  event bumps the container's generation, which tells the collector that its
  cached inspect result is stale; a container that starts gets a stats
  stream at once rather than at the next scrape.
* in stream mode, a stats stream per running container, keeping only the
  latest reduced sample (parse.stats_sample).

Why streams and not one-shot stats per scrape: the engine's stats collector
(20.10 and later) publishes once per 1 s tick and sleeps in between, so a
one-shot request waits for the next tick; with many containers nearly every
scrape then takes about a second. With streams a scrape reads samples at most
one tick old without waiting; the daemon reads each container's cgroup once a
second (what `docker stats` costs).

Why one thread: a thread, a requests response and a pooled connection per
container cost about 12 MiB at 100 containers; a non-blocking socket and a
small parser (http_stream.LineStream) cost a few KiB each.
"""

from __future__ import annotations

import collections
import json
import logging
import selectors
import socket
import threading
import time

from . import http_stream, parse

LOG = logging.getLogger("docker_exporter")

# Events that change what containers/{id}/json says. exec_* events (one per
# healthcheck run) are left out by the filter: they change nothing we report.
EVENT_ACTIONS = ("create", "start", "restart", "die", "kill", "oom", "stop", "pause", "unpause",
                 "health_status", "rename", "update", "destroy")
# Actions after which the container runs and has stats to stream.
RUNNING_ACTIONS = ("start", "unpause", "restart")
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


class _Stream:
    __slots__ = ("kind", "container_id", "sock", "parser", "last_data", "batch")

    def __init__(self, kind: str, container_id: str | None, sock: socket.socket, now: float, batch=None):
        self.kind = kind  # events, stats (streaming) or oneshot
        self.container_id = container_id
        self.sock = sock
        self.parser = http_stream.LineStream()
        self.last_data = now
        self.batch = batch


class _OneShotBatch:
    """One-shot stats for a set of containers, requested all at once."""

    def __init__(self, ids):
        self.ids = list(ids)
        self.remaining = set(self.ids)
        self.samples: dict[str, dict] = {}


class EngineWatcher:
    """Events and stats streams of one engine, read by one daemon thread.

    Thread-safe accessors (sync, latest, cache_token, ...) are called from
    scrape threads; everything touching sockets runs in the loop thread.
    """

    def __init__(self, base_url: str, stream_stats: bool = True, read_timeout: float = 10.0,
                 open_stream=http_stream.open_stream):
        http_stream.connect_address(base_url)  # raises UnsupportedTransport early
        self.base_url = base_url
        self.stream_stats = stream_stats
        self.read_timeout = read_timeout
        self.api_version: str | None = None
        self._open_stream = open_stream
        self._cond = threading.Condition()
        self._samples: dict[str, tuple[float, dict]] = {}
        self._stats_streams: set[str] = set()  # ids with an open stats stream (read under _cond)
        self._generations: dict[str, int] = collections.defaultdict(int)
        self._epoch = 0  # bumped on every events (re)connect
        self._events_live = False
        self._pending: set[str] = set()  # ids whose stats stream the loop is to open
        self._batches: list[_OneShotBatch] = []  # one-shot batches the loop is to start
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector: selectors.BaseSelector | None = None
        self._streams: dict[socket.socket, _Stream] = {}  # loop thread only
        self._events_stream: _Stream | None = None
        self._retry_at = 0.0
        self._retry_delay = RETRY_FIRST

    # -- called from scrape threads -----------------------------------------

    def start(self):
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="engine-watcher", daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0):
        self._stopping = True
        self._wake()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()

    def sync(self, running_ids):
        """Make sure every running container has a stats stream."""
        if not self.stream_stats:
            return
        with self._cond:
            missing = {cid for cid in running_ids if cid not in self._stats_streams} - self._pending
            self._pending |= missing
        if missing:
            self._wake()

    def latest(self, container_id: str, wait_until: float) -> dict | None:
        """The latest reduced sample; waits until wait_until (monotonic) for the
        first sample of a stream that is open but has not delivered yet."""
        max_age = self.read_timeout + 2.0
        with self._cond:
            while True:
                entry = self._samples.get(container_id)
                if entry is not None and time.monotonic() - entry[0] <= max_age:
                    return entry[1]
                remaining = wait_until - time.monotonic()
                if remaining <= 0 or not self._stream_pending(container_id):
                    return None
                self._cond.wait(remaining)

    def cache_token(self, container_id: str):
        """A value that changes whenever the container's inspect result may have;
        None while the events stream is down (then nothing may be cached)."""
        with self._cond:
            if not self._events_live:
                return None
            return self._epoch, self._generations.get(container_id, 0)

    def oneshot(self, container_ids, deadline: float) -> dict:
        """One-shot stats of these containers, read concurrently by the loop.

        The engine answers every one-shot request on its next 1 s tick, so
        asking for all containers at once takes about a second whatever their
        number (a thread pool of N takes count/N seconds). Returns what arrived
        before deadline (monotonic): {id: reduced sample}.
        """
        batch = _OneShotBatch(container_ids)
        if not batch.ids:
            return {}
        with self._cond:
            self._batches.append(batch)
        self._wake()
        with self._cond:
            while batch.remaining:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return dict(batch.samples)

    def stats_streams(self) -> int:
        with self._cond:
            return len(self._stats_streams)

    def events_live(self) -> bool:
        with self._cond:
            return self._events_live

    def _stream_pending(self, container_id: str) -> bool:
        return container_id in self._stats_streams or container_id in self._pending

    def _wake(self):
        try:
            self._wake_w.send(b"\0")
        except (BlockingIOError, OSError):
            pass  # a wake-up is already pending, or we are shutting down

    # -- the loop thread -----------------------------------------------------

    def _run(self):
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            while not self._stopping:
                now = time.monotonic()
                if self._events_stream is None and now >= self._retry_at:
                    self._open_events(now)
                for key, _mask in self._selector.select(self._select_timeout(now)):
                    if key.data is None:
                        self._drain_wake()
                        self._open_pending()
                    else:
                        self._read(key.data)
                self._expire_idle(time.monotonic())
        except Exception:  # noqa: BLE001 - log it; scrapes then see no samples and no cache
            LOG.exception("engine watcher stopped")
        finally:
            for stream in list(self._streams.values()):
                self._close(stream, reason="shutdown")
            with self._cond:
                self._events_live = False
                self._thread = None
            self._selector.close()

    def _select_timeout(self, now: float) -> float:
        timeout = 1.0  # idle stats streams are checked about once a second
        if self._events_stream is None:
            timeout = min(timeout, max(0.0, self._retry_at - now))
        return timeout

    def _drain_wake(self):
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def _open_pending(self):
        with self._cond:
            pending = list(self._pending)
            batches, self._batches = self._batches, []
        for cid in pending:
            self._open_stats(cid)
        for batch in batches:
            self._start_oneshot(batch)

    def _start_oneshot(self, batch: _OneShotBatch):
        now = time.monotonic()
        for cid in batch.ids:
            path = http_stream.request_path(self.api_version, f"/containers/{cid}/stats",
                                            {"stream": "0", "one-shot": "1"})
            try:
                self._register(_Stream("oneshot", cid, self._open_stream(self.base_url, path), now, batch))
            except OSError as exc:
                LOG.debug("one-shot stats for %s: cannot connect: %s", cid[:12], exc)
                with self._cond:
                    batch.remaining.discard(cid)
        with self._cond:
            self._cond.notify_all()

    def _open_events(self, now: float):
        query = {"filters": json.dumps({"type": ["container"], "event": list(EVENT_ACTIONS)},
                                       separators=(",", ":"))}
        try:
            sock = self._open_stream(self.base_url, http_stream.request_path(self.api_version, "/events", query))
        except OSError as exc:
            LOG.debug("events stream: cannot connect: %s", exc)
            self._schedule_retry(now)
            return
        self._events_stream = self._register(_Stream("events", None, sock, now))

    def _open_stats(self, cid: str):
        with self._cond:
            if cid in self._stats_streams:
                self._pending.discard(cid)
                return
        path = http_stream.request_path(self.api_version, f"/containers/{cid}/stats", {"stream": "1"})
        try:
            sock = self._open_stream(self.base_url, path)
        except OSError as exc:
            LOG.debug("stats stream for %s: cannot connect: %s", cid[:12], exc)
            sock = None
        if sock is not None:
            self._register(_Stream("stats", cid, sock, time.monotonic()))
        with self._cond:
            # In one step, so a scrape never sees the id as neither pending nor open.
            self._pending.discard(cid)
            if sock is not None:
                self._stats_streams.add(cid)
            self._cond.notify_all()  # after a failure a waiting scrape stops waiting

    def _register(self, stream: _Stream) -> _Stream:
        self._streams[stream.sock] = stream
        self._selector.register(stream.sock, selectors.EVENT_READ, stream)
        return stream

    def _schedule_retry(self, now: float):
        self._retry_at = now + self._retry_delay
        self._retry_delay = min(self._retry_delay * 2, RETRY_MAX)

    def _read(self, stream: _Stream):
        try:
            data = stream.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._close(stream, reason=str(exc))
            return
        try:
            documents = stream.parser.feed(data) if data else stream.parser.eof()
        except http_stream.StreamError as exc:
            # 404/409 on stats: the container stopped or went away; routine.
            self._close(stream, reason=str(exc))
            return
        stream.last_data = time.monotonic()
        if stream.kind == "events" and stream.parser.status == 200 and not self._events_live:
            with self._cond:
                self._epoch += 1  # everything cached before this may have missed events
                self._generations.clear()  # ... so per-container counts can start afresh
                self._events_live = True
            self._retry_delay = RETRY_FIRST
            LOG.info("following engine events at %s", self.base_url)
        for document in documents:
            if stream.kind == "events":
                self._on_event(document)
            elif stream.kind == "oneshot":
                with self._cond:
                    stream.batch.samples[stream.container_id] = parse.stats_sample(document)
            else:
                self._on_stats(stream.container_id, document)
        if not data or stream.parser.finished:
            self._close(stream, reason="end of stream")

    def _on_event(self, event: dict):
        actor = event.get("Actor") or {}
        cid = actor.get("ID") or event.get("id")
        if not cid:
            return
        action = str(event.get("Action") or event.get("status") or "").split(":", 1)[0]
        with self._cond:
            if action == "destroy":
                self._generations.pop(cid, None)
            else:
                self._generations[cid] += 1
        if self.stream_stats and action in RUNNING_ACTIONS:
            self._open_stats(cid)

    def _on_stats(self, cid: str, document: dict):
        sample = parse.stats_sample(document)
        with self._cond:
            self._samples[cid] = (time.monotonic(), sample)
            self._cond.notify_all()

    def _expire_idle(self, now: float):
        for stream in list(self._streams.values()):
            # The events stream is legitimately silent while nothing happens.
            if stream.kind != "events" and now - stream.last_data > self.read_timeout:
                self._close(stream, reason=f"no data for {self.read_timeout:.0f}s")

    def _close(self, stream: _Stream, reason: str):
        self._streams.pop(stream.sock, None)
        try:
            self._selector.unregister(stream.sock)
        except (KeyError, ValueError):
            pass
        stream.sock.close()
        if stream.kind == "events":
            LOG.warning("engine events stream closed (%s); retrying, inspecting every scrape meanwhile", reason)
            self._events_stream = None
            with self._cond:
                self._events_live = False
            self._schedule_retry(time.monotonic())
            return
        if stream.kind == "oneshot":
            with self._cond:
                stream.batch.remaining.discard(stream.container_id)
                self._cond.notify_all()
            return
        LOG.debug("stats stream for %s closed: %s", stream.container_id[:12], reason)
        with self._cond:
            self._stats_streams.discard(stream.container_id)
            self._samples.pop(stream.container_id, None)
            self._cond.notify_all()
