# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: python3 -m docker_exporter [--listen-address HOST:PORT] ..."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from . import lean
from .server import serve


def _env(name: str, default: str) -> str:
    return os.environ.get("DOCKER_EXPORTER_" + name, default)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="docker_exporter", description=__doc__)
    parser.add_argument("--listen-address", default=_env("LISTEN_ADDRESS", "0.0.0.0:9487"),
                        help="HOST:PORT to serve /metrics and /healthz on (default %(default)s)")
    parser.add_argument("--docker-url", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
                        help="Engine API URL (default $DOCKER_HOST or the local socket)")
    parser.add_argument("--api-timeout", type=float, default=float(_env("API_TIMEOUT", "5")),
                        help="seconds per Engine API call (default %(default)s)")
    parser.add_argument("--scrape-timeout", type=float, default=float(_env("SCRAPE_TIMEOUT", "10")),
                        help="deadline in seconds for a whole scrape (default %(default)s)")
    parser.add_argument("--workers", type=int, default=int(_env("WORKERS", "4")),
                        help="concurrent inspect (and one-shot stats) calls per scrape (default %(default)s)")
    parser.add_argument("--stats-mode", choices=["stream", "oneshot"], default=_env("STATS_MODE", "stream"),
                        help="stream: one thread follows a stats stream per running container (scrapes never "
                             "wait); oneshot: ask for all running containers at once per scrape (no idle "
                             "load, but a scrape takes about 1 s, the engine's stats tick)")
    parser.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    host, sep, port = args.listen_address.rpartition(":")
    if not sep or not port.isdigit():
        parser.error(f"--listen-address {args.listen_address!r} is not HOST:PORT (e.g. 0.0.0.0:9487)")
    args.host, args.port = host.strip("[]") or "0.0.0.0", int(port)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # As PID 1 in a container Python ignores SIGTERM unless told otherwise,
    # which would make every `docker stop` wait for the kill timeout.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    lean.import_requests_without_charset_detection()
    try:
        serve(args)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
