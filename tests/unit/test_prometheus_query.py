"""prometheus_query lookup against a real HTTP server on 127.0.0.1 playing Prometheus."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from ansible.errors import AnsibleLookupError

import yaml
from ansible import constants as C

from ansible_collections.vps.monitoring.plugins.lookup import prometheus_query as plugin
from ansible_collections.vps.monitoring.plugins.lookup.prometheus_query import query_prometheus

NAME = "vps.monitoring.prometheus_query"


def LookupModule():  # noqa: N802 - reads like the class it builds
    # Register the documented options as the plugin loader does, so defaults
    # and types come from DOCUMENTATION exactly as in a playbook.
    options = yaml.safe_load(plugin.DOCUMENTATION)["options"]
    C.config.initialize_plugin_configuration_definitions("lookup", NAME, options)
    lookup = plugin.LookupModule()
    lookup._load_name = NAME
    return lookup


VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"model": "m1"}, "value": [1700000000, "42"]}]}}
MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": [
    {"metric": {}, "values": [[1700000000, "1"], [1700000060, "2"]]}]}}


class Handler(BaseHTTPRequestHandler):
    seen: list = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def do_POST(self):
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        Handler.seen.append((self.path, form, self.headers.get("Authorization")))
        query = form.get("query", "")
        if query == "slow":
            time.sleep(2)
        if query == "bad(":
            return self._send(400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"})
        if query == "auth" and self.headers.get("Authorization") != "Bearer right":
            return self._send(401, "Unauthorized")
        if query == "notjson":
            return self._send(200, "<html>hello</html>")
        if query == "warn":
            return self._send(200, {"status": "error", "errorType": "execution", "error": "query timed out"})
        self._send(200, MATRIX if self.path.endswith("query_range") else VECTOR)

    def _send(self, code, body):
        raw = (json.dumps(body) if not isinstance(body, str) else body).encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def prom():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_instant_query(prom):
    Handler.seen.clear()
    assert query_prometheus(prom, "sum(x)", time="1700000000") == VECTOR["data"]["result"]
    path, form, _auth = Handler.seen[-1]
    assert path == "/api/v1/query" and form["query"] == "sum(x)" and form["time"] == "1700000000"
    assert form["timeout"] == "10000ms"  # a duration Prometheus parses (it refuses "10.0s")


def test_range_query_through_the_lookup(prom):
    result = LookupModule().run(["up", "sum(y)"], url=prom, start="1700000000", end="1700000060", step="60s")
    assert result == [MATRIX["data"]["result"]] * 2
    path, form, _auth = Handler.seen[-1]
    assert path == "/api/v1/query_range" and form["step"] == "60s" and form["end"] == "1700000060"


def test_prometheus_error_payload_is_reported(prom):
    with pytest.raises(AnsibleLookupError, match=r"HTTP 400 bad_data: parse error at char 5"):
        query_prometheus(prom, "bad(")
    with pytest.raises(AnsibleLookupError, match="execution: query timed out"):
        query_prometheus(prom, "warn")
    with pytest.raises(AnsibleLookupError, match="not JSON"):
        query_prometheus(prom, "notjson")


def test_auth_is_sent_and_never_echoed(prom):
    with pytest.raises(AnsibleLookupError) as err:
        LookupModule().run(["auth"], url=prom, bearer_token="wrong-secret")
    assert "HTTP 401" in str(err.value) and "bearer_token" in str(err.value)
    assert "wrong-secret" not in str(err.value)
    assert LookupModule().run(["auth"], url=prom, bearer_token="right") == [VECTOR["data"]["result"]]
    LookupModule().run(["x"], url=prom, username="u", password="p")
    assert Handler.seen[-1][2] == "Basic dTpw"


def test_timeout(prom):
    started = time.monotonic()
    with pytest.raises(AnsibleLookupError, match="within 0.5s"):
        query_prometheus(prom, "slow", timeout=0.5)
    assert time.monotonic() - started < 2


def test_connection_refused():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(AnsibleLookupError, match=rf"cannot reach Prometheus at http://127.0.0.1:{port}"):
        query_prometheus(f"http://127.0.0.1:{port}", "up", timeout=2)
