"""Build and run the OTLP receiver's real image for tests and the benchmark.

Also the Prometheus queries and the label check the OTLP end-to-end tests
(the receiver's and vmagent's) share. The image is built from programs/otlp_receiver FROM the python-base image
(images fixture / .cache/images.yml), tagged by a hash of the sources, and
run the way the otel_collector role runs it: nobody, read-only root, no
capabilities, a memory limit.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "otlp_receiver"
PORTS = ("4317/tcp", "4318/tcp", "8889/tcp", "13133/tcp")


def build_image(client, base_image: str) -> str:
    files = sorted(p for p in PROGRAM.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256(base_image.encode())
    for path in files:
        digest.update(str(path.relative_to(PROGRAM)).encode() + b"\0" + path.read_bytes())
    tag = f"vpsmon-it-otlp-receiver:{digest.hexdigest()[:12]}"
    if not client.images.list(name=tag):
        client.images.build(path=str(PROGRAM), tag=tag, rm=True, pull=False, buildargs={"BASE_IMAGE": base_image})
    return tag


def run_receiver(client, image: str, name: str, network: str | None = None, args: list[str] | None = None,
                 mem_limit: str = "128m", alias: str = "otel-collector"):
    """Start the receiver; returns (container, {port: host url})."""
    container = client.containers.run(
        image, name=name, detach=True, command=args or [], read_only=True, cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"], mem_limit=mem_limit,
        ports={p: ("127.0.0.1", None) for p in PORTS})
    if network:
        net = client.networks.get(network)
        net.connect(container, aliases=[alias])
    container.reload()
    bound = container.attrs["NetworkSettings"]["Ports"]
    urls = {p.split("/", maxsplit=1)[0]: f"127.0.0.1:{bound[p][0]['HostPort']}" for p in PORTS}
    return container, urls


def memory_bytes(container) -> int:
    """Container memory as `docker stats` shows it (usage minus page cache)."""
    stats = container.stats(stream=False)["memory_stats"]
    inner = stats.get("stats", {})
    return stats.get("usage", 0) - inner.get("total_inactive_file", inner.get("inactive_file", 0))


def query(prom: str, expr: str) -> list:
    import requests

    r = requests.get(prom + "/api/v1/query", params={"query": expr}, timeout=5)
    r.raise_for_status()
    return r.json()["data"]["result"]


def by_label(prom: str, expr: str, label: str) -> dict:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in query(prom, expr)}


def scalar(prom: str, expr: str):
    result = query(prom, expr)
    return float(result[0]["value"][1]) if result else None


# The labels a series sent by tests/e2e_claude/send_claude_metrics.py carries
# in Prometheus, whichever OTLP path took it: attributes with dots become
# underscores, resource attributes are labels too.
def assert_claude_labels(prom: str, session_id: str, app_version: str) -> None:
    found = query(prom, f'claude_code_token_usage_tokens_total{{session_id="{session_id}", type="cacheRead"}}')
    labels = found[0]["metric"]
    for key, value in {"model": "claude-sonnet-4-5", "user_email": "dev@example.invalid",
                       "terminal_type": "xterm-256color", "app_version": app_version,
                       "organization_id": "org-e2e", "service_name": "claude-code", "os_type": "linux",
                       "job": "claude-code"}.items():
        assert labels.get(key) == value, (key, labels)
