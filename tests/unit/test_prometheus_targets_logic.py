"""prometheus_targets logic against a local HTTP server serving recorded /api/v1/targets payloads.

The payloads were recorded from the real Prometheus 2.53 of the offline image
(one job up, one down with the connection-refused lastError).
"""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.vps.monitoring.plugins.modules import prometheus_targets as mod

DOWN = {
    "discoveredLabels": {"__address__": "127.0.0.1:9100", "__metrics_path__": "/metrics", "__scheme__": "http",
                         "__scrape_interval__": "1s", "__scrape_timeout__": "1s", "job": "node-exporter"},
    "labels": {"instance": "127.0.0.1:9100", "job": "node-exporter"},
    "scrapePool": "node-exporter", "scrapeUrl": "http://127.0.0.1:9100/metrics",
    "globalUrl": "http://3a26e47697de:9100/metrics",
    "lastError": "Get \"http://127.0.0.1:9100/metrics\": dial tcp 127.0.0.1:9100: connect: connection refused",
    "lastScrape": "2026-11-25T04:55:34.124661127Z", "lastScrapeDuration": 0.000439756, "health": "down",
    "scrapeInterval": "1s", "scrapeTimeout": "1s",
}
UP = {
    "discoveredLabels": {"__address__": "127.0.0.1:9090", "__metrics_path__": "/metrics", "__scheme__": "http",
                         "__scrape_interval__": "1s", "__scrape_timeout__": "1s", "job": "prometheus"},
    "labels": {"instance": "127.0.0.1:9090", "job": "prometheus"},
    "scrapePool": "prometheus", "scrapeUrl": "http://127.0.0.1:9090/metrics",
    "globalUrl": "http://3a26e47697de:9090/metrics", "lastError": "",
    "lastScrape": "2026-11-25T04:55:34.313654444Z", "lastScrapeDuration": 0.008009943, "health": "up",
    "scrapeInterval": "1s", "scrapeTimeout": "1s",
}
UNKNOWN = dict(DOWN, health="unknown", lastError="", lastScrape="0001-01-01T00:00:00Z")


def payload(*targets):
    return {"status": "success", "data": {"activeTargets": list(targets), "droppedTargets": [],
                                          "droppedTargetCounts": {}}}


class Server:
    """Serves a queue of payloads (the last one repeats); optional basic auth."""

    def __init__(self, payloads, auth=None):
        self.payloads = list(payloads)
        self.requests = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server API
                outer.requests.append((self.path, self.headers.get("Authorization")))
                if auth and self.headers.get("Authorization") != "Basic " + base64.b64encode(auth.encode()).decode():
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps(outer.payloads[0] if len(outer.payloads) == 1 else outer.payloads.pop(0)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(payloads, auth=None):
        servers.append(Server(payloads, auth))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def params(url, **extra):
    base = dict(url=url, expected_jobs=[], timeout=5, interval=0.05, headers={}, url_username=None,
                url_password=None, validate_certs=True)
    base.update(extra)
    return base


def test_summarise_recorded_payload():
    targets = mod.summarise(payload(DOWN, UP))
    assert targets == [
        {"job": "node-exporter", "instance": "127.0.0.1:9100", "health": "down",
         "last_error": DOWN["lastError"], "scrape_url": "http://127.0.0.1:9100/metrics"},
        {"job": "prometheus", "instance": "127.0.0.1:9090", "health": "up", "last_error": "",
         "scrape_url": "http://127.0.0.1:9090/metrics"},
    ]


def test_waits_through_unknown_and_down_until_all_up(serve):
    server = serve([payload(UNKNOWN, UP), payload(DOWN, UP), payload(dict(DOWN, health="up", lastError=""), UP)])
    ok, targets, unhealthy, missing, elapsed, error = mod.wait_for_targets(
        params(server.url, expected_jobs=["prometheus", "node-exporter"]))
    assert ok and not unhealthy and not missing and error is None
    assert {t["health"] for t in targets} == {"up"}
    assert len(server.requests) == 3 and server.requests[0][0] == "/api/v1/targets?state=active"


def test_times_out_naming_the_down_target_and_missing_job(serve):
    server = serve([payload(DOWN, UP)])
    ok, targets, unhealthy, missing, elapsed, error = mod.wait_for_targets(
        params(server.url, timeout=1, expected_jobs=["prometheus", "alertmanager"]))
    assert not ok and missing == ["alertmanager"] and 0.9 <= elapsed < 3
    message = mod.failure_message(unhealthy, missing, 1)
    assert "job=node-exporter instance=127.0.0.1:9100 health=down" in message
    assert "connect: connection refused" in message
    assert "job=alertmanager: no active target" in message
    assert "prometheus" not in message.replace("Prometheus", "")


def test_basic_auth_is_sent_and_unreachable_url_is_reported_without_credentials(serve):
    server = serve([payload(UP)], auth="admin:s3cret")
    ok, *_rest = mod.wait_for_targets(params(server.url, url_username="admin", url_password="s3cret"))
    assert ok and server.requests[-1][1].startswith("Basic ")
    ok, _targets, _unhealthy, _missing, _elapsed, error = mod.wait_for_targets(
        params(server.url, timeout=0, url_username="admin", url_password="wrong"))
    assert not ok and "401" in error
    assert mod.safe_url("http://admin:s3cret@127.0.0.1:9090") == "http://127.0.0.1:9090"


def test_not_a_prometheus_answer():
    with pytest.raises(ValueError, match="not a successful Prometheus API answer"):
        mod.summarise({"status": "error", "error": "boom"})
