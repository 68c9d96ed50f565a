# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP front: /metrics (a scrape) and /healthz (the process answers).

/healthz does not touch the daemon, so the container healthcheck stays cheap
and a daemon outage shows as docker_up 0 rather than a restarting exporter.

/metrics is written one metric family at a time, each rendered by
prometheus_client's own text renderer: at 100 containers the page is about
650 KB, and building it whole (as MetricsHandler does) would hold it several
times over in memory.
"""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from .collector import DockerCollector

LOG = logging.getLogger("docker_exporter")
# What generate_latest renders, whichever prometheus_client release is installed
# (newer ones name a later format in their CONTENT_TYPE_LATEST).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def build_registry(collector: DockerCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    ProcessCollector(registry=registry)  # process_resident_memory_bytes etc.
    registry.register(collector)
    return registry


class _OneFamily:
    """What generate_latest needs of a registry, for a single family."""

    def __init__(self, family):
        self._family = family

    def collect(self):
        return [self._family]


def write_metrics(registry: CollectorRegistry, write) -> None:
    """Render the registry's families in the text format, one write each."""
    for family in registry.collect():
        write(generate_latest(_OneFamily(family)))


def make_handler(registry: CollectorRegistry):
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server naming
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._plain(200, b"ok\n")
            elif path == "/metrics":
                # No Content-Length: HTTP/1.0, the body ends when the connection does.
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.end_headers()
                write_metrics(registry, self.wfile.write)
            elif path == "/":
                self._plain(200, b"docker_exporter: metrics at /metrics\n")
            else:
                self._plain(404, b"not found\n")

        def _plain(self, code: int, body: bytes):
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):  # noqa: A002 - keep scrapes out of the log
            LOG.debug(format, *args)

    return Handler


def make_server(collector: DockerCollector, host: str, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(build_registry(collector)))
    server.daemon_threads = True
    return server


def serve(args) -> None:
    collector = DockerCollector(base_url=args.docker_url, api_timeout=args.api_timeout,
                                scrape_timeout=args.scrape_timeout, workers=args.workers,
                                stats_mode=args.stats_mode)
    server = make_server(collector, args.host, args.port)
    LOG.info("listening on %s:%d, Engine API %s", args.host, args.port, args.docker_url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
