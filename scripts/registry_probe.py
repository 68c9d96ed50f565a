"""Can this Docker engine pull the stack's default images? Exit 0 if so, 1 if not.

Asks the engine for an image's registry manifest (GET /distribution/<ref>/json):
the same path a pull takes (registry mirrors, proxy, credentials of the
engine), without pulling anything. Prints one line saying which path the
set-up scripts take and why, or with --json one JSON object:
{"registry": "yes"|"no", "path": "upstream"|"offline", "reason": ...,
"image": <the image that decided>, "images": [...]}.

    python3 scripts/registry_probe.py [--socket PATH] [--json] [IMAGE ...]
    python3 scripts/registry_probe.py --list-defaults

The images default to the roles' default image variables (read from the
roles' defaults files), so a registry that lacks one of them counts as no
registry. The socket defaults to DOCKER_HOST when that is a unix:// address,
else /var/run/docker.sock. The script needs only the standard library, so a
copy runs on any host with python3 (molecule/vps runs it on its instance).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import sys
from pathlib import Path
from urllib.parse import quote

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


def default_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://"):]
    return "/var/run/docker.sock"


def default_images() -> list[str]:
    images = []
    for variable, rel in DEFAULTS.items():
        path = ROOT / rel
        if not path.is_file():
            raise SystemExit("registry probe: %s not found: pass the images to probe as arguments" % path)
        match = re.search(r"^%s:\s*(\S+)\s*$" % re.escape(variable), path.read_text(), re.M)
        if not match:
            raise SystemExit("registry probe: no %s in %s" % (variable, path))
        images.append(match.group(1).strip("'\""))
    return images


def manifest(sock: str, image: str, timeout: float) -> tuple[bool, str]:
    conn = UnixConnection(sock, timeout)
    try:
        conn.request("GET", "/distribution/%s/json" % quote(image, safe="/:@"))
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
    return False, "%s: %s" % (image, message.strip()[:300])


def probe(sock: str, images: list[str], timeout: float) -> dict:
    """Stops at the first image the engine cannot resolve."""
    for image in images:
        ok, why = manifest(sock, image, timeout)
        if not ok:
            return {"registry": "no", "path": "offline", "reason": why, "image": image,
                    "images": images, "socket": sock}
    return {"registry": "yes", "path": "upstream",
            "reason": "%d default images resolve, e.g. %s" % (len(images), images[0]),
            "image": images[0], "images": images, "socket": sock}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--socket", default=default_socket(), help="the engine's unix socket")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the line")
    parser.add_argument("--list-defaults", action="store_true",
                        help="print the default images as a JSON list and exit")
    parser.add_argument("images", nargs="*")
    args = parser.parse_args(argv)
    images = args.images or default_images()
    if args.list_defaults:
        print(json.dumps(images))
        return 0
    answer = probe(args.socket, images, args.timeout)
    if args.json:
        print(json.dumps(answer, sort_keys=True))
    elif answer["registry"] == "yes":
        print("registry: yes (%s): using the upstream images" % answer["reason"])
    else:
        print("registry: no (%s): building the offline images" % answer["reason"])
    return 0 if answer["registry"] == "yes" else 1


if __name__ == "__main__":
    sys.exit(main())
