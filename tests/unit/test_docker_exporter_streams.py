"""The exporter's stream reader and engine watcher, over real HTTP on a unix socket.

FakeEngineStreams plays the two streaming endpoints of the Engine API the
exporter follows (GET /events and GET /containers/{id}/stats?stream=1) with
real HTTP/1.1 chunked responses, cut into small chunks so documents and
chunk-size lines arrive split. The list/inspect calls go through the same
FakeClient as test_docker_exporter.py (recorded payloads).
"""

from __future__ import annotations

import copy
import json
import socket
import socketserver
import threading
import time
from urllib.parse import unquote

import pytest

from conftest import wait_until
from test_docker_exporter import EXIT_ID, RUN_ID, STATS_V1, STATS_V2, FakeClient, scrape, value

from docker_exporter import http_stream
from docker_exporter.collector import DockerCollector
from docker_exporter.watcher import EngineWatcher

# -- the HTTP parser -----------------------------------------------------------


def chunked(payload: bytes, size: int) -> bytes:
    out = b""
    for start in range(0, len(payload), size):
        piece = payload[start:start + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return out


HEAD_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def feed_bytewise(stream: http_stream.LineStream, data: bytes) -> list:
    documents = []
    for index in range(len(data)):
        documents += stream.feed(data[index:index + 1])
    return documents


def test_chunked_documents_survive_any_split():
    docs = [STATS_V1, STATS_V2, {"status": "die", "id": "x"}]
    body = b"".join(json.dumps(doc).encode() + b"\n" for doc in docs)
    wire = HEAD_CHUNKED + chunked(body, 7) + b"0\r\n\r\n"
    stream = http_stream.LineStream()
    assert feed_bytewise(stream, wire) == docs
    assert stream.status == 200 and stream.finished


def test_chunk_extensions_and_document_without_trailing_newline():
    wire = HEAD_CHUNKED + b"5;ext=1\r\n{\"a\":\r\n2\r\n1}\r\n0\r\n\r\n"
    stream = http_stream.LineStream()
    assert stream.feed(wire) == [{"a": 1}]
    assert stream.finished


def test_content_length_and_close_delimited_bodies():
    body = b'{"a": 1}\n{"b": 2}\n'
    fixed = http_stream.LineStream()
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    assert fixed.feed(head + body) == [{"a": 1}, {"b": 2}]
    assert fixed.finished
    open_ended = http_stream.LineStream()
    assert open_ended.feed(b"HTTP/1.0 200 OK\r\n\r\n" + body[:-1]) == [{"a": 1}]
    assert open_ended.eof() == [{"b": 2}]


def test_error_status_raises_with_the_status():
    stream = http_stream.LineStream()
    with pytest.raises(http_stream.StreamError) as raised:
        stream.feed(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}")
    assert raised.value.status == 404


@pytest.mark.parametrize("wire, message", [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP response"),
    (HEAD_CHUNKED + b"zz\r\n", "bad chunk size"),
    (HEAD_CHUNKED + b"2\r\n{}XX", "CRLF"),
    (HEAD_CHUNKED + b"5\r\nnope\n\r\n", "not JSON"),
])
def test_broken_framing_is_an_error_not_a_hang(wire, message):
    stream = http_stream.LineStream()
    with pytest.raises(http_stream.StreamError, match=message):
        stream.feed(wire)


def test_connection_cut_mid_chunk_is_an_error():
    stream = http_stream.LineStream()
    stream.feed(HEAD_CHUNKED + b"10\r\n{\"a\"")
    with pytest.raises(http_stream.StreamError, match="closed"):
        stream.eof()


def test_oversized_document_is_refused(monkeypatch):
    monkeypatch.setattr(http_stream, "MAX_LINE", 64)
    stream = http_stream.LineStream()
    with pytest.raises(http_stream.StreamError, match="longer than"):
        stream.feed(HEAD_CHUNKED + chunked(b"x" * 100, 50))


def test_docker_urls():
    assert http_stream.connect_address("unix:///var/run/docker.sock") == (socket.AF_UNIX, "/var/run/docker.sock")
    assert http_stream.connect_address("tcp://10.0.0.5:2376") == (socket.AF_INET, ("10.0.0.5", 2376))
    with pytest.raises(http_stream.UnsupportedTransport, match="ssh"):
        http_stream.connect_address("ssh://me@host")
    assert http_stream.request_path("1.41", "/containers/abc/stats", {"stream": "1"}) == \
        "/v1.41/containers/abc/stats?stream=1"
    assert http_stream.request_path(None, "/events") == "/events"


# -- a fake engine for the streaming endpoints --------------------------------


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    # The engine (Go) listens with the system's full backlog; socketserver's
    # default of 5 would refuse a batch of concurrent one-shot requests.
    request_queue_size = 128
    daemon_threads = True


class FakeEngineStreams:
    """Serves /events and /containers/{id}/stats?stream=1 on a unix socket.

    stats: {container id: document}; an id not in it answers 404 like the
    engine for a removed container. Stats documents go out every `interval`
    seconds (the engine's tick, scaled down) in 7-byte chunks.
    """

    def __init__(self, path: str, stats: dict, interval: float = 0.05):
        self.path = path
        self.stats = stats
        self.interval = interval
        self.requests: list[str] = []
        self.ended: set[str] = set()
        self._events: list = []  # open events connections (wfile)
        self._lock = threading.Lock()
        engine = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                request_line = self.rfile.readline().decode().strip()
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                target = request_line.split(" ")[1]
                with engine._lock:
                    engine.requests.append(target)
                path = target.split("?", 1)[0]
                if path.endswith("/events"):
                    self.wfile.write(HEAD_CHUNKED)
                    self.wfile.flush()
                    with engine._lock:
                        engine._events.append(self.wfile)
                    while not engine.closed.is_set() and self.wfile in engine._events:
                        engine.closed.wait(0.05)
                    return
                cid = path.split("/")[-2]
                if cid not in engine.stats:
                    body = b'{"message":"No such container: ' + cid.encode() + b'"}'
                    self.wfile.write(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
                    return
                if "stream=0" in target:  # one-shot: a single document, after the engine's tick
                    engine.closed.wait(engine.interval)
                    body = json.dumps(engine.stats[cid]).encode() + b"\n"
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
                    return
                self.wfile.write(HEAD_CHUNKED)
                while not engine.closed.is_set() and cid not in engine.ended:
                    self.wfile.write(chunked(json.dumps(engine.stats[cid]).encode() + b"\n", 7))
                    self.wfile.flush()
                    engine.closed.wait(engine.interval)
                self.wfile.write(b"0\r\n\r\n")

        self.closed = threading.Event()
        self.server = _UnixServer(path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return "unix://" + self.path

    def push_event(self, action: str, cid: str):
        line = json.dumps({"Type": "container", "Action": action, "Actor": {"ID": cid, "Attributes": {}},
                           "status": action, "id": cid, "time": int(time.time())}).encode() + b"\n"
        with self._lock:
            for wfile in self._events:
                wfile.write(chunked(line, 7))
                wfile.flush()

    def drop_events(self):
        """Close every events connection, as a restarting daemon would."""
        with self._lock:
            for wfile in self._events:
                wfile.write(b"0\r\n\r\n")
                wfile.flush()
            self._events.clear()

    def stop(self):
        self.closed.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def engine(tmp_path):
    fake = FakeEngineStreams(str(tmp_path / "docker.sock"), {RUN_ID: copy.deepcopy(STATS_V2)})
    yield fake
    fake.stop()


@pytest.fixture()
def watched(engine):
    """(collector, watcher, client) in stream mode against the fake engine."""
    client = FakeClient(stats={})
    client.api_version = "1.41"
    watcher = EngineWatcher(engine.url, read_timeout=2.0)
    collector = DockerCollector(base_url=engine.url, client_factory=lambda *_: client, stats_mode="stream",
                                watcher=watcher)
    yield collector, watcher, client
    watcher.stop()


def inspects(samples) -> float:
    return value(samples, "docker_exporter_engine_requests_total", call="inspect")


def test_stream_mode_serves_the_streamed_sample(watched, engine):
    collector, watcher, client = watched
    samples = scrape(collector)
    assert value(samples, "container_cpu_usage_seconds_total", name="vpsmon-it-dx-rec-run") == 2.5
    assert value(samples, "container_fs_writes_bytes_total", name="vpsmon-it-dx-rec-run") == 1048576
    assert value(samples, "container_memory_working_set_bytes", name="vpsmon-it-dx-rec-run") == 52428800 - 25165824
    assert value(samples, "docker_exporter_stats_streams") == 1
    assert client.stats_calls == []  # no one-shot stats in stream mode
    assert any(path.startswith("/v1.41/containers/" + RUN_ID + "/stats?stream=1") for path in engine.requests)
    events = [path for path in engine.requests if "/events" in path]
    assert events and events[0].startswith("/v1.41/events?filters=")
    assert "health_status" in json.loads(unquote(events[0].split("=", 1)[1]))["event"]


def test_samples_follow_the_stream(watched, engine):
    collector, watcher, _client = watched
    scrape(collector)
    engine.stats[RUN_ID]["cpu_stats"]["cpu_usage"]["total_usage"] = 7_000_000_000
    wait_until(lambda: value(scrape(collector), "container_cpu_usage_seconds_total",
                             name="vpsmon-it-dx-rec-run") == 7.0, timeout=5, what="newer sample")


def test_inspect_results_are_reused_until_an_event(watched, engine):
    collector, watcher, client = watched
    assert inspects(scrape(collector)) == 2
    wait_until(watcher.events_live, timeout=5, what="events stream")
    baseline = inspects(scrape(collector))  # the first results predate the events stream: redone
    assert inspects(scrape(collector)) == baseline  # nothing happened: nothing inspected
    assert value(scrape(collector), "docker_exporter_events_following") == 1

    token = watcher.cache_token(EXIT_ID)
    client.inspect[EXIT_ID]["State"].update({"OOMKilled": True, "ExitCode": 137})
    engine.push_event("oom", EXIT_ID)
    wait_until(lambda: watcher.cache_token(EXIT_ID) != token, timeout=5, what="oom event seen")
    samples = scrape(collector)
    assert inspects(samples) == baseline + 1  # only the container the event named
    assert value(samples, "docker_container_oom_killed", name="vpsmon-it-dx-rec-exit") == 1
    assert value(samples, "docker_container_last_exit_code", name="vpsmon-it-dx-rec-exit") == 137


def test_list_state_disagreeing_with_the_cache_forces_an_inspect(watched):
    collector, watcher, client = watched
    scrape(collector)
    wait_until(watcher.events_live, timeout=5, what="events stream")
    scrape(collector)
    baseline = inspects(scrape(collector))
    # Health changed but the event has not been read yet: the list call shows it.
    summary = next(s for s in client.summaries if s["Id"] == RUN_ID)
    summary["Status"] = "Up 3 minutes (unhealthy)"
    client.inspect[RUN_ID]["State"]["Health"]["Status"] = "unhealthy"
    samples = scrape(collector)
    assert inspects(samples) == baseline + 1
    assert value(samples, "docker_container_health_status", name="vpsmon-it-dx-rec-run", status="unhealthy") == 1


def test_events_stream_down_means_inspect_every_scrape_then_recovers(watched, engine):
    collector, watcher, _client = watched
    scrape(collector)
    wait_until(watcher.events_live, timeout=5, what="events stream")
    engine.drop_events()
    wait_until(lambda: not watcher.events_live(), timeout=5, what="events stream noticed closed")
    first = inspects(scrape(collector))
    if not watcher.events_live():  # the reconnect (after 1 s) may already have happened
        assert inspects(scrape(collector)) > first
    wait_until(watcher.events_live, timeout=10, what="events stream reconnected")
    scrape(collector)
    settled = inspects(scrape(collector))
    assert inspects(scrape(collector)) == settled


def test_start_event_opens_a_stats_stream_before_any_scrape(engine):
    watcher = EngineWatcher(engine.url, read_timeout=2.0)
    try:
        watcher.start()
        wait_until(watcher.events_live, timeout=5, what="events stream")
        assert watcher.stats_streams() == 0
        engine.push_event("start", RUN_ID)
        wait_until(lambda: watcher.latest(RUN_ID, 0) is not None, timeout=5, what="first sample")
        assert watcher.latest(RUN_ID, 0)["cpu"]["total"] == 2.5
    finally:
        watcher.stop()


def test_stream_end_drops_the_sample_and_a_404_is_routine(watched, engine):
    collector, watcher, _client = watched
    assert value(scrape(collector), "container_cpu_usage_seconds_total", name="vpsmon-it-dx-rec-run") == 2.5
    engine.ended.add(RUN_ID)  # the container stopped: the engine ends its stream
    wait_until(lambda: watcher.stats_streams() == 0, timeout=5, what="stream closed")
    assert watcher.latest(RUN_ID, 0) is None
    del engine.stats[RUN_ID]  # ... and is gone: a new stream gets 404
    samples = scrape(collector)
    assert value(samples, "docker_container_state", name="vpsmon-it-dx-rec-run", state="running") == 1
    assert not samples.get("container_cpu_usage_seconds_total")
    assert all(v == 0 for _labels, v in samples["docker_exporter_scrape_errors_total"])
    assert watcher.stats_streams() == 0


def test_silent_stats_stream_is_closed_after_the_read_timeout(engine):
    engine.interval = 30  # one sample, then silence
    watcher = EngineWatcher(engine.url, read_timeout=0.5)
    try:
        watcher.start()
        watcher.sync([RUN_ID])
        wait_until(lambda: watcher.stats_streams() == 1, timeout=5, what="stream open")
        wait_until(lambda: watcher.stats_streams() == 0, timeout=5, what="idle stream closed")
    finally:
        watcher.stop()


def test_no_engine_at_all_leaves_the_watcher_retrying_quietly(tmp_path):
    watcher = EngineWatcher("unix://" + str(tmp_path / "absent.sock"))
    try:
        watcher.start()
        watcher.sync([RUN_ID])
        assert watcher.latest(RUN_ID, time.monotonic() + 2) is None
        assert watcher.cache_token(RUN_ID) is None
        assert watcher.stats_streams() == 0
    finally:
        watcher.stop()


def test_oneshot_mode_asks_for_every_running_container_at_once(engine):
    engine.interval = 0.5  # every one-shot answer waits for the engine's next tick
    client = FakeClient(stats={})
    watcher = EngineWatcher(engine.url, stream_stats=False, read_timeout=2.0)
    collector = DockerCollector(base_url=engine.url, client_factory=lambda *_: client, stats_mode="oneshot",
                                watcher=watcher)
    try:
        samples = scrape(collector)
    finally:
        watcher.stop()
    assert value(samples, "container_cpu_usage_seconds_total", name="vpsmon-it-dx-rec-run") == 2.5
    assert value(samples, "docker_exporter_engine_requests_total", call="stats") == 1
    assert value(samples, "docker_exporter_stats_streams") == 0
    assert client.stats_calls == []  # the watcher asked, not the SDK
    assert any("stream=0&one-shot=1" in path for path in engine.requests)


def test_oneshot_batch_is_concurrent_and_bounded_by_the_deadline(engine):
    engine.interval = 0.5
    ids = [f"{index:064x}" for index in range(40)]
    for cid in ids:
        engine.stats[cid] = STATS_V2
    watcher = EngineWatcher(engine.url, stream_stats=False)
    try:
        watcher.start()
        started = time.monotonic()
        samples = watcher.oneshot(ids + ["gone"], time.monotonic() + 10)
        elapsed = time.monotonic() - started
        # 40 answers that each wait 0.5 s arrive together, not one after another.
        assert set(samples) == set(ids) and elapsed < 5, elapsed
        engine.interval = 30
        started = time.monotonic()
        assert watcher.oneshot(ids[:3], time.monotonic() + 0.3) == {}
        assert time.monotonic() - started < 2
    finally:
        watcher.stop()


def test_cached_inspect_results_expire_even_without_events(engine):
    client = FakeClient(stats={})
    watcher = EngineWatcher(engine.url, stream_stats=False)
    collector = DockerCollector(base_url=engine.url, client_factory=lambda *_: client, stats_mode="oneshot",
                                watcher=watcher, inspect_max_age=0)
    try:
        scrape(collector)
        wait_until(watcher.events_live, timeout=5, what="events stream")
        first = inspects(scrape(collector))
        # No event and the same list, but every result is past its age.
        assert inspects(scrape(collector)) == first + 2
    finally:
        watcher.stop()
