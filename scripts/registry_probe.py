"""Can this Docker engine pull the stack's default images? Exit 0 if so, 1 if not.

Asks the engine for an image's registry manifest (GET /distribution/<ref>/json):
the same path a pull takes (registry mirrors, proxy, credentials of the
engine), without pulling anything. Prints one line saying which path the
set-up scripts take and why.

    python3 scripts/registry_probe.py [--socket /var/run/docker.sock] [IMAGE ...]

The images default to the roles' default image variables (read from the
roles' defaults files), so a registry that lacks one of them counts as no
registry.
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The upstream images the offline builder stands in for, by variable.
DEFAULTS = {
    "prometheus_image": "roles/prometheus/defaults/main/core.yml",
    "alertmanager_image": "roles/alertmanager/defaults/main.yml",
    "node_exporter_image": "roles/node_exporter/defaults/main.yml",
    "docker_exporter_base_image": "roles/docker_exporter/defaults/main.yml",
}


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("docker", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def default_images() -> list[str]:
    images = []
    for variable, rel in DEFAULTS.items():
        text = (ROOT / rel).read_text()
        match = re.search(r"^%s:\s*(\S+)\s*$" % re.escape(variable), text, re.M)
        if match:
            images.append(match.group(1).strip("'\""))
    return images


def manifest(sock: str, image: str, timeout: float) -> tuple[bool, str]:
    conn = UnixConnection(sock, timeout)
    try:
        conn.request("GET", "/distribution/%s/json" % image)
        resp = conn.getresponse()
        body = resp.read().decode("utf-8", "replace")
    except OSError as exc:
        return False, "the engine at %s did not answer (%s)" % (sock, exc)
    finally:
        conn.close()
    if resp.status == 200:
        return True, "%s resolves" % image
    try:
        message = json.loads(body).get("message", body)
    except ValueError:
        message = body
    return False, "%s: %s" % (image, message.strip()[:200])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--socket", default="/var/run/docker.sock")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("images", nargs="*")
    args = parser.parse_args(argv)
    images = args.images or default_images()
    for image in images:
        ok, why = manifest(args.socket, image, args.timeout)
        if not ok:
            print("registry: no (%s): building the offline images" % why)
            return 1
    print("registry: yes (%d default images resolve, e.g. %s): using the upstream images"
          % (len(images), images[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
