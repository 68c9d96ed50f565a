"""Helpers shared by the Alertmanager tests: render the role's template
through Ansible, run the real amtool from the Alertmanager image, run a real
Alertmanager container (named vpsmon-it-am-*) on a test network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager

import requests

from conftest import ROOT, wait_until

PLAYBOOK = ROOT / "tests" / "integration" / "render_alertmanager.yml"


def render(tmp_path, override: dict) -> str:
    """Render alertmanager.yml with the role defaults plus override into tmp_path."""
    os.chmod(tmp_path, 0o755)
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", str(PLAYBOOK), "-e", f"am_out={tmp_path}",
         "-e", json.dumps(override), "-e", f"ansible_python_interpreter={sys.executable}"],
        capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout[-2000:]
    os.chmod(tmp_path / "alertmanager.yml", 0o644)
    return str(tmp_path / "alertmanager.yml")


def amtool(image: str, path: str, *args: str) -> subprocess.CompletedProcess:
    directory = os.path.dirname(path)
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "-v", f"{directory}:{directory}:ro",
         "--entrypoint", "/bin/amtool", image, *args],
        capture_output=True, text=True, check=False)


@contextmanager
def running_alertmanager(client, image: str, config_path: str, name: str, network: str | None = None,
                         external_url: str = ""):
    """A real Alertmanager with config_path, published on a random loopback port.

    Yields its base URL; removes the container afterwards. State lives in a
    tmpfs, so every container starts without alerts or silences.
    """
    directory = os.path.dirname(config_path)
    command = ["--config.file=" + config_path, "--storage.path=/alertmanager",
               "--web.listen-address=:9093", "--cluster.listen-address="]
    if external_url:
        command.append("--web.external-url=" + external_url)
    container = client.containers.run(
        image, command=command, name=name, detach=True, network=network,
        volumes={directory: {"bind": directory, "mode": "ro"}},
        tmpfs={"/alertmanager": "uid=65534"}, ports={"9093/tcp": ("127.0.0.1", None)})
    try:
        def base_url():
            container.reload()
            port = container.attrs["NetworkSettings"]["Ports"]["9093/tcp"][0]["HostPort"]
            url = f"http://127.0.0.1:{port}"
            return url if requests.get(url + "/-/ready", timeout=2).status_code == 200 else None

        yield wait_until(base_url, timeout=30, what=f"{name} ready")
    finally:
        container.remove(force=True)
