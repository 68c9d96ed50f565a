"""Command line: ``python3 -m otlp_receiver [options]``."""

from __future__ import annotations

import argparse
import json
import logging
import re
import signal
import sys
import threading

from . import __version__
from .events import DEFAULT_BUCKETS, Events
from .grpc_server import make_server as make_grpc
from .http_server import OtlpHandler, PageHandler, make_server
from .receiver import Receiver
from .stats import Stats
from .store import Store

LOG = logging.getLogger("otlp_receiver")


def _address(text: str) -> tuple[str, int]:
    host, _unused, port = text.rpartition(":")
    return host or "0.0.0.0", int(port)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def duration(text: str) -> float:
    """Seconds from a number or a Go-style duration (90s, 15m, 1h30m)."""
    try:
        return float(text)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90s, 15m or 1h")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="otlp_receiver", description=__doc__)
    p.add_argument("--http-listen", default=":4318", help="OTLP/HTTP address (/v1/metrics, /v1/logs)")
    p.add_argument("--grpc-listen", default=":4317", help="OTLP/gRPC address; empty to disable")
    p.add_argument("--metrics-listen", default=":8889", help="address of the /metrics page Prometheus scrapes")
    p.add_argument("--health-listen", default=":13133", help="address of the health page (/)")
    p.add_argument("--max-request-bytes", type=int, default=8 << 20,
                   help="largest request body, after decompression (bytes)")
    p.add_argument("--max-series", type=int, default=50000, help="most series kept at once")
    p.add_argument("--expiration", type=duration, default=900.0,
                   help="how long a series not updated is kept (seconds or 90s, 15m, 1h)")
    p.add_argument("--read-timeout", type=float, default=30, help="seconds a client may take to send a request")
    p.add_argument("--grpc-workers", type=int, default=4, help="gRPC handler threads")
    p.add_argument("--duration-buckets", default=",".join(str(b) for b in DEFAULT_BUCKETS),
                   help="histogram bounds (seconds) of event durations, comma separated")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = p.parse_args(argv)
    for name in ("max_request_bytes", "max_series", "grpc_workers"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.expiration <= 0 or args.read_timeout <= 0:
        p.error("--expiration and --read-timeout must be positive")
    try:
        args.duration_buckets = tuple(sorted(float(b) for b in args.duration_buckets.split(",") if b.strip()))
    except ValueError:
        p.error("--duration-buckets must be comma-separated numbers")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = Store(args.max_series, args.expiration)
    stats = Stats(store, __version__)
    receiver = Receiver(store, stats, Events(store, args.duration_buckets))

    def metrics_page():
        def chunks():
            yield from store.render()
            yield from stats.render()
        return "text/plain; version=0.0.4; charset=utf-8", chunks()

    def health_page():
        body = json.dumps({"status": "Server available", "version": __version__, "series": store.series_count})
        return "application/json", iter([body + "\n"])

    servers = [make_server(_address(args.http_listen), OtlpHandler, receiver=receiver,
                           max_bytes=args.max_request_bytes, read_timeout=args.read_timeout)]
    metrics_pages = {"/metrics": metrics_page, "/healthz": health_page}
    servers.append(make_server(_address(args.metrics_listen),
                               type("MetricsPage", (PageHandler,), {"pages": metrics_pages})))
    if args.health_listen:
        health_pages = {"/": health_page, "/healthz": health_page}
        servers.append(make_server(_address(args.health_listen),
                                   type("HealthPage", (PageHandler,), {"pages": health_pages})))
    grpc_server = None
    if args.grpc_listen:
        host, port = _address(args.grpc_listen)
        grpc_server = make_grpc(receiver, f"{host}:{port}", args.max_request_bytes, args.grpc_workers)
        grpc_server.start()
    threads = [threading.Thread(target=s.serve_forever, name=f"http-{s.server_address[1]}", daemon=True)
               for s in servers]
    for t in threads:
        t.start()
    LOG.info("otlp_receiver %s: OTLP/HTTP %s, OTLP/gRPC %s, /metrics %s, health %s; max %d series, "
             "expiration %gs, max request %d bytes", __version__, args.http_listen, args.grpc_listen or "off",
             args.metrics_listen, args.health_listen or "off", args.max_series, args.expiration,
             args.max_request_bytes)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    LOG.info("stopping")
    if grpc_server is not None:
        grpc_server.stop(2)
    for s in servers:
        s.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
