"""Run the collection's playbooks against a small stack of the test's own.

Every container, the network and the stack directory carry the test's prefix
(``vpsmon-it-<x>``), so the playbooks never touch the stack's real
containers (``prometheus``, ``grafana``, ...): the names of the disabled
components are set too, because a deploy removes the containers of disabled
components.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import ROOT

COMPONENTS = ["node_exporter", "docker_exporter", "otel_collector", "alertmanager", "grafana",
              "blackbox_exporter", "victoriametrics", "proxy", "prometheus"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(workdir: Path, name: str, common_name: str) -> tuple[str, str]:
    """A test-only self-signed certificate and its key (PEM), for a program's own TLS listener."""
    key, crt = workdir / f"{name}.key", workdir / f"{name}.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={common_name}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    try:
        return crt.read_text(), key.read_text()
    finally:
        key.unlink()
        crt.unlink()


def tls_get(url: str, user: str | None = None, password: str | None = None) -> tuple[int, str]:
    """GET url without verifying the certificate (self-signed), with basic auth when a password is given:
    the status and the body, also of an HTTP error."""
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def recap(out: str) -> dict:
    """The counters of the last PLAY RECAP line for localhost (ok, changed, ...)."""
    line = [ln for ln in out.splitlines() if ln.startswith("localhost") and "ok=" in ln][-1]
    return {k: int(v) for k, v in (part.split("=") for part in line.split(":", 1)[1].split())}


def changed_tasks(out: str) -> list[str]:
    """The TASK lines of a run's output that reported a change (each once)."""
    found, task = [], None
    for line in out.splitlines():
        if line.startswith("TASK ["):
            task = line
        elif line.startswith("changed:") and task not in found:
            found.append(task)
    return found


def remove_containers(docker_client, names) -> None:
    """Remove the named containers; one that does not exist is fine."""
    for name in names:
        with contextlib.suppress(Exception):
            docker_client.containers.get(name).remove(force=True)


def isolated_vars(prefix: str, base_dir: Path, images: dict, **extra) -> dict:
    """Variables for a Prometheus-only stack named after prefix (others off)."""
    found = {
        # The host is this machine: leave its packages and engine alone.
        "docker_host_manage": False,
        "stack_base_dir": str(base_dir),
        "stack_network": f"{prefix}-net",
        "stack_image_pull_policy": "never",
        "stack_enable_alertmanager": False,
        "stack_enable_node_exporter": False,
        "stack_enable_docker_exporter": False,
        "stack_enable_docker_engine_metrics": False,
        "stack_enable_otel_collector": False,
        "stack_enable_grafana": False,
        "stack_enable_proxy": False,
        "stack_enable_blackbox_exporter": False,
        "stack_enable_victoriametrics": False,
        "prometheus_image": images["prometheus_image"],
        "prometheus_port": free_port(),
        "prometheus_targets_timeout": 60,
        "prometheus_memory_limit": "512m",
    }
    for component in COMPONENTS:
        found[f"{component}_container_name"] = f"{prefix}-{component.replace('_', '-')}"
    found.update(extra)
    return found


def run_playbook(playbook: str, variables: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    """ansible-playbook playbooks/<playbook> (or a playbook by absolute path) on localhost."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
               ANSIBLE_ROLES_PATH=str(ROOT / "roles"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(dict(variables, vps_monitoring_hosts="localhost",
                       ansible_python_interpreter=str(ROOT / ".venv" / "bin" / "python")), handle)
        varfile = handle.name
    try:
        return subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
             "-e", f"@{varfile}", str(ROOT / "playbooks" / playbook)],  # an absolute path stays as is
            capture_output=True, text=True, env=env, check=False, timeout=timeout)
    finally:
        os.unlink(varfile)


def ok(proc: subprocess.CompletedProcess) -> str:
    """The playbook's output; fails with its tail when the run failed."""
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return proc.stdout


def api(url: str, path: str, **params) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}{path}?{query}", timeout=30) as resp:
        return json.loads(resp.read())


def samples(url: str, expr: str, at: float) -> list:
    """Raw samples (timestamp, value) of a range selector expr evaluated at time at."""
    result = api(url, "/api/v1/query", query=expr, time=f"{at:.3f}")["data"]["result"]
    return sorted((float(t), v) for series in result for t, v in series.get("values", []))


def remove_stack(docker_client, prefix: str) -> None:
    """Remove every container and the network named after prefix."""
    for container in docker_client.containers.list(all=True, filters={"name": prefix}):
        if container.name.startswith(prefix):
            container.remove(force=True)
    for network in docker_client.networks.list(names=[f"{prefix}-net"]):
        network.remove()


@contextlib.contextmanager
def own_stack(docker_client, prefix: str):
    """A temporary stack_base_dir for the stack named after prefix.

    Any leftover of an earlier run is removed first; the stack's containers,
    network and directory are removed afterwards.
    """
    base = Path(tempfile.mkdtemp(prefix=f"{prefix}-"))
    remove_stack(docker_client, prefix)
    try:
        yield base
    finally:
        remove_stack(docker_client, prefix)
        shutil.rmtree(base, ignore_errors=True)
