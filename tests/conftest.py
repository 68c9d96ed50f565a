"""Shared pytest fixtures for vps.monitoring.

The collection is importable as ``ansible_collections.vps.monitoring`` through
the link that scripts/lib.sh keeps in .cache/collections (on pytest.ini's
pythonpath, with the programs and the tests' helpers). Images come from
.cache/images.yml (written by images/build.py) unless VPSMON_<VAR> overrides.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _images() -> dict:
    path = ROOT / ".cache" / "images.yml"
    found = yaml.safe_load(path.read_text()) if path.exists() else {}
    for key in list(found or {}):
        found[key] = os.environ.get("VPSMON_" + key.upper(), found[key])
    return found or {}


@pytest.fixture(scope="session")
def images() -> dict:
    """Image references by Ansible variable name (prometheus_image, ...)."""
    found = _images()
    if not found:
        pytest.fail("no .cache/images.yml: run scripts/test.sh (it builds the images first)")
    return found


@pytest.fixture(scope="session")
def docker_client():
    import docker

    client = docker.from_env()
    client.ping()
    return client


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.5, what: str = "condition"):
    """Poll predicate() until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last one
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last error: {last_exc!r}")


def run_promtool(image: str, args: list[str], workdir: Path) -> subprocess.CompletedProcess:
    """Run promtool from the Prometheus image with workdir mounted at the same path."""
    return subprocess.run(
        ["docker", "run", "--rm", "--user", f"{os.getuid()}", "-v", f"{workdir}:{workdir}",
         "-w", str(workdir), "--entrypoint", "/bin/promtool", image, *args],
        capture_output=True, text=True, check=False)
