"""vmagent (otel_collector_implementation=vmagent) keeps /debug/pprof,
/-/reload and /flags behind a key on its published ports, run for real
through the otel_collector role against this engine under test names
(container vpsmon-it-vmkey, network vpsmon-it-vmkey-net, own ports and base
dir). The key is generated once and kept on the host (0600, read by vmagent
as a file:// flag value), or comes from the inventory; it never appears in
the container definition or the run's output. /metrics and /health stay
open: Prometheus scrapes vmagent without a key.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import requests

from conftest import wait_until
from stack_run import free_port, recap

ROOT = Path(__file__).resolve().parents[2]
NAME = "vpsmon-it-vmkey"


@pytest.fixture(scope="module")
def vmagent(docker_client, images):
    tmp = Path(tempfile.mkdtemp(prefix=f"{NAME}-"))
    ports = {"http": free_port(), "vmagent": free_port()}
    extra = {
        "ansible_python_interpreter": str(ROOT / ".venv/bin/python"),
        "stack_base_dir": str(tmp / "base"), "stack_network": f"{NAME}-net",
        "stack_otel_implementation": "vmagent", "otel_collector_container_name": NAME,
        "otel_collector_http_port": ports["http"], "otel_collector_vmagent_port": ports["vmagent"],
        "otel_collector_vmagent_image": images["otel_collector_vmagent_image"],
    }
    play = tmp / "play.yml"
    play.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: vps.monitoring.otel_collector\n")

    def run(*flags, **more):
        varsfile = tmp / f"vars-{uuid.uuid4().hex[:8]}.json"
        varsfile.write_text(json.dumps({**extra, **more}))
        varsfile.chmod(0o600)
        try:
            return subprocess.run(
                [str(ROOT / ".venv/bin/ansible-playbook"), "-i", "localhost,", "-c", "local",
                 "-e", f"@{varsfile}", str(play), *flags],
                capture_output=True, text=True, check=False, timeout=600,
                env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".cache/collections"),
                     "ANSIBLE_NOCOLOR": "1"})
        finally:
            varsfile.unlink()

    try:
        first = run()
        assert first.returncode == 0, first.stdout[-4000:]
        yield {"run": run, "first": first, "url": f"http://127.0.0.1:{ports['vmagent']}",
               "otlp": f"http://127.0.0.1:{ports['http']}",
               "keyfile": tmp / "base" / "otel-collector" / "secrets" / "vmagent_auth_key"}
    finally:
        for remove in (lambda: docker_client.containers.get(NAME).remove(force=True),
                       lambda: docker_client.networks.get(f"{NAME}-net").remove()):
            try:
                remove()
            except Exception:  # noqa: BLE001 - already gone
                pass
        shutil.rmtree(tmp, ignore_errors=True)


def _status(url: str, **params) -> int:
    return requests.get(url, params=params, timeout=10).status_code


@pytest.mark.parametrize("path", ["/debug/pprof/", "/debug/pprof/heap", "/-/reload", "/flags"])
def test_debug_and_admin_paths_want_the_key(vmagent, path):
    url = vmagent["url"] + path
    assert _status(url) == 401
    assert _status(url, authKey="not-the-key-" + uuid.uuid4().hex) == 401
    # The same port, the same path: the key from the host file opens it.
    assert _status(url, authKey=vmagent["keyfile"].read_text()) == 200
    # The OTLP port is the same HTTP server: no way around the key there either.
    assert _status(vmagent["otlp"] + path) == 401


def test_metrics_and_health_stay_open(vmagent):
    """What Prometheus scrapes (job otel-collector, /metrics) and the health
    check need no key."""
    r = requests.get(vmagent["url"] + "/metrics", timeout=10)
    assert r.status_code == 200 and "vmagent_remotewrite_" in r.text
    assert _status(vmagent["url"] + "/health") == 200


def test_key_kept_on_the_host_and_never_shown(vmagent, docker_client):
    key_file = vmagent["keyfile"]
    key = key_file.read_text()
    assert len(key) == 43 and key.isalnum()
    st = key_file.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 65534
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700 and key_file.parent.stat().st_uid == 0
    container = docker_client.containers.get(NAME)
    definition = json.dumps(container.attrs)
    assert key not in definition and key not in vmagent["first"].stdout
    assert "-pprofAuthKey=file:///etc/vmagent/secrets/auth_key" in container.attrs["Config"]["Cmd"]
    assert key not in container.logs().decode()


def test_second_run_keeps_the_key_and_changes_nothing(vmagent):
    key = vmagent["keyfile"].read_text()
    again = vmagent["run"]()
    assert again.returncode == 0 and recap(again.stdout)["changed"] == 0, again.stdout[-3000:]
    assert vmagent["keyfile"].read_text() == key


def test_inventory_key_replaces_the_generated_one(vmagent, docker_client):
    old = vmagent["keyfile"].read_text()
    new = "inv-" + uuid.uuid4().hex
    out = vmagent["run"]("-v", "--diff", otel_collector_vmagent_auth_key=new)
    assert out.returncode == 0 and recap(out.stdout)["changed"] >= 1, out.stdout[-3000:]
    assert new not in out.stdout and new not in out.stderr and old not in out.stdout
    assert vmagent["keyfile"].read_text() == new
    url = vmagent["url"] + "/debug/pprof/"
    wait_until(lambda: _status(url, authKey=new) == 200, 30, what="vmagent answering with the new key")
    assert _status(url, authKey=old) == 401
    again = vmagent["run"](otel_collector_vmagent_auth_key=new)
    assert again.returncode == 0 and recap(again.stdout)["changed"] == 0, again.stdout[-3000:]
    short = vmagent["run"](otel_collector_vmagent_auth_key="short key")
    assert short.returncode != 0 and "otel_collector_vmagent_auth_key (not shown) is refused" in short.stdout
    assert "short key" not in short.stdout
